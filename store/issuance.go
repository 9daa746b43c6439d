package store

import (
	"bytes"
	"context"

	"github.com/ecogate/ecogate/issuance"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// IssuanceStore implements issuance.Store on this DB: Update runs in the
// group-commit writer (one real transaction, shared with the audit log,
// the outbox and the issued register), View in a read-only transaction.
type IssuanceStore struct{ db *DB }

// Issuance returns the issuance workflow's storage.
func (db *DB) Issuance() *IssuanceStore { return &IssuanceStore{db: db} }

// Update runs fn in one write transaction (see issuance.Store).
func (s *IssuanceStore) Update(ctx context.Context, fn func(issuance.Tx) error) error {
	return s.db.update(ctx, func(tx *bolt.Tx) error { return fn(newIssuanceTx(tx, s.db)) })
}

// View runs fn in a read-only transaction.
func (s *IssuanceStore) View(ctx context.Context, fn func(issuance.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.view(func(tx *bolt.Tx) error { return fn(newIssuanceTx(tx, s.db)) })
}

// IssuanceTx is one issuance transaction on bbolt (issuance.Tx,
// issuance.ExtTx, issuance.ImageTx): the records over the transaction's
// buckets (boltKV), the audit chain and the outbox in the same
// transaction.
type IssuanceTx struct {
	isuRecords
	tx *bolt.Tx
	db *DB
}

func newIssuanceTx(tx *bolt.Tx, db *DB) *IssuanceTx {
	return &IssuanceTx{isuRecords: isuRecords{kv: boltKV{tx}}, tx: tx, db: db}
}

// Bolt returns the underlying bbolt transaction, so that the node's
// register-and-queue (issuance.Node) can write the issued register and
// the outbox in the same transaction.
func (t *IssuanceTx) Bolt() *bolt.Tx { return t.tx }

// boltKV is isuKV on a bbolt transaction: one bbolt bucket per issuance
// bucket.
type boltKV struct{ tx *bolt.Tx }

func (kv boltKV) kvGet(bkt string, k []byte) ([]byte, error) {
	if b := bucketOf(kv.tx, bkt); b != nil {
		return b.Get(k), nil
	}
	return nil, nil
}

func (kv boltKV) kvPut(bkt string, k, v []byte) error {
	b, err := bucketRW(kv.tx, bkt)
	if err != nil {
		return err
	}
	if v == nil {
		v = []byte{} // the same empty value, read back non-nil in this transaction too
	}
	return b.Put(k, v)
}

func (kv boltKV) kvDelete(bkt string, k []byte) error {
	if b := bucketOf(kv.tx, bkt); b != nil {
		return b.Delete(k)
	}
	if !kv.tx.Writable() { // as b.Delete would say, and as PostgreSQL does
		return berrors.ErrTxNotWritable
	}
	return nil
}

func (kv boltKV) kvScan(bkt string, p []byte, fn func(k, v []byte) error) error {
	b := bucketOf(kv.tx, bkt)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
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

var (
	_ issuance.Store   = (*IssuanceStore)(nil)
	_ issuance.ExtTx   = (*IssuanceTx)(nil)
	_ issuance.ImageTx = (*IssuanceTx)(nil)
)
