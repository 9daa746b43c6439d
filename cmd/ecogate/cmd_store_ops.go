package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/store"
)

const storeOpsUsage = `usage: ecogate store copy --from bbolt:FILE --to postgres:URL [--password-env NAME]
       ecogate store copy --from postgres:URL --to bbolt:FILE [--password-env NAME]
       ecogate store backup --config FILE OUT
       ecogate store restore --config FILE BACKUP
       ecogate store check --config FILE | --data FILE

copy     copy a stopped node's bbolt data file into a PostgreSQL database
         (migrated first): every record, the audit chain with its hashes; then
         compare the counts table by table and verify the copied chain.
         Resumable: run it again after an interruption and it continues.
         The URL carries no password: --password-env names the variable.
         Back: from one snapshot of the database (replicas may run) into a
         new bbolt file (indexes rebuilt), then the same comparisons.
backup   a consistent copy while the node runs. bbolt: one read transaction
         written to OUT (by the running node, through its local API, or
         from the file when the node is stopped), then opened and checked. PostgreSQL: pg_dump -Fc
         (one snapshot), then read back with pg_restore --list.
restore  put a backup back on a STOPPED node: bbolt: BACKUP is checked, then
         replaces the data file; PostgreSQL: pg_restore --clean into the
         configured database, then the audit chain is verified.
check    bbolt: structure (every page), indexes, imported documents, audit
         chain. PostgreSQL: schema version, audit chain, record counts.
`

// storeOps runs the copy, backup, restore and check subcommands.
func storeOps(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate store "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, storeOpsUsage) }
	cfgPath := fs.String("config", "", "the node's configuration `FILE`")
	data := fs.String("data", "", "a bbolt data `FILE` (check)")
	from := fs.String("from", "", "bbolt:FILE (copy)")
	to := fs.String("to", "", "postgres:URL (copy)")
	pwEnv := fs.String("password-env", "", "environment variable holding the database password (copy)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ecogate store "+sub+": "+format+"\n", a...)
		return exitFail
	}
	switch sub {
	case "copy":
		return storeCopy(ctx, *from, *to, *pwEnv, stdout, stderr)
	case "check":
		if *data != "" {
			if err := store.CheckFile(ctx, *data); err != nil {
				return fail("%v", err)
			}
			fmt.Fprintf(stdout, "ok: %s passes the check (structure, indexes, documents, audit chain)\n", *data)
			return exitOK
		}
	}
	if *cfgPath == "" {
		fmt.Fprint(stderr, storeOpsUsage)
		return exitUsage
	}
	cfg, err := gateway.LoadConfig(*cfgPath)
	if err != nil {
		return fail("%v", err)
	}
	pg := cfg.Store.Engine == gateway.EnginePostgres
	switch {
	case sub == "check" && !pg:
		if err := store.CheckFile(ctx, cfg.Data); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "ok: %s passes the check (structure, indexes, documents, audit chain)\n", cfg.Data)
		return exitOK
	case sub == "check":
		db, ok := openPGConfig(ctx, *cfgPath, stderr, "store check", false)
		if !ok {
			return exitFail
		}
		defer db.Close()
		n, err := db.Audit().Verify(ctx)
		if err != nil {
			return fail("audit chain: %v", err)
		}
		counts, err := db.Counts(ctx)
		if err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "ok: PostgreSQL schema current, audit chain of %d entries intact; %s\n", n, counts)
		return exitOK
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, storeOpsUsage)
		return exitUsage
	}
	file := pos[0]
	switch {
	case sub == "backup" && !pg:
		// bbolt lets one process open the file: a running node makes the copy.
		if tg, err := resolveTarget(ctx, "", *cfgPath, ""); err == nil && tg.api != "" {
			n, err := backupFromNode(ctx, tg, file)
			if err != nil {
				return fail("%v", err)
			}
			fmt.Fprintf(stdout, "ok: %s written by the running node (%d bytes) and checked\n", file, n)
			return exitOK
		}
		db, err := store.Open(cfg.Data, store.Options{Check: store.CheckNever})
		if errors.Is(err, store.ErrLocked) {
			return fail("%s is held by a process whose local API (%s) does not answer: start the node and run the backup again, or stop the process holding the file", cfg.Data, cfg.LocalURL())
		}
		if err != nil {
			return fail("%v", err)
		}
		defer db.Close()
		n, err := db.BackupFile(ctx, file)
		if err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "ok: %s written (%d bytes) and checked\n", file, n)
		return exitOK
	case sub == "restore" && !pg:
		if err := store.Restore(ctx, file, cfg.Data); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "ok: %s restored to %s\n", file, cfg.Data)
		return exitOK
	case sub == "backup" || sub == "restore":
		pw, err := cfg.Store.Password()
		if err != nil {
			return fail("%v", err)
		}
		env := append(os.Environ(), "PGPASSWORD="+pw)
		run := func(name string, args ...string) error {
			cmd := exec.CommandContext(ctx, name, args...)
			cmd.Env, cmd.Stdout, cmd.Stderr = env, io.Discard, stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		}
		if sub == "backup" {
			if err := run("pg_dump", "--format=custom", "--no-owner", "--file="+file, "--dbname="+cfg.Store.DSN); err != nil {
				return fail("%v (pg_dump takes one consistent snapshot while the replicas run; install PostgreSQL's client programs)", err)
			}
			if err := run("pg_restore", "--list", file); err != nil {
				return fail("the dump %s cannot be read back: %v", file, err)
			}
			fmt.Fprintf(stdout, "ok: %s written by pg_dump and read back\n", file)
			return exitOK
		}
		if err := run("pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname="+cfg.Store.DSN, file); err != nil {
			return fail("%v", err)
		}
		db, ok := openPGConfig(ctx, *cfgPath, stderr, "store restore", false)
		if !ok {
			return exitFail
		}
		defer db.Close()
		n, err := db.Audit().Verify(ctx)
		if err != nil {
			return fail("the restored audit chain: %v", err)
		}
		fmt.Fprintf(stdout, "ok: %s restored; audit chain of %d entries intact\n", file, n)
		return exitOK
	}
	fmt.Fprint(stderr, storeOpsUsage)
	return exitUsage
}

