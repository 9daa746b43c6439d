package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/store"
)

// IssuedStore is the register of issued certificates as the faces use it:
// verification queries and register entries (customs), received
// decisions, the public verification page and the bulk import. Satisfied
// by *store.Issued and *store.PGIssued.
type IssuedStore interface {
	customs.IssuedRegister
	customs.DecisionSink
	verify.Register
	ImportStore
}

// CustomsStore is the customs face's durable state: check views and
// decisions, its OAuth2 clients, cached verification-query answers.
// Satisfied by *store.Customs and *store.PGCustoms.
type CustomsStore interface {
	customs.Store
	customs.ClientAdmin
	customs.QueryCache
}

// Engine is one storage engine's stores as Config.Open wires them into a
// node and its faces: the bbolt data file (DB set) or a PostgreSQL
// database shared by several replicas (PG set).
type Engine struct {
	DB *store.DB
	PG *store.PG

	Outbox   Outbox
	Inbox    Inbox
	Audit    AuditLog
	Issued   IssuedStore
	Customs  CustomsStore
	Issuance issuance.Store
	// CustomsInbox lets the customs face build a view from a stored
	// message.
	CustomsInbox customs.Inbox
	// Portal keeps the web portal's logins and sessions.
	Portal portal.Store
}

// BboltEngine returns the stores of a bbolt data file.
func BboltEngine(db *store.DB) *Engine {
	return &Engine{DB: db, Outbox: db.Outbox(), Inbox: db.Inbox(), Audit: db.Audit(), Issued: db.Issued(),
		Customs: db.Customs(), Issuance: db.Issuance(), CustomsInbox: db.Inbox(), Portal: db.Portal()}
}

// PGEngine returns the stores of a PostgreSQL database.
func PGEngine(pg *store.PG) *Engine {
	return &Engine{PG: pg, Outbox: pg.Outbox(), Inbox: pg.Inbox(), Audit: pg.Audit(), Issued: pg.Issued(),
		Customs: pg.Customs(), Issuance: pg.Issuance(), CustomsInbox: pg.Inbox(), Portal: pg.Portal()}
}

// Close closes the data file or the connection pool.
func (e *Engine) Close() error {
	if e.PG != nil {
		return e.PG.Close()
	}
	if e.DB != nil {
		return e.DB.Close()
	}
	return nil
}

// Verify checks the audit chain of either engine.
func (e *Engine) Verify(ctx context.Context) (int, error) {
	if e.PG != nil {
		return e.PG.Audit().Verify(ctx)
	}
	return e.DB.Audit().Verify(ctx)
}

// OpenEngine opens the configured store: the bbolt data file (a damaged
// file is refused with the reason) or the PostgreSQL database
// (store.engine: postgres; migrated at start when store.migrate is set).
func (c *Config) OpenEngine(ctx context.Context, log *slog.Logger) (*Engine, error) {
	if c.Store.Engine == EnginePostgres {
		pg, err := c.OpenPG(ctx, log.With("component", "store"), false)
		if err != nil {
			return nil, err
		}
		return PGEngine(pg), nil
	}
	if err := os.MkdirAll(filepath.Dir(c.Data), 0o700); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	db, err := store.Open(c.Data, c.StoreOptions(log.With("component", "store")))
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return BboltEngine(db), nil
}

var (
	_ IssuedStore  = (*store.Issued)(nil)
	_ IssuedStore  = (*store.PGIssued)(nil)
	_ CustomsStore = (*store.Customs)(nil)
	_ CustomsStore = (*store.PGCustoms)(nil)
)
