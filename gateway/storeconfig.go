package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/ecogate/ecogate/store"
)

// Storage engines (store.engine).
const (
	// EngineBbolt is the embedded engine: one process, one data file.
	EngineBbolt = "bbolt"
	// EnginePostgres is PostgreSQL, shared by several replicas.
	EnginePostgres = "postgres"
)

// The PostgreSQL engine implements the consumer interfaces as the bbolt
// engine does.
var (
	_ Outbox   = (*store.PGOutbox)(nil)
	_ Inbox    = (*store.PGInbox)(nil)
	_ AuditLog = (*store.PGAudit)(nil)
)

// StoreConfig is the store section of the configuration.
type StoreConfig struct {
	// Engine is bbolt (default; the data key names the file) or postgres.
	Engine string `yaml:"engine"`
	// DSN is the PostgreSQL connection string, without a password, e.g.
	// postgres://ecogate@db.example:5432/ecogate?sslmode=verify-full.
	DSN string `yaml:"dsn"`
	// PasswordEnv names the environment variable holding the database
	// password; PasswordFile names a file holding it (first line). At most
	// one of them; neither for trust, peer or client-certificate auth.
	PasswordEnv  string `yaml:"passwordEnv"`
	PasswordFile string `yaml:"passwordFile"`
	// Migrate lets the node apply pending schema migrations at start
	// (default false: a node refuses an old schema and says to run
	// `ecogate store migrate`).
	Migrate bool `yaml:"migrate"`
	// MaxConns caps the connection pool (pgx's default when 0).
	MaxConns int32 `yaml:"maxConns"`
}

// check validates the section and reports whether the bbolt data file is
// required.
func (s *StoreConfig) check(bad func(key, format string, a ...any), abs func(*string)) bool {
	switch s.Engine {
	case "", EngineBbolt:
		s.Engine = EngineBbolt
		for _, k := range []struct{ key, v string }{{"store.dsn", s.DSN}, {"store.passwordEnv", s.PasswordEnv}, {"store.passwordFile", s.PasswordFile}} {
			if k.v != "" {
				bad(k.key, "only used with store.engine: postgres (the bbolt engine uses the data file)")
			}
		}
		return true
	case EnginePostgres:
	default:
		bad("store.engine", "%q is not an engine: bbolt (embedded, default) or postgres", s.Engine)
		return false
	}
	if s.DSN == "" {
		bad("store.dsn", "required with store.engine: postgres, e.g. postgres://ecogate@db.example:5432/ecogate?sslmode=verify-full")
	} else if err := store.CheckDSN(s.DSN); errors.Is(err, store.ErrPasswordInDSN) {
		bad("store.dsn", "must not contain the password (it would sit in the YAML); remove it and set store.passwordEnv (an environment variable's name) or store.passwordFile")
	} else if err != nil {
		bad("store.dsn", "%v", err)
	}
	if s.PasswordEnv != "" && s.PasswordFile != "" {
		bad("store.passwordEnv", "give store.passwordEnv or store.passwordFile, not both")
	}
	abs(&s.PasswordFile)
	if s.MaxConns < 0 {
		bad("store.maxConns", "must not be negative (0 for the default)")
	}
	return false
}

// Password reads the database password from store.passwordEnv or
// store.passwordFile ("" when neither is set).
func (s *StoreConfig) Password() (string, error) {
	switch {
	case s.PasswordEnv != "":
		v, ok := os.LookupEnv(s.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("store.passwordEnv: the environment variable %s is not set", s.PasswordEnv)
		}
		return v, nil
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("store.passwordFile: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	return "", nil
}

// OpenPG opens the PostgreSQL engine the configuration names; migrate
// forces the migrations (ecogate store migrate) whatever store.migrate
// says.
func (c *Config) OpenPG(ctx context.Context, log *slog.Logger, migrate bool) (*store.PG, error) {
	if c.Store.Engine != EnginePostgres {
		return nil, fmt.Errorf("store.engine is %s, not postgres", c.Store.Engine)
	}
	pw, err := c.Store.Password()
	if err != nil {
		return nil, err
	}
	pg, err := store.OpenPG(ctx, store.PGOptions{DSN: c.Store.DSN, Password: pw, Migrate: migrate || c.Store.Migrate, MaxConns: c.Store.MaxConns, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("store (postgres): %w", err)
	}
	return pg, nil
}
