package gateway

import (
	"context"
	"crypto/x509"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// The interfaces below are what the node needs from storage, trust and
// validation. They are declared here, by their consumer; *store.Outbox,
// *store.Inbox and *store.Audit satisfy Outbox, Inbox and AuditLog as they
// are, and adapters.go wires certs and schema.

// Outbox is the durable queue of outbound messages (satisfied by *store.Outbox).
type Outbox interface {
	Enqueue(ctx context.Context, msgs ...store.OutMessage) error
	// EnqueueRegistered stores a submission as one act: the messages, the
	// certificate's entries in the register of issued certificates and the
	// audit entries (nil when the audit log is another store) in one
	// transaction, all or nothing; a refused enqueue registers nothing.
	EnqueueRegistered(ctx context.Context, register []store.IssuedCert, audit []store.Entry, msgs ...store.OutMessage) error
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.OutRecord, error)
	MarkAttempt(ctx context.Context, id string, a store.Attempt) error
	Suspend(ctx context.Context, id, reason string) error
	Retry(ctx context.Context, id string) error
	Get(ctx context.Context, id string) (*store.OutRecord, error)
	List(ctx context.Context, f store.Filter) ([]store.OutRecord, error)
	CountByState(ctx context.Context) (map[store.State]int, error)
	DepthByState(ctx context.Context) (map[string]map[store.State]int, error)
	Waiting(ctx context.Context, partner string, limit int) ([]store.OutRecord, error)
	Ack(ctx context.Context, partner, id string, outcome store.State, receipt []byte) error
}

// Inbox stores inbound messages with deduplication (satisfied by *store.Inbox).
type Inbox interface {
	Accept(ctx context.Context, rec store.InRecord) (*store.InRecord, error)
	SetReceipt(ctx context.Context, id string, outcome store.State, receipt []byte) (*store.InRecord, error)
	Get(ctx context.Context, id string) (*store.InRecord, error)
	List(ctx context.Context, outcome store.State, limit int) ([]store.InRecord, error)
	CertStatuses(ctx context.Context, country, number string) ([]store.CertStatus, error)
}

// AuditLog is the append-only, hash-chained audit log (satisfied by *store.Audit).
type AuditLog interface {
	Append(ctx context.Context, e store.Entry) (store.Entry, error)
}

// Verification is the result of verifying a signed document.
type Verification struct {
	// Valid is true when every check passed.
	Valid bool
	// Element is the verified root element: the only tree business fields
	// may be read from. Nil unless Valid.
	Element *etree.Element
	// Signer is the signing certificate, when found.
	Signer *x509.Certificate
	// Chain is the validated chain, signer first, anchor last (nil unless
	// the chain was trusted).
	Chain []*x509.Certificate
	// Report has one entry per check.
	Report certs.Report
	// Unreadable is true when the document is not well-formed XML or is
	// refused by the strict parser (DOCTYPE, depth, size).
	Unreadable bool

	release func()
}

// Release hands the memory of Element's tree back for reuse by later
// verifications (certs.Result.Release); call it at most once, when neither
// Element nor any node taken from it is in use any more (strings read
// from it stay valid). Without it the tree is left to the collector.
func (v *Verification) Release() {
	if v != nil && v.release != nil {
		f := v.release
		v.release, v.Element = nil, nil
		f()
	}
}

// DocumentVerifier verifies an e-CO's enveloped signature against a trust
// store (a partner's document-signing anchors and CRLs, or this node's own).
// It returns an error only when verification could not be attempted.
type DocumentVerifier interface {
	Verify(ctx context.Context, trust certs.TrustStore, doc []byte) (*Verification, error)
}

// DocumentSigner signs an unsigned e-CO with the issuing authority's key.
type DocumentSigner interface {
	Sign(ctx context.Context, doc []byte) ([]byte, error)
	// Chain is the signer certificate followed by intermediates.
	Chain() []*x509.Certificate
}

// ParsedVerifier is implemented by document verifiers that can verify a
// document already parsed by certs.ParseForSigning (Submit parses once to
// see whether a document is signed, and verifies that tree).
type ParsedVerifier interface {
	VerifyParsed(ctx context.Context, trust certs.TrustStore, p *certs.Parsed) (*Verification, error)
}

