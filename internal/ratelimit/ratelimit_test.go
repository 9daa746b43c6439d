package ratelimit

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestTableBounded: the table never grows past its cap, a flood of new
// keys evicts the least recently seen ones, and the token bucket follows
// the injected clock.
func TestTableBounded(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	l := New(1, 2, 100)
	for _, tc := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {0, true}, {0, false}, {500 * time.Millisecond, false}, {time.Second, true}, {time.Second, false}} {
		if got := l.Allow("a", t0.Add(tc.at)); got != tc.want {
			t.Fatalf("Allow at %v = %v, want %v", tc.at, got, tc.want)
		}
	}
	for i := range 1000 {
		l.Allow("10.0.0."+strconv.Itoa(i), t0)
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("table holds %d keys, cap is 100", n)
	}
	// "a" was evicted by the flood: it starts again with a full bucket.
	if !l.Allow("a", t0.Add(time.Second)) {
		t.Fatal("an evicted key should start with a full bucket")
	}
}

func TestRemoteHost(t *testing.T) {
	for addr, want := range map[string]string{"192.0.2.1:4431": "192.0.2.1", "[2001:db8::1]:80": "2001:db8::1", "pipe": "pipe"} {
		if got := RemoteHost(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("RemoteHost(%q) = %q, want %q", addr, got, want)
		}
	}
}

// BenchmarkAllowNewKeys: the cost of a lookup from a new key once the
// table is full.
func BenchmarkAllowNewKeys(b *testing.B) {
	const max = 100_000
	l := New(0.5, 10, max)
	t0 := time.Now()
	for i := range max {
		l.Allow("f"+strconv.Itoa(i), t0)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.Allow("n"+strconv.Itoa(i), t0)
	}
}
