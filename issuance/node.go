package issuance

import (
	"context"
	"crypto"
	"crypto/x509"
	"time"

	"github.com/ecogate/ecogate/schema"
)

// Certificate is what the issue produces: the application's content under
// its number, as the signer signs it and the node registers and sends it.
type Certificate struct {
	Number      string    `json:"number"`
	Country     string    `json:"country"`
	Kind        Kind      `json:"kind"`
	Concerns    CertRef   `json:"concerns,omitzero"`
	Application string    `json:"application"`
	IEC         string    `json:"iec"`
	Exporter    string    `json:"exporter"`
	Agency      string    `json:"agency"`
	Office      string    `json:"office"`
	Officer     string    `json:"officer"`
	IssuedAt    time.Time `json:"issuedAt"`
	Content     Content   `json:"content"`

	// ECO is the canonical e-CO built from the application (ecodoc.go),
	// Document its unsigned XML, the exact bytes the officer signs.
	ECO      *schema.Certificate `json:"-"`
	Document []byte              `json:"-"`
	// SignerChain is the officer's registered DSC with its
	// intermediates (nil when no DSC trust is configured).
	SignerChain []*x509.Certificate `json:"-"`
}

// Signer signs a certificate with the officer's key and returns the
// signed document (the e-CO). The node-held path implements it over a
// crypto.Signer per officer (PEM, PKCS#12 or an HSM); the external
// signing path (USB tokens) will supply an already signed document
// instead. It runs inside the issue transaction, so it must be quick and
// have no other effect.
type Signer interface {
	Sign(ctx context.Context, officer *Person, c *Certificate) ([]byte, error)
}

// OfficerKeys gives the node-held key of an officer, for a Signer built on
// crypto.Signer.
type OfficerKeys interface {
	Key(ctx context.Context, officerID string) (crypto.Signer, error)
}

// Node is the exchange node as the issuance needs it: register a signed
// certificate in the issued register (so verification answers for it at
// once) and, when the importing country is a registered partner, queue it
// on the outbox, both inside tx, the transaction that moves the
// application to issued. The bbolt implementation will reach the
// transaction through the store's Tx.
type Node interface {
	RegisterAndQueue(ctx context.Context, tx Tx, c *Certificate, signed []byte) error
}

// PaymentGateway is the online payment path for a fee (redirect and
// callback). Not wired yet: Submit with PayGateway fails with
// ErrNotAvailable when Config.Payments is nil.
type PaymentGateway interface {
	// Start records a pending payment and returns where to send the
	// exporter.
	Start(ctx context.Context, office *Office, application string, amount int64) (redirectURL string, err error)
}
