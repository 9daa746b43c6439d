package gateway

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/store"
)

const expiryMetric = "ecogate_certificate_expiry_timestamp_seconds"

// t0 is the tests' "now": certificates are issued relative to it.
var t0 = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	expiryKeyOnce sync.Once
	expiryKey     *ecdsa.PrivateKey
)

// expiringCert issues a self-signed CA certificate with the given subject
// (common name, or organization when cn is empty), serial and NotAfter;
// it may sign CRLs too (crlstale_test.go).
func expiringCert(t testing.TB, cn, org string, serial int64, notAfter time.Time) *x509.Certificate {
	t.Helper()
	expiryKeyOnce.Do(func() { expiryKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notAfter.AddDate(-2, 0, 0),
		NotAfter:     notAfter,
		IsCA:         true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	if org != "" {
		tmpl.Subject.Organization = []string{org}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, expiryKey.Public(), expiryKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// expiryTLS wraps a leaf and its chain as a TLS key pair.
func expiryTLS(leaf *x509.Certificate, chain ...*x509.Certificate) *tls.Certificate {
	c := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: expiryKey, Leaf: leaf}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// registryFile writes a partner registry of pull partners to dir/name:
// for each country, its TLS CAs and anchors as PEM files.
func registryFile(t testing.TB, dir string, ps map[string][2][]*x509.Certificate) string {
	t.Helper()
	countries := make([]string, 0, len(ps))
	for cc := range ps {
		countries = append(countries, cc)
	}
	sort.Strings(countries)
	var b strings.Builder
	b.WriteString("partners:\n")
	write := func(name string, cs []*x509.Certificate) string {
		var pem []byte
		for _, c := range cs {
			pem = append(pem, certs.CertPEM(c)...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), pem, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	for _, cc := range countries {
		fmt.Fprintf(&b, "  - country: %s\n    name: %s test\n    delivery: pull\n    tls: {clientCAs: [%s]}\n    documentSigning: {anchors: [%s]}\n    agreements: [ATIGA]\n",
			cc, cc, write(cc+"-tls.pem", ps[cc][0]), write(cc+"-anchors.pem", ps[cc][1]))
	}
	path := filepath.Join(dir, "partners.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// expiryNode builds (does not serve) a node over a fresh store with the
// given TLS pairs, own certificates and partner directory.
func expiryNode(t testing.TB, server, client *tls.Certificate, own []WatchedCertificate, dir PartnerDirectory, tweak func(*Options)) *Node {
	t.Helper()
	id, _, _ := identities(t)
	db, err := store.Open(filepath.Join(t.TempDir(), "n.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opt := id.NodeOptions(db, dir)
	opt.ServerCertificate, opt.ClientCertificate = server, client
	opt.Certificates = func() []WatchedCertificate { return own }
	opt.Logger = testLogger(t)
	if tweak != nil {
		tweak(&opt)
	}
	n, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// series is one expected sample of the expiry metric.
type series struct {
	use, partner, subject, serial string
	notAfter                      time.Time
}

// compareSeries checks the collector's samples against want (any order).
func compareSeries(t *testing.T, n *Node, want []series) {
	t.Helper()
	c := newCertCollector(n)
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s NotAfter of each certificate the node relies on, as Unix seconds: its own by configuration key (use), its partners' TLS CAs and document-signing anchors (partner), and the certificates customs clients are bound to (use customs.clients); alert on `ecogate_certificate_expiry_timestamp_seconds - time() < 30*86400`.\n# TYPE %s gauge\n", expiryMetric, expiryMetric)
	for _, s := range want {
		fmt.Fprintf(&b, "%s{partner=%q,serial=%q,subject=%q,use=%q} %d\n", expiryMetric, s.partner, s.serial, s.subject, s.use, s.notAfter.Unix())
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(b.String()), expiryMetric); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(c, expiryMetric); got != len(want) {
		t.Errorf("%d series, want %d", got, len(want))
	}
}

// TestCertificateExpiryGauge: one series per certificate the node relies
// on, its own by configuration key and its partners' from the registry as
// it is at the scrape, with NotAfter as Unix seconds.
func TestCertificateExpiryGauge(t *testing.T) {
	day := 24 * time.Hour
	server := expiringCert(t, "node TLS server", "", 0x10, t0.Add(400*day))
	inter := expiringCert(t, "node TLS intermediate", "", 0x11, t0.Add(900*day))
	client := expiringCert(t, "node TLS client", "", 0x12, t0.Add(20*day))
	long := strings.Repeat("é", 40) // 80 bytes: clipped to 64 on a rune boundary
	signer := expiringCert(t, long, "", 0x13, t0.Add(-3*day))
	noCN := expiringCert(t, "", "Receipts Org", 0xABCDEF, t0.Add(700*day))
	laTLS := expiringCert(t, "LA TLS CA", "", 0x20, t0.Add(15*day))
	laAnchor := expiringCert(t, "LA signing root", "", 0x21, t0.Add(3000*day))
	laAnchorNext := expiringCert(t, "LA signing root", "", 0x22, t0.Add(5000*day)) // rotation: same subject
	sgTLS := expiringCert(t, "SG TLS CA", "", 0x30, t0.Add(100*day))

	dir := t.TempDir()
	path := registryFile(t, dir, map[string][2][]*x509.Certificate{"LA": {{laTLS}, {laAnchor}}})
	w, err := partners.NewWatcher(path, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	own := []WatchedCertificate{
		{Use: "signing.cert", Cert: signer},
		{Use: "receipts.cert", Cert: noCN},
		{Use: "receipts.cert", Cert: noCN},      // listed twice: one series
		{Use: "customs.clientCAs", Cert: laTLS}, // the same certificate for another use: its own series
	}
	n := expiryNode(t, expiryTLS(server, inter), expiryTLS(client), own, NewRegistryDirectory(w.Registry), nil)

	ownSeries := []series{
		{"tls.cert", "", "node TLS server", "10", server.NotAfter},
		{"tls.cert", "", "node TLS intermediate", "11", inter.NotAfter},
		{"tls.clientCert", "", "node TLS client", "12", client.NotAfter},
		{"signing.cert", "", strings.Repeat("é", 32), "13", signer.NotAfter},
		{"receipts.cert", "", "O=Receipts Org", "ABCDEF", noCN.NotAfter},
		{"customs.clientCAs", "", "LA TLS CA", "20", laTLS.NotAfter},
	}
	for _, step := range []struct {
		name     string
		registry map[string][2][]*x509.Certificate // nil: as loaded above
		partners []series
	}{
		{"loaded", nil, []series{
			{UsePartnerTLSCA, "LA", "LA TLS CA", "20", laTLS.NotAfter},
			{UsePartnerAnchor, "LA", "LA signing root", "21", laAnchor.NotAfter},
		}},
		{"anchor rotation and a new partner", map[string][2][]*x509.Certificate{
			"LA": {{laTLS}, {laAnchor, laAnchorNext}},
			"SG": {{sgTLS}, {laAnchorNext}},
		}, []series{
			{UsePartnerTLSCA, "LA", "LA TLS CA", "20", laTLS.NotAfter},
			{UsePartnerAnchor, "LA", "LA signing root", "21", laAnchor.NotAfter},
			{UsePartnerAnchor, "LA", "LA signing root", "22", laAnchorNext.NotAfter},
			{UsePartnerTLSCA, "SG", "SG TLS CA", "30", sgTLS.NotAfter},
			{UsePartnerAnchor, "SG", "LA signing root", "22", laAnchorNext.NotAfter},
		}},
		{"old anchor and partner removed", map[string][2][]*x509.Certificate{
			"LA": {{laTLS}, {laAnchorNext}},
		}, []series{
			{UsePartnerTLSCA, "LA", "LA TLS CA", "20", laTLS.NotAfter},
			{UsePartnerAnchor, "LA", "LA signing root", "22", laAnchorNext.NotAfter},
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.registry != nil {
				registryFile(t, dir, step.registry)
				if err := w.Reload(); err != nil {
					t.Fatal(err)
				}
			}
			compareSeries(t, n, append(append([]series(nil), ownSeries...), step.partners...))
			// Through the node's registry too (what /metrics serves).
			if v := metricValue(t, n.Registry(), expiryMetric, map[string]string{"use": "tls.clientCert"}); v != float64(client.NotAfter.Unix()) {
				t.Errorf("registry: tls.clientCert %v, want %d", v, client.NotAfter.Unix())
			}
		})
	}
}

// TestCertSubjectAndSerial covers the label values of odd certificates.
func TestCertSubjectAndSerial(t *testing.T) {
	for _, tc := range []struct {
		name, cn, org string
		serial        int64
		subject       string
		serialHex     string
	}{
		{"common name", "ecogate dev IN TLS server", "ecogate", 1, "ecogate dev IN TLS server", "1"},
		{"no common name", "", "Ministry of Trade", 255, "O=Ministry of Trade", "FF"},
		{"clipped", strings.Repeat("x", 100), "", 4096, strings.Repeat("x", 64), "1000"},
		{"clipped on a rune", "a" + strings.Repeat("ü", 40), "", 2, "a" + strings.Repeat("ü", 31), "2"},
		{"empty subject", "", "", 3, "", "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := expiringCert(t, tc.cn, tc.org, tc.serial, t0)
			if got := certSubject(c); got != tc.subject {
				t.Errorf("subject %q, want %q", got, tc.subject)
			}
			if got := certSerial(c); got != tc.serialHex {
				t.Errorf("serial %q, want %q", got, tc.serialHex)
			}
		})
	}
}

// logLine is one JSON log record of the expiry watch.
type logLine struct {
	Level    string `json:"level"`
	Msg      string `json:"msg"`
	Use      string `json:"use"`
	Partner  string `json:"partner"`
	Subject  string `json:"subject"`
	NotAfter string `json:"notAfter"`
	DaysLeft *int   `json:"daysLeft"`
}

func logLines(t testing.TB, s string) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		if strings.HasPrefix(l.Msg, "certificate ") {
			out = append(out, l)
		}
	}
	return out
}

// TestCertificateExpiryLog: a certificate within the window is logged
// (WARN) at the first check and then once a day by the node's clock, an
// expired one likewise at ERROR, and one turning expired at once.
func TestCertificateExpiryLog(t *testing.T) {
	day := 24 * time.Hour
	soon := expiringCert(t, "soon", "", 1, t0.Add(10*day))      // WARN now, ERROR after day 10
	later := expiringCert(t, "later", "", 2, t0.Add(40*day))    // in the window from day 10
	gone := expiringCert(t, "gone", "", 3, t0.Add(-day))        // ERROR
	far := expiringCert(t, "far", "", 4, t0.Add(1000*day))      // never
	laTLS := expiringCert(t, "LA TLS CA", "", 5, t0.Add(5*day)) // partner's
	logs := &syncBuffer{}
	dir := NewStaticDirectory(&Partner{Country: "LA", TLSCAs: []*x509.Certificate{laTLS}})
	n := expiryNode(t, expiryTLS(far), nil, []WatchedCertificate{
		{Use: "signing.cert", Cert: soon}, {Use: "receipts.cert", Cert: later}, {Use: "customs.tokenCert", Cert: gone},
	}, dir, func(o *Options) { o.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })

	type want struct{ level, subject string }
	for _, step := range []struct {
		at   time.Duration // after t0
		want []want
	}{
		{0, []want{{"ERROR", "gone"}, {"WARN", "LA TLS CA"}, {"WARN", "soon"}}},
		{time.Hour, nil},
		{day - time.Second, nil},
		{day, []want{{"ERROR", "gone"}, {"WARN", "LA TLS CA"}, {"WARN", "soon"}}},
		{day + 12*time.Hour, nil},
		{5*day + time.Second, []want{{"ERROR", "LA TLS CA"}, {"ERROR", "gone"}, {"WARN", "soon"}}},                      // LA's turned expired
		{10*day + time.Second, []want{{"ERROR", "LA TLS CA"}, {"ERROR", "gone"}, {"ERROR", "soon"}, {"WARN", "later"}}}, // later in the window
		{10*day + 2*time.Second, nil},
	} {
		before := len(logLines(t, logs.String()))
		got := n.expiry.check(t0.Add(step.at))
		lines := logLines(t, logs.String())[before:]
		var have []want
		for _, l := range lines {
			have = append(have, want{l.Level, l.Subject})
			if l.Use == "" || l.NotAfter == "" || (l.Level == "WARN") != (l.DaysLeft != nil) {
				t.Errorf("at %v: line lacks use, notAfter or daysLeft: %+v", step.at, l)
			}
			if (l.Subject == "LA TLS CA") != (l.Partner == "LA") {
				t.Errorf("at %v: partner %q for %q", step.at, l.Partner, l.Subject)
			}
		}
		bySubject := func(ws []want) {
			sort.Slice(ws, func(i, j int) bool { return ws[i].subject < ws[j].subject })
		}
		bySubject(have)
		bySubject(step.want)
		if fmt.Sprint(have) != fmt.Sprint(step.want) || got != len(step.want) {
			t.Errorf("at t0+%v: logged %v (check says %d), want %v", step.at, have, got, step.want)
		}
	}
	// The WARN line names the date and the days left.
	first := logLines(t, logs.String())
	for _, l := range first {
		if l.Subject == "soon" && l.Level == "WARN" {
			if l.NotAfter != soon.NotAfter.UTC().Format(time.RFC3339) || *l.DaysLeft != 9 && *l.DaysLeft != 10 {
				t.Errorf("WARN line %+v", l)
			}
			break
		}
	}
}

// TestCertificateWatchLoop runs the watch goroutine with a fast ticker and
// a clock the test moves: a certificate is logged at start, not again
// within the day, again the next day, and the loop ends with ctx.
func TestCertificateWatchLoop(t *testing.T) {
	clk := &testClock{now: t0}
	logs := &syncBuffer{}
	c := expiringCert(t, "loop", "", 7, t0.Add(3*24*time.Hour))
	n := expiryNode(t, nil, nil, []WatchedCertificate{{Use: "receipts.cert", Cert: c}}, NewStaticDirectory(), func(o *Options) {
		o.Clock = clk
		o.CertificateCheckInterval = time.Millisecond
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.runCertWatch(ctx); close(done) }()
	count := func() int { return len(logLines(t, logs.String())) }
	waitFor(t, 5*time.Second, "the warning at start", func() bool { return count() == 1 })
	time.Sleep(20 * time.Millisecond) // many ticks within the same day
	if k := count(); k != 1 {
		t.Fatalf("%d lines within the first day", k)
	}
	clk.Set(t0.Add(25 * time.Hour))
	waitFor(t, 5*time.Second, "the next day's warning", func() bool { return count() == 2 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not stop with its context")
	}
}

// TestCertificateWatchInServe: Serve starts the watch.
func TestCertificateWatchInServe(t *testing.T) {
	in, _, _ := identities(t)
	logs := &syncBuffer{}
	pl, ll, err := DevListeners()
	if err != nil {
		t.Fatal(err)
	}
	d, err := StartDevNode(in, filepath.Join(t.TempDir(), "in.db"), pl, ll, NewStaticDirectory(), func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.CertificateWarning = 5 * 365 * 24 * time.Hour // the dev PKI's two-year certificates are within it
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitFor(t, 5*time.Second, "warnings for the dev certificates", func() bool {
		uses := map[string]bool{}
		for _, l := range logLines(t, logs.String()) {
			uses[l.Use] = true
		}
		return uses["tls.cert"] && uses["tls.clientCert"]
	})
}

// TestCertificateExpiryFromConfig: a node built from its configuration
// watches every certificate the configuration names.
func TestCertificateExpiryFromConfig(t *testing.T) {
	sites, _ := devSites(t, devRetry)
	c, err := LoadConfig(sites[0].ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(sites[0].Dir, "pki")
	addr, err := devsite.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	c.Listen.Customs = addr
	c.Customs.TokenKey, c.Customs.TokenCert = filepath.Join(pki, certs.FileQRKey), filepath.Join(pki, certs.FileQRCert)
	c.Customs.ClientCAs = FileList{filepath.Join(pki, certs.FileRootCert)}
	c.Verify.TLSCert, c.Verify.TLSKey = filepath.Join(pki, certs.FileTLSServerCert), filepath.Join(pki, certs.FileTLSServerKey)
	c.Signing.Trust = []string{filepath.Join(pki, certs.FileRootCert)}
	c.Issuance.Enabled, c.Issuance.Operators = true, []string{"op@in.example"}
	c.Issuance.OfficerAnchors = []string{filepath.Join(pki, certs.FileIntermediateCert)}
	inst, err := c.Open(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	// Customs clients bound to certificates: an active one in a renewal
	// (both certificates watched), a revoked one and a token client (none).
	ctx := context.Background()
	notAfter := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, cl := range []store.CustomsClient{
		{ID: "decl-1", Name: "declarations", CertSHA256: strings.Repeat("a1", 32), CertSubject: "CN=declarations", CertNotAfter: notAfter,
			NextCertSHA256: strings.Repeat("b2", 32), NextCertSubject: "CN=declarations 2027", NextCertNotAfter: notAfter.AddDate(1, 0, 0), Scopes: customs.Scopes()},
		{ID: "old-1", Name: "old", CertSHA256: strings.Repeat("c3", 32), CertSubject: "CN=old", CertNotAfter: notAfter, Scopes: customs.Scopes()},
		{ID: "tok-1", Name: "token", SecretHash: strings.Repeat("d4", 32), Scopes: customs.Scopes()},
	} {
		if err := inst.Engine.Customs.AddClient(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if err := inst.Engine.Customs.RevokeClient(ctx, "old-1"); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, w := range inst.Node.Certificates() {
		have[w.Partner+"/"+w.Use+"/"+w.Cert.Subject.CommonName] = true
	}
	for _, k := range []string{
		"/tls.cert/ecogate dev IN TLS server", "/tls.clientCert/ecogate dev IN TLS client",
		"/signing.cert/ecogate dev IN document signer ECDSA", "/signing.chain/ecogate dev IN issuing authority CA",
		"/signing.trust/ecogate dev IN root CA", "/receipts.cert/ecogate dev IN node receipt signer",
		"/customs.tokenCert/ecogate dev IN QR payload signer", "/customs.clientCAs/ecogate dev IN root CA",
		"/verify.tlsCert/ecogate dev IN TLS server", "/issuance.officerAnchors/ecogate dev IN issuing authority CA",
		"VN/tls.clientCAs/ecogate dev VN root CA", "VN/documentSigning.anchors/ecogate dev VN root CA",
		"/customs.clients/decl-1: CN=declarations", "/customs.clients/decl-1: CN=declarations 2027",
	} {
		if !have[k] {
			t.Errorf("not watched: %s (have %v)", k, have)
		}
	}
	for k := range have {
		if strings.Contains(k, "old-1") || strings.Contains(k, "tok-1") {
			t.Errorf("watched: %s (revoked, or no certificate)", k)
		}
	}
	if k := testutil.CollectAndCount(inst.Node.Registry(), expiryMetric); k != len(have) {
		t.Errorf("%d series for %d certificates", k, len(have))
	}
}
