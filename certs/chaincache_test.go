package certs

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/beevik/etree"
)

func mustCRL(t *testing.T, issuer KeyCert, thisUpdate time.Time, revoked ...*x509.Certificate) *x509.RevocationList {
	t.Helper()
	b, err := IssueCRL(issuer, revoked, thisUpdate, thisUpdate.Add(30*24*time.Hour), thisUpdate.Unix())
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	crl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func verifyOK(t *testing.T, v *Verifier, doc []byte) *Result {
	t.Helper()
	res, err := v.Verify(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid {
		t.Fatalf("not valid: %+v", res.Report)
	}
	return res
}

// TestChainCacheReused: the second document with the same chain is
// checked from the cache (no x509.Verify), with the same result, and a
// caller changing the returned chain does not change the cache.
func TestChainCacheReused(t *testing.T) {
	p := testPKI(t)
	ts := &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert},
		RevocationLists: []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-time.Hour)), mustCRL(t, p.Intermediate, testNow.Add(-time.Hour))}}
	v := &Verifier{Trust: ts, At: testNow}
	r1 := verifyOK(t, v, mustSign(t, p.SignerECDSA, p, ecoDoc(1)))
	r1.Chain[0] = nil
	r2 := verifyOK(t, v, mustSign(t, p.SignerECDSA, p, ecoDoc(2)))
	if v.chains.hits != 1 || v.chains.len() != 1 {
		t.Fatalf("hits %d, entries %d; want 1, 1", v.chains.hits, v.chains.len())
	}
	if len(r2.Chain) != 3 || r2.Chain[0] == nil || !r2.Chain[0].Equal(p.SignerECDSA.Cert) || !r2.Chain[2].Equal(p.Root.Cert) {
		t.Fatalf("chain from the cache: %v", r2.Chain)
	}
	if got := r2.Report.Get(CheckRevocation); got.Status != StatusValid || got.Detail != "2 certificate(s) checked against current CRLs" {
		t.Errorf("revocation from the cache path: %+v", got)
	}
	// Another signer under the same trust store is its own entry.
	verifyOK(t, v, mustSign(t, p.SignerRSA, p, ecoDoc(1)))
	if v.chains.len() != 2 {
		t.Errorf("entries %d, want 2", v.chains.len())
	}
}

// TestChainCacheRevocationStillChecked: a signer whose chain is cached is
// refused as soon as a current CRL revokes it (or its intermediate).
func TestChainCacheRevocationStillChecked(t *testing.T) {
	p := testPKI(t)
	rootCRL, interCRL := mustCRL(t, p.Root, testNow.Add(-time.Hour)), mustCRL(t, p.Intermediate, testNow.Add(-time.Hour))
	ts := &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}, RevocationLists: []*x509.RevocationList{rootCRL, interCRL}}
	v := &Verifier{Trust: ts, At: testNow}
	doc := mustSign(t, p.SignerECDSA, p, ecoDoc(1))
	verifyOK(t, v, doc)
	for _, tc := range []struct {
		name string
		crls []*x509.RevocationList
	}{
		{"signer revoked", []*x509.RevocationList{rootCRL, mustCRL(t, p.Intermediate, testNow.Add(-time.Minute), p.SignerECDSA.Cert)}},
		{"intermediate revoked", []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-time.Minute), p.Intermediate.Cert), interCRL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts.RevocationLists = tc.crls
			hits := v.chains.hits
			res, err := v.Verify(doc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid || res.Element != nil || res.Report.First().Reason != "revocation.revoked" {
				t.Fatalf("revoked signer accepted or wrong reason: %+v", res.Report)
			}
			if v.chains.hits != hits+1 {
				t.Errorf("the chain did not come from the cache (hits %d → %d): the test proves nothing", hits, v.chains.hits)
			}
		})
	}
	// A stale CRL is still refused too.
	ts.RevocationLists = []*x509.RevocationList{rootCRL, mustCRL(t, p.Intermediate, testNow.Add(-40*24*time.Hour))}
	if res, _ := v.Verify(doc); res.Valid || res.Report.First().Reason != "revocation.crl-stale" {
		t.Fatalf("stale CRL accepted: %+v", res.Report)
	}
}

