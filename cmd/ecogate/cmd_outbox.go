package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/store"
)

const outboxUsage = `usage: ecogate outbox list  (--node URL | --config FILE | --data FILE) [--state STATE] [--partner CC] [--limit N]
       ecogate outbox retry (--node URL | --config FILE | --data FILE) ID

list   outbound messages with their delivery state, attempts, next try and last error
retry  resend a suspended, failed, not-readable or waiting message now, with the
       same message id and a fresh round of attempts (recorded in the audit log)

States: queued, sending, awaiting-retry, delivered, delivered-with-warnings,
not-readable, failed, suspended.

--config FILE (the node's configuration) works whether the node runs or
not: through its local API (listen.local) when it answers, else on its data
file. --node URL names a running node's local API (e.g.
http://127.0.0.1:8080); --data FILE a stopped node's bbolt data file.
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
	node := fs.String("node", "", "a running node's local API base `URL`")
	config := fs.String("config", "", "the node's configuration `FILE` (local API when it runs, else its data file)")
	pos, err := parseArgs(fs, args)
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
	tg, err := resolveTarget(ctx, *data, *config, *node)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate outbox:", err)
		return exitUsage
	}
	if tg.api != "" {
		if pos[0] == "retry" {
			return outboxRetryAPI(ctx, tg, pos[1], stdout, stderr)
		}
		return outboxListAPI(ctx, tg, *state, *partner, *limit, stdout, stderr)
	}
	db, ok := openData(tg.data, stderr, "outbox")
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
	rows := make([]outboxRow, len(list))
	for i, r := range list {
		rows[i] = outboxRow{r.ID, r.State, r.Partner, r.CertNumber, r.Version, r.Kind, r.Attempts, r.NextTry, r.LastErr}
	}
	printOutbox(stdout, rows)
	return exitOK
}

// outboxRow is one line of ecogate outbox list.
type outboxRow struct {
	ID         string
	State      store.State
	Partner    string
	CertNumber string
	Version    int
	Kind       string
	Attempts   int
	NextTry    time.Time
	LastErr    string
}

func printOutbox(stdout io.Writer, rows []outboxRow) {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tPARTNER\tCERTIFICATE\tVERSION\tKIND\tATTEMPTS\tNEXT TRY\tLAST ERROR")
	for _, r := range rows {
		next := "-"
		if (r.State == store.StateQueued || r.State == store.StateAwaitingRetry || r.State == store.StateSending) && !r.NextTry.IsZero() {
			next = r.NextTry.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.State, r.Partner, r.CertNumber,
			strconv.Itoa(r.Version), r.Kind, r.Attempts, next, oneLine(r.LastErr, 80))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d message(s)\n", len(rows))
}

// outboxListAPI lists through a running node's local API.
func outboxListAPI(ctx context.Context, tg target, state, partner string, limit int, stdout, stderr io.Writer) int {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if partner != "" {
		q.Set("partner", partner)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var list []gateway.Tracking
	if code := localAPI(ctx, tg, http.MethodGet, "/api/v1/outbound?"+q.Encode(), &list, stderr, "outbox list"); code != exitOK {
		return code
	}
	rows := make([]outboxRow, len(list))
	for i, t := range list {
		rows[i] = outboxRow{t.MessageID, t.State, t.To, t.CertificateNumber, t.Version, t.Kind, t.Attempts, t.NextTry, t.LastErr}
	}
	printOutbox(stdout, rows)
	return exitOK
}

// outboxRetryAPI resends a message through a running node's local API
// (the node writes the audit entry).
func outboxRetryAPI(ctx context.Context, tg target, id string, stdout, stderr io.Writer) int {
	if code := localAPI(ctx, tg, http.MethodPost, "/api/v1/outbound/"+url.PathEscape(id)+"/retry", nil, stderr, "outbox retry"); code != exitOK {
		return code
	}
	fmt.Fprintf(stdout, "requeued %s; the node sends it now\n", id)
	return exitOK
}

// localAPI calls path on a running node's local API (tg.api, with its
// token when it needs one) and decodes a 2xx answer into v; other answers
// are reported (exit 1 for a refusal, 2 when the node is unreachable or
// refuses the token).
func localAPI(ctx context.Context, tg target, method, path string, v any, stderr io.Writer, cmd string) int {
	return localAPIBody(ctx, tg, method, path, nil, v, stderr, cmd)
}

// localAPIBody is localAPI with a JSON request body.
func localAPIBody(ctx context.Context, tg target, method, path string, body []byte, v any, stderr io.Writer, cmd string) int {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, tg.api+path, rd)
	if err == nil {
		withToken(req, tg.token)
	}
	if body != nil && err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecogate %s: %v\n", cmd, err)
		return exitUsage
	}
	resp, err := tg.client(30 * time.Second).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate %s: the node's local API is unreachable: %v (is 'ecogate serve' running? for a stopped node use --data FILE)\n", cmd, err)
		return exitUsage
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode/100 != 2 {
		// The gateway's problems carry the text in "error", the customs
		// face's in "message" (with a code in "error").
		var p struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &p) == nil {
			if p.Message != "" {
				msg = p.Message
			} else if p.Error != "" {
				msg = p.Error
			}
		}
		fmt.Fprintf(stderr, "ecogate %s: the node answered %s: %s\n", cmd, resp.Status, msg)
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusBadRequest {
			return exitFail
		}
		return exitUsage
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			fmt.Fprintf(stderr, "ecogate %s: unexpected answer from the node: %v\n", cmd, err)
			return exitUsage
		}
	}
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
