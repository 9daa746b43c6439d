package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/ecogate/ecogate/store"
)

const auditUsage = `usage: ecogate audit verify --data FILE
       ecogate audit verify --config FILE   (store.engine: postgres)

verify  walk the hash-chained audit log from the first entry and report the
        first broken link. Exit status 1 when the chain is broken.

The command opens the node's bbolt data file directly: run it against a
stopped node (bbolt holds an exclusive lock while the node runs). With
--config and store.engine: postgres it checks the one chain that every
replica appends to, while they run.
`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage) }
	data := fs.String("data", "", "the node's bbolt data `FILE`")
	cfgPath := fs.String("config", "", "the node's configuration `FILE` (store.engine: postgres)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 1 || pos[0] != "verify" {
		fmt.Fprint(stderr, auditUsage)
		return exitUsage
	}
	var verify func(context.Context) (int, error)
	if *cfgPath != "" && *data == "" {
		pg, ok := openPGConfig(ctx, *cfgPath, stderr, "audit verify", false)
		if !ok {
			return exitUsage
		}
		defer pg.Close()
		verify = pg.Audit().Verify
	} else {
		db, ok := openData(*data, stderr, "audit")
		if !ok {
			return exitUsage
		}
		defer db.Close()
		verify = db.Audit().Verify
	}
	n, err := verify(ctx)
	var ce *store.ChainError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(stdout, "BROKEN: %v (%d entries before it are intact)\n", ce, n)
		return exitFail
	case err != nil:
		fmt.Fprintf(stderr, "ecogate audit verify: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "ok: audit chain of %d entries is intact\n", n)
	return exitOK
}
