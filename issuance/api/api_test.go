package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/internal/ids"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/issuance/api"
	"github.com/ecogate/ecogate/store"
)

const (
	iecA       = "AAACE1234F"
	iecB       = "AAACX9876K"
	localToken = "local-secret-token"
	opID       = "op@node.example"
)

type world struct {
	t      testing.TB
	db     *store.DB
	svc    *issuance.Service
	srv    *httptest.Server
	dev    *api.DevGateway
	clock  time.Time
	mu     sync.Mutex
	tokens map[string]string // person id -> API token
}

func (w *world) now() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.clock }

func (w *world) advance(d time.Duration) { w.mu.Lock(); w.clock = w.clock.Add(d); w.mu.Unlock() }

func newWorld(t testing.TB) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, clock: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), tokens: map[string]string{}}
	db, err := store.Open(filepath.Join(dir, "ecogate.db"), store.Options{Clock: w.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.db = db
	reg := filepath.Join(dir, "registry.yaml")
	y := fmt.Sprintf(`exporters:
  - {iec: %s, name: Alpha Exports, address: Mumbai, gstin: 27AAACE1234F1Z6, email: office@alpha.example, mobile: "+919800000001"}
  - {iec: %s, name: Beta Traders, address: Bengaluru, gstin: 29AAACX9876K1ZC}
`, iecA, iecB)
	if err := os.WriteFile(reg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := issuance.NewFileRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	w.dev = &api.DevGateway{Store: db.Issuance(), Clock: w.now}
	w.svc, err = issuance.New(issuance.Config{Country: "IN", Store: db.Issuance(), Registry: r, Operators: []string{opID},
		Payments: w.dev, Events: &api.Sink{IDs: ids.New(w.now), SMS: true}, Clock: w.now})
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Options{Service: w.svc, Auth: &api.TokenAuth{Service: w.svc, LocalToken: localToken, Operator: opID}, DevGateway: w.dev})
	root := chi.NewRouter()
	root.Mount(api.Prefix, h.Routes())
	w.srv = httptest.NewServer(root)
	t.Cleanup(w.srv.Close)
	w.dev.BaseURL = w.srv.URL + api.Prefix
	w.dev.CallbackURL = w.srv.URL + api.Prefix + "/payments/callback"
	w.setup()
	return w
}

// call makes a request as tok ("" none) and decodes the answer into v.
func (w *world) call(tok, method, path string, body any, v any) int {
	w.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, w.srv.URL+api.Prefix+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			w.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func (w *world) mustCall(tok, method, path string, body any, want int, v any) {
	w.t.Helper()
	var raw json.RawMessage
	if got := w.call(tok, method, path, body, &raw); got != want {
		w.t.Fatalf("%s %s: got %d, want %d: %s", method, path, got, want, raw)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			w.t.Fatal(err)
		}
	}
}

func person(id string) map[string]string {
	return map[string]string{"id": id, "name": "P " + id, "email": id}
}

// tok returns (and makes, through the API as the operator) a person's token.
func (w *world) tok(id string) string {
	if t, ok := w.tokens[id]; ok {
		return t
	}
	var out struct{ Token string }
	w.mustCall(localToken, "POST", "/tokens", map[string]string{"person": id}, 201, &out)
	w.tokens[id] = out.Token
	return out.Token
}

const (
	expAdmin = "admin@alpha.example"
	appl     = "clerk@alpha.example"
	expAdmB  = "admin@beta.example"
	agAdmin  = "admin@eic.example"
	officer  = "officer@eic.example"
	officer2 = "other@eic.example"
)

// setup builds the world through the API: exporters, agency, offices,
// officers, a funded wallet.
func (w *world) setup() {
	w.mustCall(localToken, "POST", "/exporters", map[string]any{"iec": iecA, "admin": person(expAdmin)}, 201, nil)
	w.mustCall(localToken, "POST", "/exporters", map[string]any{"iec": iecB, "admin": person(expAdmB)}, 201, nil)
	w.mustCall(w.tok(expAdmin), "POST", "/exporters/"+iecA+"/applicants", person(appl), 201, nil)
	w.mustCall("", "POST", "/agencies/register", map[string]any{"agency": "EIC", "name": "Export Inspection Council", "series": "EIC",
		"admin": person(agAdmin), "authorisationLetterSha256": strings.Repeat("ab", 32)}, 201, nil)
	w.mustCall(localToken, "POST", "/agencies/EIC/approve", nil, 200, nil)
	for _, o := range []string{"MUM", "DEL"} {
		w.mustCall(w.tok(agAdmin), "PUT", "/agencies/EIC/offices/"+o, map[string]any{"code": o, "name": "EIC " + o, "address": o,
			"currency": "INR", "fees": map[string]int64{"original": 50000}, "eWallet": true, "merchantId": "EIC" + o, "checksumKey": "k3y-" + o}, 200, nil)
	}
	for _, o := range []struct{ id, office string }{{officer, "MUM"}, {officer2, "DEL"}} {
		w.mustCall("", "POST", "/officers/register", map[string]any{"agency": "EIC", "office": o.office, "officer": person(o.id)}, 201, nil)
		w.mustCall(w.tok(agAdmin), "POST", "/officers/"+o.id+"/approve", nil, 200, nil)
	}
	w.mustCall(w.tok(agAdmin), "POST", "/wallets/"+iecA+"/MUM/credit", map[string]any{"amount": 10_000_000, "reason": "receipt R-1"}, 201, nil)
}

func content() issuance.Content {
	return issuance.Content{
		Agreement: "AIFTA", Agency: "EIC", Office: "MUM", ImportingCountry: "VN",
		InvoiceNumber: "INV-1", InvoiceDate: "2026-11-28", Currency: "INR",
		Consignee: issuance.Party{Name: "Saigon Imports", Address: "1 Le Loi, HCMC", Country: "VN"},
		Transport: issuance.Transport{Mode: "1", Vessel: "MV Ganga", PortLoading: "INNSA", PortDischarge: "VNSGN"},
		Goods: []issuance.GoodsLine{{
			HS: "8414.51.10", Description: "Table fans", Quantity: "500", Unit: "NAR", Packages: 50, PackageType: "CT", FOB: 1_000_000, Criterion: "RVC 35% + CTSH",
			Materials: []issuance.Material{{HS: "850110", OriginCountry: "CN", Value: 300_000}, {HS: "392690", OriginCountry: "IN", Value: 200_000}},
			CostSheet: &issuance.CostSheet{Basis: issuance.BasisFOB, Price: 1_000_000, OriginatingMaterials: 200_000,
				NonOriginatingMaterials: 300_000, Labour: 200_000, Overheads: 150_000, Profit: 150_000},
		}},
		Declaration: issuance.Declaration{Place: "Mumbai", Name: "A. Kumar", Designation: "Director"},
	}
}

func (w *world) draft(tok string) *issuance.Application {
	w.t.Helper()
	var a issuance.Application
	w.mustCall(tok, "POST", "/applications", issuance.NewApplication{IEC: iecA, Content: content()}, 201, &a)
	return &a
}

func (w *world) audits(action string) []store.Entry {
	w.t.Helper()
	es, err := w.db.Audit().Entries(context.Background(), 0, 100000)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []store.Entry
	for _, e := range es {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestLifecycleOverHTTP drives an application through every endpoint of
// its life, each by the right role.
func TestLifecycleOverHTTP(t *testing.T) {
	w := newWorld(t)
	a := w.draft(w.tok(appl))
	c := content()
	c.Remarks = "edited"
	var got issuance.Application
	w.mustCall(w.tok(appl), "PUT", "/applications/"+a.ID+"/content", c, 200, &got)
	if got.Content.Remarks != "edited" {
		t.Fatalf("draft not saved: %+v", got.Content.Remarks)
	}
	var sub api.SubmitAnswer
	w.mustCall(w.tok(appl), "POST", "/applications/"+a.ID+"/submit", map[string]string{"payment": "wallet"}, 200, &sub)
	if sub.Application.State != issuance.StateSubmitted || sub.Application.PaidVia != "wallet" || sub.PaymentURL != "" {
		t.Fatalf("submit: %+v", sub)
	}
	var list []issuance.Application
	w.mustCall(w.tok(officer), "GET", "/applications?office=MUM&state=submitted", nil, 200, &list)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("officer's list: %+v", list)
	}
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/review", nil, 200, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/return", map[string]string{"reason": "attach the invoice"}, 200, nil)
	w.mustCall(w.tok(appl), "POST", "/applications/"+a.ID+"/answer", map[string]string{"reason": "attached"}, 200, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/review", nil, 200, nil)
	var findings []issuance.Finding
	w.mustCall(w.tok(officer), "GET", "/applications/"+a.ID+"/origin", nil, 200, &findings)
	if len(findings) != 1 {
		t.Fatalf("origin: %+v", findings)
	}
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/approve", nil, 200, &got)
	if got.State != issuance.StateApproved {
		t.Fatalf("state %s", got.State)
	}
	// Issue is i12-issue's: without a signer it answers 501, mapped 1:1.
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/issue", nil, 501, nil)
	var wal api.WalletAnswer
	w.mustCall(w.tok(appl), "GET", "/wallets/"+iecA+"/MUM", nil, 200, &wal)
	if wal.Balance != 10_000_000-50000 || len(wal.Movements) != 2 {
		t.Fatalf("wallet: %+v", wal)
	}
	b := w.draft(w.tok(expAdmin))
	w.mustCall(w.tok(expAdmin), "POST", "/applications/"+b.ID+"/withdraw", nil, 200, &got)
	if got.State != issuance.StateWithdrawn {
		t.Fatalf("withdraw: %s", got.State)
	}
	var me map[string]string
	w.mustCall(w.tok(officer), "GET", "/me", nil, 200, &me)
	if me["role"] != "officer" || me["id"] != officer {
		t.Fatalf("me: %v", me)
	}
}

// TestRefusals: wrong role and another organisation's application are
// 403 with an audit entry; bad input is 400 naming the field; no
// credential is 401; a body's actor is never trusted.
func TestRefusals(t *testing.T) {
	w := newWorld(t)
	a := w.draft(w.tok(appl))
	cases := []struct {
		name    string
		tok     string
		method  string
		path    string
		body    any
		status  int
		field   string
		audited bool
	}{
		{"officer may not submit", w.tok(officer), "POST", "/applications/" + a.ID + "/submit", map[string]string{"payment": "wallet"}, 403, "", true},
		{"other exporter reads", w.tok(expAdmB), "GET", "/applications/" + a.ID, nil, 403, "", true},
		{"other exporter edits", w.tok(expAdmB), "PUT", "/applications/" + a.ID + "/content", content(), 403, "", true},
		{"officer of another office", w.tok(officer2), "GET", "/applications/" + a.ID + "/origin", nil, 403, "", true},
		{"applicant approves agency", w.tok(appl), "POST", "/agencies/EIC/approve", nil, 403, "", true},
		{"exporter credits wallet", w.tok(expAdmin), "POST", "/wallets/" + iecA + "/MUM/credit", map[string]any{"amount": 5, "reason": "x"}, 403, "", true},
		{"agency admin issues tokens", w.tok(agAdmin), "POST", "/tokens", map[string]string{"person": appl}, 403, "", true},
		{"creating for another IEC", w.tok(expAdmB), "POST", "/applications", issuance.NewApplication{IEC: iecA}, 403, "", true},
		{"no credential", "", "GET", "/applications/" + a.ID, nil, 401, "", false},
		{"unknown token", "nope", "GET", "/applications/" + a.ID, nil, 401, "", false},
		{"unknown field", w.tok(appl), "POST", "/applications", `{"iec":"` + iecA + `","actor":"op@node.example"}`, 400, "actor", false},
		{"duplicate key", w.tok(appl), "POST", "/applications/" + a.ID + "/submit", `{"payment":"wallet","payment":"gateway"}`, 400, "payment", false},
		{"wrong type", w.tok(agAdmin), "POST", "/wallets/" + iecA + "/MUM/credit", `{"amount":"5","reason":"x"}`, 400, "amount", false},
		{"bad office fields", w.tok(agAdmin), "PUT", "/agencies/EIC/offices/PUN", map[string]any{"code": "PUN", "name": "P", "address": "P", "currency": "INR", "merchantId": "M 1", "checksumKey": ""}, 400, "merchantId", false},
		{"bad IEC", localToken, "POST", "/exporters", map[string]any{"iec": "123", "admin": person("x@y.example")}, 400, "", false},
		{"incomplete submission", w.tok(appl), "POST", "/applications/" + w.emptyDraft().ID + "/submit", map[string]string{"payment": "wallet"}, 400, "agreement", false},
		{"bad state filter", w.tok(officer), "GET", "/applications?office=MUM&state=lost", nil, 400, "state", false},
		{"not found", w.tok(appl), "GET", "/applications/APP999999999", nil, 404, "", false},
		{"review a draft", w.tok(officer), "POST", "/applications/" + a.ID + "/review", nil, 409, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.audits("issuance.refused"))
			var p api.Problem
			if got := w.call(tc.tok, tc.method, tc.path, tc.body, &p); got != tc.status {
				t.Fatalf("got %d, want %d: %+v", got, tc.status, p)
			}
			if p.Status != tc.status || p.Error == "" {
				t.Fatalf("problem document: %+v", p)
			}
			if tc.field != "" && p.Field != tc.field {
				t.Fatalf("field %q, want %q: %+v", p.Field, tc.field, p)
			}
			if after := len(w.audits("issuance.refused")); (after > before) != tc.audited {
				t.Fatalf("audited: %d -> %d, want audited=%v", before, after, tc.audited)
			}
		})
	}
	var got issuance.Application
	w.mustCall(w.tok(appl), "GET", "/applications/"+a.ID, nil, 200, &got)
	if got.State != issuance.StateDraft || got.Content.Remarks != "" {
		t.Fatalf("a refusal changed the application: %+v", got.State)
	}
}

