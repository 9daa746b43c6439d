package gateway

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// acceptLog records the OnAccepted calls of a node.
type acceptLog struct {
	mu    sync.Mutex
	calls []string // from/number
}

func (a *acceptLog) hook(o *Options) {
	o.OnAccepted = func(_ context.Context, from, _ string, c *schema.Certificate, _ certs.Report, _ []*x509.Certificate) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.calls = append(a.calls, from+"/"+c.Header.ID)
	}
}

func (a *acceptLog) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// signedByIN encodes c and signs it with IN's document-signing key.
func signedByIN(t *testing.T, p *pair, c *schema.Certificate) []byte {
	t.Helper()
	x, err := schema.EncodeXML(c)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.in.Node.opt.Signer.Sign(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestReceiveRefusesOtherCountry: a partner speaks only for its own
// country. IN signs, with its own document key, e-COs that another
// country exports or issues and sends them with its own TLS certificate:
// VN answers FailedDelivery with the reason code, stores nothing as
// accepted (no certificate status, no customs view), and answers a
// repeat with the same refusal. An e-CO IN exports and issues is
// delivered.
func TestReceiveRefusesOtherCountry(t *testing.T) {
	in, vn, _ := identities(t)
	acc := &acceptLog{}
	p := newPair(t, fastRetry, nil, acc.hook)
	c := partnerClient(in, vn.PKI.Root.Cert)
	ctx := context.Background()
	tests := []struct {
		name     string
		from     string                    // export country (and issuing body's)
		edit     func(*schema.Certificate) // after from is set
		wantCode string                    // "" : delivered
	}{
		{name: "a third country's export", from: "SG", wantCode: CodeGWExportCountry},
		{name: "the receiver's own country's export", from: "VN", wantCode: CodeGWExportCountry},
		{name: "own export, issuing body abroad", from: "IN", edit: func(c *schema.Certificate) { c.Header.Issuer.Address.CountryCode = "SG" }, wantCode: CodeGWIssuingCountry},
		{name: "own export and issuing body", from: "IN"},
		{name: "own export, issuing body without an address", from: "IN", edit: func(c *schema.Certificate) { c.Header.Issuer.Address = nil }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			number := sampleNumber(700 + i)
			cert, err := samplecert.Certificate(number, 1, tc.from, "VN")
			if err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				tc.edit(cert)
			}
			id := "country-" + number
			env := &Envelope{MessageID: id, From: "IN", To: "VN", CertificateNumber: number, Version: 1, Content: signedByIN(t, p, cert)}
			resp, body := postEnvelope(t, c, p.vn.PartnerURL, env)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
			}
			rc := receiptOf(t, body)
			rec, err := p.vn.DB.Inbox().Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			sts, err := p.vn.DB.Inbox().CertStatuses(ctx, "IN", number)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCode == "" {
				if !rc.Outcome.Accepted() || rec.CertNumber != number || len(sts) != 1 {
					t.Fatalf("own e-CO not accepted: %+v, record %+v, statuses %+v", rc, rec, sts)
				}
				return
			}
			if rc.Outcome != FailedDelivery || len(rc.Findings) == 0 || rc.Findings[0].Code != tc.wantCode || rc.Findings[0].Level != schema.Severe {
				t.Fatalf("receipt %s %+v, want FailedDelivery with SEVERE %s first", rc.Outcome, rc.Findings, tc.wantCode)
			}
			mustContain(t, rc.Error, tc.wantCode)
			if rec.Outcome != store.StateFailed || rec.CertNumber != "" || len(rec.StatusChanges) != 0 {
				t.Fatalf("stored as %s, certificate %q, %d status changes: want failed, none", rec.Outcome, rec.CertNumber, len(rec.StatusChanges))
			}
			if len(sts) != 0 {
				t.Fatalf("certificate statuses recorded for a refused e-CO: %+v", sts)
			}
			if sts, _ := p.vn.DB.Inbox().CertStatuses(ctx, tc.from, number); len(sts) != 0 {
				t.Fatalf("statuses recorded under %s: %+v", tc.from, sts)
			}
			// A repeat gets the same refusal, not a second record.
			_, again := postEnvelope(t, c, p.vn.PartnerURL, env)
			if string(again) != string(body) {
				t.Fatalf("repeat answered differently: %s", again)
			}
		})
	}
	if got := acc.list(); strings.Join(got, ",") != "IN/"+sampleNumber(703)+",IN/"+sampleNumber(704) {
		t.Fatalf("OnAccepted calls %v, want only the two own e-COs, from IN", got)
	}
	if recs, _ := p.vn.DB.Inbox().List(ctx, store.StateFailed, 0); len(recs) != 3 {
		t.Fatalf("%d refusals stored, want 3", len(recs))
	}
}

