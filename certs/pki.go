package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ecogate/ecogate/internal/rsaz"
)

// KeyCert is a private key with its certificate.
type KeyCert struct {
	Key  crypto.Signer
	Cert *x509.Certificate
}

// DevPKI is a development PKI made by InitDevPKI.
type DevPKI struct {
	Dir          string
	Root         KeyCert // self-signed root CA
	Intermediate KeyCert // issuing-authority CA under the root
	SignerRSA    KeyCert // document signer, RSA-2048, under the intermediate
	SignerECDSA  KeyCert // document signer, ECDSA P-256, under the intermediate
	Receipt      KeyCert // node receipt signer (JWS), ECDSA P-256, under the root
	TLSServer    KeyCert // TLS server, ECDSA P-256, under the root
	TLSClient    KeyCert // TLS client, ECDSA P-256, under the root
	QR           KeyCert // QR payload signer (package qrsign), ECDSA P-256, under the intermediate
}

// PKIOptions tune InitDevPKI.
type PKIOptions struct {
	// Now is the issue time; zero means time.Now().
	Now time.Time
	// Name prefixes the certificates' common names (default "ecogate dev").
	Name string
	// Force allows writing into a non-empty directory, replacing files.
	Force bool
}

// PKI file names written by InitDevPKI; scripts and docs rely on them.
const (
	FileRootKey          = "root-key.pem"
	FileRootCert         = "root-cert.pem"
	FileRootCRL          = "root-crl.pem"
	FileIntermediateKey  = "intermediate-key.pem"
	FileIntermediateCert = "intermediate-cert.pem"
	FileIntermediateCRL  = "intermediate-crl.pem"
	FileChain            = "chain.pem"
	FileSignerRSAKey     = "signer-rsa-key.pem"
	FileSignerRSACert    = "signer-rsa-cert.pem"
	FileSignerECDSAKey   = "signer-ecdsa-key.pem"
	FileSignerECDSACert  = "signer-ecdsa-cert.pem"
	FileReceiptKey       = "receipt-key.pem"
	FileReceiptCert      = "receipt-cert.pem"
	FileTLSServerKey     = "tls-server-key.pem"
	FileTLSServerCert    = "tls-server-cert.pem"
	FileTLSClientKey     = "tls-client-key.pem"
	FileTLSClientCert    = "tls-client-cert.pem"
	FileQRKey            = "qr-key.pem"
	FileQRCert           = "qr-cert.pem"
	FileREADME           = "README.md"
)

