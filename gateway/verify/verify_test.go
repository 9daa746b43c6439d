package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const coreJSON = `{"country":"IN","number":"IN-AI-2026-MUM-0001","version":1,"issueDate":"2026-06-03","exporter":"Deccan Frozen Foods Pvt Ltd",
"importer":"Hai Phong Cold Chain Import Export Company Limited","importerIds":["VN-TIN:0201234567"],"issuer":"Export Inspection Council of India",
"items":[{"sequenceNumber":1,"description":"Frozen boneless meat of buffalo","hsCode":"020230","quantity":{"value":"54000","unitCode":"KGM"}},
{"sequenceNumber":2,"description":"Coffee <not roasted>","hsCode":"090111","quantity":{"value":"1000","unitCode":"KGM"}}]}`

type tenv struct {
	t    *testing.T
	db   *store.DB
	clk  *clock
	svc  *Service
	logs *bytes.Buffer
	addr string // client address of the next request
	tok  string
}

func newTEnv(t *testing.T, mod func(*Options)) *tenv {
	clk := &clock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	db, err := store.Open(filepath.Join(t.TempDir(), "v.db"), store.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rec, err := db.Issued().Register(context.Background(), store.IssuedCert{Country: "IN", Number: "IN-AI-2026-MUM-0001", Version: 1, Data: json.RawMessage(coreJSON)})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	e := &tenv{t: t, db: db, clk: clk, logs: logs, addr: "203.0.113.7", tok: rec.Token}
	o := Options{Country: "IN", Register: db.Issued(), BaseURL: "https://eco.example.in", Clock: clk.Now,
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
		ClientAddr: func(*http.Request) string { return e.addr }}
	if mod != nil {
		mod(&o)
	}
	if e.svc, err = New(o); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *tenv) get(path string, jsonAccept bool) (*httptest.ResponseRecorder, Answer) {
	req := httptest.NewRequest("GET", path, nil)
	if jsonAccept {
		req.Header.Set("Accept", "application/json")
	}
	w := httptest.NewRecorder()
	e.svc.Routes().ServeHTTP(w, req)
	var a Answer
	if jsonAccept {
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			e.t.Fatalf("%s: not JSON: %s", path, w.Body)
		}
	}
	return w, a
}

