package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// State is the delivery state of an outbound message (design §4.3), and the
// outcome recorded for an inbound one.
type State string

// Delivery states. Delivered, DeliveredWithWarnings, NotReadable and Failed
// are settled: the partner answered with a receipt. Suspended is the dead
// letter state: the retry policy is spent; Outbox.Retry resends by hand.
const (
	StateQueued                State = "queued"
	StateSending               State = "sending"
	StateAwaitingRetry         State = "awaiting-retry"
	StateDelivered             State = "delivered"
	StateDeliveredWithWarnings State = "delivered-with-warnings"
	StateNotReadable           State = "not-readable"
	StateFailed                State = "failed"
	StateSuspended             State = "suspended"
)

// States lists every delivery state, in lifecycle order.
func States() []State {
	return []State{StateQueued, StateSending, StateAwaitingRetry, StateDelivered,
		StateDeliveredWithWarnings, StateNotReadable, StateFailed, StateSuspended}
}

// Settled reports whether s is a final answer from the partner.
func (s State) Settled() bool {
	switch s {
	case StateDelivered, StateDeliveredWithWarnings, StateNotReadable, StateFailed:
		return true
	}
	return false
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	for _, v := range States() {
		if s == v {
			return true
		}
	}
	return false
}

// pending reports whether a message in state s still waits for delivery and
// so counts in the partner's depth.
func (s State) pending() bool { return !s.Settled() }

// OutMessage is one message to one partner, as handed to Enqueue.
type OutMessage struct {
	// ID is the message id, kept across every retry (e.g. a UUIDv7).
	ID string
	// Partner is the recipient's country code.
	Partner string
	// CertNumber and Version identify the certificate the message concerns.
	CertNumber string
	Version    int
	// Kind is the kind of message: "issue", "withdraw", "replace",
	// "decision", ... Messages for one certificate and partner are delivered
	// in enqueue order whatever their kind.
	Kind string
	// Content is the exact signed bytes. Identical content sent to several
	// partners is stored once.
	Content []byte
	// Created is the creation time; the store's clock when zero.
	Created time.Time
	// Pull marks a message for a partner that fetches its messages (pull
	// mode): it is never returned by Due/Claim, but by Outbox.Waiting.
	Pull bool
	// Exclusive refuses the message with an *AlreadySentError when a
	// message of the same kind for the same certificate number and version
	// is already queued for, suspended for or delivered to the partner
	// (checked in the enqueue's transaction).
	Exclusive bool
}

// OutRecord is a stored outbound message with its delivery state.
type OutRecord struct {
	ID          string    `json:"id"`
	Seq         uint64    `json:"seq"`
	Partner     string    `json:"partner"`
	CertNumber  string    `json:"certNumber"`
	Version     int       `json:"version"`
	Kind        string    `json:"kind"`
	ContentHash string    `json:"contentHash"`
	Pull        bool      `json:"pull,omitempty"`
	Created     time.Time `json:"created"`
	// RetryFrom is when the current round of attempts began (Created, or the
	// last manual Retry): the retry policy's maximum age counts from it.
	RetryFrom time.Time `json:"retryFrom"`
	State     State     `json:"state"`
	// Attempts counts delivery attempts in the current round.
	Attempts int       `json:"attempts"`
	NextTry  time.Time `json:"nextTry"`
	LastTry  time.Time `json:"lastTry,omitempty"`
	LastErr  string    `json:"lastErr,omitempty"`
	Updated  time.Time `json:"updated"`
	// Receipt is the partner's signed receipt, stored as received.
	Receipt []byte `json:"receipt,omitempty"`
	// Content is the signed bytes; filled by Get, left nil by List and Due.
	Content []byte `json:"-"`
}

// Outbox is the durable queue of outbound messages. Get it from DB.Outbox.
type Outbox struct{ db *DB }

// Enqueue stores the messages atomically (all or none) in state queued, due
// now. Enqueueing a message id again with the same partner and content is a
// no-op (so a producer may retry after a crash); with anything else it
// fails with ErrConflict.
func (o *Outbox) Enqueue(ctx context.Context, msgs ...OutMessage) error {
	return o.enqueue(ctx, nil, nil, msgs)
}