// TestSevereNeverDelivered: a SEVERE finding, whoever found it (the
// validator, the country check, an inbound handler), gives FailedDelivery,
// never Delivered or DeliveredWithWarnings.
func TestSevereNeverDelivered(t *testing.T) {
	sev := schema.Finding{Level: schema.Severe, Code: "X-SEVERE", Message: "bad"}
	warn := schema.Finding{Level: schema.Warning, Code: "X-WARN", Message: "odd"}
	info := schema.Finding{Level: schema.Info, Code: "X-INFO", Message: "fyi"}
	for _, tc := range []struct {
		name string
		fs   schema.Findings
		want Outcome
	}{
		{"none", nil, Delivered},
		{"info", schema.Findings{info}, Delivered},
		{"warning", schema.Findings{info, warn}, DeliveredWithWarnings},
		{"severe", schema.Findings{sev}, FailedDelivery},
		{"severe after a warning", schema.Findings{warn, sev}, FailedDelivery},
	} {
		t.Run("settle/"+tc.name, func(t *testing.T) {
			ev := &evaluation{findings: tc.fs}
			ev.settle()
			if ev.outcome != tc.want {
				t.Fatalf("outcome %s, want %s", ev.outcome, tc.want)
			}
			if tc.want == FailedDelivery && !strings.Contains(ev.errText, "X-SEVERE") {
				t.Fatalf("error %q lacks the reason code", ev.errText)
			}
		})
	}

	in, vn, _ := identities(t)
	acc := &acceptLog{}
	p := newPair(t, fastRetry, nil, func(o *Options) {
		acc.hook(o)
		o.Handlers = map[string]InboundHandler{"odd": func(context.Context, *Partner, *Envelope) (*InboundResult, error) {
			// A handler that says Delivered despite a SEVERE finding.
			return &InboundResult{Outcome: Delivered, Findings: schema.Findings{sev}}, nil
		}}
	})
	c := partnerClient(in, vn.PKI.Root.Cert)
	severeDoc, _ := samplecert.Certificate("IN-SEVERE-1", 1, "IN", "VN")
	severeDoc.Consignment.Items[0].Product.HSCode = "990000" // the national tariff code 02023000 no longer starts with it: SEVERE
	warnDoc, _ := samplecert.Certificate("IN-WARN-2", 1, "IN", "VN")
	warnDoc.Consignment.Items[0].Product.HSCode = "990000" // not an HS chapter: a warning only
	warnDoc.Consignment.Items[0].Product.NationalTariffCode = ""
	for _, tc := range []struct {
		name string
		env  *Envelope
		want Outcome
	}{
		{"validator SEVERE", &Envelope{MessageID: "sev-1", CertificateNumber: "IN-SEVERE-1", Version: 1, Content: signedByIN(t, p, severeDoc)}, FailedDelivery},
		{"handler SEVERE", &Envelope{MessageID: "sev-2", Kind: "odd", CertificateNumber: "IN-SEVERE-1", Version: 1, Content: []byte("<x/>")}, FailedDelivery},
		{"warnings only", &Envelope{MessageID: "warn-2", CertificateNumber: "IN-WARN-2", Version: 1, Content: signedByIN(t, p, warnDoc)}, DeliveredWithWarnings},
	} {
		t.Run("receive/"+tc.name, func(t *testing.T) {
			tc.env.From, tc.env.To = "IN", "VN"
			resp, body := postEnvelope(t, c, p.vn.PartnerURL, tc.env)
			rc := receiptOf(t, body)
			if resp.StatusCode != 200 || rc.Outcome != tc.want {
				t.Fatalf("got %d %s, want %s: %+v", resp.StatusCode, rc.Outcome, tc.want, rc)
			}
			rec, err := p.vn.DB.Inbox().Get(context.Background(), tc.env.MessageID)
			if err != nil || rec.Outcome != tc.want.State() {
				t.Fatalf("stored %+v %v, want %s", rec, err, tc.want.State())
			}
		})
	}
	if got := acc.list(); len(got) != 1 || got[0] != "IN/IN-WARN-2" {
		t.Fatalf("accepted %v, want only IN/IN-WARN-2", got)
	}
}

