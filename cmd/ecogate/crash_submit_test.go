package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/store"
)

// The submit crash test builds the ecogate binary, runs `ecogate serve`
// for IN as a child process, submits e-COs concurrently to its local API
// (POST /api/v1/outbound) and kills the node with SIGKILL at random
// moments, restarting it each time. Afterwards every certificate whose
// submission was answered 202 must be in the issued register and its
// message in the outbox; a client's retry of every unanswered submission
// must be accepted, or refused as already sent with the certificate in the
// register (never 409 with the certificate missing); every queued
// certificate must be registered; and `ecogate audit verify` must find the
// audit chain intact. VN is in IN's registry but not running: the
// messages stay in IN's outbox, which keeps the test about submitting.
const (
	submitCrashKills    = 10
	submitCrashMinAcked = 200
)

// nodeProcess is `ecogate serve` as a child process.
type nodeProcess struct {
	bin, config, local string
	cmd                *exec.Cmd
	stderr             *bytes.Buffer
	done               chan error
}

func (p *nodeProcess) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(p.bin, "serve", "--config", p.config)
	var errb bytes.Buffer
	cmd.Stderr, cmd.Stdout = &errb, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	p.cmd, p.stderr, p.done = cmd, &errb, done
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.local + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("ecogate serve ended before it was ready: %v: %s", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ecogate serve not up after 30 s: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *nodeProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	err := <-p.done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the node was not killed by SIGKILL but ended with %v: %s", err, p.stderr.String())
	}
}

func (p *nodeProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("the node did not stop cleanly: %v: %s", err, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("the node did not stop within 60 s")
	}
}

// submitAnswer is what the local API answered to a submission.
type submitAnswer struct {
	status int
	code   string
	id     string
}

func submitDoc(hc *http.Client, local string, doc []byte) (submitAnswer, error) {
	resp, err := hc.Post("http://"+local+"/api/v1/outbound?to=VN", "application/xml", bytes.NewReader(doc))
	if err != nil {
		return submitAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return submitAnswer{}, err // cut off by the kill: no answer
	}
	a := submitAnswer{status: resp.StatusCode}
	if resp.StatusCode == http.StatusAccepted {
		var res gateway.SubmitResult
		if err := json.Unmarshal(body, &res); err != nil || len(res.Messages) != 1 {
			return a, fmt.Errorf("202 with an unreadable body (%v): %s", err, body)
		}
		a.id = res.Messages[0].ID
		return a, nil
	}
	var prob struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &prob)
	a.code = prob.Code
	return a, nil
}

// issuedStatus returns the HTTP status of GET /api/v1/issued/{number} and
// the certificate's register status.
func issuedStatus(t *testing.T, hc *http.Client, local, number string) (int, store.CertState) {
	t.Helper()
	resp, err := hc.Get("http://" + local + "/api/v1/issued/" + number)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Certificate *store.IssuedCert `json:"certificate"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Certificate == nil {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, v.Certificate.Status
}

// TestSubmitCrashKill9 is the end-to-end crash test of submitting.
func TestSubmitCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	bin := buildEcogate(t)
	dir := t.TempDir()
	sites := []devsite.Site{
		{Country: "IN", Name: "India (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "vn")},
	}
	if err := devsite.Write(sites, devsite.Retry{Attempts: 1000, InitialInterval: time.Second, MaxInterval: 2 * time.Second, MaxAge: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	in := &nodeProcess{bin: bin, config: sites[0].ConfigPath(), local: sites[0].LocalAddr}
	in.start(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))

	var (
		mu         sync.Mutex
		acked      = map[string]string{} // certificate number -> message id
		unanswered = map[string][]byte{} // certificate number -> document
		next       int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 20 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				next++
				number := fmt.Sprintf("IN-E2E-%06d", next)
				mu.Unlock()
				doc, err := samplecert.XML(number, 1, "IN", "VN")
				if err != nil {
					t.Error(err)
					return
				}
				a, err := submitDoc(hc, in.local, doc)
				mu.Lock()
				switch {
				case err != nil || a.status >= 500:
					unanswered[number] = doc // no answer, or the node failed: the client will retry
				case a.status == http.StatusAccepted:
					acked[number] = a.id
				default:
					t.Errorf("first submission of %s answered %d %s", number, a.status, a.code)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the node is down
				}
			}
		}()
	}
	for range submitCrashKills {
		time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond)
		in.kill(t)
		in.start(t)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d kills; %d submissions answered 202, %d unanswered", submitCrashKills, len(acked), len(unanswered))
	if len(acked) < submitCrashMinAcked {
		t.Fatalf("only %d submissions accepted", len(acked))
	}

	// The client retries every unanswered submission.
	retriedOK, alreadySent := 0, 0
	for number, doc := range unanswered {
		a, err := submitDoc(hc, in.local, doc)
		if err != nil {
			t.Fatalf("retry of %s: %v", number, err)
		}
		switch {
		case a.status == http.StatusAccepted:
			retriedOK++
			acked[number] = a.id
		case a.status == http.StatusConflict && a.code == gateway.CodeAlreadySent:
			alreadySent++
			if st, cs := issuedStatus(t, hc, in.local, number); st != http.StatusOK || cs != store.CertIssued {
				t.Errorf("retry of %s: 409 already sent, but GET /api/v1/issued answers %d (status %q)", number, st, cs)
			}
		default:
			t.Errorf("retry of %s answered %d %s", number, a.status, a.code)
		}
	}
	t.Logf("retries: %d accepted, %d already sent (queued before the kill cut the answer)", retriedOK, alreadySent)

	// Every accepted certificate is registered and queued.
	for number, id := range acked {
		if st, cs := issuedStatus(t, hc, in.local, number); st != http.StatusOK || cs != store.CertIssued {
			t.Fatalf("accepted certificate %s: GET /api/v1/issued answers %d (status %q)", number, st, cs)
		}
		resp, err := hc.Get("http://" + in.local + "/api/v1/outbound/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("accepted certificate %s: its message %s answers %d", number, id, resp.StatusCode)
		}
	}
	in.stop(t)

	data := filepath.Join(sites[0].Dir, "data", "ecogate.db")
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, "audit", "verify", "--data", data)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || !strings.HasPrefix(out.String(), "ok: audit chain of ") {
		t.Fatalf("ecogate audit verify: %v\n%s%s", err, out.String(), errb.String())
	}
	t.Log(strings.TrimSpace(out.String()))

	// The store directly: consistent, and every queued certificate is
	// registered (answered or not).
	ctx := context.Background()
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(ctx); err != nil {
		t.Fatalf("consistency check: %v", err)
	}
	recs, err := db.Outbox().List(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	perCert := map[string]int{}
	for _, r := range recs {
		perCert[r.CertNumber]++
		if _, err := db.Issued().Get(ctx, r.CertNumber); err != nil {
			t.Errorf("certificate %s is queued (message %s) but not in the issued register: %v", r.CertNumber, r.ID, err)
		}
	}
	for number, id := range acked {
		if perCert[number] != 1 {
			t.Errorf("accepted certificate %s (message %s) is queued %d times", number, id, perCert[number])
		}
	}
}
