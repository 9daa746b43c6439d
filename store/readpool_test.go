package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// warmReads runs Snapshot from several goroutines at once so that the
// read pool holds idle transactions when it returns.
func warmReads(t *testing.T, cu *Customs, number string) {
	t.Helper()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s Snapshot
			for range 50 {
				if _, err := cu.Snapshot("IN", number, nil, &s); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// keepReading takes snapshots of number from n goroutines until the
// returned stop is called (which waits for them).
func keepReading(t *testing.T, cu *Customs, number string, n int) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s Snapshot
			for !done.Load() {
				if _, err := cu.Snapshot("IN", number, nil, &s); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	return func() { done.Store(true); wg.Wait() }
}

// TestSnapshotSeesEveryCommittedWrite: a snapshot taken after a write
// returned sees it (views, decisions' utilised quantities), however warm
// the pool of read transactions is and while other goroutines keep taking
// snapshots (run under -race).
func TestSnapshotSeesEveryCommittedWrite(t *testing.T) {
	db, _ := openTestWith(t, newFakeClock(), 0) // the pool is what serves checks without the index
	ctx := context.Background()
	cu := db.Customs()
	if err := cu.PutView(ctx, "IN", "C1", 0, []byte("v0")); err != nil {
		t.Fatal(err)
	}
	warmReads(t, cu, "C1")
	if db.reads.idleCount() == 0 {
		t.Fatal("no idle read transaction after warming: the test would prove nothing")
	}
	stop := keepReading(t, cu, "C1", 3)
	var s Snapshot
	for i := 1; i <= 200; i++ {
		want := []byte(fmt.Sprint("v", i))
		if err := cu.PutView(ctx, "IN", "C1", 0, want); err != nil {
			t.Fatal(err)
		}
		ok, err := cu.Snapshot("IN", "C1", nil, &s)
		if err != nil || !ok || !bytes.Equal(s.View, want) {
			t.Fatalf("after writing view %q the snapshot has %q (found %v, %v)", want, s.View, ok, err)
		}
		if i%20 == 0 {
			d := Decision{Country: "IN", Number: "C1", Version: 1, DeclarationRef: fmt.Sprint("D", i), Fingerprint: fmt.Sprint(i),
				Items: []DecisionItem{{Seq: 1, PreferenceGiven: true, Use: 1, Limit: 1000}}}
			m := msg(fmt.Sprint("m", i), "IN", "C1", 1, "decision", fmt.Sprint("<ImportOutcome>", i))
			if _, err := cu.Decide(ctx, d, &m); err != nil {
				t.Fatal(err)
			}
			if _, err := cu.Snapshot("IN", "C1", nil, &s); err != nil || len(s.Used) != 1 || s.Used[0].Used != int64(i/20) {
				t.Fatalf("after decision %d the snapshot has used %+v (%v)", i/20, s.Used, err)
			}
		}
	}
	stop()
}

// TestReadPoolLetsTheFileGrow: writes that grow the file (and so remap
// it, which waits for every open read transaction) finish while the pool
// holds idle transactions and checks keep running.
func TestReadPoolLetsTheFileGrow(t *testing.T) {
	db, path := openTestWith(t, newFakeClock(), 0)
	ctx := context.Background()
	cu := db.Customs()
	if err := cu.PutView(ctx, "IN", "C1", 0, []byte("v0")); err != nil {
		t.Fatal(err)
	}
	warmReads(t, cu, "C1")
	stop := keepReading(t, cu, "C1", 1)
	done := make(chan error, 1)
	go func() {
		big := bytes.Repeat([]byte("x"), 256<<10)
		for i := range 256 { // 64 MiB: several remaps
			if err := cu.PutView(ctx, "IN", fmt.Sprint("BIG", i), 0, big); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("64 MiB of writes did not finish in a minute with read transactions pooled: the writer waits on them (%s)", path)
	}
	stop()
	warmReads(t, cu, "C1")
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return with idle read transactions pooled")
	}
}

// idleCount is the number of pooled transactions (tests).
func (p *readPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}
