package rsaz

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"sync"
	"testing"
)

// keyFromSeed builds a deterministic two-prime RSA key (e = 65537) whose
// primes have pBits and qBits bits, from a ChaCha8 stream seeded by seed.
// It does not use rsa.GenerateKey, whose random source may be replaced by
// the system's.
func keyFromSeed(t testing.TB, seed uint64, pBits, qBits int) *rsa.PrivateKey {
	var s [32]byte
	s[0], s[1], s[2], s[3] = byte(seed), byte(seed>>8), byte(pBits), byte(qBits)
	r := mrand.NewChaCha8(s)
	e := big.NewInt(65537)
	prime := func(bits int) *big.Int {
		buf := make([]byte, (bits+7)/8)
		for {
			r.Read(buf)
			p := new(big.Int).SetBytes(buf)
			p.Rsh(p, uint(8*len(buf)-bits)) // exactly bits bits
			p.SetBit(p, bits-1, 1).SetBit(p, bits-2, 1).SetBit(p, 0, 1)
			for p.BitLen() == bits {
				pm1 := new(big.Int).Sub(p, big.NewInt(1))
				if p.ProbablyPrime(20) && new(big.Int).GCD(nil, nil, e, pm1).Cmp(big.NewInt(1)) == 0 {
					return p
				}
				p.Add(p, big.NewInt(2))
			}
		}
	}
	for {
		p, q := prime(pBits), prime(qBits)
		if p.Cmp(q) == 0 {
			continue
		}
		n := new(big.Int).Mul(p, q)
		pm1 := new(big.Int).Sub(p, big.NewInt(1))
		qm1 := new(big.Int).Sub(q, big.NewInt(1))
		phi := new(big.Int).Mul(pm1, qm1)
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
		if err := k.Validate(); err != nil {
			t.Fatal(err)
		}
		k.Precompute()
		return k
	}
}

var (
	keyMu    sync.Mutex
	keyCache = map[[3]uint64]*rsa.PrivateKey{}
)

func cachedKey(t testing.TB, seed uint64, pBits, qBits int) *rsa.PrivateKey {
	keyMu.Lock()
	defer keyMu.Unlock()
	id := [3]uint64{seed, uint64(pBits), uint64(qBits)}
	if k := keyCache[id]; k != nil {
		return k
	}
	k := keyFromSeed(t, seed, pBits, qBits)
	keyCache[id] = k
	return k
}

func digestOf(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// TestSignMatchesStdlib is the differential test: for many keys, hashes
// and messages the signer's output equals rsa.SignPKCS1v15 byte for byte.
func TestSignMatchesStdlib(t *testing.T) {
	nKeys := 12
	if testing.Short() {
		nKeys = 3
	}
	keys := []*rsa.PrivateKey{}
	for i := range nKeys {
		keys = append(keys, cachedKey(t, uint64(i), 1024, 1024))
	}
	g, err := rsa.GenerateKey(rand.Reader, 2048) // and one from the system's generator
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, g)
	msgs := [][]byte{nil, {0}, []byte("ecogate"), bytes.Repeat([]byte{0xff}, 1000)}
	before := Fallbacks()
	for ki, k := range keys {
		s := NewSigner(k)
		if Available() != Accelerated(s) {
			t.Fatalf("key %d: Available %v but Accelerated %v", ki, Available(), Accelerated(s))
		}
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			for mi, m := range msgs {
				d := digestOf(h, m)
				want, err := rsa.SignPKCS1v15(nil, k, h, d)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Sign(rand.Reader, d, h)
				if err != nil {
					t.Fatalf("key %d %v msg %d: %v", ki, h, mi, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("key %d %v msg %d: signature differs from crypto/rsa", ki, h, mi)
				}
			}
		}
	}
	if n := Fallbacks() - before; n != 0 {
		t.Fatalf("%d fast signatures failed verification and fell back", n)
	}
}

// TestPassThrough checks that keys, hashes and options outside the fast
// path get crypto/rsa's behaviour.
func TestPassThrough(t *testing.T) {
	//lint:ignore SA1019 a multi-prime key on purpose: it must pass through
	three, err := rsa.GenerateMultiPrimeKey(rand.Reader, 3, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		k    *rsa.PrivateKey
	}{
		{"1024-bit", cachedKey(t, 100, 512, 512)},
		{"3072-bit", cachedKey(t, 101, 1536, 1536)},
		{"2048-bit unequal primes", cachedKey(t, 102, 1000, 1048)},
		{"3 primes", three},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewSigner(c.k)
			if Accelerated(s) {
				t.Fatal("fast path chosen for a key it does not cover")
			}
			if s != crypto.Signer(c.k) {
				t.Fatal("NewSigner did not return the key itself")
			}
			d := sha256.Sum256([]byte("x"))
			sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
			if err != nil || rsa.VerifyPKCS1v15(&c.k.PublicKey, crypto.SHA256, d[:], sig) != nil {
				t.Fatalf("signature does not verify: %v", err)
			}
		})
	}
	bad := *cachedKey(t, 4, 1024, 1024)
	bad.Precomputed.Dp = new(big.Int).Lsh(big.NewInt(1), 1100)
	if Accelerated(NewSigner(&bad)) {
		t.Fatal("fast path chosen for a key with a 1100-bit Dp")
	}
	if NewSigner(nil) != crypto.Signer((*rsa.PrivateKey)(nil)) {
		t.Fatal("nil key")
	}

	k := cachedKey(t, 1, 1024, 1024)
	s := NewSigner(k)
	d256 := sha256.Sum256([]byte("pss"))
	pss, err := s.Sign(rand.Reader, d256[:], &rsa.PSSOptions{Hash: crypto.SHA256})
	if err != nil || rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, d256[:], pss, nil) != nil {
		t.Fatalf("PSS: %v", err)
	}
	d1 := sha1.Sum([]byte("sha1"))
	for _, c := range []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"SHA-1", d1[:], crypto.SHA1},
		{"raw (hash 0)", []byte("raw bytes"), crypto.Hash(0)},
		{"SHA-256 wrong digest length", d1[:], crypto.SHA256},
		{"SHA-512 of SHA-384 length", make([]byte, sha512.Size384), crypto.SHA512},
	} {
		want, wantErr := k.Sign(rand.Reader, c.digest, c.opts)
		got, err := s.Sign(rand.Reader, c.digest, c.opts)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Errorf("%s: got (%x, %v), crypto/rsa gives (%x, %v)", c.name, got, err, want, wantErr)
		}
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &k.PublicKey, []byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := s.(crypto.Decrypter).Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
	if err != nil || string(pt) != "secret" {
		t.Fatalf("Decrypt: %q, %v", pt, err)
	}
	if pub, ok := s.Public().(*rsa.PublicKey); !ok || !pub.Equal(&k.PublicKey) {
		t.Fatal("Public")
	}
}

// TestConcurrentSign signs from several goroutines with one Signer (run
// under -race): the signer keeps no per-call state, and no signature needed
// crypto/rsa's fallback.
func TestConcurrentSign(t *testing.T) {
	k := cachedKey(t, 3, 1024, 1024)
	s := NewSigner(k)
	before := Fallbacks() // a wrong fast signature is replaced, so count them
	defer func() {
		if n := Fallbacks() - before; n != 0 {
			t.Errorf("%d concurrent fast signatures did not verify", n)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				d := sha256.Sum256([]byte{byte(g), byte(i)})
				want, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
				got, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("goroutine %d signature %d differs (%v)", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
