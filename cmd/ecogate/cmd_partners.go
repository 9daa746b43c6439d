package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ecogate/ecogate/partners"
)

const partnersUsage = `usage: ecogate partners list  (--partners FILE | --config FILE)
       ecogate partners show CC (--partners FILE | --config FILE)
       ecogate partners check   (--partners FILE | --config FILE) [--within 720h]

list   the registered partners
show   one partner: endpoint, delivery, certificates with expiry, CRLs, retry policy
check  load every partner's certificates and CRLs; report missing or bad files,
       bad endpoints, certificates expired or expiring within --within (30 days),
       stale CRLs. Exit status 1 when anything is wrong.

--config FILE reads the registry path from the node configuration's top-level
"partners:" key (relative to the configuration file).
`

// partnersPath returns the registry path from --partners or --config.
func partnersPath(partnersFlag, configFlag string) (string, error) {
	switch {
	case partnersFlag != "" && configFlag != "":
		return "", errors.New("give either --partners or --config, not both")
	case partnersFlag != "":
		return partnersFlag, nil
	case configFlag != "":
		b, err := os.ReadFile(configFlag)
		if err != nil {
			return "", err
		}
		var cfg struct {
			Partners string `yaml:"partners"`
		}
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return "", fmt.Errorf("%s: %w", configFlag, err)
		}
		if cfg.Partners == "" {
			return "", fmt.Errorf("%s has no top-level 'partners:' key naming the registry file", configFlag)
		}
		if filepath.IsAbs(cfg.Partners) {
			return cfg.Partners, nil
		}
		return filepath.Join(filepath.Dir(configFlag), cfg.Partners), nil
	default:
		return "", errors.New("give the registry with --partners FILE (or --config FILE)")
	}
}

func runPartners(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate partners", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, partnersUsage) }
	file := fs.String("partners", "", "partner registry YAML `FILE`")
	config := fs.String("config", "", "node configuration `FILE` naming the registry")
	within := fs.Duration("within", 30*24*time.Hour, "check: warn about certificates expiring within this `DURATION`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) == 0 {
		fmt.Fprint(stderr, partnersUsage)
		return exitUsage
	}
	path, err := partnersPath(*file, *config)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate partners:", err)
		return exitUsage
	}
	sub := pos[0]
	switch {
	case sub == "list" && len(pos) == 1, sub == "check" && len(pos) == 1, sub == "show" && len(pos) == 2:
	default:
		fmt.Fprint(stderr, partnersUsage)
		return exitUsage
	}
	reg, err := partners.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate partners:", err)
		if sub == "check" {
			return exitFail
		}
		return exitUsage
	}
	switch sub {
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COUNTRY\tNAME\tDELIVERY\tENDPOINT\tAGREEMENTS")
		for _, p := range reg.Partners() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Country, p.Name, p.Delivery, endpointString(p), strings.Join(p.Agreements, ","))
		}
		tw.Flush()
		return exitOK
	case "show":
		p, err := reg.Lookup(pos[1])
		if err != nil {
			fmt.Fprintln(stderr, "ecogate partners show:", err)
			return exitFail
		}
		showPartner(stdout, p)
		return exitOK
	default: // check
		probs := reg.Check(time.Now(), *within)
		for _, pr := range probs {
			fmt.Fprintln(stdout, "PROBLEM", pr.String())
		}
		if len(probs) > 0 {
			fmt.Fprintf(stdout, "%d problem(s) in %s\n", len(probs), path)
			return exitFail
		}
		fmt.Fprintf(stdout, "ok: %d partner(s) in %s; certificates valid beyond %s\n", len(reg.Partners()), path, *within)
		return exitOK
	}
}

func endpointString(p *partners.Partner) string {
	if p.Endpoint == nil {
		return "-"
	}
	return p.Endpoint.String()
}

func showPartner(w io.Writer, p *partners.Partner) {
	fmt.Fprintf(w, "country:     %s\nname:        %s\ndelivery:    %s\nendpoint:    %s\nagreements:  %s\nretry:       %s\n",
		p.Country, p.Name, p.Delivery, endpointString(p), strings.Join(p.Agreements, ", "), p.Retry)
	certs := func(title string, files []string, cs []*x509.Certificate) {
		fmt.Fprintf(w, "%s (%s):\n", title, strings.Join(files, ", "))
		for _, c := range cs {
			fmt.Fprintf(w, "  - %s\n    not after %s\n", c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	certs("TLS client CAs", p.ClientCAFiles, p.ClientCAs)
	certs("document-signing anchors", p.AnchorFiles, p.Anchors)
	crls := func(title string, files []string, ls []*x509.RevocationList) {
		fmt.Fprintf(w, "%s (%s):\n", title, strings.Join(files, ", "))
		for _, c := range ls {
			fmt.Fprintf(w, "  - %s: %d revoked, next update %s\n", c.Issuer, len(c.RevokedCertificateEntries), c.NextUpdate.UTC().Format(time.RFC3339))
		}
	}
	if len(p.TLSCRLFiles) > 0 {
		crls("TLS CRLs", p.TLSCRLFiles, p.TLSCRLs)
	}
	crls("CRLs", p.CRLFiles, p.CRLs)
}
