package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// Envelope is the transport header of one message on the partner API
// (design §7, standards b.1). It is not signed: the receiver reads every
// business field from the signed Content and refuses an envelope whose
// header disagrees with it.
type Envelope struct {
	// MessageID is the sender's message id (a UUIDv7), kept across retries.
	MessageID string `json:"messageId"`
	// From and To are the ISO 3166-1 alpha-2 codes of sender and recipient.
	From string `json:"from"`
	To   string `json:"to"`
	// DocumentType is UNCL 1001 (861, 862, 864, 865).
	DocumentType string `json:"documentType,omitempty"`
	// DocumentStatus is UNCL 4405 (70 issued, 40 withdrawn).
	DocumentStatus string `json:"documentStatus,omitempty"`
	// MessageFunction is UNCL 1225 (9 original, 5 replace, 1 cancellation, ...).
	MessageFunction string `json:"messageFunction,omitempty"`
	// CertificateNumber and Version name the certificate the message carries.
	CertificateNumber string `json:"certificateNumber"`
	Version           int    `json:"version"`
	// Kind is the message kind derived from the content: issue, withdraw or replace.
	Kind string `json:"kind,omitempty"`
	// Created is when the sender queued the message.
	Created time.Time `json:"created,omitzero"`
	// Content is the exact signed XML (base64 in JSON).
	Content []byte `json:"content"`
}

// Outcome is the result a receipt reports (IPPC ePhyto tracking values).
type Outcome string

// Receipt outcomes. Delivered and DeliveredWithWarnings mean the message
// was stored as accepted; DeliveredNotReadable (the XML could not be read)
// and FailedDelivery (bad signature, untrusted signer, header or routing
// error) mean it was not.
const (
	Delivered             Outcome = "Delivered"
	DeliveredWithWarnings Outcome = "DeliveredWithWarnings"
	DeliveredNotReadable  Outcome = "DeliveredNotReadable"
	FailedDelivery        Outcome = "FailedDelivery"
)

// Tracking values that are not receipt outcomes.
const (
	// PendingDelivery: queued or being retried at the sender.
	PendingDelivery Outcome = "PendingDelivery"
	// EnvelopeNotExists: the tracking query names no known message.
	EnvelopeNotExists Outcome = "EnvelopeNotExists"
	// Suspended: the sender's retry policy is spent (dead letter).
	Suspended Outcome = "Suspended"
)

// Accepted reports whether the outcome means the message was stored as accepted.
func (o Outcome) Accepted() bool { return o == Delivered || o == DeliveredWithWarnings }

// Valid reports whether o is one of the four receipt outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case Delivered, DeliveredWithWarnings, DeliveredNotReadable, FailedDelivery:
		return true
	}
	return false
}

// State maps a receipt outcome to the store's delivery state.
func (o Outcome) State() store.State {
	switch o {
	case Delivered:
		return store.StateDelivered
	case DeliveredWithWarnings:
		return store.StateDeliveredWithWarnings
	case DeliveredNotReadable:
		return store.StateNotReadable
	case FailedDelivery:
		return store.StateFailed
	}
	return ""
}

// OutcomeOf maps a store delivery state to a tracking value.
func OutcomeOf(s store.State) Outcome {
	switch s {
	case store.StateDelivered:
		return Delivered
	case store.StateDeliveredWithWarnings:
		return DeliveredWithWarnings
	case store.StateNotReadable:
		return DeliveredNotReadable
	case store.StateFailed:
		return FailedDelivery
	case store.StateSuspended:
		return Suspended
	}
	return PendingDelivery
}

// Receipt is the payload of the JWS a receiving node returns for an
// envelope (message M2 of standards c.3). It is bound to the message by
// MessageID and to the exact content by ContentSHA256.
type Receipt struct {
	// MessageID is the envelope's message id.
	MessageID string `json:"messageId"`
	// Issuer is the country of the node that signed the receipt (the
	// envelope's recipient); Sender is the envelope's sender.
	Issuer string `json:"issuer"`
	Sender string `json:"sender"`
	// Outcome is Delivered, DeliveredWithWarnings, DeliveredNotReadable or FailedDelivery.
	Outcome Outcome `json:"outcome"`
	// CertificateNumber and Version, read from the verified document
	// (empty when it could not be read).
	CertificateNumber string `json:"certificateNumber,omitempty"`
	Version           int    `json:"version,omitempty"`
	// ContentSHA256 is the hex SHA-256 of the envelope's content.
	ContentSHA256 string `json:"contentSha256"`
	// Received is when the receiver decided.
	Received time.Time `json:"received"`
	// Findings are the validation findings (DeliveredWithWarnings) or the
	// reasons the document could not be read.
	Findings schema.Findings `json:"findings,omitempty"`
	// Verification is the signature verification report.
	Verification certs.Report `json:"verification,omitempty"`
	// Error says, for people, why the delivery failed.
	Error string `json:"error,omitempty"`
}

