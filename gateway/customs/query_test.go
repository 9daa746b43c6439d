package customs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/store"
)

type jwsSigner struct{ kc certs.KeyCert }

func (s jwsSigner) SignJWS(p []byte) ([]byte, error) {
	return certs.SignJWS(p, s.kc.Key, []*x509.Certificate{s.kc.Cert})
}

type issuerMap map[string]IssuerNode

func (m issuerMap) IssuerNode(c string) (IssuerNode, bool) { n, ok := m[c]; return n, ok }

// fakeIssuer is an issuing node (IN) answering verification queries over
// mutual TLS on loopback.
type fakeIssuer struct {
	srv     *httptest.Server
	db      *store.DB
	queries atomic.Int32
	slow    atomic.Bool
}

func newFakeIssuer(t *testing.T, pki *certs.DevPKI, clk *testClock) *fakeIssuer {
	db, err := store.Open(filepath.Join(t.TempDir(), "issuer.db"), store.Options{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := RegisterIssued(context.Background(), db.Issued(), testCert(t, certNo)); err != nil {
		t.Fatal(err)
	}
	fi := &fakeIssuer{db: db}
	partnerOf := func(r *http.Request) string {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			return "VN" // the registry would map the client certificate
		}
		return ""
	}
	h := QueryHandler("IN", db.Issued(), jwsSigner{pki.Receipt}, clk.Now, partnerOf, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /eco/v1/verification-queries", func(w http.ResponseWriter, r *http.Request) {
		fi.queries.Add(1)
		if fi.slow.Load() {
			// The answer comes after the asker's deadline (on the
			// injected clock): a whole, valid, signed answer, but late.
			clk.Add(time.Minute)
		}
		h.ServeHTTP(w, r)
	})
	pool := x509.NewCertPool()
	pool.AddCert(pki.Root.Cert)
	fi.srv = httptest.NewUnstartedServer(mux)
	fi.srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{pki.TLSServer.Cert.Raw}, PrivateKey: pki.TLSServer.Key, Leaf: pki.TLSServer.Cert}}}
	fi.srv.StartTLS()
	t.Cleanup(fi.srv.Close)
	return fi
}

func clientTLS(pki *certs.DevPKI, withCert bool) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(pki.Root.Cert)
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if withCert {
		c.Certificates = []tls.Certificate{{Certificate: [][]byte{pki.TLSClient.Cert.Raw}, PrivateKey: pki.TLSClient.Key, Leaf: pki.TLSClient.Cert}}
	}
	return c
}

