package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/partners"
)

const partnersUsage = `usage: ecogate partners list  (--partners FILE | --config FILE)
       ecogate partners show CC (--partners FILE | --config FILE)
       ecogate partners check   (--config FILE | --partners FILE) [--within 720h] [--timeout 5s] [--offline]
       ecogate partners init    --config FILE [--force]

list   the registered partners
show   one partner: endpoint, delivery, certificates with expiry, CRLs, retry policy
check  load every partner's certificates and CRLs; report missing or bad files,
       certificates expired or expiring within --within (30 days), stale CRLs.
       Then, with --config, reach every push partner as a delivery does: TCP
       connection, TLS handshake with the node's client certificate
       (tls.clientCert), GET ENDPOINT/profile, and the profile's signature
       checked against the partner's anchors; each partner is reported OK or
       with the step that failed and why, within --timeout. --offline (or
       --partners without --config) checks the files only. Exit status 1 when
       anything is wrong.
init   write a starting registry into the file the configuration's "partners:"
       key names: one entry, this node itself on loopback, whose certificate
       paths are the ones "ecogate pki init" wrote beside tls.clientCert. The
       node starts with it and "partners check" reaches it; then replace it
       with your real partners (the comments in the file say what to edit).
       An existing file is kept unless --force.

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

func runPartners(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate partners", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, partnersUsage) }
	file := fs.String("partners", "", "partner registry YAML `FILE`")
	config := fs.String("config", "", "node configuration `FILE` naming the registry")
	within := fs.Duration("within", 30*24*time.Hour, "check: warn about certificates expiring within this `DURATION`")
	timeout := fs.Duration("timeout", 5*time.Second, "check: how long to wait for each partner's node")
	offline := fs.Bool("offline", false, "check: check the files only, do not contact the partners")
	force := fs.Bool("force", false, "init: replace an existing registry file")
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
	if pos[0] == "init" {
		if len(pos) != 1 || *file != "" || *config == "" {
			fmt.Fprintln(stderr, "usage: ecogate partners init --config FILE [--force]")
			return exitUsage
		}
		return partnersInit(*config, *force, stdout, stderr)
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "ecogate partners: --timeout must be positive")
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
		} else {
			fmt.Fprintf(stdout, "files: %d partner(s) in %s; certificates valid beyond %s, CRLs current\n", len(reg.Partners()), path, *within)
		}
		failed := len(probs) > 0
		switch {
		case *offline:
			fmt.Fprintln(stdout, "endpoints: not contacted (--offline)")
		case *config == "":
			fmt.Fprintln(stdout, "endpoints: not contacted (give --config FILE: its tls.clientCert is what partners see)")
		default:
			if !partnersProbe(ctx, reg, *config, *timeout, stdout, stderr) {
				failed = true
			}
		}
		if failed {
			return exitFail
		}
		return exitOK
	}
}

// partnersProbe reaches every partner with gateway.ProbePartner and
// prints one line per partner; it reports whether all passed.
func partnersProbe(ctx context.Context, reg *partners.Registry, config string, timeout time.Duration, stdout, stderr io.Writer) bool {
	cfg, err := gateway.LoadConfig(config)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate partners check:", err)
		return false
	}
	client, err := tls.LoadX509KeyPair(cfg.TLS.ClientCert, cfg.TLS.ClientKey)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate partners check: tls.clientCert/tls.clientKey: %v\n", err)
		return false
	}
	ok := true
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, rp := range reg.Partners() {
		p := gateway.PartnerFromRegistry(rp)
		pctx, cancel := context.WithTimeout(ctx, timeout)
		r := gateway.ProbePartner(pctx, p, &client, time.Now())
		cancel()
		switch {
		case r.Skipped != "":
			fmt.Fprintf(tw, "%s\tSKIPPED\t%s\n", r.Country, r.Skipped)
		case r.OK():
			fmt.Fprintf(tw, "%s\tOK\t%s: profile of %s (%s) signed by %q, %s\n", r.Country, p.Endpoint, r.Profile.Country, r.Profile.Name,
				r.Signer.Subject.CommonName, r.Elapsed.Round(time.Millisecond))
		default:
			ok = false
			why := r.Err.Error()
			if errors.Is(r.Err, context.DeadlineExceeded) || strings.Contains(why, "i/o timeout") {
				why = fmt.Sprintf("no answer within %s (--timeout): %s", timeout, why)
			}
			fmt.Fprintf(tw, "%s\tFAIL\t%s: %s: %s\n", r.Country, p.Endpoint, r.Step, why)
		}
	}
	tw.Flush()
	return ok
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

// partnersInitTemplate is the registry `partners init` writes: country,
// name, endpoint, client CA, anchor, the two CRLs, then the file's own
// directory for the comment.
const partnersInitTemplate = `# Partner registry of this node (written by "ecogate partners init"; format:
# README "The partner registry"). One entry per partner country.
#
# The entry below is THIS node itself, reached on loopback with the files
# "ecogate pki init" wrote: it lets the node start and "ecogate partners
# check --config ..." reach something. Replace it with your partners; for each
# one, edit:
#   country          the partner's ISO 3166-1 alpha-2 code
#   name             its name, for people
#   endpoint         its partner API as it gave it to you (https://HOST:PORT/eco/v1),
#                    or delivery: pull when it fetches from you
#   tls.clientCAs    the CA certificates of its TLS client certificates (PEM files it
#                    gives you; its server certificate must chain to them too)
#   documentSigning  the trust anchors of its document signers, and its CRLs
#   agreements       the agreements you exchange under
# and give the partner your endpoint, your pki/root-cert.pem (or production CA)
# and your CRLs, so that it registers you the same way.
partners:
  - country: %s
    name: %q
    endpoint: %s
    delivery: push
    tls:
      clientCAs: [%s]
    documentSigning:
      anchors: [%s]
      crls: [%s]
    agreements: [AIFTA, ATIGA, RCEP, NONPREF]
    retry:
      attempts: 12
      initialInterval: 30s
      maxInterval: 1h
      multiplier: 2
      jitter: 0.2
      maxAge: 72h
