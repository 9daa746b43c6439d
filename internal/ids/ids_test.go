package ids

import (
	"sync"
	"testing"
	"time"

	"github.com/gofrs/uuid/v5"
)

// TestGenerator: ids are version 7, carry the injected clock's millisecond,
// increase strictly within one millisecond and across a clock step back,
// and stay unique under concurrent use.
func TestGenerator(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	g := New(clock)
	first := g.New()
	u, err := uuid.FromString(first)
	if err != nil || u.Version() != uuid.V7 || u.Variant() != uuid.VariantRFC9562 {
		t.Fatalf("%s: version %d variant %d err %v", first, u.Version(), u.Variant(), err)
	}
	ts, err := uuid.TimestampFromV7(u)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ts.Time(); !got.Equal(now) {
		t.Fatalf("id time %v, clock %v", got, now)
	}
	prev := first
	for i := range 5000 {
		if i == 2500 {
			mu.Lock()
			now = now.Add(-time.Hour) // the clock steps back
			mu.Unlock()
		}
		id := g.New()
		if id <= prev {
			t.Fatalf("id %d: %s not after %s", i, id, prev)
		}
		prev = id
	}
	seen := sync.Map{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if _, dup := seen.LoadOrStore(g.New(), true); dup {
					t.Error("duplicate id")
				}
			}
		})
	}
	wg.Wait()
	var zero Generator
	if _, err := uuid.FromString(zero.New()); err != nil {
		t.Fatal(err)
	}
}
