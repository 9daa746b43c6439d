package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/issuance"
	issapi "github.com/ecogate/ecogate/issuance/api"
	"github.com/ecogate/ecogate/store"
)

// The issue crash test runs `ecogate serve` for IN with the issuance
// workflow on (the demo's parties, set up through the API: exporter,
// agency and office, officer with a node-held key and registered DSC,
// e-wallet credited with exactly the fees), files draft applications, then
// has several clients submit (fee from the e-wallet), review and
// approve-and-issue them concurrently while the node is killed with
// SIGKILL at random moments and restarted; a client retries every request
// the kill left unanswered until it is answered. Afterwards every
// application is either issued (numbered, in the issued register, its
// message queued for VN when VN is the importing country) or still under
// review or approved without a number; the office's series for the year
// is 1..N without gap or duplicate and its counter is N; the e-wallet
// ledger is the running sum of its movements, never negative, each fee
// charged once; `ecogate audit verify` finds the chain intact and
// `ecogate store check` passes. VN is a partner of IN but does not run: its
// messages stay queued.
const (
	issueCrashApps    = 200
	issueCrashKills   = 12
	issueCrashMinKill = 8 // kills that must land while requests are in flight
	issueCrashWorkers = 4
	// Every issueCrashOtherEvery-th application goes to TH, not a
	// partner of IN: registered, nothing queued.
	issueCrashOtherEvery = 5
)

// issueCrashContent is the content of application i: the demo's, to VN,
// or to TH (not a partner) for every issueCrashOtherEvery-th.
func issueCrashContent(i int) issuance.Content {
	c := demoApplication(fmt.Sprintf("CRASH-INV-%04d", i), strconv.Itoa(1000+i))
	if i%issueCrashOtherEvery == 0 {
		c.ImportingCountry, c.Consignee.Country, c.Transport.PortDischarge = "TH", "TH", "THBKK"
		c.Consignee.Name, c.Consignee.Address = "Bangkok Spice Co Ltd", "99 Sukhumvit Road, Bangkok"
	}
	return c
}

