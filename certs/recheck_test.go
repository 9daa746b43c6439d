package certs

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// TestRecheck re-evaluates a chain accepted earlier against the trust
// store as it is later: a CRL loaded after receipt that revokes the signer
// or its CA, a stale CRL, an anchor taken out of the store.
func TestRecheck(t *testing.T) {
	p := testPKI(t)
	rootCRL, interCRL := mustCRL(t, p.Root, testNow.Add(-time.Hour)), mustCRL(t, p.Intermediate, testNow.Add(-time.Hour))
	signedAt := testNow.Add(-24 * time.Hour)
	v0 := &Verifier{Trust: &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}, RevocationLists: []*x509.RevocationList{rootCRL, interCRL}}, At: testNow}
	res := verifyOK(t, v0, mustSign(t, p.SignerECDSA, p, ecoDoc(1)))
	other, _ := NewDevPKI(PKIOptions{Now: testNow.Add(-48 * time.Hour), Name: "other"})
	for _, tc := range []struct {
		name        string
		anchors     []*x509.Certificate
		crls        []*x509.RevocationList
		chain       []*x509.Certificate
		trust, revo Status
		reason      string
	}{
		{"unchanged", []*x509.Certificate{p.Root.Cert}, []*x509.RevocationList{rootCRL, interCRL}, res.Chain, StatusValid, StatusValid, ReasonOK},
		{"only the sent certificates", []*x509.Certificate{p.Root.Cert}, []*x509.RevocationList{rootCRL, interCRL},
			[]*x509.Certificate{p.SignerECDSA.Cert, p.Intermediate.Cert}, StatusValid, StatusValid, ReasonOK},
		{"signer revoked later", []*x509.Certificate{p.Root.Cert}, []*x509.RevocationList{rootCRL, mustCRL(t, p.Intermediate, testNow.Add(-time.Minute), p.SignerECDSA.Cert)},
			res.Chain, StatusValid, StatusInvalid, "revocation.revoked"},
		{"intermediate revoked later", []*x509.Certificate{p.Root.Cert}, []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-time.Minute), p.Intermediate.Cert), interCRL},
			res.Chain, StatusValid, StatusInvalid, "revocation.revoked"},
		{"stale CRL", []*x509.Certificate{p.Root.Cert}, []*x509.RevocationList{rootCRL, mustCRL(t, p.Intermediate, testNow.Add(-40*24*time.Hour))},
			res.Chain, StatusValid, StatusInvalid, "revocation.crl-stale"},
		{"anchor removed", []*x509.Certificate{other.Root.Cert}, nil, res.Chain, StatusInvalid, StatusSkipped, "trust.unknown-authority"},
		{"no chain", []*x509.Certificate{p.Root.Cert}, nil, nil, StatusError, "", "trust.no-chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Trust: &TrustSet{AnchorCerts: tc.anchors, RevocationLists: tc.crls}, At: testNow}
			for range 2 { // the second run comes from the chain cache
				rep := v.Recheck(tc.chain, signedAt)
				if got := rep.Get(CheckTrust); got.Status != tc.trust {
					t.Fatalf("signer-trust %+v, want %s", got, tc.trust)
				}
				if got := rep.Get(CheckRevocation); got.Status != tc.revo {
					t.Fatalf("revocation %+v, want %s", got, tc.revo)
				}
				if tc.reason != ReasonOK && rep.First().Reason != tc.reason {
					t.Fatalf("first failure %+v, want %s", rep.First(), tc.reason)
				}
				if tc.reason == ReasonOK && !rep.Valid() {
					t.Fatalf("not valid: %+v", rep)
				}
			}
		})
	}
	// A signer that expired after signing is judged at the signing time.
	if rep := v0.Recheck(res.Chain, p.SignerECDSA.Cert.NotAfter.Add(time.Hour)); rep.First().Reason != "trust.validity" {
		t.Errorf("chain outside its validity at the given time: %+v", rep)
	}
}