// Tracking is the answer of GET /eco/v1/envelopes/{id} and of the local
// API's outbound tracking.
type Tracking struct {
	MessageID         string  `json:"messageId"`
	TrackingInfo      Outcome `json:"trackingInfo"`
	From              string  `json:"from,omitempty"`
	To                string  `json:"to,omitempty"`
	CertificateNumber string  `json:"certificateNumber,omitempty"`
	Version           int     `json:"version,omitempty"`
	Kind              string  `json:"kind,omitempty"`
	// State is the detailed delivery state (sender side only).
	State    store.State `json:"state,omitempty"`
	Attempts int         `json:"attempts,omitempty"`
	NextTry  time.Time   `json:"nextTry,omitzero"`
	LastErr  string      `json:"lastError,omitempty"`
	Received time.Time   `json:"received,omitzero"`
	// Receipt is the signed receipt (compact JWS), when there is one.
	Receipt string `json:"receipt,omitempty"`
}

// InboxList is the answer of GET /eco/v1/inbox (pull mode): the envelopes
// waiting for the calling partner, oldest first.
type InboxList struct {
	Envelopes []Envelope `json:"envelopes"`
}

// ValidationReport is the answer of POST /eco/v1/validate.
type ValidationReport struct {
	// Outcome is what a delivery of this document would get.
	Outcome           Outcome         `json:"outcome"`
	CertificateNumber string          `json:"certificateNumber,omitempty"`
	Version           int             `json:"version,omitempty"`
	Verification      certs.Report    `json:"verification,omitempty"`
	Findings          schema.Findings `json:"findings,omitempty"`
	Error             string          `json:"error,omitempty"`
}

// Profile is the payload of this node's signed profile (GET /eco/v1/profile):
// what a partner needs to know about the node (message M8).
type Profile struct {
	Country    string    `json:"country"`
	Name       string    `json:"name"`
	Endpoint   string    `json:"endpoint,omitempty"`
	Agreements []string  `json:"agreements,omitempty"`
	Issued     time.Time `json:"issued"`
	// SigningCertificates are the document-signing certificates (base64 DER,
	// signer first, then intermediates).
	SigningCertificates [][]byte `json:"signingCertificates,omitempty"`
	// ReceiptCertificates are the receipt-signing certificate and its chain.
	ReceiptCertificates [][]byte `json:"receiptCertificates,omitempty"`
	// TLSCertificates are the node's TLS server certificate and chain.
	TLSCertificates [][]byte `json:"tlsCertificates,omitempty"`
}

// Problem is the JSON body of an error answer (no receipt).
type Problem struct {
	Status int    `json:"status"`
	Error  string `json:"error"`
	// Code is a stable, machine-readable reason.
	Code string `json:"code"`
}

// Problem codes.
const (
	CodeNoClientCert   = "no-client-certificate"
	CodeUnknownPartner = "unknown-partner"
	CodeSenderMismatch = "sender-mismatch"
	CodeTooLarge       = "body-too-large"
	CodeBadEnvelope    = "bad-envelope"
	CodeConflict       = "id-reused-with-other-content"
	CodeAlreadySent    = "already-sent"
	CodeNotFound       = "not-found"
	CodeUnavailable    = "unavailable"
	CodeInvalid        = "invalid"
	// CodeUnauthorized: a local API request without the configured token.
	CodeUnauthorized = "unauthorized"
)

// SubmitResult is the answer of POST /api/v1/outbound.
type SubmitResult struct {
	Certificate schema.CertRef     `json:"certificate"`
	Kind        string             `json:"kind"`
	Signed      bool               `json:"signedHere"`
	Findings    schema.Findings    `json:"findings,omitempty"`
	Messages    []SubmittedMessage `json:"messages"`
}

// SubmittedMessage is one queued message of a SubmitResult.
type SubmittedMessage struct {
	ID       string `json:"id"`
	To       string `json:"to"`
	Pull     bool   `json:"pull,omitempty"`
	Tracking string `json:"tracking"`
}

// ContentHash is the hex SHA-256 of content, as receipts carry it.
func ContentHash(content []byte) string {
	s := sha256.Sum256(content)
	return hex.EncodeToString(s[:])
}

// Message kinds, derived from the signed document.
const (
	KindIssue    = "issue"
	KindWithdraw = "withdraw"
	KindReplace  = "replace"
)

// KindOf derives the message kind from a certificate: status 40 or message
// function 1 is a withdrawal; function 5 or a ReplacedCertificate is a
// replacement; anything else issues.
func KindOf(c *schema.Certificate) string {
	switch {
	case c.Header.Status == "40" || c.Header.FunctionCode == "1":
		return KindWithdraw
	case c.Header.FunctionCode == "5" || c.Replaces != nil:
		return KindReplace
	}
	return KindIssue
}
