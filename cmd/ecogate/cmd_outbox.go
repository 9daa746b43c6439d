package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/ecogate/ecogate/store"
)

const outboxUsage = `usage: ecogate outbox list  --data FILE [--state STATE] [--partner CC] [--limit N]
       ecogate outbox retry --data FILE ID

list   outbound messages with their delivery state, attempts, next try and last error
retry  resend a suspended, failed, not-readable or waiting message now, with the
       same message id and a fresh round of attempts (recorded in the audit log)

States: queued, sending, awaiting-retry, delivered, delivered-with-warnings,
not-readable, failed, suspended.

These commands open the node's bbolt data file directly. bbolt holds an
exclusive lock while the node runs, so run them against a stopped node
(a running node's local API will offer the same later).
`

// openData opens the store for an operator command, with advice on errors.
func openData(path string, stderr io.Writer, cmd string) (*store.DB, bool) {
	if path == "" {
		fmt.Fprintf(stderr, "ecogate %s: give the node's data file with --data FILE\n", cmd)
		return nil, false
	}
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "ecogate %s: %v\n", cmd, err)
		return nil, false
	}
	db, err := store.Open(path, store.Options{LockTimeout: time.Second})
	if err != nil {
		fmt.Fprintf(stderr, "ecogate %s: %v\n", cmd, err)
		return nil, false
	}
	return db, true
}

func runOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate outbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, outboxUsage) }
	data := fs.String("data", "", "the node's bbolt data `FILE`")
	state := fs.String("state", "", "list: only messages in this `STATE`")
	partner := fs.String("partner", "", "list: only messages to this partner `CC`")
	limit := fs.Int("limit", 0, "list: at most `N` messages (0: all)")
	pos, err := opsParseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case len(pos) == 1 && pos[0] == "list", len(pos) == 2 && pos[0] == "retry":
	default:
		fmt.Fprint(stderr, outboxUsage)
		return exitUsage
	}
	if *state != "" && !store.State(*state).Valid() {
		fmt.Fprintf(stderr, "ecogate outbox: unknown state %q; one of %v\n", *state, store.States())
		return exitUsage
	}
	db, ok := openData(*data, stderr, "outbox")
	if !ok {
		return exitUsage
	}
	defer db.Close()
	ob := db.Outbox()

	if pos[0] == "retry" {
		id := pos[1]
		if err := ob.Retry(ctx, id); err != nil {
			fmt.Fprintf(stderr, "ecogate outbox retry: %v\n", err)
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrState) {
				return exitFail
			}
			return exitUsage
		}
		if _, err := db.Audit().Append(ctx, store.Entry{Actor: operator(), Action: "outbox.retry", Subject: id,
			Details: map[string]string{"via": "ecogate outbox retry"}}); err != nil {
			fmt.Fprintf(stderr, "ecogate outbox retry: requeued %s but could not write the audit entry: %v\n", id, err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "requeued %s; it will be sent when the node runs\n", id)
		return exitOK
	}

	list, err := ob.List(ctx, store.Filter{State: store.State(*state), Partner: *partner, Limit: *limit})
	if err != nil {
		fmt.Fprintf(stderr, "ecogate outbox list: %v\n", err)
		return exitUsage
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tPARTNER\tCERTIFICATE\tVERSION\tKIND\tATTEMPTS\tNEXT TRY\tLAST ERROR")
	for _, r := range list {
		next := "-"
		if r.State == store.StateQueued || r.State == store.StateAwaitingRetry || r.State == store.StateSending {
			next = r.NextTry.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.State, r.Partner, r.CertNumber,
			strconv.Itoa(r.Version), r.Kind, r.Attempts, next, oneLine(r.LastErr, 80))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d message(s)\n", len(list))
	return exitOK
}

// operator names the person running a command, for the audit log.
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "operator:" + u.Username
	}
	return "operator:uid-" + strconv.Itoa(os.Getuid())
}

// oneLine shortens s to n runes on one line.
func oneLine(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if len(r) == 0 {
		return "-"
	}
	return string(r)
}
