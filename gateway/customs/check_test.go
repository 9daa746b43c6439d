package customs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

const (
	certNo   = "IN-AI-2026-MUM-0001"
	importer = "Hai Phong Cold Chain Import Export Company Limited"
)

func baseReq(items ...DeclaredItem) CheckRequest {
	return CheckRequest{ExportCountry: "IN", CertificateNumber: certNo, IssueDate: "2026-06-03",
		Importer: &PartyRef{Name: "HAI PHONG cold chain import-export company limited"}, DeclarationRef: "VN-DEC-1", Items: items}
}

// TestCheckVerdicts runs one check per verdict and per kind of difference.
func TestCheckVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(e *env)
		req     func() CheckRequest
		verdict string
		// diffs are the difference codes expected, certificate level then
		// per line ("line:code").
		diffs []string
	}{
		{name: "authentic", req: func() CheckRequest {
			return baseReq(item(1, "020230", "1000", "KGM"), item(2, "0901.11.00", "500", "KGM"))
		}, verdict: Authentic},
		{name: "authentic converted units", req: func() CheckRequest {
			return baseReq(item(1, "020230", "2204.62", "LBR"), item(2, "090111", "0.5", "TNE"), item(3, "220421", "250000", "MLT"))
		}, verdict: Authentic},
		{name: "authentic matched by HS code", req: func() CheckRequest {
			return baseReq(DeclaredItem{HSCode: "09011100", Quantity: &Quantity{"1000", "KGM"}})
		}, verdict: Authentic},
		{name: "authentic by importer id", req: func() CheckRequest {
			r := baseReq(item(4, "640399", "100", "PR"))
			r.Importer = &PartyRef{ID: "0201234567", Name: "someone else"}
			return r
		}, verdict: Authentic},
		{name: "importer differs", req: func() CheckRequest {
			r := baseReq(item(1, "020230", "10", "KGM"))
			r.Importer = &PartyRef{Name: "Saigon Meat Traders"}
			return r
		}, verdict: Mismatch, diffs: []string{DiffImporter}},
		{name: "issue date differs", req: func() CheckRequest {
			r := baseReq(item(1, "020230", "10", "KGM"))
			r.IssueDate = "2026-06-04"
			return r
		}, verdict: Mismatch, diffs: []string{DiffIssueDate}},
		{name: "HS subheading differs", req: func() CheckRequest {
			return baseReq(item(1, "020230", "10", "KGM"), item(2, "090112", "10", "KGM"))
		}, verdict: Mismatch, diffs: []string{"1:" + DiffHS}},
		{name: "quantity over the certificate", req: func() CheckRequest {
			return baseReq(item(2, "090111", "1000.001", "KGM"))
		}, verdict: Mismatch, diffs: []string{"0:" + DiffQuantity}},
		{name: "two lines together over one item", req: func() CheckRequest {
			return baseReq(item(2, "090111", "600", "KGM"), item(2, "090111", "0.5", "TNE"))
		}, verdict: Mismatch, diffs: []string{"1:" + DiffQuantity}},
		{name: "item not on certificate", req: func() CheckRequest {
			return baseReq(item(9, "020230", "1", "KGM"))
		}, verdict: Mismatch, diffs: []string{"0:" + DiffNoItem}},
		{name: "no item with the HS code", req: func() CheckRequest {
			return baseReq(DeclaredItem{HSCode: "847130", Quantity: &Quantity{"1", "KGM"}})
		}, verdict: Mismatch, diffs: []string{"0:" + DiffHS}},
		{name: "not found", req: func() CheckRequest {
			r := baseReq(item(1, "020230", "1", "KGM"))
			r.CertificateNumber = "IN-NOPE-1"
			return r
		}, verdict: NotFound},
		{name: "withdrawn", setup: func(e *env) {
			if _, _, err := e.db.Inbox().ApplyStatus(context.Background(), store.StatusChange{Country: "IN", Number: certNo, Version: 1, Status: store.CertWithdrawn}); err != nil {
				t.Fatal(err)
			}
		}, req: func() CheckRequest { return baseReq(item(1, "020230", "1", "KGM")) }, verdict: Withdrawn},
		{name: "replaced", setup: func(e *env) {
			if _, _, err := e.db.Inbox().ApplyStatus(context.Background(), store.StatusChange{Country: "IN", Number: certNo, Version: 1, Status: store.CertReplaced, ReplacedBy: "IN-AI-2026-MUM-0002"}); err != nil {
				t.Fatal(err)
			}
		}, req: func() CheckRequest { return baseReq(item(1, "020230", "1", "KGM")) }, verdict: Replaced},
		{name: "expired", setup: func(e *env) { e.clock.Add(200 * 24 * time.Hour) },
			req: func() CheckRequest { return baseReq(item(1, "020230", "1", "KGM")) }, verdict: Expired},
		{name: "untrusted", setup: func(e *env) {
			e.storeView(testCert(t, certNo), certs.Report{{Check: "chain", Status: certs.StatusInvalid, Reason: "chain.untrusted"}})
		}, req: func() CheckRequest { return baseReq(item(1, "020230", "1", "KGM")) }, verdict: Untrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.storeView(testCert(t, certNo), validReport)
			if tc.setup != nil {
				tc.setup(e)
			}
			status, res, body := e.check(tc.req())
			if status != 200 || res.Verdict != tc.verdict {
				t.Fatalf("got %d %s, want %s: %s", status, res.Verdict, tc.verdict, body)
			}
			var got []string
			for _, d := range res.Differences {
				got = append(got, d.Code)
			}
			for _, it := range res.Items {
				for _, d := range it.Differences {
					got = append(got, strings.Join([]string{itoa(it.Line), d.Code}, ":"))
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.diffs, ",") {
				t.Errorf("differences %v, want %v: %s", got, tc.diffs, body)
			}
			if tc.verdict != NotFound && (res.Verification == nil || res.Certificate == nil || res.Certificate.Number != certNo) {
				t.Errorf("no certificate or verification report: %s", body)
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestCheckMismatchDetails checks what a MISMATCH says per item: the
// declared and certified HS codes, and the quantity declared against what
// remains, in the certificate's unit.
func TestCheckMismatchDetails(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)
	_, res, body := e.check(baseReq(item(2, "090121", "1.2", "TNE"), item(3, "220421", "100", "LTR")))
	if res.Verdict != Mismatch {
		t.Fatalf("verdict %s: %s", res.Verdict, body)
	}
	it := res.Items[0]
	if it.Match || it.SequenceNumber != 2 || len(it.Differences) != 2 {
		t.Fatalf("item 0: %+v", it)
	}
	hs, qty := it.Differences[0], it.Differences[1]
	if hs.Code != DiffHS || hs.Declared != "090121" || hs.Certified != "090111" || hs.Field != "items[0].hsCode" {
		t.Errorf("HS difference %+v", hs)
	}
	if qty.Code != DiffQuantity || qty.Declared != "1200 KGM" || qty.Certified != "1000 KGM" {
		t.Errorf("quantity difference %+v", qty)
	}
	if *it.Declared != (Quantity{"1200", "KGM"}) || *it.Remaining != (Quantity{"1000", "KGM"}) || *it.Certified != (Quantity{"1000", "KGM"}) {
		t.Errorf("quantities %+v %+v %+v", it.Declared, it.Remaining, it.Certified)
	}
	if !res.Items[1].Match {
		t.Errorf("item 1 should match: %+v", res.Items[1])
	}
}

// TestCheckBadInput: malformed requests are 400 with the field and what is
// wrong; units that Rec 20 cannot convert are refused with the reason.
func TestCheckBadInput(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)
	tests := []struct {
		name, body, field, msg string
	}{
		{"not json", `{`, "body", "JSON"},
		{"unknown field", `{"exportCountry":"IN","certificateNumber":"X","itemz":[]}`, "itemz", "unknown field"},
		{"wrong type", `{"exportCountry":"IN","certificateNumber":"X","items":"many"}`, "items", "must be an array"},
		// Strict JSON (issue 10 item 6): what two readers could read differently is refused.
		{"duplicate key", `{"exportCountry":"VN","exportCountry":"IN","certificateNumber":"` + certNo + `","items":[]}`, "exportCountry", "twice"},
		{"duplicate nested key", `{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"020230","hsCode":"090111","quantity":{"value":"1","unitCode":"KGM"}}]}`, "items[0].hsCode", "twice"},
		{"case variant of a field", `{"exportCountry":"IN","ExportCountry":"VN","certificateNumber":"X","items":[]}`, "ExportCountry", "unknown field"},
		{"trailing data", `{"exportCountry":"IN","certificateNumber":"X","items":[]} {"exportCountry":"VN"}`, "body", "trailing data"},
		{"invalid UTF-8", "{\"exportCountry\":\"IN\",\"certificateNumber\":\"X\xff\",\"items\":[]}", "body", "UTF-8"},
		{"lone surrogate", `{"exportCountry":"IN","certificateNumber":"X\ud800","items":[]}`, "certificateNumber", "surrogate"},
		{"no country", `{"certificateNumber":"X","items":[]}`, "exportCountry", "ISO 3166-1"},
		{"no number", `{"exportCountry":"IN","items":[]}`, "certificateNumber", "1 to 64"},
		{"bad date", `{"exportCountry":"IN","certificateNumber":"X","issueDate":"3 June 2026","items":[]}`, "issueDate", "YYYY-MM-DD"},
		{"short HS", `{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"0202","quantity":{"value":"1","unitCode":"KGM"}}]}`, "items[0].hsCode", "6 to 12 digits"},
		{"no quantity", `{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"020230"}]}`, "items[0].quantity", "required"},
		{"negative", `{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"020230","quantity":{"value":"-1","unitCode":"KGM"}}]}`, "items[0].quantity.value", "negative"},
		{"exponent", `{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"020230","quantity":{"value":"1e3","unitCode":"KGM"}}]}`, "items[0].quantity.value", "not a decimal"},
		{"unit not Rec 20", `{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"020230","quantity":{"value":"1","unitCode":"kg"}}]}`, "items[0].quantity.unitCode", "not a UN/ECE Rec 20 code"},
		{"mass against volume", `{"exportCountry":"IN","certificateNumber":"` + certNo + `","items":[{"sequenceNumber":3,"hsCode":"220421","quantity":{"value":"1","unitCode":"KGM"}}]}`, "items[0].quantity.unitCode", "KGM is a unit of mass and LTR a unit of volume"},
		{"pieces against pairs", `{"exportCountry":"IN","certificateNumber":"` + certNo + `","items":[{"sequenceNumber":4,"hsCode":"640399","quantity":{"value":"200","unitCode":"H87"}}]}`, "items[0].quantity.unitCode", "Rec 20 defines no conversion"},
		{"units of count against pairs", `{"exportCountry":"IN","certificateNumber":"` + certNo + `","items":[{"sequenceNumber":4,"hsCode":"640399","quantity":{"value":"2","unitCode":"DZN"}}]}`, "items[0].quantity.unitCode", "declare the quantity in PR"},
	}
	tok := e.token(ScopeCheck)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.call("POST", "/customs/v1/checks", tok, tc.body)
			var p problem
			_ = json.Unmarshal(body, &p)
			if resp.StatusCode != 400 || p.Field != tc.field || !strings.Contains(p.Message, tc.msg) {
				t.Fatalf("got %d field %q %q; want 400 %q containing %q", resp.StatusCode, p.Field, p.Message, tc.field, tc.msg)
			}
		})
	}
}

