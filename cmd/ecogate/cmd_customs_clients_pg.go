package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/ecogate/ecogate/gateway"
)

// customsClientsPG runs customs-clients on the PostgreSQL database of a
// configuration with store.engine: postgres (replicas may run: the
// database is shared). ok is false for a bbolt configuration.
func customsClientsPG(ctx context.Context, cfgPath string, pos []string, req customsClientsReq, stdout, stderr io.Writer) (code int, ok bool) {
	cfg, err := gateway.LoadConfig(cfgPath)
	if err != nil || cfg.Store.Engine != gateway.EnginePostgres {
		return 0, false
	}
	pg, err := cfg.OpenPG(ctx, slog.New(slog.DiscardHandler), false)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate customs-clients: %v\n", err)
		return exitUsage, true
	}
	defer pg.Close()
	return customsClientsStore(ctx, pg.Customs(), pg.Audit(), pos, req, stdout, stderr), true
}
