package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"go.yaml.in/yaml/v3"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/store"
)

// devSites lays out IN and VN on loopback ports that are free now.
func devSites(t *testing.T, retry devsite.Retry) ([]devsite.Site, []net.Listener) {
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
		{Country: "IN", Name: "India (dev)", PartnerAddr: addr(), LocalAddr: addr(), Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam (dev)", PartnerAddr: addr(), LocalAddr: addr(), Dir: filepath.Join(dir, "vn")},
	}
	if err := devsite.Write(sites, retry); err != nil {
		t.Fatal(err)
	}
	return sites, lns
}

var devRetry = devsite.Retry{Attempts: 20, InitialInterval: time.Second, MaxInterval: 2 * time.Second, MaxAge: time.Hour}

// TestConfigNodes runs two nodes from their configuration files, as
// `ecogate serve` does, and sends one e-CO through the local HTTP API.
func TestConfigNodes(t *testing.T) {
	sites, lns := devSites(t, devRetry)
	var insts []*Instance
	for i, s := range sites {
		c, err := LoadConfig(s.ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		inst, err := c.Open(testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, inst)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func(i int) { done <- inst.Serve(ctx, lns[2*i], lns[2*i+1]) }(i)
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			inst.Close()
		})
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, body := post(t, c, "http://"+sites[0].LocalAddr+"/api/v1/outbound", "application/xml", sample(t, 1))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	var res SubmitResult
	_ = json.Unmarshal(body, &res)
	waitFor(t, 20*time.Second, "delivered", func() bool {
		rec, err := insts[0].DB.Outbox().Get(context.Background(), res.Messages[0].ID)
		return err == nil && rec.State == store.StateDelivered
	})
	if _, err := insts[1].DB.Inbox().Get(context.Background(), res.Messages[0].ID); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get("http://" + sites[1].LocalAddr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestConfigErrorsNameTheKey: every problem names its key.
func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"", "empty"},
		{"node: {country: India}", "node.country"},
		{"node: {country: IN}", "node.name"},
		{"node: {country: IN, name: x}", "listen.partner"},
		{"node: {country: IN, name: x}\nlisten: {partner: ':8443'}", "tls.cert"},
		{"node: {country: IN, name: x}\nlisten: {partner: 'nope'}", "listen.partner: \"nope\""},
		{"nodes: {}", `line 1: unknown key "nodes" in the top level; the keys allowed there are: node, listen, local, tls,`},
		{"node:\n  country: IN\n  bogus: x\n", `line 3: unknown key "bogus" in node; the keys allowed there are: country, name, publicURL, agreements`},
		{"verify:\n  publicUrl: x\n", `line 2: unknown key "publicUrl" in verify (did you mean "publicURL"?`},
		{"listen: :8443\n", "line 1: listen must be a mapping with the keys partner, local"},
		{"delivery: {timeout: soon}", "not a duration"},
		{"log: {level: loud}", "log.level"},
		{"dataCheck: sometimes", "dataCheck: \"sometimes\" is not auto, always or never"},
		{"dataViewMemoryMiB: -1", "dataViewMemoryMiB: -1 is not between 0 (no index) and 1048576 MiB"},
		{"dataViewMemoryMiB: lots", "line 1: cannot unmarshal !!str `lots` into int"},
	} {
		_, err := ParseConfig([]byte(tc.yaml), "/etc/ecogate")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to mention %q", tc.yaml, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "struct {") {
			t.Errorf("%q: error shows a Go type: %v", tc.yaml, err)
		}
	}
	sites, _ := devSites(t, devRetry)
	c, err := LoadConfig(sites[0].ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.TLS.Cert) || !strings.HasPrefix(c.Data, sites[0].Dir) {
		t.Fatalf("paths not resolved against the file: %s %s", c.TLS.Cert, c.Data)
	}
	if got := c.StoreOptions(nil).ViewMemory; got != DefaultViewMemory() || got < 256<<20 {
		t.Fatalf("default check view memory %d, want %d", got, DefaultViewMemory())
	}
	for _, tc := range []struct {
		yaml string
		want int
	}{{"dataViewMemoryMiB: 0", 0}, {"dataViewMemoryMiB: 3072", 3072 << 20}} {
		var c Config
		if err := yaml.Unmarshal([]byte(tc.yaml), &c); err != nil {
			t.Fatal(err)
		}
		if got := c.StoreOptions(nil).ViewMemory; got != tc.want {
			t.Fatalf("%s: view memory %d, want %d", tc.yaml, got, tc.want)
		}
	}
}

