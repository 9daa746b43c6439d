package certs

import (
	"bytes"
	"testing"
)

// TestSignParsedEqualsSign: signing a document parsed once gives exactly
// the bytes Sign gives (RSA PKCS#1 v1.5 signatures are deterministic), for
// the splice and the re-serialising fall-back, and the result verifies.
func TestSignParsedEqualsSign(t *testing.T) {
	p := testPKI(t)
	s := &Signer{Key: p.SignerRSA.Key, Chain: chainOf(p.SignerRSA, p)}
	v := &Verifier{Trust: trustFor(t, p), At: testNow}
	for _, in := range [][]byte{
		ecoDoc(3),
		[]byte("<?xml version=\"1.0\"?>\n<r xmlns=\"urn:ecogate:eco:1\">\n  <a b='1'>x &amp; y</a><!-- c -->\n</r >\n"),
		[]byte(`<r xmlns="urn:ecogate:eco:1"/>`),
	} {
		want, err := s.Sign(in)
		if err != nil {
			t.Fatal(err)
		}
		pd, err := ParseForSigning(in, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if pd.Root() == nil || !bytes.Equal(pd.Bytes(), in) {
			t.Fatal("parsed document lost its root or bytes")
		}
		got, err := s.SignParsed(pd)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("SignParsed differs from Sign:\n%s\n%s", got, want)
		}
		if res, err := v.Verify(got); err != nil || !res.Valid {
			t.Fatalf("%v %+v", err, res.Report)
		}
		if _, err := s.SignParsed(pd); err == nil {
			t.Errorf("a Parsed was signed twice")
		}
	}
	if _, err := ParseForSigning([]byte(`<!DOCTYPE r><r/>`), Limits{}); err == nil {
		t.Errorf("ParseForSigning accepted a DOCTYPE")
	}
	pd, _ := ParseForSigning(mustSign(t, p.SignerECDSA, p, []byte(`<r/>`)), Limits{})
	if _, err := s.SignParsed(pd); err == nil {
		t.Errorf("SignParsed signed a signed document")
	}
}
