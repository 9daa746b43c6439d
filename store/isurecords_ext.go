package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/ecogate/ecogate/issuance"
)

// Buckets of the issuance workflow's signing material, of the issuance
// API's records (issuance.ExtTx) and of the signature and stamp images
// (issuance.ImageTx), created on first write.
const (
	bktIsuDSC        = "isu_dsc"         // person id -> JSON issuance.DSC
	bktIsuPending    = "isu_tosign"      // application id -> JSON issuance.PendingSignature
	bktIsuDecl       = "isu_decl"        // application id -> JSON issuance.SignedDeclaration
	bktIsuAttach     = "isu_attach"      // application 0 sha256 -> JSON issuance.Attachment
	bktIsuAttachData = "isu_attach_data" // application 0 sha256 -> bytes
	bktIsuPayment    = "isu_payment"     // gateway txn id -> JSON issuance.PaymentRecord
	bktIsuCred       = "isu_cred"        // token hash -> JSON issuance.Credential
	bktIsuClient     = "isu_client"      // client id -> JSON issuance.APIClient
	bktIsuClientIEC  = "isu_client_iec"  // IEC 0 client id -> ""
	bktIsuImage      = "isu_image"       // kind 0 owner -> JSON issuance.Image
	bktIsuImageData  = "isu_image_data"  // kind 0 owner -> bytes
)

// DSC implements issuance.Tx.
func (r *isuRecords) DSC(person string) (*issuance.DSC, error) {
	return getRecord[issuance.DSC](r, bktIsuDSC, "document-signing certificate of", person)
}

// PutDSC implements issuance.Tx.
func (r *isuRecords) PutDSC(d *issuance.DSC) error {
	return r.putJSON(bktIsuDSC, "person", d.Person, d)
}

// PendingSignature implements issuance.Tx.
func (r *isuRecords) PendingSignature(app string) (*issuance.PendingSignature, error) {
	return getRecord[issuance.PendingSignature](r, bktIsuPending, "document to sign of application", app)
}

// PutPendingSignature implements issuance.Tx.
func (r *isuRecords) PutPendingSignature(p *issuance.PendingSignature) error {
	return r.putJSON(bktIsuPending, "application", p.Application, p)
}

// DeletePendingSignature implements issuance.Tx.
func (r *isuRecords) DeletePendingSignature(app string) error {
	return r.kv.kvDelete(bktIsuPending, []byte(app))
}

// Declaration implements issuance.Tx.
func (r *isuRecords) Declaration(app string) (*issuance.SignedDeclaration, error) {
	return getRecord[issuance.SignedDeclaration](r, bktIsuDecl, "signed declaration of application", app)
}

// PutDeclaration implements issuance.Tx.
func (r *isuRecords) PutDeclaration(d *issuance.SignedDeclaration) error {
	return r.putJSON(bktIsuDecl, "application", d.Application, d)
}

// putWithData stores meta under k in bucket bkt and data under k in
// bucket dataBkt (a record and its bytes).
func (r *isuRecords) putWithData(bkt, dataBkt string, k []byte, meta any, data []byte) error {
	if err := r.putJSONKey(bkt, k, meta); err != nil {
		return err
	}
	return r.kv.kvPut(dataBkt, k, data)
}

// PutAttachment implements issuance.ExtTx.
func (r *isuRecords) PutAttachment(a *issuance.Attachment, data []byte) error {
	if err := checkID("application", a.Application); err != nil {
		return err
	}
	return r.putWithData(bktIsuAttach, bktIsuAttachData, key([]byte(a.Application), []byte(a.SHA256)), a, data)
}

