package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/partners"
)

// Revocation of partners' TLS certificates (the registry's tls.crls): a
// client certificate that a partner's TLS CRL revokes is refused by the
// partner API (requirePartner, through ClientCertMatcher), and a server
// certificate it revokes fails the TLS handshake of a delivery (the
// client's VerifyConnection). The CRLs come with the registry: a reload
// makes a new CRL count at the next request or connection.

// Problem codes of refused client certificates.
const (
	// CodeRevokedClientCert: the partner's TLS CRL revokes the client
	// certificate (or a CA above it).
	CodeRevokedClientCert = "client-certificate-revoked"
	// CodeTLSCRLStale: the partner's TLS CRL is past its next update, so
	// the certificate cannot be judged (fails closed).
	CodeTLSCRLStale = "tls-crl-stale"
)

// ClientCertMatcher is implemented by partner directories that say why a
// verified client chain maps to no partner. MatchClientCert returns the
// partner, or an error wrapping partners.ErrUnknownPartner,
// partners.ErrAmbiguous, certs.ErrRevoked or certs.ErrCRLStale.
type ClientCertMatcher interface {
	MatchClientCert(chain []*x509.Certificate) (*Partner, error)
}

// CheckTLSRevocation checks verified chains of the partner's TLS
// certificates (leaf first) against its TLS CRLs at time at: nil when one
// chain has no revoked certificate (or the partner has no TLS CRL), else
// an error wrapping certs.ErrRevoked or certs.ErrCRLStale.
func (p *Partner) CheckTLSRevocation(chains [][]*x509.Certificate, at time.Time) error {
	return p.tlsCRLCheck.CheckAny(chains, p.TLSCRLs, at)
}

// verifyPartnerServer is the delivery client's tls.Config.VerifyConnection
// for partner p: after the standard verification against p's TLS CAs, the
// server's chain must not be revoked by p's TLS CRLs.
func (n *Node) verifyPartnerServer(p *Partner) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if err := p.CheckTLSRevocation(cs.VerifiedChains, n.clock.Now()); err != nil {
			return fmt.Errorf("the TLS server certificate of partner %s is refused: %w", p.Country, err)
		}
		return nil
	}
}

// matchClientCert maps a verified client chain to a partner with the
// directory's reason when it maps to none.
func matchClientCert(d PartnerDirectory, chain []*x509.Certificate) (*Partner, error) {
	if m, ok := d.(ClientCertMatcher); ok {
		return m.MatchClientCert(chain)
	}
	if p := d.ByClientCert(chain); p != nil {
		return p, nil
	}
	return nil, partners.ErrUnknownPartner
}

// refusalOf gives the problem code and message of a client chain refused
// by matchClientCert.
func refusalOf(err error) (code, msg string) {
	switch {
	case errors.Is(err, certs.ErrRevoked):
		return CodeRevokedClientCert, "the client certificate is revoked by its CA's CRL (" + err.Error() + "); use a valid certificate"
	case errors.Is(err, certs.ErrCRLStale):
		return CodeTLSCRLStale, "the CRL of the client certificate's CA is not current here, so it cannot be checked; the operator must load a fresh one"
	default:
		return CodeUnknownPartner, "the client certificate belongs to no registered partner"
	}
}
