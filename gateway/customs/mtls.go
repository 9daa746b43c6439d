package customs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/store"
)

// Mutual TLS, the customs API's second way in (design §1: "OAuth2
// client-credentials bearer JWT (or mTLS)"). The customs listener asks for
// a client certificate and verifies one when given (customs.clientCAs,
// tls.VerifyClientCertIfGiven), so a caller either presents a certificate
// that the listener verified or none at all. A verified certificate decides
// who the caller is: it must be bound to an active client
// (store.CustomsClient.CertSHA256, registered with
// `ecogate customs-clients add --cert FILE`), not revoked by the configured
// CRLs (customs.clientCRLs) and not expired; the request then runs as that
// client, with its scopes, exactly as one with that client's bearer token.
// A request with a verified certificate is never judged by its bearer
// token instead: a certificate that maps to no client is refused, not
// ignored. Without a certificate the bearer token is required as before.
//
// The binding is the SHA-256 of the whole DER certificate (RFC 8705's
// x5t#S256, the fingerprint `openssl x509 -noout -fingerprint -sha256`
// prints), not of its public key: a registration names one certificate,
// the one the CRLs name by serial number, and a renewed certificate is
// bound again (an audited act, `ecogate customs-clients renew`, renew.go)
// even when it keeps the key.

// Problem codes of refused client certificates (403).
const (
	// CodeCertNotRegistered: the verified certificate is bound to no
	// active client.
	CodeCertNotRegistered = "certificate_not_registered"
	// CodeCertRevoked: a configured CRL revokes the certificate or a CA
	// above it.
	CodeCertRevoked = "certificate_revoked"
	// CodeCertCRLStale: a configured CRL that covers the certificate is
	// past its next update, so the certificate cannot be judged.
	CodeCertCRLStale = "certificate_crl_stale"
	// CodeCertExpired: the certificate expired since the connection was
	// made.
	CodeCertExpired = "certificate_expired"
)

// CertFingerprint is the binding of a client certificate: the lower-case
// hex SHA-256 of its DER bytes.
func CertFingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// ParseClientCert reads the client certificate to bind from PEM (or DER)
// data: exactly one certificate, and no private key (the key stays with
// the declaration system).
func ParseClientCert(data []byte) (*x509.Certificate, error) {
	cs, err := certs.ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	if len(cs) != 1 {
		return nil, fmt.Errorf("give exactly one certificate, the declaration system's client certificate (the file holds %d)", len(cs))
	}
	return cs[0], nil
}

// CheckClientCert refuses a certificate that cannot authenticate a TLS
// client at now: a CA certificate, one outside its validity, or one whose
// extended key usage excludes client authentication.
func CheckClientCert(c *x509.Certificate, now time.Time) error {
	switch {
	case c.IsCA:
		return fmt.Errorf("certificate %q is a CA certificate; give the declaration system's own client certificate (the CA goes into customs.clientCAs)", c.Subject)
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate %q is valid only from %s", c.Subject, c.NotBefore.UTC().Format(time.RFC3339))
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate %q expired on %s; register its renewal", c.Subject, c.NotAfter.UTC().Format(time.RFC3339))
	case len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny):
		return fmt.Errorf("certificate %q does not allow TLS client authentication (extended key usage clientAuth); the handshake would refuse it", c.Subject)
	}
	return nil
}

// certRefusal is why a verified client certificate is refused.
type certRefusal struct {
	status int
	code   string
	msg    string
}

// certEntry is a certificate's client, or why it is refused, remembered
// until recheck.
type certEntry struct {
	client  string
	scopes  []string
	refused *certRefusal
	recheck time.Time
}

// certAuthenticator maps verified client certificates to clients. The
// answer, a refusal included, is remembered per certificate for
// recheckEvery, at most maxTokens certificates; CRLs and the client's
// state are read again after that. A refusal is logged when it is made,
// not on every request that repeats it.
type certAuthenticator struct {
	store Store
	crls  func() []*x509.RevocationList
	now   func() time.Time

	mu    sync.RWMutex
	cache map[[sha256.Size]byte]certEntry
	// check remembers CRL signatures for the CRL set whose first CRL is
	// checkOf; a reloaded set gets a new one (memory stays bounded).
	check   *certs.CRLChecker
	checkOf *x509.RevocationList
}

