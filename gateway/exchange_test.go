package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/store"
)

// submitAll submits n samples (numbers from..from+n-1) on d with a few
// goroutines, returning the message ids.
func submitAll(t testing.TB, d *DevNode, from, n, par int) []string {
	t.Helper()
	ids := make([]string, n)
	var next atomic.Int64
	next.Store(int64(from) - 1)
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i >= from+n {
					return
				}
				res, err := d.Node.Submit(context.Background(), sample(t, i), nil)
				if err != nil {
					errs <- err
					return
				}
				ids[i-from] = res.Messages[0].ID
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// TestExchange1000 runs two nodes on loopback exchanging 1,000 e-COs: every
// one is stored once at the receiver, with a verified receipt at the
// sender, and both stores pass their consistency check.
func TestExchange1000(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	p := newPair(t, fastRetry, nil, nil)
	start := time.Now()
	ids := submitAll(t, p.in, 1, n, 8)
	t.Logf("submitted in %s", time.Since(start))
	waitFor(t, 3*time.Minute, "all delivered", func() bool { return countState(t, p.in, store.StateDelivered) == n })
	t.Logf("%d e-COs submitted, delivered and receipted in %s", n, time.Since(start).Round(time.Millisecond))

	ctx := context.Background()
	got, err := p.vn.DB.Inbox().List(ctx, store.StateDelivered, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("receiver stored %d messages as delivered, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.CertNumber] {
			t.Fatalf("certificate %s stored twice", r.CertNumber)
		}
		seen[r.CertNumber] = true
	}
	for _, s := range []store.State{store.StateDeliveredWithWarnings, store.StateNotReadable, store.StateFailed} {
		if k, _ := p.vn.DB.Inbox().List(ctx, s, 0); len(k) != 0 {
			t.Fatalf("receiver has %d messages in state %s", len(k), s)
		}
	}
	partnerVN := p.dirIN.Lookup("VN")
	for _, id := range ids {
		rec, err := p.in.DB.Outbox().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != store.StateDelivered || len(rec.Receipt) == 0 {
			t.Fatalf("message %s: state %s, receipt %d bytes", id, rec.State, len(rec.Receipt))
		}
		rc, err := p.in.Node.checkReceipt(partnerVN, rec, rec.Receipt)
		if err != nil {
			t.Fatalf("message %s: stored receipt does not verify: %v", id, err)
		}
		if rc.MessageID != id || rc.Outcome != Delivered {
			t.Fatalf("message %s: receipt %+v", id, rc)
		}
		in, err := p.vn.DB.Inbox().Get(ctx, id)
		if err != nil {
			t.Fatalf("receiver lacks %s: %v", id, err)
		}
		if in.ContentHash != rec.ContentHash {
			t.Fatalf("message %s: receiver stored other bytes", id)
		}
	}
	for _, d := range []*DevNode{p.in, p.vn} {
		if err := d.DB.Check(ctx); err != nil {
			t.Fatalf("%s store check: %v", d.Node.Country(), err)
		}
	}
	if v := metricValue(t, p.in.Node.Registry(), "ecogate_deliveries_total", map[string]string{"partner": "VN", "outcome": "Delivered"}); v != float64(n) {
		t.Fatalf("ecogate_deliveries_total{VN,Delivered} = %v, want %d", v, n)
	}
	if v := metricValue(t, p.vn.Node.Registry(), "ecogate_receive_total", map[string]string{"partner": "IN", "outcome": "Delivered"}); v != float64(n) {
		t.Fatalf("ecogate_receive_total{IN,Delivered} = %v, want %d", v, n)
	}
}

// TestLocalAPI submits through the local HTTP API, tracks the message and
// reads the metrics and health endpoints.
func TestLocalAPI(t *testing.T) {
	p := newPair(t, fastRetry, nil, nil)
	c := &http.Client{Timeout: 10 * time.Second}
	resp, body := post(t, c, p.in.LocalURL+"/api/v1/outbound?to=VN", "application/xml", sample(t, 1))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	var res SubmitResult
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || !res.Signed || res.Kind != KindIssue {
		t.Fatalf("submit result %+v", res)
	}
	id := res.Messages[0].ID
	var tr Tracking
	waitFor(t, 20*time.Second, "delivered", func() bool {
		resp, err := c.Get(res.Messages[0].Tracking)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		tr = Tracking{}
		_ = json.NewDecoder(resp.Body).Decode(&tr)
		return tr.TrackingInfo == Delivered
	})
	if tr.MessageID != id || tr.Receipt == "" || tr.Attempts != 1 {
		t.Fatalf("tracking %+v", tr)
	}
	// The receiver's local API shows the inbound message and certificate status.
	resp, err := c.Get(p.vn.LocalURL + "/api/v1/certificates/IN/IN-AI-TEST-000001")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("certificate status: %d %s", resp.StatusCode, b)
	}
	mustContain(t, string(b), `"status": "issued"`)

	// Refusals of the local API.
	// The same certificate number and version again: 409 naming the
	// delivered message, nothing queued (the partner would refuse it).
	resp, body = post(t, c, p.in.LocalURL+"/api/v1/outbound?to=VN", "application/xml", sample(t, 1))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("resubmit of a delivered certificate: %d %s", resp.StatusCode, body)
	}
	mustContain(t, string(body), CodeAlreadySent)
	mustContain(t, string(body), id)
	mustContain(t, string(body), "replacement")
	resp, body = post(t, c, p.in.LocalURL+"/api/v1/outbound?to=JP", "application/xml", sample(t, 2))
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("unknown partner: %d %s", resp.StatusCode, body)
	}
	resp, body = post(t, c, p.in.LocalURL+"/api/v1/outbound", "application/xml", []byte("<not xml"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad xml: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := c.Get(p.in.LocalURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		if path == "/metrics" {
			for _, name := range []string{"ecogate_deliveries_total", "ecogate_outbox_up", "ecogate_suspended_messages", "ecogate_delivery_duration_seconds", "ecogate_enqueued_total", "ecogate_check_view_index_views", "ecogate_check_view_index_full"} {
				mustContain(t, string(b), name)
			}
		}
	}
}
