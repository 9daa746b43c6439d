package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ecogate/ecogate/issuance"
)

// PGIssuanceStore implements issuance.Store on PostgreSQL. The records
// keep the bbolt engine's bucket and key layout in one table (isu_kv), so
// both engines hold the same bytes and `ecogate store copy` moves them as
// they are. Update runs fn in one transaction that first takes a
// transaction-scoped advisory lock: issuance transactions are serialised
// across replicas (as the bbolt engine's single writer serialises them),
// and their audit entries, register entries and outbound messages commit
// with them. View runs fn in a REPEATABLE READ, read-only transaction.
type PGIssuanceStore struct{ pg *PG }

// Issuance returns the issuance workflow's storage.
func (pg *PG) Issuance() *PGIssuanceStore { return &PGIssuanceStore{pg: pg} }

// pgIssuanceLock is the advisory lock key of issuance transactions.
const pgIssuanceLock = "ecogate issuance"

// Update runs fn in one write transaction (see issuance.Store). A
// serialisation failure or deadlock detected by PostgreSQL runs fn again
// (at most three times in all).
func (s *PGIssuanceStore) Update(ctx context.Context, fn func(issuance.Tx) error) error {
	var err error
	for range 3 {
		var t *PGIssuanceTx
		err = s.pg.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", pgIssuanceLock); err != nil {
				return err
			}
			t = &PGIssuanceTx{ctx: ctx, tx: tx, pg: s.pg, writable: true}
			return fn(t)
		})
		if err == nil {
			for _, f := range t.onCommit {
				f()
			}
			return nil
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01") {
			return err
		}
	}
	return err
}

// View runs fn in a read-only transaction.
func (s *PGIssuanceStore) View(ctx context.Context, fn func(issuance.Tx) error) error {
	return pgRead(ctx, s.pg, func(tx pgx.Tx) error { return fn(&PGIssuanceTx{ctx: ctx, tx: tx, pg: s.pg}) })
}

// PGIssuanceTx is one issuance transaction on PostgreSQL (issuance.Tx,
// issuance.ExtTx).
type PGIssuanceTx struct {
	ctx      context.Context
	tx       pgx.Tx
	pg       *PG
	writable bool
	onCommit []func()
}

// OnCommit registers f to run after the transaction has committed.
func (t *PGIssuanceTx) OnCommit(f func()) { t.onCommit = append(t.onCommit, f) }

