package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func auditActions(t *testing.T, db *DB) []string {
	t.Helper()
	es, err := db.Audit().Entries(context.Background(), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action+" "+e.Subject)
	}
	return out
}

func verifyChain(t *testing.T, db *DB, want int) {
	t.Helper()
	n, err := db.Audit().Verify(context.Background())
	if err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	if n != want {
		t.Fatalf("audit chain has %d entries, want %d", n, want)
	}
}

// TestAuditedWritesChain: entries appended inside enqueue, accept and
// mark-attempt transactions, concurrently with plain Append calls, form one
// unbroken chain, and each audited write's entries are there exactly when
// its write is.
func TestAuditedWritesChain(t *testing.T) {
	db, _ := openTest(t, nil)
	ctx := context.Background()
	const n = 40
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("o%03d", i)
			if err := db.Outbox().EnqueueAudited(ctx, []Entry{{Actor: "local", Action: "send", Subject: id}}, msg(id, "VN", "C"+id, 1, "issue", "content "+id)); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("i%03d", i)
			existing, err := db.Inbox().AcceptAudited(ctx, InRecord{ID: id, From: "IN", CertNumber: "C" + id, Version: 1, Kind: "issue", Content: []byte("in " + id), Outcome: StateDelivered},
				[]Entry{{Actor: "partner:IN", Action: "receive", Subject: id}, {Actor: "partner:IN", Action: "status", Subject: "IN/C" + id + "/v1"}})
			if err != nil || existing != nil {
				t.Error(err, existing)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := db.Audit().Append(ctx, Entry{Actor: "node", Action: "plain", Subject: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	verifyChain(t, db, 4*n)
	recs, err := db.Outbox().Claim(ctx, time.Now(), 2*n, time.Minute)
	if err != nil || len(recs) != n {
		t.Fatalf("claim: %v, %d", err, len(recs))
	}
	for _, r := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Outbox().MarkAttemptAudited(ctx, r.ID, Attempt{Outcome: StateDelivered, Receipt: []byte("r")}, []Entry{{Actor: "node", Action: "receipt", Subject: r.ID}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	verifyChain(t, db, 5*n)
	// Marking again with the same outcome is a no-op that still records the
	// (verified) receipt's entry, as MarkAttempt plus Append did.
	if err := db.Outbox().MarkAttemptAudited(ctx, "o000", Attempt{Outcome: StateDelivered}, []Entry{{Actor: "node", Action: "receipt", Subject: "o000"}}); err != nil {
		t.Fatal(err)
	}
	verifyChain(t, db, 5*n+1)
}

// TestAuditedWritesAllOrNothing: when the write fails or is a duplicate,
// its entries are not appended; when an entry is refused, the write is not
// made; when the group's commit fails, neither is stored.
func TestAuditedWritesAllOrNothing(t *testing.T) {
	db, _ := openTest(t, nil)
	ctx := context.Background()
	ob, ib := db.Outbox(), db.Inbox()
	e := func(a, s string) []Entry { return []Entry{{Actor: "x", Action: a, Subject: s}} }

	if err := ob.EnqueueAudited(ctx, e("send", "m1"), msg("m1", "VN", "C1", 1, "issue", "a")); err != nil {
		t.Fatal(err)
	}
	// Same id and content again (a producer retrying): no second entry.
	if err := ob.EnqueueAudited(ctx, e("send", "m1-retried"), msg("m1", "VN", "C1", 1, "issue", "a")); err != nil {
		t.Fatalf("idempotent re-enqueue: %v", err)
	}
	// Same id, other content: conflict, no entry.
	if err := ob.EnqueueAudited(ctx, e("send", "m1-again"), msg("m1", "VN", "C1", 1, "issue", "b")); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	// An entry naming a secret: refused before anything is written.
	if err := ob.EnqueueAudited(ctx, []Entry{{Actor: "x", Action: "send", Subject: "m2", Details: map[string]string{"apiToken": "s"}}}, msg("m2", "VN", "C2", 1, "issue", "c")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("secret detail: %v", err)
	}
	if _, err := ob.Get(ctx, "m2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("m2 stored although its audit entry was refused: %v", err)
	}

	in := InRecord{ID: "i1", From: "IN", CertNumber: "C1", Version: 1, Kind: "issue", Content: []byte("x"), Outcome: StateDelivered}
	if ex, err := ib.AcceptAudited(ctx, in, e("receive", "i1")); err != nil || ex != nil {
		t.Fatal(err, ex)
	}
	if ex, err := ib.AcceptAudited(ctx, in, e("receive", "i1-dup")); err != nil || ex == nil {
		t.Fatalf("duplicate: %v %v", err, ex)
	}
	other := in
	other.Content = []byte("y")
	if _, err := ib.AcceptAudited(ctx, other, e("receive", "i1-conflict")); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	if err := ob.MarkAttemptAudited(ctx, "nope", Attempt{Outcome: StateDelivered}, e("receipt", "nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}

	// A failing group commit stores neither the message nor its entry.
	db.hookBeforeCommit = func() error { return errors.New("disk full (test)") }
	err := ob.EnqueueAudited(ctx, e("send", "m3"), msg("m3", "VN", "C3", 1, "issue", "d"))
	db.hookBeforeCommit = nil
	if err == nil {
		t.Fatal("commit failure not reported")
	}
	if _, err := ob.Get(ctx, "m3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("m3 stored although the commit failed: %v", err)
	}

	if got, want := fmt.Sprint(auditActions(t, db)), "[send m1 receive i1]"; got != want {
		t.Fatalf("entries %s, want %s", got, want)
	}
	verifyChain(t, db, 2)
}
