package certs

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestJWSReceipt(t *testing.T) {
	p := testPKI(t)
	trust := trustFor(t, p)
	payload := []byte(`{"receipt":"VN-AK-2026-000123","status":"received"}`)
	for _, tc := range []struct {
		name string
		kc   KeyCert
		alg  string
	}{{"ES256 receipt key", p.Receipt, "ES256"}, {"RS256 signer", p.SignerRSA, "RS256"}} {
		t.Run(tc.name, func(t *testing.T) {
			chain := []*x509.Certificate{tc.kc.Cert}
			if tc.kc.Cert.CheckSignatureFrom(p.Intermediate.Cert) == nil {
				chain = append(chain, p.Intermediate.Cert)
			}
			tok, err := SignJWS(payload, tc.kc.Key, chain)
			if err != nil {
				t.Fatal(err)
			}
			got, signer, err := VerifyJWS(tok, trust, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) || !signer.Equal(tc.kc.Cert) {
				t.Fatalf("payload/signer mismatch")
			}
			parts := strings.Split(string(tok), ".")
			tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]
			if _, _, err := VerifyJWS([]byte(tampered), trust, testNow); err == nil {
				t.Errorf("tampered payload verified")
			}
			if _, _, err := VerifyJWS(tok, trust, testNow.AddDate(5, 0, 0)); err == nil {
				t.Errorf("verified after the certificate expired")
			}
		})
	}
	other, err := NewDevPKI(PKIOptions{Now: testNow.Add(-time24h), Name: "stranger"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := SignJWS(payload, other.Receipt.Key, []*x509.Certificate{other.Receipt.Cert})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := VerifyJWS(tok, trust, testNow); err == nil || !strings.Contains(err.Error(), "trust.unknown-authority") {
		t.Errorf("untrusted signer: %v", err)
	}
	// alg "none" and HMAC tokens never verify.
	for _, bad := range []string{
		"eyJhbGciOiJub25lIn0.eyJhIjoxfQ.",
		"eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.c2lnbmF0dXJl",
	} {
		if _, _, err := VerifyJWS([]byte(bad), trust, testNow); err == nil {
			t.Errorf("%s verified", bad)
		}
	}
}

func TestAccessToken(t *testing.T) {
	p := testPKI(t)
	now := testNow
	clock := func() time.Time { return now }
	iss := &TokenIssuer{Key: p.Receipt.Key, KeyID: "receipt-1", Issuer: "https://node.vn.example", TTL: 5 * time.Minute, Now: clock}
	tok, claims, err := iss.Issue("partner-kr", []string{"https://node.vn.example/api"}, "eco.submit eco.read")
	if err != nil {
		t.Fatal(err)
	}
	ver := &TokenVerifier{Key: p.Receipt.Cert.PublicKey, Issuer: "https://node.vn.example", Audience: "https://node.vn.example/api", Now: clock}
	got, err := ver.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "partner-kr" || got.Scope != "eco.submit eco.read" || got.ID != claims.ID || got.ID == "" || !got.ExpiresAt.Equal(testNow.Add(5*time.Minute)) {
		t.Errorf("claims %+v", got)
	}
	now = testNow.Add(6 * time.Minute)
	if _, err := ver.Verify(tok); err == nil {
		t.Errorf("expired token verified")
	}
	now = testNow
	if _, err := (&TokenVerifier{Key: p.Receipt.Cert.PublicKey, Audience: "https://other", Now: clock}).Verify(tok); err == nil {
		t.Errorf("wrong audience verified")
	}
	if _, err := (&TokenVerifier{Key: p.TLSClient.Cert.PublicKey, Now: clock}).Verify(tok); err == nil {
		t.Errorf("wrong key verified")
	}
}