// TestVerificationQuery: a certificate not stored here is asked of the
// issuing node over mutual TLS; its signed answer decides the verdict, is
// cached, and infrastructure failures are TIMEOUT/UNAVAILABLE, never
// NOT_FOUND; an answer that does not verify is UNTRUSTED.
func TestVerificationQuery(t *testing.T) {
	pki := testPKI(t)
	var issuer *fakeIssuer
	var clk *testClock
	trust := &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert}}
	otherPKI, err := certs.NewDevPKI(certs.PKIOptions{Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Name: "someone else"})
	if err != nil {
		t.Fatal(err)
	}
	dir := issuerMap{}
	e := newEnv(t, func(o *Options) {
		clk = &testClock{}
		// The deadline is judged on the injected clock; the real-time
		// bound (the request's context) is far away so that a busy
		// machine never turns an answer into TIMEOUT.
		qc := NewQueryClient(clientTLS(pki, true), dir, nil, 30*time.Second)
		qc.Now = func() time.Time { return o.Clock() }
		o.Query = qc
	})
	e.svc.opt.Query.Cache = e.db.Customs()
	clk = e.clock
	issuer = newFakeIssuer(t, pki, clk)
	dir["IN"] = IssuerNode{Endpoint: issuer.srv.URL + "/eco/v1", Trust: trust}

	// 1. Not stored: asked, AUTHENTIC from the signed answer.
	_, res, body := e.check(baseReq(item(2, "090111", "10", "KGM")))
	if res.Verdict != Authentic || res.Verification.Source != "issuer-query" || issuer.queries.Load() != 1 {
		t.Fatalf("first check: %s (queries %d)", body, issuer.queries.Load())
	}
	// 2. The answer is cached (in the store, signed) and the view stored:
	// no second query.
	if tok, _, err := e.db.Customs().QueryAnswer(context.Background(), "IN", certNo); err != nil || strings.Count(string(tok), ".") != 2 {
		t.Fatalf("cached answer: %v", err)
	}
	if _, res, body := e.check(baseReq(item(2, "090111", "10", "KGM"))); res.Verdict != Authentic || issuer.queries.Load() != 1 {
		t.Fatalf("second check: %s (queries %d)", body, issuer.queries.Load())
	}
	// A decision can use the certificate known from the answer.
	if st, body := e.decide("Q-1", given(2, "10", "KGM")); st != 201 {
		t.Fatalf("decision on a queried certificate: %d %s", st, body)
	}
	// 3. Unknown at the issuer: NOT_FOUND, and the negative answer is cached.
	nf := baseReq(item(1, "020230", "1", "KGM"))
	nf.CertificateNumber = "IN-UNKNOWN-1"
	if _, res, body := e.check(nf); res.Verdict != NotFound || issuer.queries.Load() != 2 {
		t.Fatalf("unknown: %s", body)
	}
	if _, res, _ := e.check(nf); res.Verdict != NotFound || issuer.queries.Load() != 2 {
		t.Fatalf("unknown again asked the issuer (queries %d)", issuer.queries.Load())
	}
	// 4. The issuer withdraws; after the cache's TTL the check asks again.
	if _, err := issuer.db.Issued().SetStatus(context.Background(), certNo, store.CertWithdrawn, ""); err != nil {
		t.Fatal(err)
	}
	e.advance(6 * time.Minute)
	if _, res, body := e.check(baseReq(item(2, "090111", "10", "KGM"))); res.Verdict != Withdrawn || issuer.queries.Load() != 3 {
		t.Fatalf("after TTL: %s (queries %d)", body, issuer.queries.Load())
	}
	// 5. The issuer answers after the deadline: TIMEOUT (503), not
	// NOT_FOUND, and the late answer is not cached.
	issuer.slow.Store(true)
	e.advance(6 * time.Minute)
	st, res, body := e.check(baseReq(item(2, "090111", "10", "KGM")))
	if st != 503 || res.Verdict != Timeout {
		t.Fatalf("timeout: %d %s", st, body)
	}
	issuer.slow.Store(false)
	// 6. No partner node for the country: UNAVAILABLE.
	th := baseReq(item(2, "090111", "10", "KGM"))
	th.ExportCountry = "TH"
	if st, res, body := e.check(th); st != 503 || res.Verdict != Unavailable {
		t.Fatalf("no partner: %d %s", st, body)
	}
	// 7. An answer signed by a key the partner's anchors do not cover: UNTRUSTED.
	dir["IN"] = IssuerNode{Endpoint: issuer.srv.URL + "/eco/v1", Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{otherPKI.Root.Cert}}}
	e.advance(6 * time.Minute)
	if st, res, body := e.check(baseReq(item(2, "090111", "10", "KGM"))); st != 200 || res.Verdict != Untrusted {
		t.Fatalf("untrusted answer: %d %s", st, body)
	}
}

// TestVerificationQueryNeedsClientCert: without a client certificate the
// issuer refuses the connection, and the check says UNAVAILABLE.
func TestVerificationQueryNeedsClientCert(t *testing.T) {
	pki := testPKI(t)
	dir := issuerMap{}
	e := newEnv(t, func(o *Options) { o.Query = NewQueryClient(clientTLS(pki, false), dir, nil, time.Second) })
	issuer := newFakeIssuer(t, pki, e.clock)
	dir["IN"] = IssuerNode{Endpoint: issuer.srv.URL + "/eco/v1", Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert}}}
	if st, res, body := e.check(baseReq(item(2, "090111", "10", "KGM"))); st != 503 || res.Verdict != Unavailable || issuer.queries.Load() != 0 {
		t.Fatalf("no client certificate: %d %s", st, body)
	}
}

// TestQueryHandlerBadRequest: a malformed query is 400.
func TestQueryHandlerBadRequest(t *testing.T) {
	pki := testPKI(t)
	e := newEnv(t)
	h := QueryHandler("IN", e.db.Issued(), jwsSigner{pki.Receipt}, nil, nil, nil)
	for _, body := range []string{``, `{"number":"x"}`, `{"certificateNumber":""}`,
		// strict JSON (issue 10, item 6)
		`{"certificateNumber":"` + certNo + `","certificateNumber":"IN-OTHER"}`, `{"certificateNumber":"` + certNo + `"} {}`,
		"{\"certificateNumber\":\"" + certNo + "\xff\"}", `{"CertificateNumber":"` + certNo + `"}`} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/eco/v1/verification-queries", strings.NewReader(body)))
		if w.Code != 400 {
			t.Errorf("%q: %d", body, w.Code)
		}
	}
}

