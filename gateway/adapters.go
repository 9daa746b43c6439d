package gateway

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/schema"
)

// CertsVerifier is the DocumentVerifier of package certs: strict parse,
// the XML-DSig profile, chain, validity and CRL checks. It keeps one
// certs.Verifier per trust store, so that the checks certs caches (CRL and
// anchor signatures) are made once per store.
type CertsVerifier struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Limits bound the input document.
	Limits certs.Limits
	// Policy tunes the checks beyond the fixed profile.
	Policy certs.Policy

	mu        sync.Mutex
	verifiers map[certs.TrustStore]*certs.Verifier
}

func (v *CertsVerifier) verifier(trust certs.TrustStore) *certs.Verifier {
	v.mu.Lock()
	defer v.mu.Unlock()
	if cv, ok := v.verifiers[trust]; ok {
		return cv
	}
	if v.verifiers == nil || len(v.verifiers) > 256 { // partners reloaded many times: start afresh
		v.verifiers = map[certs.TrustStore]*certs.Verifier{}
	}
	cv := &certs.Verifier{Trust: trust, Now: v.Now, Limits: v.Limits, Policy: v.Policy}
	v.verifiers[trust] = cv
	return cv
}

// Verify implements DocumentVerifier.
func (v *CertsVerifier) Verify(_ context.Context, trust certs.TrustStore, doc []byte) (*Verification, error) {
	if trust == nil {
		return nil, errors.New("verify: no trust store")
	}
	res, err := v.verifier(trust).Verify(doc)
	if err != nil {
		return nil, err
	}
	return verificationOf(res), nil
}

// VerifyParsed implements ParsedVerifier: Verify for a document Submit
// already parsed (it is consumed).
func (v *CertsVerifier) VerifyParsed(_ context.Context, trust certs.TrustStore, p *certs.Parsed) (*Verification, error) {
	if trust == nil {
		return nil, errors.New("verify: no trust store")
	}
	res, err := v.verifier(trust).VerifyParsed(p)
	if err != nil {
		return nil, err
	}
	return verificationOf(res), nil
}

