package issuance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// DSC is a person's registered document-signing certificate: the signer
// certificate first, then the intermediates given with it (DER).
type DSC struct {
	Person     string    `json:"person"`
	Chain      [][]byte  `json:"chain"`
	Subject    string    `json:"subject"`
	Serial     string    `json:"serial"`
	SHA256     string    `json:"sha256"`
	NotBefore  time.Time `json:"notBefore"`
	NotAfter   time.Time `json:"notAfter"`
	Registered time.Time `json:"registered"`
}

// dscCache keeps parsed chains and CRL signature checks: both depend only
// on immutable inputs.
type dscCache struct {
	chains sync.Map // leaf SHA-256 -> []*x509.Certificate
	crls   sync.Map // crlKey -> bool
}

type crlKey struct {
	crl    *x509.RevocationList
	issuer string
}

// certificates parses the chain of d (cached).
func (c *dscCache) certificates(d *DSC) ([]*x509.Certificate, error) {
	if v, ok := c.chains.Load(d.SHA256); ok {
		return v.([]*x509.Certificate), nil
	}
	out := make([]*x509.Certificate, 0, len(d.Chain))
	for _, der := range d.Chain {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("stored DSC of %s: %w", d.Person, err)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("stored DSC of %s is empty", d.Person)
	}
	c.chains.Store(d.SHA256, out)
	return out, nil
}

func (c *dscCache) crlSignedBy(crl *x509.RevocationList, issuer *x509.Certificate) bool {
	k := crlKey{crl, string(issuer.Raw)}
	if v, ok := c.crls.Load(k); ok {
		return v.(bool)
	}
	ok := crl.CheckSignatureFrom(issuer) == nil
	c.crls.Store(k, ok)
	return ok
}

// checkChain checks a DSC chain (signer first) at time at: it chains to
// an anchor of trust, the signer carries a signing key usage
// (digitalSignature or nonRepudiation), and no certificate of the chain is
// revoked by a CRL of trust (a stale CRL fails closed). The error says
// what is wrong.
func (c *dscCache) checkChain(chain []*x509.Certificate, trust certs.TrustStore, at time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate given")
	}
	leaf := chain[0]
	anchors := trust.Anchors()
	if len(anchors) == 0 {
		return errors.New("no document-signing anchor is configured")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, a := range anchors {
		roots.AddCert(a)
	}
	for _, x := range chain[1:] {
		inter.AddCert(x)
	}
	if is, ok := trust.(certs.IntermediateSource); ok {
		for _, x := range is.Intermediates() {
			inter.AddCert(x)
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("%q does not chain to the configured anchors at %s: %v", leaf.Subject.CommonName, at.UTC().Format(time.RFC3339), err)
	}
	if leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return fmt.Errorf("%q has no signing key usage (digitalSignature or nonRepudiation)", leaf.Subject.CommonName)
	}
	best := chains[0]
	for _, ch := range chains {
		if len(ch) > len(best) {
			best = ch
		}
	}
	crls := trust.CRLs()
	for i := 0; i+1 < len(best); i++ {
		x, issuer := best[i], best[i+1]
		for _, crl := range crls {
			if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || !c.crlSignedBy(crl, issuer) {
				continue
			}
			if at.Before(crl.ThisUpdate) || !crl.NextUpdate.IsZero() && at.After(crl.NextUpdate) {
				return fmt.Errorf("the CRL of %q is not current at %s; the authority must publish a current CRL", issuer.Subject.CommonName, at.UTC().Format(time.RFC3339))
			}
			for _, r := range crl.RevokedCertificateEntries {
				if r.SerialNumber.Cmp(x.SerialNumber) == 0 {
					return fmt.Errorf("%q (serial %X) was revoked on %s", x.Subject.CommonName, x.SerialNumber, r.RevocationTime.UTC().Format(time.RFC3339))
				}
			}
		}
	}
	return nil
}

// SubjectCarriesIEC reports whether a certificate's subject carries iec as
// one of its attribute values (the value alone, or prefixed "IEC", "IEC:"
// or "IEC-").
func SubjectCarriesIEC(x *x509.Certificate, iec string) bool {
	if iec == "" {
		return false
	}
	for _, n := range x.Subject.Names {
		v, ok := n.Value.(string)
		if !ok {
			continue
		}
		v = strings.ToUpper(strings.TrimSpace(v))
		for _, p := range []string{"IEC:", "IEC-", "IEC "} {
			v = strings.TrimSpace(strings.TrimPrefix(v, p))
		}
		if v == iec {
			return true
		}
	}
	return false
}

