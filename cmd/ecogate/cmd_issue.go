package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
)

const issueUsage = `usage: ecogate issue [--config FILE | --node URL] [--token TOKEN] COMMAND ARGS

Operator and administrator tasks of the issuance workflow that have no UI
yet, through a running node's issuance API (/api/v1/issuance). The local
token (from --config, or $ECOGATE_LOCAL_TOKEN with --node) acts as the node
operator; --token (or $ECOGATE_ISSUANCE_TOKEN) acts as the person whose API
token it is (an agency administrator, an exporter administrator, ...).

Operator:
  register-exporter IEC ADMIN_EMAIL ADMIN_NAME   register an exporter from the trade registry
  approve-agency AGENCY                          approve an agency's registration
  token PERSON [TTL]                             give a person an API token (shown once)
Anyone (public requests):
  register-agency FILE.json                      an agency administrator's registration
  register-officer AGENCY OFFICE EMAIL NAME      an officer's registration request
Agency administrator (--token):
  add-office AGENCY OFFICE FILE.json             add or update an office (code, name, address, fees, ...)
  approve-officer EMAIL                          approve an officer of the agency
  map-officer EMAIL OFFICE[,OFFICE...]           set the offices an officer works at
  credit IEC OFFICE AMOUNT REASON                credit an exporter's e-wallet (minor units)
  import-wallets FILE                            migrate legacy e-wallet balances (CSV or JSON lines; import-wallets -h)
Any:
  call METHOD PATH [JSON]                        any other endpoint, e.g. call GET /applications/APP000000001
`

func runIssue(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, issueUsage) }
	node := fs.String("node", "", "a running node's local API base `URL`")
	config := fs.String("config", "", "the node's configuration `FILE`")
	token := fs.String("token", os.Getenv("ECOGATE_ISSUANCE_TOKEN"), "a person's API `TOKEN` (else the local token: the operator)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	tg, err := resolveTarget(ctx, "", *config, *node)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate issue: %v\n", err)
		return exitUsage
	}
	if tg.api == "" {
		fmt.Fprintln(stderr, "ecogate issue: the node is not running; start it with 'ecogate serve' (issuance commands go through its API)")
		return exitUsage
	}
	if *token != "" {
		tg.token = *token
	}
	cmd, a := rest[0], rest[1:]
	need := func(n int) bool {
		if len(a) < n {
			fmt.Fprintf(stderr, "ecogate issue %s: missing arguments\n%s", cmd, issueUsage)
			return false
		}
		return true
	}
	var method, path string
	var body any
	switch cmd {
	case "register-exporter":
		if !need(3) {
			return exitUsage
		}
		method, path = "POST", "/exporters"
		body = map[string]any{"iec": a[0], "admin": map[string]string{"id": a[1], "email": a[1], "name": strings.Join(a[2:], " ")}}
	case "approve-agency":
		if !need(1) {
			return exitUsage
		}
		method, path = "POST", "/agencies/"+url.PathEscape(a[0])+"/approve"
	case "token":
		if !need(1) {
			return exitUsage
		}
		req := map[string]string{"person": a[0]}
		if len(a) > 1 {
			req["ttl"] = a[1]
		}
		method, path, body = "POST", "/tokens", req
	case "register-agency":
		if !need(1) {
			return exitUsage
		}
		b, err := os.ReadFile(a[0])
		if err != nil {
			fmt.Fprintf(stderr, "ecogate issue %s: %v\n", cmd, err)
			return exitUsage
		}
		method, path, body = "POST", "/agencies/register", json.RawMessage(b)
	case "register-officer":
		if !need(4) {
			return exitUsage
		}
		method, path = "POST", "/officers/register"
		body = map[string]any{"agency": a[0], "office": a[1], "officer": map[string]string{"id": a[2], "email": a[2], "name": strings.Join(a[3:], " ")}}
	case "add-office":
		if !need(3) {
			return exitUsage
		}
		b, err := os.ReadFile(a[2])
		if err != nil {
			fmt.Fprintf(stderr, "ecogate issue %s: %v\n", cmd, err)
			return exitUsage
		}
		method, path, body = "PUT", "/agencies/"+url.PathEscape(a[0])+"/offices/"+url.PathEscape(a[1]), json.RawMessage(b)
	case "approve-officer":
		if !need(1) {
			return exitUsage
		}
		method, path = "POST", "/officers/"+url.PathEscape(a[0])+"/approve"
	case "map-officer":
		if !need(2) {
			return exitUsage
		}
		method, path, body = "PUT", "/officers/"+url.PathEscape(a[0])+"/offices", map[string]any{"offices": strings.Split(a[1], ",")}
	case "credit":
		if !need(4) {
			return exitUsage
		}
		amt, err := strconv.ParseInt(a[2], 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate issue credit: AMOUNT %q is not an integer (minor units, e.g. paise)\n", a[2])
			return exitUsage
		}
		method, path = "POST", "/wallets/"+url.PathEscape(a[0])+"/"+url.PathEscape(a[1])+"/credit"
		body = map[string]any{"amount": amt, "reason": strings.Join(a[3:], " ")}
	case "import-wallets":
		return runImportWallets(ctx, tg, a, stdout, stderr)
	case "call":
		if !need(2) {
			return exitUsage
		}
		method, path = strings.ToUpper(a[0]), a[1]
		if len(a) > 2 {
			body = json.RawMessage(a[2])
		}
	default:
		fmt.Fprintf(stderr, "ecogate issue: unknown command %q\n%s", cmd, issueUsage)
		return exitUsage
	}
	var raw []byte
	if body != nil {
		if raw, err = json.Marshal(body); err != nil {
			fmt.Fprintf(stderr, "ecogate issue %s: the JSON is not valid: %v\n", cmd, err)
			return exitUsage
		}
	}
	var out json.RawMessage
	if rc := localAPIBody(ctx, tg, method, "/api/v1/issuance"+path, raw, &out, stderr, "issue "+cmd); rc != exitOK {
		return rc
	}
	var pretty any
	if json.Unmarshal(out, &pretty) == nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(pretty)
	}
	return exitOK
}
