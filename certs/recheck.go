package certs

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors of CRLChecker.Check, tested with errors.Is.
var (
	// ErrRevoked means a certificate of the chain is on its issuer's CRL.
	ErrRevoked = errors.New("certificate revoked")
	// ErrCRLStale means the CRL that covers a certificate of the chain is
	// not valid now (past its next update, or not yet valid): revocation
	// cannot be judged, and the check fails closed.
	ErrCRLStale = errors.New("CRL not current")
)

// Recheck re-evaluates, against the trust store as it is now, a signer
// chain that an earlier Verify accepted (Result.Chain, or the certificates
// the signature carried; signer first): the chain must still lead to one of
// the store's anchors with every certificate valid at signedAt (the time
// the document was verified or signed), the signer must still carry a
// signing key usage, and no certificate of the chain may be revoked by the
// store's CRLs judged at the Verifier's policy time (normally now: CRLs
// loaded after the document arrived count). It returns the signer-trust
// and revocation entries, as Verify would report them. Chain building is
// cached as in Verify, so a recheck of a known chain costs a hash and the
// CRL scan.
func (v *Verifier) Recheck(chain []*x509.Certificate, signedAt time.Time) Report {
	if v.Trust == nil {
		return Report{{CheckTrust, StatusError, "trust.no-anchors", "no trust store configured for this partner"}}
	}
	if len(chain) == 0 || chain[0] == nil {
		return Report{{CheckTrust, StatusError, "trust.no-chain", "no signer certificate is known for this document"}}
	}
	times := []time.Time{signedAt}
	if signedAt.IsZero() {
		times[0] = v.at()
	}
	built, entry := v.checkChain(chain[0], chain[1:], times)
	if built == nil {
		return Report{entry, {CheckRevocation, StatusSkipped, "skipped", "no trusted chain"}}
	}
	return Report{entry, v.checkRevocation(built, v.at())}
}

// CRLWindow returns the period in which the store's CRLs are all current:
// the latest ThisUpdate and the earliest NextUpdate (zero when no CRL has
// one). A revocation judgment made at a time inside the window holds for
// any other time inside it, as long as the CRLs do not change.
func CRLWindow(crls []*x509.RevocationList) (from, till time.Time) {
	for _, c := range crls {
		if c.ThisUpdate.After(from) {
			from = c.ThisUpdate
		}
		if !c.NextUpdate.IsZero() && (till.IsZero() || c.NextUpdate.Before(till)) {
			till = c.NextUpdate
		}
	}
	return from, till
}

// CRLChecker checks verified TLS chains (leaf first, as crypto/tls and
// x509.Verify give them) against CRLs. It remembers which CRL signatures
// it checked, so that a chain checked on every request costs a scan of the
// CRLs' entries only. The zero value is ready; it is safe for concurrent
// use. Make one per set of CRLs (for example per loaded registry) so the
// memory stays bounded.
type CRLChecker struct {
	signed sync.Map // crlKey -> bool
}

// ErrNoChain is returned by CheckAny when it is given no chain to check.
var ErrNoChain = errors.New("no verified certificate chain")

// CheckAny checks verified chains (leaf first, as crypto/tls and
// x509.Verify give them; a certificate may have several) against crls at
// time at: nil when there are no CRLs or one chain passes Check, else the
// error of the first chain (ErrNoChain when there is none).
func (k *CRLChecker) CheckAny(chains [][]*x509.Certificate, crls []*x509.RevocationList, at time.Time) error {
	if len(crls) == 0 {
		return nil
	}
	first := ErrNoChain
	for i, ch := range chains {
		err := k.Check(ch, crls, at)
		if err == nil {
			return nil
		}
		if i == 0 {
			first = err
		}
	}
	return first
}

// Check returns nil when no certificate of chain is on a CRL of crls
// issued by the next certificate of the chain; an error wrapping
// ErrRevoked when one is, and one wrapping ErrCRLStale when a CRL that
// covers a certificate is not current at at. Certificates that no CRL
// covers pass (the CRLs configured are the ones that count).
func (k *CRLChecker) Check(chain []*x509.Certificate, crls []*x509.RevocationList, at time.Time) error {
	if len(crls) == 0 {
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		c, issuer := chain[i], chain[i+1]
		for _, crl := range crls {
			if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || !k.signedBy(crl, issuer) {
				continue
			}
			if at.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && at.After(crl.NextUpdate)) {
				return fmt.Errorf("the CRL of %q is valid %s to %s, not at %s; fetch a current CRL: %w", issuer.Subject.CommonName,
					crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), ErrCRLStale)
			}
			for _, r := range crl.RevokedCertificateEntries {
				if r.SerialNumber.Cmp(c.SerialNumber) == 0 {
					return fmt.Errorf("certificate %q (serial %X) was revoked by %q on %s: %w", c.Subject.CommonName, c.SerialNumber,
						issuer.Subject.CommonName, r.RevocationTime.UTC().Format(time.RFC3339), ErrRevoked)
				}
			}
		}
	}
	return nil
}

func (k *CRLChecker) signedBy(crl *x509.RevocationList, issuer *x509.Certificate) bool {
	key := crlKey{crl, string(issuer.Raw)}
	if ok, found := k.signed.Load(key); found {
		return ok.(bool)
	}
	ok := crl.CheckSignatureFrom(issuer) == nil
	k.signed.Store(key, ok)
	return ok
}

// SignatureCertificates returns the certificates in the KeyInfo of a
// document's enveloped signature, signer first, after the strict parse and
// the profile check (no signature value or trust is checked: use it to
// recover the chain of a document verified before, for Recheck).
func SignatureCertificates(doc []byte, lim Limits) ([]*x509.Certificate, error) {
	d, err := ParseStrict(doc, lim)
	if err != nil {
		return nil, err
	}
	ps, verr := checkProfile(d.Root())
	if verr != nil {
		return nil, fmt.Errorf("signature: %s: %s", verr.reason, verr.detail)
	}
	out := []*x509.Certificate{ps.leaf}
	for _, c := range ps.certs {
		if c != ps.leaf {
			out = append(out, c)
		}
	}
	return out, nil
}
