package verify

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiterBounded: the per-address table never grows past its cap, a
// flood of new addresses evicts the least recently seen ones, and the
// token bucket follows the injected clock.
func TestLimiterBounded(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	l := newLimiter(1, 2, 100)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {0, true}, {0, false}, {500 * time.Millisecond, false}, {time.Second, true}, {time.Second, false}} {
		if got := l.allow("a", t0.Add(tc.at)); got != tc.want {
			t.Fatalf("allow at %v = %v, want %v", tc.at, got, tc.want)
		}
	}
	for i := range 1000 {
		l.allow("10.0.0."+strconv.Itoa(i), t0)
	}
	if n := l.m.Len(); n != 100 {
		t.Fatalf("table holds %d addresses, cap is 100", n)
	}
	// "a" was evicted by the flood: it starts again with a full bucket.
	if !l.allow("a", t0.Add(time.Second)) {
		t.Fatal("an evicted address should start with a full bucket")
	}

	c := newMissCounter(time.Hour, 10)
	for i := range 50 {
		c.add("m"+strconv.Itoa(i), t0)
	}
	if n := c.m.Len(); n != 10 {
		t.Fatalf("miss table holds %d addresses, cap is 10", n)
	}
	c.add("x", t0)
	c.add("x", t0.Add(time.Minute))
	if n := c.count("x", t0.Add(2*time.Minute)); n != 2 {
		t.Fatalf("misses = %d, want 2", n)
	}
	if n := c.count("x", t0.Add(2*time.Hour)); n != 0 {
		t.Fatalf("misses after the window = %d, want 0", n)
	}
}

// BenchmarkLimiterNewAddresses: the cost of a lookup from a new address
// once the table is full (was a scan of the whole table under a lock).
func BenchmarkLimiterNewAddresses(b *testing.B) {
	l := newLimiter(0.5, 10, maxTracked)
	t0 := time.Now()
	for i := range maxTracked {
		l.allow("f"+strconv.Itoa(i), t0)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.allow("n"+strconv.Itoa(i), t0)
	}
}