func (t *PGIssuanceTx) kvGet(bkt string, k []byte) ([]byte, error) {
	var v []byte
	err := t.tx.QueryRow(t.ctx, "SELECT v FROM isu_kv WHERE bucket = $1 AND k = $2", bkt, k).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

func (t *PGIssuanceTx) kvPut(bkt string, k, v []byte) error {
	if !t.writable {
		return errors.New("issuance: write in a read-only transaction")
	}
	if v == nil {
		v = []byte{}
	}
	_, err := t.tx.Exec(t.ctx, "INSERT INTO isu_kv (bucket, k, v) VALUES ($1, $2, $3) ON CONFLICT (bucket, k) DO UPDATE SET v = EXCLUDED.v", bkt, k, v)
	return err
}

func (t *PGIssuanceTx) kvDelete(bkt string, k []byte) error {
	if !t.writable {
		return errors.New("issuance: write in a read-only transaction")
	}
	_, err := t.tx.Exec(t.ctx, "DELETE FROM isu_kv WHERE bucket = $1 AND k = $2", bkt, k)
	return err
}

// prefixEnd is the smallest key greater than every key with prefix p (nil
// when there is none).
func prefixEnd(p []byte) []byte {
	e := bytes.Clone(p)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] < 0xff {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}

// kvScan calls fn for each key with prefix p, in key order.
func (t *PGIssuanceTx) kvScan(bkt string, p []byte, fn func(k, v []byte) error) error {
	q, args := "SELECT k, v FROM isu_kv WHERE bucket = $1 AND k >= $2", []any{bkt, p}
	if e := prefixEnd(p); e != nil {
		q += " AND k < $3"
		args = append(args, e)
	}
	rows, err := t.tx.Query(t.ctx, q+" ORDER BY k", args...)
	if err != nil {
		return err
	}
	type kv struct{ k, v []byte }
	var all []kv
	for rows.Next() {
		var x kv
		if err := rows.Scan(&x.k, &x.v); err != nil {
			rows.Close()
			return err
		}
		all = append(all, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, x := range all { // fn may query: the rows are read first
		if err := fn(x.k, x.v); err != nil {
			return err
		}
	}
	return nil
}

func (t *PGIssuanceTx) get(bkt, what, id string, v any) error {
	raw, err := t.kvGet(bkt, []byte(id))
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

func (t *PGIssuanceTx) put(bkt, what, id string, v any) error {
	if err := checkID(what+" id", id); err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.kvPut(bkt, []byte(id), raw)
}

func (t *PGIssuanceTx) scan(bkt string, p []byte, fn func(id string) error) error {
	return t.kvScan(bkt, p, func(k, _ []byte) error { return fn(string(k[len(p):])) })
}

// Person implements issuance.Tx.
func (t *PGIssuanceTx) Person(id string) (*issuance.Person, error) {
	var p issuance.Person
	if err := t.get(bktIsuPerson, "person", id, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PutPerson implements issuance.Tx.
func (t *PGIssuanceTx) PutPerson(p *issuance.Person) error {
	if err := checkID("organisation", p.Org); err != nil {
		return err
	}
	if old, err := t.Person(p.ID); err == nil && old.Org != p.Org {
		if err := t.kvDelete(bktIsuPersonOrg, key([]byte(old.Org), []byte(p.ID))); err != nil {
			return err
		}
	}
	if err := t.put(bktIsuPerson, "person", p.ID, p); err != nil {
		return err
	}
	return t.kvPut(bktIsuPersonOrg, key([]byte(p.Org), []byte(p.ID)), nil)
}

// People implements issuance.Tx.
func (t *PGIssuanceTx) People(org string) ([]*issuance.Person, error) {
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
func (t *PGIssuanceTx) Exporter(iec string) (*issuance.Exporter, error) {
	var e issuance.Exporter
	if err := t.get(bktIsuExporter, "exporter", iec, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// PutExporter implements issuance.Tx.
func (t *PGIssuanceTx) PutExporter(e *issuance.Exporter) error {
	return t.put(bktIsuExporter, "exporter", e.IEC, e)
}

// Agency implements issuance.Tx.
func (t *PGIssuanceTx) Agency(id string) (*issuance.Agency, error) {
	var a issuance.Agency
	if err := t.get(bktIsuAgency, "agency", id, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PutAgency implements issuance.Tx.
func (t *PGIssuanceTx) PutAgency(a *issuance.Agency) error {
	return t.put(bktIsuAgency, "agency", a.ID, a)
}

// Office implements issuance.Tx.
func (t *PGIssuanceTx) Office(id string) (*issuance.Office, error) {
	var o issuance.Office
	if err := t.get(bktIsuOffice, "office", id, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// PutOffice implements issuance.Tx.
func (t *PGIssuanceTx) PutOffice(o *issuance.Office) error {
	if err := checkID("agency", o.Agency); err != nil {
		return err
	}
	if err := t.put(bktIsuOffice, "office", o.ID, o); err != nil {
		return err
	}
	return t.kvPut(bktIsuOfficeAg, key([]byte(o.Agency), []byte(o.ID)), nil)
}

// Offices implements issuance.Tx.
func (t *PGIssuanceTx) Offices(agency string) ([]*issuance.Office, error) {
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
func (t *PGIssuanceTx) Application(id string) (*issuance.Application, error) {
	var a issuance.Application
	if err := t.get(bktIsuApp, "application", id, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PutApplication implements issuance.Tx (see IssuanceTx.PutApplication).
func (t *PGIssuanceTx) PutApplication(a *issuance.Application) error {
	if err := checkID("IEC", a.IEC); err != nil {
		return err
	}
	if old, err := t.Application(a.ID); err == nil {
		if err := t.kvDelete(bktIsuAppIEC, key([]byte(old.IEC), []byte(a.ID))); err != nil {
			return err
		}
		if old.Content.Office != "" {
			if err := t.kvDelete(bktIsuAppOffice, key([]byte(old.Content.Office), []byte(a.ID))); err != nil {
				return err
			}
		}
	}
	if a.Certificate != "" {
		if err := checkID("certificate number", a.Certificate); err != nil {
			return err
		}
		v, err := t.kvGet(bktIsuAppCert, []byte(a.Certificate))
		if err != nil {
			return err
		}
		if v != nil && string(v) != a.ID {
			return fmt.Errorf("certificate %s: %w: given to application %s", a.Certificate, errorsJoin(issuance.ErrConflict, ErrConflict), v)
		}
		if err := t.kvPut(bktIsuAppCert, []byte(a.Certificate), []byte(a.ID)); err != nil {
			return err
		}
	}
	if err := t.put(bktIsuApp, "application", a.ID, a); err != nil {
		return err
	}
	if err := t.kvPut(bktIsuAppIEC, key([]byte(a.IEC), []byte(a.ID)), nil); err != nil {
		return err
	}
	if o := a.Content.Office; o != "" && len(o) <= maxIDLen && bytes.IndexByte([]byte(o), 0) < 0 {
		return t.kvPut(bktIsuAppOffice, key([]byte(o), []byte(a.ID)), nil)
	}
	return nil
}

// Applications implements issuance.Tx.
func (t *PGIssuanceTx) Applications(q issuance.Query) ([]*issuance.Application, error) {
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
func (t *PGIssuanceTx) ApplicationByCertificate(number string) (*issuance.Application, error) {
	id, err := t.kvGet(bktIsuAppCert, []byte(number))
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, notFound("certificate", number)
	}
	return t.Application(string(id))
}

func (t *PGIssuanceTx) wallet(iec, office string) (bal int64, seq uint64, err error) {
	v, err := t.kvGet(bktIsuWallet, walletKey(iec, office))
	if err == nil && len(v) == 16 {
		return int64(binary.BigEndian.Uint64(v[:8])), binary.BigEndian.Uint64(v[8:]), nil
	}
	return 0, 0, err
}

// Balance implements issuance.Tx.
func (t *PGIssuanceTx) Balance(iec, office string) (int64, error) {
	bal, _, err := t.wallet(iec, office)
	return bal, err
}

// AddMovement implements issuance.Tx: the balance never goes negative.
func (t *PGIssuanceTx) AddMovement(m *issuance.Movement) error {
	if err := checkID("IEC", m.IEC); err != nil {
		return err
	}
	if err := checkID("office", m.Office); err != nil {
		return err
	}
	if m.Amount == 0 || m.Reason == "" {
		return fmt.Errorf("e-wallet movement: %w: a movement needs an amount and a reason", issuance.ErrInvalid)
	}
	bal, seq, err := t.wallet(m.IEC, m.Office)
	if err != nil {
		return err
	}
	nb := bal + m.Amount
	if m.Amount < 0 && nb < 0 || m.Amount > 0 && nb < bal {
		return fmt.Errorf("e-wallet of %s at %s: %w: balance %d, movement %d", m.IEC, m.Office, issuance.ErrInsufficientFunds, bal, m.Amount)
	}
	m.Seq, m.Balance = seq+1, nb
	if err := t.kvPut(bktIsuWallet, walletKey(m.IEC, m.Office), append(be64(uint64(nb)), be64(m.Seq)...)); err != nil {
		return err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return t.kvPut(bktIsuWalletMv, key([]byte(m.IEC), []byte(m.Office), be64(m.Seq)), raw)
}

// Movements implements issuance.Tx.
func (t *PGIssuanceTx) Movements(iec, office string) ([]issuance.Movement, error) {
	var out []issuance.Movement
	err := t.kvScan(bktIsuWalletMv, prefix([]byte(iec), []byte(office)), func(k, v []byte) error {
		var m issuance.Movement
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode e-wallet movement %x: %w", k, err)
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// NextSeq implements issuance.Tx.
func (t *PGIssuanceTx) NextSeq(series string) (uint64, error) {
	if err := checkID("series", series); err != nil {
		return 0, err
	}
	v, err := t.kvGet(bktIsuSeq, []byte(series))
	if err != nil {
		return 0, err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, t.kvPut(bktIsuSeq, []byte(series), be64(n))
}

// Audit implements issuance.Tx: the entry joins the audit chain in this
// transaction.
func (t *PGIssuanceTx) Audit(e issuance.AuditEntry) error {
	en := Entry{Time: e.Time, Actor: e.Actor, Action: e.Action, Subject: e.Subject, Details: e.Details}
	if err := checkEntryWith(&en, t.pg.clock); err != nil {
		return err
	}
	_, err := pgAppendEntry(t.ctx, t.tx, en)
	return err
}

// DSC implements issuance.Tx.
func (t *PGIssuanceTx) DSC(person string) (*issuance.DSC, error) {
	var d issuance.DSC
	if err := t.get(bktIsuDSC, "document-signing certificate of", person, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// PutDSC implements issuance.Tx.
func (t *PGIssuanceTx) PutDSC(d *issuance.DSC) error { return t.put(bktIsuDSC, "person", d.Person, d) }

// PendingSignature implements issuance.Tx.
func (t *PGIssuanceTx) PendingSignature(app string) (*issuance.PendingSignature, error) {
	var p issuance.PendingSignature
	if err := t.get(bktIsuPending, "document to sign of application", app, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PutPendingSignature implements issuance.Tx.
func (t *PGIssuanceTx) PutPendingSignature(p *issuance.PendingSignature) error {
	return t.put(bktIsuPending, "application", p.Application, p)
}

// DeletePendingSignature implements issuance.Tx.
func (t *PGIssuanceTx) DeletePendingSignature(app string) error {
	return t.kvDelete(bktIsuPending, []byte(app))
}

// Declaration implements issuance.Tx.
func (t *PGIssuanceTx) Declaration(app string) (*issuance.SignedDeclaration, error) {
	var d issuance.SignedDeclaration
	if err := t.get(bktIsuDecl, "signed declaration of application", app, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// PutDeclaration implements issuance.Tx.
func (t *PGIssuanceTx) PutDeclaration(d *issuance.SignedDeclaration) error {
	return t.put(bktIsuDecl, "application", d.Application, d)
}

// PutAttachment implements issuance.ExtTx.
func (t *PGIssuanceTx) PutAttachment(a *issuance.Attachment, data []byte) error {
	if err := checkID("application", a.Application); err != nil {
		return err
	}
	k := key([]byte(a.Application), []byte(a.SHA256))
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := t.kvPut(bktIsuAttach, k, raw); err != nil {
		return err
	}
	return t.kvPut(bktIsuAttachData, k, data)
}

// Attachment implements issuance.ExtTx.
func (t *PGIssuanceTx) Attachment(app, sha string) (*issuance.Attachment, []byte, error) {
	k := key([]byte(app), []byte(sha))
	raw, err := t.kvGet(bktIsuAttach, k)
	if err != nil {
		return nil, nil, err
	}
	data, err := t.kvGet(bktIsuAttachData, k)
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
	return &a, data, nil
}

// Attachments implements issuance.ExtTx.
func (t *PGIssuanceTx) Attachments(app string) ([]*issuance.Attachment, error) {
	out := []*issuance.Attachment{}
	err := t.kvScan(bktIsuAttach, prefix([]byte(app)), func(_, v []byte) error {
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
func (t *PGIssuanceTx) Payment(txn string) (*issuance.PaymentRecord, error) {
	var p issuance.PaymentRecord
	if err := t.get(bktIsuPayment, "payment", txn, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// PutPayment implements issuance.ExtTx.
func (t *PGIssuanceTx) PutPayment(p *issuance.PaymentRecord) error {
	return t.put(bktIsuPayment, "payment", p.Txn, p)
}

// Credential implements issuance.ExtTx.
func (t *PGIssuanceTx) Credential(hash string) (*issuance.Credential, error) {
	var c issuance.Credential
	if err := t.get(bktIsuCred, "credential", hash, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutCredential implements issuance.ExtTx.
func (t *PGIssuanceTx) PutCredential(c *issuance.Credential) error {
	return t.put(bktIsuCred, "credential", c.Hash, c)
}

// DeleteCredential implements issuance.ExtTx.
func (t *PGIssuanceTx) DeleteCredential(hash string) error {
	return t.kvDelete(bktIsuCred, []byte(hash))
}

// APIClient implements issuance.ExtTx.
func (t *PGIssuanceTx) APIClient(id string) (*issuance.APIClient, error) {
	var c issuance.APIClient
	if err := t.get(bktIsuClient, "API client", id, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutAPIClient implements issuance.ExtTx.
func (t *PGIssuanceTx) PutAPIClient(c *issuance.APIClient) error {
	if err := checkID("IEC", c.IEC); err != nil {
		return err
	}
	if err := t.put(bktIsuClient, "API client", c.ID, c); err != nil {
		return err
	}
	return t.kvPut(bktIsuClientIEC, key([]byte(c.IEC), []byte(c.ID)), nil)
}

// APIClients implements issuance.ExtTx.
func (t *PGIssuanceTx) APIClients(iec string) ([]*issuance.APIClient, error) {
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

// EnqueueMessages is IssuanceTx.EnqueueMessages: the messages commit with
// the change that caused them, or not at all.
func (t *PGIssuanceTx) EnqueueMessages(msgs ...OutMessage) error {
	if err := checkEnqueue(nil, msgs); err != nil {
		return err
	}
	now := t.pg.now()
	for i := range msgs {
		if _, err := pgEnqueueTx(t.ctx, t.tx, now, &msgs[i]); err != nil {
			return fmt.Errorf("enqueue %s: %w", msgs[i].ID, err)
		}
	}
	if len(msgs) > 0 {
		return notifyOutbox(t.ctx, t.tx)
	}
	return nil
}

// EnqueueRegistered is Outbox.EnqueueRegisteredTx on PostgreSQL, in this
// transaction: the register entries, the messages and the audit entries
// commit with the issuance's move to issued, or not at all. When msgs is
// empty the register and audit entries are still written.
func (t *PGIssuanceTx) EnqueueRegistered(register []IssuedCert, audit []Entry, msgs ...OutMessage) error {
	if !t.writable {
		return errors.New("enqueue in a transaction: a write transaction is required")
	}
	audit, err := t.pg.checkEntries(audit)
	if err != nil {
		return fmt.Errorf("enqueue %d message(s): %w", len(msgs), err)
	}
	if err := checkEnqueue(register, msgs); err != nil {
		return err
	}
	now := t.pg.now()
	added := len(msgs) == 0
	for i := range msgs {
		isNew, err := pgEnqueueTx(t.ctx, t.tx, now, &msgs[i])
		if err != nil {
			return fmt.Errorf("enqueue %d message(s): %w", len(msgs), err)
		}
		added = added || isNew
	}
	if !added {
		return nil
	}
	for _, r := range register {
		if _, err := pgRegisterTx(t.ctx, t.tx, r, now); err != nil {
			return fmt.Errorf("register issued certificate %s: %w", r.Number, err)
		}
	}
	if err := pgAppendEntries(t.ctx, t.tx, audit); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return notifyOutbox(t.ctx, t.tx)
	}
	return nil
}

var (
	_ issuance.Store = (*PGIssuanceStore)(nil)
	_ issuance.ExtTx = (*PGIssuanceTx)(nil)
)
