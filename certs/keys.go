package certs

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// ParsePrivateKey parses a private key from PEM (PKCS#8 "PRIVATE KEY",
// PKCS#1 "RSA PRIVATE KEY" or SEC 1 "EC PRIVATE KEY") or from raw DER
// PKCS#8. It returns a crypto.Signer; a 2048-bit two-prime RSA key comes
// wrapped in internal/rsaz's fast signer when the CPU has AVX-512 IFMA.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") { // RFC 1423 legacy encryption
			return nil, errors.New("the PEM key is encrypted with legacy PEM encryption; convert it to PKCS#8 or PKCS#12")
		}
		der = b.Bytes
		switch b.Type {
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(der)
			if err != nil {
				return nil, err
			}
			return fastKey(k), nil
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(der)
		case "PRIVATE KEY":
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted PKCS#8 keys are not supported; use PKCS#12 with a password or an unencrypted PKCS#8 file")
		default:
			return nil, fmt.Errorf("PEM block %q is not a private key", b.Type)
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T cannot sign", k)
	}
	return fastKey(s), nil
}

// LoadKeyPair loads a signing key and its certificate chain. keyFile is a
// PEM/PKCS#8 key or a PKCS#12 file (.p12/.pfx, opened with password, which
// then also yields the certificate and chain). certFile and chainFile may
// be empty when the PKCS#12 file holds them; when given, certFile's first
// certificate is the signer and chainFile's certificates follow it.
func LoadKeyPair(keyFile, certFile, chainFile, password string) (crypto.Signer, []*x509.Certificate, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read key: %w", err)
	}
	var key crypto.Signer
	var chain []*x509.Certificate
	ext := strings.ToLower(filepath.Ext(keyFile))
	if ext == ".p12" || ext == ".pfx" {
		pk, leaf, cas, err := pkcs12.DecodeChain(kb, password)
		if err != nil {
			return nil, nil, fmt.Errorf("open PKCS#12 %s: %w (check the password in the environment variable)", keyFile, err)
		}
		s, ok := pk.(crypto.Signer)
		if !ok {
			return nil, nil, fmt.Errorf("PKCS#12 %s: key type %T cannot sign", keyFile, pk)
		}
		key = fastKey(s)
		chain = append([]*x509.Certificate{leaf}, cas...)
	} else if key, err = ParsePrivateKey(kb); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	if certFile != "" {
		if chain, err = LoadCertificates(certFile); err != nil {
			return nil, nil, fmt.Errorf("read certificate: %w", err)
		}
	}
	if chainFile != "" {
		extra, err := LoadCertificates(chainFile)
		if err != nil {
			return nil, nil, fmt.Errorf("read chain: %w", err)
		}
		for _, c := range extra {
			if !containsCert(chain, c) {
				chain = append(chain, c)
			}
		}
	}
	if len(chain) == 0 {
		return nil, nil, errors.New("no certificate given; pass the signer certificate (--cert)")
	}
	// Put the certificate matching the key first.
	for i, c := range chain {
		if publicKeysEqual(key.Public(), c.PublicKey) {
			chain[0], chain[i] = chain[i], chain[0]
			return key, chain, nil
		}
	}
	return nil, nil, errors.New("no certificate matches the private key; check that --key and --cert belong together")
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, o := range list {
		if o.Equal(c) {
			return true
		}
	}
	return false
}

// TrustSet is a static TrustStore.
type TrustSet struct {
	// AnchorCerts are the document-signing trust anchors.
	AnchorCerts []*x509.Certificate
	// ExtraIntermediates may complete chains whose signer sent no
	// intermediates; they are never anchors.
	ExtraIntermediates []*x509.Certificate
	// RevocationLists are the CRLs for revocation checking.
	RevocationLists []*x509.RevocationList
}

// Anchors implements TrustStore.
func (t *TrustSet) Anchors() []*x509.Certificate { return t.AnchorCerts }

// CRLs implements TrustStore.
func (t *TrustSet) CRLs() []*x509.RevocationList { return t.RevocationLists }

// Intermediates implements IntermediateSource.
func (t *TrustSet) Intermediates() []*x509.Certificate { return t.ExtraIntermediates }

// AddFile adds every certificate (as an anchor) and every CRL found in a
// PEM or DER file (see ParseTrust). Private keys are skipped; any other PEM
// block is refused.
func (t *TrustSet) AddFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cs, ls, err := ParseTrust(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	t.AnchorCerts = append(t.AnchorCerts, cs...)
	t.RevocationLists = append(t.RevocationLists, ls...)
	return nil
}

// DirTrust loads a TrustSet from a directory: every certificate in a
// .pem, .crt, .cer or .der file is a document-signing trust anchor and
// every CRL (.pem or .crl) is revocation data. Subdirectories are ignored.
// It works on the folder that `ecogate pki init` writes.
func DirTrust(dir string) (*TrustSet, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("trust directory: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".pem", ".crt", ".cer", ".der", ".crl":
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	t := &TrustSet{}
	for _, n := range names {
		if err := t.AddFile(filepath.Join(dir, n)); err != nil {
			return nil, fmt.Errorf("trust directory: %w", err)
		}
	}
	if len(t.AnchorCerts) == 0 {
		return nil, fmt.Errorf("trust directory %s holds no certificate; put the partner's document-signing CA certificates there as PEM", dir)
	}
	return t, nil
}
