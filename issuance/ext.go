package issuance

import (
	"context"
	"fmt"
	"time"
)

// ExtTx is the storage of the API-facing records: attachments, payments,
// credentials (API tokens) and exporters' API clients. It is a separate
// interface from Tx (a Tx that also implements it has these records; the
// bbolt one does) so that storage engines can grow it on their own; the
// features below answer ErrNotAvailable on a Tx without it.
type ExtTx interface {
	// PutAttachment stores an attachment's record and bytes (keyed by
	// application and SHA-256; storing the same one again is a no-op).
	PutAttachment(a *Attachment, data []byte) error
	// Attachment returns an attachment's record and bytes.
	Attachment(app, sha256 string) (*Attachment, []byte, error)
	// Attachments lists an application's attachments.
	Attachments(app string) ([]*Attachment, error)

	// Payment returns the record of a gateway transaction id.
	Payment(txn string) (*PaymentRecord, error)
	// PutPayment stores a gateway transaction's record.
	PutPayment(p *PaymentRecord) error

	// Credential returns the credential whose token hashes to hash.
	Credential(hash string) (*Credential, error)
	// PutCredential stores a credential under its hash.
	PutCredential(c *Credential) error
	// DeleteCredential removes a credential (revocation).
	DeleteCredential(hash string) error

	// APIClient returns an exporter's API client.
	APIClient(id string) (*APIClient, error)
	// PutAPIClient stores an API client.
	PutAPIClient(c *APIClient) error
	// APIClients lists the API clients of an IEC.
	APIClients(iec string) ([]*APIClient, error)
}

// ext returns tx's ExtTx, or ErrNotAvailable.
func ext(tx Tx) (ExtTx, error) {
	if e, ok := tx.(ExtTx); ok {
		return e, nil
	}
	return nil, fmt.Errorf("%w: this storage engine keeps no attachments, payments or credentials", ErrNotAvailable)
}

// EventSink hears every move of an application inside the transaction
// that makes it (so that what it queues, e.g. webhooks and notifications
// on the durable outbox, commits with the move or not at all). It must be
// quick and have no effect outside tx: the transaction may run again.
type EventSink interface {
	Changed(ctx context.Context, tx Tx, app *Application, ev Event) error
}

// changed tells the configured sink about ev.
func (s *Service) changed(ctx context.Context, tx Tx, app *Application, ev Event) error {
	if s.cfg.Events == nil {
		return nil
	}
	if err := s.cfg.Events.Changed(ctx, tx, app, ev); err != nil {
		return fmt.Errorf("queue the notifications of %s %s: %w", app.ID, ev.Action, err)
	}
	return nil
}

// ActPay is the event (not a transition: the state stays submitted) of a
// gateway payment confirmed by the gateway's callback.
const ActPay Action = "pay"

// Time is the service's clock (for handlers that need the same time as
// the domain, e.g. token expiry).
func (s *Service) Time() time.Time { return s.now() }
