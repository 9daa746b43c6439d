package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/ecogate/ecogate/issuance"
	bolt "go.etcd.io/bbolt"
)

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

// IssuanceStore implements issuance.Store on this DB: Update runs in the
// group-commit writer (one real transaction, shared with the audit log,
// the outbox and the issued register), View in a read-only transaction.
type IssuanceStore struct{ db *DB }

// Issuance returns the issuance workflow's storage.
func (db *DB) Issuance() *IssuanceStore { return &IssuanceStore{db: db} }

// Update runs fn in one write transaction (see issuance.Store).
func (s *IssuanceStore) Update(ctx context.Context, fn func(issuance.Tx) error) error {
	return s.db.update(ctx, func(tx *bolt.Tx) error { return fn(&IssuanceTx{tx: tx, db: s.db}) })
}

// View runs fn in a read-only transaction.
func (s *IssuanceStore) View(ctx context.Context, fn func(issuance.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.view(func(tx *bolt.Tx) error { return fn(&IssuanceTx{tx: tx, db: s.db}) })
}

// IssuanceTx is one issuance transaction on bbolt (issuance.Tx).
type IssuanceTx struct {
	tx *bolt.Tx
	db *DB
}

// Bolt returns the underlying bbolt transaction, so that the node's
// register-and-queue (issuance.Node) can write the issued register and
// the outbox in the same transaction.
func (t *IssuanceTx) Bolt() *bolt.Tx { return t.tx }

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, errorsJoin(issuance.ErrNotFound, ErrNotFound))
}

// errorsJoin makes an error that is both a and b for errors.Is, with a's
// message.
func errorsJoin(a, b error) error { return fmt.Errorf("%w%.0w", a, b) }

func (t *IssuanceTx) get(bkt, what, id string, v any) error {
	b := bucketOf(t.tx, bkt)
	if b == nil {
		return notFound(what, id)
	}
	raw := b.Get([]byte(id))
	if raw == nil {
		return notFound(what, id)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", what, id, err)
	}
	return nil
}

func (t *IssuanceTx) put(bkt, what, id string, v any) error {
	if err := checkID(what+" id", id); err != nil {
		return err
	}
	b, err := bucketRW(t.tx, bkt)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(id), raw)
}

func (t *IssuanceTx) index(bkt string, k []byte, v []byte) error {
	b, err := bucketRW(t.tx, bkt)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

func (t *IssuanceTx) unindex(bkt string, k []byte) error {
	if b := bucketOf(t.tx, bkt); b != nil {
		return b.Delete(k)
	}
	return nil
}

// scan calls fn with the last part of every key under prefix p.
func (t *IssuanceTx) scan(bkt string, p []byte, fn func(id string) error) error {
	b := bucketOf(t.tx, bkt)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		if err := fn(string(k[len(p):])); err != nil {
			return err
		}
	}
	return nil
}

