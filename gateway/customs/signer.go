package customs

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/store"
)

// A stored certificate's verification report is history: it says what
// was true when the e-CO arrived. A check re-evaluates the signer chain
// stored with the view (View.Chain) against the sending partner's
// document-signing trust as loaded now (Options.SignerTrust, which a
// registry reload replaces): the chain must still lead to one of the
// partner's anchors, valid when the e-CO was received, and no certificate
// of it may be on a CRL loaded now. A revoked signer gives the verdict
// REVOKED, any other failure UNTRUSTED.
//
// The result is cached per trust store (one per registry load, so a new
// CRL is a new generation) and chain, while the check time is inside the
// CRLs' validity window and the receipt time inside the chain's validity:
// a check that hits the cache costs two map lookups under a read lock, no
// certificate or XML parsing.

// TrustSource returns a partner's document-signing trust (anchors and
// CRLs) as loaded now, or nil when the partner is not registered. A
// registry reload must return a new TrustStore value: it is the cache's
// generation.
type TrustSource func(country string) certs.TrustStore

// SignerCheck is the signer chain re-evaluated at the time of the check.
type SignerCheck struct {
	// Valid is true when the chain still verifies and nothing in it is
	// revoked.
	Valid bool `json:"valid"`
	// Report has the signer-trust and revocation entries, with details.
	Report certs.Report `json:"report"`

	raw     []byte // the encoded form, shared through the cache
	revoked bool
}

// MarshalJSON writes the pre-encoded form when there is one.
func (sc SignerCheck) MarshalJSON() ([]byte, error) {
	if sc.raw != nil {
		return sc.raw, nil
	}
	type plain SignerCheck
	return json.Marshal(plain(sc))
}

// signerCacheMax bounds the chains remembered per trust store, and the
// trust stores remembered (old registry loads).
const signerCacheMax = 1024

type signerCache struct {
	mu      sync.RWMutex
	byTrust map[certs.TrustStore]*trustGen
}

// trustGen is one trust store (one registry load) with its verifier and
// the chains checked against it.
type trustGen struct {
	v       *certs.Verifier
	from    time.Time // CRL window: results hold while now is inside it
	till    time.Time
	mu      sync.RWMutex
	byChain map[string]*signerEntry
}

type signerEntry struct {
	check      *SignerCheck
	validFrom  time.Time // the chain's validity: receipt times it covers
	validUntil time.Time
}

// check returns the signer check of the chain (concatenated DER, signer
// first) received at receivedAt, judged now against trust.
func (c *signerCache) check(trust certs.TrustStore, chainDER []byte, receivedAt time.Time, now func() time.Time) *SignerCheck {
	sc, _ := c.checkKey(trust, chainDER, func() ([]byte, error) { return chainDER, nil }, receivedAt, now)
	return sc
}

// errChainUnusable marks a chain that cannot be judged (missing, or not
// the bytes its hash names): a failed re-check, not an outage.
var errChainUnusable = errors.New("the stored signer chain is unusable")

// checkRef is check for a chain known by its SHA-256 (ref, 32 bytes):
// load gives the chain's bytes, read only when the cache does not hold
// its result, and checked against ref. A chain that is missing
// (store.ErrNotFound) or other bytes is a failed re-check; any other
// error of load is returned (the check could not be made).
func (c *signerCache) checkRef(trust certs.TrustStore, ref []byte, load func() ([]byte, error), receivedAt time.Time, now func() time.Time) (*SignerCheck, error) {
	var kb [4 + sha256.Size]byte
	key := append(append(kb[:0], "ref:"...), ref...) // a DER chain starts with 0x30, never "ref:"
	return c.checkKey(trust, key, func() ([]byte, error) {
		b, err := load()
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("%w: %v", errChainUnusable, err)
		case err != nil:
			return nil, err
		}
		if sum := sha256.Sum256(b); !bytes.Equal(sum[:], ref) {
			return nil, fmt.Errorf("%w: it does not match its hash %x", errChainUnusable, ref)
		}
		return b, nil
	}, receivedAt, now)
}

// checkKey is check for the chain cached under key, loaded by chainOf; an
// error of chainOf other than errChainUnusable is returned.
func (c *signerCache) checkKey(trust certs.TrustStore, key []byte, chainOf func() ([]byte, error), receivedAt time.Time, now func() time.Time) (*SignerCheck, error) {
	c.mu.RLock()
	g := c.byTrust[trust]
	c.mu.RUnlock()
	if g == nil {
		g = c.gen(trust, now)
	}
	at := now()
	inWindow := !at.Before(g.from) && (g.till.IsZero() || !at.After(g.till))
	if inWindow {
		g.mu.RLock()
		e := g.byChain[string(key)]
		g.mu.RUnlock()
		if e != nil && !receivedAt.Before(e.validFrom) && !receivedAt.After(e.validUntil) {
			return e.check, nil
		}
	}
	// A copy: the chain may alias a pooled read buffer, and parsed
	// certificates keep their input.
	chainDER, err := chainOf()
	if err != nil && !errors.Is(err, errChainUnusable) {
		return nil, err
	}
	var chain []*x509.Certificate
	if err == nil {
		chain, err = x509.ParseCertificates(bytes.Clone(chainDER))
	}
	var rep certs.Report
	if err != nil {
		rep = certs.Report{{Check: certs.CheckTrust, Status: certs.StatusError, Reason: "trust.no-chain", Detail: "the stored signer chain cannot be read: " + err.Error()}}
	} else {
		rep = g.v.Recheck(chain, receivedAt)
	}
	sc := &SignerCheck{Valid: rep.Valid(), Report: rep, revoked: rep.First().Reason == "revocation.revoked"}
	sc.raw, _ = json.Marshal(sc)
	if !inWindow || err != nil || len(chain) == 0 {
		return sc, nil
	}
	e := &signerEntry{check: sc, validFrom: chain[0].NotBefore, validUntil: chain[0].NotAfter}
	for _, x := range chain[1:] {
		if x.NotBefore.After(e.validFrom) {
			e.validFrom = x.NotBefore
		}
		if x.NotAfter.Before(e.validUntil) {
			e.validUntil = x.NotAfter
		}
	}
	g.mu.Lock()
	if len(g.byChain) >= signerCacheMax {
		clear(g.byChain)
	}
	g.byChain[string(key)] = e
	g.mu.Unlock()
	return sc, nil
}

// gen returns (making it) the generation of trust.
func (c *signerCache) gen(trust certs.TrustStore, now func() time.Time) *trustGen {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.byTrust[trust]; g != nil {
		return g
	}
	if c.byTrust == nil || len(c.byTrust) >= 64 { // many reloads: start afresh
		c.byTrust = map[certs.TrustStore]*trustGen{}
	}
	g := &trustGen{v: &certs.Verifier{Trust: trust, Now: now}, byChain: map[string]*signerEntry{}}
	g.from, g.till = certs.CRLWindow(trust.CRLs())
	c.byTrust[trust] = g
	return g
}

// chainDER concatenates the DER of certificates.
func chainDER(chain []*x509.Certificate) []byte {
	var b []byte
	for _, c := range chain {
		if c != nil {
			b = append(b, c.Raw...)
		}
	}
	return b
}
