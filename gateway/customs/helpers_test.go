package customs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	pkiOnce sync.Once
	pkiVal  *certs.DevPKI
	pkiErr  error
)

// testPKI is one development PKI for the package's tests (made once).
func testPKI(t testing.TB) *certs.DevPKI {
	pkiOnce.Do(func() {
		pkiVal, pkiErr = certs.NewDevPKI(certs.PKIOptions{Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Name: "customs test"})
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

// env is a customs service over a fresh store.
type env struct {
	t     testing.TB
	db    *store.DB
	clock *testClock
	svc   *Service
	srv   *httptest.Server
	pki   *certs.DevPKI
	reg   *prometheus.Registry
	// tokens per scope set, keyed by the joined scopes
	tokens map[string]string
}

type envOpt func(*Options)

// envViewMemory is the check view index of the test stores (a serving
// node has one): the checks of these tests read their views through it.
var envViewMemory = 256 << 20

func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	pki := testPKI(t)
	clk := &testClock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	db, err := store.Open(filepath.Join(t.TempDir(), "eco.db"), store.Options{Clock: clk.Now, ViewMemory: envViewMemory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.WaitViewIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := Options{
		Country: "VN", Store: db.Customs(), Inbox: db.Inbox(), Clock: clk.Now, Audit: db.Audit(), Metrics: reg,
		Tokens:        &certs.TokenIssuer{Key: pki.Receipt.Key, Issuer: "https://customs.test", TTL: 5 * time.Minute, Now: clk.Now},
		TokenVerifier: &certs.TokenVerifier{Key: pki.Receipt.Cert.PublicKey, Issuer: "https://customs.test", Audience: "ecogate-customs", Now: clk.Now},
		Signer: signerFunc(func(_ context.Context, doc []byte) ([]byte, error) {
			return (&certs.Signer{Key: pki.SignerECDSA.Key, Chain: []*x509.Certificate{pki.SignerECDSA.Cert, pki.Intermediate.Cert}}).Sign(doc)
		}),
	}
	for _, f := range opts {
		f(&o)
	}
	svc, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Routes())
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, clock: clk, svc: svc, srv: srv, pki: pki, reg: reg, tokens: map[string]string{}}
}

type signerFunc func(ctx context.Context, doc []byte) ([]byte, error)

func (f signerFunc) Sign(ctx context.Context, doc []byte) ([]byte, error) { return f(ctx, doc) }

// addClient registers a client with scopes and returns id and secret.
func (e *env) addClient(scopes ...string) (string, string) {
	e.t.Helper()
	id, secret, hash := NewClientCredentials()
	if err := e.db.Customs().AddClient(context.Background(), store.CustomsClient{ID: id, Name: "test", SecretHash: hash, Scopes: scopes}); err != nil {
		e.t.Fatal(err)
	}
	return id, secret
}

// token returns a bearer token holding scopes.
func (e *env) token(scopes ...string) string {
	e.t.Helper()
	k := strings.Join(scopes, " ")
	if tok, ok := e.tokens[k]; ok {
		return tok
	}
	id, secret := e.addClient(scopes...)
	resp, body := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, "")
	if resp.StatusCode != 200 {
		e.t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		e.t.Fatal(err)
	}
	e.tokens[k] = tr.AccessToken
	return tr.AccessToken
}

func (e *env) postForm(path string, form url.Values, basic string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		id, secret, _ := strings.Cut(basic, ":")
		req.SetBasicAuth(id, secret)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp, buf.Bytes()
}

// call sends a JSON body (any or raw string) with a bearer token.
func (e *env) call(method, path, token string, body any) (*http.Response, []byte) {
	e.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

func (e *env) check(req any) (int, CheckResult, []byte) {
	e.t.Helper()
	resp, body := e.call("POST", "/customs/v1/checks", e.token(ScopeCheck), req)
	var res CheckResult
	_ = json.Unmarshal(body, &res)
	return resp.StatusCode, res, body
}

// testCert is the sample AIFTA certificate from IN to VN with four goods
// items: 1 meat 54000 KGM, 2 coffee 1000 KGM, 3 wine 500 LTR, 4 shoes 100 PR.
func testCert(t testing.TB, number string) *schema.Certificate {
	t.Helper()
	b, err := os.ReadFile("testdata/sample-aifta.xml")
	if err != nil {
		t.Fatal(err)
	}
	c, fs := schema.DecodeXML(b, schema.DecodeOptions{})
	if c == nil {
		t.Fatal(fs)
	}
	c.Header.ID = number
	c.Consignment.Importer.IDs = []schema.Identifier{{SchemeID: "VN-TIN", Value: "0201234567"}}
	base := c.Consignment.Items[0]
	mk := func(seq int, hs, desc, v, unit string) schema.GoodsItem {
		it := base
		it.SequenceNumber = seq
		it.Product.HSCode, it.Product.Description, it.Product.NationalTariffCode = hs, desc, ""
		it.Quantity = schema.Measure{Value: schema.Decimal(v), UnitCode: unit}
		return it
	}
	c.Consignment.Items = append(c.Consignment.Items,
		mk(2, "090111", "Coffee, not roasted", "1000", "KGM"),
		mk(3, "220421", "Wine of fresh grapes", "500", "LTR"),
		mk(4, "640399", "Footwear, leather uppers", "100", "PR"))
	return c
}

var validReport = certs.Report{{Check: "signature", Status: certs.StatusValid, Reason: "ok"}}

// storeView stores a certificate's view the eager way, as received from
// its export country's partner.
func (e *env) storeView(c *schema.Certificate, report certs.Report) {
	e.t.Helper()
	if err := e.svc.StoreView(context.Background(), c.Header.ExportCountry, c, report); err != nil {
		e.t.Fatal(err)
	}
}

func item(seq int, hs, v, unit string) DeclaredItem {
	return DeclaredItem{SequenceNumber: seq, HSCode: hs, Quantity: &Quantity{Value: v, UnitCode: unit}}
}

type x509Cert = x509.Certificate

func mustReq(method, url string) *http.Request {
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// advance moves the clock and forgets tokens that may have expired.
func (e *env) advance(d time.Duration) {
	e.clock.Add(d)
	e.tokens = map[string]string{}
}

// counter returns the value of a counter with one label.
func (e *env) counter(name, label, value string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
