package customs

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/ecogate/ecogate/store"
)

// Renewal of a client certificate with an overlap window. A client bound
// to a certificate holds at most two bindings: its current certificate
// and, during a renewal, the next one (RenewCertClient, `ecogate
// customs-clients renew --cert FILE ID`). Both authenticate as the same
// client id with the same scopes, so decisions keep their audit actor,
// and the declaration system's instances can switch one by one (a rolling
// deployment), each when it is ready. The old binding ends, and the next
// certificate becomes the current one, when the operator finishes the
// renewal (`renew --finish`, once every instance uses the new
// certificate); an expired old certificate authenticates nothing
// meanwhile (the handshake and clientFromTLS refuse it). Each step is
// audited: customs-client.renew and customs-client.renew-finish.

// RenewClientRequest is the body of POST /customs-clients/{id}/renew:
// the next certificate (PEM) of a certificate client, and whether the
// renewal ends at once (Finish; with no certificate: the renewal in
// progress ends).
type RenewClientRequest struct {
	Certificate string `json:"certificate,omitempty"`
	Finish      bool   `json:"finish,omitempty"`
}

// RenewCertClient binds cert as the next certificate of the certificate
// client id (beside its current one; a pending renewal to another
// certificate is replaced) and, with finish, ends the old binding at once;
// cert nil with finish ends the renewal in progress. It writes the audit
// entries (actor as for AddClient) and returns the client as it is now. A
// certificate that cannot authenticate a client at now is
// ErrBadClientRequest; the store's ErrNotFound, ErrConflict (a revoked
// client, a certificate bound to another active client, no renewal to
// finish) and ErrInvalid (a client without a certificate) pass through.
// When the change is stored but an audit entry fails, the client and the
// error are returned together.
func RenewCertClient(ctx context.Context, admin ClientAdmin, audit AuditLog, actor, id string, cert *x509.Certificate, finish bool, now time.Time) (*ClientInfo, error) {
	if cert == nil && !finish {
		return nil, fmt.Errorf("%w: give the renewed client certificate (or finish the renewal in progress)", ErrBadClientRequest)
	}
	var cl store.CustomsClient
	next := ""
	if cert != nil {
		if err := CheckClientCert(cert, now); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadClientRequest, err)
		}
		nc := store.ClientCert{SHA256: CertFingerprint(cert), Subject: certSubject(cert), NotAfter: cert.NotAfter.UTC()}
		before, err := admin.RenewClientCert(ctx, id, nc)
		if err != nil {
			return nil, err
		}
		cl, next = *before, nc.SHA256
		if cl.NextCertSHA256 != next {
			d := map[string]string{"certSHA256": nc.SHA256, "certSubject": nc.Subject, "certNotAfter": nc.NotAfter.Format(time.RFC3339),
				"currentCertSHA256": cl.CertSHA256}
			if cl.NextCertSHA256 != "" {
				d["replacedCertSHA256"] = cl.NextCertSHA256
			}
			cl.NextCertSHA256, cl.NextCertSubject, cl.NextCertNotAfter = nc.SHA256, nc.Subject, nc.NotAfter
			if err := appendAudit(ctx, audit, actor, "customs-client.renew", id, d); err != nil {
				info := InfoOf(cl)
				return &info, fmt.Errorf("the certificate of client %s was renewed but its audit entry failed: %w", id, err)
			}
		}
	}
	if finish {
		before, err := admin.FinishClientRenewal(ctx, id, next)
		if err != nil {
			if next != "" {
				info := InfoOf(cl)
				return &info, fmt.Errorf("the next certificate of client %s is bound, but the renewal did not finish: %w", id, err)
			}
			return nil, err
		}
		cl = renewed(*before)
		if err := appendAudit(ctx, audit, actor, "customs-client.renew-finish", id, finishDetails(before)); err != nil {
			info := InfoOf(cl)
			return &info, fmt.Errorf("the renewal of client %s finished but its audit entry failed: %w", id, err)
		}
	}
	info := InfoOf(cl)
	return &info, nil
}

// renewed is cl after its renewal finished.
func renewed(cl store.CustomsClient) store.CustomsClient {
	cl.CertSHA256, cl.CertSubject, cl.CertNotAfter = cl.NextCertSHA256, cl.NextCertSubject, cl.NextCertNotAfter
	cl.NextCertSHA256, cl.NextCertSubject, cl.NextCertNotAfter = "", "", time.Time{}
	return cl
}

// finishDetails are the audit details of a finished renewal of before
// (the client as it was): only the operator finishes one (by).
func finishDetails(before *store.CustomsClient) map[string]string {
	return map[string]string{"certSHA256": before.NextCertSHA256, "certSubject": before.NextCertSubject,
		"endedCertSHA256": before.CertSHA256, "by": "operator"}
}

// appendAudit appends an audit entry when audit is set.
func appendAudit(ctx context.Context, audit AuditLog, actor, action, subject string, details map[string]string) error {
	if audit == nil {
		return nil
	}
	_, err := audit.Append(ctx, store.Entry{Actor: actor, Action: action, Subject: subject, Details: details})
	return err
}
