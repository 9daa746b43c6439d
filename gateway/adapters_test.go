package gateway

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/ecogate/ecogate/certs"
)

// TestJWSVerifierCache: a remembered chain still needs a good signature by
// its own key, does not cross trust stores, and is not used past the
// certificate's validity.
func TestJWSVerifierCache(t *testing.T) {
	_, vn, xx := identities(t)
	trust := vn.AsPartner("", fastRetry).ReceiptTrust()
	sign := func(payload string) []byte {
		tok, err := certs.SignJWS([]byte(payload), vn.PKI.Receipt.Key, []*x509.Certificate{vn.PKI.Receipt.Cert})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	v := &JWSVerifier{}
	now := time.Now()
	for i := range 3 {
		p, err := v.VerifyJWS(sign("receipt"), trust, now)
		if err != nil || string(p) != "receipt" {
			t.Fatalf("round %d: %q %v", i, p, err)
		}
	}
	// A changed payload under a remembered chain.
	tok := sign("receipt")
	parts := strings.Split(string(tok), ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte("forged"))
	if _, err := v.VerifyJWS([]byte(strings.Join(parts, ".")), trust, now); err == nil {
		t.Fatal("a changed payload verified from the cache")
	}
	// VN's certificate in x5c, signed with another key.
	var x5c cert.Chain
	_ = x5c.AddString(base64.StdEncoding.EncodeToString(vn.PKI.Receipt.Cert.Raw))
	h := jws.NewHeaders()
	_ = h.Set(jws.X509CertChainKey, &x5c)
	forged, err := jws.Sign([]byte("receipt"), jws.WithKey(jwa.ES256(), xx.PKI.Receipt.Key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyJWS(forged, trust, now); err == nil {
		t.Fatal("a token signed by another key verified from the cache")
	}
	// A stranger's receipt.
	st, _ := certs.SignJWS([]byte("receipt"), xx.PKI.Receipt.Key, []*x509.Certificate{xx.PKI.Receipt.Cert})
	if _, err := v.VerifyJWS(st, trust, now); err == nil {
		t.Fatal("a stranger's receipt verified")
	}
	// Another trust store does not share the entry.
	if _, err := v.VerifyJWS(sign("receipt"), xx.AsPartner("", fastRetry).ReceiptTrust(), now); err == nil {
		t.Fatal("the cache crossed trust stores")
	}
	// Past the certificate's validity the full check runs (and fails).
	if _, err := v.VerifyJWS(sign("receipt"), trust, vn.PKI.Receipt.Cert.NotAfter.Add(time.Hour)); err == nil {
		t.Fatal("an expired receipt certificate verified")
	}
}
