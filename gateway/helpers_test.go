package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/store"
)

// Development identities are costly (an RSA key each); make them once.
var (
	idsOnce          sync.Once
	idIN, idVN, idXX *DevIdentity
	idsErr           error
)

func identities(t testing.TB) (in, vn, xx *DevIdentity) {
	t.Helper()
	idsOnce.Do(func() {
		if idIN, idsErr = NewDevIdentity("IN", "India (test)"); idsErr != nil {
			return
		}
		if idVN, idsErr = NewDevIdentity("VN", "Viet Nam (test)"); idsErr != nil {
			return
		}
		idXX, idsErr = NewDevIdentity("XX", "Stranger (test)")
	})
	if idsErr != nil {
		t.Fatal(idsErr)
	}
	return idIN, idVN, idXX
}

// fastRetry retries quickly, for tests.
var fastRetry = partners.RetryPolicy{Attempts: 50, InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, Multiplier: 2, Jitter: 0.2, MaxAge: time.Hour}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ECOGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func fastOptions(t testing.TB) func(*Options) {
	return func(o *Options) {
		o.PollInterval = 10 * time.Millisecond
		o.Timeout = 5 * time.Second
		o.Lease = 10 * time.Second
		o.Logger = testLogger(t)
	}
}

// pair is two dev nodes, IN and VN, that know each other.
type pair struct {
	in, vn       *DevNode
	dirIN, dirVN *StaticDirectory // IN's registry (holds VN) and VN's (holds IN)
}

// newPair starts IN and VN on loopback. retry is each side's policy for
// the other; tweak adjusts both nodes' options.
func newPair(t testing.TB, retry partners.RetryPolicy, tweakIN, tweakVN func(*Options)) *pair {
	t.Helper()
	in, vn, _ := identities(t)
	dir := t.TempDir()
	plIN, llIN, err := DevListeners()
	if err != nil {
		t.Fatal(err)
	}
	plVN, llVN, err := DevListeners()
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{
		dirIN: NewStaticDirectory(vn.AsPartner(PartnerURLOf(plVN), retry, "AIFTA")),
		dirVN: NewStaticDirectory(in.AsPartner(PartnerURLOf(plIN), retry, "AIFTA")),
	}
	chain := func(a, b func(*Options)) func(*Options) {
		return func(o *Options) {
			if a != nil {
				a(o)
			}
			if b != nil {
				b(o)
			}
		}
	}
	if p.in, err = StartDevNode(in, filepath.Join(dir, "in.db"), plIN, llIN, p.dirIN, chain(fastOptions(t), tweakIN)); err != nil {
		t.Fatal(err)
	}
	if p.vn, err = StartDevNode(vn, filepath.Join(dir, "vn.db"), plVN, llVN, p.dirVN, chain(fastOptions(t), tweakVN)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []*DevNode{p.in, p.vn} {
			if err := d.Close(); err != nil {
				t.Errorf("close %s: %v", d.Node.Country(), err)
			}
		}
	})
	return p
}

// sample returns a sample e-CO from IN to VN with a unique number.
func sample(t testing.TB, i int) []byte {
	t.Helper()
	b, err := samplecert.XML(fmt.Sprintf("IN-AI-TEST-%06d", i), 1, "IN", "VN")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedSample signs the sample with an identity's document signer.
func signedSample(t testing.TB, id *DevIdentity, i int) []byte {
	t.Helper()
	s := &CertsSigner{Key: id.PKI.SignerECDSA.Key, Certs: []*x509.Certificate{id.PKI.SignerECDSA.Cert, id.PKI.Intermediate.Cert}}
	b, err := s.Sign(context.Background(), sample(t, i))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countState(t testing.TB, d *DevNode, s store.State) int {
	t.Helper()
	recs, err := d.DB.Outbox().List(context.Background(), store.Filter{State: s})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// partnerClient is an HTTP client presenting id's TLS client certificate
// (nil: none) and trusting the server roots.
func partnerClient(id *DevIdentity, roots ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if id != nil {
		tc.Certificates = []tls.Certificate{*id.ClientCertificate()}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

func postEnvelope(t testing.TB, c *http.Client, url string, env *Envelope) (*http.Response, []byte) {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return post(t, c, url+"/envelopes", "application/json", b)
}

func post(t testing.TB, c *http.Client, url, ctype string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp, rb
}

// receiptOf decodes a receipt token's payload (unverified).
func receiptOf(t testing.TB, tok []byte) Receipt {
	t.Helper()
	b, err := decodeJWSPayload(bytes.TrimSpace(tok))
	if err != nil {
		t.Fatalf("receipt %q: %v", tok, err)
	}
	var rc Receipt
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

// metricValue sums the samples of a metric family whose labels include
// the given ones.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func mustContain(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
