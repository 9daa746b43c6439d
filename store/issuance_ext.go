package store

import (
	"encoding/json"
	"fmt"

	"github.com/ecogate/ecogate/issuance"
)

// Buckets of the issuance API's records (issuance.ExtTx), created on first
// write.
const (
	bktIsuAttach     = "isu_attach"      // application 0 sha256 -> JSON issuance.Attachment
	bktIsuAttachData = "isu_attach_data" // application 0 sha256 -> bytes
	bktIsuPayment    = "isu_payment"     // gateway txn id -> JSON issuance.PaymentRecord
	bktIsuCred       = "isu_cred"        // token hash -> JSON issuance.Credential
	bktIsuClient     = "isu_client"      // client id -> JSON issuance.APIClient
	bktIsuClientIEC  = "isu_client_iec"  // IEC 0 client id -> ""
)

var _ issuance.ExtTx = (*IssuanceTx)(nil)

// PutAttachment implements issuance.ExtTx.
func (t *IssuanceTx) PutAttachment(a *issuance.Attachment, data []byte) error {
	if err := checkID("application", a.Application); err != nil {
		return err
	}
	k := key([]byte(a.Application), []byte(a.SHA256))
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := t.index(bktIsuAttach, k, raw); err != nil {
		return err
	}
	return t.index(bktIsuAttachData, k, data)
}

// Attachment implements issuance.ExtTx.
func (t *IssuanceTx) Attachment(app, sha string) (*issuance.Attachment, []byte, error) {
	k := key([]byte(app), []byte(sha))
	b, d := bucketOf(t.tx, bktIsuAttach), bucketOf(t.tx, bktIsuAttachData)
	if b == nil || d == nil || b.Get(k) == nil {
		return nil, nil, notFound("attachment", app+"/"+sha)
	}
	var a issuance.Attachment
	if err := json.Unmarshal(b.Get(k), &a); err != nil {
		return nil, nil, fmt.Errorf("decode attachment %s/%s: %w", app, sha, err)
	}
	return &a, append([]byte(nil), d.Get(k)...), nil
}

// Attachments implements issuance.ExtTx.
func (t *IssuanceTx) Attachments(app string) ([]*issuance.Attachment, error) {
	out := []*issuance.Attachment{}
	b := bucketOf(t.tx, bktIsuAttach)
	if b == nil {
		return out, nil
	}
	err := t.scan(bktIsuAttach, prefix([]byte(app)), func(sha string) error {
		var a issuance.Attachment
		if err := json.Unmarshal(b.Get(key([]byte(app), []byte(sha))), &a); err != nil {
			return err
		}
		out = append(out, &a)
		return nil
	})
	return out, err
}

// Payment implements issuance.ExtTx.
func (t *IssuanceTx) Payment(txn string) (*issuance.PaymentRecord, error) {
	var p issuance.PaymentRecord
	if err := t.get(bktIsuPayment, "payment", txn, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PutPayment implements issuance.ExtTx.
func (t *IssuanceTx) PutPayment(p *issuance.PaymentRecord) error {
	return t.put(bktIsuPayment, "payment", p.Txn, p)
}

// Credential implements issuance.ExtTx.
func (t *IssuanceTx) Credential(hash string) (*issuance.Credential, error) {
	var c issuance.Credential
	if err := t.get(bktIsuCred, "credential", hash, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutCredential implements issuance.ExtTx.
func (t *IssuanceTx) PutCredential(c *issuance.Credential) error {
	return t.put(bktIsuCred, "credential", c.Hash, c)
}

// DeleteCredential implements issuance.ExtTx.
func (t *IssuanceTx) DeleteCredential(hash string) error {
	return t.unindex(bktIsuCred, []byte(hash))
}

// APIClient implements issuance.ExtTx.
func (t *IssuanceTx) APIClient(id string) (*issuance.APIClient, error) {
	var c issuance.APIClient
	if err := t.get(bktIsuClient, "API client", id, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutAPIClient implements issuance.ExtTx.
func (t *IssuanceTx) PutAPIClient(c *issuance.APIClient) error {
	if err := checkID("IEC", c.IEC); err != nil {
		return err
	}
	if err := t.put(bktIsuClient, "API client", c.ID, c); err != nil {
		return err
	}
	return t.index(bktIsuClientIEC, key([]byte(c.IEC), []byte(c.ID)), []byte{})
}

// APIClients implements issuance.ExtTx.
func (t *IssuanceTx) APIClients(iec string) ([]*issuance.APIClient, error) {
	var out []*issuance.APIClient
	err := t.scan(bktIsuClientIEC, prefix([]byte(iec)), func(id string) error {
		c, err := t.APIClient(id)
		if err == nil {
			out = append(out, c)
		}
		return err
	})
	return out, err
}

// EnqueueMessages queues outbound messages (e.g. the issuance's webhooks
// and notifications) in this transaction: they commit with the change
// that caused them, or not at all. Same rules as Outbox.Enqueue.
func (t *IssuanceTx) EnqueueMessages(msgs ...OutMessage) error {
	now := t.db.clock()
	for i := range msgs {
		m := &msgs[i]
		for _, c := range []struct{ f, v string }{{"message id", m.ID}, {"partner", m.Partner}, {"certificate number", m.CertNumber}, {"kind", m.Kind}} {
			if err := checkID(c.f, c.v); err != nil {
				return fmt.Errorf("enqueue %q: %w", m.ID, err)
			}
		}
		if len(m.Content) == 0 {
			return fmt.Errorf("enqueue %s: %w: content is empty", m.ID, ErrInvalid)
		}
		if _, err := enqueueTx(t.tx, now, m, hashHex(m.Content), encodeBlob(m.Content)); err != nil {
			return fmt.Errorf("enqueue %s: %w", m.ID, err)
		}
	}
	return nil
}