// clientFromTLS authenticates a request by its verified client
// certificate: the zero entry and nil when there is none (the bearer
// token decides), the certificate's client, or why it is refused.
func (s *Service) clientFromTLS(r *http.Request) (tokenEntry, *certRefusal) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return tokenEntry{}, nil
	}
	a := s.certs
	chains := r.TLS.VerifiedChains
	leaf := chains[0][0]
	sum := sha256.Sum256(leaf.Raw)
	now := a.now()
	if now.After(leaf.NotAfter) {
		return tokenEntry{}, &certRefusal{http.StatusForbidden, CodeCertExpired,
			"the client certificate expired on " + leaf.NotAfter.UTC().Format(time.RFC3339) + "; reconnect with its renewal (bound with ecogate customs-clients renew --cert)"}
	}
	a.mu.RLock()
	e, ok := a.cache[sum]
	a.mu.RUnlock()
	if !ok || !now.Before(e.recheck) {
		fp := hex.EncodeToString(sum[:])
		e = certEntry{refused: a.revoked(chains, now), recheck: now.Add(recheckEvery)}
		if e.refused == nil {
			cl, err := a.store.ClientByCert(r.Context(), fp)
			switch {
			case errors.Is(err, store.ErrNotFound):
				e.refused = &certRefusal{http.StatusForbidden, CodeCertNotRegistered,
					"the client certificate " + clip(leaf.Subject.String(), 200) + " (SHA-256 " + fp + ") is not registered to an active customs client; " +
						"register it with ecogate customs-clients add --cert FILE, or connect without a client certificate and use a bearer token"}
			case err != nil: // not remembered: the next request tries again
				return tokenEntry{}, &certRefusal{http.StatusServiceUnavailable, "unavailable", "the client store cannot be read; try again"}
			default:
				e.client, e.scopes = cl.ID, cl.Scopes
			}
		}
		if e.refused != nil {
			s.log.Warn("customs client certificate refused", "reason", e.refused.code, "sha256", fp, "subject", leaf.Subject.String())
		}
		a.mu.Lock()
		if len(a.cache) >= maxTokens {
			clear(a.cache)
		}
		a.cache[sum] = e
		a.mu.Unlock()
	}
	if e.refused != nil {
		return tokenEntry{}, e.refused
	}
	return tokenEntry{client: e.client, scopes: e.scopes}, nil
}

// revoked checks the verified chains against the configured CRLs: nil
// when one chain passes.
func (a *certAuthenticator) revoked(chains [][]*x509.Certificate, now time.Time) *certRefusal {
	if a.crls == nil {
		return nil
	}
	crls := a.crls()
	if len(crls) == 0 {
		return nil
	}
	a.mu.Lock()
	if a.check == nil || a.checkOf != crls[0] {
		a.check, a.checkOf = &certs.CRLChecker{}, crls[0]
	}
	k := a.check
	a.mu.Unlock()
	first := k.CheckAny(chains, crls, now)
	if first == nil {
		return nil
	}
	if errors.Is(first, certs.ErrCRLStale) {
		return &certRefusal{http.StatusForbidden, CodeCertCRLStale,
			"the CRL of the client certificate's CA is not current here, so the certificate cannot be checked; the node's operator must load a fresh CRL (customs.clientCRLs)"}
	}
	return &certRefusal{http.StatusForbidden, CodeCertRevoked, "the client certificate is revoked: " + first.Error()}
}

// writeCertRefusal answers a refused client certificate.
func writeCertRefusal(w http.ResponseWriter, ref *certRefusal) {
	writeProblem(w, ref.status, ref.code, ref.msg)
}

// AddCertClient registers a client that authenticates with the client
// certificate cert (mutual TLS) and has no secret; as AddClient otherwise.
// A certificate that cannot authenticate a client at now, or one bound to
// another active client, is refused (ErrBadClientRequest, or the store's
// ErrConflict).
func AddCertClient(ctx context.Context, admin ClientAdmin, audit AuditLog, actor, name string, scopes []string, cert *x509.Certificate, now time.Time) (*NewClient, error) {
	if cert == nil {
		return nil, fmt.Errorf("%w: no client certificate given", ErrBadClientRequest)
	}
	if err := CheckClientCert(cert, now); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadClientRequest, err)
	}
	return addClient(ctx, admin, audit, actor, name, scopes, cert, now)
}

// certDetails are the audit details of a certificate binding.
func certDetails(cl store.CustomsClient, d map[string]string) map[string]string {
	if cl.CertSHA256 != "" {
		d["certSHA256"] = cl.CertSHA256
		d["certSubject"] = cl.CertSubject
	}
	return d
}

// certSubject is the subject shown for a bound certificate.
func certSubject(c *x509.Certificate) string {
	return strings.ToValidUTF8(clip(c.Subject.String(), 256), "?")
}
