package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ecogate/ecogate/issuance"
)

// The records of the domestic issuance workflow, written once over a small
// key-value interface (isuKV) that each engine implements: bbolt keeps
// every bucket below as a bbolt bucket, PostgreSQL as the rows of isu_kv
// with that bucket name, so both engines hold the same keys and bytes and
// `ecogate store copy` moves them as they are. What differs between the
// engines (starting and committing a transaction, how writers are
// serialised, the audit chain, the outbox and the issued register) stays
// in IssuanceTx and PGIssuanceTx.

// Buckets of the domestic issuance workflow (package issuance), created on
// first write.
const (
	bktIsuPerson    = "isu_person"     // id -> JSON issuance.Person
	bktIsuPersonOrg = "isu_person_org" // org 0 id -> ""
	bktIsuExporter  = "isu_exporter"   // IEC -> JSON issuance.Exporter
	bktIsuAgency    = "isu_agency"     // agency id -> JSON issuance.Agency
	bktIsuOffice    = "isu_office"     // office id -> JSON issuance.Office
	bktIsuOfficeAg  = "isu_office_ag"  // agency 0 office id -> ""
	bktIsuApp       = "isu_app"        // application id -> JSON issuance.Application
	bktIsuAppIEC    = "isu_app_iec"    // IEC 0 application id -> ""
	bktIsuAppOffice = "isu_app_office" // office 0 application id -> ""
	bktIsuAppCert   = "isu_app_cert"   // certificate number -> application id
	bktIsuWallet    = "isu_wallet"     // IEC 0 office -> be64(balance) be64(last movement seq)
	bktIsuWalletMv  = "isu_wallet_mv"  // IEC 0 office 0 be64(seq) -> JSON issuance.Movement
	bktIsuSeq       = "isu_seq"        // series -> be64(last number given)
)

// isuKV is one engine's storage of the issuance buckets inside one
// transaction. Values it returns are valid until the transaction ends and
// must not be modified; a caller that keeps one copies it. Writes in a
// read-only transaction fail with the engine's error.
type isuKV interface {
	// kvGet returns the value of k in bucket bkt, nil when there is none
	// (an empty value is non-nil).
	kvGet(bkt string, k []byte) ([]byte, error)
	// kvPut sets k to v in bucket bkt, creating the bucket when needed.
	kvPut(bkt string, k, v []byte) error
	// kvDelete removes k from bucket bkt (absent is not an error).
	kvDelete(bkt string, k []byte) error
	// kvScan calls fn for each key of bucket bkt with prefix p, in key
	// order. fn may read (not write) in the same transaction.
	kvScan(bkt string, p []byte, fn func(k, v []byte) error) error
}

// isuRecords implements the record methods of issuance.Tx, issuance.ExtTx
// and issuance.ImageTx over an engine's isuKV; IssuanceTx and PGIssuanceTx
// embed it.
type isuRecords struct{ kv isuKV }

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, errorsJoin(issuance.ErrNotFound, ErrNotFound))
}

// errorsJoin makes an error that is both a and b for errors.Is, with a's
// message.
func errorsJoin(a, b error) error { return fmt.Errorf("%w%.0w", a, b) }

// getJSON decodes the record id of bucket bkt into v.
func (r *isuRecords) getJSON(bkt, what, id string, v any) error {
	raw, err := r.kv.kvGet(bkt, []byte(id))
	if err != nil {
		return err
	}
	if raw == nil {
		return notFound(what, id)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", what, id, err)
	}
	return nil
}

// putJSON stores v as the record id of bucket bkt.
func (r *isuRecords) putJSON(bkt, what, id string, v any) error {
	if err := checkID(what+" id", id); err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.kv.kvPut(bkt, []byte(id), raw)
}

// putJSONKey stores v under key k of bucket bkt.
func (r *isuRecords) putJSONKey(bkt string, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.kv.kvPut(bkt, k, raw)
}

// scanIDs calls fn with the last part of every key under prefix p.
func (r *isuRecords) scanIDs(bkt string, p []byte, fn func(id string) error) error {
	return r.kv.kvScan(bkt, p, func(k, _ []byte) error { return fn(string(k[len(p):])) })
}

// putOwned stores v as the record id of bucket bkt and indexes it under
// its owner (owner 0 id -> "" in bucket idx).
func (r *isuRecords) putOwned(bkt, what, id string, v any, idx, ownerField, owner string) error {
	if err := checkID(ownerField, owner); err != nil {
		return err
	}
	if err := r.putJSON(bkt, what, id, v); err != nil {
		return err
	}
	return r.kv.kvPut(idx, key([]byte(owner), []byte(id)), nil)
}

