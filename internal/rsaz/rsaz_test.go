package rsaz

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

func TestQuickDiff(t *testing.T) {
	if !haveFast {
		t.Skip("no fast path")
	}
	for range 5 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		s := NewSigner(k)
		if !Accelerated(s) {
			t.Fatal("not accelerated")
		}
		d := sha256.Sum256([]byte("hello"))
		want, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
		var em [256]byte
		got := make([]byte, 256)
		_ = em
		got, err = s.Sign(nil, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("mismatch, fallbacks %d", Fallbacks())
		}
		t.Logf("fallbacks %d", Fallbacks())
	}
}