// TestPageHTML: the form, a found certificate with the details printed on
// it (as the DGFT page shows them) but never the parties' identifiers, the
// security headers, escaping.
func TestPageHTML(t *testing.T) {
	e := newTEnv(t, nil)
	w, _ := e.get("/verify", false)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<form method="get" action="/verify">`) {
		t.Fatalf("form: %d %s", w.Code, w.Body)
	}
	w, _ = e.get("/verify?country=in&number=IN-AI-2026-MUM-0001", false)
	body := w.Body.String()
	for _, want := range []string{"IN-AI-2026-MUM-0001", "2026-06-03", "Deccan Frozen Foods Pvt Ltd", "020230", "090111",
		"Coffee &lt;not roasted&gt;", "Export Inspection Council of India", "Valid: issued",
		"Hai Phong Cold Chain Import Export Company Limited", "54000 KGM", "1000 KGM"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, never := range []string{"0201234567", "VN-TIN", "<script", "http://", "https://"} {
		if strings.Contains(body, never) {
			t.Errorf("page shows %q", never)
		}
	}
	h := w.Header()
	if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || h.Get("Referrer-Policy") != "no-referrer" ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("headers %v", h)
	}
}

// TestJSONAndQR: JSON answers; the QR token route; unknown tokens; a
// withdrawn certificate says so.
func TestJSONAndQR(t *testing.T) {
	e := newTEnv(t, func(o *Options) { o.MissesBeforeChallenge = 100 })
	w, a := e.get("/verify?country=IN&number=IN-AI-2026-MUM-0001", true)
	if w.Code != 200 || !a.Found || a.Certificate.Exporter != "Deccan Frozen Foods Pvt Ltd" || len(a.Certificate.Goods) != 2 || a.Certificate.Status != "issued" {
		t.Fatalf("json: %d %s", w.Code, w.Body)
	}
	if c := a.Certificate; c.Importer != "Hai Phong Cold Chain Import Export Company Limited" || c.Version != 1 || c.Goods[0].Quantity != "54000 KGM" {
		t.Errorf("JSON lacks the certificate's details: %s", w.Body)
	}
	if strings.Contains(w.Body.String(), "0201234567") || strings.Contains(w.Body.String(), "importerIds") {
		t.Errorf("JSON shows the importer's identifiers: %s", w.Body)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(e.tok) {
		t.Fatalf("token %q is not 128 bits base64url", e.tok)
	}
	if link := e.svc.QRLink(e.tok); link != "https://eco.example.in/verify/q/"+e.tok || strings.Contains(link, "MUM-0001") {
		t.Errorf("QR link %s", link)
	}
	w, a = e.get("/verify/q/"+e.tok, true)
	if w.Code != 200 || a.Certificate.Number != "IN-AI-2026-MUM-0001" {
		t.Fatalf("qr: %d %s", w.Code, w.Body)
	}
	for _, bad := range []string{"/verify/q/" + strings.Repeat("A", 22), "/verify/q/IN-AI-2026-MUM-0001", "/verify/q/x"} {
		if w, a := e.get(bad, true); w.Code != 404 || a.Found {
			t.Errorf("%s: %d %s", bad, w.Code, w.Body)
		}
	}
	if w, _ := e.get("/verify?country=VN&number=IN-AI-2026-MUM-0001", true); w.Code != 404 {
		t.Errorf("other country: %d", w.Code)
	}
	if _, err := e.db.Issued().SetStatus(context.Background(), "IN-AI-2026-MUM-0001", store.CertReplaced, "IN-AI-2026-MUM-0002"); err != nil {
		t.Fatal(err)
	}
	w, a = e.get("/verify/q/"+e.tok, true)
	if a.Certificate.Status != "replaced" || a.Certificate.ReplacedBy != "IN-AI-2026-MUM-0002" {
		t.Fatalf("replaced: %s", w.Body)
	}
	if w, _ := e.get("/verify/q/"+e.tok, false); !strings.Contains(w.Body.String(), "REPLACED by IN-AI-2026-MUM-0002") {
		t.Fatalf("replaced page: %s", w.Body)
	}
	// Another certificate gets another, unrelated token.
	r2, _ := e.db.Issued().Register(context.Background(), store.IssuedCert{Country: "IN", Number: "IN-AI-2026-MUM-0002", Version: 1, Data: json.RawMessage(coreJSON)})
	if r2.Token == e.tok || r2.Token[:4] == e.tok[:4] && r2.Token[4:8] == e.tok[4:8] {
		t.Errorf("tokens look related: %s %s", e.tok, r2.Token)
	}
}

// TestRateLimit: a token bucket per client address, on the injected clock.
func TestRateLimit(t *testing.T) {
	e := newTEnv(t, func(o *Options) { o.Rate, o.Burst, o.MissesBeforeChallenge = 1, 3, 100 })
	path := "/verify/q/" + e.tok
	for i := range 3 {
		if w, _ := e.get(path, true); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	if w, a := e.get(path, true); w.Code != 429 || w.Header().Get("Retry-After") == "" || a.Found {
		t.Fatalf("4th request: %d", w.Code)
	}
	e.addr = "198.51.100.9" // another client is not limited
	if w, _ := e.get(path, true); w.Code != 200 {
		t.Fatalf("other client: %d", w.Code)
	}
	e.addr = "203.0.113.7"
	e.clk.Add(time.Second)
	if w, _ := e.get(path, true); w.Code != 200 {
		t.Fatalf("after a second: %d", w.Code)
	}
	if w, _ := e.get(path, true); w.Code != 429 {
		t.Fatalf("bucket should be empty again: %d", w.Code)
	}
}

// TestChallengeAfterMisses: after repeated misses a lookup by number needs
// the answer to a signed challenge, which is single use and bound to the
// client address.
func TestChallengeAfterMisses(t *testing.T) {
	e := newTEnv(t, func(o *Options) { o.MissesBeforeChallenge, o.Burst = 2, 100 })
	good := "/verify?country=IN&number=IN-AI-2026-MUM-0001"
	for i := range 2 {
		if w, _ := e.get("/verify?country=IN&number=GUESS-"+strconv.Itoa(i), true); w.Code != 404 {
			t.Fatalf("miss %d: %d", i, w.Code)
		}
	}
	w, a := e.get(good, true)
	if w.Code != 428 || a.Challenge == nil || a.Found {
		t.Fatalf("no challenge after misses: %d %s", w.Code, w.Body)
	}
	answer := solve(t, a.Challenge.Question)
	if w, a2 := e.get(good+"&challenge="+a.Challenge.ID+"&answer="+strconv.Itoa(answer+1), true); w.Code != 428 || a2.Challenge == nil {
		t.Fatalf("wrong answer: %d", w.Code)
	}
	e.addr = "198.51.100.9"
	if w, _ := e.get(good+"&challenge="+a.Challenge.ID+"&answer="+strconv.Itoa(answer), true); w.Code != 200 {
		t.Fatalf("another client without misses needs no challenge: %d", w.Code)
	}
	e.addr = "203.0.113.7"
	if w, a2 := e.get(good+"&challenge="+a.Challenge.ID+"&answer="+strconv.Itoa(answer), true); w.Code != 200 || !a2.Found {
		t.Fatalf("right answer: %d %s", w.Code, w.Body)
	}
	if w, _ := e.get(good+"&challenge="+a.Challenge.ID+"&answer="+strconv.Itoa(answer), true); w.Code != 428 {
		t.Fatalf("reused challenge: %d", w.Code)
	}
	// The HTML form carries the question.
	w, _ = e.get(good, false)
	if w.Code != 428 || !strings.Contains(w.Body.String(), `name="challenge"`) || !strings.Contains(w.Body.String(), "What is") {
		t.Fatalf("form challenge: %s", w.Body)
	}
	// An expired challenge is refused; misses are forgotten after the window.
	_, a = e.get(good, true)
	e.clk.Add(challengeTTL + time.Second)
	if w, _ := e.get(good+"&challenge="+a.Challenge.ID+"&answer="+strconv.Itoa(solve(t, a.Challenge.Question)), true); w.Code != 428 {
		t.Fatalf("expired challenge: %d", w.Code)
	}
	e.clk.Add(time.Hour)
	if w, _ := e.get(good, true); w.Code != 200 {
		t.Fatalf("after the window: %d", w.Code)
	}
}

func solve(t *testing.T, q string) int {
	m := regexp.MustCompile(`What is (\d+) \+ (\d+)\?`).FindStringSubmatch(q)
	if m == nil {
		t.Fatalf("question %q", q)
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return a + b
}

// TestLookupLogs: every lookup is logged with a hashed client and its
// result, never with the address or party data.
func TestLookupLogs(t *testing.T) {
	e := newTEnv(t, nil)
	e.get("/verify?country=IN&number=IN-AI-2026-MUM-0001", false)
	e.get("/verify?country=IN&number=NOPE", true)
	e.get("/verify/q/"+e.tok, true)
	logs := e.logs.String()
	if strings.Count(logs, `"msg":"verify lookup"`) != 3 || !strings.Contains(logs, `"result":"not-found"`) || !strings.Contains(logs, `"via":"qr"`) {
		t.Fatalf("logs: %s", logs)
	}
	for _, never := range []string{"203.0.113.7", "Deccan", "Hai Phong", e.tok} {
		if strings.Contains(logs, never) {
			t.Errorf("logs contain %q", never)
		}
	}
}
