package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The crash test emulates two nodes in one child process: a sender store
// (outbox) and a receiver store (inbox). Producers enqueue messages on the
// sender and write "out ID" to the acknowledgement file only after Enqueue
// returned nil; deliverers claim due messages, Accept them on the receiver
// (deduplicating), set the receipt and mark them delivered on the sender.
// The parent kills the child with SIGKILL at random moments, restarts it,
// and at the end checks that every acknowledged message was delivered
// exactly once as seen by the receiver, that status messages never overtook
// the issue they follow, that every queued message's certificate is in the
// issued register (enqueued with it in one transaction), and that both files pass bbolt's check and the
// store's own index checks.
const (
	crashEnvChild  = "ECOGATE_STORE_CRASH_CHILD"
	crashEnvDir    = "ECOGATE_STORE_CRASH_DIR"
	crashEnvRun    = "ECOGATE_STORE_CRASH_RUN"
	crashEnvFinish = "ECOGATE_STORE_CRASH_FINISH"
	crashTarget    = 2000 // acknowledged messages over all runs
	crashKills     = 22
	crashLease     = 300 * time.Millisecond
)

// TestCrashKill9 is the parent of the crash test.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	// Create both files before the first kill, so a kill during the very
	// first creation (an empty file, refused by Open) is not what we test.
	for _, name := range []string{"sender.db", "receiver.db"} {
		db, err := Open(filepath.Join(dir, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	start := time.Now()

	for run := 0; run <= crashKills; run++ {
		finish := run == crashKills
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvChild+"=1", crashEnvDir+"="+dir, crashEnvRun+"="+strconv.Itoa(run))
		if finish {
			cmd.Env = append(cmd.Env, crashEnvFinish+"=1")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- true
				}
			}
			ready <- false
		}()
		select {
		case ok := <-ready:
			if !ok {
				cmd.Wait()
				t.Fatalf("run %d: child ended before it was ready: %s", run, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("run %d: child not ready after 30 s: %s", run, stderr.String())
		}
		if finish {
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("final run failed: %v\n%s", err, stderr.String())
				}
			case <-time.After(120 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("final run did not finish in 120 s: %s", stderr.String())
			}
			break
		}
		time.Sleep(time.Duration(10+rng.IntN(400)) * time.Millisecond)
		if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill: %v", err)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: child was not killed by SIGKILL but ended with %v: %s", run, err, stderr.String())
		}
	}
	t.Logf("%d kills and a final run in %s", crashKills, time.Since(start).Round(time.Millisecond))

	acked, violations := readAcks(t, filepath.Join(dir, "acks"))
	for _, v := range violations {
		t.Error(v)
	}
	if len(acked) < crashTarget {
		t.Fatalf("only %d messages acknowledged, want %d", len(acked), crashTarget)
	}
	ctx := context.Background()
	sender, err := Open(filepath.Join(dir, "sender.db"), Options{})
	if err != nil {
		t.Fatalf("reopen sender: %v", err)
	}
	defer sender.Close()
	receiver, err := Open(filepath.Join(dir, "receiver.db"), Options{})
	if err != nil {
		t.Fatalf("reopen receiver: %v", err)
	}
	defer receiver.Close()
	for _, db := range []*DB{sender, receiver} {
		if err := db.Check(ctx); err != nil {
			t.Fatalf("consistency check: %v", err)
		}
	}
	if n, err := sender.Audit().Verify(ctx); err != nil || n == 0 {
		t.Fatalf("sender audit chain: %d entries, %v", n, err)
	}

	out, err := sender.Outbox().List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	for _, r := range out {
		sent[r.ID] = true
		// Enqueued with its register entry in one transaction: a queued
		// certificate is registered, a queued withdrawal has withdrawn it.
		iss, err := sender.Issued().Get(ctx, r.CertNumber)
		switch {
		case err != nil:
			t.Errorf("message %s is queued but certificate %s is not registered: %v", r.ID, r.CertNumber, err)
		case r.Kind == "withdraw" && iss.Status != CertWithdrawn:
			t.Errorf("withdrawal %s is queued but %s is %s in the register", r.ID, r.CertNumber, iss.Status)
		}
		if r.State != StateDelivered {
			t.Errorf("message %s is %s at the end, want delivered", r.ID, r.State)
		}
	}
	for id := range acked {
		if !sent[id] {
			t.Errorf("acknowledged message %s is missing from the sender's outbox", id)
		}
	}
	in, err := receiver.Inbox().List(ctx, StateDelivered, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pending, _ := receiver.Inbox().List(ctx, "", 0); len(pending) != 0 {
		t.Errorf("%d inbound messages without receipt", len(pending))
	}
	seen := map[string]int{}
	for _, r := range in {
		seen[r.ID]++
		if !sent[r.ID] {
			t.Errorf("receiver holds %s, which the sender never stored (a duplicate under another id?)", r.ID)
		}
	}
	for id := range sent {
		if seen[id] != 1 {
			t.Errorf("message %s seen %d times by the receiver, want exactly 1", id, seen[id])
		}
	}
	t.Logf("acknowledged %d, stored by the sender %d, delivered to the receiver %d", len(acked), len(sent), len(in))
}

// readAcks returns the acknowledged ids and the violations recorded by the
// children. A torn last line (killed mid-write) is ignored.
func readAcks(t *testing.T, path string) (map[string]bool, []string) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	var violations []string
	lines := strings.Split(string(b), "\n")
	for _, l := range lines[:len(lines)-1] { // the last element is "" or torn
		switch {
		case strings.HasPrefix(l, "out "):
			acked[strings.TrimPrefix(l, "out ")] = true
		case strings.HasPrefix(l, "violation "):
			violations = append(violations, l)
		}
	}
	return acked, violations
}