// TestSubmitRefusesOtherCountry: the sending side neither signs nor queues
// an e-CO whose export or issuing country is not its own: POST
// /api/v1/outbound answers 400 with the reason, and nothing is queued or
// registered as issued.
func TestSubmitRefusesOtherCountry(t *testing.T) {
	var registered sync.Map
	p := newPair(t, fastRetry, func(o *Options) {
		o.OnSubmitted = func(_ context.Context, _ string, c *schema.Certificate, _ []byte) error {
			registered.Store(c.Header.ID, true)
			return nil
		}
	}, nil)
	mk := func(number, from string, edit func(*schema.Certificate)) *schema.Certificate {
		c, err := samplecert.Certificate(number, 1, from, "VN")
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	unsigned := func(c *schema.Certificate) []byte {
		b, err := schema.EncodeXML(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		doc      []byte
		wantCode string // "": queued
	}{
		{"a third country's export", unsigned(mk("IN-SUB-1", "SG", nil)), CodeGWExportCountry},
		{"the recipient's export", unsigned(mk("IN-SUB-2", "VN", nil)), CodeGWExportCountry},
		{"issuing body abroad", unsigned(mk("IN-SUB-3", "IN", func(c *schema.Certificate) { c.Header.Issuer.Address.CountryCode = "SG" })), CodeGWIssuingCountry},
		{"signed already by this node's key, a third country's export", signedByIN(t, p, mk("IN-SUB-4", "SG", nil)), CodeGWExportCountry},
		{"own e-CO", unsigned(mk("IN-SUB-5", "IN", nil)), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(listOut(t, p.in))
			resp, body := post(t, http.DefaultClient, p.in.LocalURL+"/api/v1/outbound?to=VN", "application/xml", tc.doc)
			if tc.wantCode == "" {
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("own e-CO: %d %s", resp.StatusCode, body)
				}
				return
			}
			var pr struct {
				Code     string          `json:"code"`
				Error    string          `json:"error"`
				Findings schema.Findings `json:"findings"`
			}
			if err := json.Unmarshal(body, &pr); err != nil {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if resp.StatusCode != http.StatusBadRequest || pr.Code != CodeNotOwnCountry || len(pr.Findings) == 0 || pr.Findings[0].Code != tc.wantCode {
				t.Fatalf("got %d %s, want 400 %s with finding %s", resp.StatusCode, body, CodeNotOwnCountry, tc.wantCode)
			}
			mustContain(t, pr.Error, tc.wantCode)
			mustContain(t, pr.Error, "IN")
			if after := len(listOut(t, p.in)); after != before {
				t.Fatalf("%d messages queued by a refused submission", after-before)
			}
		})
	}
	for _, n := range []string{"IN-SUB-1", "IN-SUB-2", "IN-SUB-3", "IN-SUB-4"} {
		if _, ok := registered.Load(n); ok {
			t.Errorf("%s registered as issued", n)
		}
	}
	if _, ok := registered.Load("IN-SUB-5"); !ok {
		t.Error("the own e-CO was not registered")
	}
}

func listOut(t *testing.T, d *DevNode) []store.OutRecord {
	t.Helper()
	recs, err := d.DB.Outbox().List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
