package gateway

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/partners"
)

const crlMetric = "ecogate_crl_next_update_timestamp_seconds"

// testCRL issues an empty CRL by a fresh self-signed CA named cn (or, when
// cn is empty, organization org), valid from thisUpdate to nextUpdate.
func testCRL(t testing.TB, cn, org string, number int64, thisUpdate, nextUpdate time.Time) *x509.RevocationList {
	t.Helper()
	ca := expiringCert(t, cn, org, 1000+number, nextUpdate.AddDate(5, 0, 0))
	b, err := certs.IssueCRL(certs.KeyCert{Key: expiryKey, Cert: ca}, nil, thisUpdate, nextUpdate, number)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := certs.ParseCRLs(b)
	if err != nil || len(ls) != 1 {
		t.Fatalf("%d CRLs: %v", len(ls), err)
	}
	return ls[0]
}

// crlPEM encodes CRLs as PEM.
func crlPEM(ls ...*x509.RevocationList) []byte {
	var b []byte
	for _, l := range ls {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: l.Raw})...)
	}
	return b
}

// crlRegistry writes a partner registry of pull partners to dir: for each
// country, one root as TLS CA and anchor, and its TLS and document-signing
// CRLs.
func crlRegistry(t testing.TB, dir string, ps map[string][2][]*x509.RevocationList) {
	t.Helper()
	countries := make([]string, 0, len(ps))
	for cc := range ps {
		countries = append(countries, cc)
	}
	sort.Strings(countries)
	write := func(name string, b []byte) string {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	var b strings.Builder
	b.WriteString("partners:\n")
	for _, cc := range countries {
		ca := write(cc+"-ca.pem", certs.CertPEM(expiringCert(t, cc+" root", "", 99, t0.AddDate(3, 0, 0))))
		list := func(kind string, ls []*x509.RevocationList) string {
			if len(ls) == 0 {
				return ""
			}
			return write(cc+"-"+kind+".crl", crlPEM(ls...))
		}
		fmt.Fprintf(&b, "  - country: %s\n    name: %s test\n    delivery: pull\n    tls: {clientCAs: [%s], crls: [%s]}\n    documentSigning: {anchors: [%s], crls: [%s]}\n    agreements: [ATIGA]\n",
			cc, cc, ca, list("tls", ps[cc][0]), ca, list("signing", ps[cc][1]))
	}
	write("partners.yaml", []byte(b.String()))
}

// crlSeries is one expected sample of the CRL metric.
type crlSeries struct {
	use, partner, issuer string
	nextUpdate           time.Time
}

// compareCRLSeries checks the collector's samples against want (any order).
func compareCRLSeries(t *testing.T, n *Node, want []crlSeries) {
	t.Helper()
	c := newCRLCollector(n)
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s NextUpdate of each CRL the node relies on, as Unix seconds: its own by configuration key (use) and its partners' TLS and document-signing CRLs (partner); past it the certificates the CRL covers are refused; alert on `ecogate_crl_next_update_timestamp_seconds - time() < 86400`.\n# TYPE %s gauge\n", crlMetric, crlMetric)
	for _, s := range want {
		fmt.Fprintf(&b, "%s{issuer=%q,partner=%q,use=%q} %d\n", crlMetric, s.issuer, s.partner, s.use, s.nextUpdate.Unix())
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(b.String()), crlMetric); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(c, crlMetric); got != len(want) {
		t.Errorf("%d series, want %d", got, len(want))
	}
}

// TestCRLNextUpdateGauge: one series per CRL the node relies on, its own
// by configuration key and its partners' from the registry as it is at the
// scrape, with NextUpdate as Unix seconds; none for a CRL without
// NextUpdate.
func TestCRLNextUpdateGauge(t *testing.T) {
	day := 24 * time.Hour
	trust := testCRL(t, "IN root CA", "", 1, t0.Add(-day), t0.Add(6*day))
	long := strings.Repeat("é", 40) // 80 bytes: clipped to 64 on a rune boundary
	client := testCRL(t, long, "", 2, t0.Add(-day), t0.Add(2*day))
	noCN := testCRL(t, "", "Customs Org", 3, t0.Add(-day), t0.Add(3*day))
	older := testCRL(t, "IN root CA", "", 4, t0.Add(-2*day), t0.Add(day)) // same labels as trust: the earlier one counts
	never := &x509.RevocationList{Issuer: pkix.Name{CommonName: "no next update"}, ThisUpdate: t0.Add(-day), Raw: []byte("never")}
	laTLS := testCRL(t, "LA TLS CA", "", 10, t0.Add(-day), t0.Add(7*day))
	laSign := testCRL(t, "LA signing CA", "", 11, t0.Add(-day), t0.Add(30*day))
	laSignNext := testCRL(t, "LA signing CA", "", 12, t0, t0.Add(31*day))
	sgSign := testCRL(t, "SG signing CA", "", 13, t0.Add(-day), t0.Add(-time.Hour)) // stale: still a series

	dir := t.TempDir()
	crlRegistry(t, dir, map[string][2][]*x509.RevocationList{"LA": {{laTLS}, {laSign}}})
	w, err := partners.NewWatcher(filepath.Join(dir, "partners.yaml"), testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	own := []WatchedCRL{
		{Use: "signing.trust", CRL: trust},
		{Use: "signing.trust", CRL: trust}, // listed twice: one series
		{Use: "signing.trust", CRL: older},
		{Use: "signing.trust", CRL: never},
		{Use: "signing.trust"}, // nil: skipped
		{Use: "customs.clientCRLs", CRL: client},
		{Use: "customs.clientCRLs", CRL: noCN},
		{Use: "issuance.officerAnchors", CRL: trust}, // the same CRL for another use: its own series
	}
	n := expiryNode(t, nil, nil, nil, NewRegistryDirectory(w.Registry), func(o *Options) {
		o.CRLs = func() []WatchedCRL { return own }
	})
	ownSeries := []crlSeries{
		{"signing.trust", "", "IN root CA", older.NextUpdate},
		{"customs.clientCRLs", "", strings.Repeat("é", 32), client.NextUpdate},
		{"customs.clientCRLs", "", "O=Customs Org", noCN.NextUpdate},
		{"issuance.officerAnchors", "", "IN root CA", trust.NextUpdate},
	}
	for _, step := range []struct {
		name     string
		registry map[string][2][]*x509.RevocationList // nil: as loaded above
		partners []crlSeries
	}{
		{"loaded", nil, []crlSeries{
			{UsePartnerTLSCRL, "LA", "LA TLS CA", laTLS.NextUpdate},
			{UsePartnerSigningCRL, "LA", "LA signing CA", laSign.NextUpdate},
		}},
		{"fresh CRL beside the old one and a new partner", map[string][2][]*x509.RevocationList{
			"LA": {{laTLS}, {laSignNext, laSign}},
			"SG": {nil, {sgSign}},
		}, []crlSeries{
			{UsePartnerTLSCRL, "LA", "LA TLS CA", laTLS.NextUpdate},
			{UsePartnerSigningCRL, "LA", "LA signing CA", laSign.NextUpdate},
			{UsePartnerSigningCRL, "SG", "SG signing CA", sgSign.NextUpdate},
		}},
		{"old CRL, TLS CRL and partner removed", map[string][2][]*x509.RevocationList{
			"LA": {nil, {laSignNext}},
		}, []crlSeries{
			{UsePartnerSigningCRL, "LA", "LA signing CA", laSignNext.NextUpdate},
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.registry != nil {
				crlRegistry(t, dir, step.registry)
				if err := w.Reload(); err != nil {
					t.Fatal(err)
				}
			}
			compareCRLSeries(t, n, append(append([]crlSeries(nil), ownSeries...), step.partners...))
			// Through the node's registry too (what /metrics serves).
			if v := metricValue(t, n.Registry(), crlMetric, map[string]string{"use": "issuance.officerAnchors"}); v != float64(trust.NextUpdate.Unix()) {
				t.Errorf("registry: issuance.officerAnchors %v, want %d", v, trust.NextUpdate.Unix())
			}
		})
	}
}

// TestCRLWindow: the warning window, or half the CRL's validity when
// shorter.
func TestCRLWindow(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		name       string
		this, next time.Time
		want       time.Duration
	}{
		{"weekly", t0, t0.Add(7 * 24 * h), 48 * h},
		{"four days", t0, t0.Add(96 * h), 48 * h},
		{"daily", t0, t0.Add(24 * h), 12 * h},
		{"hourly", t0, t0.Add(h), h / 2},
		{"no thisUpdate", time.Time{}, t0.Add(24 * h), 48 * h},
		{"thisUpdate after nextUpdate", t0.Add(25 * h), t0.Add(24 * h), 48 * h},
		{"thisUpdate equal to nextUpdate", t0, t0, 48 * h},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &x509.RevocationList{ThisUpdate: tc.this, NextUpdate: tc.next}
			if got := crlWindow(l, 48*h); got != tc.want {
				t.Errorf("window %v, want %v", got, tc.want)
			}
		})
	}
}

