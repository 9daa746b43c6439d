package customs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/store"
)

func given(seq int, v, unit string) ItemDecisionRequest {
	t := true
	return ItemDecisionRequest{SequenceNumber: seq, PreferenceGiven: &t, UtilisedQuantity: &Quantity{v, unit}}
}

func denied(seq int, reason string) ItemDecisionRequest {
	f := false
	return ItemDecisionRequest{SequenceNumber: seq, PreferenceGiven: &f, Reason: reason}
}

func (e *env) decide(decl string, items ...ItemDecisionRequest) (int, []byte) {
	e.t.Helper()
	resp, body := e.call("POST", "/customs/v1/decisions", e.token(ScopeDecide),
		DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: decl, Items: items})
	return resp.StatusCode, body
}

// TestPartialShipments: utilisation is tracked per item across
// declarations; a check sees what remains; a decision cannot use more
// than remains; repeating a decision is idempotent, changing it is refused.
func TestPartialShipments(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)

	st, body := e.decide("DEC-1", given(2, "400", "KGM"), denied(1, "direct consignment rule not met"))
	if st != 201 {
		t.Fatalf("first decision: %d %s", st, body)
	}
	var dr DecisionResult
	_ = json.Unmarshal(body, &dr)
	if dr.MessageID == "" || dr.Items[0].Remaining == nil || *dr.Items[0].Remaining != (Quantity{"600", "KGM"}) {
		t.Fatalf("first decision result: %s", body)
	}
	// The check now sees 600 KGM remaining.
	if _, res, b := e.check(baseReq(item(2, "090111", "700", "KGM"))); res.Verdict != Mismatch || res.Items[0].Remaining.Value != "600" {
		t.Fatalf("check after first: %s", b)
	}
	if _, res, b := e.check(baseReq(item(2, "090111", "600", "KGM"))); res.Verdict != Authentic {
		t.Fatalf("check of what remains: %s", b)
	}
	// Second shipment in tonnes takes the rest.
	if st, body := e.decide("DEC-2", given(2, "0.6", "TNE")); st != 201 || !strings.Contains(string(body), `"remaining":{"value":"0","unitCode":"KGM"}`) {
		t.Fatalf("second decision: %d %s", st, body)
	}
	// Third: nothing left.
	st, body = e.decide("DEC-3", given(2, "1", "GRM"))
	if st != 409 || !strings.Contains(string(body), "quantity_exceeded") || !strings.Contains(string(body), `"remaining":{"value":"0","unitCode":"KGM"}`) {
		t.Fatalf("third decision: %d %s", st, body)
	}
	// The same decision again: 200, repeated, nothing used twice.
	if st, body := e.decide("DEC-2", given(2, "0.6", "TNE")); st != 200 || !strings.Contains(string(body), `"repeated":true`) {
		t.Fatalf("repeat: %d %s", st, body)
	}
	// Another decision under the same declaration: refused.
	if st, body := e.decide("DEC-2", given(3, "1", "LTR")); st != 409 {
		t.Fatalf("changed decision: %d %s", st, body)
	}
	// Two decisions went to the issuer, as signed ImportOutcome messages.
	recs, err := e.db.Outbox().List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Kind != KindDecision || recs[0].Partner != "IN" || recs[0].CertNumber != certNo {
		t.Fatalf("outbox: %+v", recs)
	}
	full, err := e.db.Outbox().Get(context.Background(), recs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&certs.Verifier{Trust: &certs.TrustSet{AnchorCerts: []*x509Cert{e.pki.Root.Cert}}, Now: e.clock.Now}).Verify(full.Content)
	if err != nil || !res.Valid {
		t.Fatalf("decision message does not verify: %v %v", err, res.Report)
	}
	o, fs, _ := outcomeOf(res.Element)
	if o == nil || o.ImportCountry != "VN" || o.DeclarationRef != "DEC-1" || len(o.Items) != 2 ||
		o.Items[0].UtilisedQuantity == nil || o.Items[0].UtilisedQuantity.Value != "400" || o.Items[1].PreferenceGiven || o.Items[1].Reason == "" {
		t.Fatalf("outcome %+v %v", o, fs)
	}
	// Metrics and audit: two decisions recorded, one repeated, one short,
	// one refused; each recorded decision is in the audit log.
	for outcome, want := range map[string]float64{"recorded": 2, "repeated": 1, "quantity_exceeded": 1, "refused": 1} {
		if got := e.counter("ecogate_customs_decisions_total", "outcome", outcome); got != want {
			t.Errorf("decisions %s: %v, want %v", outcome, got, want)
		}
	}
	if got := e.counter("ecogate_customs_checks_total", "verdict", Mismatch); got != 1 {
		t.Errorf("MISMATCH checks counted: %v", got)
	}
	entries, err := e.db.Audit().Entries(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var audited []string
	for _, en := range entries {
		if en.Action == "customs.decision" {
			audited = append(audited, en.Details["declaration"]+":"+en.Details["item2"])
		}
	}
	if strings.Join(audited, ",") != "DEC-1:given 400 KGM,DEC-2:given 600 KGM" {
		t.Errorf("audited decisions %v", audited)
	}
	// The lookup shows utilisation and decisions.
	resp, b := e.call("GET", "/customs/v1/certificates/IN/"+certNo, e.token(ScopeRead), nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"utilised":{"value":"1000","unitCode":"KGM"}`) || !strings.Contains(string(b), `"declarationRef":"DEC-2"`) {
		t.Fatalf("lookup: %s", b)
	}
}

// TestDecisionBadInput: 400 with the field, 409 on a certificate no longer
// in force, 404 when unknown.
func TestDecisionBadInput(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)
	tests := []struct {
		name   string
		req    DecisionRequest
		status int
		field  string
	}{
		{"no declaration", DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, Items: []ItemDecisionRequest{given(1, "1", "KGM")}}, 400, "declarationRef"},
		{"no items", DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "D"}, 400, "items"},
		{"unknown item", DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "D", Items: []ItemDecisionRequest{given(7, "1", "KGM")}}, 400, "items[0].sequenceNumber"},
		{"item twice", DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "D", Items: []ItemDecisionRequest{given(1, "1", "KGM"), given(1, "1", "KGM")}}, 400, "items[1].sequenceNumber"},
		{"denied without reason", DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "D", Items: []ItemDecisionRequest{denied(1, " ")}}, 400, "items[0].reason"},
		{"given without quantity", DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "D", Items: []ItemDecisionRequest{{SequenceNumber: 1, PreferenceGiven: ptrTrue()}}}, 400, "items[0].utilisedQuantity"},
		{"no preference flag", DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "D", Items: []ItemDecisionRequest{{SequenceNumber: 1}}}, 400, "items[0].preferenceGiven"},
		{"unconvertible unit", DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "D", Items: []ItemDecisionRequest{given(3, "1", "KGM")}}, 400, "items[0].utilisedQuantity.unitCode"},
		{"unknown certificate", DecisionRequest{ExportCountry: "IN", CertificateNumber: "NOPE", DeclarationRef: "D", Items: []ItemDecisionRequest{given(1, "1", "KGM")}}, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.call("POST", "/customs/v1/decisions", e.token(ScopeDecide), tc.req)
			var p problem
			_ = json.Unmarshal(body, &p)
			if resp.StatusCode != tc.status || p.Field != tc.field {
				t.Fatalf("got %d field %q: %s", resp.StatusCode, p.Field, body)
			}
		})
	}
	t.Run("withdrawn: no preference, denial recorded", func(t *testing.T) {
		if _, _, err := e.db.Inbox().ApplyStatus(context.Background(), store.StatusChange{Country: "IN", Number: certNo, Version: 1, Status: store.CertWithdrawn}); err != nil {
			t.Fatal(err)
		}
		if st, body := e.decide("W-1", given(1, "1", "KGM")); st != 409 || !strings.Contains(string(body), "withdrew") {
			t.Fatalf("grant on withdrawn: %d %s", st, body)
		}
		if st, body := e.decide("W-2", denied(1, "certificate withdrawn by the issuer")); st != 201 {
			t.Fatalf("denial on withdrawn: %d %s", st, body)
		}
	})
}

// TestConcurrentDecisionsForTheLastQuantity: many declarations race for
// the last 100 KGM of an item; exactly one wins, the others get 409 and
// nothing of theirs is recorded or sent.
func TestConcurrentDecisionsForTheLastQuantity(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)
	if st, body := e.decide("FIRST", given(2, "900", "KGM")); st != 201 {
		t.Fatalf("%d %s", st, body)
	}
	tok := e.token(ScopeDecide)
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := e.call("POST", "/customs/v1/decisions", tok,
				DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "RACE-" + itoa(i), Items: []ItemDecisionRequest{given(2, "0.1", "TNE")}})
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		switch c {
		case 201:
			won++
		case 409:
		default:
			t.Errorf("unexpected status %d", c)
		}
	}
	if won != 1 {
		t.Fatalf("%d decisions won the last 100 KGM, want exactly 1 (%v)", won, codes)
	}
	ds, _ := e.db.Customs().Decisions(context.Background(), "IN", certNo)
	recs, _ := e.db.Outbox().List(context.Background(), store.Filter{})
	if len(ds) != 2 || len(recs) != 2 {
		t.Fatalf("%d decisions and %d messages recorded, want 2 and 2", len(ds), len(recs))
	}
}

// TestApplyDecisionAtIssuer: the issuing node verifies a decision message,
// records it once, and shows it with the certificate it issued.
func TestApplyDecisionAtIssuer(t *testing.T) {
	imp := newEnv(t) // importing node (VN)
	imp.storeView(testCert(t, certNo), validReport)
	if st, body := imp.decide("DEC-9", given(1, "20000", "KGM")); st != 201 {
		t.Fatalf("%d %s", st, body)
	}
	recs, _ := imp.db.Outbox().List(context.Background(), store.Filter{})
	msg, err := imp.db.Outbox().Get(context.Background(), recs[0].ID)
	if err != nil {
		t.Fatal(err)
	}

	iss := newEnv(t) // issuing node (IN)
	ctx := context.Background()
	reg := iss.db.Issued()
	rec, err := RegisterIssued(ctx, reg, testCert(t, certNo))
	if err != nil || rec.Token == "" {
		t.Fatal(err)
	}
	trust := &certs.TrustSet{AnchorCerts: []*x509Cert{iss.pki.Root.Cert}}
	now := iss.clock.Now()

	if _, _, _, err := ApplyDecision(ctx, reg, trust, "TH", msg.ID, msg.Content, now); err == nil || !strings.Contains(err.Error(), "not the sending partner") {
		t.Fatalf("decision from the wrong partner: %v", err)
	}
	tampered := bytes.Replace(msg.Content, []byte(">20000<"), []byte(">2000<"), 1)
	if _, rep, _, err := ApplyDecision(ctx, reg, trust, "VN", msg.ID, tampered, now); err == nil || rep.Valid() {
		t.Fatalf("tampered decision accepted: %v", err)
	}
	o, _, dup, err := ApplyDecision(ctx, reg, trust, "VN", msg.ID, msg.Content, now)
	if err != nil || dup || o.DeclarationRef != "DEC-9" {
		t.Fatalf("apply: %v dup=%v", err, dup)
	}
	if _, _, dup, err := ApplyDecision(ctx, reg, trust, "VN", msg.ID, msg.Content, now); err != nil || !dup {
		t.Fatalf("apply again: %v dup=%v", err, dup)
	}
	other := testCert(t, "IN-OTHER")
	_ = other
	if _, _, _, err := ApplyDecision(ctx, iss.db.Issued(), trust, "VN", msg.ID, msg.Content, now); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(IssuedRoutes(reg))
	defer srv.Close()
	resp, body := iss.do(mustReq("GET", srv.URL+"/issued/"+certNo))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"customsDeclarationRef":"DEC-9"`) || !strings.Contains(string(body), `"from":"VN"`) {
		t.Fatalf("issued view: %d %s", resp.StatusCode, body)
	}
	var iv IssuedView
	if err := json.Unmarshal(body, &iv); err != nil || len(iv.Decisions) != 1 {
		t.Fatalf("decisions shown: %v %s", err, body)
	}

	// A decision about a certificate this node did not issue.
	empty := newEnv(t)
	if _, _, _, err := ApplyDecision(ctx, empty.db.Issued(), trust, "VN", msg.ID, msg.Content, now); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("not ours: %v", err)
	}
}

