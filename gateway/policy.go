package gateway

import (
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryPolicy is a partner's delivery retry policy: exponential backoff
// with jitter (cenkalti/backoff v5), a number of attempts and a maximum age.
// The schedule itself (attempts made, next try, last error) is stored with
// each message in the outbox, so it survives restarts.
type RetryPolicy struct {
	// Attempts is the number of delivery attempts before the message is
	// suspended; 0 means DefaultRetryPolicy's.
	Attempts int
	// InitialInterval is the wait after the first failed attempt.
	InitialInterval time.Duration
	// MaxInterval caps the wait between attempts.
	MaxInterval time.Duration
	// Multiplier grows the wait after each attempt.
	Multiplier float64
	// Jitter is the randomization factor, 0..1.
	Jitter float64
	// MaxAge suspends a message when its next try would come later than
	// this after the round of attempts began; 0 means the default, a
	// negative value no limit.
	MaxAge time.Duration
}

// DefaultRetryPolicy is used for fields a partner leaves at zero.
var DefaultRetryPolicy = RetryPolicy{
	Attempts:        10,
	InitialInterval: 30 * time.Second,
	MaxInterval:     time.Hour,
	Multiplier:      2,
	Jitter:          0.2,
	MaxAge:          72 * time.Hour,
}

// withDefaults fills zero fields from DefaultRetryPolicy. A negative
// MaxAge means no age limit.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy
	if p.Attempts <= 0 {
		p.Attempts = d.Attempts
	}
	if p.InitialInterval <= 0 {
		p.InitialInterval = d.InitialInterval
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = d.MaxInterval
	}
	if p.MaxInterval < p.InitialInterval {
		p.MaxInterval = p.InitialInterval
	}
	if p.Multiplier < 1 {
		p.Multiplier = d.Multiplier
	}
	if p.Jitter < 0 || p.Jitter > 1 {
		p.Jitter = d.Jitter
	}
	if p.MaxAge == 0 {
		p.MaxAge = d.MaxAge
	}
	return p
}

// Interval returns the wait after failed attempt number attempt (1 for the
// first), drawn by backoff v5's ExponentialBackOff with the policy's jitter.
func (p RetryPolicy) Interval(attempt int) time.Duration {
	p = p.withDefaults()
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.InitialInterval,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.MaxInterval,
	}
	b.Reset()
	var d time.Duration
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 64 { // the interval is capped long before
		attempt = 64
	}
	for range attempt {
		d = b.NextBackOff()
	}
	return d
}

// Next decides what follows a failed attempt: the time of the next try, or
// suspend (with the reason) when the attempts are spent or the next try
// would fall past the maximum age counted from retryFrom.
func (p RetryPolicy) Next(attempts int, retryFrom, now time.Time) (next time.Time, suspend bool, reason string) {
	p = p.withDefaults()
	if attempts >= p.Attempts {
		return time.Time{}, true, "retry policy spent: " + itoa(attempts) + " of " + itoa(p.Attempts) + " attempts made"
	}
	next = now.Add(p.Interval(attempts))
	if p.MaxAge > 0 && next.Sub(retryFrom) > p.MaxAge {
		return time.Time{}, true, "retry policy spent: next try would pass the maximum age of " + p.MaxAge.String()
	}
	return next, false, ""
}

func itoa(i int) string { return strconv.Itoa(i) }
