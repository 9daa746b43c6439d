package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestJWSKey: tokens from the prepared signer are the kind SignJWS makes:
// VerifyJWS (the full check through jwx) and jwx's own Verify accept them,
// and VerifyJWSSignature accepts them and tokens from SignJWS alike and
// refuses any change, another key and malformed tokens.
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
			for _, good := range [][]byte{tok, old} {
				if got, err := VerifyJWSSignature(good, tc.kc.Cert.PublicKey); err != nil || !bytes.Equal(got, payload) {
					t.Fatalf("VerifyJWSSignature: %v", err)
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
				if _, err := VerifyJWSSignature([]byte(bad), tc.kc.Cert.PublicKey); err == nil {
					t.Errorf("%s: verified", name)
				}
			}
			if _, err := VerifyJWSSignature(tok, p.SignerECDSA.Cert.PublicKey); err == nil {
				t.Errorf("verified with another key")
			}
		})
	}
	if _, err := NewJWSKey(p.Receipt.Key, []*x509.Certificate{p.SignerECDSA.Cert}); err == nil {
		t.Errorf("key/certificate mismatch accepted")
	}
}
