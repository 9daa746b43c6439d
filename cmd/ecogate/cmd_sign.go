package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ecogate/ecogate/certs"
)

// certsFlagExit maps a flag parsing error to an exit code: -h is not an
// error.
func certsFlagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// certsReadInput reads a file, or standard input for "-".
func certsReadInput(name string, limit int) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	return b, nil
}

func runSign(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "signing key: PEM (PKCS#8, PKCS#1, SEC 1) or PKCS#12 (.p12/.pfx) `FILE`")
	cert := fs.String("cert", "", "signer certificate PEM `FILE` (optional with PKCS#12)")
	chain := fs.String("chain", "", "PEM `FILE` of intermediate certificates to include in KeyInfo")
	password := fs.String("password-env", "ECOGATE_KEY_PASSWORD", "environment `VARIABLE` holding the PKCS#12 password")
	out := fs.String("o", "", "write the signed document to `FILE` instead of standard output")
	maxBytes := fs.Int("max-bytes", certs.DefaultMaxBytes, "largest accepted input in `BYTES`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecogate sign --key K --cert C [--chain F] IN > OUT\n\nAdds an enveloped XML Signature (exclusive C14N, RSA-SHA256 or ECDSA-SHA256 raw r||s)\nover the whole document as the last child of the root. IN may be - for standard input.\n\noptions:")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return certsFlagExit(err)
	}
	if *key == "" || len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	signerKey, signerChain, err := certs.LoadKeyPair(*key, *cert, *chain, os.Getenv(*password))
	if err != nil {
		fmt.Fprintf(stderr, "ecogate sign: %v\n", err)
		return exitUsage
	}
	doc, err := certsReadInput(pos[0], *maxBytes)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate sign: read input: %v\n", err)
		return exitUsage
	}
	s := &certs.Signer{Key: signerKey, Chain: signerChain, Limits: certs.Limits{MaxBytes: *maxBytes}}
	signed, err := s.Sign(doc)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate sign: %s: %v\n", pos[0], err)
		return exitFail
	}
	if *out != "" {
		if err := os.WriteFile(*out, signed, 0o644); err != nil {
			fmt.Fprintf(stderr, "ecogate sign: %v\n", err)
			return exitUsage
		}
		return exitOK
	}
	if _, err := stdout.Write(signed); err != nil {
		fmt.Fprintf(stderr, "ecogate sign: write: %v\n", err)
		return exitUsage
	}
	return exitOK
}