// trustFor is the DSC trust of a role: officers' anchors for officers,
// exporters' for exporter roles.
func (s *Service) trustFor(r Role) (certs.TrustStore, error) {
	switch {
	case r == RoleOfficer:
		if s.cfg.OfficerTrust == nil {
			return nil, fmt.Errorf("%w: no issuing-authority anchors are configured for officers' DSCs", ErrNotAvailable)
		}
		return s.cfg.OfficerTrust, nil
	case r.exporterSide():
		if s.cfg.ExporterTrust == nil {
			return nil, fmt.Errorf("%w: no anchors are configured for exporters' DSCs", ErrNotAvailable)
		}
		return s.cfg.ExporterTrust, nil
	}
	return nil, forbidden("a %s does not sign documents", r)
}

// checkDSCFor checks a chain for person p: the chain (checkChain under
// the role's trust) and, for an exporter, the IEC in the subject.
func (s *Service) checkDSCFor(p *Person, chain []*x509.Certificate, at time.Time) error {
	trust, err := s.trustFor(p.Role)
	if err != nil {
		return err
	}
	if err := s.dscs.checkChain(chain, trust, at); err != nil {
		return invalid("the DSC of %s is not valid: %v", p.ID, err)
	}
	if p.Role.exporterSide() && !SubjectCarriesIEC(chain[0], p.Org) {
		return invalid("the DSC %q does not carry the IEC %s in its subject; use the DSC registered for the IEC", chain[0].Subject.String(), p.Org)
	}
	return nil
}

// RegisterDSC registers the actor's own document-signing certificate
// (PEM, signer first, then intermediates; or one DER certificate): an
// officer's must chain to the issuing-authority anchors, an exporter's to
// the exporters' anchors with the IEC in its subject; both must carry a
// signing key usage and be unrevoked. It replaces a DSC registered before.
func (s *Service) RegisterDSC(ctx context.Context, a Actor, chainPEM []byte) (*DSC, error) {
	chain, err := certs.ParseCertificates(chainPEM)
	if err != nil || len(chain) == 0 {
		return nil, fmt.Errorf("register DSC: %w: not a certificate chain in PEM (or one DER certificate): %v", ErrInvalid, err)
	}
	if len(chain) > 8 {
		return nil, fmt.Errorf("register DSC: %w: %d certificates; give the signer certificate and its intermediates (at most 8)", ErrInvalid, len(chain))
	}
	var out *DSC
	err = s.do(ctx, a, "register DSC", a.ID, func(tx Tx, p *principal) error {
		if err := need(p, "register a DSC", RoleOfficer, RoleExporterAdmin, RoleApplicant); err != nil {
			return err
		}
		if err := s.checkDSCFor(p.person, chain, s.now()); err != nil {
			return err
		}
		sum := sha256.Sum256(chain[0].Raw)
		d := &DSC{Person: p.person.ID, Subject: chain[0].Subject.String(), Serial: fmt.Sprintf("%X", chain[0].SerialNumber),
			SHA256: hex.EncodeToString(sum[:]), NotBefore: chain[0].NotBefore.UTC(), NotAfter: chain[0].NotAfter.UTC(), Registered: s.now()}
		for _, x := range chain {
			d.Chain = append(d.Chain, x.Raw)
		}
		if err := tx.PutDSC(d); err != nil {
			return err
		}
		out = d
		return s.audit(tx, p.String(), "dsc.register", p.person.ID, map[string]string{"subject": d.Subject, "serial": d.Serial, "sha256": d.SHA256})
	})
	return out, err
}

// validDSC returns the person's registered DSC chain, checked now; an
// error wrapping ErrForbidden when there is none or it is no longer valid
// (expired, revoked).
func (s *Service) validDSC(tx Tx, p *Person) ([]*x509.Certificate, *DSC, error) {
	d, err := tx.DSC(p.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, forbidden("%s has no registered document-signing certificate (DSC); register one first", p.ID)
	}
	if err != nil {
		return nil, nil, err
	}
	chain, err := s.dscs.certificates(d)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkDSCFor(p, chain, s.now()); err != nil {
		return nil, nil, forbidden("%s's registered DSC is no longer valid (%s); register a valid DSC", p.ID, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	return chain, d, nil
}
