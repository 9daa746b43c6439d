package partners

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a CA certificate with its key.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// newSerial returns a random certificate serial number.
func newSerial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// makeCA creates a self-signed CA valid from notBefore to notAfter. key may
// be nil for a fresh one.
func makeCA(t testing.TB, cn string, notBefore, notAfter time.Time, key *ecdsa.PrivateKey) testCA {
	t.Helper()
	if key == nil {
		key = newKey(t)
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t), Subject: pkix.Name{CommonName: cn, Country: []string{"XX"}},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{c, key}
}

// makeLeaf issues an end-entity certificate with the given extended usages.
func makeLeaf(t testing.TB, ca testCA, cn string, notAfter time.Time, eku ...x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t), Subject: pkix.Name{CommonName: cn},
		NotBefore: ca.cert.NotBefore, NotAfter: notAfter, ExtKeyUsage: eku,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// makeCRL issues an empty CRL from ca with the given next update.
func makeCRL(t testing.TB, ca testCA, this, next time.Time) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: this, NextUpdate: next}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

func certPEM(cs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range cs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed into place, as an operator's deployment
	// tool would: the watcher tests poll every few milliseconds and must
	// never read a half-written file (os.WriteFile truncates first).
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// ecdsaKey names the key type of test CAs.
type ecdsaKey = ecdsa.PrivateKey

// issueCA issues an intermediate CA certificate for child's key and name,
// signed by parent.
func issueCA(t testing.TB, parent, child testCA) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t), Subject: child.cert.Subject,
		NotBefore: child.cert.NotBefore, NotAfter: child.cert.NotAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent.cert, child.key.Public(), parent.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}