// TestCheckBodyLimit: a body of MaxBody bytes is read, one byte more is
// refused with the field "body" and the connection closed after the
// answer, as http.MaxBytesReader did.
func TestCheckBodyLimit(t *testing.T) {
	const limit = 300
	e := newEnv(t, func(o *Options) { o.MaxBody = limit })
	e.storeView(testCert(t, certNo), validReport)
	tok := e.token(ScopeCheck)
	pad := func(n int) string { // a valid request of n bytes (padded with spaces)
		b := `{"exportCountry":"IN","certificateNumber":"` + certNo + `","items":[]}`
		return b + strings.Repeat(" ", n-len(b))
	}
	tests := []struct {
		name      string
		body      string
		tooLarge  bool
		wantClose bool
	}{
		{"at the limit", pad(limit), false, false},
		{"one byte over", pad(limit + 1), true, true},
		{"far over", pad(10 * limit), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.call("POST", "/customs/v1/checks", tok, tc.body)
			var p problem
			_ = json.Unmarshal(body, &p)
			gotTooLarge := resp.StatusCode == 400 && p.Field == "body" && p.Message == "body: larger than 300 bytes"
			if gotTooLarge != tc.tooLarge || resp.Close != tc.wantClose {
				t.Fatalf("got %d close=%v %s; want too large %v, close %v", resp.StatusCode, resp.Close, body, tc.tooLarge, tc.wantClose)
			}
			if !tc.tooLarge && resp.StatusCode == 400 {
				t.Fatalf("a body at the limit was refused: %s", body)
			}
		})
	}
}

