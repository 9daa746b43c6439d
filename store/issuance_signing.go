package store

import (
	"github.com/ecogate/ecogate/issuance"
)

// Buckets of the issuance workflow's signing material, created on first
// write.
const (
	bktIsuDSC     = "isu_dsc"    // person id -> JSON issuance.DSC
	bktIsuPending = "isu_tosign" // application id -> JSON issuance.PendingSignature
	bktIsuDecl    = "isu_decl"   // application id -> JSON issuance.SignedDeclaration
)

// DSC implements issuance.Tx.
func (t *IssuanceTx) DSC(person string) (*issuance.DSC, error) {
	var d issuance.DSC
	if err := t.get(bktIsuDSC, "document-signing certificate of", person, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// PutDSC implements issuance.Tx.
func (t *IssuanceTx) PutDSC(d *issuance.DSC) error {
	return t.put(bktIsuDSC, "person", d.Person, d)
}

// PendingSignature implements issuance.Tx.
func (t *IssuanceTx) PendingSignature(app string) (*issuance.PendingSignature, error) {
	var p issuance.PendingSignature
	if err := t.get(bktIsuPending, "document to sign of application", app, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PutPendingSignature implements issuance.Tx.
func (t *IssuanceTx) PutPendingSignature(p *issuance.PendingSignature) error {
	return t.put(bktIsuPending, "application", p.Application, p)
}

// DeletePendingSignature implements issuance.Tx.
func (t *IssuanceTx) DeletePendingSignature(app string) error {
	return t.unindex(bktIsuPending, []byte(app))
}

// Declaration implements issuance.Tx.
func (t *IssuanceTx) Declaration(app string) (*issuance.SignedDeclaration, error) {
	var d issuance.SignedDeclaration
	if err := t.get(bktIsuDecl, "signed declaration of application", app, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// PutDeclaration implements issuance.Tx.
func (t *IssuanceTx) PutDeclaration(d *issuance.SignedDeclaration) error {
	return t.put(bktIsuDecl, "application", d.Application, d)
}