// listBy returns the records of the ids that index bucket bkt holds under
// owner, read with one.
func listBy[T any](r *isuRecords, bkt, owner string, one func(id string) (*T, error)) ([]*T, error) {
	var out []*T
	err := r.scanIDs(bkt, prefix([]byte(owner)), func(id string) error {
		v, err := one(id)
		if err == nil {
			out = append(out, v)
		}
		return err
	})
	return out, err
}

// getRecord reads the record id of bucket bkt.
func getRecord[T any](r *isuRecords, bkt, what, id string) (*T, error) {
	var v T
	if err := r.getJSON(bkt, what, id, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Person implements issuance.Tx.
func (r *isuRecords) Person(id string) (*issuance.Person, error) {
	return getRecord[issuance.Person](r, bktIsuPerson, "person", id)
}

// PutPerson implements issuance.Tx.
func (r *isuRecords) PutPerson(p *issuance.Person) error {
	if err := checkID("organisation", p.Org); err != nil {
		return err
	}
	if old, err := r.Person(p.ID); err == nil && old.Org != p.Org {
		if err := r.kv.kvDelete(bktIsuPersonOrg, key([]byte(old.Org), []byte(p.ID))); err != nil {
			return err
		}
	}
	return r.putOwned(bktIsuPerson, "person", p.ID, p, bktIsuPersonOrg, "organisation", p.Org)
}

// People implements issuance.Tx.
func (r *isuRecords) People(org string) ([]*issuance.Person, error) {
	return listBy(r, bktIsuPersonOrg, org, r.Person)
}

// Exporter implements issuance.Tx.
func (r *isuRecords) Exporter(iec string) (*issuance.Exporter, error) {
	return getRecord[issuance.Exporter](r, bktIsuExporter, "exporter", iec)
}

// PutExporter implements issuance.Tx.
func (r *isuRecords) PutExporter(e *issuance.Exporter) error {
	return r.putJSON(bktIsuExporter, "exporter", e.IEC, e)
}

// Agency implements issuance.Tx.
func (r *isuRecords) Agency(id string) (*issuance.Agency, error) {
	return getRecord[issuance.Agency](r, bktIsuAgency, "agency", id)
}

// PutAgency implements issuance.Tx.
func (r *isuRecords) PutAgency(a *issuance.Agency) error {
	return r.putJSON(bktIsuAgency, "agency", a.ID, a)
}

// Office implements issuance.Tx.
func (r *isuRecords) Office(id string) (*issuance.Office, error) {
	return getRecord[issuance.Office](r, bktIsuOffice, "office", id)
}

// PutOffice implements issuance.Tx. An office that moves to another
// agency leaves the old agency's index.
func (r *isuRecords) PutOffice(o *issuance.Office) error {
	if old, err := r.Office(o.ID); err == nil && old.Agency != o.Agency {
		if err := r.kv.kvDelete(bktIsuOfficeAg, key([]byte(old.Agency), []byte(o.ID))); err != nil {
			return err
		}
	}
	return r.putOwned(bktIsuOffice, "office", o.ID, o, bktIsuOfficeAg, "agency", o.Agency)
}

// Offices implements issuance.Tx. It lists only offices that belong to
// agency now (an index entry left by a move written before PutOffice
// kept the index is skipped).
func (r *isuRecords) Offices(agency string) ([]*issuance.Office, error) {
	all, err := listBy(r, bktIsuOfficeAg, agency, r.Office)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(o *issuance.Office) bool { return o.Agency != agency }), nil
}

// Application implements issuance.Tx.
func (r *isuRecords) Application(id string) (*issuance.Application, error) {
	return getRecord[issuance.Application](r, bktIsuApp, "application", id)
}

// PutApplication implements issuance.Tx. It keeps the IEC, office and
// certificate indexes; a certificate number already given to another
// application is refused with ErrConflict.
func (r *isuRecords) PutApplication(a *issuance.Application) error {
	if err := checkID("IEC", a.IEC); err != nil {
		return err
	}
	if old, err := r.Application(a.ID); err == nil {
		if err := r.kv.kvDelete(bktIsuAppIEC, key([]byte(old.IEC), []byte(a.ID))); err != nil {
			return err
		}
		if old.Content.Office != "" {
			if err := r.kv.kvDelete(bktIsuAppOffice, key([]byte(old.Content.Office), []byte(a.ID))); err != nil {
				return err
			}
		}
	}
	if a.Certificate != "" {
		if err := checkID("certificate number", a.Certificate); err != nil {
			return err
		}
		v, err := r.kv.kvGet(bktIsuAppCert, []byte(a.Certificate))
		if err != nil {
			return err
		}
		if v != nil && string(v) != a.ID {
			return fmt.Errorf("certificate %s: %w: given to application %s", a.Certificate, errorsJoin(issuance.ErrConflict, ErrConflict), v)
		}
		if err := r.kv.kvPut(bktIsuAppCert, []byte(a.Certificate), []byte(a.ID)); err != nil {
			return err
		}
	}
	if err := r.putJSON(bktIsuApp, "application", a.ID, a); err != nil {
		return err
	}
	if err := r.kv.kvPut(bktIsuAppIEC, key([]byte(a.IEC), []byte(a.ID)), nil); err != nil {
		return err
	}
	if o := a.Content.Office; o != "" && len(o) <= maxIDLen && bytes.IndexByte([]byte(o), 0) < 0 {
		return r.kv.kvPut(bktIsuAppOffice, key([]byte(o), []byte(a.ID)), nil)
	}
	return nil
}

// Applications implements issuance.Tx.
func (r *isuRecords) Applications(q issuance.Query) ([]*issuance.Application, error) {
	bkt, p := bktIsuAppIEC, prefix([]byte(q.IEC))
	if q.IEC == "" {
		if q.Office == "" {
			return nil, fmt.Errorf("list applications: %w: give an IEC or an office", issuance.ErrInvalid)
		}
		bkt, p = bktIsuAppOffice, prefix([]byte(q.Office))
	}
	var out []*issuance.Application
	err := r.scanIDs(bkt, p, func(id string) error {
		a, err := r.Application(id)
		if err != nil {
			return err
		}
		if (q.State == "" || a.State == q.State) && (q.Office == "" || a.Content.Office == q.Office) {
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// ApplicationByCertificate implements issuance.Tx.
func (r *isuRecords) ApplicationByCertificate(number string) (*issuance.Application, error) {
	id, err := r.kv.kvGet(bktIsuAppCert, []byte(number))
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, notFound("certificate", number)
	}
	return r.Application(string(id))
}

func walletKey(iec, office string) []byte { return key([]byte(iec), []byte(office)) }

// wallet returns the balance and last movement number of a wallet (zero
// for one without movements).
func (r *isuRecords) wallet(iec, office string) (bal int64, seq uint64, err error) {
	v, err := r.kv.kvGet(bktIsuWallet, walletKey(iec, office))
	if err == nil && len(v) == 16 {
		return int64(binary.BigEndian.Uint64(v[:8])), binary.BigEndian.Uint64(v[8:]), nil
	}
	return 0, 0, err
}

// Balance implements issuance.Tx.
func (r *isuRecords) Balance(iec, office string) (int64, error) {
	bal, _, err := r.wallet(iec, office)
	return bal, err
}

// AddMovement implements issuance.Tx: the balance never goes negative.
// The read and the write of the balance are safe because each engine
// serialises its issuance write transactions (bbolt's single writer,
// PostgreSQL's advisory lock in PGIssuanceStore.Update).
func (r *isuRecords) AddMovement(m *issuance.Movement) error {
	if err := checkID("IEC", m.IEC); err != nil {
		return err
	}
	if err := checkID("office", m.Office); err != nil {
		return err
	}
	if m.Amount == 0 || m.Reason == "" {
		return fmt.Errorf("e-wallet movement: %w: a movement needs an amount and a reason", issuance.ErrInvalid)
	}
	bal, seq, err := r.wallet(m.IEC, m.Office)
	if err != nil {
		return err
	}
	nb := bal + m.Amount
	if m.Amount < 0 && nb < 0 || m.Amount > 0 && nb < bal {
		return fmt.Errorf("e-wallet of %s at %s: %w: balance %d, movement %d", m.IEC, m.Office, issuance.ErrInsufficientFunds, bal, m.Amount)
	}
	m.Seq, m.Balance = seq+1, nb
	if err := r.kv.kvPut(bktIsuWallet, walletKey(m.IEC, m.Office), append(be64(uint64(nb)), be64(m.Seq)...)); err != nil {
		return err
	}
	return r.putJSONKey(bktIsuWalletMv, key([]byte(m.IEC), []byte(m.Office), be64(m.Seq)), m)
}

// Movements implements issuance.Tx.
func (r *isuRecords) Movements(iec, office string) ([]issuance.Movement, error) {
	var out []issuance.Movement
	err := r.kv.kvScan(bktIsuWalletMv, prefix([]byte(iec), []byte(office)), func(k, v []byte) error {
		var m issuance.Movement
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode e-wallet movement %x: %w", k, err)
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// NextSeq implements issuance.Tx. Numbers are gapless and unique because
// each engine serialises its issuance write transactions (see
// AddMovement) and a rolled-back transaction takes its number back.
func (r *isuRecords) NextSeq(series string) (uint64, error) {
	if err := checkID("series", series); err != nil {
		return 0, err
	}
	v, err := r.kv.kvGet(bktIsuSeq, []byte(series))
	if err != nil {
		return 0, err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, r.kv.kvPut(bktIsuSeq, []byte(series), be64(n))
}
