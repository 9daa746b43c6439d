package gateway

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// CertsVerifier is the DocumentVerifier of package certs: strict parse,
// the XML-DSig profile, chain, validity and CRL checks.
type CertsVerifier struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Limits bound the input document.
	Limits certs.Limits
	// Policy tunes the checks beyond the fixed profile.
	Policy certs.Policy
}

// Verify implements DocumentVerifier.
func (v *CertsVerifier) Verify(_ context.Context, trust certs.TrustStore, doc []byte) (*Verification, error) {
	cv := &certs.Verifier{Trust: trust, Now: v.Now, Limits: v.Limits, Policy: v.Policy}
	res, err := cv.Verify(doc)
	if err != nil {
		return nil, err
	}
	out := &Verification{Valid: res.Valid, Element: res.Element, Signer: res.Signer, Report: res.Report}
	if !res.Valid && len(res.Report) > 0 {
		first := res.Report[0]
		out.Unreadable = first.Check == certs.CheckProfile && first.Status == certs.StatusInvalid && strings.HasPrefix(first.Reason, "xml.")
	}
	return out, nil
}

// CertsSigner is the DocumentSigner of package certs (enveloped XML-DSig).
type CertsSigner struct {
	Key   crypto.Signer
	Certs []*x509.Certificate // signer first, then intermediates
}

// Sign implements DocumentSigner.
func (s *CertsSigner) Sign(_ context.Context, doc []byte) ([]byte, error) {
	return (&certs.Signer{Key: s.Key, Chain: s.Certs}).Sign(doc)
}

// Chain implements DocumentSigner.
func (s *CertsSigner) Chain() []*x509.Certificate { return s.Certs }

// JWSSigner is the ReceiptSigner of package certs (compact JWS with x5c).
type JWSSigner struct {
	Key   crypto.Signer
	Certs []*x509.Certificate // receipt certificate first
}

// SignJWS implements ReceiptSigner.
func (s *JWSSigner) SignJWS(payload []byte) ([]byte, error) {
	return certs.SignJWS(payload, s.Key, s.Certs)
}

// Chain implements ReceiptSigner.
func (s *JWSSigner) Chain() []*x509.Certificate { return s.Certs }

// JWSVerifier is the ReceiptVerifier of package certs.
type JWSVerifier struct{}

// VerifyJWS implements ReceiptVerifier.
func (JWSVerifier) VerifyJWS(token []byte, trust certs.TrustStore, at time.Time) ([]byte, error) {
	payload, _, err := certs.VerifyJWS(token, trust, at)
	return payload, err
}

// StaticDirectory is a PartnerDirectory over a fixed list of partners,
// replaceable as a whole with Set (a registry reload). A client chain maps
// to the partner whose TLS CAs include the chain's anchor (last
// certificate); an anchor shared by two partners maps to neither.
type StaticDirectory struct {
	mu       sync.RWMutex
	partners map[string]*Partner
	byCA     map[[32]byte]*Partner
	shared   map[[32]byte]bool
	pool     *x509.CertPool
	list     []*Partner
}

// NewStaticDirectory returns a directory of the given partners.
func NewStaticDirectory(ps ...*Partner) *StaticDirectory {
	d := &StaticDirectory{}
	d.Set(ps...)
	return d
}

// Set replaces the partners.
func (d *StaticDirectory) Set(ps ...*Partner) {
	m := map[string]*Partner{}
	byCA := map[[32]byte]*Partner{}
	shared := map[[32]byte]bool{}
	pool := x509.NewCertPool()
	for _, p := range ps {
		m[strings.ToUpper(p.Country)] = p
		for _, c := range p.TLSCAs {
			fp := sha256.Sum256(c.Raw)
			if q, ok := byCA[fp]; ok && q != p {
				shared[fp] = true
			}
			byCA[fp] = p
			pool.AddCert(c)
		}
	}
	d.mu.Lock()
	d.partners, d.byCA, d.shared, d.pool, d.list = m, byCA, shared, pool, append([]*Partner(nil), ps...)
	d.mu.Unlock()
}

// Lookup implements PartnerDirectory.
func (d *StaticDirectory) Lookup(country string) *Partner {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.partners[strings.ToUpper(country)]
}

// ByClientCert implements PartnerDirectory.
func (d *StaticDirectory) ByClientCert(chain []*x509.Certificate) *Partner {
	if len(chain) == 0 {
		return nil
	}
	fp := sha256.Sum256(chain[len(chain)-1].Raw)
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.shared[fp] {
		return nil
	}
	return d.byCA[fp]
}

// ClientCAs implements PartnerDirectory.
func (d *StaticDirectory) ClientCAs() *x509.CertPool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.pool
}

// All implements PartnerDirectory.
func (d *StaticDirectory) All() []*Partner {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return append([]*Partner(nil), d.list...)
}