// TestQueryAnswerOnlyForTheImportCountry: the issuer gives a certificate's
// data only to the partner it was issued for; its answers are signed.
func TestQueryAnswerOnlyForTheImportCountry(t *testing.T) {
	pki := testPKI(t)
	e := newEnv(t)
	if _, err := RegisterIssued(context.Background(), e.db.Issued(), testCert(t, certNo)); err != nil {
		t.Fatal(err)
	}
	trust := &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert}}
	for _, tc := range []struct {
		asker string
		found bool
	}{{"VN", true}, {"TH", false}, {"", true}} {
		h := QueryHandler("IN", e.db.Issued(), jwsSigner{pki.Receipt}, e.clock.Now, func(*http.Request) string { return tc.asker }, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(`{"certificateNumber":"`+certNo+`"}`)))
		payload, _, err := certs.VerifyJWS(w.Body.Bytes(), trust, e.clock.Now())
		if err != nil || w.Header().Get("Content-Type") != "application/jose" {
			t.Fatalf("%s: %v", tc.asker, err)
		}
		var a QueryAnswer
		if err := json.Unmarshal(payload, &a); err != nil {
			t.Fatal(err)
		}
		if a.Found != tc.found || (a.Certificate != nil) != tc.found || a.RequestedBy != tc.asker {
			t.Errorf("asked by %q: %s", tc.asker, payload)
		}
	}
}

// roundTrip is an in-process transport.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestQueryLateAnswerIsTimeout: an answer that arrives after the query's
// deadline is TIMEOUT whether or not it verifies; only an answer in time
// that does not verify is UNTRUSTED (issue 10, item 10). The deadline is
// read from the injected clock: nothing here waits.
func TestQueryLateAnswerIsTimeout(t *testing.T) {
	pki := testPKI(t)
	other, err := certs.NewDevPKI(certs.PKIOptions{Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Name: "not the issuer"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	if _, err := RegisterIssued(context.Background(), e.db.Issued(), testCert(t, certNo)); err != nil {
		t.Fatal(err)
	}
	answer := func(signer certs.KeyCert) []byte {
		w := httptest.NewRecorder()
		QueryHandler("IN", e.db.Issued(), jwsSigner{signer}, e.clock.Now, nil, nil).ServeHTTP(w,
			httptest.NewRequest("POST", "/eco/v1/verification-queries", strings.NewReader(`{"certificateNumber":"`+certNo+`"}`)))
		if w.Code != 200 {
			t.Fatalf("answer: %d %s", w.Code, w.Body)
		}
		return w.Body.Bytes()
	}
	good, forged := answer(pki.Receipt), answer(other.Receipt)
	const timeout = 2 * time.Second
	for _, tc := range []struct {
		name  string
		delay time.Duration // on the injected clock
		body  []byte
		err   error // from the transport
		want  string
	}{
		{"in time, verifies", 0, good, nil, ""},
		{"just in time", timeout, good, nil, ""},
		{"late, verifies", timeout + time.Millisecond, good, nil, Timeout},
		{"late, does not verify", time.Minute, forged, nil, Timeout},
		{"late, cut short", time.Minute, good[:len(good)/2], nil, Timeout},
		{"in time, does not verify", 0, forged, nil, Untrusted},
		{"transport deadline", 0, nil, context.DeadlineExceeded, Timeout},
		{"transport error", 0, nil, errors.New("connection refused"), Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &testClock{t: e.clock.Now()}
			qc := &QueryClient{Timeout: timeout, Now: clk.Now,
				Issuers: issuerMap{"IN": {Endpoint: "https://in.example/eco/v1", Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert}}}},
				HTTP: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
					clk.Add(tc.delay)
					if tc.err != nil {
						return nil, tc.err
					}
					return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(string(tc.body))), Header: http.Header{}, Request: r}, nil
				})}}
			ans, err := qc.Ask(context.Background(), "IN", certNo, "")
			var le *lookupError
			switch {
			case tc.want == "" && (err != nil || !ans.Found):
				t.Fatalf("want the answer, got %v", err)
			case tc.want != "" && (!errors.As(err, &le) || le.verdict != tc.want):
				t.Fatalf("want %s, got %v (%+v)", tc.want, err, ans)
			}
		})
	}
}
