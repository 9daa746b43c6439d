package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/conformance"
)

const conformanceUsage = `usage: ecogate conformance list [--json]
       ecogate conformance init DIR [--country CC] [--endpoint URL]
       ecogate conformance run --target https://node/eco/v1 --kit DIR [--only ID,...] [--report FILE.xml|.html|.json] [--node-country CC] [--node-ca FILE] [--max-document-bytes N]
       ecogate conformance serve --kit DIR --node-trust FILE [--listen ADDR] [--report FILE.json|.html|.xml]

The conformance kit tests any e-CO node's partner API (ecogate or not).
list shows every assertion: its id, what it checks, its rule and what it
sends. init writes the kit's test PKI and the files the node under test
loads so that the kit is a registered partner (see DIR/INSTRUCTIONS.md).
run plays that partner against the node and reports PASS, FAIL or NOT
APPLICABLE per assertion; it exits 0 only when every applicable assertion
passes. serve is the kit as a reference partner node that the node under
test sends to; it checks each message and reports.
`

func runConformance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, conformanceUsage)
		return exitUsage
	}
	switch args[0] {
	case "list":
		return conformanceList(args[1:], stdout, stderr)
	case "init":
		return conformanceInit(args[1:], stdout, stderr)
	case "run":
		return conformanceRun(ctx, args[1:], stdout, stderr)
	case "serve":
		return conformanceServe(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, conformanceUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "ecogate conformance: unknown subcommand %q\n%s", args[0], conformanceUsage)
	return exitUsage
}

func conformanceFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ecogate conformance "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, conformanceUsage) }
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

func conformanceList(args []string, stdout, stderr io.Writer) int {
	fs := conformanceFlags("list", stderr)
	asJSON := fs.Bool("json", false, "print the catalogue as JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *asJSON {
		return writeJSONOut(stdout, conformance.Catalogue())
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, a := range conformance.Catalogue() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Group, a.Title)
		fmt.Fprintf(tw, "\t\trule: %s\n\t\tsends: %s\n", a.Rule, a.Sends)
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "%d assertions\n", len(conformance.Catalogue()))
	return exitOK
}

func writeJSONOut(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitUsage
	}
	return exitOK
}

func conformanceInit(args []string, stdout, stderr io.Writer) int {
	fs := conformanceFlags("init", stderr)
	country := fs.String("country", conformance.DefaultCountry, "the kit's country `CC` (ISO 3166-1 alpha-2; not the node's)")
	endpoint := fs.String("endpoint", "", "where `URL` conformance serve will be reached (for the partner entry)")
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	if dir == "" {
		fmt.Fprintln(stderr, "ecogate conformance init: give the kit's directory: ecogate conformance init DIR")
		return exitUsage
	}
	k, err := conformance.Init(dir, conformance.InitOptions{Country: *country, Endpoint: *endpoint})
	if err != nil {
		fmt.Fprintln(stderr, "ecogate conformance init:", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "conformance kit for partner %s written to %s\n", k.Country, dir)
	fmt.Fprintf(stdout, "  the node under test loads %s/node/ (ecogate: add node/partners-entry.yaml to partners.yaml); see %s/INSTRUCTIONS.md\n", dir, dir)
	return exitOK
}

func conformanceRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := conformanceFlags("run", stderr)
	target := fs.String("target", "", "the node's partner API `URL`, e.g. https://node.example/eco/v1")
	kitDir := fs.String("kit", "", "the kit `DIR` (ecogate conformance init)")
	only := fs.String("only", "", "run only these assertion `IDs` (comma-separated)")
	report := fs.String("report", "", "write the report to `FILE` (.xml JUnit, .html, .json)")
	nodeCountry := fs.String("node-country", "", "the node's country `CC` (default: from its signed profile)")
	nodeCA := fs.String("node-ca", "", "verify the node's TLS server certificate against the CAs in `FILE`")
	maxDoc := fs.Int("max-document-bytes", 4<<20, "the largest document the node takes (`N` bytes)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *target == "" || *kitDir == "" {
		fmt.Fprintln(stderr, "ecogate conformance run: --target URL and --kit DIR are required")
		return exitUsage
	}
	k, err := conformance.Load(*kitDir)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate conformance run:", err)
		return exitUsage
	}
	opt := conformance.Options{Target: *target, NodeCountry: *nodeCountry, MaxDocumentBytes: *maxDoc, Progress: stdout}
	if *only != "" {
		opt.Only = strings.Split(*only, ",")
	}
	if *nodeCA != "" {
		ts, err := certPool(*nodeCA)
		if err != nil {
			fmt.Fprintln(stderr, "ecogate conformance run: --node-ca:", err)
			return exitUsage
		}
		opt.NodeCA = x509.NewCertPool()
		for _, c := range ts.AnchorCerts {
			opt.NodeCA.AddCert(c)
		}
	}
	rep, err := conformance.Run(ctx, k, opt)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate conformance run:", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "\n%d passed, %d failed, %d not applicable in %d ms (node %s at %s)\n", rep.Passed, rep.Failed, rep.NotApplic, rep.Millis, rep.NodeCountry, rep.Target)
	if *report != "" {
		if err := rep.WriteFile(*report); err != nil {
			fmt.Fprintln(stderr, "ecogate conformance run:", err)
			return exitUsage
		}
		fmt.Fprintln(stdout, "report:", *report)
	}
	if !rep.OK() {
		return exitFail
	}
	return exitOK
}

func certPool(path string) (*certs.TrustSet, error) {
	ts := &certs.TrustSet{}
	if err := ts.AddFile(path); err != nil {
		return nil, err
	}
	if len(ts.AnchorCerts) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", path)
	}
	return ts, nil
}

func conformanceServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := conformanceFlags("serve", stderr)
	kitDir := fs.String("kit", "", "the kit `DIR` (ecogate conformance init)")
	listen := fs.String("listen", "127.0.0.1:9443", "listen `ADDR` (host:port)")
	trust := fs.String("node-trust", "", "PEM `FILE` with the node under test's TLS client CA and document-signing anchors (and CRLs)")
	report := fs.String("report", "", "rewrite the report to `FILE` (.json, .html, .xml) after each message")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *kitDir == "" || *trust == "" {
		fmt.Fprintln(stderr, "ecogate conformance serve: --kit DIR and --node-trust FILE are required")
		return exitUsage
	}
	k, err := conformance.Load(*kitDir)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate conformance serve:", err)
		return exitUsage
	}
	ts, err := certPool(*trust)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate conformance serve: --node-trust:", err)
		return exitUsage
	}
	var rf *conformance.Referee
	rf, err = conformance.NewReferee(k, conformance.ServeOptions{NodeTrust: ts, OnResult: func(r conformance.Result) {
		fmt.Fprintf(stdout, "%s %s %s\n", r.Status, r.ID, r.Reason)
		if *report != "" {
			if err := rf.Results().WriteFile(*report); err != nil {
				fmt.Fprintln(stderr, "ecogate conformance serve: report:", err)
			}
		}
	}})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate conformance serve:", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "reference partner %s listening on https://%s/eco/v1 (Ctrl-C stops)\n", k.Country, ln.Addr())
	if err := rf.Serve(ctx, ln); err != nil {
		fmt.Fprintln(stderr, "ecogate conformance serve:", err)
		return exitUsage
	}
	rep := rf.Results()
	fmt.Fprintf(stdout, "%d messages checked: %d passed, %d failed\n", len(rep.Results), rep.Passed, rep.Failed)
	if !rep.OK() {
		return exitFail
	}
	return exitOK
}
