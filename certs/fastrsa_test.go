package certs

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"testing"

	"github.com/ecogate/ecogate/internal/rsaz"
)

// TestFastRSAKeys: every way the node loads a 2048-bit RSA key yields the
// fast signer when the CPU has it, the signatures (and so the signed XML)
// stay those of crypto/rsa, and other keys pass through unchanged.
func TestFastRSAKeys(t *testing.T) {
	p := testPKI(t)
	raw, ok := p.SignerRSA.Key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("the test PKI's RSA signer is a %T", p.SignerRSA.Key)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	loaded, _, err := LoadKeyPair(filepath.Join(pkiDir, FileSignerRSAKey), filepath.Join(pkiDir, FileSignerRSACert), "", "")
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("ecogate"))
	want, err := rsa.SignPKCS1v15(nil, raw, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		pem  []byte
		key  crypto.Signer
	}{
		{"PKCS#1 PEM", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(raw)}), nil},
		{"PKCS#8 PEM", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil},
		{"PKCS#8 DER", pkcs8, nil},
		{"LoadKeyPair", nil, loaded},
		{"raw key in Signer", nil, signingKey(raw)},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := c.key
			if k == nil {
				if k, err = ParsePrivateKey(c.pem); err != nil {
					t.Fatal(err)
				}
			}
			if rsaz.Accelerated(k) != rsaz.Available() {
				t.Fatalf("fast path available %v, key accelerated %v", rsaz.Available(), rsaz.Accelerated(k))
			}
			got, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("signature differs from crypto/rsa (%v)", err)
			}
		})
	}
	if signingKey(raw) != signingKey(raw) {
		t.Error("the raw key was wrapped twice")
	}
	if signingKey(p.SignerECDSA.Key) != p.SignerECDSA.Key {
		t.Error("an ECDSA key was wrapped")
	}
	if k := signingKey(loaded); k != loaded {
		t.Error("an already wrapped key was wrapped again")
	}

	// A loaded key encodes back to the same key.
	pemKey, err := KeyPEM(loaded)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParsePrivateKey(pemKey)
	if err != nil || !publicKeysEqual(again.Public(), raw.Public()) {
		t.Fatalf("KeyPEM of a loaded RSA key does not parse back to it (%v)", err)
	}
	if _, ok := loaded.(crypto.Decrypter); !ok {
		t.Error("a loaded RSA key is no longer a crypto.Decrypter")
	}

	// The signed document is the same through the raw and the loaded key.
	doc := []byte(`<r xmlns="urn:x"><a>1</a></r>`)
	a, err := (&Signer{Key: raw, Chain: []*x509.Certificate{p.SignerRSA.Cert}}).Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&Signer{Key: loaded, Chain: []*x509.Certificate{p.SignerRSA.Cert}}).Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("signed XML differs between the raw and the loaded key")
	}
	if rsaz.Fallbacks() != 0 {
		t.Errorf("%d fast signatures fell back", rsaz.Fallbacks())
	}
}
