package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"
)

// exit codes shared by every subcommand.
const (
	exitOK    = 0 // success; for validate/verify: no SEVERE finding, signature valid
	exitFail  = 1 // the input was read and judged: invalid, or a SEVERE finding
	exitUsage = 2 // usage error, unreadable input, or an infrastructure error
)

// command is one subcommand of the binary.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand. Each lives in its own file, cmd_NAME.go.
func commands() map[string]command {
	return map[string]command{
		"validate":        {"validate e-CO documents against the dataset and an agreement profile", runValidate},
		"sign":            {"sign an e-CO with an enveloped XML Signature", runSign},
		"verify":          {"verify an e-CO's signature and signer trust", runVerify},
		"verify-qr":       {"check a certificate's signed QR payload offline (verify-qr --trust DIR QR)", runVerifyQR},
		"pki":             {"manage a development PKI (pki init DIR)", runPKI},
		"version":         {"print the version", runVersion},
		"partners":        {"list, show and check the partner registry", runPartners},
		"outbox":          {"list outbound messages; resend one (outbox retry ID)", runOutbox},
		"audit":           {"verify the hash-chained audit log (audit verify)", runAudit},
		"store":           {"storage engine tools: migrate the PostgreSQL schema, copy between engines", runStore},
		"map":             {"map domestic or partner records onto the e-CO dataset (map --profile NAME IN)", runMap},
		"import":          {"migrate a legacy platform's certificates into the store (import --config FILE --profile NAME --source DIR)", runImport},
		"serve":           {"run a node (serve --config FILE)", runServe},
		"send":            {"hand an e-CO to a running node for sending (send FILE --to CC)", runSend},
		"demo":            {"run two nodes on loopback and exchange sample e-COs", runDemo},
		"portal":          {"manage the web portal's logins (portal add-user|disable-user)", runPortal},
		"customs-clients": {"manage customs API clients, OAuth2 or client certificate (customs-clients add|list|renew|revoke)", runCustomsClients},
		"conformance":     {"test a node against the conformance kit (conformance list|init DIR|run|serve)", runConformance},
		"issue":           {"issuance workflow tasks on a running node (issue register-exporter|approve-agency|token|add-office|...)", runIssue},
	}
}

// version is set at build time with -ldflags "-X main.version=..."; when
// it is not, the module version from the build information is used.
var version = ""

// readBuildInfo is runtime/debug.ReadBuildInfo, replaceable in tests.
var readBuildInfo = debug.ReadBuildInfo

// versionText is what `ecogate version` prints: the version, then the
// source revision, its time and whether the tree had uncommitted changes
// (recorded by the go command when it builds inside a git checkout), and
// the Go version and build settings that matter for the static binary.
func versionText() string {
	v := version
	bi, ok := readBuildInfo()
	if v == "" {
		v = "dev"
		if ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	s := "ecogate " + v + "\n"
	if !ok {
		return s + "  no build information (built without module support)\n"
	}
	set := map[string]string{}
	for _, kv := range bi.Settings {
		set[kv.Key] = kv.Value
	}
	rev := set["vcs.revision"]
	switch {
	case rev == "":
		rev = "unknown (not built from a git checkout, or with -buildvcs=false)"
	case set["vcs.modified"] == "true":
		rev += " (with uncommitted changes)"
	}
	s += "  revision " + rev + "\n"
	if t := set["vcs.time"]; t != "" {
		s += "  time     " + t + "\n"
	}
	s += "  go       " + bi.GoVersion + "\n"
	cgo := set["CGO_ENABLED"]
	switch cgo {
	case "0":
		cgo = "0 (static binary)"
	case "":
		cgo = "unknown"
	default:
		cgo += " (dynamically linked against the C library: build with CGO_ENABLED=0)"
	}
	s += "  cgo      " + cgo + "\n"
	return s
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: ecogate version")
		return exitUsage
	}
	fmt.Fprint(stdout, versionText())
	return exitOK
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ecogate COMMAND [ARGS]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'ecogate COMMAND -h' for a command's options.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args. Help asked for (--help, -h, help, also
// after a command) goes to stdout with exit 0; usage errors go to stderr
// with exit 2.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		if len(args) > 1 { // ecogate help COMMAND
			if _, ok := commands()[args[1]]; ok {
				return run([]string{args[1], "--help"}, stdout, stderr)
			}
			fmt.Fprintf(stderr, "ecogate: unknown command %q\n\n", args[1])
			usage(stderr)
			return exitUsage
		}
		usage(stdout)
		return exitOK
	case "--version", "-version", "-v":
		return runVersion(context.Background(), args[1:], stdout, stderr)
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ecogate: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	if asksHelp(args[1:]) {
		// The command's flag set prints its usage on what it takes as
		// stderr; asked for, help belongs on stdout.
		stderr = stdout
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cmd.run(ctx, args[1:], stdout, stderr)
}

// asksHelp reports whether a command's arguments ask for its help (before
// any "--").
func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help", "-help":
			return true
		}
	}
	return false
}

// parseArgs parses flags and positional arguments in any order, so that
// "ecogate verify FILE --json" works as "ecogate verify --json FILE"; "--"
// ends the flags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