// Attachment implements issuance.ExtTx. An attachment whose record or
// bytes are missing is not found.
func (r *isuRecords) Attachment(app, sha string) (*issuance.Attachment, []byte, error) {
	k := key([]byte(app), []byte(sha))
	raw, err := r.kv.kvGet(bktIsuAttach, k)
	if err != nil {
		return nil, nil, err
	}
	data, err := r.kv.kvGet(bktIsuAttachData, k)
	if err != nil {
		return nil, nil, err
	}
	if raw == nil || data == nil {
		return nil, nil, notFound("attachment", app+"/"+sha)
	}
	var a issuance.Attachment
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, nil, fmt.Errorf("decode attachment %s/%s: %w", app, sha, err)
	}
	return &a, bytes.Clone(data), nil
}

// Attachments implements issuance.ExtTx (an empty, non-nil list when
// there is none).
func (r *isuRecords) Attachments(app string) ([]*issuance.Attachment, error) {
	out := []*issuance.Attachment{}
	err := r.kv.kvScan(bktIsuAttach, prefix([]byte(app)), func(_, v []byte) error {
		var a issuance.Attachment
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		out = append(out, &a)
		return nil
	})
	return out, err
}

// Payment implements issuance.ExtTx.
func (r *isuRecords) Payment(txn string) (*issuance.PaymentRecord, error) {
	return getRecord[issuance.PaymentRecord](r, bktIsuPayment, "payment", txn)
}

// PutPayment implements issuance.ExtTx.
func (r *isuRecords) PutPayment(p *issuance.PaymentRecord) error {
	return r.putJSON(bktIsuPayment, "payment", p.Txn, p)
}

// Credential implements issuance.ExtTx.
func (r *isuRecords) Credential(hash string) (*issuance.Credential, error) {
	return getRecord[issuance.Credential](r, bktIsuCred, "credential", hash)
}

// PutCredential implements issuance.ExtTx.
func (r *isuRecords) PutCredential(c *issuance.Credential) error {
	return r.putJSON(bktIsuCred, "credential", c.Hash, c)
}

// DeleteCredential implements issuance.ExtTx.
func (r *isuRecords) DeleteCredential(hash string) error {
	return r.kv.kvDelete(bktIsuCred, []byte(hash))
}

// APIClient implements issuance.ExtTx.
func (r *isuRecords) APIClient(id string) (*issuance.APIClient, error) {
	return getRecord[issuance.APIClient](r, bktIsuClient, "API client", id)
}

// PutAPIClient implements issuance.ExtTx.
func (r *isuRecords) PutAPIClient(c *issuance.APIClient) error {
	return r.putOwned(bktIsuClient, "API client", c.ID, c, bktIsuClientIEC, "IEC", c.IEC)
}

// APIClients implements issuance.ExtTx.
func (r *isuRecords) APIClients(iec string) ([]*issuance.APIClient, error) {
	return listBy(r, bktIsuClientIEC, iec, r.APIClient)
}

// PutImage implements issuance.ImageTx (replacing the owner's image of
// that kind).
func (r *isuRecords) PutImage(img *issuance.Image, data []byte) error {
	if err := checkID("image owner", img.Owner); err != nil {
		return err
	}
	return r.putWithData(bktIsuImage, bktIsuImageData, key([]byte(img.Kind), []byte(img.Owner)), img, data)
}

// Image implements issuance.ImageTx. An image whose record is there
// without its bytes is reported as ErrCorrupt.
func (r *isuRecords) Image(kind issuance.ImageKind, owner string) (*issuance.Image, []byte, error) {
	k := key([]byte(kind), []byte(owner))
	raw, err := r.kv.kvGet(bktIsuImage, k)
	if err != nil {
		return nil, nil, err
	}
	if raw == nil {
		return nil, nil, notFound(string(kind)+" image", owner)
	}
	data, err := r.kv.kvGet(bktIsuImageData, k)
	if err != nil {
		return nil, nil, err
	}
	if data == nil {
		return nil, nil, fmt.Errorf("%s image of %s: its bytes are missing: %w", kind, owner, ErrCorrupt)
	}
	var img issuance.Image
	if err := json.Unmarshal(raw, &img); err != nil {
		return nil, nil, fmt.Errorf("decode %s image of %s: %w", kind, owner, err)
	}
	return &img, bytes.Clone(data), nil
}