// crlLogLine is one JSON log record of the CRL watch.
type crlLogLine struct {
	Level      string `json:"level"`
	Msg        string `json:"msg"`
	Use        string `json:"use"`
	Partner    string `json:"partner"`
	Issuer     string `json:"issuer"`
	NextUpdate string `json:"nextUpdate"`
	HoursLeft  *int   `json:"hoursLeft"`
}

func crlLogLines(t testing.TB, s string) []crlLogLine {
	t.Helper()
	var out []crlLogLine
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var r crlLogLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if strings.HasPrefix(r.Msg, "CRL ") {
			out = append(out, r)
		}
	}
	return out
}

// TestCRLStaleLog: a CRL within the window is logged (WARN) at the first
// check and then once a day by the node's clock, a stale one likewise at
// ERROR, and one turning stale at once.
func TestCRLStaleLog(t *testing.T) {
	day := 24 * time.Hour
	weekly := testCRL(t, "weekly", "", 1, t0.Add(-5*day), t0.Add(36*time.Hour))     // WARN now, ERROR after 36 h
	daily := testCRL(t, "daily", "", 2, t0.Add(-20*time.Hour), t0.Add(4*time.Hour)) // half a day window: WARN now
	fresh := testCRL(t, "fresh", "", 3, t0, t0.Add(7*day))                          // in the window from day 5
	stale := testCRL(t, "stale", "", 4, t0.Add(-8*day), t0.Add(-day))               // ERROR
	laTLS := testCRL(t, "LA TLS CA", "", 5, t0.Add(-day), t0.Add(day))              // partner's: WARN now, ERROR after a day
	logs := &syncBuffer{}
	dir := NewStaticDirectory(&Partner{Country: "LA", TLSCRLs: []*x509.RevocationList{laTLS}})
	n := expiryNode(t, nil, nil, nil, dir, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.CRLs = func() []WatchedCRL {
			return []WatchedCRL{{Use: "signing.trust", CRL: weekly}, {Use: "customs.clientCRLs", CRL: daily},
				{Use: "signing.trust", CRL: fresh}, {Use: "issuance.officerAnchors", CRL: stale}}
		}
	})

	type want struct{ level, issuer string }
	for _, step := range []struct {
		at   time.Duration // after t0
		want []want
	}{
		{0, []want{{"WARN", "LA TLS CA"}, {"WARN", "daily"}, {"ERROR", "stale"}, {"WARN", "weekly"}}},
		{time.Hour, nil},
		{4*time.Hour + time.Second, []want{{"ERROR", "daily"}}}, // turned stale
		{day - time.Second, nil},
		{day, []want{{"WARN", "LA TLS CA"}, {"ERROR", "stale"}, {"WARN", "weekly"}}},
		{day + time.Second, []want{{"ERROR", "LA TLS CA"}}},
		{day + 4*time.Hour, nil},
		{day + 4*time.Hour + time.Second, []want{{"ERROR", "daily"}}}, // a day after its last
		{36*time.Hour + time.Second, []want{{"ERROR", "weekly"}}},
		{2*day + time.Second, []want{{"ERROR", "LA TLS CA"}, {"ERROR", "stale"}}},
		{5*day + time.Second, []want{{"ERROR", "LA TLS CA"}, {"ERROR", "daily"}, {"WARN", "fresh"}, {"ERROR", "stale"}, {"ERROR", "weekly"}}},
		{5*day + 2*time.Second, nil},
	} {
		before := len(crlLogLines(t, logs.String()))
		got := n.crlStale.check(t0.Add(step.at))
		lines := crlLogLines(t, logs.String())[before:]
		var have []want
		for _, l := range lines {
			have = append(have, want{l.Level, l.Issuer})
			if l.Use == "" || l.NextUpdate == "" || (l.Level == "WARN") != (l.HoursLeft != nil) {
				t.Errorf("at %v: line lacks use, nextUpdate or hoursLeft: %+v", step.at, l)
			}
			if (l.Issuer == "LA TLS CA") != (l.Partner == "LA") {
				t.Errorf("at %v: partner %q for %q", step.at, l.Partner, l.Issuer)
			}
			if l.Level == "WARN" && l.Msg != "CRL goes stale soon: fetch a fresh one" ||
				l.Level == "ERROR" && !strings.HasPrefix(l.Msg, "CRL is stale: ") {
				t.Errorf("at %v: message %q", step.at, l.Msg)
			}
		}
		byIssuer := func(ws []want) {
			sort.Slice(ws, func(i, j int) bool { return ws[i].issuer < ws[j].issuer })
		}
		byIssuer(have)
		byIssuer(step.want)
		if fmt.Sprint(have) != fmt.Sprint(step.want) || got != len(step.want) {
			t.Errorf("at t0+%v: logged %v (check says %d), want %v", step.at, have, got, step.want)
		}
	}
	// The WARN line names the date and the hours left.
	for _, l := range crlLogLines(t, logs.String()) {
		if l.Issuer == "weekly" && l.Level == "WARN" {
			if l.NextUpdate != weekly.NextUpdate.UTC().Format(time.RFC3339) || *l.HoursLeft != 36 {
				t.Errorf("WARN line %+v", l)
			}
			break
		}
	}
}

