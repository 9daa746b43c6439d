package conformance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/conformance"
	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/schema"
)

// node is an ecogate node started for the kit (the test's only use of
// gateway: the conformance package itself never imports it).
type node struct {
	target  string // partner API base URL
	partner string // host:port of the partner API
	local   string // local API base URL
	dir     string
}

// startNode lays out an ecogate node of country IN with a development PKI
// whose partner registry holds only the kit (its partners-entry.yaml), and
// serves it on loopback until the test ends.
func startNode(t *testing.T, kit *conformance.Kit) *node {
	t.Helper()
	return startNodeWith(t, kit, nil)
}

// startNodeWith is startNode with the kit's partner entry edited first.
func startNodeWith(t *testing.T, kit *conformance.Kit, editEntry func([]byte) []byte) *node {
	t.Helper()
	dir := t.TempDir()
	lnP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lnL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	site := devsite.Site{Country: "IN", Name: "India (conformance test)", PartnerAddr: lnP.Addr().String(), LocalAddr: lnL.Addr().String(), Dir: dir}
	if err := devsite.Write([]devsite.Site{site}, devsite.Retry{Attempts: 3, InitialInterval: time.Second, MaxInterval: time.Second, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "node"), os.DirFS(filepath.Join(kit.Dir, "node"))); err != nil {
		t.Fatal(err)
	}
	entry, err := os.ReadFile(filepath.Join(kit.Dir, "node", "partners-entry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if editEntry != nil {
		entry = editEntry(entry)
	}
	if err := os.WriteFile(filepath.Join(dir, "partners.yaml"), append([]byte("partners:\n"), entry...), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.LoadConfig(site.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := cfg.Open(slog.New(slog.NewTextHandler(logf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.ServeListeners(ctx, gateway.Listeners{Partner: lnP, Local: lnL}) }()
	t.Cleanup(func() {
		cancel()
		<-done
		inst.Close()
		logf.Close()
	})
	n := &node{target: "https://" + site.PartnerAddr + "/eco/v1", partner: site.PartnerAddr, local: "http://" + site.LocalAddr, dir: dir}
	waitReady(t, n.local)
	return n
}

func waitReady(t *testing.T, local string) {
	t.Helper()
	for range 200 {
		if r, err := http.Get(local + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(25 * time.Millisecond) // polling a server start, not timing the code under test
	}
	t.Fatal("the node did not become ready")
}

// sendToKit has the node issue one e-CO to the kit's country (pull mode),
// so that the pull, query and decision assertions apply.
func sendToKit(t *testing.T, n *node, kit *conformance.Kit, number string) {
	t.Helper()
	raw, err := os.ReadFile("testdata/eco.xml")
	if err != nil {
		t.Fatal(err)
	}
	c, fs := schema.DecodeXML(raw, schema.DecodeOptions{})
	if fs != nil {
		t.Fatal(fs)
	}
	c.Header.ID, c.Header.ImportCountry = number, kit.Country
	c.Header.IssueDateTime = schema.DateTime{Time: time.Now().UTC().Add(-time.Minute).Truncate(time.Second)}
	doc, err := schema.EncodeXML(c)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(n.local+"/api/v1/outbound?to="+kit.Country, "application/xml", bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("submit to the node: %d %s", resp.StatusCode, b)
	}
}

func newKit(t *testing.T) *conformance.Kit {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "kit")
	if _, err := conformance.Init(dir, conformance.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	kit, err := conformance.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return kit
}

// artifactDir is where reports are kept: $CONFORMANCE_REPORT_DIR (made
// if missing; a relative path is taken from the repository's top, as .ci/run
// sets it), or the test's temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	d := os.Getenv("CONFORMANCE_REPORT_DIR")
	if d == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(d) {
		d = filepath.Join("..", d)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("CONFORMANCE_REPORT_DIR: %v", err)
	}
	return d
}

func TestKitPassesAgainstEcogate(t *testing.T) {
	kit := newKit(t)
	n := startNode(t, kit)
	sendToKit(t, n, kit, "IN-CONF-PULL-0001")
	var progress strings.Builder
	start := time.Now()
	rep, err := conformance.Run(context.Background(), kit, conformance.Options{Target: n.target, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	dir := artifactDir(t)
	for _, ext := range []string{".xml", ".html", ".json"} {
		p := filepath.Join(dir, "conformance-ecogate"+ext)
		if err := rep.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		t.Logf("report kept at %s", p)
	}
	t.Logf("%d assertions in %v (%d passed, %d failed, %d not applicable)\n%s", len(rep.Results), took, rep.Passed, rep.Failed, rep.NotApplic, progress.String())
	if len(rep.Results) != len(conformance.Catalogue()) {
		t.Errorf("ran %d assertions, the catalogue has %d", len(rep.Results), len(conformance.Catalogue()))
	}
	for _, r := range rep.Results {
		if r.Status != conformance.Pass {
			t.Errorf("%s %s: %s", r.ID, r.Status, r.Reason)
		}
	}
}

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestTLSServerCertificateUnderNodeCA: with --node-ca naming the node's
// root, ECO-PRO-03 also checks the chain, and passes against ecogate; a CA
// that did not issue the node's certificate fails the run's handshakes.
func TestTLSServerCertificateUnderNodeCA(t *testing.T) {
	kit := newKit(t)
	n := startNode(t, kit)
	for _, tc := range []struct {
		name string
		ca   *x509.Certificate
		want conformance.Status
	}{
		{"the node's root", loadCert(t, filepath.Join(n.dir, "pki", "root-cert.pem")), conformance.Pass},
		{"another CA", kit.OtherRoot.Cert, conformance.Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := x509.NewCertPool()
			pool.AddCert(tc.ca)
			rep, err := conformance.Run(context.Background(), kit, conformance.Options{Target: n.target, NodeCA: pool, NodeCountry: "IN", Only: []string{"ECO-PRO-03"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Results) != 1 || rep.Results[0].Status != tc.want {
				t.Fatalf("ECO-PRO-03 with --node-ca %s: %+v, want %s", tc.name, rep.Results, tc.want)
			}
			t.Logf("%s %s", rep.Results[0].Status, rep.Results[0].Reason)
		})
	}
}

func loadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := certs.ParseCertificates(b)
	if err != nil || len(cs) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	return cs[0]
}