`

// partnersInit writes the starting registry for the configuration in
// config (see partnersUsage).
func partnersInit(config string, force bool, stdout, stderr io.Writer) int {
	cfg, err := gateway.LoadConfig(config)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate partners init:", err)
		return exitUsage
	}
	out := cfg.Partners
	if _, err := os.Stat(out); err == nil && !force {
		fmt.Fprintf(stderr, "ecogate partners init: %s exists; nothing was changed (edit it, or add --force to replace it)\n", out)
		return exitUsage
	}
	pkiDir := filepath.Dir(cfg.TLS.ClientCert)
	root := filepath.Join(pkiDir, "root-cert.pem")
	if _, err := os.Stat(root); err != nil {
		fmt.Fprintf(stderr, "ecogate partners init: %s not found beside tls.clientCert: run \"ecogate pki init %s\" first, or write the registry by hand (README, \"The partner registry\")\n",
			root, pkiDir)
		return exitUsage
	}
	rel := func(p string) string {
		r, err := filepath.Rel(filepath.Dir(out), p)
		if err != nil {
			return filepath.ToSlash(p)
		}
		return filepath.ToSlash(r)
	}
	var crls []string
	for _, f := range []string{"root-crl.pem", "intermediate-crl.pem"} {
		if _, err := os.Stat(filepath.Join(pkiDir, f)); err == nil {
			crls = append(crls, rel(filepath.Join(pkiDir, f)))
		}
	}
	host, port, err := net.SplitHostPort(cfg.Listen.Partner)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate partners init: listen.partner:", err)
		return exitUsage
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	endpoint := "https://" + net.JoinHostPort(host, port) + "/eco/v1"
	text := fmt.Sprintf(partnersInitTemplate, cfg.Node.Country, cfg.Node.Name+" (this node, on loopback)", endpoint,
		rel(root), rel(root), strings.Join(crls, ", "))
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		fmt.Fprintln(stderr, "ecogate partners init:", err)
		return exitUsage
	}
	if _, err := partners.Load(out); err != nil {
		fmt.Fprintf(stderr, "ecogate partners init: the registry written to %s does not load: %v\n", out, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "wrote %s: one partner, this node (%s) at %s; replace it with your partners (the comments say what to edit)\n", out, cfg.Node.Country, endpoint)
	return exitOK
}
