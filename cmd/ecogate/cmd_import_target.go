package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/store"
)

// auditAppender is the audit log an import writes its entry to.
type auditAppender interface {
	Append(ctx context.Context, e store.Entry) (store.Entry, error)
}

// importTarget is where `ecogate import` writes: the bbolt data file (node
// stopped) or the PostgreSQL database (replicas may run), through the COPY
// batches of store.PG.ImportBatcher.
type importTarget struct {
	store gateway.ImportStore
	audit auditAppender
	stats func() store.Stats
	close func() error
	where string // for messages: the data file or "PostgreSQL"
	base  string // beside which the default checkpoint goes
}

// openImportTarget opens the configured engine for an import.
func openImportTarget(ctx context.Context, cfgPath string, cfg *gateway.Config) (*importTarget, error) {
	if cfg.Store.Engine != gateway.EnginePostgres {
		db, err := openImportStore(cfg)
		if err != nil {
			return nil, err
		}
		return &importTarget{store: db.Issued(), audit: db.Audit(), stats: db.Stats, close: db.Close, where: cfg.Data, base: cfg.Data}, nil
	}
	pg, err := cfg.OpenPG(ctx, slog.New(slog.DiscardHandler), false)
	if err != nil {
		return nil, err
	}
	b := pg.ImportBatcher(0)
	// The checkpoint goes beside the configuration (data: names bbolt's file).
	base := filepath.Join(filepath.Dir(cfgPath), "postgres")
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	return &importTarget{store: b, audit: pg.Audit(), where: "PostgreSQL", base: base,
		stats: func() store.Stats { return store.Stats{Commits: b.Commits()} },
		close: func() error { b.Close(); pg.Close(); return nil }}, nil
}