// TestCRLWatchLoop runs the watch goroutine with a fast ticker and a clock
// the test moves while the registry is reloaded and scraped: a CRL is
// logged at start, not again within the day, again the next day, and the
// loop ends with ctx. Run it with -race.
func TestCRLWatchLoop(t *testing.T) {
	clk := &testClock{now: t0}
	logs := &syncBuffer{}
	day := 24 * time.Hour
	l := testCRL(t, "loop", "", 7, t0.Add(-5*day), t0.Add(day))
	dir := t.TempDir()
	crlRegistry(t, dir, map[string][2][]*x509.RevocationList{"LA": {nil, {l}}})
	w, err := partners.NewWatcher(filepath.Join(dir, "partners.yaml"), testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := expiryNode(t, nil, nil, nil, NewRegistryDirectory(w.Registry), func(o *Options) {
		o.Clock = clk
		o.CertificateCheckInterval = time.Millisecond
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.runCertWatch(ctx); close(done) }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // reloads and scrapes beside the watch
		defer wg.Done()
		for ctx.Err() == nil {
			if err := w.Reload(); err != nil {
				t.Error(err)
				return
			}
			testutil.CollectAndCount(n.Registry(), crlMetric)
			time.Sleep(time.Millisecond)
		}
	}()
	count := func() int { return len(crlLogLines(t, logs.String())) }
	waitFor(t, 5*time.Second, "the warning at start", func() bool { return count() == 1 })
	time.Sleep(20 * time.Millisecond) // many ticks within the same day
	if k := count(); k != 1 {
		t.Fatalf("%d lines within the first day", k)
	}
	clk.Set(t0.Add(25 * time.Hour))
	waitFor(t, 5*time.Second, "the error once stale", func() bool { return count() == 2 })
	if ls := crlLogLines(t, logs.String()); ls[0].Level != "WARN" || ls[1].Level != "ERROR" || ls[1].Partner != "LA" || ls[1].Use != UsePartnerSigningCRL {
		t.Errorf("lines %+v", ls)
	}
	cancel()
	wg.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not stop with its context")
	}
}