// TestDefaultViewMemory: an eighth of the machine's memory or of the
// cgroup's limit, whichever is lower, at least 256 MiB, and 1 GiB when
// neither can be read.
func TestDefaultViewMemory(t *testing.T) {
	meminfo := "MemTotal:       24601112 kB\nMemFree:        16000000 kB\n"
	for _, tc := range []struct {
		meminfo, cgroup string
		want            int
	}{
		{meminfo, "", 24601112 << 10 / 8},
		{meminfo, "max\n", 24601112 << 10 / 8},
		{meminfo, "8589934592\n", 1 << 30},
		{meminfo, "1073741824\n", 256 << 20},
		{"", "", 1 << 30},
		{"", "17179869184", 2 << 30},
		{"MemTotal: lots kB\n", "", 1 << 30},
		{"MemTotal: 1024000 kB\n", "", 256 << 20},
	} {
		if got := defaultViewMemory([]byte(tc.meminfo), []byte(tc.cgroup)); got != tc.want {
			t.Errorf("meminfo %q, cgroup %q: %d, want %d", tc.meminfo, tc.cgroup, got, tc.want)
		}
	}
}

// TestCorruptDataFileRefused: a damaged data file stops the node with the
// reason; it never starts empty.
func TestCorruptDataFileRefused(t *testing.T) {
	sites, _ := devSites(t, devRetry)
	c, err := LoadConfig(sites[0].ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	inst, err := c.Open(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Node.Submit(context.Background(), sample(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	inst.Close()
	f, err := os.OpenFile(c.Data, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = 0xA5
	}
	if _, err := f.WriteAt(junk, 0); err != nil { // both meta pages' first one
		t.Fatal(err)
	}
	if _, err := f.WriteAt(junk, 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = c.Open(testLogger(t))
	if err == nil || !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("opened a damaged file (%d bytes): %v", st.Size(), err)
	}
	mustContain(t, err.Error(), "refuses to start")
}

// TestRegistryReload: a change to the partners file takes effect in a
// running node without a restart.
func TestRegistryReload(t *testing.T) {
	sites, lns := devSites(t, devRetry)
	c, err := LoadConfig(sites[0].ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	c.Registry.PollInterval = Duration(50 * time.Millisecond)
	inst, err := c.Open(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Serve(ctx, lns[0], lns[1]) }()
	defer func() { cancel(); <-done; inst.Close() }()
	res, err := inst.Node.Submit(context.Background(), sample(t, 1), nil)
	if err != nil || res.Messages[0].Pull {
		t.Fatalf("before: %+v %v", res, err)
	}
	pf := filepath.Join(sites[0].Dir, "partners.yaml")
	b, err := os.ReadFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pf, []byte(strings.Replace(string(b), "delivery: push", "delivery: pull", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	i := 2
	waitFor(t, 10*time.Second, "the reload", func() bool {
		res, err := inst.Node.Submit(context.Background(), sample(t, i), nil)
		i++
		return err == nil && res.Messages[0].Pull
	})
}

// TestExampleConfigHasNoPlaceholderQRHost: the printed example parses, and a
// node started with it does not hand out QR links to a host that does not
// exist (verify.publicURL is empty; the node warns and links to
// listen.public).
func TestExampleConfigHasNoPlaceholderQRHost(t *testing.T) {
	c, err := ParseConfig([]byte(devsite.ExampleConfig()), t.TempDir())
	if err != nil {
		t.Fatalf("the example configuration does not parse: %v", err)
	}
	if c.Verify.PublicURL != "" {
		t.Fatalf("example verify.publicURL = %q, want empty", c.Verify.PublicURL)
	}
	if strings.Contains(devsite.ExampleConfig(), "verify.example") {
		t.Fatal("the example still names the placeholder host verify.example...")
	}
}