// EnqueueAudited is Enqueue with audit entries (checked as Audit.Append
// checks them) appended in the same transaction as the messages: both are
// durable, or neither is, with one commit.
func (o *Outbox) EnqueueAudited(ctx context.Context, audit []Entry, msgs ...OutMessage) error {
	return o.enqueue(ctx, nil, audit, msgs)
}

// EnqueueRegistered is the submission of a certificate this node issues,
// as one act: the messages, the certificate's entries in the register of
// issued certificates (applied in order, as Issued.Register applies them:
// typically the certificate, then the one it replaces marked replaced) and
// the audit entries are written in one transaction. After a crash at any
// moment either all of it is stored or none of it, so a certificate that
// was queued is always in the register, and a refused enqueue (ErrConflict,
// an *AlreadySentError) leaves the register as it was. When every message
// was already queued (a producer retrying the same ids), nothing is
// written. audit may be nil (the caller then audits on its own).
func (o *Outbox) EnqueueRegistered(ctx context.Context, register []IssuedCert, audit []Entry, msgs ...OutMessage) error {
	return o.enqueue(ctx, register, audit, msgs)
}

func (o *Outbox) enqueue(ctx context.Context, register []IssuedCert, audit []Entry, msgs []OutMessage) error {
	pl, err := o.planEnqueue(register, audit, msgs)
	if err != nil {
		return err
	}
	now := o.db.clock()
	err = o.db.update(ctx, func(tx *bolt.Tx) error { return o.applyEnqueue(tx, now, pl) })
	if err != nil {
		return fmt.Errorf("enqueue %d message(s): %w", len(msgs), err)
	}
	return nil
}

// enqueuePlan is an enqueue checked and prepared outside the writer.
type enqueuePlan struct {
	register []IssuedCert
	audit    []Entry
	msgs     []OutMessage
	hashes   []string
	stored   [][]byte
}

// planEnqueue checks an enqueue's messages, register and audit entries
// and computes the content hashes and stored blobs.
func (o *Outbox) planEnqueue(register []IssuedCert, audit []Entry, msgs []OutMessage) (*enqueuePlan, error) {
	audit, err := o.db.checkEntries(audit)
	if err != nil {
		return nil, fmt.Errorf("enqueue %d message(s): %w", len(msgs), err)
	}
	for _, r := range register {
		if err := checkID("certificate number", r.Number); err != nil {
			return nil, fmt.Errorf("enqueue %d message(s): register issued certificate: %w", len(msgs), err)
		}
		if r.Status != "" && r.Status != CertIssued && r.Status != CertWithdrawn && r.Status != CertReplaced {
			return nil, fmt.Errorf("enqueue %d message(s): register issued certificate %s: %w: status %q", len(msgs), r.Number, ErrInvalid, r.Status)
		}
	}
	for i := range msgs {
		m := &msgs[i]
		for _, c := range []struct{ f, v string }{{"message id", m.ID}, {"partner", m.Partner}, {"certificate number", m.CertNumber}, {"kind", m.Kind}} {
			if err := checkID(c.f, c.v); err != nil {
				return nil, fmt.Errorf("enqueue %q: %w", m.ID, err)
			}
		}
		if len(m.Content) == 0 {
			return nil, fmt.Errorf("enqueue %s: %w: content is empty", m.ID, ErrInvalid)
		}
	}
	pl := &enqueuePlan{register: register, audit: audit, msgs: msgs, hashes: make([]string, len(msgs)), stored: make([][]byte, len(msgs))}
	for i := range msgs {
		pl.hashes[i] = hashHex(msgs[i].Content)
		pl.stored[i] = encodeBlob(msgs[i].Content)
	}
	return pl, nil
}

// applyEnqueue writes a planned enqueue in the write transaction tx.
func (o *Outbox) applyEnqueue(tx *bolt.Tx, now time.Time, pl *enqueuePlan) error {
	msgs := pl.msgs
	added := false
	for i := range msgs {
		isNew, err := enqueueTx(tx, now, &msgs[i], pl.hashes[i], pl.stored[i])
		if err != nil {
			return err
		}
		added = added || isNew
	}
	if !added {
		return nil // every message was already queued: nothing new to register or audit
	}
	if o.db.hookEnqueueMid != nil {
		if err := o.db.hookEnqueueMid(msgs[0].CertNumber); err != nil {
			return err
		}
	}
	for _, r := range pl.register {
		if _, err := registerTx(tx, r, now.UTC()); err != nil {
			return fmt.Errorf("register issued certificate %s: %w", r.Number, err)
		}
	}
	return appendEntries(tx, pl.audit)
}

