package gateway

import (
	"context"

	"github.com/ecogate/ecogate/store"
)

// txOutbox is an outbox that appends audit entries in its own
// transactions (*store.Outbox, *store.PGOutbox).
type txOutbox interface {
	EnqueueRegistered(ctx context.Context, register []store.IssuedCert, audit []store.Entry, msgs ...store.OutMessage) error
	MarkAttemptAudited(ctx context.Context, id string, a store.Attempt, audit []store.Entry) error
}

// txInbox is an inbox that appends audit entries in its own transactions
// (*store.Inbox, *store.PGInbox).
type txInbox interface {
	AcceptAudited(ctx context.Context, rec store.InRecord, audit []store.Entry) (*store.InRecord, error)
}

// auditedOutbox returns the outbox when the audit log is the same store
// (bbolt file or PostgreSQL database), so that a write's audit entries can
// be appended in the write's own transaction (one commit and one wait
// instead of two), and nil otherwise (the entries are then appended after
// the write).
func (n *Node) auditedOutbox() txOutbox {
	switch o := n.opt.Outbox.(type) {
	case *store.Outbox:
		if a, ok := n.opt.Audit.(*store.Audit); ok && o != nil && a != nil && o.DB() == a.DB() {
			return o
		}
	case *store.PGOutbox:
		if a, ok := n.opt.Audit.(*store.PGAudit); ok && o != nil && a != nil && o.PG() == a.PG() {
			return o
		}
	}
	return nil
}

// auditedInbox is auditedOutbox for the inbox.
func (n *Node) auditedInbox() txInbox {
	switch in := n.opt.Inbox.(type) {
	case *store.Inbox:
		if a, ok := n.opt.Audit.(*store.Audit); ok && in != nil && a != nil && in.DB() == a.DB() {
			return in
		}
	case *store.PGInbox:
		if a, ok := n.opt.Audit.(*store.PGAudit); ok && in != nil && a != nil && in.PG() == a.PG() {
			return in
		}
	}
	return nil
}

func auditEntry(actor, action, subject string, details map[string]string) store.Entry {
	return store.Entry{Actor: actor, Action: action, Subject: subject, Details: details}
}

// enqueueAudited enqueues msgs with their entries in the register of
// issued certificates (register, may be empty) and their audit entries,
// all in one transaction when the audit log is the outbox's store; else
// the messages and register entries in one transaction, and the audit
// entries appended after (a failed append is logged, as Node.audit does).
func (n *Node) enqueueAudited(ctx context.Context, register []store.IssuedCert, entries []store.Entry, msgs []store.OutMessage) error {
	if o := n.auditedOutbox(); o != nil {
		return o.EnqueueRegistered(ctx, register, entries, msgs...)
	}
	if err := n.opt.Outbox.EnqueueRegistered(ctx, register, nil, msgs...); err != nil {
		return err
	}
	n.appendAll(ctx, entries)
	return nil
}

// acceptAudited stores an inbound message with the audit entries of its
// reception, which are appended only when the message is new.
func (n *Node) acceptAudited(ctx context.Context, rec store.InRecord, entries []store.Entry) (*store.InRecord, error) {
	if in := n.auditedInbox(); in != nil {
		return in.AcceptAudited(ctx, rec, entries)
	}
	existing, err := n.opt.Inbox.Accept(ctx, rec)
	if err == nil && existing == nil {
		n.appendAll(ctx, entries)
	}
	return existing, err
}

// markAttemptAudited records a delivery attempt with its audit entries. When
// the attempt cannot be recorded, the entries are still appended on their
// own (the receipt was verified; the audit log says so either way).
func (n *Node) markAttemptAudited(ctx context.Context, id string, a store.Attempt, entries []store.Entry) error {
	if o := n.auditedOutbox(); o != nil {
		err := o.MarkAttemptAudited(ctx, id, a, entries)
		if err != nil {
			n.appendAll(ctx, entries)
		}
		return err
	}
	err := n.opt.Outbox.MarkAttempt(ctx, id, a)
	n.appendAll(ctx, entries)
	return err
}

func (n *Node) appendAll(ctx context.Context, entries []store.Entry) {
	for _, e := range entries {
		n.audit(ctx, e.Actor, e.Action, e.Subject, e.Details)
	}
}
