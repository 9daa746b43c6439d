package verify

import (
	"strconv"
	"testing"
	"time"
)

// TestMissCounterBounded: the miss table never grows past its cap and
// misses are forgotten after the window.
func TestMissCounterBounded(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
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
