package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/store"
)

// The crash test runs two real nodes, IN and VN, as child processes (this
// test binary re-executed as `ecogate serve` would run them, from
// generated configuration files), submits e-COs to IN's local API, and
// kills one node or the other with SIGKILL at random moments, restarting
// it each time. At the end every message IN accepted (answered 202) must
// be stored exactly once at VN with IN holding VN's receipt, every
// certificate IN queued must be in IN's issued register, VN must hold
// nothing IN does not know, and both data files must pass bbolt's check
// and the store's own index checks.
const (
	crashEnvConfig = "ECOGATE_GW_CRASH_CONFIG"
	crashTarget    = 2000
	crashKills     = 24
)

// TestCrashChild is the child: it serves one node until killed or
// SIGTERM.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvConfig)
	if path == "" {
		t.Skip("helper process of TestCrashKill9")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	inst, err := cfg.Open(cfg.Logger(io.Discard))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	err = inst.Run(ctx)
	inst.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}

type crashChild struct {
	name, config, local string
	mu                  sync.Mutex
	cmd                 *exec.Cmd
	stderr              *bytes.Buffer
	done                chan error
}

func (c *crashChild) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvConfig+"="+c.config)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c.mu.Lock()
	c.cmd, c.stderr, c.done = cmd, &errb, done
	c.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + c.local + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("%s ended before it was ready: %v: %s", c.name, err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after 30 s: %s", c.name, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *crashChild) kill(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	cmd, done, errb := c.cmd, c.done, c.stderr
	c.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", c.name, err)
	}
	err := <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("%s was not killed by SIGKILL but ended with %v: %s", c.name, err, errb.String())
	}
}

func (c *crashChild) stop(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	cmd, done, errb := c.cmd, c.done, c.stderr
	c.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s did not stop cleanly: %v: %s", c.name, err, errb.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Errorf("%s did not stop within 60 s", c.name)
	}
}