// TestReadBody: readBody reads any reader whole up to the limit, reports
// more, and passes a read error on.
func TestReadBody(t *testing.T) {
	data := strings.Repeat("0123456789", 200) // 2000 bytes
	boom := errors.New("boom")
	tests := []struct {
		name    string
		r       io.Reader
		limit   int64
		want    string
		over    bool
		wantErr error
	}{
		{"whole", strings.NewReader(data), 2000, data, false, nil},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(data)), 2000, data, false, nil},
		{"data with EOF", iotest.DataErrReader(strings.NewReader(data)), 5000, data, false, nil},
		{"empty", strings.NewReader(""), 10, "", false, nil},
		{"over", strings.NewReader(data), 1999, "", true, nil},
		{"over one byte at a time", iotest.OneByteReader(strings.NewReader(data)), 10, "", true, nil},
		{"error", io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 100, "", false, boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var bp bytes.Buffer
			over, err := readBody(&bp, tc.r, tc.limit)
			if over != tc.over || !errors.Is(err, tc.wantErr) {
				t.Fatalf("over %v err %v; want %v %v", over, err, tc.over, tc.wantErr)
			}
			if !tc.over && tc.wantErr == nil && bp.String() != tc.want {
				t.Fatalf("read %d bytes, want %d", bp.Len(), len(tc.want))
			}
			if tc.over && int64(bp.Len()) <= tc.limit {
				t.Fatalf("over with only %d bytes read", bp.Len())
			}
		})
	}
}