// NewDevPKI creates a development PKI in memory (no files).
func NewDevPKI(opt PKIOptions) (*DevPKI, error) {
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	name := opt.Name
	if name == "" {
		name = "ecogate dev"
	}
	nb := now.Add(-time.Hour).UTC()
	p := &DevPKI{}
	var err error
	issue := func(cn string, key crypto.Signer, parent *KeyCert, tmpl *x509.Certificate, years int) (KeyCert, error) {
		tmpl.Subject = pkix.Name{CommonName: name + " " + cn, Organization: []string{"ecogate development PKI"}}
		tmpl.NotBefore = nb
		tmpl.NotAfter = nb.AddDate(years, 0, 0)
		sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		if err != nil {
			return KeyCert{}, err
		}
		tmpl.SerialNumber = sn
		pc, pk := tmpl, key
		if parent != nil {
			pc, pk = parent.Cert, parent.Key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, pc, key.Public(), pk)
		if err != nil {
			return KeyCert{}, fmt.Errorf("issue %s: %w", cn, err)
		}
		c, err := x509.ParseCertificate(der)
		return KeyCert{key, c}, err
	}
	ec := func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }
	keys := make([]crypto.Signer, 8)
	for i := range keys {
		if i == 3 {
			keys[i], err = rsa.GenerateKey(rand.Reader, 2048)
		} else {
			keys[i], err = ec()
		}
		if err != nil {
			return nil, fmt.Errorf("generate key: %w", err)
		}
	}
	ca := func(pathLen int) *x509.Certificate {
		return &x509.Certificate{IsCA: true, BasicConstraintsValid: true, MaxPathLen: pathLen, MaxPathLenZero: pathLen == 0,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	signer := func() *x509.Certificate {
		return &x509.Certificate{BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	}
	if p.Root, err = issue("root CA", keys[0], nil, ca(1), 10); err != nil {
		return nil, err
	}
	if p.Intermediate, err = issue("issuing authority CA", keys[1], &p.Root, ca(0), 5); err != nil {
		return nil, err
	}
	if p.SignerECDSA, err = issue("document signer ECDSA", keys[2], &p.Intermediate, signer(), 2); err != nil {
		return nil, err
	}
	if p.SignerRSA, err = issue("document signer RSA", keys[3], &p.Intermediate, signer(), 2); err != nil {
		return nil, err
	}
	if p.Receipt, err = issue("node receipt signer", keys[4], &p.Root, &x509.Certificate{BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature}, 2); err != nil {
		return nil, err
	}
	if p.TLSServer, err = issue("TLS server", keys[5], &p.Root, &x509.Certificate{BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}}, 2); err != nil {
		return nil, err
	}
	if p.TLSClient, err = issue("TLS client", keys[6], &p.Root, &x509.Certificate{BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, 2); err != nil {
		return nil, err
	}
	if p.QR, err = issue("QR payload signer", keys[7], &p.Intermediate, &x509.Certificate{BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature}, 2); err != nil {
		return nil, err
	}
	return p, nil
}

// InitDevPKI creates a development PKI and writes it to dir (see the
// File* constants and the README.md it writes). It refuses a non-empty dir
// unless opt.Force is set.
func InitDevPKI(dir string, opt PKIOptions) (*DevPKI, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 && !opt.Force {
		return nil, fmt.Errorf("%s is not empty; choose an empty directory or pass --force to replace the PKI files", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p, err := NewDevPKI(opt)
	if err != nil {
		return nil, err
	}
	p.Dir = dir
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	rootCRL, err := IssueCRL(p.Root, nil, now, now.AddDate(0, 0, 30), 1)
	if err != nil {
		return nil, err
	}
	intCRL, err := IssueCRL(p.Intermediate, nil, now, now.AddDate(0, 0, 30), 1)
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{FileRootCert, CertPEM(p.Root.Cert), 0o644},
		{FileRootCRL, rootCRL, 0o644},
		{FileIntermediateCert, CertPEM(p.Intermediate.Cert), 0o644},
		{FileIntermediateCRL, intCRL, 0o644},
		{FileChain, CertPEM(p.Intermediate.Cert), 0o644},
		{FileSignerRSACert, CertPEM(p.SignerRSA.Cert), 0o644},
		{FileSignerECDSACert, CertPEM(p.SignerECDSA.Cert), 0o644},
		{FileReceiptCert, CertPEM(p.Receipt.Cert), 0o644},
		{FileTLSServerCert, CertPEM(p.TLSServer.Cert), 0o644},
		{FileTLSClientCert, CertPEM(p.TLSClient.Cert), 0o644},
		{FileQRCert, CertPEM(p.QR.Cert), 0o644},
		{FileREADME, []byte(pkiReadme), 0o644},
	}
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{
		{FileRootKey, p.Root.Key}, {FileIntermediateKey, p.Intermediate.Key},
		{FileSignerRSAKey, p.SignerRSA.Key}, {FileSignerECDSAKey, p.SignerECDSA.Key},
		{FileReceiptKey, p.Receipt.Key}, {FileTLSServerKey, p.TLSServer.Key}, {FileTLSClientKey, p.TLSClient.Key},
		{FileQRKey, p.QR.Key},
	} {
		b, err := KeyPEM(k.key)
		if err != nil {
			return nil, err
		}
		files = append(files, struct {
			name string
			data []byte
			mode os.FileMode
		}{k.name, b, 0o600})
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return p, nil
}

// CertPEM encodes a certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM encodes a private key as PKCS#8 PEM (an RSA key wrapped by
// ParsePrivateKey's fast signer is encoded as the key it wraps).
func KeyPEM(k crypto.Signer) ([]byte, error) {
	var key any = k
	if f, ok := k.(*rsaz.Signer); ok {
		key = f.PrivateKey()
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// IssueCRL returns a PEM CRL signed by issuer that revokes the given
// certificates (revoked at thisUpdate). Use it to revoke a certificate of
// a development PKI, and in tests.
func IssueCRL(issuer KeyCert, revoked []*x509.Certificate, thisUpdate, nextUpdate time.Time, number int64) ([]byte, error) {
	if issuer.Key == nil || issuer.Cert == nil {
		return nil, errors.New("issue CRL: issuer key and certificate required")
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: thisUpdate.UTC(), NextUpdate: nextUpdate.UTC()}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate.UTC()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.Cert, issuer.Key)
	if err != nil {
		return nil, fmt.Errorf("issue CRL: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

var pkiReadme = strings.TrimSpace(`
# ecogate development PKI

Made by `+"`ecogate pki init`"+`. FOR DEVELOPMENT AND TESTS ONLY: the private keys are
unencrypted. Production keys are loaded from PEM, PKCS#8 or PKCS#12 files.

| file | what it is for |
|---|---|
| root-cert.pem, root-key.pem | self-signed root CA (ECDSA P-256, 10 years); the trust anchor |
| root-crl.pem | empty CRL signed by the root (30 days), for revocation checks of the intermediate |
| intermediate-cert.pem, intermediate-key.pem | "issuing authority CA" under the root; issues the document signers |
| intermediate-crl.pem | empty CRL signed by the intermediate (30 days), for revocation checks of the signers |
| chain.pem | the intermediate certificate, for `+"`ecogate sign --chain`"+` |
| signer-rsa-key.pem, signer-rsa-cert.pem | document signer (issuing authority), RSA-2048, keyUsage digitalSignature+contentCommitment |
| signer-ecdsa-key.pem, signer-ecdsa-cert.pem | document signer, ECDSA P-256 |
| receipt-key.pem, receipt-cert.pem | the node's receipt-signing key (JWS receipts and tokens), ECDSA P-256 |
| tls-server-key.pem, tls-server-cert.pem | TLS server, SANs localhost, 127.0.0.1, ::1 |
| tls-client-key.pem, tls-client-cert.pem | TLS client certificate for mutual TLS |
| qr-key.pem, qr-cert.pem | QR payload signer (signed QR code on the certificate PDF), ECDSA P-256, under the intermediate; `+"`ecogate verify-qr --trust .`"+` checks it |

Sign and verify:

    ecogate sign --key signer-ecdsa-key.pem --cert signer-ecdsa-cert.pem --chain chain.pem eco.xml > eco-signed.xml
    ecogate verify --trust . eco-signed.xml

`+"`--trust DIR`"+` takes every certificate in DIR as a document-signing anchor and every CRL as
revocation data. The CRLs expire after 30 days: run `+"`ecogate pki init --force DIR`"+` again (or
issue new CRLs) when verification reports revocation.crl-stale.
`) + "\n"

// RevokeInDevPKI adds cert to the CRL of whichever CA of the development
// PKI in dir issued it (root-crl.pem or intermediate-crl.pem), keeping the
// entries already revoked, and returns the CRL file name.
func RevokeInDevPKI(dir string, cert *x509.Certificate, now time.Time, validity time.Duration) (string, error) {
	for _, ca := range []struct{ key, cert, crl string }{
		{FileIntermediateKey, FileIntermediateCert, FileIntermediateCRL},
		{FileRootKey, FileRootCert, FileRootCRL},
	} {
		cs, err := LoadCertificates(filepath.Join(dir, ca.cert))
		if err != nil {
			return "", err
		}
		if cert.CheckSignatureFrom(cs[0]) != nil {
			continue
		}
		kb, err := os.ReadFile(filepath.Join(dir, ca.key))
		if err != nil {
			return "", err
		}
		key, err := ParsePrivateKey(kb)
		if err != nil {
			return "", err
		}
		var number int64 = 1
		tmpl := &x509.RevocationList{ThisUpdate: now.UTC(), NextUpdate: now.Add(validity).UTC()}
		// The entries already revoked carry over; an unreadable old CRL
		// stops here rather than silently un-revoking them.
		if old, err := LoadCRLs(filepath.Join(dir, ca.crl)); err == nil {
			l := old[0]
			tmpl.RevokedCertificateEntries = l.RevokedCertificateEntries
			if l.Number != nil {
				number = l.Number.Int64() + 1
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("the existing CRL: %w", err)
		}
		tmpl.Number = big.NewInt(number)
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: cert.SerialNumber, RevocationTime: now.UTC()})
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, cs[0], key)
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, ca.crl)
		return p, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644)
	}
	return "", errors.New("the certificate was not issued by this PKI's root or intermediate")
}
