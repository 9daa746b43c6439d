package certs

import (
	"testing"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	p := testPKI(t)
	for _, tc := range []struct {
		name string
		kc   KeyCert
		alg  string
	}{
		{"rsa", p.SignerRSA, AlgRSASHA256},
		{"ecdsa", p.SignerECDSA, AlgECDSASHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signed := mustSign(t, tc.kc, p, ecoDoc(20))
			v := &Verifier{Trust: trustFor(t, p), At: testNow}
			res, err := v.Verify(signed)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid {
				t.Fatalf("not valid: %+v", res.Report)
			}
			if got := res.Report.Get(CheckProfile).Detail; got != tc.alg {
				t.Errorf("method %s, want %s", got, tc.alg)
			}
			if len(res.Chain) != 3 {
				t.Errorf("chain length %d, want 3", len(res.Chain))
			}
			if res.Element == nil || res.Element.Tag != "CertificateOfOrigin" || len(res.Element.FindElements("//IncludedConsignmentItem")) != 20 {
				t.Errorf("verified element wrong")
			}
			if res.Element.FindElement("//Signature") != nil {
				t.Errorf("verified element contains the signature")
			}
			for _, e := range res.Report {
				if e.Status != StatusValid {
					t.Errorf("%s: %s %s %s", e.Check, e.Status, e.Reason, e.Detail)
				}
			}
		})
	}
}
