package issuance

import (
	"context"
	"time"
)

// Store is the storage the service needs (implemented on bbolt by
// store.DB.Issuance). Update runs fn in one write transaction: when fn
// returns an error nothing it wrote is kept. fn may run more than once
// (the engine may retry a group commit), so it must have no effect
// outside tx. View runs fn in a read-only transaction.
type Store interface {
	Update(ctx context.Context, fn func(Tx) error) error
	View(ctx context.Context, fn func(Tx) error) error
}

// Tx is one transaction. Getters return an error wrapping ErrNotFound for
// a missing record. Puts overwrite.
type Tx interface {
	Person(id string) (*Person, error)
	PutPerson(p *Person) error
	// People lists the persons of an organisation (IEC or agency id).
	People(org string) ([]*Person, error)

	Exporter(iec string) (*Exporter, error)
	PutExporter(e *Exporter) error

	Agency(id string) (*Agency, error)
	PutAgency(a *Agency) error
	Office(id string) (*Office, error)
	PutOffice(o *Office) error
	// Offices lists an agency's offices.
	Offices(agency string) ([]*Office, error)

	Application(id string) (*Application, error)
	PutApplication(a *Application) error
	// Applications lists applications by IEC or by office (one of the two
	// set), in id order.
	Applications(q Query) ([]*Application, error)
	// ApplicationByCertificate returns the application that issued the
	// certificate number.
	ApplicationByCertificate(number string) (*Application, error)

	// Balance returns an exporter's e-wallet balance at an office (0 when
	// it never moved).
	Balance(iec, office string) (int64, error)
	// AddMovement records m (m.Seq and m.Balance set here) and refuses,
	// with ErrInsufficientFunds, one that would make the balance negative.
	AddMovement(m *Movement) error
	// Movements lists an e-wallet's movements in order.
	Movements(iec, office string) ([]Movement, error)

	// NextSeq returns the next number of a series (1 first). Because it
	// runs in the transaction, a rolled-back transaction leaves no gap.
	NextSeq(series string) (uint64, error)

	// Audit appends an entry to the node's hash-chained audit log in this
	// transaction.
	Audit(e AuditEntry) error

	SigningTx
}

// SigningTx is the part of a transaction that keeps signing material
// (dsc.go, signing.go): registered DSCs, documents handed out for external
// signing, exporters' signed declarations.
type SigningTx interface {
	// DSC returns a person's registered document-signing certificate.
	DSC(person string) (*DSC, error)
	PutDSC(d *DSC) error
	// PendingSignature returns the document handed out for external
	// signing of an application's certificate.
	PendingSignature(application string) (*PendingSignature, error)
	PutPendingSignature(p *PendingSignature) error
	DeletePendingSignature(application string) error
	// Declaration returns the exporter's signed submission declaration
	// of an application.
	Declaration(application string) (*SignedDeclaration, error)
	PutDeclaration(d *SignedDeclaration) error
}

// Query selects applications.
type Query struct {
	IEC    string
	Office string
	State  State // "" for any
}

// AuditEntry is one audit-log entry (store.Entry without the chain).
type AuditEntry struct {
	Time    time.Time
	Actor   string
	Action  string
	Subject string
	Details map[string]string
}

// Movement is one e-wallet movement: a credit (Amount > 0) or a debit
// (Amount < 0), with its reason. Balance is the balance after it.
type Movement struct {
	Seq         uint64    `json:"seq"`
	IEC         string    `json:"iec"`
	Office      string    `json:"office"`
	Amount      int64     `json:"amount"`
	Balance     int64     `json:"balance"`
	Reason      string    `json:"reason"`
	Application string    `json:"application,omitempty"`
	Actor       string    `json:"actor"`
	At          time.Time `json:"at"`
}
