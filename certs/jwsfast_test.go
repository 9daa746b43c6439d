package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestJWSKey: tokens from the prepared signer are the kind SignJWS makes:
// VerifyJWS (the full check through jwx) and jwx's own Verify accept them,
// and a JWSVerifier with a remembered chain accepts them and tokens from
// SignJWS alike and refuses any change and malformed tokens.
func TestJWSKey(t *testing.T) {
	p := testPKI(t)
	trust := trustFor(t, p)
	payload := []byte(`{"messageId":"m-1","outcome":"Delivered"}`)
	for _, tc := range []struct {
		name  string
		kc    KeyCert
		chain []*x509.Certificate
		alg   jwa.SignatureAlgorithm
	}{
		{"ES256", p.Receipt, []*x509.Certificate{p.Receipt.Cert}, jwa.ES256()},
		{"RS256", p.SignerRSA, []*x509.Certificate{p.SignerRSA.Cert, p.Intermediate.Cert}, jwa.RS256()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewJWSKey(tc.kc.Key, tc.chain)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := k.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			got, signer, err := VerifyJWS(tok, trust, testNow)
			if err != nil || !bytes.Equal(got, payload) || !signer.Equal(tc.kc.Cert) {
				t.Fatalf("VerifyJWS: %v", err)
			}
			if got, err := jws.Verify(tok, jws.WithKey(tc.alg, tc.kc.Cert.PublicKey)); err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("jws.Verify: %v", err)
			}
			old, err := SignJWS(payload, tc.kc.Key, tc.chain)
			if err != nil {
				t.Fatal(err)
			}
			var jv JWSVerifier
			for _, good := range [][]byte{tok, old, tok} {
				if got, _, err := jv.Verify(good, trust, testNow); err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("JWSVerifier: %v", err)
				}
			}
			parts := strings.Split(string(tok), ".")
			otherPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"messageId":"m-1","outcome":"FailedDelivery"}`))
			otherHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
			sig := []byte(parts[2])
			sig[len(sig)/2] ^= 1
			for name, bad := range map[string]string{
				"payload changed":  parts[0] + "." + otherPayload + "." + parts[2],
				"header changed":   otherHeader + "." + parts[1] + "." + parts[2],
				"signature bit":    parts[0] + "." + parts[1] + "." + string(sig),
				"no signature":     parts[0] + "." + parts[1] + ".",
				"four parts":       string(tok) + ".x",
				"two parts":        parts[0] + "." + parts[1],
				"padded signature": parts[0] + "." + parts[1] + "." + parts[2] + "==",
			} {
				if _, _, err := jv.Verify([]byte(bad), trust, testNow); err == nil {
					t.Errorf("%s: verified", name)
				}
			}
		})
	}
	if _, err := NewJWSKey(p.Receipt.Key, []*x509.Certificate{p.SignerECDSA.Cert}); err == nil {
		t.Errorf("key/certificate mismatch accepted")
	}
}

// TestJWSVerifierRevocationAfterCache: a chain the JWSVerifier remembers
// still has its revocation checked against the trust store's CRLs of the
// moment, and a token signed by another key under the remembered
// certificate is refused.
func TestJWSVerifierRevocationAfterCache(t *testing.T) {
	p := testPKI(t)
	base := trustFor(t, p)
	trust := &TrustSet{AnchorCerts: base.AnchorCerts, ExtraIntermediates: base.ExtraIntermediates, RevocationLists: base.RevocationLists}
	chain := []*x509.Certificate{p.SignerECDSA.Cert, p.Intermediate.Cert}
	tok, err := SignJWS([]byte("r"), p.SignerECDSA.Key, chain)
	if err != nil {
		t.Fatal(err)
	}
	var jv JWSVerifier
	for range 2 {
		if _, _, err := jv.Verify(tok, trust, testNow); err != nil {
			t.Fatal(err)
		}
	}
	if jv.by[trust].chains.hits == 0 {
		t.Fatal("the second token did not use the remembered chain")
	}
	// The same certificate in x5c, signed by another key.
	forged, err := (&JWSKey{key: p.SignerRSA.Key, hash: crypto.SHA256, header: must(NewJWSKey(p.SignerECDSA.Key, chain)).header}).Sign([]byte("r"))
	if err == nil {
		if _, _, err := jv.Verify(forged, trust, testNow); err == nil {
			t.Fatal("a token signed by another key verified under a remembered chain")
		}
	}
	crl, err := IssueCRL(p.Intermediate, []*x509.Certificate{p.SignerECDSA.Cert}, testNow.Add(-time.Hour), testNow.Add(24*time.Hour), 99)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(crl)
	rl, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	trust.RevocationLists = append([]*x509.RevocationList{rl}, trust.RevocationLists...)
	if _, _, err := jv.Verify(tok, trust, testNow); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked signer with a remembered chain: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkJWSVerifier: a partner's receipt checked with a remembered
// chain (jwx parse and signature check, revocation against the CRLs).
func BenchmarkJWSVerifier(b *testing.B) {
	p := testPKI(b)
	trust := trustFor(b, p)
	tok, err := SignJWS([]byte(`{"messageId":"m-1","outcome":"Delivered"}`), p.Receipt.Key, []*x509.Certificate{p.Receipt.Cert})
	if err != nil {
		b.Fatal(err)
	}
	var jv JWSVerifier
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := jv.Verify(tok, trust, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
