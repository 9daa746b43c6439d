package certs

import (
	"bytes"
	"fmt"
	"testing"
)

// TestVerifyParsedEqualsVerify: verifying a document parsed once gives the
// same result as Verify on its bytes (report, signed octets, verified
// element, chain) for valid, tampered, unsigned and wrongly signed
// documents, and a Parsed is used at most once.
func TestVerifyParsedEqualsVerify(t *testing.T) {
	p := testPKI(t)
	other, err := NewDevPKI(PKIOptions{Now: testNow.Add(-time24h), Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Trust: trustFor(t, p), At: testNow}
	good := mustSign(t, p.SignerECDSA, p, ecoDoc(3))
	for name, doc := range map[string][]byte{
		"valid ECDSA":   good,
		"valid RSA":     mustSign(t, p.SignerRSA, p, ecoDoc(2)),
		"tampered":      bytes.Replace(good, []byte("VN-AK-2026-000123"), []byte("VN-AK-2026-000999"), 1),
		"unsigned":      ecoDoc(1),
		"other signer":  mustSign(t, other.SignerECDSA, other, ecoDoc(1)),
		"with comments": mustSign(t, p.SignerECDSA, p, []byte("<r xmlns=\"urn:x\"><!-- a --><a>x</a><!-- b -->y</r>")),
	} {
		t.Run(name, func(t *testing.T) {
			want, err := v.Verify(doc)
			if err != nil {
				t.Fatal(err)
			}
			pd, err := ParseForSigning(doc, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.VerifyParsed(pd)
			if err != nil {
				t.Fatal(err)
			}
			if got.Valid != want.Valid || fmt.Sprint(got.Report) != fmt.Sprint(want.Report) || !bytes.Equal(got.Signed, want.Signed) || len(got.Chain) != len(want.Chain) {
				t.Fatalf("VerifyParsed %v %v, Verify %v %v", got.Valid, got.Report, want.Valid, want.Report)
			}
			ge, _ := elementString(got)
			we, _ := elementString(want)
			if ge != we {
				t.Fatalf("verified elements differ")
			}
			if _, err := v.VerifyParsed(pd); err == nil {
				t.Errorf("a Parsed was verified twice")
			}
			s := &Signer{Key: p.SignerECDSA.Key, Chain: chainOf(p.SignerECDSA, p)}
			if _, err := s.SignParsed(pd); err == nil {
				t.Errorf("a verified Parsed was signed")
			}
		})
	}
}
