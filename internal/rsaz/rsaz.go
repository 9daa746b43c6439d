package rsaz

import (
	"crypto"
	"crypto/fips140"
	"crypto/rsa"
	"io"
	"math/big"
	"sync/atomic"
)

// fallbacks counts fast signatures that failed verification.
var fallbacks atomic.Uint64

// Fallbacks returns how many signatures computed by the fast path did not
// verify and were replaced by crypto/rsa's since the process started. It
// should stay zero; anything else is a bug or a hardware fault.
func Fallbacks() uint64 { return fallbacks.Load() }

// Available reports whether this build and CPU have the fast path and it
// is allowed (not in FIPS 140-3 mode, where NewSigner passes keys through).
func Available() bool { return haveFast && !fips140.Enabled() }

// Accelerated reports whether s is a signer returned by NewSigner that
// uses the fast path (false for a key NewSigner passed through).
func Accelerated(s crypto.Signer) bool {
	_, ok := s.(*Signer)
	return ok
}

// Signer is a crypto.Signer for a 2048-bit two-prime RSA key whose
// PKCS#1 v1.5 signatures use the fast path. It is safe for concurrent use.
type Signer struct {
	key *rsa.PrivateKey
	ctx *keyCtx
}

// NewSigner returns a crypto.Signer for k: a *Signer when the fast path
// applies to k on this CPU and build, else k itself. In FIPS 140-3 mode
// (GODEBUG=fips140=on) it always returns k: only crypto/rsa is validated. k must not be
// modified afterwards.
func NewSigner(k *rsa.PrivateKey) crypto.Signer {
	if !Available() || k == nil || len(k.Primes) != 2 || k.N == nil || k.N.BitLen() != 2048 ||
		k.Primes[0].BitLen() != 1024 || k.Primes[1].BitLen() != 1024 || k.D == nil {
		return k
	}
	if k.Precomputed.Dp == nil || k.Precomputed.Dq == nil || k.Precomputed.Qinv == nil {
		kc := *k
		kc.Precompute()
		if kc.Precomputed.Dp == nil || kc.Precomputed.Qinv == nil {
			return k
		}
		k = &kc
	}
	pc := &k.Precomputed
	for _, v := range []*big.Int{pc.Dp, pc.Dq, pc.Qinv} { // a malformed key stays with crypto/rsa
		if v.Sign() <= 0 || v.BitLen() > 1024 {
			return k
		}
	}
	ctx := newKeyCtx(k)
	if ctx == nil {
		return k
	}
	return &Signer{key: k, ctx: ctx}
}

// PrivateKey returns the wrapped key, for code that needs the key itself
// (encoding it, for example).
func (s *Signer) PrivateKey() *rsa.PrivateKey { return s.key }

// Decrypt decrypts with crypto/rsa (PKCS#1 v1.5 or OAEP), so that a
// Signer stands in for the key wherever a crypto.Decrypter is wanted
// (TLS RSA key exchange, for one).
func (s *Signer) Decrypt(rand io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return s.key.Decrypt(rand, msg, opts)
}

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return &s.key.PublicKey }

// digestInfo holds the DER DigestInfo prefixes of RFC 8017 §9.2 for the
// hashes the fast path signs.
var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// faultHook, when set by a test, may corrupt the fast result before it is
// checked.
var faultHook func(sig []byte)

// Sign signs digest like (*rsa.PrivateKey).Sign: PKCS#1 v1.5 for a
// crypto.Hash of SHA-256, SHA-384 or SHA-512 on the fast path; PSS
// options and any other hash go to crypto/rsa.
func (s *Signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return s.key.Sign(rand, digest, opts)
	}
	h := opts.HashFunc()
	prefix, ok := digestInfo[h]
	if !ok || len(digest) != h.Size() {
		return s.key.Sign(rand, digest, opts)
	}
	// EM = 0x00 || 0x01 || PS (0xff...) || 0x00 || DigestInfo || digest.
	var em [256]byte
	em[1] = 1
	tLen := len(prefix) + len(digest)
	for i := 2; i < len(em)-tLen-1; i++ {
		em[i] = 0xff
	}
	copy(em[len(em)-tLen:], prefix)
	copy(em[len(em)-len(digest):], digest)
	sig := make([]byte, 256)
	s.ctx.privateOp(sig, &em)
	if faultHook != nil {
		faultHook(sig)
	}
	if rsa.VerifyPKCS1v15(&s.key.PublicKey, h, digest, sig) != nil {
		fallbacks.Add(1)
		return rsa.SignPKCS1v15(rand, s.key, h, digest)
	}
	return sig, nil
}