func ptrTrue() *bool { t := true; return &t }

// TestDecisionStrictJSON: a decision body that two JSON readers could read
// differently (a field twice, data after the object, invalid UTF-8, an
// unknown or case-variant field) is 400 naming the field, and nothing is
// recorded (issue 10, item 6).
func TestDecisionStrictJSON(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)
	const head = `{"exportCountry":"IN","certificateNumber":"` + certNo + `",`
	const items = `"items":[{"sequenceNumber":1,"preferenceGiven":true,"utilisedQuantity":{"value":"1","unitCode":"KGM"}}]`
	for _, tc := range []struct{ name, body, field, reason string }{
		{"declaration twice", head + `"declarationRef":"A","declarationRef":"B",` + items + `}`, "declarationRef", "twice"},
		{"quantity twice", head + `"declarationRef":"A","items":[{"sequenceNumber":1,"preferenceGiven":true,"utilisedQuantity":{"value":"1","value":"9000","unitCode":"KGM"}}]}`, "items[0].utilisedQuantity.value", "twice"},
		{"trailing data", head + `"declarationRef":"A",` + items + `}{}`, "body", "trailing data"},
		{"invalid UTF-8", head + "\"declarationRef\":\"A\xc0\"," + items + `}`, "body", "UTF-8"},
		{"unknown field", head + `"declarationRef":"A","officer":"x",` + items + `}`, "officer", "unknown field"},
		{"case variant", head + `"declarationRef":"A","DeclarationRef":"B",` + items + `}`, "DeclarationRef", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.call("POST", "/customs/v1/decisions", e.token(ScopeDecide), tc.body)
			var p problem
			_ = json.Unmarshal(body, &p)
			if resp.StatusCode != 400 || p.Field != tc.field || !strings.Contains(p.Message, tc.reason) {
				t.Fatalf("got %d field %q %q; want 400 %q with %q", resp.StatusCode, p.Field, p.Message, tc.field, tc.reason)
			}
		})
	}
	if ds, err := e.db.Customs().Decisions(context.Background(), "IN", certNo); err != nil || len(ds) != 0 {
		t.Fatalf("refused bodies recorded decisions: %v %v", ds, err)
	}
	// The same decision, strictly formed, is recorded.
	if resp, body := e.call("POST", "/customs/v1/decisions", e.token(ScopeDecide), head+`"declarationRef":"A",`+items+`}`); resp.StatusCode != 201 {
		t.Fatalf("well-formed decision: %d %s", resp.StatusCode, body)
	}
}
