package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The one loader of certificates and CRLs from files and bytes. Every
// place that reads trust material (signing chains, partner anchors and
// CRLs, TLS CAs, the trust directory, the development PKI) goes through
// it, so that every one accepts the same forms and names a bad block the
// same way.

// PEM block types of the loader.
const (
	pemCertificate = "CERTIFICATE"
	pemCRL         = "X509 CRL"
)

// ParseCertificates parses every certificate in data: PEM "CERTIFICATE"
// blocks, or a single DER certificate. Any other PEM block (a key, a CRL)
// is refused, naming its number (1 for the first block) and type.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	out, _, err := parsePEM(data, map[string]bool{pemCertificate: true}, false)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("no certificate found (expected PEM CERTIFICATE blocks or one DER certificate)")
	}
	return out, nil
}

// ParseCRLs parses every CRL in data: PEM "X509 CRL" blocks, or a single
// DER CRL. Any other PEM block is refused, naming its number and type.
func ParseCRLs(data []byte) ([]*x509.RevocationList, error) {
	_, out, err := parsePEM(data, map[string]bool{pemCRL: true}, false)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("no CRL found (expected PEM X509 CRL blocks or one DER CRL)")
	}
	return out, nil
}

// ParseTrust parses trust material: PEM "CERTIFICATE" and "X509 CRL"
// blocks in any mix, or a single DER certificate or CRL. Private-key
// blocks are skipped (the folder `ecogate pki init` writes keeps keys
// beside the certificates); any other PEM block is refused.
func ParseTrust(data []byte) ([]*x509.Certificate, []*x509.RevocationList, error) {
	cs, ls, err := parsePEM(data, map[string]bool{pemCertificate: true, pemCRL: true}, true)
	if err != nil {
		return nil, nil, err
	}
	if cs == nil && ls == nil && !isPEM(data) {
		return nil, nil, errors.New("neither a certificate nor a CRL (expected PEM CERTIFICATE or X509 CRL blocks, or DER)")
	}
	return cs, ls, nil
}

// LoadCertificates reads a certificate file (see ParseCertificates); its
// errors name the file.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	return LoadWith(os.ReadFile, path, ParseCertificates)
}

// LoadCRLs reads a CRL file (see ParseCRLs); its errors name the file.
func LoadCRLs(path string) ([]*x509.RevocationList, error) {
	return LoadWith(os.ReadFile, path, ParseCRLs)
}

// LoadWith reads path with readFile (os.ReadFile, or a test's) and parses
// it with parse (ParseCertificates or ParseCRLs); parse errors are
// prefixed with the path.
func LoadWith[T any](readFile func(string) ([]byte, error), path string, parse func([]byte) ([]T, error)) ([]T, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	out, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// isPEM reports whether data looks like PEM text rather than DER.
func isPEM(data []byte) bool { return bytes.Contains(data, []byte("-----BEGIN")) }

// parsePEM walks the PEM blocks of data, parsing the allowed types and
// skipping private keys when skipKeys; without any PEM block it parses
// data as one DER object of an allowed type.
func parsePEM(data []byte, allowed map[string]bool, skipKeys bool) ([]*x509.Certificate, []*x509.RevocationList, error) {
	var cs []*x509.Certificate
	var ls []*x509.RevocationList
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		n++
		switch {
		case allowed[b.Type] && b.Type == pemCertificate:
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("PEM block %d (CERTIFICATE): %w", n, err)
			}
			cs = append(cs, c)
		case allowed[b.Type] && b.Type == pemCRL:
			l, err := x509.ParseRevocationList(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("PEM block %d (X509 CRL): %w", n, err)
			}
			ls = append(ls, l)
		case skipKeys && strings.HasSuffix(b.Type, "PRIVATE KEY"):
		default:
			return nil, nil, fmt.Errorf("PEM block %d is %q where %s was expected", n, b.Type, expected(allowed))
		}
	}
	if n > 0 {
		return cs, ls, nil
	}
	if isPEM(data) {
		return nil, nil, errors.New("malformed PEM: a BEGIN line without a readable block")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, nil
	}
	if allowed[pemCertificate] {
		if c, err := x509.ParseCertificate(data); err == nil {
			return []*x509.Certificate{c}, nil, nil
		}
	}
	if allowed[pemCRL] {
		if l, err := x509.ParseRevocationList(data); err == nil {
			return nil, []*x509.RevocationList{l}, nil
		}
	}
	return nil, nil, fmt.Errorf("neither PEM nor DER: expected %s", expected(allowed))
}

// expected names the allowed block types for an error.
func expected(allowed map[string]bool) string {
	switch {
	case allowed[pemCertificate] && allowed[pemCRL]:
		return "a CERTIFICATE or an X509 CRL"
	case allowed[pemCRL]:
		return "an X509 CRL"
	default:
		return "a CERTIFICATE"
	}
}