// dueKey is the schedule key of r, or nil when r is not scheduled.
func dueKey(r *OutRecord) []byte {
	if r.Pull {
		return nil
	}
	switch r.State {
	case StateQueued, StateAwaitingRetry, StateSending:
		return key(timeKey(r.NextTry), []byte(r.ID))
	}
	return nil
}

func stateKey(r *OutRecord) []byte {
	return key([]byte(r.State), []byte(r.Partner), be64(r.Seq), []byte(r.ID))
}

// putOut writes r and moves its index entries from old (nil for new).
func putOut(tx *bolt.Tx, old, r *OutRecord) error {
	due, st := tx.Bucket([]byte(bktOutDue)), tx.Bucket([]byte(bktOutState))
	if old != nil {
		if k := dueKey(old); k != nil {
			if err := due.Delete(k); err != nil {
				return err
			}
		}
		if err := st.Delete(stateKey(old)); err != nil {
			return err
		}
	}
	if k := dueKey(r); k != nil {
		if err := due.Put(k, nil); err != nil {
			return err
		}
	}
	if err := st.Put(stateKey(r), nil); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bktOut)).Put([]byte(r.ID), b)
}

func getOut(tx *bolt.Tx, id string) (*OutRecord, error) {
	v := tx.Bucket([]byte(bktOut)).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("outbound message %s: %w", id, ErrNotFound)
	}
	var r OutRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode outbound message %s: %w", id, err)
	}
	return &r, nil
}

// enqueueTx enqueues message m in tx (hash is the SHA-256 of its content,
// stored its encodeBlob form, both computed outside the writer). It
// reports whether m is new: the same id with the same partner and content
// is already queued (false, nil); with anything else it is ErrConflict.
func enqueueTx(tx *bolt.Tx, now time.Time, m *OutMessage, hash string, stored []byte) (bool, error) {
	out := tx.Bucket([]byte(bktOut))
	if old := out.Get([]byte(m.ID)); old != nil {
		var r OutRecord
		if err := json.Unmarshal(old, &r); err != nil {
			return false, fmt.Errorf("decode message %s: %w", m.ID, err)
		}
		if r.Partner == m.Partner && r.ContentHash == hash {
			return false, nil
		}
		return false, fmt.Errorf("enqueue %s: %w (stored for %s with hash %s)", m.ID, ErrConflict, r.Partner, r.ContentHash)
	}
	if m.Exclusive {
		if prev, err := sentBefore(tx, m); err != nil {
			return false, err
		} else if prev != nil {
			return false, &AlreadySentError{Partner: m.Partner, CertNumber: m.CertNumber, Version: m.Version, Kind: m.Kind, ID: prev.ID, State: prev.State}
		}
	}
	h, err := putBlob(tx, hash, stored)
	if err != nil {
		return false, err
	}
	seq, err := out.NextSequence()
	if err != nil {
		return false, err
	}
	created := m.Created
	if created.IsZero() {
		created = now
	}
	r := &OutRecord{
		ID: m.ID, Seq: seq, Partner: m.Partner, CertNumber: m.CertNumber, Version: m.Version,
		Kind: m.Kind, ContentHash: h, Pull: m.Pull, Created: created.UTC(), RetryFrom: created.UTC(),
		State: StateQueued, NextTry: now.UTC(), Updated: now.UTC(),
	}
	if err := tx.Bucket([]byte(bktOutCert)).Put(key([]byte(r.Partner), []byte(r.CertNumber), be64(r.Seq)), []byte(r.ID)); err != nil {
		return false, err
	}
	return true, putOut(tx, nil, r)
}