func verificationOf(res *certs.Result) *Verification {
	out := &Verification{Valid: res.Valid, Element: res.Element, Signer: res.Signer, Chain: res.Chain, Report: res.Report, release: res.Release}
	if !res.Valid && len(res.Report) > 0 {
		first := res.Report[0]
		out.Unreadable = first.Check == certs.CheckProfile && first.Status == certs.StatusInvalid && strings.HasPrefix(first.Reason, "xml.")
	}
	return out
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

// SignParsed implements ParsedSigner: it signs the tree Submit already
// parsed (and decoded the certificate from) without parsing it again.
func (s *CertsSigner) SignParsed(_ context.Context, p *certs.Parsed) ([]byte, error) {
	return (&certs.Signer{Key: s.Key, Chain: s.Certs}).SignParsed(p)
}

// JWSSigner is the ReceiptSigner of package certs (compact JWS with x5c).
// It encodes the protected header once (certs.JWSKey) and again only when
// Key or Certs are replaced.
type JWSSigner struct {
	Key   crypto.Signer
	Certs []*x509.Certificate // receipt certificate first

	mu       sync.Mutex
	prepared *certs.JWSKey
	forKey   crypto.Signer
	forCerts []*x509.Certificate
}

// SignJWS implements ReceiptSigner.
func (s *JWSSigner) SignJWS(payload []byte) ([]byte, error) {
	s.mu.Lock()
	if s.prepared == nil || s.forKey != s.Key || !sameCerts(s.forCerts, s.Certs) {
		k, err := certs.NewJWSKey(s.Key, s.Certs)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.prepared, s.forKey, s.forCerts = k, s.Key, append([]*x509.Certificate(nil), s.Certs...)
	}
	k := s.prepared
	s.mu.Unlock()
	return k.Sign(payload)
}

func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Chain implements ReceiptSigner.
func (s *JWSSigner) Chain() []*x509.Certificate { return s.Certs }

// JWSVerifier is the ReceiptVerifier of package certs: certs.JWSVerifier,
// which verifies every token in full (jwx for the token and its signature;
// chain, key usage and revocation against the trust store) and remembers
// the chains it accepted, so that a partner's next receipt needs no chain
// building. The zero value is ready to use.
type JWSVerifier struct {
	v certs.JWSVerifier
}

// VerifyJWS implements ReceiptVerifier.
func (v *JWSVerifier) VerifyJWS(token []byte, trust certs.TrustStore, at time.Time) ([]byte, error) {
	payload, _, err := v.v.Verify(token, trust, at)
	return payload, err
}

// StaticDirectory is a PartnerDirectory over a fixed list of partners,
// replaceable as a whole with Set (a registry reload). A client chain maps
// to the partner whose TLS CAs include the chain's anchor (last
// certificate) and whose TLS CRLs do not revoke it; an anchor shared by
// two partners maps to neither.
type StaticDirectory struct {
	// Now is the clock for TLS CRLs; time.Now when nil.
	Now func() time.Time

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
	p, _ := d.MatchClientCert(chain)
	return p
}

// MatchClientCert implements ClientCertMatcher.
func (d *StaticDirectory) MatchClientCert(chain []*x509.Certificate) (*Partner, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("no client certificate: %w", partners.ErrUnknownPartner)
	}
	fp := sha256.Sum256(chain[len(chain)-1].Raw)
	d.mu.RLock()
	shared, p := d.shared[fp], d.byCA[fp]
	d.mu.RUnlock()
	switch {
	case shared:
		return nil, fmt.Errorf("client certificate %q: %w", chain[0].Subject, partners.ErrAmbiguous)
	case p == nil:
		return nil, fmt.Errorf("client certificate %q: %w", chain[0].Subject, partners.ErrUnknownPartner)
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if err := p.CheckTLSRevocation([][]*x509.Certificate{chain}, now()); err != nil {
		return nil, fmt.Errorf("client certificate %q of partner %s: %w", chain[0].Subject, p.Country, err)
	}
	return p, nil
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

// RegistryDirectory is the PartnerDirectory over the partners package's
// registry. Current returns the registry in force (for example
// (*partners.Watcher).Registry, which swaps it on SIGHUP or file change);
// the converted partners are rebuilt whenever it changes.
type RegistryDirectory struct {
	Current func() *partners.Registry

	mu   sync.Mutex
	reg  *partners.Registry
	dir  *StaticDirectory
	conv map[*partners.Partner]*Partner
}

// NewRegistryDirectory returns a directory over current.
func NewRegistryDirectory(current func() *partners.Registry) *RegistryDirectory {
	return &RegistryDirectory{Current: current}
}

// PartnerFromRegistry converts a registry entry.
func PartnerFromRegistry(p *partners.Partner) *Partner {
	g := &Partner{
		Country:       p.Country,
		Name:          p.Name,
		Pull:          p.Delivery == partners.Pull,
		TLSCAs:        p.ClientCAs,
		TLSCRLs:       p.TLSCRLs,
		DocumentTrust: &certs.TrustSet{AnchorCerts: p.Anchors, RevocationLists: p.CRLs},
		Agreements:    p.Agreements,
		Retry:         p.Retry,
	}
	if p.Endpoint != nil {
		g.Endpoint = p.Endpoint.String()
	}
	return g
}

func (d *RegistryDirectory) current() (*partners.Registry, *StaticDirectory, map[*partners.Partner]*Partner) {
	r := d.Current()
	d.mu.Lock()
	defer d.mu.Unlock()
	if r != d.reg || d.dir == nil {
		d.reg = r
		d.conv = map[*partners.Partner]*Partner{}
		var list []*Partner
		if r != nil {
			for _, p := range r.Partners() {
				g := PartnerFromRegistry(p)
				d.conv[p] = g
				list = append(list, g)
			}
		}
		d.dir = NewStaticDirectory(list...)
	}
	return d.reg, d.dir, d.conv
}

// Lookup implements PartnerDirectory.
func (d *RegistryDirectory) Lookup(country string) *Partner {
	_, dir, _ := d.current()
	return dir.Lookup(country)
}

// ByClientCert implements PartnerDirectory with the registry's own
// matching (chain verification against each partner's client CAs for
// client authentication; a certificate two partners' CAs issued maps to
// none).
func (d *RegistryDirectory) ByClientCert(chain []*x509.Certificate) *Partner {
	p, _ := d.MatchClientCert(chain)
	return p
}

// MatchClientCert implements ClientCertMatcher with the registry's
// matching, its TLS CRLs included (partners.Registry.ByClientCert).
func (d *RegistryDirectory) MatchClientCert(chain []*x509.Certificate) (*Partner, error) {
	r, _, conv := d.current()
	if r == nil || len(chain) == 0 {
		return nil, fmt.Errorf("no partner registry or no client certificate: %w", partners.ErrUnknownPartner)
	}
	var inter []*x509.Certificate
	if len(chain) > 2 {
		inter = chain[1 : len(chain)-1]
	}
	p, err := r.ByClientCert(chain[0], inter...)
	if err != nil {
		return nil, err
	}
	return conv[p], nil
}

// ClientCAs implements PartnerDirectory.
func (d *RegistryDirectory) ClientCAs() *x509.CertPool {
	_, dir, _ := d.current()
	return dir.ClientCAs()
}

// All implements PartnerDirectory.
func (d *RegistryDirectory) All() []*Partner {
	_, dir, _ := d.current()
	return dir.All()
}

// SchemaValidator is the Validator of package schema: the dataset rules,
// the code lists and the agreement profile the certificate names.
type SchemaValidator struct {
	// CodeLists are the code lists; nil means the built-ins.
	CodeLists *schema.CodeLists
	// Now is the clock for validity and expiry; nil means time.Now.
	Now func() time.Time
	// Agreements are the operator's agreement profiles (configuration
	// agreementFiles), besides the built-in ones.
	Agreements []*schema.Profile
}

// Validate implements Validator.
func (v *SchemaValidator) Validate(_ context.Context, c *schema.Certificate) schema.Findings {
	return schema.Validate(c, schema.ValidateOptions{CodeLists: v.CodeLists, Now: v.Now, Agreements: v.Agreements})
}
