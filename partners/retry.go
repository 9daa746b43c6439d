package partners

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryPolicy is a partner's delivery retry policy: exponential backoff with
// jitter (github.com/cenkalti/backoff/v5's ExponentialBackOff), capped by a
// number of attempts and a maximum age. When either is spent, the message
// is suspended. It is the one retry policy of the node: the registry reads
// it per partner and the gateway's delivery loop applies it. The schedule
// itself (attempts made, next try, last error) is stored with each message
// in the outbox, so it survives restarts.
type RetryPolicy struct {
	// Attempts is the number of delivery attempts before suspension.
	Attempts int
	// InitialInterval is the wait after the first failed attempt.
	InitialInterval time.Duration
	// MaxInterval caps the wait between attempts.
	MaxInterval time.Duration
	// Multiplier grows the wait after each attempt.
	Multiplier float64
	// Jitter is the randomization factor: the wait is drawn from
	// interval × [1-Jitter, 1+Jitter].
	Jitter float64
	// MaxAge is how long after the first attempt of a round (see
	// store.OutRecord.RetryFrom) retries go on; a negative value means no
	// age limit (only in code: the registry requires a positive one).
	MaxAge time.Duration
}

// DefaultRetryPolicy is the policy of a partner whose registry entry has no
// retry section; missing fields take these values too.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 10, InitialInterval: 30 * time.Second, MaxInterval: time.Hour,
		Multiplier: 2, Jitter: 0.2, MaxAge: 72 * time.Hour}
}

// WithDefaults fills the fields left at zero (or out of range) from
// DefaultRetryPolicy, so that a zero RetryPolicy is the default one; a zero
// Jitter is kept (no jitter), and so is a negative MaxAge (no age limit).
func (p RetryPolicy) WithDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
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
	if !(p.Multiplier >= 1) {
		p.Multiplier = d.Multiplier
	}
	if !(p.Jitter >= 0 && p.Jitter <= 1) {
		p.Jitter = d.Jitter
	}
	if p.MaxAge == 0 {
		p.MaxAge = d.MaxAge
	}
	return p
}

// Validate reports an unusable policy.
func (p RetryPolicy) Validate() error {
	var errs []error
	if p.Attempts < 1 || p.Attempts > 1000 {
		errs = append(errs, fmt.Errorf("attempts %d must be between 1 and 1000", p.Attempts))
	}
	if p.InitialInterval < time.Second {
		errs = append(errs, fmt.Errorf("initialInterval %s must be at least 1s", p.InitialInterval))
	}
	if p.MaxInterval < p.InitialInterval {
		errs = append(errs, fmt.Errorf("maxInterval %s must be at least initialInterval %s", p.MaxInterval, p.InitialInterval))
	}
	if !(p.Multiplier >= 1 && p.Multiplier <= 10) {
		errs = append(errs, fmt.Errorf("multiplier %g must be between 1 and 10", p.Multiplier))
	}
	if !(p.Jitter >= 0 && p.Jitter <= 1) {
		errs = append(errs, fmt.Errorf("jitter %g must be between 0 and 1", p.Jitter))
	}
	if p.MaxAge < p.InitialInterval {
		errs = append(errs, fmt.Errorf("maxAge %s must be at least initialInterval %s", p.MaxAge, p.InitialInterval))
	}
	return errors.Join(errs...)
}

// Backoff returns a backoff/v5 ExponentialBackOff configured from the
// policy, for in-process retries with backoff.Retry (pair it with
// backoff.WithMaxTries(uint(p.Attempts)) and
// backoff.WithMaxElapsedTime(p.MaxAge)). Durable retries use Next, which
// follows the same schedule from a stored attempt count.
func (p RetryPolicy) Backoff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.InitialInterval,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.MaxInterval,
	}
	b.Reset()
	return b
}

// Interval returns the wait after the given number of failed attempts
// (1 for the first), before jitter: InitialInterval × Multiplier^(n-1),
// capped at MaxInterval, as backoff/v5's ExponentialBackOff grows it.
func (p RetryPolicy) Interval(attempts int) time.Duration {
	q := p
	q.Jitter = 0 // the schedule; Next draws the jitter from its own source
	b := q.Backoff()
	attempts = min(max(attempts, 1), 64) // the interval is capped long before
	var d time.Duration
	for range attempts {
		d = b.NextBackOff()
	}
	return d
}

// Next decides what follows failed attempt number attempts (1 for the
// first): the time of the next try, counted from now with jitter drawn from
// rnd (a value in [0,1); nil uses math/rand/v2), or suspend with the reason
// when the attempts are spent or the next try would fall after
// retryFrom+MaxAge. Zero fields take DefaultRetryPolicy's values.
func (p RetryPolicy) Next(attempts int, retryFrom, now time.Time, rnd func() float64) (next time.Time, suspend bool, reason string) {
	p = p.WithDefaults()
	if attempts >= p.Attempts {
		return time.Time{}, true, "retry policy spent: " + strconv.Itoa(attempts) + " of " + strconv.Itoa(p.Attempts) + " attempts made"
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	iv := float64(p.Interval(attempts))
	next = now.Add(time.Duration(iv - p.Jitter*iv + rnd()*(2*p.Jitter*iv)))
	if p.MaxAge > 0 && next.Sub(retryFrom) > p.MaxAge {
		return time.Time{}, true, "retry policy spent: next try would pass the maximum age of " + p.MaxAge.String()
	}
	return next, false, ""
}

// String renders the policy for humans.
func (p RetryPolicy) String() string {
	return fmt.Sprintf("%d attempts, %s ×%g up to %s, jitter %g, max age %s",
		p.Attempts, p.InitialInterval, p.Multiplier, p.MaxInterval, p.Jitter, p.MaxAge)
}

// policy fills defaults and validates.
func (f fileRetry) policy() (RetryPolicy, error) {
	p := DefaultRetryPolicy()
	var errs []error
	if f.Attempts != nil {
		p.Attempts = *f.Attempts
	}
	if f.Multiplier != nil {
		p.Multiplier = *f.Multiplier
	}
	if f.Jitter != nil {
		p.Jitter = *f.Jitter
	}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"initialInterval", f.InitialInterval, &p.InitialInterval}, {"maxInterval", f.MaxInterval, &p.MaxInterval}, {"maxAge", f.MaxAge, &p.MaxAge}} {
		if d.in == "" {
			continue
		}
		v, err := parseDuration(d.in)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.name, err))
			continue
		}
		*d.out = v
	}
	if err := errors.Join(errs...); err != nil {
		return p, err
	}
	return p, p.Validate()
}

// parseDuration accepts Go durations ("90s", "1h30m") and whole days ("3d").
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("%q is not a number of days (e.g. 3d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 30s, 1h, 3d)", s)
	}
	return d, nil
}
