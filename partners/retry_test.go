package partners

import (
	"strings"
	"testing"
	"time"
)

// TestRetryPolicyNext checks the schedule: exponential growth, the cap,
// the jitter bounds (from an injected random source, no sleeping), and
// suspension on attempts and on maximum age.
func TestRetryPolicyNext(t *testing.T) {
	p := RetryPolicy{Attempts: 5, InitialInterval: 10 * time.Second, MaxInterval: 60 * time.Second, Multiplier: 2, Jitter: 0.5, MaxAge: 3 * time.Minute}
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	tests := []struct {
		name      string
		attempts  int
		now       time.Time
		rnd       float64
		wantDelay time.Duration
		wantSpent bool
		wantWhy   string
	}{
		{"first failure, middle of the jitter range", 1, t0, 0.5, 10 * time.Second, false, ""},
		{"first failure, lowest jitter", 1, t0, 0, 5 * time.Second, false, ""},
		{"first failure, highest jitter", 1, t0, 0.999999, 15 * time.Second, false, ""},
		{"second failure doubles", 2, t0, 0.5, 20 * time.Second, false, ""},
		{"third failure", 3, t0, 0.5, 40 * time.Second, false, ""},
		{"fourth failure is capped", 4, t0, 0.5, 60 * time.Second, false, ""},
		{"attempts spent", 5, t0, 0.5, 0, true, "5 of 5 attempts made"},
		{"next try would pass the maximum age", 2, t0.Add(2*time.Minute + 50*time.Second), 0.5, 0, true, "maximum age of 3m0s"},
		{"just within the maximum age", 2, t0.Add(2*time.Minute + 40*time.Second), 0.5, 20 * time.Second, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, spent, why := p.Next(tt.attempts, t0, tt.now, fixed(tt.rnd))
			if spent != tt.wantSpent {
				t.Fatalf("spent %v, want %v", spent, tt.wantSpent)
			}
			if !strings.Contains(why, tt.wantWhy) || (tt.wantWhy == "") != (why == "") {
				t.Fatalf("reason %q, want one naming %q", why, tt.wantWhy)
			}
			if !spent {
				if d := next.Sub(tt.now); d < tt.wantDelay-time.Millisecond || d > tt.wantDelay+time.Millisecond {
					t.Fatalf("delay %s, want %s", d, tt.wantDelay)
				}
			}
		})
	}
	// Without a rand source the delay stays within the jitter bounds.
	for i := 0; i < 100; i++ {
		next, _, _ := p.Next(1, t0, t0, nil)
		if d := next.Sub(t0); d < 5*time.Second || d > 15*time.Second {
			t.Fatalf("random delay %s outside [5s, 15s]", d)
		}
	}
	// Huge attempt counts do not overflow.
	if iv := (RetryPolicy{InitialInterval: time.Second, MaxInterval: time.Hour, Multiplier: 10}).Interval(400); iv != time.Hour {
		t.Errorf("Interval(400) = %s, want the cap", iv)
	}
}

// TestRetryPolicyBackoff checks the backoff/v5 configuration and that its
// first intervals agree with Interval.
func TestRetryPolicyBackoff(t *testing.T) {
	p := RetryPolicy{Attempts: 3, InitialInterval: time.Second, MaxInterval: 4 * time.Second, Multiplier: 2, Jitter: 0, MaxAge: time.Minute}
	b := p.Backoff()
	if b.InitialInterval != time.Second || b.MaxInterval != 4*time.Second || b.Multiplier != 2 || b.RandomizationFactor != 0 {
		t.Fatalf("Backoff: %+v", b)
	}
	for n := 1; n <= 5; n++ {
		if got, want := b.NextBackOff(), p.Interval(n); got != want {
			t.Errorf("attempt %d: backoff %s, Interval %s", n, got, want)
		}
	}
	if err := DefaultRetryPolicy().Validate(); err != nil {
		t.Errorf("default policy invalid: %v", err)
	}
}

// TestRetryPolicyIntervals checks the backoff schedule's shape (moved from
// the gateway's policy, which this type replaces) and the jitter bounds at
// both ends of the random source.
func TestRetryPolicyIntervals(t *testing.T) {
	p := RetryPolicy{Attempts: 5, InitialInterval: time.Second, MaxInterval: 10 * time.Second, Multiplier: 2, Jitter: 0, MaxAge: time.Hour}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := p.Interval(i + 1); got != w {
			t.Fatalf("interval %d = %s, want %s", i+1, got, w)
		}
	}
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	p.Jitter = 0.5
	for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
		next, suspend, _ := p.Next(1, now, now, func() float64 { return r })
		if d := next.Sub(now); suspend || d < 500*time.Millisecond || d > 1500*time.Millisecond {
			t.Fatalf("rnd %g: jittered interval %s (suspend %v) outside [0.5s, 1.5s]", r, d, suspend)
		}
	}
	if _, suspend, _ := p.Next(5, now, now, nil); !suspend {
		t.Fatal("not suspended after 5 of 5 attempts")
	}
	if _, suspend, _ := p.Next(2, now.Add(-time.Hour), now, nil); !suspend {
		t.Fatal("not suspended past the maximum age")
	}
}

// TestRetryPolicyDefaults: a zero policy is the default one (without
// jitter), fields left
// at zero take the default, and a negative maximum age means no age limit.
func TestRetryPolicyDefaults(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	want := DefaultRetryPolicy()
	want.Jitter = 0 // zero jitter is a valid choice, not a missing field
	if got := (RetryPolicy{}).WithDefaults(); got != want {
		t.Fatalf("zero policy with defaults = %+v", got)
	}
	p := RetryPolicy{Attempts: 3, Jitter: 7, Multiplier: 0.5}.WithDefaults()
	if p.Attempts != 3 || p.Jitter != 0.2 || p.Multiplier != 2 || p.InitialInterval != 30*time.Second {
		t.Fatalf("partial policy with defaults = %+v", p)
	}
	if _, spent, why := (RetryPolicy{}).Next(10, t0, t0, nil); !spent || !strings.Contains(why, "10 of 10") {
		t.Fatalf("zero policy after 10 attempts: spent %v %q", spent, why)
	}
	noAge := RetryPolicy{Attempts: 5, InitialInterval: time.Second, MaxInterval: time.Second, Multiplier: 1, MaxAge: -1}
	if next, spent, _ := noAge.Next(1, t0.Add(-1000*time.Hour), t0, func() float64 { return 0.5 }); spent || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("negative MaxAge: next %s spent %v", next, spent)
	}
}

// TestParseDuration covers the accepted duration forms.
func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "1h30m": 90 * time.Minute, "3d": 72 * time.Hour, "0d": 0} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "3 days", "-1d", "xd", "99999d", "1y"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) accepted", in)
		}
	}
}