// TestCrashHelperProcess is the child of TestCrashKill9; it does nothing in
// a normal test run.
func TestCrashHelperProcess(t *testing.T) {
	if os.Getenv(crashEnvChild) != "1" {
		t.Skip("helper process for TestCrashKill9")
	}
	if err := crashChild(os.Getenv(crashEnvDir), os.Getenv(crashEnvRun), os.Getenv(crashEnvFinish) == "1"); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func crashChild(dir, run string, finish bool) error {
	ctx := context.Background()
	sender, err := Open(filepath.Join(dir, "sender.db"), Options{})
	if err != nil {
		return err
	}
	receiver, err := Open(filepath.Join(dir, "receiver.db"), Options{})
	if err != nil {
		return err
	}
	prev, _ := readAcksQuiet(filepath.Join(dir, "acks"))
	ackf, err := os.OpenFile(filepath.Join(dir, "acks"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	var ackMu sync.Mutex
	ack := func(line string) {
		ackMu.Lock()
		defer ackMu.Unlock()
		ackf.Write([]byte(line + "\n")) // one write call: complete or absent after a kill
	}
	fmt.Println("ready")

	var produced atomic.Int64
	produced.Store(int64(prev))
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	// Producers: an issue per certificate, and for every tenth a withdrawal
	// enqueued right after it (which must never overtake it).
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; produced.Load() < crashTarget; i++ {
				id := fmt.Sprintf("r%s-g%d-%05d", run, g, i)
				m := OutMessage{ID: id, Partner: "SG", CertNumber: "CO-" + id, Version: 1, Kind: "issue", Content: []byte("<eco id='" + id + "'/>")}
				reg := []IssuedCert{{Country: "XX", Number: m.CertNumber, Version: 1, Data: []byte(`{"id":"` + id + `"}`)}}
				if err := sender.Outbox().EnqueueRegistered(ctx, reg, []Entry{{Actor: "local", Action: "send", Subject: id}}, m); err != nil {
					errc <- err
					return
				}
				ack("out " + id)
				produced.Add(1)
				if i%10 == 0 {
					w := m
					w.ID, w.Kind, w.Content = "w-"+id, "withdraw", []byte("<withdraw id='"+id+"'/>")
					reg := []IssuedCert{{Country: "XX", Number: w.CertNumber, Version: 1, Status: CertWithdrawn}}
					if err := sender.Outbox().EnqueueRegistered(ctx, reg, nil, w); err != nil {
						errc <- err
						return
					}
					ack("out " + w.ID)
				}
			}
		}()
	}
	// Deliverers.
	var producersDone atomic.Bool
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				claimed, err := sender.Outbox().Claim(ctx, time.Now(), 32, crashLease)
				if err != nil {
					errc <- err
					return
				}
				if len(claimed) == 0 {
					if finish && producersDone.Load() {
						c, err := sender.Outbox().CountByState(ctx)
						if err != nil {
							errc <- err
							return
						}
						if c[StateQueued]+c[StateSending]+c[StateAwaitingRetry] == 0 {
							return
						}
					}
					time.Sleep(5 * time.Millisecond)
					continue
				}
				for _, r := range claimed {
					if err := deliverOne(ctx, sender, receiver, r, ack); err != nil {
						errc <- err
						return
					}
				}
			}
		}()
	}
	go func() {
		for produced.Load() < crashTarget {
			time.Sleep(5 * time.Millisecond)
		}
		producersDone.Store(true)
	}()
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return errors.Join(sender.Close(), receiver.Close(), ackf.Close())
}

// deliverOne plays the receiving node for one claimed message.
func deliverOne(ctx context.Context, sender, receiver *DB, r OutRecord, ack func(string)) error {
	rec := InRecord{ID: r.ID, From: "XX", CertNumber: r.CertNumber, Version: r.Version, Kind: r.Kind, Content: r.Content}
	status := CertIssued
	if r.Kind == "withdraw" {
		status = CertWithdrawn
		prior, err := receiver.Inbox().ByCertificate(ctx, "XX", r.CertNumber)
		if err != nil {
			return err
		}
		if len(prior) == 0 || prior[0].Kind != "issue" {
			ack("violation withdrawal " + r.ID + " arrived before its issue")
		}
	}
	rec.StatusChanges = []StatusChange{{Country: "XX", Number: r.CertNumber, Version: 1, Status: status}}
	existing, err := receiver.Inbox().Accept(ctx, rec)
	if err != nil {
		return err
	}
	receipt := []byte("receipt:" + r.ID)
	if existing == nil || existing.Receipt == nil {
		st, err := receiver.Inbox().SetReceipt(ctx, r.ID, StateDelivered, receipt)
		if err != nil {
			return err
		}
		receipt = st.Receipt
	} else {
		receipt = existing.Receipt
	}
	// A retry under a new id must be recognised by certificate and version.
	if strings.HasSuffix(r.ID, "3") {
		dup := rec
		dup.ID = "dup-" + r.ID
		if ex, err := receiver.Inbox().Accept(ctx, dup); err != nil || ex == nil {
			ack(fmt.Sprintf("violation duplicate %s by natural key not recognised: %v", dup.ID, err))
		}
	}
	if err := sender.Outbox().MarkAttempt(ctx, r.ID, Attempt{Outcome: StateDelivered, Receipt: receipt}); err != nil {
		return err
	}
	_, err = sender.Audit().Append(ctx, Entry{Actor: "node", Action: "delivered", Subject: r.ID, Details: map[string]string{"partner": r.Partner}})
	return err
}

// readAcksQuiet counts acknowledged issues (not withdrawals) from earlier runs.
func readAcksQuiet(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	lines := strings.Split(string(b), "\n")
	for _, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(l, "out r") {
			n++
		}
	}
	return n, nil
}
