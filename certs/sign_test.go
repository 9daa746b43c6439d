package certs

import (
	"github.com/beevik/etree"
	"strings"
	"sync"
	"testing"
	"time"
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

// TestSignKeepsInputBytes checks that signing inserts the signature before
// the root end tag and changes nothing else, and that the fall-back for an
// empty-element root still verifies.
func TestSignKeepsInputBytes(t *testing.T) {
	p := testPKI(t)
	v := &Verifier{Trust: trustFor(t, p), At: testNow}
	for _, in := range []string{
		"<?xml version=\"1.0\"?>\n<r xmlns=\"urn:ecogate:eco:1\">\n  <a b='1'>x &amp; y</a>\n</r >\n<!-- trailing </r> -->\n",
		`<r xmlns="urn:ecogate:eco:1"/>`,
		`<e:r xmlns:e="urn:ecogate:eco:1"><e:a/></e:r>`,
	} {
		out := mustSign(t, p.SignerECDSA, p, []byte(in))
		res, err := v.Verify(out)
		if err != nil || !res.Valid {
			t.Fatalf("%q: %v %+v", in, err, res.Report)
		}
		if strings.Contains(in, "</r >") {
			i := strings.Index(string(out), "<ds:Signature")
			j := strings.Index(string(out), "</ds:Signature>") + len("</ds:Signature>")
			if string(out[:i])+string(out[j:]) != in {
				t.Errorf("input bytes changed:\n%s", out)
			}
		}
	}
	s := &Signer{Key: p.SignerECDSA.Key, Chain: chainOf(p.SignerECDSA, p)}
	signed := mustSign(t, p.SignerECDSA, p, []byte(`<r/>`))
	if _, err := s.Sign(signed); err == nil {
		t.Errorf("signing a signed document succeeded")
	}
	if _, err := (&Signer{Key: p.SignerRSA.Key, Chain: chainOf(p.SignerECDSA, p)}).Sign([]byte(`<r/>`)); err == nil {
		t.Errorf("key/certificate mismatch accepted")
	}
}

// TestSigningTimePolicy: when the caller supplies the signing time (read
// from the verified element), the chain must be valid then as well as at
// the policy time.
func TestSigningTimePolicy(t *testing.T) {
	p := testPKI(t)
	signed := mustSign(t, p.SignerECDSA, p, ecoDoc(1))
	for _, tc := range []struct {
		name   string
		signed time.Time
		valid  bool
	}{
		{"signed yesterday", testNow.Add(-2 * time.Hour), true},
		{"claims to be signed before the certificate existed", testNow.AddDate(-1, 0, 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen string
			v := &Verifier{Trust: trustFor(t, p), At: testNow, SigningTime: func(e *etree.Element) (time.Time, bool) {
				seen = e.FindElement("ExchangedDocument/ID").Text()
				return tc.signed, true
			}}
			res, err := v.Verify(signed)
			if err != nil {
				t.Fatal(err)
			}
			if seen != "VN-AK-2026-000123" {
				t.Errorf("SigningTime saw %q", seen)
			}
			if res.Valid != tc.valid {
				t.Fatalf("valid %v: %+v", res.Valid, res.Report)
			}
			if !tc.valid && res.Report.First().Reason != "trust.validity" {
				t.Errorf("reason %+v", res.Report.First())
			}
			if !res.SigningTime.Equal(tc.signed) {
				t.Errorf("SigningTime %v", res.SigningTime)
			}
		})
	}
}

// TestVerifyConcurrent shares one Verifier (and its signature cache)
// between goroutines; run with -race.
func TestVerifyConcurrent(t *testing.T) {
	p := testPKI(t)
	docs := [][]byte{mustSign(t, p.SignerECDSA, p, ecoDoc(2)), mustSign(t, p.SignerRSA, p, ecoDoc(2))}
	v := &Verifier{Trust: trustFor(t, p), At: testNow}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if res, err := v.Verify(docs[(g+i)%2]); err != nil || !res.Valid {
					t.Errorf("%v %+v", err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
}