// certMessages calls fn, in enqueue order, for the messages to partner
// about certificate number, until fn returns false.
func certMessages(tx *bolt.Tx, partner, number string, fn func(seq uint64, r *OutRecord) bool) error {
	p := prefix([]byte(partner), []byte(number))
	var err error
	scanPrefix(tx.Bucket([]byte(bktOutCert)), p, func(k, v []byte) bool {
		r, e := getOut(tx, string(v))
		if e != nil {
			err = e
			return false
		}
		return fn(binary.BigEndian.Uint64(k[len(p):]), r)
	})
	return err
}

// blocked reports whether an earlier message for the same partner and
// certificate is not yet settled, so r must wait (design §5: a withdrawal
// never overtakes the issue).
func blocked(tx *bolt.Tx, r *OutRecord) (bool, error) {
	isBlocked := false
	err := certMessages(tx, r.Partner, r.CertNumber, func(seq uint64, prev *OutRecord) bool {
		if seq >= r.Seq {
			return false
		}
		isBlocked = !prev.State.Settled()
		return !isBlocked
	})
	return isBlocked, err
}

// Due returns up to limit messages whose next try is at or before now, in
// next-try order, leaving out pull-mode messages and any message that must
// wait for an earlier, unsettled message for the same certificate and
// partner. Messages in state sending whose lease (see Claim) has expired are
// due again. Due does not change anything; use Claim to take messages.
//
// Cost: Due walks the schedule index from the earliest next try, so it
// reads the returned messages plus every due message it skips as blocked
// (typically few: status messages waiting behind an unsettled issue).
// For ordering, give a status message (withdrawal, replacement) the
// CertNumber of the certificate it concerns, so it queues behind the issue.
func (o *Outbox) Due(ctx context.Context, now time.Time, limit int) ([]OutRecord, error) {
	var res []OutRecord
	err := o.db.view(func(tx *bolt.Tx) error {
		var err error
		res, err = due(ctx, tx, now, limit)
		return err
	})
	return res, err
}

func due(ctx context.Context, tx *bolt.Tx, now time.Time, limit int) ([]OutRecord, error) {
	var res []OutRecord
	end := timeKey(now)
	c := tx.Bucket([]byte(bktOutDue)).Cursor()
	for k, _ := c.First(); k != nil && len(res) < limit; k, _ = c.Next() {
		if bytes.Compare(k[:8], end) > 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := getOut(tx, string(lastPart(k)))
		if err != nil {
			return nil, err
		}
		b, err := blocked(tx, r)
		if err != nil {
			return nil, err
		}
		if !b {
			res = append(res, *r)
		}
	}
	return res, nil
}