// TestCRLChecker checks TLS chains against CRLs: revoked leaf, revoked CA,
// stale CRL, a CRL of another issuer, a CRL with a bad signature.
func TestCRLChecker(t *testing.T) {
	p := testPKI(t)
	chain := []*x509.Certificate{p.TLSClient.Cert, p.Root.Cert}
	inter := []*x509.Certificate{p.SignerECDSA.Cert, p.Intermediate.Cert, p.Root.Cert}
	other, _ := NewDevPKI(PKIOptions{Now: testNow.Add(-48 * time.Hour), Name: "other"})
	forged := mustCRL(t, KeyCert{Key: other.Root.Key, Cert: p.Root.Cert}, testNow.Add(-time.Hour), p.TLSClient.Cert)
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		crls  []*x509.RevocationList
		want  error
	}{
		{"no CRLs", chain, nil, nil},
		{"empty CRL", chain, []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-time.Hour))}, nil},
		{"leaf revoked", chain, []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-time.Hour), p.TLSClient.Cert)}, ErrRevoked},
		{"other leaf revoked", chain, []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-time.Hour), p.TLSServer.Cert)}, nil},
		{"CA revoked", inter, []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-time.Hour), p.Intermediate.Cert)}, ErrRevoked},
		{"stale CRL", chain, []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-40*24*time.Hour))}, ErrCRLStale},
		{"CRL not yet valid", chain, []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(time.Hour), p.TLSClient.Cert)}, ErrCRLStale},
		{"CRL of another CA", chain, []*x509.RevocationList{mustCRL(t, other.Root, testNow.Add(-time.Hour), p.TLSClient.Cert)}, nil},
		{"forged CRL ignored", chain, []*x509.RevocationList{forged}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k CRLChecker
			for range 2 { // second run: CRL signatures from the cache
				err := k.Check(tc.chain, tc.crls, testNow)
				if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Fatalf("Check: %v, want %v", err, tc.want)
				}
			}
		})
	}
}

// TestCRLWindow is the period in which every CRL is current.
func TestCRLWindow(t *testing.T) {
	p := testPKI(t)
	a, b := mustCRL(t, p.Root, testNow.Add(-time.Hour)), mustCRL(t, p.Intermediate, testNow.Add(-2*time.Hour))
	from, till := CRLWindow([]*x509.RevocationList{a, b})
	if !from.Equal(a.ThisUpdate) || !till.Equal(b.NextUpdate) {
		t.Fatalf("window %s..%s", from, till)
	}
	if from, till := CRLWindow(nil); !from.IsZero() || !till.IsZero() {
		t.Fatalf("no CRLs: %s..%s", from, till)
	}
}

// TestSignatureCertificates recovers the signer chain from signed bytes.
func TestSignatureCertificates(t *testing.T) {
	p := testPKI(t)
	got, err := SignatureCertificates(mustSign(t, p.SignerECDSA, p, ecoDoc(1)), Limits{})
	if err != nil || len(got) != 2 || !got[0].Equal(p.SignerECDSA.Cert) || !got[1].Equal(p.Intermediate.Cert) {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := SignatureCertificates(ecoDoc(1), Limits{}); err == nil {
		t.Fatal("unsigned document gave certificates")
	}
	if _, err := SignatureCertificates([]byte("<!DOCTYPE x><x/>"), Limits{}); err == nil {
		t.Fatal("DOCTYPE accepted")
	}
}

// TestCRLCheckerAny: a certificate with several verified chains passes
// when one of them does; the first chain's error otherwise.
func TestCRLCheckerAny(t *testing.T) {
	p := testPKI(t)
	viaInter := []*x509.Certificate{p.SignerECDSA.Cert, p.Intermediate.Cert, p.Root.Cert}
	viaRoot := []*x509.Certificate{p.TLSClient.Cert, p.Root.Cert}
	interRevoked := []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-time.Hour), p.Intermediate.Cert)}
	stale := []*x509.RevocationList{mustCRL(t, p.Root, testNow.Add(-40*24*time.Hour))}
	for _, tc := range []struct {
		name   string
		chains [][]*x509.Certificate
		crls   []*x509.RevocationList
		want   error
	}{
		{"no CRLs, no chains", nil, nil, nil},
		{"CRLs, no chains", nil, interRevoked, ErrNoChain},
		{"one chain revoked", [][]*x509.Certificate{viaInter}, interRevoked, ErrRevoked},
		{"revoked chain, then a good one", [][]*x509.Certificate{viaInter, viaRoot}, interRevoked, nil},
		{"first error kept", [][]*x509.Certificate{viaInter, viaRoot}, append(append([]*x509.RevocationList{}, interRevoked...), stale...), ErrRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k CRLChecker
			err := k.CheckAny(tc.chains, tc.crls, testNow)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("CheckAny: %v, want %v", err, tc.want)
			}
		})
	}
}
