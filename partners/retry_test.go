package partners

import (
	"testing"
	"time"
)

// TestRetryPolicyNextTry checks the schedule: exponential growth, the cap,
// the jitter bounds, and suspension on attempts and on maximum age.
func TestRetryPolicyNextTry(t *testing.T) {
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
	}{
		{"first failure, middle of the jitter range", 1, t0, 0.5, 10 * time.Second, false},
		{"first failure, lowest jitter", 1, t0, 0, 5 * time.Second, false},
		{"first failure, highest jitter", 1, t0, 0.999999, 15 * time.Second, false},
		{"second failure doubles", 2, t0, 0.5, 20 * time.Second, false},
		{"third failure", 3, t0, 0.5, 40 * time.Second, false},
		{"fourth failure is capped", 4, t0, 0.5, 60 * time.Second, false},
		{"attempts spent", 5, t0, 0.5, 0, true},
		{"next try would pass the maximum age", 2, t0.Add(2*time.Minute + 50*time.Second), 0.5, 0, true},
		{"just within the maximum age", 2, t0.Add(2*time.Minute + 40*time.Second), 0.5, 20 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, spent := p.NextTry(tt.attempts, t0, tt.now, fixed(tt.rnd))
			if spent != tt.wantSpent {
				t.Fatalf("spent %v, want %v", spent, tt.wantSpent)
			}
			if !spent {
				if d := next.Sub(tt.now); d < tt.wantDelay-time.Millisecond || d > tt.wantDelay+time.Millisecond {
					t.Fatalf("delay %s, want %s", d, tt.wantDelay)
				}
			}
		})
	}
	if !p.Spent(5, t0, t0) || !p.Spent(1, t0, t0.Add(4*time.Minute)) || p.Spent(1, t0, t0.Add(time.Minute)) {
		t.Error("Spent disagrees with the policy")
	}
	// Without a rand source the delay stays within the jitter bounds.
	for i := 0; i < 100; i++ {
		next, _ := p.NextTry(1, t0, t0, nil)
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
