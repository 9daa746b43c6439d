package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// idGen makes UUIDv7 message ids (RFC 9562): 48 bits of Unix milliseconds,
// then random bits. Ids made by one generator increase strictly.
type idGen struct {
	mu   sync.Mutex
	last [16]byte
}

// New returns a new UUIDv7 string.
func (g *idGen) New(now time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("gateway: crypto/rand failed: " + err.Error())
	}
	ms := uint64(now.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	g.mu.Lock()
	// Keep ids monotonic within one millisecond (and across a clock step
	// back): bump the previous id's random tail instead.
	if string(b[:6]) <= string(g.last[:6]) {
		b = g.last
		for i := 15; i >= 9; i-- {
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	}
	g.last = b
	g.mu.Unlock()
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
