//go:build amd64 && !purego

package rsaz

import (
	"bytes"
	"crypto"
	"crypto/fips140"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"testing"

	mrand "math/rand/v2"

	"golang.org/x/sys/cpu"
)

// TestFastPathChosen makes sure the benchmarks measure the fast path: on
// a CPU with AVX-512 IFMA a 2048-bit key must get it.
func TestFastPathChosen(t *testing.T) {
	if !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512IFMA && cpu.X86.HasBMI2) {
		// A CPU feature, not a missing tool: the check is that such a
		// CPU gets crypto/rsa (the other tests then cover the fallback).
		if Available() || Accelerated(NewSigner(cachedKey(t, 0, 1024, 1024))) {
			t.Fatal("the CPU lacks AVX-512F, AVX-512 IFMA or BMI2 but the fast path was chosen")
		}
		t.Log("this CPU lacks AVX-512F, AVX-512 IFMA or BMI2: crypto/rsa is used (checked); the fast RSA path is not exercised here")
		return
	}
	if fips140.Enabled() {
		if Accelerated(NewSigner(cachedKey(t, 0, 1024, 1024))) {
			t.Fatal("the fast path was chosen in FIPS 140-3 mode")
		}
		t.Skip("FIPS 140-3 mode: crypto/rsa only (checked)")
	}
	if !Available() || !Accelerated(NewSigner(cachedKey(t, 0, 1024, 1024))) {
		t.Fatal("the CPU has AVX-512 IFMA but the fast path was not chosen")
	}
}

func requireFast(t testing.TB, k *rsa.PrivateKey) *Signer {
	s, ok := NewSigner(k).(*Signer)
	if !ok {
		t.Skip("no fast path on this CPU")
	}
	return s
}

// rawPrivate checks privateOp(c) == c^d mod n for c < n.
func rawPrivate(t testing.TB, s *Signer, c *big.Int) {
	t.Helper()
	var em [256]byte
	c.FillBytes(em[:])
	got := make([]byte, 256)
	s.ctx.privateOp(got, &em)
	want := new(big.Int).Exp(c, s.key.D, s.key.N).FillBytes(make([]byte, 256))
	if !bytes.Equal(got, want) {
		t.Fatalf("c = %x: got %x, want %x", c, got, want)
	}
}

// TestPrivateOpEdges covers inputs at the edges of the ranges the
// reduction and the CRT handle: 0, 1, n-1, multiples of p and q, inputs
// at or above p and q, and the largest inputs of each length.
func TestPrivateOpEdges(t *testing.T) {
	for seed := range uint64(3) {
		k := cachedKey(t, seed, 1024, 1024)
		s := requireFast(t, k)
		p, q, n := k.Primes[0], k.Primes[1], k.N
		one := big.NewInt(1)
		sub := func(a, b *big.Int) *big.Int { return new(big.Int).Sub(a, b) }
		add := func(a, b *big.Int) *big.Int { return new(big.Int).Add(a, b) }
		pow2 := func(e uint) *big.Int { return new(big.Int).Lsh(one, e) }
		for _, c := range []*big.Int{
			big.NewInt(0), one, big.NewInt(2), sub(n, one), sub(n, big.NewInt(2)),
			p, q, add(p, one), sub(p, one), add(q, one), sub(q, one),
			new(big.Int).Mul(p, big.NewInt(3)), new(big.Int).Mul(q, big.NewInt(5)),
			new(big.Int).Mul(p, sub(q, one)), new(big.Int).Mul(q, sub(p, one)),
			sub(pow2(1024), one), pow2(1024), sub(pow2(1040), one), pow2(1040),
			sub(pow2(2047), one), pow2(2047),
			new(big.Int).Rsh(n, 1),
		} {
			if c.Cmp(n) >= 0 {
				continue
			}
			rawPrivate(t, s, c)
		}
	}
}

// TestFaultFallback corrupts the fast result through faultHook: the
// signer must return crypto/rsa's signature and count the fallback.
func TestFaultFallback(t *testing.T) {
	k := cachedKey(t, 2, 1024, 1024)
	s := requireFast(t, k)
	faultHook = func(sig []byte) { sig[100] ^= 1 }
	defer func() { faultHook = nil }()
	d := sha256.Sum256([]byte("fault"))
	before := Fallbacks()
	got, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
	if !bytes.Equal(got, want) {
		t.Fatal("the corrupted fast signature was returned")
	}
	if Fallbacks() != before+1 {
		t.Fatalf("Fallbacks went from %d to %d, want +1", before, Fallbacks())
	}
}

// TestNegInv52 checks k0 against big.Int for a few odd moduli.
func TestNegInv52(t *testing.T) {
	for _, x := range []uint64{1, 3, 0xfffffffffffff, 0xffffffffffffffff, 0x123456789abcdef1} {
		k0 := negInv52(big.Word(x))
		if (x*k0+1)&digitMask != 0 {
			t.Errorf("negInv52(%#x) = %#x: x*k0 != -1 mod 2^52", x, k0)
		}
	}
}

// FuzzPrivateOp compares the raw private-key operation with big.Int for
// arbitrary inputs (reduced mod n) and keys derived from a seed.
func FuzzPrivateOp(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{1})
	f.Add(uint8(2), bytes.Repeat([]byte{0xff}, 256))
	f.Add(uint8(3), bytes.Repeat([]byte{0x80}, 300))
	f.Fuzz(func(t *testing.T, seed uint8, msg []byte) {
		k := cachedKey(t, uint64(seed%8), 1024, 1024)
		s := requireFast(t, k)
		c := new(big.Int).SetBytes(msg)
		rawPrivate(t, s, c.Mod(c, k.N))
		d := sha256.Sum256(msg)
		want, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
		got, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("signature differs from crypto/rsa (%v)", err)
		}
	})
}

// TestNormalize drives the carry ripple of the assembly's NORMALIZE with
// lanes at and around 2^52-1, which random multiplications almost never
// produce: the result must be the same number in 52-bit digits.
func TestNormalize(t *testing.T) {
	if !haveFast {
		t.Skip("no AVX-512 IFMA")
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	special := []uint64{0, 1, digitMask - 1, digitMask, digitMask + 1, 1 << 53, 1<<60 - 1}
	value := func(x []uint64) *big.Int {
		v := new(big.Int)
		for i := len(x) - 1; i >= 0; i-- {
			v.Lsh(v, digitBits).Add(v, new(big.Int).SetUint64(x[i]))
		}
		return v
	}
	for iter := range 20000 {
		var x pair
		for h := range 2 {
			for i := range nDigits - 1 { // the top lane stays small: no carry out
				switch r.IntN(3) {
				case 0:
					x[h*halfWords+i] = special[r.IntN(len(special))]
				case 1:
					x[h*halfWords+i] = digitMask
				default:
					x[h*halfWords+i] = r.Uint64() >> (4 + r.IntN(20))
				}
			}
			x[h*halfWords+nDigits-1] = r.Uint64() >> 20
		}
		in := x
		normx2(&x)
		for h := range 2 {
			o := h * halfWords
			for i := range halfWords {
				if x[o+i] > digitMask || (i >= nDigits && x[o+i] != 0) {
					t.Fatalf("iteration %d half %d: lane %d = %#x not normalized", iter, h, i, x[o+i])
				}
			}
			if value(x[o:o+halfWords]).Cmp(value(in[o:o+halfWords])) != 0 {
				t.Fatalf("iteration %d half %d: normalization changed the value\nin  %x\nout %x", iter, h, in[o:o+halfWords], x[o:o+halfWords])
			}
		}
	}
}