// TestChainCacheValidity: a cached chain is never trusted outside the
// validity of every certificate in it, at the policy time or the signing
// time.
func TestChainCacheValidity(t *testing.T) {
	p := testPKI(t)
	ts := &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}
	now := testNow
	var signing time.Time
	v := &Verifier{Trust: ts, Now: func() time.Time { return now }, SigningTime: func(*etree.Element) (time.Time, bool) { return signing, !signing.IsZero() }}
	doc := mustSign(t, p.SignerECDSA, p, ecoDoc(1))
	verifyOK(t, v, doc)
	if v.chains.len() != 1 {
		t.Fatalf("not cached")
	}
	for _, tc := range []struct {
		name         string
		now, signing time.Time
		valid        bool
	}{
		{"inside", testNow.Add(24 * time.Hour), time.Time{}, true},
		{"last second of the signer", p.SignerECDSA.Cert.NotAfter, time.Time{}, true},
		{"signer expired", p.SignerECDSA.Cert.NotAfter.Add(time.Second), time.Time{}, false},
		{"intermediate expired", p.Intermediate.Cert.NotAfter.Add(time.Second), time.Time{}, false},
		{"before the signer existed", p.SignerECDSA.Cert.NotBefore.Add(-time.Second), time.Time{}, false},
		{"signing time before the signer existed", testNow, p.SignerECDSA.Cert.NotBefore.Add(-time.Hour), false},
		{"signing time inside", testNow, testNow.Add(-time.Minute), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now, signing = tc.now, tc.signing
			res, err := v.Verify(doc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid != tc.valid {
				t.Fatalf("valid %v, want %v: %+v", res.Valid, tc.valid, res.Report)
			}
			if !tc.valid && res.Report.First().Reason != "trust.validity" {
				t.Errorf("reason %+v", res.Report.First())
			}
		})
	}
}

// TestChainCacheTrustStore: an entry made under one trust store is not
// used under another (other anchors, or the same anchors with other extra
// intermediates), and a document that sends a different chain for the
// same signer is checked on its own.
func TestChainCacheTrustStore(t *testing.T) {
	p := testPKI(t)
	other, err := NewDevPKI(PKIOptions{Now: testNow.Add(-24 * time.Hour), Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	tsA := &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}
	tsB := &TrustSet{AnchorCerts: []*x509.Certificate{other.Root.Cert}}
	v := &Verifier{Trust: tsA, At: testNow}
	doc := mustSign(t, p.SignerECDSA, p, ecoDoc(1))
	verifyOK(t, v, doc)

	v.Trust = tsB
	res, err := v.Verify(doc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid || res.Report.First().Reason != "trust.unknown-authority" {
		t.Fatalf("another trust store reused the entry: %+v", res.Report)
	}
	// The same anchors in another store object share the entry (the key is
	// the store's content); anchors added or removed make a new one.
	v.Trust = &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}
	hits := v.chains.hits
	verifyOK(t, v, doc)
	if v.chains.hits != hits+1 {
		t.Errorf("same content, no hit")
	}
	v.Trust = &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert, other.Root.Cert}}
	verifyOK(t, v, doc)
	if v.chains.hits != hits+1 || v.chains.len() != 2 {
		t.Errorf("changed anchors reused an entry (hits %d, entries %d)", v.chains.hits, v.chains.len())
	}

	// The signer alone in KeyInfo: the intermediate the cached chain used
	// is not available, so the document is refused.
	v.Trust = tsA
	leafOnly, err := (&Signer{Key: p.SignerECDSA.Key, Chain: []*x509.Certificate{p.SignerECDSA.Cert}}).Sign(ecoDoc(1))
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := v.Verify(leafOnly); res.Valid || res.Report.First().Reason != "trust.unknown-authority" {
		t.Fatalf("a chain not sent was taken from the cache: %+v", res.Report)
	}
	// ... unless the trust store supplies the intermediate: a new entry.
	v.Trust = &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}, ExtraIntermediates: []*x509.Certificate{p.Intermediate.Cert}}
	verifyOK(t, v, leafOnly)
	if res, _ := v.Verify(doc); !res.Valid {
		t.Fatalf("%+v", res.Report)
	}
}

