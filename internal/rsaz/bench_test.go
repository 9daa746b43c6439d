//go:build unix

package rsaz

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"sync"
	"syscall"
	"testing"
	"time"
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
			start := cpuTime()
			for b.Loop() {
				if _, err := c.s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
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
	start := cpuTime()
	for b.Loop() {
		s.ctx.privateOp(sig, &em)
	}
	reportCPU(b, start)
}

// cpuTime is the process's user+system CPU time: on the shared VM it
// moves less with the load than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start as cpu-ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
