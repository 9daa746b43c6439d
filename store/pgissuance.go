package store

import (
	"bytes"
	"context"
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
			t = newPGIssuanceTx(ctx, tx, s.pg, true)
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
	return pgRead(ctx, s.pg, func(tx pgx.Tx) error { return fn(newPGIssuanceTx(ctx, tx, s.pg, false)) })
}

// PGIssuanceTx is one issuance transaction on PostgreSQL (issuance.Tx,
// issuance.ExtTx, issuance.ImageTx): the records over the rows of isu_kv
// (pgKV), the audit chain, the outbox and the issued register in the same
// transaction.
type PGIssuanceTx struct {
	*pgKV
	isuRecords
	pg       *PG
	onCommit []func()
}

func newPGIssuanceTx(ctx context.Context, tx pgx.Tx, pg *PG, writable bool) *PGIssuanceTx {
	kv := &pgKV{ctx: ctx, tx: tx, writable: writable}
	return &PGIssuanceTx{pgKV: kv, isuRecords: isuRecords{kv: kv}, pg: pg}
}

// OnCommit registers f to run after the transaction has committed.
func (t *PGIssuanceTx) OnCommit(f func()) { t.onCommit = append(t.onCommit, f) }

// pgKV is isuKV on a PostgreSQL transaction: the rows of isu_kv, keyed by
// bucket name and key.
type pgKV struct {
	ctx      context.Context
	tx       pgx.Tx
	writable bool
}

func (t *pgKV) kvGet(bkt string, k []byte) ([]byte, error) {
	var v []byte
	err := t.tx.QueryRow(t.ctx, "SELECT v FROM isu_kv WHERE bucket = $1 AND k = $2", bkt, k).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

func (t *pgKV) kvPut(bkt string, k, v []byte) error {
	if !t.writable {
		return errors.New("issuance: write in a read-only transaction")
	}
	if v == nil {
		v = []byte{}
	}
	_, err := t.tx.Exec(t.ctx, "INSERT INTO isu_kv (bucket, k, v) VALUES ($1, $2, $3) ON CONFLICT (bucket, k) DO UPDATE SET v = EXCLUDED.v", bkt, k, v)
	return err
}

func (t *pgKV) kvDelete(bkt string, k []byte) error {
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
func (t *pgKV) kvScan(bkt string, p []byte, fn func(k, v []byte) error) error {
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
	_ issuance.Store   = (*PGIssuanceStore)(nil)
	_ issuance.ExtTx   = (*PGIssuanceTx)(nil)
	_ issuance.ImageTx = (*PGIssuanceTx)(nil)
)
