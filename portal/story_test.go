package portal_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/testenv"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/qrsign"
	"github.com/ecogate/ecogate/store"
)

const (
	stIEC     = "AAACE1234F"
	stOp      = "op@in.example"
	stAdmin   = "admin@alpha.example"
	stAgAdmin = "admin@eic.example"
	stOfficer = "officer@eic.example"
)

// story is two development nodes, IN and VN, run from their
// configuration files as `ecogate serve` runs them, IN with the issuance
// workflow and the portal on listen.portal.
type story struct {
	t        *testing.T
	in, vn   *gateway.Instance
	inDir    string
	portal   string // http://localhost:PORT
	public   string // IN's public page
	local    string // IN's local API
	ctx      context.Context
	text     string
	location string
}

func newStory(t *testing.T) *story {
	t.Helper()
	dir := t.TempDir()
	var lns []net.Listener
	addr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		return ln.Addr().String()
	}
	sites := []devsite.Site{
		{Country: "IN", Name: "India (dev)", PartnerAddr: addr(), LocalAddr: addr(), CustomsAddr: addr(), PublicAddr: addr(), Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam (dev)", PartnerAddr: addr(), LocalAddr: addr(), CustomsAddr: addr(), PublicAddr: addr(), Dir: filepath.Join(dir, "vn")},
	}
	portalAddr := addr()
	if err := devsite.Write(sites, devsite.Retry{Attempts: 20, InitialInterval: time.Second, MaxInterval: 2 * time.Second, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s := &story{t: t, inDir: sites[0].Dir, portal: "http://localhost:" + strconv.Itoa(lns[8].Addr().(*net.TCPAddr).Port),
		public: "http://" + sites[0].PublicAddr, local: "http://" + sites[0].LocalAddr}
	reg := filepath.Join(s.inDir, "registry.yaml")
	if err := os.WriteFile(reg, []byte("exporters:\n  - {iec: "+stIEC+", name: Alpha Exports Pvt Ltd, address: '12 Marine Drive, Mumbai', gstin: 27AAACE1234F1Z6}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sites[0].ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("listen:\n"), []byte("listen:\n  portal: "+portalAddr+"\n"), 1)
	b = append(b, []byte("\nissuance:\n  enabled: true\n  operators: ["+stOp+"]\n  registry: registry.yaml\n  devGateway: true\n  nodeSigning: true\n"+
		"portal:\n  qrKey: pki/qr-key.pem\n  qrCert: pki/qr-cert.pem\n  loginRate: 100\n  loginBurst: 100\n")...)
	if err := os.WriteFile(sites[0].ConfigPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, site := range sites {
		c, err := gateway.LoadConfig(site.ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		c.Delivery.PollInterval = gateway.Duration(50 * time.Millisecond)
		inst, err := c.Open(nil)
		if err != nil {
			t.Fatal(err)
		}
		ls := gateway.Listeners{Partner: lns[4*i], Local: lns[4*i+1], Customs: lns[4*i+2], Public: lns[4*i+3]}
		if i == 0 {
			ls.Portal = lns[8]
			s.in = inst
		} else {
			s.vn = inst
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- inst.ServeListeners(ctx, ls) }()
		t.Cleanup(func() {
			cancel()
			<-done
			inst.Close()
		})
	}
	if s.in.Portal == nil || s.in.Issuance == nil {
		t.Fatal("the portal is not wired")
	}
	s.seed()
	return s
}

// seed registers the organisations and people through the issuance
// service and gives each a portal login (as `ecogate portal add-user`).
func (s *story) seed() {
	ctx, svc := context.Background(), s.in.Issuance
	op := issuance.Actor{ID: stOp, Role: issuance.RoleOperator}
	ag := issuance.Actor{ID: stAgAdmin, Role: issuance.RoleAgencyAdmin}
	np := func(id, name string) issuance.NewPerson { return issuance.NewPerson{ID: id, Name: name, Email: id} }
	must := func(_ any, err error) {
		s.t.Helper()
		if err != nil {
			s.t.Fatal(err)
		}
	}
	must(svc.RegisterExporter(ctx, op, stIEC, np(stAdmin, "Asha Rao")))
	must(svc.RegisterAgency(ctx, issuance.AgencyRegistration{Agency: "EIC", Name: "Export Inspection Council", Series: "EIC",
		Admin: np(stAgAdmin, "B. Rao"), AuthorisationLetterSHA256: strings.Repeat("ab", 32)}))
	must(nil, svc.ApproveAgency(ctx, op, "EIC"))
	must(svc.PutOffice(ctx, ag, issuance.Office{ID: "MUM", Agency: "EIC", Code: "MUM", Name: "EIC Mumbai", Address: "Mumbai office",
		Currency: "INR", Fees: map[issuance.Kind]int64{issuance.KindOriginal: 50000, issuance.KindDuplicate: 20000}, EWallet: true, MerchantID: "EICMUM", ChecksumKey: "k3y-MUM"}))
	must(svc.RegisterOfficer(ctx, issuance.OfficerRegistration{Agency: "EIC", Office: "MUM", Officer: np(stOfficer, "Officer One")}))
	must(nil, svc.ApproveOfficer(ctx, ag, stOfficer))
	hash, err := portalHash()
	if err != nil {
		s.t.Fatal(err)
	}
	for _, u := range []struct{ name, person, role string }{{"alpha", stAdmin, "exporter-admin"}, {"eic-admin", stAgAdmin, "agency-admin"},
		{"officer", stOfficer, "officer"}, {"operator", stOp, "operator"}} {
		if err := s.in.DB.Portal().PutUser(ctx, &store.PortalUser{Name: u.name, Hash: hash, Person: u.person, Role: u.role, Created: time.Now()}); err != nil {
			s.t.Fatal(err)
		}
	}
}

// run does acts in the browser, then reads main's text and the location.
func (s *story) run(what string, acts ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, acts...); err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	var err error
	for i := 0; i < 30; i++ { // a page still loading answers "no node"
		if s.text, err = chromedp.Run(s.ctx, chromedp.Text("main")); err == nil {
			if s.location, err = chromedp.Run(s.ctx, chromedp.Location()); err == nil {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("%s: %v", what, err)
}

// until does acts, then waits until main's text holds sub (the page
// after a form's POST has loaded).
func (s *story) until(what, sub string, acts ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, acts...); err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	for i := 0; i < 150; i++ {
		txt, err := chromedp.Run(s.ctx, chromedp.Text("main"))
		if err == nil && strings.Contains(txt, sub) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.run(what)
	s.want(what, sub)
}

func (s *story) want(what string, subs ...string) {
	s.t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s.text, sub) {
			s.t.Fatalf("%s: the page (%s) lacks %q:\n%s", what, s.location, sub, s.text)
		}
	}
}

func (s *story) login(user string) {
	s.t.Helper()
	s.run("login "+user, chromedp.Navigate(s.portal+"/login"), chromedp.SendKeys("#user", user), chromedp.SendKeys("#password", password),
		chromedp.Click("button[type=submit]"), chromedp.WaitVisible("form.logout"))
}

func (s *story) logout() {
	s.t.Helper()
	s.run("logout", chromedp.Click("form.logout button"), chromedp.WaitVisible("#password"))
}

func set(name, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(`[name="`+name+`"]`, v)
}

var appIDRE = regexp.MustCompile(`APP\d{9}`)

// TestBrowserStory is the whole story in headless Chromium: an exporter
// files an application with two goods lines and a cost sheet (the RVC
// updates as they type, the server recalculates and validates), attaches
// the invoice, pays through the development gateway; the officer returns
// it with a query, the exporter answers, the officer approves and signs;
// the PDF downloads, its QR payload verifies offline, the public page
// shows the certificate, and VN's node receives it. Then each role is
// refused another role's pages and actions, and CSRF is checked.
func TestBrowserStory(t *testing.T) {
	s := newStory(t)
	s.ctx = browser(t)
	ctx := s.ctx

	// The exporter files.
	s.login("alpha")
	s.want("exporter dashboard", "Asha Rao")
	s.run("new application", chromedp.Navigate(s.portal+"/exporter/applications/new"))
	today := time.Now().UTC().Format(time.DateOnly)
	s.run("fill the shipment and line 1",
		set("agreement", "AIFTA"), set("agency", "EIC"), set("office", "MUM"), set("importingCountry", "VN"),
		set("invoiceNumber", "INV-2026-77"), set("invoiceDate", today), set("currency", "INR"),
		set("consignee.name", "Saigon Trading JSC"), set("consignee.address", "12 Le Loi, District 1, Ho Chi Minh City"), set("consignee.country", "VN"),
		set("transport.mode", "1"), set("transport.vessel", "MV Ganga Star"), set("transport.portLoading", "INNSA"), set("transport.portDischarge", "VNSGN"),
		set("transport.departureDate", today),
		set("goods.0.hs", "02023000"), set("goods.0.description", "Frozen boneless bovine meat"), set("goods.0.quantity", "1000"), set("goods.0.unit", "KGM"),
		set("goods.0.packages", "50"), set("goods.0.packageType", "CT"), set("goods.0.fob", "10000.00"), set("goods.0.criterion", "WO"),
		set("declaration.place", "Mumbai"), set("declaration.name", "Asha Rao"), set("declaration.designation", "Director"),
		chromedp.Click("#addline"))
	s.until("line added", "Goods line 2")
	s.want("draft created", "Draft APP")
	id := appIDRE.FindString(s.text)
	s.run("fill line 2 with materials and a cost sheet",
		set("goods.1.hs", "85044010"), set("goods.1.description", "Static converters for telecom"), set("goods.1.quantity", "1200"), set("goods.1.unit", "NAR"),
		set("goods.1.packages", "40"), set("goods.1.packageType", "CT"), set("goods.1.fob", "45600.00"), set("goods.1.criterion", "RVC 35% + CTSH"),
		set("goods.1.materials.0.hs", "854110"), set("goods.1.materials.0.description", "Diodes"), set("goods.1.materials.0.originCountry", "CN"),
		set("goods.1.materials.0.value", "20000.00"),
		chromedp.SendKeys(`[name="goods.1.cs.price"]`, "45600"), chromedp.SendKeys(`[name="goods.1.cs.nonOriginatingMaterials"]`, "20000"),
		chromedp.SendKeys(`[name="goods.1.cs.originatingMaterials"]`, "10000"), chromedp.SendKeys(`[name="goods.1.cs.labour"]`, "5000"),
		chromedp.SendKeys(`[name="goods.1.cs.overheads"]`, "3000"), chromedp.SendKeys(`[name="goods.1.cs.profit"]`, "4000"))
	live, err := chromedp.Run(ctx, chromedp.Text("#rvc1"))
	if err != nil || live != "build-down 56.14%, build-up 48.24%" {
		t.Fatalf("the RVC as typed: %q %v", live, err)
	}
	shot(t, ctx, "exporter-application-form")
	s.until("recalculate", "origin arithmetic is recalculated", chromedp.Click("#recalc"))
	s.want("server RVC", "build-down 56.14%, build-up 48.24%", "threshold 35%: build-down meets", "RVC 35% + CTSH: consistent")
	s.until("validate", "problem(s) to fix", set("goods.1.unit", "@@"), chromedp.Click("#validate"))
	s.want("validation with a problem", "problem(s) to fix")
	if n, err := chromedp.Run(ctx, chromedp.AttributeValue(`[name="goods.1.unit"]`, "aria-invalid")); err != nil || n.Value != "true" {
		t.Fatalf("the unit's problem is not beside the field: %q %v", n.Value, err)
	}
	shot(t, ctx, "exporter-validation")
	s.until("validate again", "Validation passed", set("goods.1.unit", "NAR"), chromedp.Click("#validate"))
	s.want("validation passed", "Validation passed")
	inv := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(inv, []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.until("attach the invoice", "Attached invoice.pdf", chromedp.Navigate(s.portal+"/exporter/applications/"+id), chromedp.SetUploadFiles("#file", []string{inv}),
		chromedp.Click("form[enctype] button"))
	s.want("attached", "Attached invoice.pdf", "invoice.pdf (invoice")
	// the development gateway's page is not the portal's (no <main>)
	s.until("submit", "pay the fee online", chromedp.Click("#pay-gateway"))
	if err := chromedp.Do(ctx, chromedp.Click("#pay"), chromedp.WaitVisible(`button[value="success"]`)); err != nil {
		t.Fatalf("to the payment gateway: %v", err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/dev-gateway/pay") {
		t.Fatalf("not at the payment gateway: %s", loc)
	}
	shot(t, ctx, "payment-gateway")
	if err := chromedp.Do(ctx, chromedp.Click(`button[value="success"]`), chromedp.WaitNotPresent(`button[value="success"]`)); err != nil {
		t.Fatalf("pay: %v", err)
	}
	s.run("paid", chromedp.Navigate(s.portal+"/exporter/applications/"+id))
	s.want("submitted and paid", "Status: submitted", "paid via gateway")
	s.logout()

	// The officer returns it with a query.
	s.login("officer")
	s.run("queue", chromedp.Navigate(s.portal+"/officer/queue"))
	s.want("queue", id)
	s.run("review page", chromedp.Click(`a[href="/officer/applications/`+id+`"]`), chromedp.WaitVisible("#take"))
	s.until("take up", "taken the application up", chromedp.Click("#take"))
	s.want("under review", "under-review", "consistent: rule RVC 35% and CTSH", "invoice.pdf")
	shot(t, ctx, "officer-review")
	s.until("return", "Status: returned", chromedp.SendKeys("#query-text", "Please confirm the diodes' origin."), chromedp.Click("#return"))
	s.want("returned", "Status: returned")
	s.logout()

	// The exporter answers.
	s.login("alpha")
	s.run("returned application", chromedp.Navigate(s.portal+"/exporter/applications/"+id))
	s.want("query shown", "Please confirm the diodes' origin.")
	s.until("answer", "Answer sent", chromedp.SendKeys("#answer", "The diodes come from China; supplier invoice attached."), chromedp.Click("#send-answer"))
	s.want("answered", "Status: submitted")
	s.logout()

	// The officer approves and signs with the node-held key.
	s.login("officer")
	s.until("review again", "taken the application up", chromedp.Navigate(s.portal+"/officer/applications/"+id), chromedp.Click("#take"))
	s.until("approve and sign", "Approved and signed", chromedp.Click("#approve-sign"))
	s.want("issued", "Status: issued", "Approved and signed")
	number, _ := chromedp.Run(ctx, chromedp.Text("#certificate"))
	if !strings.HasPrefix(number, "EIC-MUM-") {
		t.Fatalf("certificate number %q", number)
	}
	shot(t, ctx, "officer-issued")
	s.logout()

	// The exporter downloads the PDF; its QR payload verifies offline.
	hc := s.httpLogin("alpha")
	resp, pdf := hc.do("GET", "/applications/"+id+"/certificate.pdf", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("pdf: %d", resp.StatusCode)
	}
	dir := t.TempDir()
	pdfPath := filepath.Join(dir, "cert.pdf")
	if err := os.WriteFile(pdfPath, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	var content string
	for _, dpi := range []string{"300", "400", "200", "600"} { // the decoder is picky about module size
		if out, err := exec.Command(testenv.Program(t, "pdftoppm"), "-r", dpi, "-png", "-singlefile", pdfPath, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		if content, err = qrsign.DecodePNG(mustRead(t, filepath.Join(dir, "page.png"))); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("QR: %v", err)
	}
	pkiDir := filepath.Join(s.inDir, "pki")
	qrCerts, err := certs.ParseCertificates(mustRead(t, filepath.Join(pkiDir, "qr-cert.pem")))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certs.ParseCertificates(mustRead(t, filepath.Join(pkiDir, certs.FileRootCert)))
	if err != nil {
		t.Fatal(err)
	}
	inter, _ := certs.ParseCertificates(mustRead(t, filepath.Join(pkiDir, certs.FileIntermediateCert)))
	v := &qrsign.Verifier{Certs: qrCerts, Trust: &certs.TrustSet{AnchorCerts: roots, ExtraIntermediates: append([]*x509.Certificate(nil), inter...)}}
	res, err := v.Verify(content, time.Now())
	if err != nil {
		t.Fatalf("offline QR check: %v", err)
	}
	if res.Payload.Number != number || strings.Join(res.Payload.HS, ",") != "020230,850440" {
		t.Fatalf("payload %+v", res.Payload)
	}

	// The public page shows it (by number, and by the signed QR).
	if err := chromedp.Do(ctx, chromedp.Navigate(s.public+"/verify?country=IN&number="+url.QueryEscape(number))); err != nil {
		t.Fatal(err)
	}
	if pub, err := chromedp.Run(ctx, chromedp.Text("body")); err != nil || !strings.Contains(pub, "Alpha Exports Pvt Ltd") {
		t.Fatalf("public page: %v\n%s", err, pub)
	}
	s.run("portal's signed QR check", chromedp.Navigate(s.portal+"/verify/s/"+qrsign.TokenOf(content)))
	s.want("verify/s", "signed payload is authentic")
	shot(t, ctx, "verify-issued")

	// VN's node receives it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs, err := s.vn.DB.Inbox().ByCertificate(context.Background(), "IN", number)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if len(recs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("VN did not receive %s", number)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The other roles' pages, with screenshots.
	s.login("operator")
	s.run("console", chromedp.Navigate(s.portal+"/operator"), chromedp.Click("#verify-audit"))
	s.until("audit verified", "intact")
	s.want("console", "Viet Nam", "intact", number)
	shot(t, ctx, "operator-console")
	s.logout()
	s.login("eic-admin")
	s.run("offices", chromedp.Navigate(s.portal+"/agency/offices?edit=MUM"))
	s.want("offices", "EIC Mumbai", "INR 500.00")
	shot(t, ctx, "agency-offices")
	s.run("people", chromedp.Navigate(s.portal+"/agency/people"))
	s.want("people", "Officer One", "active")
	s.logout()

	s.refusals(id)
}

// refusals: each role is refused another role's pages and actions, and
// a form without the session's CSRF token is refused.
func (s *story) refusals(id string) {
	t := s.t
	clients := map[string]*hclient{}
	for _, u := range []string{"alpha", "officer", "eic-admin", "operator"} {
		clients[u] = s.httpLogin(u)
	}
	for _, tc := range []struct {
		user, method, path string
		form               url.Values
		want               int
	}{
		{"alpha", "GET", "/officer/applications/" + id, nil, 403},
		{"alpha", "POST", "/officer/applications/" + id + "/reject", url.Values{"reason": {"x"}}, 403},
		{"alpha", "GET", "/agency/people", nil, 403},
		{"alpha", "GET", "/operator", nil, 403},
		{"officer", "GET", "/exporter/applications/new", nil, 403},
		{"officer", "POST", "/exporter/applications/" + id + "/withdraw", url.Values{}, 403},
		{"officer", "POST", "/agency/offices", url.Values{"id": {"MUM"}}, 403},
		{"eic-admin", "GET", "/officer/queue", nil, 403},
		{"eic-admin", "POST", "/officer/applications/" + id + "/approve-sign", url.Values{}, 403},
		{"operator", "GET", "/exporter/applications/" + id, nil, 403},
		{"operator", "POST", "/agency/people/" + stOfficer + "/deactivate", url.Values{}, 403},
		{"eic-admin", "GET", "/agency/people", nil, 200},
	} {
		c := clients[tc.user]
		if tc.form != nil {
			tc.form.Set("csrf", c.csrf)
		}
		if resp, body := c.do(tc.method, tc.path, tc.form); resp.StatusCode != tc.want {
			t.Errorf("%s %s %s: %d, want %d\n%s", tc.user, tc.method, tc.path, resp.StatusCode, tc.want, body)
		}
	}
	// CSRF: missing, wrong, another session's token.
	off := clients["eic-admin"]
	wrong := "x" + off.csrf[1:]
	if wrong == off.csrf { // the token began with x (1 in 64)
		wrong = "y" + off.csrf[1:]
	}
	for name, tok := range map[string]string{"missing": "", "wrong": wrong, "another session's": clients["alpha"].csrf} {
		f := url.Values{"office": {"MUM"}}
		if tok != "" {
			f.Set("csrf", tok)
		}
		if resp, _ := off.do("POST", "/agency/people/"+stOfficer+"/map", f); resp.StatusCode != 403 {
			t.Errorf("CSRF %s: %d, want 403", name, resp.StatusCode)
		}
	}
	p, err := s.in.Issuance.AgencyPeople(context.Background(), issuance.Actor{ID: stAgAdmin, Role: issuance.RoleAgencyAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range p {
		if x.ID == stOfficer && x.Status != issuance.PersonActive {
			t.Errorf("a refused action changed the officer: %s", x.Status)
		}
	}
}

// hclient is a Go HTTP client signed in to the portal (cookies kept by
// hand: net/http/cookiejar sends Secure cookies over https only).
type hclient struct {
	s       *story
	cookies map[string]string
	csrf    string
}

func (c *hclient) do(method, path string, form url.Values) (*http.Response, []byte) {
	c.s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.s.portal+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		c.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		c.cookies[ck.Name] = ck.Value
	}
	return resp, b
}

func (s *story) httpLogin(user string) *hclient {
	s.t.Helper()
	c := &hclient{s: s, cookies: map[string]string{}}
	_, page := c.do("GET", "/login", nil)
	resp, body := c.do("POST", "/login", url.Values{"csrf": {csrfOf(s.t, string(page))}, "user": {user}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("login %s: %d %s", user, resp.StatusCode, body)
	}
	_, page = c.do("GET", "/dashboard", nil)
	c.csrf = csrfOf(s.t, string(page))
	return c
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func portalHash() (string, error) { return portal.HashPassword(password) }
