package portal_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/qrsign"
	"github.com/ecogate/ecogate/store"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeIsu stands for the issuance service: it refuses, as the service
// does, an actor of another organisation (the service's own checks are
// tested in issuance).
type fakeIsu struct{ facts *issuance.CertificateFacts }

func (f *fakeIsu) PortalDashboard(ctx context.Context, a issuance.Actor) (*issuance.Dashboard, error) {
	d := &issuance.Dashboard{Actor: a, Person: &issuance.Person{ID: a.ID, Name: "Person " + a.ID, Role: a.Role}}
	switch a.Role {
	case issuance.RoleExporterAdmin, issuance.RoleApplicant:
		d.Org = "0123456789"
		d.ByState = []issuance.StateCount{{State: issuance.StateDraft, Count: 2}, {State: issuance.StateIssued, Count: 1}}
		d.Wallets = []issuance.WalletBalance{{Office: "MUM", Name: "EIC Mumbai", Currency: "INR", Balance: 123450}}
		d.Recent = []*issuance.Application{f.facts.Application}
	case issuance.RoleOfficer:
		d.Org = "EIC"
		d.Queue = []*issuance.Application{{ID: "app-9", IEC: "0123456789", State: issuance.StateSubmitted, Submitted: t0}}
		d.Offices = []*issuance.Office{f.facts.Office}
	case issuance.RoleAgencyAdmin:
		d.Org = "EIC"
		d.Offices = []*issuance.Office{f.facts.Office}
	}
	return d, nil
}

func (f *fakeIsu) CertificateFacts(ctx context.Context, a issuance.Actor, id string) (*issuance.CertificateFacts, error) {
	if id != f.facts.Application.ID {
		return nil, fmt.Errorf("application %s: %w", id, issuance.ErrNotFound)
	}
	if a.Role != issuance.RoleExporterAdmin && a.Role != issuance.RoleOfficer {
		return nil, fmt.Errorf("a %s may not see it: %w", a.Role, issuance.ErrForbidden)
	}
	return f.facts, nil
}

// register is an in-memory register of issued certificates.
type register struct{ m map[string]*store.IssuedCert }