// TestCheckLazyViewFromInbox: the first check of a received certificate
// builds its view from the stored message and its receipt; a later status
// message (withdrawal) is seen by the next check.
func TestCheckLazyViewFromInbox(t *testing.T) {
	e := newEnv(t)
	c := testCert(t, certNo)
	doc, err := schema.EncodeXML(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := e.db.Inbox()
	if _, err := in.Accept(ctx, store.InRecord{ID: "m1", From: "IN", CertNumber: certNo, Version: 1, Kind: "issue", Content: doc,
		Outcome: store.StateDelivered, StatusChanges: []store.StatusChange{{Country: "IN", Number: certNo, Version: 1, Status: store.CertIssued}}}); err != nil {
		t.Fatal(err)
	}
	_, res, body := e.check(baseReq(item(1, "020230", "1", "KGM")))
	if res.Verdict != Authentic || res.Verification.Source != "stored" || len(res.Verification.Report) == 0 {
		t.Fatalf("first check: %s", body)
	}
	wd := testCert(t, certNo)
	wd.Header.Status = "40"
	wdoc, _ := schema.EncodeXML(wd)
	if _, err := in.Accept(ctx, store.InRecord{ID: "m2", From: "IN", CertNumber: certNo, Version: 1, Kind: "withdraw", Content: wdoc,
		Outcome: store.StateDelivered, StatusChanges: []store.StatusChange{{Country: "IN", Number: certNo, Version: 1, Status: store.CertWithdrawn}}}); err != nil {
		t.Fatal(err)
	}
	if _, res, body := e.check(baseReq(item(1, "020230", "1", "KGM"))); res.Verdict != Withdrawn {
		t.Fatalf("after withdrawal: %s", body)
	}
	// The lookup shows the stored certificate, its status and the e-CO.
	resp, body := e.call("GET", "/customs/v1/certificates/IN/"+certNo, e.token(ScopeRead), nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"withdrawn"`) || !strings.Contains(string(body), `"document":{`) {
		t.Fatalf("lookup: %d %s", resp.StatusCode, body)
	}
	resp, body = e.call("GET", "/customs/v1/certificates/IN/"+certNo+"?format=xml", e.token(ScopeRead), nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<CertificateOfOrigin") {
		t.Fatalf("lookup xml: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.call("GET", "/customs/v1/certificates/IN/NOPE", e.token(ScopeRead), nil); resp.StatusCode != 404 {
		t.Fatalf("unknown certificate: %d", resp.StatusCode)
	}
}

// TestCheckPooledMemory: checks served one after another and at the same
// time from pooled memory answer exactly what a check in fresh memory
// answers (nothing of a previous check shows through: more lines than the
// pooled room, an importer then none, a refusal, an unknown certificate).
func TestCheckPooledMemory(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)
	e.storeView(testCert(t, "IN-AI-2026-MUM-0002"), validReport)
	six := baseReq(item(1, "020230", "1", "KGM"), item(2, "090111", "2", "KGM"), item(3, "220421", "3", "LTR"),
		item(4, "640399", "4", "PR"), item(0, "090111", "5", "KGM"), item(1, "020231", "6", "KGM"))
	six.Importer, six.IssueDate = &PartyRef{Name: "Someone Else Ltd"}, "2026-06-04"
	other := CheckRequest{ExportCountry: "in", CertificateNumber: "IN-AI-2026-MUM-0002", Items: []DeclaredItem{item(2, "090111", "1", "KGM")}}
	byID := baseReq(item(3, "220421", "1", "LTR"))
	byID.Importer = &PartyRef{ID: "0201234567"}
	unknown := baseReq(item(1, "020230", "1", "KGM"))
	unknown.CertificateNumber = "IN-NOBODY"
	reqs := []CheckRequest{six, other, byID, unknown}
	var bodies [][]byte
	var want []string
	for _, r := range reqs {
		b, _ := json.Marshal(r)
		bodies = append(bodies, b)
		fresh := r
		res, status, fe := e.svc.Check(context.Background(), &fresh)
		if fe != nil || status != 200 {
			t.Fatalf("fresh check of %s: %d %v", b, status, fe)
		}
		want = append(want, string(res.appendJSON(nil)))
	}
	bodies = append(bodies, []byte(`{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"12","quantity":{"value":"1","unitCode":"KGM"}}]}`))
	want = append(want, "")
	h := e.svc.Routes()
	tok := e.token(ScopeCheck)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				j := (i*(g+1) + g) % len(bodies)
				req := httptest.NewRequest("POST", "/customs/v1/checks", bytes.NewReader(bodies[j]))
				req.Header.Set("Authorization", "Bearer "+tok)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if want[j] == "" {
					if w.Code != 400 || !strings.Contains(w.Body.String(), "items[0].hsCode") {
						errs <- fmt.Sprintf("bad request answered %d %s", w.Code, w.Body)
						return
					}
				} else if w.Code != 200 || w.Body.String() != want[j] {
					errs <- fmt.Sprintf("check %d answered %d\n%s\nwant\n%s", j, w.Code, w.Body, want[j])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
