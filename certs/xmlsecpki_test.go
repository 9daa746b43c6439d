package certs

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/testenv"
)

// TestXmlsecPKITrustCases re-signs an in-profile e-CO with the keys of
// xmlsec's test PKI and checks the trust outcomes that
// vectors/xmlsec/EXPECTED.md section A states. The xmlsec test certificates
// carry no KeyUsage extension, so these verifiers allow that (the default
// policy rejects it, checked last).
func TestXmlsecPKITrustCases(t *testing.T) {
	keys := testenv.Shared(t, "vectors", "xmlsec", "tests", "keys")
	cert := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(keys, name))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := ParseCertificates(b)
		if err != nil {
			t.Fatal(err)
		}
		return cs[0]
	}
	key := func(name string) KeyCert {
		b, err := os.ReadFile(filepath.Join(keys, name))
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParsePrivateKey(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return KeyCert{Key: k}
	}
	crl := func(name string) *x509.RevocationList {
		b, err := os.ReadFile(filepath.Join(keys, name))
		if err != nil {
			t.Fatal(err)
		}
		ts := &TrustSet{}
		if err := ts.AddFile(filepath.Join(keys, name)); err != nil || len(ts.RevocationLists) != 1 {
			t.Fatalf("%s: %v %d", name, err, len(b))
		}
		return ts.RevocationLists[0]
	}
	sign := func(k KeyCert, chain ...*x509.Certificate) []byte {
		s := &Signer{Key: k.Key, Chain: chain}
		out, err := s.Sign(ecoDoc(5))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ca, ca2 := cert("cacert.pem"), cert("ca2cert.pem")
	rsa2048, rsa4096 := cert("rsa/rsa-2048-cert.pem"), cert("rsa/rsa-4096-cert.pem")
	expired := cert("rsa/rsa-expired-cert.pem")
	ss1, ss2 := cert("same-subj-cert1.pem"), cert("same-subj-cert2.pem")
	ec := cert("ec/ec-prime256v1-cert.pem")
	revCRL := crl("rsa/rsa-2048-cert-revoked-crl.pem")

	withCA2 := sign(key("rsa/rsa-2048-key.pem"), rsa2048, ca2)
	leafOnly := sign(key("rsa/rsa-2048-key.pem"), rsa2048)
	fullInKeyInfo := sign(key("rsa/rsa-2048-key.pem"), rsa2048, ca2, ca)
	expiredDoc := sign(key("rsa/rsa-expired-key.pem"), expired, ca2)
	ssDoc := sign(key("same-subj-key1.pem"), ss1)
	ecDoc := sign(key("ec/ec-prime256v1-key.pem"), ec, ca2)

	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	lenient := Policy{AllowMissingKeyUsage: true}
	for _, tc := range []struct {
		name    string
		doc     []byte
		anchors []*x509.Certificate
		crls    []*x509.RevocationList
		at      time.Time
		policy  Policy
		valid   bool
		check   string
		reason  string
	}{
		{"chain ca2 in KeyInfo, cacert trusted", withCA2, []*x509.Certificate{ca}, nil, testNow, lenient, true, "", ""},
		{"ECDSA P-256 leaf, cacert trusted", ecDoc, []*x509.Certificate{ca}, nil, testNow, lenient, true, "", ""},
		{"missing intermediate", leafOnly, []*x509.Certificate{ca}, nil, testNow, lenient, false, CheckTrust, "trust.unknown-authority"},
		{"intermediate from trust store completes the chain", leafOnly, []*x509.Certificate{ca}, nil, testNow, lenient, false, CheckTrust, "trust.unknown-authority"},
		{"wrong anchor rsa-4096", withCA2, []*x509.Certificate{rsa4096}, nil, testNow, lenient, false, CheckTrust, "trust.unknown-authority"},
		{"revoked leaf, time inside CRL window", withCA2, []*x509.Certificate{ca}, []*x509.RevocationList{revCRL}, at("2026-03-20T00:00:00Z"), lenient, false, CheckRevocation, "revocation.revoked"},
		{"CRL past nextUpdate fails closed", withCA2, []*x509.Certificate{ca}, []*x509.RevocationList{revCRL}, at("2026-05-01T00:00:00Z"), lenient, false, CheckRevocation, "revocation.crl-stale"},
		{"CRL not yet valid (before thisUpdate) fails closed", withCA2, []*x509.Certificate{ca}, []*x509.RevocationList{revCRL}, at("2026-03-10T00:00:00Z"), lenient, false, CheckRevocation, "revocation.crl-stale"},
		{"expired leaf now", expiredDoc, []*x509.Certificate{ca}, nil, testNow, lenient, false, CheckTrust, "trust.validity"},
		{"expired leaf at 2026-03-15", expiredDoc, []*x509.Certificate{ca}, nil, at("2026-03-15T00:00:00Z"), lenient, true, "", ""},
		{"same subject: trusted cert1", ssDoc, []*x509.Certificate{ss1}, nil, testNow, lenient, true, "", ""},
		{"same subject: only cert2 (same DN, other key)", ssDoc, []*x509.Certificate{ss2}, nil, testNow, lenient, false, CheckTrust, "trust.unknown-authority"},
		{"same subject: both trusted (rotation overlap)", ssDoc, []*x509.Certificate{ss1, ss2}, nil, testNow, lenient, true, "", ""},
		{"key only in KeyInfo (whole chain sent, no anchor)", fullInKeyInfo, []*x509.Certificate{rsa4096}, nil, testNow, lenient, false, CheckTrust, "trust.unknown-authority"},
		{"default policy: no KeyUsage on signer", withCA2, []*x509.Certificate{ca}, nil, testNow, Policy{}, false, CheckTrust, "trust.key-usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := &TrustSet{AnchorCerts: tc.anchors, RevocationLists: tc.crls}
			if tc.name == "intermediate from trust store completes the chain" {
				ts.ExtraIntermediates = []*x509.Certificate{ca2}
				tc.valid, tc.check, tc.reason = true, "", ""
			}
			v := &Verifier{Trust: ts, At: tc.at, Policy: tc.policy}
			res, err := v.Verify(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid != tc.valid {
				t.Fatalf("valid = %v, want %v: %+v", res.Valid, tc.valid, res.Report)
			}
			if !tc.valid {
				e := res.Report.First()
				if e.Check != tc.check || e.Reason != tc.reason {
					t.Errorf("got %s/%s (%s), want %s/%s", e.Check, e.Reason, e.Detail, tc.check, tc.reason)
				}
			}
		})
	}
}
