package certs

import (
	"crypto"
	"crypto/rsa"
	"sync"

	"github.com/ecogate/ecogate/internal/rsaz"
)

// fastKey returns s with a 2048-bit two-prime *rsa.PrivateKey wrapped in
// the constant-time AVX-512 IFMA signer of internal/rsaz (same signatures,
// about three times faster); any other key, and every key on a CPU or
// build without the fast path, comes back unchanged. HSM handles and
// other crypto.Signers are never wrapped.
func fastKey(s crypto.Signer) crypto.Signer {
	if k, ok := s.(*rsa.PrivateKey); ok {
		return rsaz.NewSigner(k)
	}
	return s
}

// fastCacheMax bounds fastCache; a node holds a handful of RSA keys.
const fastCacheMax = 64

var (
	fastMu    sync.Mutex
	fastCache = map[*rsa.PrivateKey]crypto.Signer{}
)

// signingKey is the key Signer signs with: a raw *rsa.PrivateKey (as a
// caller may build Signer{Key: k} without ParsePrivateKey) is wrapped
// once per key and remembered; keys already wrapped and other signers
// pass through.
func signingKey(s crypto.Signer) crypto.Signer {
	k, ok := s.(*rsa.PrivateKey)
	if !ok || !rsaz.Available() {
		return s
	}
	fastMu.Lock()
	defer fastMu.Unlock()
	if f, ok := fastCache[k]; ok {
		return f
	}
	if len(fastCache) >= fastCacheMax {
		clear(fastCache)
	}
	f := rsaz.NewSigner(k)
	fastCache[k] = f
	return f
}
