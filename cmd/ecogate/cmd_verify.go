package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ecogate/ecogate/certs"
)

// certsPartnersFile is the small partners file that `verify --partners`
// reads until the partners package provides the registry.
type certsPartnersFile struct {
	Partners []struct {
		Country         string `yaml:"country"`
		Name            string `yaml:"name"`
		DocumentSigning struct {
			Anchors []string `yaml:"anchors"`
			CRLs    []string `yaml:"crls"`
		} `yaml:"documentSigning"`
	} `yaml:"partners"`
}

// certsLoadPartnerTrust loads the document-signing trust of one partner
// from a partners YAML file; relative paths are relative to the file.
func certsLoadPartnerTrust(file, from string) (*certs.TrustSet, string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	var pf certsPartnersFile
	if err := yaml.Unmarshal(b, &pf); err != nil {
		return nil, "", fmt.Errorf("%s: %w", file, err)
	}
	if len(pf.Partners) == 0 {
		return nil, "", fmt.Errorf("%s lists no partners", file)
	}
	idx := -1
	if from == "" {
		if len(pf.Partners) > 1 {
			return nil, "", fmt.Errorf("%s lists %d partners; choose the sender with --from CC", file, len(pf.Partners))
		}
		idx = 0
	} else {
		for i, p := range pf.Partners {
			if strings.EqualFold(p.Country, from) {
				idx = i
			}
		}
		if idx < 0 {
			return nil, "", fmt.Errorf("%s has no partner with country %q", file, from)
		}
	}
	p := pf.Partners[idx]
	ts := &certs.TrustSet{}
	base := filepath.Dir(file)
	abs := func(s string) string {
		if filepath.IsAbs(s) {
			return s
		}
		return filepath.Join(base, s)
	}
	for _, a := range p.DocumentSigning.Anchors {
		cs, err := certs.LoadCertificates(abs(a))
		if err != nil {
			return nil, "", fmt.Errorf("partner %s anchors: %w", p.Country, err)
		}
		ts.AnchorCerts = append(ts.AnchorCerts, cs...)
	}
	for _, c := range p.DocumentSigning.CRLs {
		ls, err := certs.LoadCRLs(abs(c))
		if err != nil {
			return nil, "", fmt.Errorf("partner %s CRLs: %w", p.Country, err)
		}
		ts.RevocationLists = append(ts.RevocationLists, ls...)
	}
	if len(ts.AnchorCerts) == 0 {
		return nil, "", fmt.Errorf("partner %s has no document-signing anchors in %s", p.Country, file)
	}
	return ts, p.Country, nil
}

// certsParseTime accepts RFC 3339 or a date (midnight UTC).
func certsParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--at %q: give RFC 3339 (2026-03-20T12:00:00Z) or a date (2026-03-20)", s)
}

type certsVerifyJSON struct {
	File    string        `json:"file"`
	Valid   bool          `json:"valid"`
	Partner string        `json:"partner,omitempty"`
	At      time.Time     `json:"at"`
	Signer  string        `json:"signer,omitempty"`
	Chain   []string      `json:"chain,omitempty"`
	Report  []certs.Entry `json:"report"`
}

func runVerify(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	trustDir := fs.String("trust", "", "`DIR` whose certificates are document-signing anchors and whose CRLs are revocation data")
	partnersFile := fs.String("partners", "", "partners YAML `FILE` (partners: [{country, name, documentSigning: {anchors, crls}}])")
	from := fs.String("from", "", "sending partner's `COUNTRY` code in the partners file")
	atFlag := fs.String("at", "", "policy `TIME` for certificate validity and CRL freshness (RFC 3339 or YYYY-MM-DD; default now)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	requireCRL := fs.Bool("require-crl", false, "treat a chain certificate that no CRL covers as INVALID")
	out := fs.String("o", "", "write the verified signed octets (canonical, signature removed) to `FILE` when valid")
	maxBytes := fs.Int("max-bytes", certs.DefaultMaxBytes, "largest accepted input in `BYTES`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ecogate verify (--trust DIR | --partners FILE [--from CC]) [--at TIME] [--json] FILE\n\nVerifies the enveloped XML Signature of FILE against the profile, the sending partner's\ndocument-signing anchors and CRLs. Exit 0 valid, 1 invalid, 2 error.\n\noptions:")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return certsFlagExit(err)
	}
	if len(pos) != 1 || (*trustDir == "") == (*partnersFile == "") {
		if len(pos) == 1 {
			fmt.Fprintln(stderr, "ecogate verify: give exactly one of --trust DIR or --partners FILE")
		}
		fs.Usage()
		return exitUsage
	}
	var trust *certs.TrustSet
	partner := ""
	if *trustDir != "" {
		trust, err = certs.DirTrust(*trustDir)
	} else {
		trust, partner, err = certsLoadPartnerTrust(*partnersFile, *from)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecogate verify: %v\n", err)
		return exitUsage
	}
	at := time.Now()
	if *atFlag != "" {
		if at, err = certsParseTime(*atFlag); err != nil {
			fmt.Fprintf(stderr, "ecogate verify: %v\n", err)
			return exitUsage
		}
	}
	doc, err := certsReadInput(pos[0], *maxBytes)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate verify: read %s: %v\n", pos[0], err)
		return exitUsage
	}
	v := &certs.Verifier{Trust: trust, At: at, Policy: certs.Policy{RequireRevocation: *requireCRL}, Limits: certs.Limits{MaxBytes: *maxBytes}}
	res, err := v.Verify(doc)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate verify: %v\n", err)
		return exitUsage
	}
	if *asJSON {
		j := certsVerifyJSON{File: pos[0], Valid: res.Valid, Partner: partner, At: at.UTC(), Report: res.Report}
		if res.Signer != nil {
			j.Signer = res.Signer.Subject.String()
		}
		for _, c := range res.Chain {
			j.Chain = append(j.Chain, c.Subject.String())
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(j); err != nil {
			return exitUsage
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tSTATUS\tREASON\tDETAIL")
		for _, e := range res.Report {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Check, e.Status, e.Reason, e.Detail)
		}
		tw.Flush()
		verdict := "VALID"
		if !res.Valid {
			verdict = "INVALID"
		}
		fmt.Fprintf(stdout, "%s: %s (at %s)\n", pos[0], verdict, at.UTC().Format(time.RFC3339))
	}
	for _, e := range res.Report {
		if e.Status == certs.StatusError {
			return exitUsage
		}
	}
	if !res.Valid {
		return exitFail
	}
	if *out != "" {
		if err := os.WriteFile(*out, res.Signed, 0o644); err != nil {
			fmt.Fprintf(stderr, "ecogate verify: %v\n", err)
			return exitUsage
		}
	}
	return exitOK
}