// Person implements issuance.Tx.
func (t *IssuanceTx) Person(id string) (*issuance.Person, error) {
	var p issuance.Person
	if err := t.get(bktIsuPerson, "person", id, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PutPerson implements issuance.Tx.
func (t *IssuanceTx) PutPerson(p *issuance.Person) error {
	if err := checkID("organisation", p.Org); err != nil {
		return err
	}
	if old, err := t.Person(p.ID); err == nil && old.Org != p.Org {
		if err := t.unindex(bktIsuPersonOrg, key([]byte(old.Org), []byte(p.ID))); err != nil {
			return err
		}
	}
	if err := t.put(bktIsuPerson, "person", p.ID, p); err != nil {
		return err
	}
	return t.index(bktIsuPersonOrg, key([]byte(p.Org), []byte(p.ID)), nil)
}

// People implements issuance.Tx.
func (t *IssuanceTx) People(org string) ([]*issuance.Person, error) {
	var out []*issuance.Person
	err := t.scan(bktIsuPersonOrg, prefix([]byte(org)), func(id string) error {
		p, err := t.Person(id)
		if err == nil {
			out = append(out, p)
		}
		return err
	})
	return out, err
}

// Exporter implements issuance.Tx.
func (t *IssuanceTx) Exporter(iec string) (*issuance.Exporter, error) {
	var e issuance.Exporter
	if err := t.get(bktIsuExporter, "exporter", iec, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// PutExporter implements issuance.Tx.
func (t *IssuanceTx) PutExporter(e *issuance.Exporter) error {
	return t.put(bktIsuExporter, "exporter", e.IEC, e)
}

// Agency implements issuance.Tx.
func (t *IssuanceTx) Agency(id string) (*issuance.Agency, error) {
	var a issuance.Agency
	if err := t.get(bktIsuAgency, "agency", id, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PutAgency implements issuance.Tx.
func (t *IssuanceTx) PutAgency(a *issuance.Agency) error {
	return t.put(bktIsuAgency, "agency", a.ID, a)
}

// Office implements issuance.Tx.
func (t *IssuanceTx) Office(id string) (*issuance.Office, error) {
	var o issuance.Office
	if err := t.get(bktIsuOffice, "office", id, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// PutOffice implements issuance.Tx.
func (t *IssuanceTx) PutOffice(o *issuance.Office) error {
	if err := checkID("agency", o.Agency); err != nil {
		return err
	}
	if err := t.put(bktIsuOffice, "office", o.ID, o); err != nil {
		return err
	}
	return t.index(bktIsuOfficeAg, key([]byte(o.Agency), []byte(o.ID)), nil)
}

// Offices implements issuance.Tx.
func (t *IssuanceTx) Offices(agency string) ([]*issuance.Office, error) {
	var out []*issuance.Office
	err := t.scan(bktIsuOfficeAg, prefix([]byte(agency)), func(id string) error {
		o, err := t.Office(id)
		if err == nil {
			out = append(out, o)
		}
		return err
	})
	return out, err
}

// Application implements issuance.Tx.
func (t *IssuanceTx) Application(id string) (*issuance.Application, error) {
	var a issuance.Application
	if err := t.get(bktIsuApp, "application", id, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PutApplication implements issuance.Tx. It keeps the IEC, office and
// certificate indexes; a certificate number already given to another
// application is refused with ErrConflict.
func (t *IssuanceTx) PutApplication(a *issuance.Application) error {
	if err := checkID("IEC", a.IEC); err != nil {
		return err
	}
	if old, err := t.Application(a.ID); err == nil {
		if err := t.unindex(bktIsuAppIEC, key([]byte(old.IEC), []byte(a.ID))); err != nil {
			return err
		}
		if old.Content.Office != "" {
			if err := t.unindex(bktIsuAppOffice, key([]byte(old.Content.Office), []byte(a.ID))); err != nil {
				return err
			}
		}
	}
	if a.Certificate != "" {
		if err := checkID("certificate number", a.Certificate); err != nil {
			return err
		}
		if b := bucketOf(t.tx, bktIsuAppCert); b != nil {
			if v := b.Get([]byte(a.Certificate)); v != nil && string(v) != a.ID {
				return fmt.Errorf("certificate %s: %w: given to application %s", a.Certificate, errorsJoin(issuance.ErrConflict, ErrConflict), v)
			}
		}
		if err := t.index(bktIsuAppCert, []byte(a.Certificate), []byte(a.ID)); err != nil {
			return err
		}
	}
	if err := t.put(bktIsuApp, "application", a.ID, a); err != nil {
		return err
	}
	if err := t.index(bktIsuAppIEC, key([]byte(a.IEC), []byte(a.ID)), nil); err != nil {
		return err
	}
	if o := a.Content.Office; o != "" && len(o) <= maxIDLen && bytes.IndexByte([]byte(o), 0) < 0 {
		return t.index(bktIsuAppOffice, key([]byte(o), []byte(a.ID)), nil)
	}
	return nil
}

// Applications implements issuance.Tx.
func (t *IssuanceTx) Applications(q issuance.Query) ([]*issuance.Application, error) {
	bkt, p := bktIsuAppIEC, prefix([]byte(q.IEC))
	if q.IEC == "" {
		if q.Office == "" {
			return nil, fmt.Errorf("list applications: %w: give an IEC or an office", issuance.ErrInvalid)
		}
		bkt, p = bktIsuAppOffice, prefix([]byte(q.Office))
	}
	var out []*issuance.Application
	err := t.scan(bkt, p, func(id string) error {
		a, err := t.Application(id)
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
func (t *IssuanceTx) ApplicationByCertificate(number string) (*issuance.Application, error) {
	b := bucketOf(t.tx, bktIsuAppCert)
	if b == nil {
		return nil, notFound("certificate", number)
	}
	id := b.Get([]byte(number))
	if id == nil {
		return nil, notFound("certificate", number)
	}
	return t.Application(string(id))
}

func walletKey(iec, office string) []byte { return key([]byte(iec), []byte(office)) }

func (t *IssuanceTx) wallet(iec, office string) (bal int64, seq uint64) {
	if b := bucketOf(t.tx, bktIsuWallet); b != nil {
		if v := b.Get(walletKey(iec, office)); len(v) == 16 {
			return int64(binary.BigEndian.Uint64(v[:8])), binary.BigEndian.Uint64(v[8:])
		}
	}
	return 0, 0
}

// Balance implements issuance.Tx.
func (t *IssuanceTx) Balance(iec, office string) (int64, error) {
	bal, _ := t.wallet(iec, office)
	return bal, nil
}

// AddMovement implements issuance.Tx: the balance never goes negative.
func (t *IssuanceTx) AddMovement(m *issuance.Movement) error {
	if err := checkID("IEC", m.IEC); err != nil {
		return err
	}
	if err := checkID("office", m.Office); err != nil {
		return err
	}
	if m.Amount == 0 || m.Reason == "" {
		return fmt.Errorf("e-wallet movement: %w: a movement needs an amount and a reason", issuance.ErrInvalid)
	}
	bal, seq := t.wallet(m.IEC, m.Office)
	nb := bal + m.Amount
	if m.Amount < 0 && nb < 0 || m.Amount > 0 && nb < bal {
		return fmt.Errorf("e-wallet of %s at %s: %w: balance %d, movement %d", m.IEC, m.Office, issuance.ErrInsufficientFunds, bal, m.Amount)
	}
	m.Seq, m.Balance = seq+1, nb
	wb, err := bucketRW(t.tx, bktIsuWallet)
	if err != nil {
		return err
	}
	if err := wb.Put(walletKey(m.IEC, m.Office), append(be64(uint64(nb)), be64(m.Seq)...)); err != nil {
		return err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return t.index(bktIsuWalletMv, key([]byte(m.IEC), []byte(m.Office), be64(m.Seq)), raw)
}

// Movements implements issuance.Tx.
func (t *IssuanceTx) Movements(iec, office string) ([]issuance.Movement, error) {
	b := bucketOf(t.tx, bktIsuWalletMv)
	if b == nil {
		return nil, nil
	}
	var out []issuance.Movement
	p := prefix([]byte(iec), []byte(office))
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var m issuance.Movement
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, fmt.Errorf("decode e-wallet movement %x: %w", k, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// NextSeq implements issuance.Tx.
func (t *IssuanceTx) NextSeq(series string) (uint64, error) {
	if err := checkID("series", series); err != nil {
		return 0, err
	}
	b, err := bucketRW(t.tx, bktIsuSeq)
	if err != nil {
		return 0, err
	}
	var n uint64
	if v := b.Get([]byte(series)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, b.Put([]byte(series), be64(n))
}

// Audit implements issuance.Tx: the entry joins the node's audit chain in
// this transaction.
func (t *IssuanceTx) Audit(e issuance.AuditEntry) error {
	en := Entry{Time: e.Time, Actor: e.Actor, Action: e.Action, Subject: e.Subject, Details: e.Details}
	if err := t.db.checkEntry(&en); err != nil {
		return err
	}
	_, err := appendEntry(t.tx, en)
	return err
}

var _ issuance.Store = (*IssuanceStore)(nil)
