package gateway

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestJWSSignerPrepared: receipts from JWSSigner (header encoded once)
// verify fully and from the cache, a replaced key is picked up, and a
// token whose header asks for an unencoded payload (b64) is never checked
// by the cache's signature-only path.
func TestJWSSignerPrepared(t *testing.T) {
	_, vn, xx := identities(t)
	trust := vn.AsPartner("", fastRetry).ReceiptTrust()
	s := &JWSSigner{Key: vn.PKI.Receipt.Key, Certs: []*x509.Certificate{vn.PKI.Receipt.Cert}}
	v := &JWSVerifier{}
	now := time.Now()
	for i := range 3 {
		tok, err := s.SignJWS([]byte(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if p, err := (&JWSVerifier{}).VerifyJWS(tok, trust, now); err != nil || string(p) != `{"n":1}` {
			t.Fatalf("full check, round %d: %q %v", i, p, err)
		}
		if p, err := v.VerifyJWS(tok, trust, now); err != nil || string(p) != `{"n":1}` {
			t.Fatalf("cache, round %d: %q %v", i, p, err)
		}
	}
	// Rotated to the stranger's key: the new header and key are used (and
	// VN's trust refuses them).
	s.Key, s.Certs = xx.PKI.Receipt.Key, []*x509.Certificate{xx.PKI.Receipt.Cert}
	tok, err := s.SignJWS([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyJWS(tok, xx.AsPartner("", fastRetry).ReceiptTrust(), now); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if _, err := v.VerifyJWS(tok, trust, now); err == nil {
		t.Fatal("the stranger's receipt verified against VN")
	}
	// A b64 header under VN's remembered chain goes to the full check.
	s.Key, s.Certs = vn.PKI.Receipt.Key, []*x509.Certificate{vn.PKI.Receipt.Cert}
	tok, _ = s.SignJWS([]byte("x"))
	parts := strings.Split(string(tok), ".")
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	hb = []byte(strings.Replace(string(hb), `{"alg"`, `{"b64":false,"alg"`, 1))
	parts[0] = base64.RawURLEncoding.EncodeToString(hb)
	if _, err := v.VerifyJWS([]byte(strings.Join(parts, ".")), trust, now); err == nil {
		t.Fatal("a token with a changed header verified")
	}
}
