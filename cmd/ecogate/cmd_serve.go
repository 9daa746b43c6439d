package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/internal/devsite"
)

const serveUsage = `usage: ecogate serve --config FILE

Run one node: the partner API (mutual TLS, /eco/v1) on listen.partner, the
local API (/api/v1, /metrics, /healthz, /readyz) on listen.local, the
delivery workers and, if configured, pulling from partners, the customs
API (/oauth/token, /customs/v1, HTTPS) on listen.customs and the public
verification page (/verify, /verify/q/{token}) on listen.public. The partner
registry is reloaded on SIGHUP or when its files change. SIGINT or SIGTERM
stops the node gracefully.

The configuration is YAML; relative paths resolve against its directory.
Print a complete, commented example with: ecogate serve --example-config

The garbage collector's target is GOGC=400 (gateway.ServeGCPercent) unless
the environment sets GOGC.
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage) }
	config := fs.String("config", "", "node configuration `FILE` (YAML)")
	example := fs.Bool("example-config", false, "print a complete example configuration and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *example {
		fmt.Fprint(stdout, devsite.ExampleConfig())
		return exitOK
	}
	if *config == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := gateway.LoadConfig(*config)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate serve:", err)
		return exitUsage
	}
	log := cfg.Logger(stderr)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gateway.ServeGCPercent)
	}
	inst, err := cfg.Open(log)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate serve:", err)
		return exitUsage
	}
	defer inst.Close()
	if err := inst.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "ecogate serve:", err)
		return exitUsage
	}
	log.Info("ecogate node stopped")
	return exitOK
}
