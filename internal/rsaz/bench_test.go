package rsaz

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"sync"
	"testing"
)

var (
	benchKeyOnce sync.Once
	benchKey     *rsa.PrivateKey
)

func benchRSAKey(b *testing.B) *rsa.PrivateKey {
	benchKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		benchKey = k
	})
	return benchKey
}

// BenchmarkSign compares one PKCS#1 v1.5 SHA-256 signature with a 2048-bit
// key through crypto/rsa and through NewSigner (the fast path when the
// CPU has it; it includes the verification against faults).
func BenchmarkSign(b *testing.B) {
	k := benchRSAKey(b)
	d := sha256.Sum256([]byte("ecogate"))
	for _, c := range []struct {
		name string
		s    crypto.Signer
	}{{"stdlib", k}, {"rsaz", NewSigner(k)}} {
		b.Run(c.name, func(b *testing.B) {
			if c.name == "rsaz" && !Accelerated(c.s) {
				b.Skip("no fast path on this CPU or build")
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrivateOp is the fast private-key operation alone.
func BenchmarkPrivateOp(b *testing.B) {
	s, ok := NewSigner(benchRSAKey(b)).(*Signer)
	if !ok {
		b.Skip("no fast path on this CPU or build")
	}
	var em [256]byte
	em[1] = 1
	sig := make([]byte, 256)
	for b.Loop() {
		s.ctx.privateOp(sig, &em)
	}
}
