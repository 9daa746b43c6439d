package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/pgtest"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/store"
)

var portalCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// portalClient keeps the portal's cookies by hand (they are Secure;
// net/http/cookiejar sends them over https only) and follows no redirect.
type portalClient struct {
	t       *testing.T
	cookies map[string]string
}

func (c *portalClient) do(base, method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		c.cookies[ck.Name] = ck.Value
	}
	return resp, string(b)
}

func (c *portalClient) csrf(page string) string {
	c.t.Helper()
	m := portalCSRF.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// TestPortalReplicasOnPostgres opens two IN replicas with listen.portal on
// one PostgreSQL database (Config.Open, as `ecogate serve` does): a login
// made on one replica is a session on the other (no session affinity
// needed), a logout on the second ends it on the first, and a stamp image
// stored through one replica's issuance service is read by the other's.
func TestPortalReplicasOnPostgres(t *testing.T) {
	dir := t.TempDir()
	sites := []devsite.Site{
		{Country: "IN", Name: "India (dev)", PartnerAddr: "127.0.0.1:1", LocalAddr: "127.0.0.1:2", Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam (dev)", PartnerAddr: "127.0.0.1:3", LocalAddr: "127.0.0.1:4", Dir: filepath.Join(dir, "vn")},
	}
	if err := devsite.Write(sites, devRetry); err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.DSN(t)
	var bases []string
	var insts []*Instance
	for range 2 {
		c, err := LoadConfig(sites[0].ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		c.Store.Engine, c.Store.DSN, c.Store.Migrate = EnginePostgres, dsn, true
		c.Issuance.Enabled, c.Issuance.Operators = true, []string{"op1"}
		c.Listen.Portal = "127.0.0.1:0"
		inst, err := c.Open(testLogger(t))
		if err != nil {
			t.Fatalf("open a replica with listen.portal on postgres: %v", err)
		}
		t.Cleanup(func() { inst.Close() })
		if inst.Portal == nil || inst.PG == nil || inst.DB != nil {
			t.Fatalf("replica: portal %v, PG %v, DB %v", inst.Portal != nil, inst.PG != nil, inst.DB != nil)
		}
		srv := httptest.NewServer(inst.Portal.Handler())
		t.Cleanup(srv.Close)
		bases = append(bases, srv.URL)
		insts = append(insts, inst)
	}
	ctx := context.Background()
	hash, err := portal.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := insts[0].Engine.Portal.PutUser(ctx, &store.PortalUser{Name: "operator", Hash: hash, Person: "op1", Role: "operator", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c := &portalClient{t: t, cookies: map[string]string{}}
	_, page := c.do(bases[0], "GET", "/login", nil)
	resp, body := c.do(bases[0], "POST", "/login", url.Values{"csrf": {c.csrf(page)}, "user": {"operator"}, "password": {"correct horse battery"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login on replica A: %d %s", resp.StatusCode, body)
	}
	resp, page = c.do(bases[1], "GET", "/dashboard", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard on replica B with A's session: %d (want 200)", resp.StatusCode)
	}
	resp, _ = c.do(bases[1], "POST", "/logout", url.Values{"csrf": {c.csrf(page)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout on replica B: %d", resp.StatusCode)
	}
	resp, _ = c.do(bases[0], "GET", "/dashboard", nil)
	if resp.StatusCode == http.StatusOK {
		t.Fatal("replica A still serves the session ended on replica B")
	}
	// A wrong password is refused on either replica.
	c2 := &portalClient{t: t, cookies: map[string]string{}}
	_, page = c2.do(bases[1], "GET", "/login", nil)
	if resp, _ := c2.do(bases[1], "POST", "/login", url.Values{"csrf": {c2.csrf(page)}, "user": {"operator"}, "password": {"wrong password!!"}}); resp.StatusCode == http.StatusSeeOther {
		t.Fatal("a wrong password logged in")
	}
	// The stamp printed on certificate PDFs: stored through replica A's
	// engine, read by replica B's issuance service (before, the
	// PostgreSQL engine kept no images and the PDF failed).
	err = insts[0].Engine.Issuance.Update(ctx, func(tx issuance.Tx) error {
		return tx.(issuance.ImageTx).PutImage(&issuance.Image{Kind: issuance.ImageStamp, Owner: "MUM", ContentType: "image/png"}, []byte("stamp"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if sig, stamp, err := insts[1].Issuance.CertificateImages(ctx, "off1", "MUM"); err != nil || sig != nil || string(stamp) != "stamp" {
		t.Fatalf("images on replica B: sig %q stamp %q %v", sig, stamp, err)
	}
}