// parallel runs fn(i) for i in [0, n) on w goroutines and returns the
// first error.
func parallel(n, w int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// TestIssueCrashKill9 is the end-to-end crash test of approve-and-issue
// (approve, sign, number, register, enqueue: all of it or none of it).
func TestIssueCrashKill9(t *testing.T) {
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
	if err := demoEnableIssuance(sites[0]); err != nil {
		t.Fatal(err)
	}
	in := &nodeProcess{bin: bin, config: sites[0].ConfigPath(), local: sites[0].LocalAddr}
	in.start(t)
	ctx := context.Background()

	// The parties, as the demo sets them up; the e-wallet credited for
	// every application.
	hc := &http.Client{Timeout: 20 * time.Second}
	op := &issapi.Client{Base: "http://" + in.local + issapi.Prefix, HTTP: hc}
	parties, err := demoIssuanceParties(ctx, op, filepath.Join(sites[0].Dir, "pki"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ag, of, ex := parties.agency, parties.officer, parties.exporter
	if err := ag.Do(ctx, "POST", "/wallets/"+demoIEC+"/"+demoOffice+"/credit", map[string]any{"amount": issueCrashApps * demoFee, "reason": "receipt ICC/KOL/R-CRASH"}, nil); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	// The applications: filed as drafts (creating is not idempotent: a
	// retry would file a second one, so it happens before the kills).
	ids := make([]string, issueCrashApps)
	toVN := map[string]bool{}
	if err := parallel(issueCrashApps, issueCrashWorkers, func(i int) error {
		var app issuance.Application
		if err := ex.Do(ctx, "POST", "/applications", issuance.NewApplication{IEC: demoIEC, Kind: issuance.KindOriginal, Content: issueCrashContent(i)}, &app); err != nil {
			return err
		}
		ids[i] = app.ID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		toVN[id] = i%issueCrashOtherEvery != 0
	}
	t.Logf("set up: %d draft applications in %v", len(ids), time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 12))

	// Each application goes through submit (the exporter; the fee from
	// the e-wallet), review and approve-and-issue (the officer), driven by
	// several clients while the node is killed; an unanswered request goes
	// back to the queue and is retried. A retry refused as 409 "state" was
	// committed before the kill cut its answer: the next step follows
	// (and the end state is checked below).
	type outcome struct {
		number  string // the number answered
		retried bool   // at least one approve-and-issue was unanswered
		already bool   // a retried approve-and-issue found it no longer under review
	}
	type work struct {
		id   string
		step int // 0 submit, 1 review, 2 approve-and-issue
	}
	steps := []struct {
		who  *issapi.Client
		path string
		body any
	}{
		{ex, "/submit", map[string]string{"payment": "wallet"}},
		{of, "/review", nil},
		{of, "/approve-and-issue", map[string]string{"reason": "origin verified"}},
	}
	var (
		mu         sync.Mutex
		queue      []work
		attempts   = map[work]int{}
		done       = map[string]*outcome{}
		answers    int
		unanswered int
		inflight   atomic.Int32
	)
	for _, id := range ids {
		queue = append(queue, work{id, 0})
	}
	var wg sync.WaitGroup
	for range issueCrashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if len(done) == len(ids) {
					mu.Unlock()
					return
				}
				if len(queue) == 0 {
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				}
				w := queue[0]
				queue = queue[1:]
				attempts[w]++
				n := attempts[w]
				mu.Unlock()

				st := steps[w.step]
				inflight.Add(1)
				var ans issapi.IssueAnswer
				err := st.who.Do(ctx, "POST", "/applications/"+w.id+st.path, st.body, &ans)
				inflight.Add(-1)
				var ce *issapi.CallError
				answered := err == nil || errors.As(err, &ce) && ce.Status < 500
				mu.Lock()
				if answered {
					answers++
				}
				last := w.step == len(steps)-1
				switch {
				case err == nil && !last:
					queue = append([]work{{w.id, w.step + 1}}, queue...) // the steps of an application follow each other
				case err == nil:
					if ans.Certificate == nil || ans.Certificate.Number == "" || ans.Application == nil || ans.Application.State != issuance.StateIssued {
						t.Errorf("approve-and-issue %s answered 200 without an issued certificate: %+v", w.id, ans)
						done[w.id] = &outcome{retried: n > 1}
						break
					}
					done[w.id] = &outcome{number: ans.Certificate.Number, retried: n > 1}
				case answered && ce.Status == http.StatusConflict && n > 1 && strings.Contains(ce.Body, `"state"`):
					// The retry of a request the kill cut off.
					if last {
						done[w.id] = &outcome{retried: true, already: true}
					} else {
						queue = append([]work{{w.id, w.step + 1}}, queue...)
					}
				case answered:
					t.Errorf("%s %s (attempt %d): %v", st.path, w.id, n, err)
					done[w.id] = &outcome{retried: n > 1}
				case n >= 100:
					t.Errorf("%s %s: still no answer after %d attempts: %v", st.path, w.id, n, err)
					done[w.id] = &outcome{retried: true}
				default: // no answer, or the node failed: the client retries
					unanswered++
					queue = append(queue, w)
				}
				mu.Unlock()
				if !answered {
					time.Sleep(20 * time.Millisecond) // the node is down
				}
			}
		}()
	}
	// The kills land at random moments of the work: after a random number
	// of further answers and a random delay (a fixed schedule would miss
	// the work on a fast machine and land only on restarts on a slow one).
	kills, midFlight := 0, 0
	progress := func() (answered int, finished bool) {
		mu.Lock()
		defer mu.Unlock()
		return answers, len(done) == len(ids)
	}
	for kills < issueCrashKills {
		a, _ := progress()
		target := a + 2 + rng.IntN(len(steps)*len(ids)/issueCrashKills)
		for {
			a, fin := progress()
			if a >= target || fin {
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		if _, fin := progress(); fin {
			break
		}
		if inflight.Load() > 0 {
			midFlight++
		}
		in.kill(t)
		kills++
		in.start(t)
	}
	wg.Wait()
	t.Logf("crash phase: %v", time.Since(t0).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}
	retried, already := 0, 0
	for _, o := range done {
		if o.retried {
			retried++
		}
		if o.already {
			already++
		}
	}
	t.Logf("%d kills (%d with requests in flight); %d requests answered, %d unanswered (retried); approve-and-issue: %d answered issued, %d retried (%d found no longer under review on retry)",
		kills, midFlight, answers, unanswered, len(done)-already, retried, already)
	if midFlight < issueCrashMinKill {
		t.Fatalf("only %d kills landed while requests were in flight (want %d): the node issued too fast for the kill schedule", midFlight, issueCrashMinKill)
	}

	// Every application: issued whole, or not issued at all.
	numbers := map[string]string{} // certificate number -> application
	var series string
	issuedVN := map[string]bool{}
	for _, id := range ids {
		var app issuance.Application
		if err := of.Do(ctx, "GET", "/applications/"+id, nil, &app); err != nil {
			t.Fatal(err)
		}
		o := done[id]
		switch app.State {
		case issuance.StateIssued:
			if app.Certificate == "" {
				t.Errorf("application %s is issued without a certificate number", id)
				continue
			}
			if o.number != "" && o.number != app.Certificate {
				t.Errorf("application %s: answered certificate %s, stored %s", id, o.number, app.Certificate)
			}
			if prev, dup := numbers[app.Certificate]; dup {
				t.Errorf("certificate number %s given to %s and %s", app.Certificate, prev, id)
			}
			numbers[app.Certificate] = id
			if st, cs := issuedStatus(t, hc, in.local, app.Certificate); st != http.StatusOK || cs != store.CertIssued {
				t.Errorf("application %s is issued as %s, but GET /api/v1/issued answers %d (status %q)", id, app.Certificate, st, cs)
			}
			if toVN[id] {
				issuedVN[app.Certificate] = true
			}
			i := strings.LastIndexByte(app.Certificate, '-')
			if i < 0 || series != "" && app.Certificate[:i] != series {
				t.Errorf("certificate %s is not of the series %s", app.Certificate, series)
				continue
			}
			series = app.Certificate[:i]
		case issuance.StateUnderReview, issuance.StateApproved:
			if app.Certificate != "" {
				t.Errorf("application %s is %s but has certificate number %s", id, app.State, app.Certificate)
			}
			switch {
			case o.number != "":
				t.Errorf("application %s is %s, but approve-and-issue answered it issued as %s", id, app.State, o.number)
			case o.already:
				t.Errorf("application %s is %s with no number, but the retry was refused as no longer under review: part of approve-and-issue committed without the rest", id, app.State)
			}
		default:
			t.Errorf("application %s is %s", id, app.State)
		}
	}
	// Every request was retried until answered: all are issued.
	if len(numbers) != len(ids) {
		t.Errorf("%d of %d applications issued after every request was answered", len(numbers), len(ids))
	}
	// The series: 1..N, no gap, no duplicate (checked above).
	for n := 1; n <= len(numbers); n++ {
		if num := fmt.Sprintf("%s-%06d", series, n); numbers[num] == "" {
			t.Errorf("the series %s has a gap: %s was not given to any application", series, num)
		}
	}
	if st, _ := issuedStatus(t, hc, in.local, fmt.Sprintf("%s-%06d", series, len(numbers)+1)); st != http.StatusNotFound {
		t.Errorf("the number after the last issued one (%d) is in the register (GET answers %d)", len(numbers), st)
	}

	// The e-wallet: every movement's balance is the running sum, never
	// negative; the fees of all applications are charged once.
	var wal issapi.WalletAnswer
	if err := ex.Do(ctx, "GET", "/wallets/"+demoIEC+"/"+demoOffice, nil, &wal); err != nil {
		t.Fatal(err)
	}
	var run int64
	for _, m := range wal.Movements {
		run += m.Amount
		if m.Balance != run || m.Balance < 0 {
			t.Errorf("e-wallet movement %d (%d, %q): balance %d, running sum %d", m.Seq, m.Amount, m.Reason, m.Balance, run)
		}
	}
	if want := int64(100_000); wal.Balance != run || wal.Balance != want {
		t.Errorf("e-wallet balance %d (movements sum %d), want %d: the demo's credit left after %d fees", wal.Balance, run, want, issueCrashApps)
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
	out.Reset()
	errb.Reset()
	cmd = exec.Command(bin, "store", "check", "--data", data)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || !strings.HasPrefix(out.String(), "ok: ") {
		t.Fatalf("ecogate store check: %v\n%s%s", err, out.String(), errb.String())
	}
	t.Log(strings.TrimSpace(out.String()))

	// The store: consistent; the series counter is N (no number taken
	// and lost); every issued certificate to VN queued once, nothing else.
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(ctx); err != nil {
		t.Fatalf("consistency check: %v", err)
	}
	parts := strings.Split(series, "-")
	if len(parts) != 3 {
		t.Fatalf("series %q is not AGENCY-OFFICE-YEAR", series)
	}
	year, _ := strconv.Atoi(parts[2])
	var next uint64
	errPeek := errors.New("peek only")
	if err := db.Issuance().Update(ctx, func(tx issuance.Tx) error {
		var err error
		if next, err = tx.NextSeq(issuance.SeriesKey(demoAgency, demoOffice, year)); err != nil {
			return err
		}
		return errPeek // roll back: only read the counter
	}); !errors.Is(err, errPeek) {
		t.Fatal(err)
	}
	if next != uint64(len(numbers))+1 {
		t.Errorf("the series counter of %s is %d, but %d certificates were issued: numbers were taken and lost", series, next-1, len(numbers))
	}
	all, err := db.Outbox().List(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]int{}
	var recs []store.OutRecord
	for _, r := range all {
		if r.Kind == issapi.KindMail || r.Kind == issapi.KindWebhook || r.Kind == issapi.KindSMS {
			continue // the issuance workflow's notifications, delivered in-process
		}
		recs = append(recs, r)
		queued[r.CertNumber]++
		if r.Partner != "VN" || !issuedVN[r.CertNumber] {
			t.Errorf("message %s for %s (certificate %s) is not of an issued certificate to VN", r.ID, r.Partner, r.CertNumber)
		}
	}
	for number := range issuedVN {
		if queued[number] != 1 {
			t.Errorf("certificate %s (application %s, to VN) is queued %d times", number, numbers[number], queued[number])
		}
	}
	t.Logf("%d certificates issued (%s-000001..%06d), %d queued for VN", len(numbers), series, len(numbers), len(recs))
}
