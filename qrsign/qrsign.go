package qrsign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/strictjson"
)

// Limits that keep the payload small enough for a QR code printed at 3 cm.
const (
	// MaxName is the longest exporter or importer name kept (longer names
	// are cut, with "…" marking the cut).
	MaxName = 40
	// MaxHS is the most HS codes kept (the first ones, de-duplicated).
	MaxHS = 8
	// MaxToken bounds the JWS a verifier accepts (bytes).
	MaxToken = 2048
)

// Payload is the signed content of the QR code. Keys are one letter to
// keep the QR small.
type Payload struct {
	Country   string   `json:"c"` // issuing country, ISO 3166-1 alpha-2
	Number    string   `json:"n"` // certificate number
	Version   int      `json:"v"` // certificate version (1 first)
	IssueDate string   `json:"d"` // YYYY-MM-DD
	Exporter  string   `json:"e"` // exporter's name (cut at MaxName)
	Importer  string   `json:"i"` // consignee's name (cut at MaxName)
	HS        []string `json:"h"` // HS codes at 6 digits (at most MaxHS)
	URL       string   `json:"u"` // verification URL (the QR link)
}

var (
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
	dateRE    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	hsRE      = regexp.MustCompile(`^\d{6}$`)
	kidRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)
)

// Cut shortens s to at most n characters, marking a cut with "…".
func Cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Normalize fits p to the limits: names cut, HS codes cut to 6 digits,
// de-duplicated and at most MaxHS.
func (p *Payload) Normalize() {
	p.Exporter, p.Importer = Cut(p.Exporter, MaxName), Cut(p.Importer, MaxName)
	var hs []string
	seen := map[string]bool{}
	for _, h := range p.HS {
		h = strings.ReplaceAll(strings.ReplaceAll(h, ".", ""), " ", "")
		if len(h) > 6 {
			h = h[:6]
		}
		if !seen[h] && len(hs) < MaxHS {
			seen[h] = true
			hs = append(hs, h)
		}
	}
	p.HS = hs
}

// Check reports the first field that is not well formed.
func (p *Payload) Check() error {
	switch {
	case !countryRE.MatchString(p.Country):
		return fmt.Errorf("c (issuing country) %q is not a 2-letter code", p.Country)
	case p.Number == "" || len(p.Number) > 64:
		return errors.New("n (certificate number) must have 1 to 64 characters")
	case p.Version < 1:
		return fmt.Errorf("v (version) %d must be 1 or more", p.Version)
	case !dateRE.MatchString(p.IssueDate):
		return fmt.Errorf("d (issue date) %q is not YYYY-MM-DD", p.IssueDate)
	case p.Exporter == "" || utf8.RuneCountInString(p.Exporter) > MaxName:
		return fmt.Errorf("e (exporter) must have 1 to %d characters", MaxName)
	case utf8.RuneCountInString(p.Importer) > MaxName:
		return fmt.Errorf("i (importer) must have at most %d characters", MaxName)
	case len(p.HS) == 0 || len(p.HS) > MaxHS:
		return fmt.Errorf("h (HS codes) must list 1 to %d codes", MaxHS)
	case !strings.HasPrefix(p.URL, "https://") && !strings.HasPrefix(p.URL, "http://"):
		return fmt.Errorf("u (verification URL) %q is not an http(s) URL", p.URL)
	}
	if _, err := time.Parse("2006-01-02", p.IssueDate); err != nil {
		return fmt.Errorf("d (issue date) %q is not a date", p.IssueDate)
	}
	for _, h := range p.HS {
		if !hsRE.MatchString(h) {
			return fmt.Errorf("h (HS codes): %q is not 6 digits", h)
		}
	}
	return nil
}

// KeyID is the kid of a QR signing certificate: the base64url of the first
// 8 bytes of the SHA-256 of its DER.
func KeyID(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:8])
}

// Signer signs QR payloads with a P-256 key (a crypto.Signer, so an HSM
// can hold it) and its certificate.
type Signer struct {
	key    crypto.Signer
	cert   *x509.Certificate
	header string // base64url of the protected header
}

// NewSigner checks that key is a P-256 key matching cert.
func NewSigner(key crypto.Signer, cert *x509.Certificate) (*Signer, error) {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("qrsign: the QR key must be an ECDSA P-256 key (ES256)")
	}
	if cert == nil {
		return nil, errors.New("qrsign: the QR key's certificate is required")
	}
	cpub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !cpub.Equal(pub) {
		return nil, errors.New("qrsign: the QR certificate does not match the QR key")
	}
	h, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{"ES256", KeyID(cert)})
	return &Signer{key: key, cert: cert, header: base64.RawURLEncoding.EncodeToString(h)}, nil
}

// Certificate is the signer's certificate (to publish to partners).
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

