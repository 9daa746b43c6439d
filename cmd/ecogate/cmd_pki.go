package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/ecogate/ecogate/certs"
)

func runPKI(_ context.Context, args []string, stdout, stderr io.Writer) int {
	const pkiUsage = "usage: ecogate pki init [--force] DIR\n       ecogate pki revoke [--next-update DURATION] DIR CERT..."
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprintln(stdout, pkiUsage)
		return exitOK
	}
	if len(args) == 0 || (args[0] != "init" && args[0] != "revoke") {
		fmt.Fprintln(stderr, pkiUsage)
		return exitUsage
	}
	if args[0] == "revoke" {
		return runPKIRevoke(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("ecogate pki init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	force := fs.Bool("force", false, "replace the PKI files in a non-empty DIR")
	name := fs.String("name", "ecogate dev", "common-name `PREFIX` of the certificates")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecogate pki init [--force] DIR\n\nWrites a development PKI (root, issuing-authority intermediate, RSA and ECDSA document\nsigners, receipt key, TLS server and client certificates, CRLs) and a README.md into DIR.\n\noptions:")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return certsFlagExit(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	if _, err := certs.InitDevPKI(pos[0], certs.PKIOptions{Force: *force, Name: *name}); err != nil {
		fmt.Fprintf(stderr, "ecogate pki init: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "development PKI written to %s (see %s)\n", pos[0], filepath.Join(pos[0], certs.FileREADME))
	return exitOK
}

// runPKIRevoke re-issues the CRL of the CA (root or intermediate of the dev
// PKI in DIR) that issued each CERT, adding it to the revoked entries.
func runPKIRevoke(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate pki revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	next := fs.Duration("next-update", 30*24*time.Hour, "validity of the new CRL")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return certsFlagExit(err)
	}
	if len(pos) < 2 {
		fmt.Fprintln(stderr, "usage: ecogate pki revoke [--next-update DURATION] DIR CERT...")
		return exitUsage
	}
	dir := pos[0]
	for _, certFile := range pos[1:] {
		cs, err := certs.LoadCertificates(certFile)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate pki revoke: %v\n", err)
			return exitUsage
		}
		crlFile, err := certs.RevokeInDevPKI(dir, cs[0], time.Now(), *next)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate pki revoke: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s revoked in %s\n", cs[0].Subject.CommonName, crlFile)
	}
	return exitOK
}