func (w *world) emptyDraft() *issuance.Application {
	var a issuance.Application
	w.mustCall(w.tok(appl), "POST", "/applications", issuance.NewApplication{IEC: iecA}, 201, &a)
	return &a
}

// TestPaymentGateway: the gateway path redirects, the development
// gateway's callback pays, and forged or replayed callbacks are refused
// and audited with nothing changed; an unpaid application is not reviewed.
func TestPaymentGateway(t *testing.T) {
	w := newWorld(t)
	a := w.draft(w.tok(appl))
	var sub api.SubmitAnswer
	w.mustCall(w.tok(appl), "POST", "/applications/"+a.ID+"/submit", map[string]string{"payment": "gateway"}, 200, &sub)
	if sub.Application.PaidVia != issuance.PaidGatewayPending || !strings.Contains(sub.PaymentURL, "/dev-gateway/pay?") {
		t.Fatalf("submit: %+v", sub)
	}
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/review", nil, 409, nil) // unpaid: not reviewed

	u, _ := url.Parse(sub.PaymentURL)
	good := issuance.PaymentNotice{Txn: "T1", Application: a.ID, Merchant: "EICMUM", Amount: 50000, Status: "success", Time: w.now().Format(time.RFC3339)}
	signed := func(n issuance.PaymentNotice, key string) issuance.PaymentNotice {
		n.Checksum = issuance.PaymentChecksum(n, key)
		return n
	}
	tampered := signed(good, "k3y-MUM")
	tampered.Amount = 1
	old := good
	old.Txn, old.Time = "T0", w.now().Add(-time.Hour).Format(time.RFC3339)
	forged := []struct {
		name string
		n    issuance.PaymentNotice
	}{
		{"wrong key", signed(good, "guess")},
		{"other office's key", signed(good, "k3y-DEL")},
		{"tampered amount", tampered},
		{"wrong amount signed", signed(func() issuance.PaymentNotice { n := good; n.Amount = 1; return n }(), "k3y-MUM")},
		{"other merchant", signed(func() issuance.PaymentNotice { n := good; n.Merchant = "EICDEL"; return n }(), "k3y-MUM")},
		{"stale (replayed) callback", signed(old, "k3y-MUM")},
	}
	for _, f := range forged {
		before := len(w.audits("issuance.refused"))
		var p api.Problem
		if got := w.call("", "POST", "/payments/callback", f.n, &p); got != 403 {
			t.Fatalf("%s: got %d: %+v", f.name, got, p)
		}
		if len(w.audits("issuance.refused")) != before+1 {
			t.Fatalf("%s: not audited", f.name)
		}
	}
	var got issuance.Application
	w.mustCall(w.tok(appl), "GET", "/applications/"+a.ID, nil, 200, &got)
	if got.PaidVia != issuance.PaidGatewayPending {
		t.Fatalf("a forged callback paid: %q", got.PaidVia)
	}
	// The development gateway pays (as the exporter's browser would, via
	// the page's form).
	form := url.Values{"merchant": {u.Query().Get("merchant")}, "application": {a.ID}, "amount": {u.Query().Get("amount")}, "status": {"success"}}
	resp, err := http.PostForm(w.srv.URL+api.Prefix+"/dev-gateway/pay", form)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("dev gateway: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	w.mustCall(w.tok(appl), "GET", "/applications/"+a.ID, nil, 200, &got)
	if got.PaidVia != "gateway" {
		t.Fatalf("not paid: %q", got.PaidVia)
	}
	// Same callback again: idempotent. Same txn with other content, or a
	// new transaction for an application already paid: replay, refused.
	n := signed(good, "k3y-MUM")
	w.mustCall("", "POST", "/payments/callback", n, 403, nil) // app already paid via the dev gateway's txn
	b := w.draft(w.tok(appl))
	w.mustCall(w.tok(appl), "POST", "/applications/"+b.ID+"/submit", map[string]string{"payment": "gateway"}, 200, nil)
	nb := good
	nb.Txn, nb.Application = "T2", b.ID
	nb = signed(nb, "k3y-MUM")
	w.mustCall("", "POST", "/payments/callback", nb, 200, nil)
	w.mustCall("", "POST", "/payments/callback", nb, 200, nil) // idempotent
	if c := len(w.audits("issuance.payment.confirmed")); c != 2 {
		t.Fatalf("payment confirmed %d times, want 2 (one per application)", c)
	}
	replay := nb
	replay.Status = "failure"
	replay = signed(replay, "k3y-MUM")
	w.mustCall("", "POST", "/payments/callback", replay, 403, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+b.ID+"/review", nil, 200, nil) // paid: reviewed
	w.mustCall("", "POST", "/payments/callback", `{"txn":"x"}`, 400, nil)
}

// TestAttachments: stored with their SHA-256 and sniffed type; over the
// cap or of a disallowed type refused.
func TestAttachments(t *testing.T) {
	w := newWorld(t)
	a := w.draft(w.tok(appl))
	pdf := []byte("%PDF-1.7\n1 0 obj <<>> endobj\ntrailer\n%%EOF\n")
	var at issuance.Attachment
	w.mustCall(w.tok(appl), "POST", "/applications/"+a.ID+"/attachments?kind=invoice&name=inv.pdf", pdf, 201, &at)
	if at.ContentType != "application/pdf" || len(at.SHA256) != 64 || at.Size != int64(len(pdf)) {
		t.Fatalf("attachment: %+v", at)
	}
	cases := []struct {
		name   string
		tok    string
		query  string
		body   []byte
		status int
		field  string
	}{
		{"html claiming pdf", w.tok(appl), "kind=invoice&name=x.pdf", []byte("<html><script>alert(1)</script></html>"), 400, "body"},
		{"over the cap", w.tok(appl), "kind=invoice&name=big.pdf", append([]byte("%PDF-"), make([]byte, 5<<20)...), 413, "body"},
		{"empty", w.tok(appl), "kind=invoice&name=e.pdf", nil, 400, "body"},
		{"bad kind", w.tok(appl), "kind=selfie&name=x.pdf", pdf, 400, "kind"},
		{"other exporter", w.tok(expAdmB), "kind=invoice&name=x.pdf", pdf, 403, ""},
		{"officer", w.tok(officer), "kind=invoice&name=x.pdf", pdf, 403, ""},
	}
	for _, tc := range cases {
		var p api.Problem
		if got := w.call(tc.tok, "POST", "/applications/"+a.ID+"/attachments?"+tc.query, tc.body, &p); got != tc.status || p.Field != tc.field {
			t.Fatalf("%s: got %d field %q: %+v", tc.name, got, p.Field, p)
		}
	}
	var list []issuance.Attachment
	w.mustCall(w.tok(appl), "GET", "/applications/"+a.ID+"/attachments", nil, 200, &list)
	if len(list) != 1 {
		t.Fatalf("attachments: %+v", list)
	}
	req, _ := http.NewRequest("GET", w.srv.URL+api.Prefix+"/applications/"+a.ID+"/attachments/"+at.SHA256, nil)
	req.Header.Set("Authorization", "Bearer "+w.tok(appl))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, pdf) || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("download: %s %q", resp.Header.Get("Content-Type"), body)
	}
}

