package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/strictjson"
)

// Probe steps, in the order ProbePartner takes them.
const (
	ProbeStepEndpoint  = "endpoint"  // the partner has an endpoint to reach
	ProbeStepConnect   = "connect"   // TCP connection
	ProbeStepTLS       = "tls"       // handshake with our client certificate, server chained to tls.clientCAs
	ProbeStepProfile   = "profile"   // GET {endpoint}/profile answered 200
	ProbeStepSignature = "signature" // the profile's JWS verifies against the partner's receipt trust
	ProbeStepContent   = "content"   // the profile is the partner's (country)
)

// maxProfileBytes bounds the profile read by ProbePartner.
const maxProfileBytes = 1 << 20

// ProbeResult is what ProbePartner found about one partner.
type ProbeResult struct {
	// Country is the partner probed.
	Country string
	// Step is the step that failed, empty when every step passed.
	Step string
	// Err says why Step failed.
	Err error
	// Skipped is set (with the reason) when the partner has no endpoint
	// to reach (a pull partner fetches from us).
	Skipped string
	// Profile is the partner's verified profile, and Signer its receipt
	// certificate, when every step passed.
	Profile *Profile
	Signer  *x509.Certificate
	// Elapsed is the time the probe took.
	Elapsed time.Duration
}

// OK reports whether every step passed (or the partner was skipped).
func (r ProbeResult) OK() bool { return r.Step == "" }

// ProbePartner checks that p's node can be reached as a delivery would
// reach it: a TCP connection to its endpoint, a TLS handshake presenting
// client (the node's tls.clientCert) with the server certificate chained to
// p.TLSCAs, GET {endpoint}/profile, and the profile's JWS signature checked
// against p.ReceiptTrust() at time at (as receipts are checked), and that
// the profile names p's country. ctx bounds the whole probe.
func ProbePartner(ctx context.Context, p *Partner, client *tls.Certificate, at time.Time) (res ProbeResult) {
	start := time.Now()
	res.Country = p.Country
	defer func() { res.Elapsed = time.Since(start) }()
	fail := func(step string, err error) ProbeResult {
		res.Step, res.Err = step, err
		return res
	}
	if p.Endpoint == "" {
		if p.Pull {
			res.Skipped = "pull partner without endpoint: it fetches from us"
			return res
		}
		return fail(ProbeStepEndpoint, errors.New("no endpoint"))
	}
	base := strings.TrimRight(p.Endpoint, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/profile", nil)
	if err != nil {
		return fail(ProbeStepEndpoint, err)
	}
	if req.URL.Scheme != "https" {
		return fail(ProbeStepEndpoint, fmt.Errorf("%q is not an https URL", p.Endpoint))
	}
	host := req.URL.Host
	if req.URL.Port() == "" {
		host = net.JoinHostPort(req.URL.Hostname(), "443")
	}
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", host)
	if err != nil {
		return fail(ProbeStepConnect, err)
	}
	roots := x509.NewCertPool()
	for _, c := range p.TLSCAs {
		roots.AddCert(c)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: req.URL.Hostname(), NextProtos: []string{"http/1.1"}}
	if client != nil {
		tc.Certificates = []tls.Certificate{*client}
	}
	conn := tls.Client(raw, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		var uerr x509.UnknownAuthorityError
		if errors.As(err, &uerr) {
			err = fmt.Errorf("%w (the partner's server certificate does not chain to its tls.clientCAs)", err)
		}
		return fail(ProbeStepTLS, err)
	}
	used := false
	tr := &http.Transport{
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("probe: one connection only")
			}
			used = true
			return conn, nil
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		conn.Close()
		// A server that refuses the client certificate often closes the
		// connection after the handshake: it shows here.
		return fail(ProbeStepProfile, fmt.Errorf("%w (a node that does not know our client certificate closes the connection: is our TLS CA in its registry?)", err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProfileBytes+1))
	if err != nil {
		return fail(ProbeStepProfile, err)
	}
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return fail(ProbeStepProfile, fmt.Errorf("HTTP 403: the partner's node does not accept our client certificate (%s)", problemText(body)))
	case resp.StatusCode != http.StatusOK:
		return fail(ProbeStepProfile, fmt.Errorf("HTTP %d from %s: %s", resp.StatusCode, req.URL, problemText(body)))
	case len(body) > maxProfileBytes:
		return fail(ProbeStepProfile, fmt.Errorf("the profile is larger than %d bytes", maxProfileBytes))
	}
	payload, signer, err := certs.VerifyJWS(bytes.TrimSpace(body), p.ReceiptTrust(), at)
	if err != nil {
		return fail(ProbeStepSignature, fmt.Errorf("%w (checked against the partner's documentSigning.anchors and tls.clientCAs)", err))
	}
	var pr Profile
	if err := strictjson.Unmarshal(payload, &pr); err != nil {
		return fail(ProbeStepContent, fmt.Errorf("the signed profile is not a profile: %w", err))
	}
	if pr.Country != p.Country {
		return fail(ProbeStepContent, fmt.Errorf("the profile is %q's, not %s's: the endpoint belongs to another node", pr.Country, p.Country))
	}
	res.Profile, res.Signer = &pr, signer
	return res
}

// problemText is a short form of an error answer's body.
func problemText(b []byte) string {
	var pb Problem
	if json.Unmarshal(b, &pb) == nil && pb.Error != "" {
		return pb.Error
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "empty answer"
	}
	return s
}
