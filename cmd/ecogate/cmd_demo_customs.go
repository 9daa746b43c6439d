package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/samplecert"
)

// demoCustomsResult is what the demo's customs part leaves for the
// instructions printed with --keep.
type demoCustomsResult struct {
	clientID, secret, caFile, number, qrLink string
}

// demoCustoms shows the customs face at VN and the issuer's side at IN:
// a customs client, a token over HTTPS, checks (AUTHENTIC, MISMATCH, and
// one answered by a verification query to IN), a decision with a utilised
// quantity that travels back to IN, IN's local API showing it, and IN's
// public page answering for the QR link.
func demoCustoms(ctx context.Context, in, vn *demoNode, n int, number func(int) string, out io.Writer) (*demoCustomsResult, error) {
	res := &demoCustomsResult{caFile: filepath.Join(vn.site.Dir, "pki", "root-cert.pem")}
	cert := number(n) // neither withdrawn nor replaced when n >= 3
	res.number = cert
	roots, err := certs.LoadCertificates(res.caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + vn.site.CustomsAddr

	fmt.Fprintf(out, "\nat VN, the customs face (%s, TLS):\n", base)
	// A customs client, as `ecogate customs-clients add` registers it.
	nc, err := customs.AddClient(ctx, vn.inst.DB.Customs(), vn.inst.DB.Audit(), "demo", "VN declaration system (demo)", customs.Scopes(), time.Now())
	if err != nil {
		return nil, err
	}
	id, secret := nc.ID, nc.Secret
	res.clientID, res.secret = id, secret
	fmt.Fprintf(out, "  client    %s added with scopes %s\n", id, strings.Join(customs.Scopes(), " "))

	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	status, body, err := demoDo(hc, req)
	if err != nil {
		return nil, err
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		return nil, fmt.Errorf("token: HTTP %d: %s", status, body)
	}
	fmt.Fprintf(out, "  token     POST /oauth/token (client credentials): a JWT signed by VN, valid %d s\n", tr.ExpiresIn)
	call := func(method, path string, v any) (int, []byte, error) {
		var rd io.Reader
		if v != nil {
			b, err := json.Marshal(v)
			if err != nil {
				return 0, nil, err
			}
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		return demoDo(hc, req)
	}

	// An unknown number for VN: issued by IN for VN but not sent
	// (registered at IN only), so VN asks IN.
	queried := "IN-AI-2026-DEMO-Q001"
	qc, err := samplecert.Certificate(queried, 1, "IN", "VN")
	if err != nil {
		return nil, err
	}
	if _, err := customs.RegisterIssued(ctx, in.inst.DB.Issued(), qc); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		what, number, hs, qty string
	}{
		{"", cert, "0202.30", "1000"},
		{"", cert, "0202.30", "60000"},
		{" (not sent to VN)", queried, "0202.30", "10"},
	} {
		status, body, err := call("POST", "/customs/v1/checks", customs.CheckRequest{ExportCountry: "IN", CertificateNumber: c.number,
			DeclarationRef: "VN-DEC-DEMO", Items: []customs.DeclaredItem{{SequenceNumber: 1, HSCode: c.hs, Quantity: &customs.Quantity{Value: c.qty, UnitCode: "KGM"}}}})
		if err != nil {
			return nil, err
		}
		var r customs.CheckResult
		if status != http.StatusOK || json.Unmarshal(body, &r) != nil {
			return nil, fmt.Errorf("check %s: HTTP %d: %s", c.number, status, body)
		}
		line := r.Verdict
		for _, it := range r.Items {
			for _, d := range it.Differences {
				line += fmt.Sprintf("; item %d %s: %s", it.SequenceNumber, d.Code, d.Message)
				if d.Code == customs.DiffQuantity && it.Declared != nil && it.Remaining != nil {
					line += fmt.Sprintf(" (declared %s, remaining %s %s)", it.Declared.Value, it.Remaining.Value, it.Remaining.UnitCode)
				}
			}
		}
		if r.Verification != nil && r.Verification.Source == "issuer-query" {
			line += ", answered by IN (verification query over mutual TLS, signed answer cached)"
		}
		fmt.Fprintf(out, "  check     %s%s, HS %s, %s KGM -> %s\n", c.number, c.what, c.hs, c.qty, line)
	}

	yes := true
	status, body, err = call("POST", "/customs/v1/decisions", customs.DecisionRequest{ExportCountry: "IN", CertificateNumber: cert, DeclarationRef: "VN-DEC-DEMO-1",
		Items: []customs.ItemDecisionRequest{{SequenceNumber: 1, PreferenceGiven: &yes, UtilisedQuantity: &customs.Quantity{Value: "1000", UnitCode: "KGM"}}}})
	if err != nil {
		return nil, err
	}
	var dr customs.DecisionResult
	if status != http.StatusCreated || json.Unmarshal(body, &dr) != nil || len(dr.Items) == 0 || dr.Items[0].Remaining == nil {
		return nil, fmt.Errorf("decision: HTTP %d: %s", status, body)
	}
	fmt.Fprintf(out, "  decision  %s, declaration %s: preference given, 1000 KGM utilised, %s %s remain; signed message %s queued to IN\n",
		cert, dr.DeclarationRef, dr.Items[0].Remaining.Value, dr.Items[0].Remaining.UnitCode, dr.MessageID)

	fmt.Fprintln(out, "\nat IN, the issuer:")
	lc := &http.Client{Timeout: 10 * time.Second}
	issuedURL := "http://" + in.site.LocalAddr + "/api/v1/issued/" + cert
	var iv customs.IssuedView
	deadline := time.Now().Add(30 * time.Second)
	for {
		iv = customs.IssuedView{}
		if resp, err := lc.Get(issuedURL); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&iv)
			resp.Body.Close()
		}
		if len(iv.Decisions) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the decision did not reach IN within 30 s (see %s)", filepath.Join(vn.site.Dir, "node.log"))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	d := iv.Decisions[0]
	fmt.Fprintf(out, "  decision  from %s on %s received (message %s, signature verified), shown by GET %s\n", d.From, d.Number, d.MessageID, issuedURL)
	res.qrLink = iv.QRLink
	req, _ = http.NewRequestWithContext(ctx, "GET", iv.QRLink, nil)
	req.Header.Set("Accept", "application/json")
	status, body, err = demoDo(lc, req)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("public page %s: HTTP %d: %s", iv.QRLink, status, body)
	}
	fmt.Fprintf(out, "  public    GET %s (QR link, anyone) ->\n            %s\n", iv.QRLink, bytes.TrimSpace(body))
	return res, nil
}

func demoDo(c *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}
