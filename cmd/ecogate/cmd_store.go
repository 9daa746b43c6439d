package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/store"
)

const storeUsage = `usage: ecogate store migrate --config FILE
       ecogate store copy|backup|restore|check ... (ecogate store check -h)

migrate  apply the pending PostgreSQL schema migrations embedded in this
         binary (store.engine: postgres). Safe while replicas run and when
         several replicas migrate at once (a session lock serialises them);
         prints the versions applied and the schema version now.

The database password comes from store.passwordEnv or store.passwordFile,
never from the connection string.
`

func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "copy", "backup", "restore", "check":
			return storeOps(ctx, args[0], args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("ecogate store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, storeUsage) }
	cfgPath := fs.String("config", "", "the node's configuration `FILE`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 1 || pos[0] != "migrate" {
		fmt.Fprint(stderr, storeUsage)
		return exitUsage
	}
	pg, ok := openPGConfig(ctx, *cfgPath, stderr, "store migrate", true)
	if !ok {
		return exitFail
	}
	defer pg.Close()
	cur, _, err := pg.SchemaVersion(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate store migrate: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "ok: PostgreSQL schema at version %d\n", cur)
	return exitOK
}

// openPGConfig loads the configuration and opens its PostgreSQL engine
// (migrating when migrate is set). It reports problems on stderr.
func openPGConfig(ctx context.Context, path string, stderr io.Writer, cmd string, migrate bool) (*store.PG, bool) {
	if path == "" {
		fmt.Fprintf(stderr, "ecogate %s: --config FILE is required\n", cmd)
		return nil, false
	}
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate %s: %v\n", cmd, err)
		return nil, false
	}
	if cfg.Store.Engine != gateway.EnginePostgres {
		fmt.Fprintf(stderr, "ecogate %s: %s has store.engine %s; this needs store.engine: postgres\n", cmd, path, cfg.Store.Engine)
		return nil, false
	}
	pg, err := cfg.OpenPG(ctx, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), migrate)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate %s: %v\n", cmd, err)
		return nil, false
	}
	return pg, true
}
