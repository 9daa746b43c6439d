package conformance_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/conformance"
	"github.com/ecogate/ecogate/schema"
)

// nodeECO is the test e-CO from IN to the kit's country, changed by edit.
func nodeECO(t *testing.T, kit *conformance.Kit, number string, edit func(*schema.Certificate)) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/eco.xml")
	if err != nil {
		t.Fatal(err)
	}
	c, fs := schema.DecodeXML(raw, schema.DecodeOptions{})
	if fs != nil {
		t.Fatal(fs)
	}
	c.Header.ID, c.Header.ImportCountry = number, kit.Country
	c.Header.IssueDateTime = schema.DateTime{Time: time.Now().UTC().Add(-time.Minute).Truncate(time.Second)}
	if edit != nil {
		edit(c)
	}
	doc, err := schema.EncodeXML(c)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// submit has the node send doc to the kit (push) and returns the outbound
// message id.
func submit(t *testing.T, n *node, kit *conformance.Kit, doc []byte) string {
	t.Helper()
	resp, err := http.Post(n.local+"/api/v1/outbound?to="+kit.Country, "application/xml", bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sr struct {
		Messages []struct{ ID, To string }
	}
	if resp.StatusCode >= 300 || json.Unmarshal(b, &sr) != nil || len(sr.Messages) != 1 {
		t.Fatalf("submit to the node: %d %s", resp.StatusCode, b)
	}
	return sr.Messages[0].ID
}

// outbound polls the node's tracking of one outbound message until its
// state is no longer queued or sending (the node's delivery workers run on
// their own clock).
func outbound(t *testing.T, n *node, id string) map[string]any {
	t.Helper()
	for range 400 {
		resp, err := http.Get(n.local + "/api/v1/outbound/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var tr map[string]any
		err = json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := tr["state"].(string); st != "queued" && st != "sending" && st != "" {
			return tr
		}
		time.Sleep(25 * time.Millisecond) // polling the node's workers, not timing the code under test
	}
	t.Fatalf("message %s was not delivered", id)
	return nil
}

var lastNodeDir string

func nextResult(t *testing.T, results chan conformance.Result) conformance.Result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(10 * time.Second): // a failure bound only
		b, _ := os.ReadFile(filepath.Join(lastNodeDir, "node.log"))
		t.Fatalf("the reference partner checked no message; node log:\n%s", b)
	}
	return conformance.Result{}
}