// outboxOf returns the queued messages of kind.
func (w *world) outboxOf(kind string) []store.OutRecord {
	w.t.Helper()
	recs, err := w.db.Outbox().List(context.Background(), store.Filter{Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []store.OutRecord
	for _, r := range recs {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// deliverDue claims the due messages and delivers those of the issuance's
// kinds with d, recording outcomes as the node's loop does (retrying a
// failure 30 s later).
func (w *world) deliverDue(d *api.Deliverer) (ok, failed int) {
	w.t.Helper()
	ctx := context.Background()
	recs, err := w.db.Outbox().Claim(ctx, w.now(), 100, time.Minute)
	if err != nil {
		w.t.Fatal(err)
	}
	for i := range recs {
		if err := d.Deliver(ctx, &recs[i]); err != nil {
			failed++
			w.must(w.db.Outbox().MarkAttempt(ctx, recs[i].ID, store.Attempt{Outcome: store.StateAwaitingRetry, Err: err.Error(), NextTry: w.now().Add(30 * time.Second)}))
			continue
		}
		ok++
		w.must(w.db.Outbox().MarkAttempt(ctx, recs[i].ID, store.Attempt{Outcome: store.StateDelivered}))
	}
	return ok, failed
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// TestAPIClientAndWebhooks: an exporter's system gets a token by client
// credentials, creates and submits an application of its IEC only, reads
// its status, and receives a signed webhook on every change, retried
// through the outbox until its endpoint answers.
func TestAPIClientAndWebhooks(t *testing.T) {
	w := newWorld(t)
	var mu sync.Mutex
	var got []api.WebhookEvent
	var key string
	fail := 1
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			rw.WriteHeader(503)
			return
		}
		if err := api.VerifyWebhook(key, r.Header.Get(api.SignatureHeader), body, w.now(), 5*time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
		}
		if err := api.VerifyWebhook("other-key", r.Header.Get(api.SignatureHeader), body, w.now(), 5*time.Minute); err == nil {
			t.Error("webhook verifies under another key")
		}
		var ev api.WebhookEvent
		_ = json.Unmarshal(body, &ev)
		got = append(got, ev)
	}))
	defer hook.Close()

	var cs issuance.ClientSecrets
	w.mustCall(w.tok(expAdmin), "POST", "/exporters/"+iecA+"/clients", map[string]string{"name": "Alpha ERP", "email": "erp@alpha.example", "webhookUrl": hook.URL}, 201, &cs)
	key = cs.WebhookKey
	w.mustCall(w.tok(expAdmB), "POST", "/exporters/"+iecA+"/clients", map[string]string{"name": "x", "email": "x@b.example"}, 403, nil)
	w.mustCall(w.tok(expAdmin), "POST", "/exporters/"+iecA+"/clients", map[string]string{"name": "x", "email": "x@b.example", "webhookUrl": "http://example.com/h"}, 400, nil)

	token := func(id, secret string) (int, string) {
		resp, err := http.PostForm(w.srv.URL+api.Prefix+"/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tr)
		return resp.StatusCode, tr.AccessToken
	}
	if st, _ := token(cs.Client.ID, "wrong"); st != 401 {
		t.Fatalf("wrong secret: %d", st)
	}
	if len(w.audits("issuance.token-refused")) != 1 {
		t.Fatal("refused token not audited")
	}
	st, at := token(cs.Client.ID, cs.Secret)
	if st != 200 || at == "" {
		t.Fatalf("token: %d", st)
	}
	var a issuance.Application
	w.mustCall(at, "POST", "/applications", issuance.NewApplication{IEC: iecA, Content: content()}, 201, &a)
	w.mustCall(at, "POST", "/applications", issuance.NewApplication{IEC: iecB, Content: content()}, 403, nil)
	w.mustCall(at, "POST", "/applications/"+a.ID+"/submit", map[string]string{"payment": "wallet"}, 200, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/review", nil, 200, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/reject", map[string]string{"reason": "wrong HS code"}, 200, nil)
	var st2 issuance.Application
	w.mustCall(at, "GET", "/applications/"+a.ID, nil, 200, &st2)
	if st2.State != issuance.StateRejected {
		t.Fatalf("status read by the client: %s", st2.State)
	}
	if n := len(w.outboxOf(api.KindWebhook)); n != 3 {
		t.Fatalf("%d webhooks queued, want 3 (submit, review, reject)", n)
	}
	d := &api.Deliverer{Service: w.svc, Clock: w.now}
	for i := 0; i < 5; i++ {
		w.deliverDue(d)
		w.advance(time.Minute)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0].Type != "application.submit" || got[2].Type != "application.reject" || got[2].Reason != "wrong HS code" {
		t.Fatalf("webhooks received: %+v", got)
	}
	for _, r := range w.outboxOf(api.KindWebhook) {
		if r.State != store.StateDelivered {
			t.Fatalf("webhook %s is %s", r.ID, r.State)
		}
	}
	// Revoked: no token, and the client's person can no longer act.
	w.mustCall(w.tok(expAdmin), "DELETE", "/exporters/"+iecA+"/clients/"+cs.Client.ID, nil, 200, nil)
	if st, _ := token(cs.Client.ID, cs.Secret); st != 401 {
		t.Fatalf("revoked client got a token: %d", st)
	}
	w.mustCall(at, "GET", "/applications/"+a.ID, nil, 403, nil)
}

// fakeSMTP is a minimal SMTP server (enough for net/smtp without TLS).
type fakeSMTP struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	rcpt [][]string
}

func startSMTP(t *testing.T) *fakeSMTP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMTP{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	say("220 fake ESMTP")
	var rcpt []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-fake")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			rcpt = nil
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			rcpt = append(rcpt, strings.Trim(strings.TrimSpace(line)[8:], "<> "))
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.rcpt = append(s.rcpt, rcpt)
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// TestMailNotifications: the officers of the office hear of a submission
// and the applicant of the query, approval and rejection, over SMTP to an
// in-process server; SMS goes through its hook.
func TestMailNotifications(t *testing.T) {
	w := newWorld(t)
	srv := startSMTP(t)
	var sms smsRec
	d := &api.Deliverer{Service: w.svc, Mailer: &api.SMTPMailer{Addr: srv.ln.Addr().String(), From: "ecogate@node.example"}, SMS: &sms}
	a := w.draft(w.tok(appl))
	w.mustCall(w.tok(appl), "POST", "/applications/"+a.ID+"/submit", map[string]string{"payment": "wallet"}, 200, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/review", nil, 200, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/return", map[string]string{"reason": "attach the invoice"}, 200, nil)
	w.mustCall(w.tok(appl), "POST", "/applications/"+a.ID+"/answer", map[string]string{"reason": "done"}, 200, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/review", nil, 200, nil)
	w.mustCall(w.tok(officer), "POST", "/applications/"+a.ID+"/approve", nil, 200, nil)
	for {
		ok, failed := w.deliverDue(d)
		if failed != 0 {
			t.Fatalf("%d deliveries failed", failed)
		}
		if ok == 0 {
			break
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.msgs) != 4 {
		t.Fatalf("%d mails, want 4 (submit, return, answer, approve): %v", len(srv.msgs), srv.rcpt)
	}
	if strings.Join(srv.rcpt[0], ",") != officer || !strings.Contains(srv.msgs[0], "Subject: Application "+a.ID+" submitted") {
		t.Fatalf("submission mail: %v %s", srv.rcpt[0], srv.msgs[0])
	}
	if strings.Join(srv.rcpt[1], ",") != appl+",office@alpha.example" || !strings.Contains(srv.msgs[1], "attach the invoice") {
		t.Fatalf("query mail: %v %s", srv.rcpt[1], srv.msgs[1])
	}
	if !strings.Contains(srv.msgs[3], "approved") {
		t.Fatalf("approval mail: %s", srv.msgs[3])
	}
	if len(sms.got) != 2 || sms.got[0] != "+919800000001" {
		t.Fatalf("sms: %v", sms.got)
	}
}

type smsRec struct {
	mu  sync.Mutex
	got []string
}

func (s *smsRec) SendSMS(_ context.Context, to, _ string) error {
	s.mu.Lock()
	s.got = append(s.got, to)
	s.mu.Unlock()
	return nil
}
