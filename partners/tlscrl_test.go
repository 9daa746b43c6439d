package partners

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// revokingCRL issues a CRL from ca that revokes the given certificates.
func revokingCRL(t testing.TB, ca testCA, this, next time.Time, revoked ...*x509.Certificate) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(this.Unix()), ThisUpdate: this, NextUpdate: next}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// TestTLSCRLs: tls.crls revoke a partner's TLS client certificate (or the
// intermediate CA that issued it); the registry reloaded with the new CRL
// refuses what the previous one accepted; a stale TLS CRL fails closed and
// is reported by Check; a bad CRL file is a load error naming tls.crls.
func TestTLSCRLs(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	from, to := now.Add(-24*time.Hour), now.Add(365*24*time.Hour)
	ca := makeCA(t, "SG TLS CA", from, to, nil)
	inter := makeCA(t, "SG TLS intermediate", from, to, nil)
	interCert := issueCA(t, ca, inter)
	leaf := makeLeaf(t, ca, "sg node", to, x509.ExtKeyUsageClientAuth)
	other := makeLeaf(t, ca, "sg node 2", to, x509.ExtKeyUsageClientAuth)
	viaInter := makeLeaf(t, testCA{interCert, inter.key}, "sg node 3", to, x509.ExtKeyUsageClientAuth)
	writeFile(t, dir, "ca.pem", certPEM(ca.cert))
	writeFile(t, dir, "tls.crl", revokingCRL(t, ca, now.Add(-time.Hour), now.Add(24*time.Hour)))
	path := writeFile(t, dir, "p.yaml", []byte(`partners:
  - {country: SG, name: SG, endpoint: "https://sg.example", tls: {clientCAs: [ca.pem], crls: [tls.crl]}, documentSigning: {anchors: [ca.pem]}, agreements: [RCEP]}
`))
	load := func() *Registry {
		t.Helper()
		r, err := Load(path, WithClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := load()
	if got := before.Partners()[0].TLSCRLFiles; len(got) != 1 || got[0] != filepath.Join(dir, "tls.crl") {
		t.Fatalf("TLSCRLFiles %v", got)
	}
	for _, c := range []*x509.Certificate{leaf, other} {
		if p, err := before.ByClientCert(c); err != nil || p.Country != "SG" {
			t.Fatalf("before revocation: %v %v", p, err)
		}
	}
	if p, err := before.ByClientCert(viaInter, interCert); err != nil || p.Country != "SG" {
		t.Fatalf("before revocation, via intermediate: %v %v", p, err)
	}

	tests := []struct {
		name  string
		crl   []byte
		leaf  *x509.Certificate
		inter []*x509.Certificate
		err   error
	}{
		{"leaf revoked", revokingCRL(t, ca, now.Add(-time.Minute), now.Add(24*time.Hour), leaf), leaf, nil, certs.ErrRevoked},
		{"other leaf still accepted", revokingCRL(t, ca, now.Add(-time.Minute), now.Add(24*time.Hour), leaf), other, nil, nil},
		{"intermediate revoked", revokingCRL(t, ca, now.Add(-time.Minute), now.Add(24*time.Hour), interCert), viaInter, []*x509.Certificate{interCert}, certs.ErrRevoked},
		{"stale CRL fails closed", revokingCRL(t, ca, now.Add(-48*time.Hour), now.Add(-time.Hour)), other, nil, certs.ErrCRLStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writeFile(t, dir, "tls.crl", tt.crl)
			r := load()
			p, err := r.ByClientCert(tt.leaf, tt.inter...)
			if tt.err == nil {
				if err != nil || p.Country != "SG" {
					t.Fatalf("got %v %v, want SG", p, err)
				}
				return
			}
			if !errors.Is(err, tt.err) || p != nil || !strings.Contains(err.Error(), "partner SG") {
				t.Fatalf("got %v %v, want %v", p, err, tt.err)
			}
			// The registry loaded before the new CRL still accepts it
			// (reloading is what makes the CRL count).
			if p, err := before.ByClientCert(tt.leaf, tt.inter...); err != nil || p == nil {
				t.Fatalf("old registry: %v %v", p, err)
			}
		})
	}
	// The watcher sees a changed TLS CRL file (and reloads).
	r := load()
	sum := fingerprint(r, path)
	writeFile(t, dir, "tls.crl", revokingCRL(t, ca, now.Add(-30*time.Minute), now.Add(24*time.Hour), other))
	if fingerprint(r, path) == sum {
		t.Fatal("a changed tls.crls file does not change the watcher's fingerprint")
	}
	// Check reports the stale TLS CRL under tls.crls.
	writeFile(t, dir, "tls.crl", revokingCRL(t, ca, now.Add(-48*time.Hour), now.Add(-time.Hour)))
	if probs := load().Check(now, 0); len(probs) != 1 || probs[0].Field != "tls.crls" {
		t.Fatalf("Check: %v", probs)
	}
	// A file that is no CRL is refused at load, naming the key.
	writeFile(t, dir, "tls.crl", certPEM(ca.cert))
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "tls.crls") {
		t.Fatalf("bad TLS CRL file: %v", err)
	}
}