// TestCRLFromConfig: a node built from its configuration watches every CRL
// the configuration names (signing.trust, customs.clientCRLs,
// issuance.officerAnchors) and its partners' from the registry, and a
// customs client CRL file replaced shows at the next scrape.
func TestCRLFromConfig(t *testing.T) {
	sites, _ := devSites(t, devRetry)
	c, err := LoadConfig(sites[0].ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(sites[0].Dir, "pki")
	root, rootCRL := filepath.Join(pki, certs.FileRootCert), filepath.Join(pki, certs.FileRootCRL)
	clientCRL := filepath.Join(t.TempDir(), "customs.crl")
	b, err := os.ReadFile(rootCRL)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clientCRL, b, 0o644); err != nil {
		t.Fatal(err)
	}
	addr, err := devsite.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	c.Listen.Customs = addr
	c.Customs.ClientCAs = FileList{root}
	c.Customs.ClientCRLs = FileList{clientCRL}
	c.Registry.PollInterval = Duration(time.Millisecond)
	c.Signing.Trust = []string{root, rootCRL, filepath.Join(pki, certs.FileIntermediateCRL)}
	c.Issuance.Enabled, c.Issuance.Operators = true, []string{"op@in.example"}
	c.Issuance.OfficerAnchors = []string{root, rootCRL}
	inst, err := c.Open(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	have := map[string]time.Time{}
	for _, w := range inst.Node.CRLs() {
		have[w.Partner+"/"+w.Use+"/"+w.CRL.Issuer.CommonName] = w.CRL.NextUpdate
	}
	for _, k := range []string{
		"/signing.trust/ecogate dev IN root CA", "/signing.trust/ecogate dev IN issuing authority CA",
		"/customs.clientCRLs/ecogate dev IN root CA", "/issuance.officerAnchors/ecogate dev IN root CA",
		"VN/tls.crls/ecogate dev VN root CA",
		"VN/documentSigning.crls/ecogate dev VN root CA", "VN/documentSigning.crls/ecogate dev VN issuing authority CA",
	} {
		if _, ok := have[k]; !ok {
			t.Errorf("not watched: %s (have %v)", k, have)
		}
	}
	if k := testutil.CollectAndCount(inst.Node.Registry(), crlMetric); k != len(have) {
		t.Errorf("%d series for %d CRLs", k, len(have))
	}

	// A fresh customs client CRL replaces the file.
	key, chain, err := certs.LoadKeyPair(filepath.Join(pki, certs.FileRootKey), root, "", "")
	if err != nil {
		t.Fatal(err)
	}
	next := have["/customs.clientCRLs/ecogate dev IN root CA"].Add(24 * time.Hour).Truncate(time.Second)
	fresh, err := certs.IssueCRL(certs.KeyCert{Key: key, Cert: chain[0]}, nil, time.Now().Add(-time.Minute), next, 99)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clientCRL, fresh, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the fresh customs client CRL in the metric", func() bool {
		return metricValue(t, inst.Node.Registry(), crlMetric, map[string]string{"use": "customs.clientCRLs"}) == float64(next.Unix())
	})
}