// ParsedSigner is implemented by document signers that can sign a
// document already parsed by certs.ParseForSigning (Submit parses once,
// decodes from the tree, and signs it).
type ParsedSigner interface {
	SignParsed(ctx context.Context, p *certs.Parsed) ([]byte, error)
}

// Validator validates a decoded certificate against the dataset, code lists
// and its agreement profile.
type Validator interface {
	Validate(ctx context.Context, c *schema.Certificate) schema.Findings
}

// ReceiptSigner signs receipts and the node profile as compact JWS.
type ReceiptSigner interface {
	SignJWS(payload []byte) ([]byte, error)
	// Chain is the receipt certificate followed by intermediates.
	Chain() []*x509.Certificate
}

// ReceiptVerifier verifies a partner's compact JWS against a trust store
// and returns the payload.
type ReceiptVerifier interface {
	VerifyJWS(token []byte, trust certs.TrustStore, at time.Time) ([]byte, error)
}

// PartnerDirectory is the partner registry as the node sees it. It may
// change at any time (reload); callers do not keep the results long.
type PartnerDirectory interface {
	// Lookup returns the partner with the country code, or nil.
	Lookup(country string) *Partner
	// ByClientCert returns the partner whose TLS CAs issued the verified
	// client chain (leaf first, anchor last), or nil.
	ByClientCert(chain []*x509.Certificate) *Partner
	// ClientCAs returns the pool of every partner's TLS CAs.
	ClientCAs() *x509.CertPool
	// All lists the partners.
	All() []*Partner
}

// Clock gives the time; tests inject their own.
type Clock interface{ Now() time.Time }

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now returns f().
func (f ClockFunc) Now() time.Time { return f() }

// Partner is one partner country as the node uses it.
type Partner struct {
	// Country is the ISO 3166-1 alpha-2 code, upper case.
	Country string
	// Name is for people.
	Name string
	// Endpoint is the base URL of the partner API, e.g.
	// https://eco.example.vn/eco/v1 (push mode).
	Endpoint string
	// Pull is true when the partner fetches its messages from us.
	Pull bool
	// TLSCAs authenticate the partner's TLS client certificates, and its
	// server certificate when we push to it.
	TLSCAs []*x509.Certificate
	// TLSCRLs are the CRLs of the partner's TLS CAs: a client or server
	// certificate they revoke is refused (CheckTLSRevocation).
	TLSCRLs []*x509.RevocationList
	// DocumentTrust holds the partner's document-signing anchors and CRLs.
	DocumentTrust certs.TrustStore
	// Agreements lists the agreement codes exchanged with the partner.
	Agreements []string
	// Retry is the delivery retry policy; zero fields take
	// partners.DefaultRetryPolicy's values.
	Retry partners.RetryPolicy

	receiptOnce  sync.Once
	receiptTrust certs.TrustStore
	tlsCRLCheck  certs.CRLChecker
}

// ReceiptTrust is the trust store for the partner's signed receipts and
// profile: its document-signing anchors and its TLS CAs, with its CRLs.
// (The development PKI issues the receipt certificate under the root that
// also anchors document signing and TLS.) It is built once per Partner.
func (p *Partner) ReceiptTrust() certs.TrustStore {
	p.receiptOnce.Do(func() {
		ts := &certs.TrustSet{}
		if p.DocumentTrust != nil {
			ts.AnchorCerts = append(ts.AnchorCerts, p.DocumentTrust.Anchors()...)
			ts.RevocationLists = append(ts.RevocationLists, p.DocumentTrust.CRLs()...)
			if is, ok := p.DocumentTrust.(certs.IntermediateSource); ok {
				ts.ExtraIntermediates = append(ts.ExtraIntermediates, is.Intermediates()...)
			}
		}
		ts.AnchorCerts = append(ts.AnchorCerts, p.TLSCAs...)
		p.receiptTrust = ts
	})
	return p.receiptTrust
}

// HasAgreement reports whether the partner exchanges under the agreement
// (an empty list allows every agreement).
func (p *Partner) HasAgreement(a string) bool {
	if len(p.Agreements) == 0 {
		return true
	}
	for _, x := range p.Agreements {
		if x == a {
			return true
		}
	}
	return false
}