// Claim takes up to limit due messages (as Due) and moves them to state
// sending, counting one attempt each, with a lease: if the node dies before
// MarkAttempt, they are due again at now+lease. The returned records carry
// their Content.
func (o *Outbox) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutRecord, error) {
	var res []OutRecord
	err := o.db.update(ctx, func(tx *bolt.Tx) error {
		res = res[:0]
		list, err := due(ctx, tx, now, limit)
		if err != nil {
			return err
		}
		for _, r := range list {
			old := r
			r.State = StateSending
			r.Attempts++
			r.LastTry = now.UTC()
			r.NextTry = now.Add(lease).UTC()
			r.Updated = o.db.clock().UTC()
			if err := putOut(tx, &old, &r); err != nil {
				return err
			}
			// The stored form; decompressed after the commit, outside
			// the writer.
			if r.Content, err = getStoredBlob(tx, r.ContentHash); err != nil {
				return err
			}
			res = append(res, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due messages: %w", err)
	}
	for i := range res {
		res[i].Content = decodeBlob(res[i].ContentHash, res[i].Content)
	}
	return res, nil
}

// Attempt is the result of one delivery attempt, given to MarkAttempt.
type Attempt struct {
	// Outcome is the new state: a settled state when the partner answered
	// with a receipt, StateAwaitingRetry (NextTry required) after a
	// transient failure, or StateSuspended when the retry policy is spent.
	Outcome State
	// Err describes the failure, if any (no secrets).
	Err string
	// NextTry is when to try again (StateAwaitingRetry only).
	NextTry time.Time
	// Receipt is the partner's signed receipt (settled outcomes).
	Receipt []byte
}

// MarkAttempt records the result of a delivery attempt. A late receipt
// settles a message from any unsettled state, including suspended
// (Holodeck#104). A settled message stays settled: marking it again with the
// same outcome is a no-op, anything else is ErrState.
func (o *Outbox) MarkAttempt(ctx context.Context, id string, a Attempt) error {
	return o.markAttempt(ctx, id, a, nil)
}

// MarkAttemptAudited is MarkAttempt with audit entries appended in the same
// transaction when it succeeds (a repeated settled outcome included): one
// commit for both.
func (o *Outbox) MarkAttemptAudited(ctx context.Context, id string, a Attempt, audit []Entry) error {
	return o.markAttempt(ctx, id, a, audit)
}

func (o *Outbox) markAttempt(ctx context.Context, id string, a Attempt, audit []Entry) error {
	audit, err := o.db.checkEntries(audit)
	if err != nil {
		return fmt.Errorf("mark attempt of %s: %w", id, err)
	}
	if err := a.check(id); err != nil {
		return err
	}
	err = o.db.update(ctx, func(tx *bolt.Tx) error {
		r, err := getOut(tx, id)
		if err != nil {
			return err
		}
		old := *r
		if repeat, err := a.apply(r, o.db.clock()); err != nil {
			return err
		} else if repeat {
			return appendEntries(tx, audit)
		}
		if err := putOut(tx, &old, r); err != nil {
			return err
		}
		return appendEntries(tx, audit)
	})
	if err != nil {
		return fmt.Errorf("mark attempt of %s as %s: %w", id, a.Outcome, err)
	}
	return nil
}

// check refuses an attempt whose outcome MarkAttempt cannot record (both
// engines).
func (a Attempt) check(id string) error {
	switch {
	case a.Outcome.Settled(), a.Outcome == StateSuspended:
	case a.Outcome == StateAwaitingRetry:
		if a.NextTry.IsZero() {
			return fmt.Errorf("mark attempt of %s: %w: awaiting-retry needs a next try time", id, ErrInvalid)
		}
	default:
		return fmt.Errorf("mark attempt of %s: %w: outcome %q", id, ErrInvalid, a.Outcome)
	}
	return nil
}

// apply records the attempt on r at now (both engines). repeat is true
// when r is already settled with this outcome (nothing to change); a
// message settled otherwise is ErrState.
func (a Attempt) apply(r *OutRecord, now time.Time) (repeat bool, err error) {
	if r.State.Settled() {
		if r.State == a.Outcome {
			return true, nil
		}
		return false, fmt.Errorf("%w: message is already %s", ErrState, r.State)
	}
	r.State, r.LastErr, r.Updated = a.Outcome, a.Err, now.UTC()
	if a.Outcome == StateAwaitingRetry {
		r.NextTry = a.NextTry.UTC()
	}
	if a.Outcome.Settled() && a.Receipt != nil {
		r.Receipt = bytes.Clone(a.Receipt)
	}
	return false, nil
}

// retryable refuses a by-hand resend of a message in state st: only a
// suspended, awaiting-retry, failed, not-readable or queued message goes
// back to queued (both engines).
func retryable(st State) error {
	switch st {
	case StateSuspended, StateAwaitingRetry, StateFailed, StateNotReadable, StateQueued:
		return nil
	}
	return fmt.Errorf("%w: message is %s", ErrState, st)
}

// Suspend moves an unsettled message to suspended (dead letter) with a
// reason; it is no longer retried until Retry.
func (o *Outbox) Suspend(ctx context.Context, id, reason string) error {
	return o.MarkAttempt(ctx, id, Attempt{Outcome: StateSuspended, Err: reason})
}

// Retry resends a message by hand: from suspended, awaiting-retry, failed or
// not-readable it goes back to queued, due now, with a fresh round of
// attempts (the retry policy's maximum age counts from now). The message id
// stays the same. A delivered message, or one being sent, is ErrState.
func (o *Outbox) Retry(ctx context.Context, id string) error {
	err := o.db.update(ctx, func(tx *bolt.Tx) error {
		r, err := getOut(tx, id)
		if err != nil {
			return err
		}
		if err := retryable(r.State); err != nil {
			return err
		}
		old := *r
		now := o.db.clock().UTC()
		r.State, r.Attempts, r.NextTry, r.RetryFrom, r.Updated = StateQueued, 0, now, now, now
		r.Receipt = nil
		return putOut(tx, &old, r)
	})
	if err != nil {
		return fmt.Errorf("retry %s: %w", id, err)
	}
	return nil
}

// Get returns the message with its content, or ErrNotFound.
func (o *Outbox) Get(ctx context.Context, id string) (*OutRecord, error) {
	var r *OutRecord
	err := o.db.view(func(tx *bolt.Tx) error {
		var err error
		if r, err = getOut(tx, id); err != nil {
			return err
		}
		r.Content, err = getBlob(tx, r.ContentHash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get outbound message %s: %w", id, err)
	}
	return r, nil
}

// Filter selects messages for List. Zero fields match everything.
type Filter struct {
	State   State
	Partner string
	// Limit caps the result; 0 means no cap.
	Limit int
}

// List returns messages (without Content) matching f, grouped by state in
// lifecycle order, then by partner and enqueue order.
func (o *Outbox) List(ctx context.Context, f Filter) ([]OutRecord, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, fmt.Errorf("list outbox: %w: unknown state %q (one of %v)", ErrInvalid, f.State, States())
	}
	states := States()
	if f.State != "" {
		states = []State{f.State}
	}
	var res []OutRecord
	err := o.db.view(func(tx *bolt.Tx) error {
		st := tx.Bucket([]byte(bktOutState))
		for _, s := range states {
			p := prefix([]byte(s))
			if f.Partner != "" {
				p = prefix([]byte(s), []byte(f.Partner))
			}
			var err error
			scanPrefix(st, p, func(k, _ []byte) bool {
				if f.Limit > 0 && len(res) >= f.Limit {
					return false
				}
				var r *OutRecord
				if r, err = getOut(tx, string(lastPart(k))); err != nil {
					return false
				}
				res = append(res, *r)
				return ctx.Err() == nil
			})
			if err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return res, nil
}

// Depth returns, per partner, the number of messages not yet settled
// (queued, sending, awaiting retry, suspended). Partners with none are
// absent.
func (o *Outbox) Depth(ctx context.Context) (map[string]int, error) {
	by, err := o.DepthByState(ctx)
	if err != nil {
		return nil, err
	}
	res := map[string]int{}
	for p, m := range by {
		for _, k := range m {
			res[p] += k
		}
	}
	return res, nil
}

// DepthByState counts the unsettled messages (queued, sending,
// awaiting-retry, suspended) per partner and state, in one read
// transaction, so that a message moving between states is counted once.
func (o *Outbox) DepthByState(ctx context.Context) (map[string]map[State]int, error) {
	res := map[string]map[State]int{}
	err := o.db.view(func(tx *bolt.Tx) error {
		st := tx.Bucket([]byte(bktOutState))
		for _, s := range States() {
			if !s.pending() {
				continue
			}
			p := prefix([]byte(s))
			scanPrefix(st, p, func(k, _ []byte) bool {
				rest := k[len(p):]
				if i := bytes.IndexByte(rest, 0); i > 0 {
					partner := string(rest[:i])
					if res[partner] == nil {
						res[partner] = map[State]int{}
					}
					res[partner][s]++
				}
				return true
			})
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("outbox depth: %w", err)
	}
	return res, nil
}

// CountByState returns the number of messages in each state (all states
// present, zero included), for metrics such as ecogate_outbox_messages.
func (o *Outbox) CountByState(ctx context.Context) (map[State]int, error) {
	res := map[State]int{}
	err := o.db.view(func(tx *bolt.Tx) error {
		st := tx.Bucket([]byte(bktOutState))
		for _, s := range States() {
			res[s] = 0
			scanPrefix(st, prefix([]byte(s)), func(_, _ []byte) bool { res[s]++; return true })
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("count outbox states: %w", err)
	}
	return res, nil
}

// Waiting returns up to limit pull-mode messages queued for partner, in
// enqueue order, with their Content: what GET /eco/v1/inbox on this node
// hands to a partner that pulls. Enqueue order keeps a certificate's
// status messages after its issue; the pulling partner applies them in
// the order listed. The store does not suspend pull messages by age: the
// gateway decides what an unfetched message's maximum age means.
func (o *Outbox) Waiting(ctx context.Context, partner string, limit int) ([]OutRecord, error) {
	var res []OutRecord
	err := o.db.view(func(tx *bolt.Tx) error {
		var err error
		scanPrefix(tx.Bucket([]byte(bktOutState)), prefix([]byte(StateQueued), []byte(partner)), func(k, _ []byte) bool {
			if limit > 0 && len(res) >= limit {
				return false
			}
			var r *OutRecord
			if r, err = getOut(tx, string(lastPart(k))); err != nil {
				return false
			}
			if !r.Pull {
				return true
			}
			if r.Content, err = getBlob(tx, r.ContentHash); err != nil {
				return false
			}
			res = append(res, *r)
			return true
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list messages waiting for %s: %w", partner, err)
	}
	return res, nil
}

// Ack records a pulling partner's acknowledgement (POST
// /eco/v1/inbox/{id}/ack): the message must be addressed to partner, and
// settles with outcome and the partner's receipt. Acknowledging again with
// the same outcome is a no-op.
func (o *Outbox) Ack(ctx context.Context, partner, id string, outcome State, receipt []byte) error {
	if !outcome.Settled() {
		return fmt.Errorf("ack %s: %w: outcome %q is not a receipt outcome", id, ErrInvalid, outcome)
	}
	err := o.db.view(func(tx *bolt.Tx) error {
		r, err := getOut(tx, id)
		if err != nil {
			return err
		}
		if r.Partner != partner {
			// Do not tell a partner about another partner's message.
			return fmt.Errorf("outbound message %s: %w", id, ErrNotFound)
		}
		return nil
	})
	if err == nil {
		err = o.MarkAttempt(ctx, id, Attempt{Outcome: outcome, Receipt: receipt})
	}
	if err != nil {
		return fmt.Errorf("ack %s by %s: %w", id, partner, err)
	}
	return nil
}

// checkOutboxIndexes verifies that every message has exactly its index
// entries and its blob, and that no index entry dangles.
func checkOutboxIndexes(tx *bolt.Tx) error {
	wantDue, wantState, wantCert := map[string]bool{}, map[string]bool{}, map[string]bool{}
	err := tx.Bucket([]byte(bktOut)).ForEach(func(k, v []byte) error {
		var r OutRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("outbound message %s: %w", k, err)
		}
		if r.ID != string(k) {
			return fmt.Errorf("outbound message under key %s has id %s", k, r.ID)
		}
		if tx.Bucket([]byte(bktBlobs)).Get([]byte(r.ContentHash)) == nil {
			return fmt.Errorf("outbound message %s: blob %s missing", r.ID, r.ContentHash)
		}
		if dk := dueKey(&r); dk != nil {
			wantDue[string(dk)] = true
		}
		wantState[string(stateKey(&r))] = true
		wantCert[string(key([]byte(r.Partner), []byte(r.CertNumber), be64(r.Seq)))] = true
		return nil
	})
	if err != nil {
		return err
	}
	for _, ix := range []struct {
		name string
		want map[string]bool
	}{{bktOutDue, wantDue}, {bktOutState, wantState}, {bktOutCert, wantCert}} {
		n := 0
		err := tx.Bucket([]byte(ix.name)).ForEach(func(k, _ []byte) error {
			if !ix.want[string(k)] {
				return fmt.Errorf("index %s: entry %q has no matching message", ix.name, k)
			}
			n++
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(ix.want) {
			return fmt.Errorf("index %s: %d entries for %d expected", ix.name, n, len(ix.want))
		}
	}
	return nil
}

// checkEnqueue refuses what Outbox.enqueue refuses before writing.
func checkEnqueue(register []IssuedCert, msgs []OutMessage) error {
	for _, r := range register {
		if err := checkID("certificate number", r.Number); err != nil {
			return fmt.Errorf("enqueue %d message(s): register issued certificate: %w", len(msgs), err)
		}
		if r.Status != "" && r.Status != CertIssued && r.Status != CertWithdrawn && r.Status != CertReplaced {
			return fmt.Errorf("enqueue %d message(s): register issued certificate %s: %w: status %q", len(msgs), r.Number, ErrInvalid, r.Status)
		}
	}
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
	}
	return nil
}
