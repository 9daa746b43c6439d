package ratelimit

import (
	"net"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Table holds one token bucket per key. It is safe for concurrent use.
type Table struct {
	rate  rate.Limit
	burst int
	m     *lru.Cache[string, *rate.Limiter]
}

// New returns a table allowing r events a second with bursts of burst per
// key, remembering at most max keys (the least recently seen is forgotten
// first, and starts again with a full bucket). max must be positive.
func New(r float64, burst, max int) *Table {
	m, err := lru.New[string, *rate.Limiter](max)
	if err != nil {
		panic("ratelimit: " + err.Error()) // only for max <= 0, a programming error
	}
	return &Table{rate: rate.Limit(r), burst: burst, m: m}
}

// Allow reports whether key may act at now, and takes a token if so.
func (t *Table) Allow(key string, now time.Time) bool {
	b, ok := t.m.Get(key)
	if !ok {
		nb := rate.NewLimiter(t.rate, t.burst)
		if prev, found, _ := t.m.PeekOrAdd(key, nb); found {
			b = prev
		} else {
			b = nb
		}
	}
	return b.AllowN(now, 1)
}

// Len is the number of keys tracked.
func (t *Table) Len() int { return t.m.Len() }

// RemoteHost is the host part of r.RemoteAddr (the whole of it when it has
// no port): the client address when no trusted reverse proxy is in front.
func RemoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}