// storeCopy is `ecogate store copy`.
func storeCopy(ctx context.Context, from, to, pwEnv string, stdout, stderr io.Writer) int {
	src, okFrom := strings.CutPrefix(from, "bbolt:")
	dsn, okTo := strings.CutPrefix(to, "postgres:")
	if strings.HasPrefix(to, "postgres://") || strings.HasPrefix(to, "postgresql://") {
		dsn, okTo = to, true // postgres:URL where the URL is itself postgres://...
	}
	if !okFrom || !okTo || src == "" || dsn == "" {
		if strings.HasPrefix(from, "postgres:") && strings.HasPrefix(to, "bbolt:") {
			return storeCopyBack(ctx, from, to, pwEnv, stdout, stderr)
		}
		fmt.Fprint(stderr, storeOpsUsage)
		return exitUsage
	}
	pw, ok := copyPassword(pwEnv, stderr)
	if !ok {
		return exitUsage
	}
	db, err := store.Open(src, store.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "ecogate store copy: %v (stop the node first)\n", err)
		return exitFail
	}
	defer db.Close()
	pg, err := store.OpenPG(ctx, store.PGOptions{DSN: dsn, Password: pw, Migrate: true,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintf(stderr, "ecogate store copy: %v\n", err)
		return exitFail
	}
	defer pg.Close()
	rep, err := store.CopyToPG(ctx, db, pg, nil)
	printCopyCounts(stdout, rep)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate store copy: %v\n(run it again to resume)\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "ok: copied; counts match and the audit chain of %d entries is intact\n", rep.AuditEntries)
	return exitOK
}

// printCopyCounts prints the rows of each table copied by store copy (in
// either direction), source beside destination; nothing when rep is nil.
func printCopyCounts(stdout io.Writer, rep *store.CopyReport) {
	if rep == nil {
		return
	}
	for _, c := range rep.Counts {
		fmt.Fprintf(stdout, "%-18s %8d source %8d destination\n", c.Table, c.Source, c.Destination)
	}
}