// TestChainCacheKeyUsage: the signer's key usage is checked for every
// document, cache or not (a policy change takes effect at once).
func TestChainCacheKeyUsage(t *testing.T) {
	p := testPKI(t)
	// The intermediate CA itself as "signer": its KeyUsage has no
	// digitalSignature; with the root as anchor its chain is valid.
	v := &Verifier{Trust: &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}, At: testNow}
	doc, err := (&Signer{Key: p.Intermediate.Key, Chain: []*x509.Certificate{p.Intermediate.Cert}}).Sign(ecoDoc(1))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if res, _ := v.Verify(doc); res.Valid || res.Report.First().Reason != "trust.key-usage" {
			t.Fatalf("run %d: CA key accepted as document signer: %+v", i, res.Report)
		}
	}
	if v.chains.len() != 0 {
		t.Errorf("a refused chain was cached")
	}
}

// TestChainCacheBounded: the cache never holds more than chainCacheMax.
func TestChainCacheBounded(t *testing.T) {
	p := testPKI(t)
	var c chainCache
	for i := 0; i < chainCacheMax+50; i++ {
		var k [32]byte
		k[0], k[1] = byte(i), byte(i>>8)
		c.put(k, []*x509.Certificate{p.SignerECDSA.Cert})
	}
	if n := c.len(); n > chainCacheMax {
		t.Fatalf("%d entries, bound %d", n, chainCacheMax)
	}
}

// TestChainCacheTrustDigestReused: the trust store's digest is computed
// once while the store returns the same certificates, computed again when
// they are other objects (same content: the same key, a hit), and another
// anchor makes another cache entry, never a hit on the old one.
func TestChainCacheTrustDigestReused(t *testing.T) {
	p := testPKI(t)
	ts := &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}
	v := &Verifier{Trust: ts, At: testNow}
	doc := mustSign(t, p.SignerECDSA, p, ecoDoc(1))
	verifyOK(t, v, doc)
	verifyOK(t, v, doc)
	if v.chains.trustHits != 1 || v.chains.hits != 1 {
		t.Fatalf("trust digest reused %d times, chain hits %d; want 1, 1", v.chains.trustHits, v.chains.hits)
	}
	same, err := x509.ParseCertificate(p.Root.Cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	ts.AnchorCerts = []*x509.Certificate{same}
	verifyOK(t, v, doc)
	if v.chains.trustHits != 1 || v.chains.hits != 2 || v.chains.len() != 1 {
		t.Fatalf("same anchors as new objects: digest reused %d, hits %d, entries %d; want 1, 2, 1", v.chains.trustHits, v.chains.hits, v.chains.len())
	}
	ts.AnchorCerts = append(ts.AnchorCerts, p.Intermediate.Cert)
	verifyOK(t, v, doc)
	if v.chains.trustHits != 1 || v.chains.hits != 2 || v.chains.len() != 2 {
		t.Fatalf("after another anchor: digest reused %d, hits %d, entries %d; want 1, 2, 2", v.chains.trustHits, v.chains.hits, v.chains.len())
	}
}

// BenchmarkChainCacheKey: the cache key of a verification under a trust
// store of 20 anchors (ten partners with two roots each): "rehash" hashes
// the store every time (as before the digest was reused), "reuse" is the
// cache's key.
func BenchmarkChainCacheKey(b *testing.B) {
	p := testPKI(b)
	var anchors []*x509.Certificate
	for range 20 {
		c, _ := x509.ParseCertificate(p.Root.Cert.Raw)
		anchors = append(anchors, c)
	}
	ts := &TrustSet{AnchorCerts: anchors}
	sent := []*x509.Certificate{p.SignerECDSA.Cert, p.Intermediate.Cert}
	b.Run("rehash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c chainCache
			c.key(ts, p.SignerECDSA.Cert, sent)
		}
	})
	b.Run("reuse", func(b *testing.B) {
		b.ReportAllocs()
		var c chainCache
		for b.Loop() {
			c.key(ts, p.SignerECDSA.Cert, sent)
		}
	})
}
