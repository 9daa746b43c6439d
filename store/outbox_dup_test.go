package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestOutboxExclusive: an exclusive enqueue is refused while a message of
// the same kind, certificate number and version is queued, suspended or
// delivered to the same partner, and allowed for another partner, kind or
// version, or after the partner refused the earlier one.
func TestOutboxExclusive(t *testing.T) {
	clk := newFakeClock()
	db, _ := openTest(t, clk)
	ob, ctx := db.Outbox(), context.Background()
	ex := func(id, partner string, version int, kind, content string) OutMessage {
		m := msg(id, partner, "CO-1", version, kind, content)
		m.Exclusive = true
		return m
	}
	if err := ob.Enqueue(ctx, ex("m1", "VN", 1, "issue", "a")); err != nil {
		t.Fatal(err)
	}
	settle := func(id string, st State) {
		t.Helper()
		if _, err := ob.Claim(ctx, clk.Now(), 10, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := ob.MarkAttempt(ctx, id, Attempt{Outcome: st, Receipt: []byte("r")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		m       OutMessage
		setup   func()
		refused string // the earlier message's id, or "" when accepted
	}{
		{"same while queued", ex("m2", "VN", 1, "issue", "b"), nil, "m1"},
		{"same id and content again is idempotent", ex("m1", "VN", 1, "issue", "a"), nil, ""},
		{"not exclusive: the store does not judge", msg("m3", "VN", "CO-1", 1, "issue", "c"), nil, ""},
		{"other partner", ex("m4", "TH", 1, "issue", "d"), nil, ""},
		{"other kind", ex("m5", "VN", 1, "withdraw", "e"), nil, ""},
		{"other version", ex("m6", "VN", 2, "issue", "f"), nil, ""},
		{"same after delivery", ex("m7", "TH", 1, "issue", "g"), func() { settle("m4", StateDelivered) }, "m4"},
		{"same after the partner refused it", ex("m8", "VN", 2, "issue", "h"), func() { settle("m6", StateNotReadable) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			err := ob.Enqueue(ctx, tc.m)
			var dup *AlreadySentError
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && (!errors.As(err, &dup) || !errors.Is(err, ErrAlreadySent)):
				t.Fatalf("err = %v, want AlreadySentError", err)
			case tc.refused != "" && dup.ID != tc.refused:
				t.Fatalf("collided with %s, want %s", dup.ID, tc.refused)
			}
			if tc.refused != "" {
				if _, err := ob.Get(ctx, tc.m.ID); !errors.Is(err, ErrNotFound) {
					t.Fatalf("refused message stored: %v", err)
				}
			}
		})
	}
}
