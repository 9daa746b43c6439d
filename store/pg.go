package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// PostgreSQL engine. PG holds a pool of connections to one database that
// several ecogate processes (replicas) may share. Its outbox, inbox,
// register of issued certificates and audit log (PGOutbox, PGInbox,
// PGIssued, PGAudit) implement the same methods, with the same rules, as
// the bbolt engine's Outbox, Inbox, Issued and Audit; one contract test
// suite runs against both.
//
//   - Outbox claims take due rows with SELECT ... FOR UPDATE SKIP LOCKED
//     and move them to sending with a lease (next try = now + lease): a
//     replica that dies mid-send leaves its claims to the others once the
//     lease has expired. Enqueue and Retry send NOTIFY ecogate_outbox in
//     their transaction; PG.ListenOutbox wakes delivery workers with it.
//   - Inbox deduplication is done by the unique constraints (message id;
//     sender, certificate, version and kind) with INSERT ... ON CONFLICT
//     DO NOTHING, in the transaction that stores the record, its status
//     changes and its audit entries.
//   - The audit log is one chain: every append locks the head row
//     (audit_head, SELECT ... FOR UPDATE) in the appending transaction.
//   - The schema is created and upgraded by the versioned migrations in
//     pgmigrations/ (embedded; pressly/goose, with a session lock so that
//     replicas starting together migrate once).

//go:embed pgmigrations/*.sql
var pgMigrations embed.FS

// OutboxChannel is the LISTEN/NOTIFY channel on which new or retried
// outbound messages are announced.
const OutboxChannel = "ecogate_outbox"

// ErrPasswordInDSN refuses a connection string that carries a password.
var ErrPasswordInDSN = errors.New("the connection string must not contain a password")

// PGOptions configure OpenPG.
type PGOptions struct {
	// DSN is the connection string (postgres://user@host:port/db?sslmode=...
	// or "host=... user=... dbname=..."), without a password.
	DSN string
	// Password is the database password, read by the caller from an
	// environment variable or a file; "" for none (trust, peer or a
	// client certificate).
	Password string
	// Migrate runs the embedded migrations on open; when false, OpenPG
	// refuses a database whose schema is not the current version.
	Migrate bool
	// MaxConns caps the pool (pgxpool's default when zero).
	MaxConns int32
	// Clock gives the current time; time.Now when nil.
	Clock func() time.Time
	// Logger receives structured logs; discarded when nil.
	Logger *slog.Logger
}

// PG is the PostgreSQL engine. Open it with OpenPG; Close it when done.
type PG struct {
	pool  *pgxpool.Pool
	clock func() time.Time
	log   *slog.Logger
	dsn   string
}

var kvPassword = regexp.MustCompile(`(?i)(^|\s)password\s*=`)

// CheckDSN refuses a connection string that holds a password (in the URL's
// user information, a password= parameter or keyword): the password comes
// from store.passwordEnv or store.passwordFile.
func CheckDSN(dsn string) error {
	if strings.TrimSpace(dsn) == "" {
		return fmt.Errorf("%w: the connection string is empty", ErrInvalid)
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return fmt.Errorf("%w: connection string: %v", ErrInvalid, redactErr(err))
		}
		if _, set := u.User.Password(); set {
			return ErrPasswordInDSN
		}
		if u.Query().Has("password") {
			return ErrPasswordInDSN
		}
		return nil
	}
	if kvPassword.MatchString(dsn) {
		return ErrPasswordInDSN
	}
	return nil
}

// redactErr keeps a URL parse error from echoing the connection string.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func pgPoolConfig(o PGOptions) (*pgxpool.Config, error) {
	if err := CheckDSN(o.DSN); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		return nil, fmt.Errorf("%w: connection string: %v", ErrInvalid, err)
	}
	if o.Password != "" {
		cfg.ConnConfig.Password = o.Password
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	return cfg, nil
}

// OpenPG connects to the database, runs the migrations when o.Migrate is
// set, and checks that the schema is the current version.
func OpenPG(ctx context.Context, o PGOptions) (*PG, error) {
	cfg, err := pgPoolConfig(o)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL (%s): %w", cfg.ConnConfig.Host, err)
	}
	pg := &PG{pool: pool, clock: o.Clock, log: o.Logger, dsn: o.DSN}
	if pg.clock == nil {
		pg.clock = time.Now
	}
	if pg.log == nil {
		pg.log = slog.New(slog.DiscardHandler)
	}
	if o.Migrate {
		if _, err := pg.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	cur, want, err := pg.SchemaVersion(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if cur != want {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL schema is at version %d, this ecogate needs %d: run `ecogate store migrate --config FILE` (or set store.migrate: true)", cur, want)
	}
	return pg, nil
}

// Close closes the pool.
func (pg *PG) Close() error { pg.pool.Close(); return nil }

// Pool is the connection pool (for tests and tools).
func (pg *PG) Pool() *pgxpool.Pool { return pg.pool }

func (pg *PG) provider() (*goose.Provider, *sql.DB, error) {
	sub, err := fs.Sub(pgMigrations, "pgmigrations")
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(pg.pool)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, db, nil
}

// Migrate applies every pending migration (under a session lock, so that
// replicas starting together apply each once) and returns the versions
// applied.
func (pg *PG) Migrate(ctx context.Context) ([]int64, error) {
	p, db, err := pg.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer db.Close()
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate the PostgreSQL schema: %w", err)
	}
	var vs []int64
	for _, r := range res {
		vs = append(vs, r.Source.Version)
	}
	return vs, nil
}

// SchemaVersion returns the database's schema version and the version this
// binary needs.
func (pg *PG) SchemaVersion(ctx context.Context) (cur, want int64, err error) {
	p, db, err := pg.provider()
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	cur, err = p.GetDBVersion(ctx)
	if err != nil {
		// No version table yet: nothing migrated.
		cur = 0
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		want = srcs[len(srcs)-1].Version
	}
	return cur, want, nil
}

func (pg *PG) now() time.Time { return pg.clock().UTC() }

// inTx runs fn in one read-committed transaction and commits it.
func (pg *PG) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := pg.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// ListenOutbox calls wake each time an outbound message is enqueued or
// retried by any replica (NOTIFY ecogate_outbox), until ctx ends. It holds
// one connection of the pool and reconnects after an error.
func (pg *PG) ListenOutbox(ctx context.Context, wake func()) {
	for ctx.Err() == nil {
		err := pg.listen(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		pg.log.Warn("outbox notifications interrupted; delivery falls back to polling until they are back", "err", err)
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (pg *PG) listen(ctx context.Context, wake func()) error {
	c, err := pg.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		return err
	}
	defer c.Exec(context.WithoutCancel(ctx), "UNLISTEN "+OutboxChannel) //nolint:errcheck
	wake()                                                              // catch up with what was announced before LISTEN
	for {
		if _, err := c.Conn().WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}

func notifyOutbox(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, '')", OutboxChannel)
	return err
}

// checkEntries checks audit entries as Audit.Append does and sets their time.
func (pg *PG) checkEntries(es []Entry) ([]Entry, error) {
	if len(es) == 0 {
		return nil, nil
	}
	out := make([]Entry, len(es))
	for i, e := range es {
		if err := checkEntryWith(&e, pg.clock); err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// pgRecs runs the query q, whose one column is a JSON record, and decodes
// each row's record into a T.
func pgRecs[T any](ctx context.Context, pool *pgxpool.Pool, q string, args ...any) ([]T, error) {
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
		var v []byte
		var t T
		if err := r.Scan(&v); err != nil {
			return t, err
		}
		return t, json.Unmarshal(v, &t)
	})
}
