package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/store"
)

// fault is what the crappy receiver does with one request.
type fault int

const (
	ok      fault = iota // pass to the real receiver
	down                 // 503 without touching the receiver
	reset                // close the connection without an answer
	lost                 // the receiver stores and signs, then the answer is lost
	slow                 // wait past the sender's timeout, then pass
	gateway              // 502 from a "proxy"
)

// crappyReceiver fronts VN's real partner API with faults chosen per
// request, and counts requests per message id.
type crappyReceiver struct {
	srv     *httptest.Server
	next    http.Handler
	plan    func(i int64, id string) fault
	n       atomic.Int64
	mu      sync.Mutex
	perID   map[string]int
	slowFor time.Duration
}

func newCrappyReceiver(t *testing.T, vn *DevNode, plan func(i int64, id string) fault) *crappyReceiver {
	c := &crappyReceiver{next: vn.Node.PartnerHandler(), plan: plan, perID: map[string]int{}, slowFor: 700 * time.Millisecond}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	tc, err := vn.Node.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	c.srv.TLS = tc
	c.srv.StartTLS()
	t.Cleanup(c.srv.Close)
	return c
}

func (c *crappyReceiver) serve(w http.ResponseWriter, r *http.Request) {
	i := c.n.Add(1)
	env := Envelope{}
	id := ""
	if r.Method == http.MethodPost {
		// Peek at the message id without consuming the body for the real handler.
		body, _ := readBody(w, r, 1<<22)
		r.Body = http.NoBody
		if len(body) > 0 {
			_ = json.Unmarshal(body, &env)
			id = env.MessageID
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
	}
	c.mu.Lock()
	c.perID[id]++
	c.mu.Unlock()
	switch c.plan(i, id) {
	case down:
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	case gateway:
		http.Error(w, "bad gateway", http.StatusBadGateway)
	case reset:
		hijackClose(w)
	case lost:
		rec := httptest.NewRecorder()
		c.next.ServeHTTP(rec, r)
		hijackClose(w)
	case slow:
		time.Sleep(c.slowFor)
		c.next.ServeHTTP(w, r)
	default:
		c.next.ServeHTTP(w, r)
	}
}

func (c *crappyReceiver) attempts(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.perID[id]
}

// hijackClose drops the connection under HTTP/1.1; under HTTP/2 (the
// partner API's protocol) it resets the stream, which the client sees as
// the same transport error (http.ErrAbortHandler is not logged).
func hijackClose(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

// pairViaCrappy starts IN and VN; IN reaches VN only through the crappy
// receiver, with the given policy.
func pairViaCrappy(t *testing.T, policy partners.RetryPolicy, plan func(i int64, id string) fault) (*pair, *crappyReceiver) {
	_, vn, _ := identities(t)
	p := newPair(t, policy, func(o *Options) {
		o.Timeout = 400 * time.Millisecond
		o.Lease = 2 * time.Second
	}, nil)
	c := newCrappyReceiver(t, p.vn, plan)
	p.dirIN.Set(vn.AsPartner(c.srv.URL+"/eco/v1", policy, "AIFTA"))
	// The receiver's server listens on httptest's address, whose
	// certificate (VN's TLS server certificate) names 127.0.0.1.
	return p, c
}

// TestFlappingPartner: a partner that fails, resets, loses 2xx answers and
// is slow, in turns, for a while: every message is delivered after
// recovery, stored once at the receiver, with one message id throughout.
func TestFlappingPartner(t *testing.T) {
	const n = 60
	var recovered atomic.Bool
	p, c := pairViaCrappy(t, fastRetry, func(i int64, id string) fault {
		if recovered.Load() {
			return ok
		}
		return []fault{down, reset, lost, slow, ok, gateway, lost}[i%7]
	})
	ids := submitAll(t, p.in, 1, n, 4)
	time.Sleep(1500 * time.Millisecond)
	recovered.Store(true)
	waitFor(t, 60*time.Second, "all delivered", func() bool { return countState(t, p.in, store.StateDelivered) == n })

	ctx := context.Background()
	got, _ := p.vn.DB.Inbox().List(ctx, store.StateDelivered, 0)
	if len(got) != n {
		t.Fatalf("receiver stored %d, want %d", len(got), n)
	}
	retried := 0
	for _, id := range ids {
		if _, err := p.vn.DB.Inbox().Get(ctx, id); err != nil {
			t.Fatalf("receiver lacks %s under its original id: %v", id, err)
		}
		rec, _ := p.in.DB.Outbox().Get(ctx, id)
		if k := c.attempts(id); k > 1 {
			retried++
			if rec.Attempts > fastRetry.Attempts {
				t.Fatalf("message %s: %d attempts, budget %d", id, rec.Attempts, fastRetry.Attempts)
			}
		}
	}
	if retried == 0 {
		t.Fatal("no message was retried; the faults did not bite")
	}
	if v := metricValue(t, p.vn.Node.Registry(), "ecogate_receive_total", map[string]string{"outcome": "duplicate"}); v == 0 {
		t.Fatal("no duplicate seen at the receiver although answers were lost")
	}
	t.Logf("%d requests for %d messages; %d retried", c.n.Load(), n, retried)
}

// TestPartnerOutage: a partner down for a while gets everything after it
// recovers.
func TestPartnerOutage(t *testing.T) {
	const n = 30
	var up atomic.Bool
	p, _ := pairViaCrappy(t, fastRetry, func(int64, string) fault {
		if up.Load() {
			return ok
		}
		return down
	})
	submitAll(t, p.in, 1, n, 4)
	waitFor(t, 10*time.Second, "retries", func() bool { return countState(t, p.in, store.StateAwaitingRetry) > 0 })
	time.Sleep(500 * time.Millisecond)
	if k := countState(t, p.in, store.StateDelivered); k != 0 {
		t.Fatalf("%d delivered while the partner was down", k)
	}
	if v := metricValue(t, p.in.Node.Registry(), "ecogate_outbox_messages", map[string]string{"partner": "VN"}); v != n {
		t.Fatalf("outbox depth %v, want %d", v, n)
	}
	up.Store(true)
	waitFor(t, 30*time.Second, "all delivered", func() bool { return countState(t, p.in, store.StateDelivered) == n })
	got, _ := p.vn.DB.Inbox().List(context.Background(), store.StateDelivered, 0)
	if len(got) != n {
		t.Fatalf("receiver stored %d, want %d", len(got), n)
	}
}

// TestRetryBudget: against a partner that never answers, each message is
// tried exactly Attempts times, then suspended, counted in the metrics, and
// visible; resent by hand after recovery it is delivered under the same id.
func TestRetryBudget(t *testing.T) {
	const n = 5
	policy := partners.RetryPolicy{Attempts: 3, InitialInterval: 20 * time.Millisecond, MaxInterval: 50 * time.Millisecond, Multiplier: 2, Jitter: 0.1, MaxAge: time.Hour}
	var up atomic.Bool
	p, c := pairViaCrappy(t, policy, func(_ int64, _ string) fault {
		if up.Load() {
			return ok
		}
		return down
	})
	ids := submitAll(t, p.in, 1, n, 1)
	waitFor(t, 20*time.Second, "all suspended", func() bool { return countState(t, p.in, store.StateSuspended) == n })
	time.Sleep(300 * time.Millisecond) // nothing more may happen
	ctx := context.Background()
	for _, id := range ids {
		if k := c.attempts(id); k != policy.Attempts {
			t.Fatalf("message %s tried %d times, budget %d", id, k, policy.Attempts)
		}
		rec, _ := p.in.DB.Outbox().Get(ctx, id)
		if rec.Attempts != policy.Attempts || rec.LastErr == "" {
			t.Fatalf("record %+v", rec)
		}
	}
	reg := p.in.Node.Registry()
	if v := metricValue(t, reg, "ecogate_suspended_messages", nil); v != n {
		t.Fatalf("ecogate_suspended_messages = %v, want %d", v, n)
	}
	if v := metricValue(t, reg, "ecogate_suspended_total", map[string]string{"partner": "VN"}); v != n {
		t.Fatalf("ecogate_suspended_total = %v, want %d", v, n)
	}
	if v := metricValue(t, reg, "ecogate_deliveries_total", map[string]string{"outcome": deliveryRetry}); v != float64(n*(policy.Attempts-1)) {
		t.Fatalf("retries counted %v, want %d", v, n*(policy.Attempts-1))
	}
	// Resend one by hand through the local API after recovery.
	up.Store(true)
	resp, body := post(t, http.DefaultClient, p.in.LocalURL+"/api/v1/outbound/"+ids[0]+"/retry", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("retry: %d %s", resp.StatusCode, body)
	}
	waitFor(t, 10*time.Second, "resent message delivered", func() bool {
		rec, _ := p.in.DB.Outbox().Get(ctx, ids[0])
		return rec.State == store.StateDelivered
	})
	if _, err := p.vn.DB.Inbox().Get(ctx, ids[0]); err != nil {
		t.Fatalf("receiver lacks the resent message under its id: %v", err)
	}
	if k := countState(t, p.in, store.StateSuspended); k != n-1 {
		t.Fatalf("%d suspended, want %d", k, n-1)
	}
}

// TestMaxAge: the policy's maximum age suspends a message before its
// attempts are spent.
func TestMaxAge(t *testing.T) {
	policy := partners.RetryPolicy{Attempts: 1000, InitialInterval: 50 * time.Millisecond, MaxInterval: 50 * time.Millisecond, Multiplier: 1, MaxAge: 300 * time.Millisecond}
	p, c := pairViaCrappy(t, policy, func(int64, string) fault { return reset })
	ids := submitAll(t, p.in, 1, 1, 1)
	waitFor(t, 10*time.Second, "suspended", func() bool { return countState(t, p.in, store.StateSuspended) == 1 })
	if k := c.attempts(ids[0]); k < 2 || k > 8 {
		t.Fatalf("%d attempts within a 300 ms maximum age at 50 ms intervals", k)
	}
	rec, _ := p.in.DB.Outbox().Get(context.Background(), ids[0])
	mustContain(t, rec.LastErr, "maximum age")
}
