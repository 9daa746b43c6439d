package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"hash"
	"slices"
	"sync"
	"time"
)

// chainCacheMax bounds the number of chains a Verifier remembers. A node
// sees few distinct signer chains (a handful per partner), so the bound is
// only reached under attack or after many rotations; then arbitrary
// entries are dropped.
const chainCacheMax = 1024

// chainCache remembers chains that x509.Verify built and accepted, so that
// the next document signed with the same certificates needs no chain
// building and no signature checks of the chain's links. An entry is keyed
// by the trust store's content (every anchor and extra intermediate, in
// order) and the full chain the document carried (leaf first, then the
// other KeyInfo certificates in order), and is valid only while every
// certificate of the chain is within its validity period; outside that
// window the chain is verified in full again (and refused with the usual
// reason). What is not time-independent or not about the chain's links is
// never cached: the signer's key usage and the revocation check against
// the trust store's current CRLs run for every document. Only accepted
// chains are remembered.
type chainCache struct {
	mu   sync.Mutex
	m    map[[32]byte]*chainEntry
	hits uint64 // for tests

	// The digest of the trust store's certificates last seen (trustSum)
	// and those certificates (trustCerts, anchors then intermediates):
	// while a verification sees the very same certificates (pointer
	// equality, no hashing), the digest is reused instead of hashing the
	// whole trust store again.
	trustCerts []*x509.Certificate
	trustSum   [32]byte
	trustHits  uint64 // for tests
}

type chainEntry struct {
	chain     []*x509.Certificate // validated and extended, signer first
	notBefore time.Time           // latest NotBefore in chain
	notAfter  time.Time           // earliest NotAfter in chain
}

// covers reports whether every certificate of the chain is valid at t (as
// x509.Verify judges validity: NotBefore <= t <= NotAfter).
func (e *chainEntry) covers(t time.Time) bool {
	return !t.Before(e.notBefore) && !t.After(e.notAfter)
}

func writeDER(h hash.Hash, tag byte, der []byte) {
	var n [9]byte
	n[0] = tag
	binary.BigEndian.PutUint64(n[1:], uint64(len(der)))
	h.Write(n[:])
	h.Write(der)
}

// key is the cache key of a chain: the digest of the trust store's
// anchors and intermediates (trustDigest) and the document's certificates
// (leaf first, then the others as sent), each tagged and length-prefixed
// so that no two inputs share a key.
func (c *chainCache) key(trust TrustStore, leaf *x509.Certificate, sent []*x509.Certificate) [32]byte {
	ts := c.trustDigest(trust)
	h := sha256.New()
	h.Write(ts[:])
	writeDER(h, 'L', leaf.Raw)
	for _, x := range sent {
		if x != leaf {
			writeDER(h, 'S', x.Raw)
		}
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// trustDigest hashes the trust store's anchors and intermediates, or
// returns the digest of the previous call when the store returned the
// same certificates (the same pointers, in the same order).
func (c *chainCache) trustDigest(trust TrustStore) [32]byte {
	anchors := trust.Anchors()
	var inter []*x509.Certificate
	if is, ok := trust.(IntermediateSource); ok {
		inter = is.Intermediates()
	}
	c.mu.Lock()
	if len(c.trustCerts) == len(anchors)+len(inter) && len(c.trustCerts) > 0 &&
		slices.Equal(c.trustCerts[:len(anchors)], anchors) && slices.Equal(c.trustCerts[len(anchors):], inter) {
		c.trustHits++
		sum := c.trustSum
		c.mu.Unlock()
		return sum
	}
	c.mu.Unlock()
	h := sha256.New()
	for _, a := range anchors {
		writeDER(h, 'A', a.Raw)
	}
	for _, x := range inter {
		writeDER(h, 'I', x.Raw)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	certs := make([]*x509.Certificate, 0, len(anchors)+len(inter))
	certs = append(append(certs, anchors...), inter...)
	c.mu.Lock()
	c.trustCerts, c.trustSum = certs, sum
	c.mu.Unlock()
	return sum
}

func (c *chainCache) get(k [32]byte, times []time.Time) []*x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil {
		return nil
	}
	for _, t := range times {
		if !e.covers(t) {
			return nil
		}
	}
	c.hits++
	return e.chain
}

func (c *chainCache) put(k [32]byte, chain []*x509.Certificate) {
	if len(chain) == 0 {
		return
	}
	e := &chainEntry{chain: chain, notBefore: chain[0].NotBefore, notAfter: chain[0].NotAfter}
	for _, x := range chain[1:] {
		if x.NotBefore.After(e.notBefore) {
			e.notBefore = x.NotBefore
		}
		if x.NotAfter.Before(e.notAfter) {
			e.notAfter = x.NotAfter
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[32]byte]*chainEntry{}
	}
	for k2 := range c.m {
		if len(c.m) < chainCacheMax {
			break
		}
		delete(c.m, k2)
	}
	c.m[k] = e
}

func (c *chainCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
