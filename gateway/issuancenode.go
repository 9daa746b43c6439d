package gateway

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// IssuanceNode is the node as the issuance workflow needs it
// (issuance.Node): it writes an issued certificate's entries in the
// register of issued certificates (so /verify, the QR link and
// verification queries answer for it at once) and, when the importing
// country is a registered partner that exchanges under the agreement,
// queues the signed e-CO for it on the outbox (kind issue, or replace for
// an in-lieu certificate), with the audit entries, all in the issuance
// transaction that moves the application to issued
// (store.Outbox.EnqueueRegisteredTx). Get it from Node.Issuance.
type IssuanceNode struct {
	n      *Node
	outbox *store.Outbox // nil on PostgreSQL (the transaction enqueues)
	// hook, when set (tests only), runs at each step ("register",
	// "enqueue") inside the transaction; an error fails the issue.
	hook func(step string) error
}

// Issuance returns the node's issuance adapter. The outbox must be a
// *store.Outbox or a *store.PGOutbox, in the store that the issuance
// service's Store uses.
func (n *Node) Issuance() (*IssuanceNode, error) {
	switch o := n.opt.Outbox.(type) {
	case *store.Outbox:
		if o != nil {
			return &IssuanceNode{n: n, outbox: o}, nil
		}
	case *store.PGOutbox:
		if o != nil {
			return &IssuanceNode{n: n}, nil
		}
	}
	return nil, errors.New("issuance: the node's outbox is neither a bbolt nor a PostgreSQL store; issuing needs the outbox in the issuance store")
}

// pgTx is implemented by store.PGIssuanceTx: the register, outbox and
// audit entries are written in the issuance's SQL transaction.
type pgTx interface {
	EnqueueRegistered(register []store.IssuedCert, audit []store.Entry, msgs ...store.OutMessage) error
	OnCommit(func())
}

// boltTx is implemented by store.IssuanceTx.
type boltTx interface{ Bolt() *bolt.Tx }

// RegisterAndQueue implements issuance.Node.
func (in *IssuanceNode) RegisterAndQueue(ctx context.Context, tx issuance.Tx, c *issuance.Certificate, signed []byte) error {
	bt, isBolt := tx.(boltTx)
	pt, isPG := tx.(pgTx)
	switch {
	case isBolt && in.outbox != nil:
	case isPG && in.outbox == nil:
	default:
		return errors.New("issuance transaction is not a transaction of the node's store")
	}
	if c.ECO == nil {
		return fmt.Errorf("certificate %s has no e-CO", c.Number)
	}
	if len(signed) == 0 {
		return fmt.Errorf("certificate %s is not signed", c.Number)
	}
	register, err := customs.IssuedRecords(c.ECO)
	if err != nil {
		return fmt.Errorf("register entries of %s: %w", c.Number, err)
	}
	if in.hook != nil {
		if err := in.hook("register"); err != nil {
			return err
		}
	}
	eco := c.ECO
	kind := KindOf(eco)
	var msgs []store.OutMessage
	var entries []store.Entry
	actor := "issuance:" + c.Officer
	hash := ContentHash(signed)
	if p := in.n.opt.Partners.Lookup(eco.Header.ImportCountry); p != nil && eco.Header.ImportCountry != in.n.country &&
		(eco.Header.Agreement == "" || p.HasAgreement(eco.Header.Agreement)) {
		id := in.n.ids.New()
		msgs = append(msgs, store.OutMessage{ID: id, Partner: p.Country, CertNumber: eco.Header.ID, Version: eco.Header.Version,
			Kind: kind, Content: signed, Created: in.n.clock.Now().UTC(), Pull: p.Pull, Exclusive: true})
		entries = append(entries, auditEntry(actor, "send", id, map[string]string{"partner": p.Country, "certificate": eco.Ref().String(),
			"kind": kind, "sha256": hash, "application": c.Application}))
	} else {
		entries = append(entries, auditEntry(actor, "register", c.Number, map[string]string{"certificate": eco.Ref().String(),
			"kind": kind, "sha256": hash, "application": c.Application, "note": "importing country " + eco.Header.ImportCountry + " is not a registered partner for " + eco.Header.Agreement}))
	}
	if in.hook != nil {
		if err := in.hook("enqueue"); err != nil {
			return err
		}
	}
	onCommit := func(f func()) { pt.OnCommit(f) }
	if isBolt {
		if err := in.outbox.EnqueueRegisteredTx(bt.Bolt(), register, entries, msgs...); err != nil {
			return err
		}
		onCommit = bt.Bolt().OnCommit
	} else if err := pt.EnqueueRegistered(register, entries, msgs...); err != nil {
		return err
	}
	if len(msgs) > 0 {
		onCommit(func() {
			for _, m := range msgs {
				in.n.m.enqueued.WithLabelValues(m.Partner).Inc()
			}
			in.n.Kick()
		})
	}
	return nil
}

var _ issuance.Node = (*IssuanceNode)(nil)
