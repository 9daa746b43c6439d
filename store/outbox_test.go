package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestOutboxLifecycle walks a message through queued, sending, awaiting
// retry, suspended, manual retry and delivered, checking the stored fields
// and the schedule at each step.
func TestOutboxLifecycle(t *testing.T) {
	clk := newFakeClock()
	db, _ := openTest(t, clk)
	ob, ctx := db.Outbox(), context.Background()
	t0 := clk.Now()

	content := "<eco signed='yes'/>"
	if err := ob.Enqueue(ctx, msg("m1", "SG", "CO-1", 1, "issue", content), msg("m2", "TH", "CO-1", 1, "issue", content)); err != nil {
		t.Fatal(err)
	}
	r, err := ob.Get(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != StateQueued || string(r.Content) != content || !r.NextTry.Equal(t0) || r.Attempts != 0 || r.Seq == 0 {
		t.Fatalf("after enqueue: %+v", r)
	}
	// Same bytes for two partners are stored once.
	var nblobs int
	_ = db.view(func(tx *txAlias) error { nblobs = tx.Bucket([]byte(bktBlobs)).Stats().KeyN; return nil })
	if nblobs != 1 {
		t.Errorf("blobs stored: %d, want 1", nblobs)
	}

	got, err := ob.Claim(ctx, clk.Now(), 10, time.Minute)
	if err != nil || !reflect.DeepEqual(ids(got), []string{"m1", "m2"}) {
		t.Fatalf("Claim: %v %v", ids(got), err)
	}
	if got[0].State != StateSending || got[0].Attempts != 1 || string(got[0].Content) != content {
		t.Fatalf("claimed: %+v", got[0])
	}
	// Claimed messages are not due again until the lease ends.
	if d, _ := ob.Due(ctx, clk.Now().Add(59*time.Second), 10); len(d) != 0 {
		t.Fatalf("due during lease: %v", ids(d))
	}
	if d, _ := ob.Due(ctx, clk.Now().Add(61*time.Second), 10); len(d) != 2 {
		t.Fatalf("due after lease expiry: %v, want both", ids(d))
	}

	next := clk.Now().Add(30 * time.Second)
	if err := ob.MarkAttempt(ctx, "m1", Attempt{Outcome: StateAwaitingRetry, Err: "connection refused", NextTry: next}); err != nil {
		t.Fatal(err)
	}
	if d, _ := ob.Due(ctx, next.Add(-time.Nanosecond), 10); len(d) != 0 {
		t.Fatalf("due before next try: %v", ids(d))
	}
	if d, _ := ob.Due(ctx, next, 10); !reflect.DeepEqual(ids(d), []string{"m1"}) {
		t.Fatalf("due at next try: %v", ids(d))
	}
	r, _ = ob.Get(ctx, "m1")
	if r.State != StateAwaitingRetry || r.LastErr != "connection refused" || r.Attempts != 1 {
		t.Fatalf("after retry mark: %+v", r)
	}

	if err := ob.Suspend(ctx, "m1", "retry policy spent: 1 attempts"); err != nil {
		t.Fatal(err)
	}
	if d, _ := ob.Due(ctx, next.Add(time.Hour), 10); reflect.DeepEqual(ids(d), []string{"m1"}) || len(d) > 1 {
		t.Fatalf("suspended message due: %v", ids(d))
	}
	if l, _ := ob.List(ctx, Filter{State: StateSuspended}); !reflect.DeepEqual(ids(l), []string{"m1"}) {
		t.Fatalf("List suspended: %v", ids(l))
	}

	clk.Add(time.Hour)
	if err := ob.Retry(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	r, _ = ob.Get(ctx, "m1")
	if r.State != StateQueued || r.Attempts != 0 || !r.RetryFrom.Equal(clk.Now()) || r.ID != "m1" {
		t.Fatalf("after manual retry: %+v", r)
	}

	if err := ob.MarkAttempt(ctx, "m1", Attempt{Outcome: StateDelivered, Receipt: []byte("jws-receipt")}); err != nil {
		t.Fatal(err)
	}
	r, _ = ob.Get(ctx, "m1")
	if r.State != StateDelivered || string(r.Receipt) != "jws-receipt" {
		t.Fatalf("after delivery: %+v", r)
	}
	// Settled stays settled.
	if err := ob.MarkAttempt(ctx, "m1", Attempt{Outcome: StateDelivered}); err != nil {
		t.Errorf("repeated delivered mark: %v", err)
	}
	for _, a := range []Attempt{{Outcome: StateFailed}, {Outcome: StateAwaitingRetry, NextTry: next}, {Outcome: StateSuspended}} {
		if err := ob.MarkAttempt(ctx, "m1", a); !errors.Is(err, ErrState) {
			t.Errorf("MarkAttempt(%s) on delivered: %v, want ErrState", a.Outcome, err)
		}
	}
	if err := ob.Retry(ctx, "m1"); !errors.Is(err, ErrState) {
		t.Errorf("Retry of delivered: %v, want ErrState", err)
	}

	depth, _ := ob.Depth(ctx)
	if !reflect.DeepEqual(depth, map[string]int{"TH": 1}) {
		t.Errorf("Depth: %v", depth)
	}
	counts, _ := ob.CountByState(ctx)
	if counts[StateDelivered] != 1 || counts[StateSending] != 1 || counts[StateQueued] != 0 {
		t.Errorf("CountByState: %v", counts)
	}
}

// TestOutboxLateReceiptSettlesSuspended: a receipt that arrives after the
// message was suspended still settles it (Holodeck#104).
func TestOutboxLateReceiptSettlesSuspended(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ob, ctx := db.Outbox(), context.Background()
	if err := ob.Enqueue(ctx, msg("m1", "SG", "CO-1", 1, "issue", "x")); err != nil {
		t.Fatal(err)
	}
	if err := ob.Suspend(ctx, "m1", "spent"); err != nil {
		t.Fatal(err)
	}
	if err := ob.MarkAttempt(ctx, "m1", Attempt{Outcome: StateDeliveredWithWarnings, Receipt: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if r, _ := ob.Get(ctx, "m1"); r.State != StateDeliveredWithWarnings {
		t.Fatalf("state %s", r.State)
	}
}

// TestOutboxOrderingPerCertificate: a withdrawal for a certificate is not
// due while the issue to the same partner is unsettled, whatever their
// schedule; other partners and certificates are not held up.
func TestOutboxOrderingPerCertificate(t *testing.T) {
	clk := newFakeClock()
	db, _ := openTest(t, clk)
	ob, ctx := db.Outbox(), context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ob.Enqueue(ctx, msg("issue-SG", "SG", "CO-1", 1, "issue", "i"), msg("issue-TH", "TH", "CO-1", 1, "issue", "i")))
	must(ob.Enqueue(ctx, msg("other", "SG", "CO-2", 1, "issue", "o")))
	clk.Add(time.Second)
	must(ob.Enqueue(ctx, msg("withdraw-SG", "SG", "CO-1", 1, "withdraw", "w"), msg("withdraw-TH", "TH", "CO-1", 1, "withdraw", "w")))

	// The issue to SG fails transiently and is rescheduled after the withdrawal.
	claimed, err := ob.Claim(ctx, clk.Now(), 100, time.Minute)
	must(err)
	if !reflect.DeepEqual(ids(claimed), []string{"issue-SG", "issue-TH", "other"}) {
		t.Fatalf("first claim: %v (withdrawals must wait)", ids(claimed))
	}
	must(ob.MarkAttempt(ctx, "issue-SG", Attempt{Outcome: StateAwaitingRetry, NextTry: clk.Now().Add(time.Hour)}))
	must(ob.MarkAttempt(ctx, "issue-TH", Attempt{Outcome: StateDelivered}))
	must(ob.MarkAttempt(ctx, "other", Attempt{Outcome: StateDelivered}))

	d, err := ob.Due(ctx, clk.Now(), 100)
	must(err)
	if !reflect.DeepEqual(ids(d), []string{"withdraw-TH"}) {
		t.Fatalf("due while issue-SG awaits retry: %v, want only withdraw-TH", ids(d))
	}
	// Suspended also holds the withdrawal back.
	must(ob.Suspend(ctx, "issue-SG", "spent"))
	if d, _ := ob.Due(ctx, clk.Now().Add(2*time.Hour), 100); reflect.DeepEqual(ids(d), []string{"withdraw-SG"}) || len(d) != 1 {
		t.Fatalf("due while issue-SG suspended: %v", ids(d))
	}
	must(ob.Retry(ctx, "issue-SG"))
	if d, _ := ob.Due(ctx, clk.Now(), 100); !reflect.DeepEqual(ids(d), []string{"issue-SG", "withdraw-TH"}) {
		t.Fatalf("due after manual retry: %v", ids(d))
	}
	must(ob.MarkAttempt(ctx, "issue-SG", Attempt{Outcome: StateFailed, Receipt: []byte("r")}))
	if d, _ := ob.Due(ctx, clk.Now(), 100); !reflect.DeepEqual(ids(d), []string{"withdraw-SG", "withdraw-TH"}) {
		t.Fatalf("due after the issue settled: %v", ids(d))
	}
}

// TestOutboxEnqueueIdempotentAndConflicts covers re-enqueue and bad input.
func TestOutboxEnqueueIdempotentAndConflicts(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ob, ctx := db.Outbox(), context.Background()
	if err := ob.Enqueue(ctx, msg("m1", "SG", "CO-1", 1, "issue", "x")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msgs []OutMessage
		want error
	}{
		{"same id, partner and content", []OutMessage{msg("m1", "SG", "CO-1", 1, "issue", "x")}, nil},
		{"same id other content", []OutMessage{msg("m1", "SG", "CO-1", 1, "issue", "y")}, ErrConflict},
		{"same id other partner", []OutMessage{msg("m1", "TH", "CO-1", 1, "issue", "x")}, ErrConflict},
		{"empty id", []OutMessage{msg("", "SG", "CO-1", 1, "issue", "x")}, ErrInvalid},
		{"empty partner", []OutMessage{msg("m2", "", "CO-1", 1, "issue", "x")}, ErrInvalid},
		{"NUL in certificate", []OutMessage{msg("m2", "SG", "CO\x001", 1, "issue", "x")}, ErrInvalid},
		{"empty content", []OutMessage{msg("m2", "SG", "CO-1", 1, "issue", "")}, ErrInvalid},
		{"all or nothing", []OutMessage{msg("m3", "SG", "CO-3", 1, "issue", "z"), msg("m1", "SG", "CO-1", 1, "issue", "other")}, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ob.Enqueue(ctx, tt.msgs...)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Enqueue: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := ob.Get(ctx, "m3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("m3 of a refused batch was stored: %v", err)
	}
	if l, _ := ob.List(ctx, Filter{}); len(l) != 1 {
		t.Errorf("messages stored: %v", ids(l))
	}
	if _, err := ob.List(ctx, Filter{State: "bogus"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("List with unknown state: %v", err)
	}
	if err := ob.MarkAttempt(ctx, "m1", Attempt{Outcome: StateAwaitingRetry}); !errors.Is(err, ErrInvalid) {
		t.Errorf("awaiting-retry without time: %v", err)
	}
	if err := ob.MarkAttempt(ctx, "m1", Attempt{Outcome: StateQueued}); !errors.Is(err, ErrInvalid) {
		t.Errorf("queued as outcome: %v", err)
	}
	if err := ob.MarkAttempt(ctx, "nope", Attempt{Outcome: StateDelivered}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}

// TestOutboxPullMode: pull messages are never due; the partner lists them
// and acknowledges; another partner cannot ack them.
func TestOutboxPullMode(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ob, ctx := db.Outbox(), context.Background()
	p1, p2 := msg("p1", "LA", "CO-1", 1, "issue", "a"), msg("p2", "LA", "CO-2", 1, "issue", "b")
	p1.Pull, p2.Pull = true, true
	if err := ob.Enqueue(ctx, p1, p2, msg("push", "SG", "CO-1", 1, "issue", "a")); err != nil {
		t.Fatal(err)
	}
	if d, _ := ob.Due(ctx, time.Now().Add(time.Hour), 10); !reflect.DeepEqual(ids(d), []string{"push"}) {
		t.Fatalf("due: %v", ids(d))
	}
	w, err := ob.Waiting(ctx, "LA", 10)
	if err != nil || !reflect.DeepEqual(ids(w), []string{"p1", "p2"}) || string(w[0].Content) != "a" {
		t.Fatalf("Waiting: %v %v", ids(w), err)
	}
	if err := ob.Ack(ctx, "SG", "p1", StateDelivered, []byte("r")); !errors.Is(err, ErrNotFound) {
		t.Errorf("ack by another partner: %v, want ErrNotFound", err)
	}
	if err := ob.Ack(ctx, "LA", "p1", StateQueued, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("ack with non-receipt outcome: %v", err)
	}
	if err := ob.Ack(ctx, "LA", "p1", StateDelivered, []byte("r")); err != nil {
		t.Fatal(err)
	}
	if err := ob.Ack(ctx, "LA", "p1", StateDelivered, []byte("r")); err != nil {
		t.Errorf("repeated ack: %v", err)
	}
	if w, _ := ob.Waiting(ctx, "LA", 10); !reflect.DeepEqual(ids(w), []string{"p2"}) {
		t.Fatalf("Waiting after ack: %v", ids(w))
	}
}

// TestOutboxDepthByState counts unsettled messages per partner and state,
// leaving settled ones out; Depth sums them per partner.
func TestOutboxDepthByState(t *testing.T) {
	clk := newFakeClock()
	db, _ := openTest(t, clk)
	ob, ctx := db.Outbox(), context.Background()
	if err := ob.Enqueue(ctx, msg("a1", "VN", "CO-1", 1, "issue", "a"), msg("a2", "VN", "CO-2", 1, "issue", "b"),
		msg("a3", "VN", "CO-3", 1, "issue", "c"), msg("b1", "TH", "CO-1", 1, "issue", "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Claim(ctx, clk.Now(), 10, time.Minute); err != nil {
		t.Fatal(err)
	}
	for id, a := range map[string]Attempt{
		"a1": {Outcome: StateDelivered, Receipt: []byte("r")},
		"a2": {Outcome: StateAwaitingRetry, NextTry: clk.Now().Add(time.Minute)},
		"b1": {Outcome: StateSuspended, Err: "spent"},
	} {
		if err := ob.MarkAttempt(ctx, id, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ob.DepthByState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[State]int{"VN": {StateAwaitingRetry: 1, StateSending: 1}, "TH": {StateSuspended: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DepthByState = %v, want %v", got, want)
	}
	if d, _ := ob.Depth(ctx); !reflect.DeepEqual(d, map[string]int{"VN": 2, "TH": 1}) {
		t.Fatalf("Depth = %v", d)
	}
}