func (r *register) Get(ctx context.Context, n string) (*store.IssuedCert, error) {
	if c, ok := r.m[n]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

func (r *register) ByToken(ctx context.Context, tok string) (*store.IssuedCert, error) {
	for _, c := range r.m {
		if c.Token == tok {
			return c, nil
		}
	}
	return nil, store.ErrNotFound
}

func sampleFacts() *issuance.CertificateFacts {
	app := &issuance.Application{ID: "app-1", Kind: issuance.KindOriginal, IEC: "0123456789", State: issuance.StateIssued,
		Certificate: "EIC/MUM/2026/000042", Reviewer: "officer1", Submitted: t0.Add(-48 * time.Hour), Issued: t0,
		Content: issuance.Content{Agreement: "AIFTA", Agency: "EIC", Office: "MUM", ImportingCountry: "VN",
			InvoiceNumber: "INV-2026-77", InvoiceDate: "2026-02-27", Currency: "INR",
			Consignee: issuance.Party{Name: "Saigon Trading JSC", Address: "12 Le Loi, District 1, Ho Chi Minh City", Country: "VN"},
			Transport: issuance.Transport{Mode: "1", Vessel: "MV Ganga Star", PortLoading: "INNSA", PortDischarge: "VNSGN", DepartureDate: "2026-03-06"},
			Goods: []issuance.GoodsLine{
				{HS: "85044010", Description: "Static converters for telecom", Quantity: "1200", Unit: "NAR", Packages: 40, PackageType: "CT", Marks: "SGT/01-40", FOB: 4560000, Criterion: "RVC 40%"},
				{HS: "39269099", Description: "Plastic cable clips", Quantity: "850.5", Unit: "KGM", Packages: 12, PackageType: "BG", Marks: "SGT/41-52", FOB: 98000, Criterion: "CTH"},
			},
			Declaration: issuance.Declaration{Place: "Mumbai", Name: "Asha Rao", Designation: "Director"},
			Remarks:     "Shipment in two containers"}}
	return &issuance.CertificateFacts{Application: app,
		Exporter: &issuance.Exporter{IEC: "0123456789", Name: "Alpha Exports Pvt Ltd", Address: "12 Marine Drive, Mumbai", GSTIN: "27AAACE1234F1Z6"},
		Agency:   &issuance.Agency{ID: "EIC", Name: "Export Inspection Council"},
		Office:   &issuance.Office{ID: "MUM", Agency: "EIC", Name: "EIC Mumbai", Address: "Mumbai office", Currency: "INR", EWallet: true},
		Officer:  &issuance.Person{ID: "officer1", Name: "Officer One", Role: issuance.RoleOfficer}}
}

// world is a portal on a real bbolt store with one user per role.
type world struct {
	t     testing.TB
	clock *clock
	db    *store.DB
	srv   *portal.Server
	ts    *httptest.Server
	base  string // http://localhost:PORT
	pki   *certs.DevPKI
	facts *issuance.CertificateFacts
	reg   *register
}

const password = "correct horse battery"

var users = []struct{ name, role, person string }{
	{"alpha-admin", "exporter-admin", "alpha-admin@example.in"},
	{"alpha-clerk", "applicant", "alpha-clerk@example.in"},
	{"eic-admin", "agency-admin", "eic-admin@example.in"},
	{"officer1", "officer", "officer1"},
	{"operator", "operator", "operator"},
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, clock: &clock{t: t0}, facts: sampleFacts()}
	db, err := store.Open(filepath.Join(t.TempDir(), "node.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.db = db
	hash, err := portal.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := db.Portal().PutUser(context.Background(), &store.PortalUser{Name: u.name, Hash: hash, Person: u.person, Role: u.role, Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if w.pki, err = certs.NewDevPKI(certs.PKIOptions{Now: t0}); err != nil {
		t.Fatal(err)
	}
	qs, err := qrsign.NewSigner(w.pki.QR.Key, w.pki.QR.Cert)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]any{"number": w.facts.Application.Certificate, "country": "IN", "issueDate": "2026-03-04",
		"exporter": w.facts.Exporter.Name, "issuer": "Export Inspection Council",
		"items": []map[string]string{{"description": "Static converters for telecom", "hsCode": "850440"}, {"description": "Plastic cable clips", "hsCode": "392690"}}})
	w.reg = &register{m: map[string]*store.IssuedCert{w.facts.Application.Certificate: {Country: "IN", Number: w.facts.Application.Certificate,
		Version: 1, Token: "AbCdEfGhIjKlMnOpQrStUv", Status: store.CertIssued, Data: data}}}
	w.ts = httptest.NewUnstartedServer(nil)
	w.base = "http://localhost:" + strconv.Itoa(w.ts.Listener.Addr().(*net.TCPAddr).Port)
	w.srv, err = portal.New(portal.Options{Name: "ecogate IN (test)", Store: db.Portal(), Issuance: &fakeIsu{facts: w.facts}, QR: qs,
		Verify: verify.Options{Country: "IN", Issuer: "Export Inspection Council", Register: w.reg, BaseURL: w.base,
			QR: w.qrVerifier(), Rate: 1000, Burst: 1000},
		Clock: w.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	w.ts.Config.Handler = w.srv.Handler()
	w.ts.Start()
	t.Cleanup(w.ts.Close)
	return w
}

// qrVerifier is the offline check a partner makes: the issuer's anchors
// (root, with the intermediate) and its QR certificate.
func (w *world) qrVerifier() *qrsign.Verifier {
	return &qrsign.Verifier{Certs: []*x509.Certificate{w.pki.QR.Cert},
		Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{w.pki.Root.Cert}, ExtraIntermediates: []*x509.Certificate{w.pki.Intermediate.Cert}}}
}

// client is a Go HTTP client that keeps the portal's cookies by hand
// (net/http/cookiejar sends Secure cookies over https only).
type client struct {
	w       *world
	cookies map[string]string
}

func (w *world) client() *client { return &client{w: w, cookies: map[string]string{}} }

func (c *client) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	c.w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.w.base+path, body)
	if err != nil {
		c.w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		c.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// login signs in as user and returns the client.
func (w *world) login(user string) *client {
	w.t.Helper()
	c := w.client()
	_, page := c.do("GET", "/login", nil, nil)
	resp, body := c.do("POST", "/login", url.Values{"csrf": {csrfOf(w.t, page)}, "user": {user}, "password": {password}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
		w.t.Fatalf("login %s: %d %s", user, resp.StatusCode, body)
	}
	return c
}