// TestServeAsReferencePartner runs the kit as a reference partner
// (`ecogate conformance serve`) for ecogate's own node, configured with
// the kit as a push partner: what the node sends passes and the node
// verifies the kit's signed receipts; what breaks the rules (sent with the
// node's own TLS client and signing keys, as a faulty implementation
// would) gets a FAIL with the reason and a refusing receipt.
func TestServeAsReferencePartner(t *testing.T) {
	kit := newKit(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // reserve the referee's address for the partner entry
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n := startNodeWith(t, kit, func(entry []byte) []byte {
		e := strings.Replace(string(entry), "\n    delivery: pull", "\n    delivery: push", 1)
		return []byte(regexp.MustCompile(`endpoint: \S+`).ReplaceAllString(e, "endpoint: https://"+addr+"/eco/v1"))
	})
	lastNodeDir = n.dir
	ts := &certs.TrustSet{}
	if err := ts.AddFile(filepath.Join(n.dir, "pki", certs.FileRootCert)); err != nil {
		t.Fatal(err)
	}
	results := make(chan conformance.Result, 16)
	rf, err := conformance.NewReferee(kit, conformance.ServeOptions{NodeTrust: ts, OnResult: func(r conformance.Result) { results <- r }})
	if err != nil {
		t.Fatal(err)
	}
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rf.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	// 1. what the node sends by itself: an issue and its withdrawal
	for i, doc := range [][]byte{
		nodeECO(t, kit, "IN-SERVE-0001", nil),
		nodeECO(t, kit, "IN-SERVE-0001", func(c *schema.Certificate) { c.Header.Status, c.Header.FunctionCode = "40", "1" }),
	} {
		id := submit(t, n, kit, doc)
		r := nextResult(t, results)
		if r.Status != conformance.Pass || r.ID != "ECO-SERVE "+id {
			t.Fatalf("message %d from the node: %s %s: %s", i+1, r.ID, r.Status, r.Reason)
		}
		tr := outbound(t, n, id)
		if tr["state"] != "delivered" || !strings.Contains(tr["receipt"].(string), ".") {
			t.Fatalf("the node did not take the kit's receipt for %s: %v", id, tr)
		}
		rc := receiptOf(t, kit, []byte(tr["receipt"].(string)))
		if rc.Outcome != "Delivered" || rc.MessageID != id || rc.Issuer != kit.Country || rc.Sender != "IN" {
			t.Fatalf("the kit's receipt: %+v", rc)
		}
	}

	// 2. what breaks the rules, sent with the node's keys
	signer := loadKC(t, n.dir, certs.FileSignerECDSAKey, certs.FileSignerECDSACert)
	inter := loadCert(t, filepath.Join(n.dir, "pki", certs.FileIntermediateCert))
	sign := func(doc []byte, kc certs.KeyCert, chain ...*x509.Certificate) []byte {
		s := &certs.Signer{Key: kc.Key, Chain: append([]*x509.Certificate{kc.Cert}, chain...)}
		b, err := s.Sign(doc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := sign(nodeECO(t, kit, "IN-SERVE-0002", nil), signer, inter)
	env := func(number string, content []byte) conformance.Envelope {
		return conformance.Envelope{MessageID: "srv-" + number, From: "IN", To: kit.Country, DocumentType: "861", MessageFunction: "9",
			CertificateNumber: number, Version: 1, Created: time.Now().UTC(), Content: content}
	}
	tampered := bytes.Replace(good, []byte("IN-SERVE-0002"), []byte("IN-SERVE-0009"), 1)
	for _, tc := range []struct {
		name   string
		env    conformance.Envelope
		status int    // the HTTP answer
		reason string // in the FAIL reason (empty: PASS)
	}{
		{"valid", env("IN-SERVE-0002", good), 200, ""},
		{"the same message again", env("IN-SERVE-0002", good), 200, ""},
		{"the same id with other content", func() conformance.Envelope {
			e := env("IN-SERVE-0002", sign(nodeECO(t, kit, "IN-SERVE-0002", func(c *schema.Certificate) { c.Consignment.Exporter.Name = "Other" }), signer, inter))
			return e
		}(), 409, "used before with other content"},
		{"export country not the sender", env("IN-SERVE-0003", sign(nodeECO(t, kit, "IN-SERVE-0003", func(c *schema.Certificate) { c.Header.ExportCountry = "VN" }), signer, inter)), 200, "export country VN is not the sender IN"},
		{"addressed to another country", func() conformance.Envelope {
			e := env("IN-SERVE-0004", sign(nodeECO(t, kit, "IN-SERVE-0004", nil), signer, inter))
			e.To = "VN"
			return e
		}(), 200, `addressed to "VN"`},
		{"signed under the kit's own anchor", env("IN-SERVE-0005", sign(nodeECO(t, kit, "IN-SERVE-0005", nil), kit.Signer, kit.Intermediate.Cert)), 200, "does not pass the profile"},
		{"changed after signing", env("IN-SERVE-0009", tampered), 200, "does not pass the profile"},
		{"envelope names another certificate", env("IN-SERVE-0006", sign(nodeECO(t, kit, "IN-SERVE-0007", nil), signer, inter)), 200, "the envelope names IN-SERVE-0006 v1, the signed document IN-SERVE-0007 v1"},
		{"not strict JSON", conformance.Envelope{}, 400, "not strict JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(tc.env)
			if tc.env.MessageID == "" {
				body = []byte(`{"messageId":"a","messageId":"b"}`)
			}
			status, answer := postAsNode(t, n, addr, body)
			if status != tc.status {
				t.Fatalf("answered %d, want %d: %s", status, tc.status, answer)
			}
			r := nextResult(t, results)
			if tc.reason == "" {
				if r.Status != conformance.Pass {
					t.Fatalf("%s: %s", r.Status, r.Reason)
				}
			} else if r.Status != conformance.Fail || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("%s %q, want FAIL with %q", r.Status, r.Reason, tc.reason)
			}
			if status != 200 {
				return
			}
			rc := receiptOf(t, kit, answer)
			want := map[bool]string{true: "Delivered", false: "FailedDelivery"}[tc.reason == ""]
			if rc.Outcome != want || rc.MessageID != tc.env.MessageID || (want == "FailedDelivery" && !strings.Contains(rc.Error, tc.reason)) {
				t.Fatalf("receipt %+v, want outcome %s naming %q", rc, want, tc.reason)
			}
		})
	}

	rep := rf.Results()
	if rep.Passed != 4 || rep.Failed != 7 || rep.OK() {
		t.Errorf("report: %d passed, %d failed; want 4 and 7", rep.Passed, rep.Failed)
	}
	p := filepath.Join(artifactDir(t), "conformance-serve.json")
	if err := rep.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	var back conformance.Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != 11 {
		t.Fatalf("the JSON report does not read back with 11 results: %v", err)
	}
}

// postAsNode posts an envelope to the reference partner with the node's
// TLS client certificate.
func postAsNode(t *testing.T, n *node, addr string, body []byte) (int, []byte) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(n.dir, "pki", certs.FileTLSClientCert), filepath.Join(n.dir, "pki", certs.FileTLSClientKey))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}} //nolint:gosec // loopback test of the referee's checks
	defer c.CloseIdleConnections()
	resp, err := c.Post("https://"+addr+"/eco/v1/envelopes", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// receiptOf verifies a receipt of the kit under the kit's root.
func receiptOf(t *testing.T, kit *conformance.Kit, tok []byte) conformance.Receipt {
	t.Helper()
	payload, _, err := certs.VerifyJWS(bytes.TrimSpace(tok), &certs.TrustSet{AnchorCerts: []*x509.Certificate{kit.Root.Cert}}, time.Now())
	if err != nil {
		t.Fatalf("the kit's receipt does not verify: %v", err)
	}
	var rc conformance.Receipt
	if err := json.Unmarshal(payload, &rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

func loadKC(t *testing.T, dir, key, cert string) certs.KeyCert {
	t.Helper()
	kc, err := loadKeyCert(filepath.Join(dir, "pki", key), filepath.Join(dir, "pki", cert))
	if err != nil {
		t.Fatal(err)
	}
	return kc
}
