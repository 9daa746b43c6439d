package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ecogate/ecogate/gateway"
)

const sendUsage = `usage: ecogate send FILE [--to CC[,CC...]] [--node URL | --config FILE] [--wait DURATION] [--json]

Hand an e-CO (canonical XML, signed or not) to a running node through its
local API (POST /api/v1/outbound). The node validates it, signs it with the
issuing authority's key when it is not signed yet, and queues one message
per recipient (--to, or the certificate's import country) in its durable
outbox. It refuses (HTTP 400) an e-CO whose export country or issuing
body's country is not its own: a node speaks only for its own country.
A withdrawal (status 40 or purpose code 1) or a replacement (purpose
code 5 or a ReplacedCertificate) is sent the same way.

The node's local API is --node (default http://127.0.0.1:8080), or the
listen.local address of the node configuration given with --config.
With --wait, follow the messages until the partner's receipt arrives or
the time is up.

Exit status: 0 queued (with --wait: delivered), 1 refused by the node or
not delivered, 2 usage error or node unreachable.
`

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sendUsage) }
	to := fs.String("to", "", "recipient country `CC` (comma-separated for several; default: the import country)")
	node := fs.String("node", "", "the node's local API base `URL` (default http://127.0.0.1:8080)")
	config := fs.String("config", "", "read the local API address from the node configuration `FILE`")
	wait := fs.Duration("wait", 0, "wait up to `DURATION` for the receipts (e.g. 30s)")
	asJSON := fs.Bool("json", false, "print the node's answer as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	tg, err := nodeTarget(*node, *config)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate send:", err)
		return exitUsage
	}
	doc, err := os.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "ecogate send:", err)
		return exitUsage
	}
	base, token := tg.api, tg.token
	u := base + "/api/v1/outbound"
	if *to != "" {
		u += "?to=" + url.QueryEscape(strings.ToUpper(*to))
	}
	c := tg.client(60 * time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(doc)))
	if err != nil {
		fmt.Fprintln(stderr, "ecogate send:", err)
		return exitUsage
	}
	req.Header.Set("Content-Type", "application/xml")
	withToken(req, token)
	resp, err := c.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate send: the node's local API at %s is unreachable: %v (is 'ecogate serve' running? give --node or --config)\n", base, err)
		return exitUsage
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		var pr struct {
			Error    string `json:"error"`
			Findings []struct {
				Level, Code, Path, Message string
			} `json:"findings"`
		}
		if json.Unmarshal(body, &pr) == nil && pr.Error != "" {
			fmt.Fprintf(stderr, "ecogate send: refused (HTTP %d): %s\n", resp.StatusCode, pr.Error)
			for _, f := range pr.Findings {
				fmt.Fprintf(stderr, "  %s %s %s: %s\n", f.Level, f.Code, f.Path, f.Message)
			}
		} else {
			fmt.Fprintf(stderr, "ecogate send: HTTP %d: %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		if resp.StatusCode >= 500 {
			return exitUsage
		}
		return exitFail
	}
	var res gateway.SubmitResult
	if err := json.Unmarshal(body, &res); err != nil {
		fmt.Fprintln(stderr, "ecogate send: unreadable answer:", err)
		return exitUsage
	}
	if *asJSON {
		stdout.Write(body)
	} else {
		how := "already signed"
		if res.Signed {
			how = "signed by this node"
		}
		fmt.Fprintf(stdout, "queued %s (%s, %s)\n", res.Certificate, res.Kind, how)
		for _, m := range res.Messages {
			mode := "push"
			if m.Pull {
				mode = "pull: waits for the partner to fetch it"
			}
			fmt.Fprintf(stdout, "  to %s  message %s  (%s)\n  tracking %s\n", m.To, m.ID, mode, m.Tracking)
		}
	}
	if *wait <= 0 {
		return exitOK
	}
	code := exitOK
	deadline := time.Now().Add(*wait)
	for _, m := range res.Messages {
		tr, err := sendWaitFor(ctx, c, m.Tracking, token, deadline)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate send: %s to %s: %v\n", m.ID, m.To, err)
			code = exitFail
			continue
		}
		fmt.Fprintf(stdout, "%s to %s: %s after %d attempt(s)", m.ID, m.To, tr.TrackingInfo, tr.Attempts)
		if tr.LastErr != "" {
			fmt.Fprintf(stdout, " (%s)", tr.LastErr)
		}
		fmt.Fprintln(stdout)
		if !tr.TrackingInfo.Accepted() {
			code = exitFail
		}
	}
	return code
}

// sendWaitFor polls a tracking URL until the message is settled or
// suspended, or the deadline passes.
func sendWaitFor(ctx context.Context, c *http.Client, u, token string, deadline time.Time) (*gateway.Tracking, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		withToken(req, token)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		var tr gateway.Tracking
		err = json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if tr.TrackingInfo != gateway.PendingDelivery {
			return &tr, nil
		}
		if time.Now().After(deadline) {
			return &tr, fmt.Errorf("still pending after the wait (state %s, %d attempts, last error %q)", tr.State, tr.Attempts, tr.LastErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// nodeTarget finds a running node's local API: from the configuration
// file (configTarget), or --node URL (default http://127.0.0.1:8080) with
// the token in $ECOGATE_LOCAL_TOKEN and, for https, the CA in
// $ECOGATE_LOCAL_CA.
func nodeTarget(node, config string) (target, error) {
	switch {
	case node != "" && config != "":
		return target{}, errors.New("give either --node or --config, not both")
	case config != "":
		cfg, err := gateway.LoadConfig(config)
		if err != nil {
			return target{}, err
		}
		return configTarget(cfg)
	}
	base := "http://127.0.0.1:8080"
	if node != "" {
		base = strings.TrimRight(node, "/")
	}
	tc, err := localCA(base)
	return target{api: base, token: strings.TrimSpace(os.Getenv(localTokenEnv)), tls: tc}, err
}
