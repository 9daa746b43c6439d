package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// EnqueueRegisteredTx is EnqueueRegistered inside tx, a write transaction
// of this outbox's store that another writer opened: the issuance
// workflow's Update (store.IssuanceTx.Bolt), so that the application's move
// to issued, its number, the register entries, the messages and the audit
// entries commit together or not at all (issuance and sending are one act).
// The same checks apply as in EnqueueRegistered. Unlike it, when msgs is
// empty (the importing country is not a registered partner) the register
// and audit entries are still written. An error leaves tx to be rolled
// back by its owner.
func (o *Outbox) EnqueueRegisteredTx(tx *bolt.Tx, register []IssuedCert, audit []Entry, msgs ...OutMessage) error {
	if tx == nil || !tx.Writable() {
		return errors.New("enqueue in a transaction: a write transaction is required")
	}
	if tx.DB() != o.db.bolt {
		return errors.New("enqueue in a transaction: the transaction belongs to another store than the outbox")
	}
	pl, err := o.planEnqueue(register, audit, msgs)
	if err != nil {
		return err
	}
	now := o.db.clock()
	if len(msgs) == 0 {
		for _, r := range register {
			if _, err := registerTx(tx, r, now.UTC()); err != nil {
				return fmt.Errorf("register issued certificate %s: %w", r.Number, err)
			}
		}
		return appendEntries(tx, pl.audit)
	}
	if err := o.applyEnqueue(tx, now, pl); err != nil {
		return fmt.Errorf("enqueue %d message(s): %w", len(msgs), err)
	}
	return nil
}

// IssuedTx returns the register entry of certificate number inside tx
// (ErrNotFound when there is none).
func IssuedTx(tx *bolt.Tx, number string) (*IssuedCert, error) {
	return getIssued(tx, number)
}

// EnqueueMessages queues outbound messages (e.g. the issuance's webhooks
// and notifications) in this transaction: they commit with the change
// that caused them, or not at all. Same rules as Outbox.Enqueue.
func (t *IssuanceTx) EnqueueMessages(msgs ...OutMessage) error {
	if err := checkEnqueue(nil, msgs); err != nil {
		return err
	}
	now := t.db.clock()
	for i := range msgs {
		m := &msgs[i]
		if _, err := enqueueTx(t.tx, now, m, hashHex(m.Content), encodeBlob(m.Content)); err != nil {
			return fmt.Errorf("enqueue %s: %w", m.ID, err)
		}
	}
	return nil
}

// issuanceEnqueuer is what the issuance API's event sink asserts on an
// issuance transaction (issuance/api.Sink): both engines' transactions
// queue messages.
type issuanceEnqueuer interface {
	EnqueueMessages(msgs ...OutMessage) error
}

var (
	_ issuanceEnqueuer = (*IssuanceTx)(nil)
	_ issuanceEnqueuer = (*PGIssuanceTx)(nil)
)