// TestCrashKill9 is the parent.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	sites, lns := devSites(t, devsite.Retry{Attempts: 1000, InitialInterval: time.Second, MaxInterval: 2 * time.Second, MaxAge: 24 * time.Hour})
	for _, ln := range lns {
		ln.Close()
	}
	var kids []*crashChild
	for _, s := range sites {
		b, err := os.ReadFile(s.ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		cfg := strings.NewReplacer("pollInterval: 200ms", "pollInterval: 50ms", "timeout: 30s", "timeout: 2s", "lease: 60s", "lease: 3s").Replace(string(b))
		if err := os.WriteFile(s.ConfigPath(), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, &crashChild{name: s.Country, config: s.ConfigPath(), local: s.LocalAddr})
	}
	for _, k := range kids {
		k.start(t)
	}
	in, vn := kids[0], kids[1]
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	start := time.Now()

	// Producers: submit to IN's local API; a 202 is "accepted".
	var (
		mu       sync.Mutex
		accepted = map[string]string{} // message id -> certificate number
		next     atomic.Int64
		refused  atomic.Int64
	)
	stopProducers := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopProducers:
					return
				default:
				}
				mu.Lock()
				enough := len(accepted) >= crashTarget
				mu.Unlock()
				if enough {
					return
				}
				i := next.Add(1)
				doc, err := samplecert.XML(fmt.Sprintf("IN-CRASH-%06d", i), 1, "IN", "VN")
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := hc.Post("http://"+in.local+"/api/v1/outbound?to=VN", "application/xml", bytes.NewReader(doc))
				if err != nil {
					refused.Add(1)
					time.Sleep(20 * time.Millisecond) // IN is down
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					refused.Add(1)
					continue
				}
				var res SubmitResult
				if err := json.Unmarshal(body, &res); err != nil {
					t.Errorf("202 with unreadable body: %v", err)
					continue
				}
				mu.Lock()
				accepted[res.Messages[0].ID] = res.Certificate.Number
				mu.Unlock()
			}
		}()
	}

	// Kill at random moments, restarting each time.
	kills := map[string]int{}
	for range crashKills {
		time.Sleep(time.Duration(50+rng.IntN(450)) * time.Millisecond)
		k := kids[rng.IntN(2)]
		k.kill(t)
		kills[k.name]++
		k.start(t)
	}
	wg.Wait()
	mu.Lock()
	nAccepted := len(accepted)
	mu.Unlock()
	if nAccepted < crashTarget {
		// The kills ended first: finish producing with both nodes up.
		close(stopProducers)
		t.Fatalf("only %d accepted during the kills", nAccepted)
	}
	close(stopProducers)
	t.Logf("%d kills (IN %d, VN %d) in %s; %d e-COs accepted, %d submissions failed while IN was down",
		crashKills, kills["IN"], kills["VN"], time.Since(start).Round(time.Millisecond), nAccepted, refused.Load())

	// Let the nodes finish: nothing pending at IN.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		pending := 0
		for _, s := range []store.State{store.StateQueued, store.StateSending, store.StateAwaitingRetry, store.StateSuspended} {
			resp, err := hc.Get("http://" + in.local + "/api/v1/outbound?limit=5000&state=" + string(s))
			if err != nil {
				t.Fatal(err)
			}
			var list []Tracking
			_ = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
			pending += len(list)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still pending at IN after 3 minutes", pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("all settled %s after the start", time.Since(start).Round(time.Millisecond))
	in.stop(t)
	vn.stop(t)

	ctx := context.Background()
	sdb, err := store.Open(sites[0].Dir+"/data/ecogate.db", store.Options{})
	if err != nil {
		t.Fatalf("reopen IN's data file: %v", err)
	}
	defer sdb.Close()
	rdb, err := store.Open(sites[1].Dir+"/data/ecogate.db", store.Options{})
	if err != nil {
		t.Fatalf("reopen VN's data file: %v", err)
	}
	defer rdb.Close()
	for name, db := range map[string]*store.DB{"IN": sdb, "VN": rdb} {
		if err := db.Check(ctx); err != nil {
			t.Fatalf("%s: consistency check: %v", name, err)
		}
		if _, err := db.Audit().Verify(ctx); err != nil {
			t.Fatalf("%s: audit chain: %v", name, err)
		}
	}
	for id, num := range accepted {
		rec, err := sdb.Outbox().Get(ctx, id)
		if err != nil {
			t.Fatalf("accepted message %s is not in IN's outbox: %v", id, err)
		}
		if iss, err := sdb.Issued().Get(ctx, num); err != nil || iss.Status != store.CertIssued || len(iss.Data) == 0 {
			t.Fatalf("accepted certificate %s is not in IN's issued register: %+v %v", num, iss, err)
		}
		if rec.State != store.StateDelivered || len(rec.Receipt) == 0 {
			t.Fatalf("accepted message %s is %s at IN", id, rec.State)
		}
		got, err := rdb.Inbox().Get(ctx, id)
		if err != nil {
			t.Fatalf("accepted message %s (%s) not at VN: %v", id, num, err)
		}
		if got.ContentHash != rec.ContentHash || got.CertNumber != num {
			t.Fatalf("message %s: VN stored other content", id)
		}
	}
	sent, err := sdb.Outbox().List(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, r := range sent {
		known[r.ID] = true
		// Queued (answered or not before a kill) means registered: the
		// two are one transaction.
		if _, err := sdb.Issued().Get(ctx, r.CertNumber); err != nil {
			t.Fatalf("message %s is queued at IN but certificate %s is not in the issued register: %v", r.ID, r.CertNumber, err)
		}
	}
	recv, err := rdb.Inbox().List(ctx, store.StateDelivered, 0)
	if err != nil {
		t.Fatal(err)
	}
	numbers := map[string]bool{}
	for _, r := range recv {
		if !known[r.ID] {
			t.Fatalf("VN holds %s, which IN never queued", r.ID)
		}
		if numbers[r.CertNumber] {
			t.Fatalf("VN stored certificate %s twice", r.CertNumber)
		}
		numbers[r.CertNumber] = true
	}
	if len(recv) != len(sent) {
		t.Fatalf("VN stored %d messages, IN queued %d", len(recv), len(sent))
	}
	t.Logf("%d accepted, %d queued at IN (some accepted just before a kill without an answer), %d stored once each at VN", len(accepted), len(sent), len(recv))
}