// Sign normalizes p, checks it and returns the compact JWS.
func (s *Signer) Sign(p Payload) (string, error) {
	p.Normalize()
	if err := p.Check(); err != nil {
		return "", fmt.Errorf("qrsign: %w", err)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	in := s.header + "." + base64.RawURLEncoding.EncodeToString(body)
	d := sha256.Sum256([]byte(in))
	der, err := s.key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("qrsign: sign: %w", err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		return "", fmt.Errorf("qrsign: signature: %w", err)
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Content is the text printed as QR code: the verification URL, "#", and
// the JWS.
func Content(url, token string) string { return url + "#" + token }

// TokenOf takes the JWS out of what a reader gives: a QR content
// (URL#JWS), a link of the public page carrying it (…/verify/s/JWS or
// ?qr=…), or the JWS itself; white space around is ignored.
func TokenOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "#"); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.LastIndex(s, "/verify/s/"); i >= 0 {
		s = s[i+len("/verify/s/"):]
	}
	return s
}

// Verifier checks QR payloads offline. Certs are the QR signing
// certificates known for the issuing country (found by kid); Trust holds
// that country's anchors (and CRLs, and intermediates when it implements
// certs.IntermediateSource).
type Verifier struct {
	Certs []*x509.Certificate
	Trust certs.TrustStore
}

// Result is a verified payload with the certificate that signed it.
type Result struct {
	Payload Payload
	Signer  *x509.Certificate
}

// Verify checks token at time at: the header (ES256 and a known kid
// only), the signature, the signer's chain to an anchor, its key usage and
// revocation, and the payload's fields (strict JSON: unknown or duplicate
// keys refused).
func (v *Verifier) Verify(token string, at time.Time) (*Result, error) {
	token = TokenOf(token)
	if len(token) > MaxToken {
		return nil, fmt.Errorf("QR payload of %d bytes is larger than %d", len(token), MaxToken)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("QR payload is not a compact JWS (three base64url parts separated by dots)")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("QR payload header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := strictjson.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("QR payload header: %w", err)
	}
	if h.Alg != "ES256" {
		return nil, fmt.Errorf("QR payload header: alg %q refused; only ES256", h.Alg)
	}
	if !kidRE.MatchString(h.Kid) {
		return nil, fmt.Errorf("QR payload header: kid %q is not a QR key id", h.Kid)
	}
	var cert *x509.Certificate
	for _, c := range v.Certs {
		if KeyID(c) == h.Kid {
			cert = c
			break
		}
	}
	if cert == nil {
		return nil, fmt.Errorf("QR key %s is not among the %d QR certificates known for the issuer; update the issuer's cached certificates", h.Kid, len(v.Certs))
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("QR certificate %q has no P-256 key", cert.Subject.CommonName)
	}
	body, err := jws.Verify([]byte(token), jws.WithKey(jwa.ES256(), pub))
	if err != nil {
		return nil, fmt.Errorf("QR payload signature does not verify: %w", err)
	}
	if err := v.checkCert(cert, at); err != nil {
		return nil, err
	}
	var p Payload
	if err := strictjson.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("QR payload: %w", err)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("QR payload: %w", err)
	}
	return &Result{Payload: p, Signer: cert}, nil
}

func (v *Verifier) checkCert(c *x509.Certificate, at time.Time) error {
	if v.Trust == nil || len(v.Trust.Anchors()) == 0 {
		return errors.New("no trust anchors for the issuer; the QR certificate cannot be checked")
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("QR certificate %q has no digitalSignature key usage", c.Subject.CommonName)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	n := 0
	for _, a := range v.Trust.Anchors() {
		// Only CA certificates anchor a QR chain: a trust directory also
		// holds leaf certificates (the QR certificate itself among them),
		// which must not vouch for themselves.
		if a.IsCA && !a.Equal(c) {
			roots.AddCert(a)
			n++
		}
	}
	if n == 0 {
		return errors.New("no CA among the issuer's trust anchors; the QR certificate cannot be checked")
	}
	if is, ok := v.Trust.(certs.IntermediateSource); ok {
		for _, i := range is.Intermediates() {
			inter.AddCert(i)
		}
	}
	for _, i := range v.Certs {
		if i.IsCA {
			inter.AddCert(i)
		}
	}
	chains, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("QR certificate %q does not chain to the issuer's anchors: %w", c.Subject.CommonName, err)
	}
	for _, chain := range chains {
		for i := 0; i+1 < len(chain); i++ {
			for _, crl := range v.Trust.CRLs() {
				if !bytes.Equal(crl.RawIssuer, chain[i+1].RawSubject) || crl.CheckSignatureFrom(chain[i+1]) != nil {
					continue
				}
				for _, r := range crl.RevokedCertificateEntries {
					if r.SerialNumber.Cmp(chain[i].SerialNumber) == 0 {
						return fmt.Errorf("certificate %q of the QR chain is revoked (since %s)", chain[i].Subject.CommonName, r.RevocationTime.Format(time.DateOnly))
					}
				}
			}
		}
	}
	return nil
}
