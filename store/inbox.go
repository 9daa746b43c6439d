package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// InRecord is an inbound message as stored by Inbox.Accept.
type InRecord struct {
	// ID is the sender's message id; the primary deduplication key.
	ID string `json:"id"`
	// From is the sending partner's country code.
	From string `json:"from"`
	// CertNumber, Version and Kind identify the certificate and the kind of
	// message ("issue", "withdraw", ...). When CertNumber is set, (From,
	// CertNumber, Version, Kind) is a second deduplication key. Leave it
	// empty for a message that could not be read.
	CertNumber string `json:"certNumber,omitempty"`
	Version    int    `json:"version"`
	Kind       string `json:"kind,omitempty"`
	// Content is the exact bytes received (filled by Get, nil in lists).
	Content     []byte `json:"-"`
	ContentHash string `json:"contentHash"`
	Seq         uint64 `json:"seq"`
	// Received is when the message was stored; the store's clock when zero.
	Received time.Time `json:"received"`
	// Outcome and Receipt are this node's answer: one of the settled states
	// and the signed receipt (JWS). Both may be given to Accept (receipt
	// signed before storing: one fsync) or set later with SetReceipt.
	Outcome State  `json:"outcome,omitempty"`
	Receipt []byte `json:"receipt,omitempty"`
	// StatusChanges are applied to the certificate status records in the
	// same transaction that stores the message, and only when it is new.
	StatusChanges []StatusChange `json:"statusChanges,omitempty"`
	// CheckView, when set with CertNumber, is the customs check view of
	// the certificate (stored form, opaque to the store): Accept stores it
	// as Customs.PutView would (under From and CertNumber, built from this
	// message) in the same transaction, only when the message is new, so
	// that receiving an e-CO takes one commit, not two. Not kept in the
	// record. Both engines store it.
	CheckView []byte `json:"-"`
	// ViewChain, with CheckView, is the signer chain the view refers to
	// by its SHA-256 (Customs.Chain): stored once as content in the same
	// transaction. Not kept in the record.
	ViewChain []byte `json:"-"`
}

// CertState is the lifecycle status of a received certificate version.
type CertState string

// Certificate statuses at the importing side.
const (
	CertIssued    CertState = "issued"
	CertWithdrawn CertState = "withdrawn"
	CertReplaced  CertState = "replaced"
)

// StatusChange sets the status of one certificate version.
type StatusChange struct {
	Country string    `json:"country"`
	Number  string    `json:"number"`
	Version int       `json:"version"`
	Status  CertState `json:"status"`
	// ReplacedBy names the replacing certificate ("NUMBER" or
	// "NUMBER/VERSION") when Status is replaced.
	ReplacedBy string `json:"replacedBy,omitempty"`
	// MessageID is the message that carried the change.
	MessageID string `json:"messageId,omitempty"`
	// At is when the change took effect; the store's clock when zero.
	At time.Time `json:"at"`
}

// CertStatus is the current status of one certificate version with the
// changes that led to it.
type CertStatus struct {
	Country    string         `json:"country"`
	Number     string         `json:"number"`
	Version    int            `json:"version"`
	Status     CertState      `json:"status"`
	ReplacedBy string         `json:"replacedBy,omitempty"`
	Updated    time.Time      `json:"updated"`
	History    []StatusChange `json:"history"`
}

// Inbox stores inbound messages. Get it from DB.Inbox.
type Inbox struct{ db *DB }

func naturalKey(r *InRecord) []byte {
	return key([]byte(r.From), []byte(r.CertNumber), []byte(strconv.Itoa(r.Version)), []byte(r.Kind))
}

func inStateKey(r *InRecord) []byte {
	s := r.Outcome
	if s == "" {
		s = "pending"
	}
	return key([]byte(s), be64(r.Seq))
}

func getIn(tx *bolt.Tx, id string) (*InRecord, error) {
	v := tx.Bucket([]byte(bktIn)).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("inbound message %s: %w", id, ErrNotFound)
	}
	var r InRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode inbound message %s: %w", id, err)
	}
	return &r, nil
}

func putIn(tx *bolt.Tx, r *InRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bktIn)).Put([]byte(r.ID), b)
}

// Accept stores an inbound message durably (fsynced on return), unless it
// is a duplicate:
//
//   - same message id and same content: returns the stored record (with its
//     receipt, if any) and nil; nothing is created;
//   - same certificate number, version and kind from the same sender with
//     the same content under another id: the same;
//   - same id, or same certificate number, version and kind, with other
//     content: returns the stored record and an error wrapping ErrConflict.
//     Refuse the message and log it.
//
// A new message returns (nil, nil).
func (in *Inbox) Accept(ctx context.Context, rec InRecord) (*InRecord, error) {
	return in.accept(ctx, rec, nil)
}

// AcceptAudited is Accept with audit entries (checked as Audit.Append
// checks them) appended in the same transaction, only when the message is
// stored as new: a duplicate or a conflict appends nothing. One commit for
// the message, its status changes and its audit entries.
func (in *Inbox) AcceptAudited(ctx context.Context, rec InRecord, audit []Entry) (*InRecord, error) {
	return in.accept(ctx, rec, audit)
}

// checkAccept refuses what Inbox.Accept refuses before writing.
func checkAccept(rec *InRecord) error {
	if err := checkID("message id", rec.ID); err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	if err := checkID("sender", rec.From); err != nil {
		return fmt.Errorf("accept %s: %w", rec.ID, err)
	}
	if rec.CertNumber != "" {
		if err := checkID("certificate number", rec.CertNumber); err != nil {
			return fmt.Errorf("accept %s: %w", rec.ID, err)
		}
	}
	if rec.Outcome != "" && !rec.Outcome.Settled() {
		return fmt.Errorf("accept %s: %w: outcome %q", rec.ID, ErrInvalid, rec.Outcome)
	}
	for _, c := range rec.StatusChanges {
		if err := checkChange(c); err != nil {
			return fmt.Errorf("accept %s: %w", rec.ID, err)
		}
	}
	return nil
}

// accepted is what Inbox.Accept returns once its transaction is over
// (err): existing is the stored record the message repeats, which has
// other content (hash is the message's) when conflict; a conflict is
// logged.
func accepted(log *slog.Logger, rec *InRecord, hash string, err error, existing *InRecord, conflict bool) (*InRecord, error) {
	if err != nil {
		return nil, fmt.Errorf("accept %s from %s: %w", rec.ID, rec.From, err)
	}
	if conflict {
		log.Warn("inbound message refused: identifier reused with other content",
			"id", rec.ID, "from", rec.From, "cert", rec.CertNumber, "version", rec.Version,
			"hash", hash, "storedId", existing.ID, "storedHash", existing.ContentHash)
		return existing, fmt.Errorf("accept %s from %s: %w (stored message %s has hash %s, this one %s)",
			rec.ID, rec.From, ErrConflict, existing.ID, existing.ContentHash, hash)
	}
	return existing, nil
}

func (in *Inbox) accept(ctx context.Context, rec InRecord, audit []Entry) (*InRecord, error) {
	audit, err := in.db.checkEntries(audit)
	if err != nil {
		return nil, fmt.Errorf("accept %s: %w", rec.ID, err)
	}
	if err := checkAccept(&rec); err != nil {
		return nil, err
	}
	hash := hashHex(rec.Content)
	stored := encodeBlob(rec.Content)
	now := in.db.clock().UTC()
	var existing *InRecord
	var conflict bool
	err = in.db.update(ctx, func(tx *bolt.Tx) error {
		existing, conflict = nil, false
		if old, err := getIn(tx, rec.ID); err == nil {
			existing, conflict = old, old.ContentHash != hash || old.From != rec.From
			return nil
		}
		r := rec
		r.ContentHash = hash
		if r.CertNumber != "" {
			nk := naturalKey(&r)
			if id := tx.Bucket([]byte(bktInKey)).Get(nk); id != nil {
				old, err := getIn(tx, string(id))
				if err != nil {
					return err
				}
				existing, conflict = old, old.ContentHash != hash
				return nil
			}
			if err := tx.Bucket([]byte(bktInKey)).Put(nk, []byte(r.ID)); err != nil {
				return err
			}
		}
		if _, err := putBlob(tx, hash, stored); err != nil {
			return err
		}
		seq, err := tx.Bucket([]byte(bktIn)).NextSequence()
		if err != nil {
			return err
		}
		r.Seq = seq
		if r.Received.IsZero() {
			r.Received = now
		}
		r.Received = r.Received.UTC()
		r.Receipt = bytes.Clone(r.Receipt)
		r.StatusChanges = nil
		for _, c := range rec.StatusChanges {
			if c.MessageID == "" {
				c.MessageID = r.ID
			}
			if _, _, err := applyStatus(tx, c, now); err != nil {
				return err
			}
			r.StatusChanges = append(r.StatusChanges, c)
		}
		if r.CertNumber != "" {
			if err := tx.Bucket([]byte(bktInCert)).Put(key([]byte(r.From), []byte(r.CertNumber), be64(r.Seq)), []byte(r.ID)); err != nil {
				return err
			}
			if len(rec.CheckView) == 0 {
				if err := refreshHead(tx, r.From, r.CertNumber); err != nil {
					return err
				}
			}
		}
		if err := tx.Bucket([]byte(bktInState)).Put(inStateKey(&r), []byte(r.ID)); err != nil {
			return err
		}
		if len(rec.CheckView) > 0 && r.CertNumber != "" {
			vb, err := bucketRW(tx, bktCuView)
			if err != nil {
				return err
			}
			v, err := viewValue(tx, r.From, r.CertNumber, r.Seq, rec.CheckView)
			if err != nil {
				return err
			}
			if err := putView(tx, vb, key([]byte(r.From), []byte(r.CertNumber)), v); err != nil {
				return err
			}
			if err := putChains(tx, [][]byte{rec.ViewChain}); err != nil {
				return err
			}
		}
		r.CheckView, r.ViewChain = nil, nil
		if err := putIn(tx, &r); err != nil {
			return err
		}
		return appendEntries(tx, audit)
	})
	return accepted(in.db.log, &rec, hash, err, existing, conflict)
}

// SetReceipt records this node's outcome and signed receipt for a stored
// message. The first receipt wins: when one is already stored, it is kept
// and returned, so concurrent duplicates all answer with the same receipt.
// It returns the stored record.
func (in *Inbox) SetReceipt(ctx context.Context, id string, outcome State, receipt []byte) (*InRecord, error) {
	if !outcome.Settled() {
		return nil, fmt.Errorf("set receipt of %s: %w: outcome %q", id, ErrInvalid, outcome)
	}
	var res *InRecord
	err := in.db.update(ctx, func(tx *bolt.Tx) error {
		r, err := getIn(tx, id)
		if err != nil {
			return err
		}
		res = r
		if r.Receipt != nil {
			return nil
		}
		if err := tx.Bucket([]byte(bktInState)).Delete(inStateKey(r)); err != nil {
			return err
		}
		r.Outcome, r.Receipt = outcome, bytes.Clone(receipt)
		if err := tx.Bucket([]byte(bktInState)).Put(inStateKey(r), []byte(r.ID)); err != nil {
			return err
		}
		return putIn(tx, r)
	})
	if err != nil {
		return nil, fmt.Errorf("set receipt of %s: %w", id, err)
	}
	return res, nil
}

// Get returns a stored inbound message with its content, or ErrNotFound.
func (in *Inbox) Get(ctx context.Context, id string) (*InRecord, error) {
	var r *InRecord
	err := in.db.view(func(tx *bolt.Tx) error {
		var err error
		if r, err = getIn(tx, id); err != nil {
			return err
		}
		r.Content, err = getBlob(tx, r.ContentHash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get inbound message %s: %w", id, err)
	}
	return r, nil
}

// ByCertificate returns the messages received from country about
// certificate number, in arrival order, without content.
func (in *Inbox) ByCertificate(ctx context.Context, country, number string) ([]InRecord, error) {
	var res []InRecord
	err := in.db.view(func(tx *bolt.Tx) error {
		var err error
		scanPrefix(tx.Bucket([]byte(bktInCert)), prefix([]byte(country), []byte(number)), func(_, v []byte) bool {
			var r *InRecord
			if r, err = getIn(tx, string(v)); err != nil {
				return false
			}
			res = append(res, *r)
			return true
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("messages for certificate %s/%s: %w", country, number, err)
	}
	return res, nil
}

// List returns inbound messages with the given outcome ("" lists those
// still without a receipt), in arrival order, at most limit (0: no cap).
func (in *Inbox) List(ctx context.Context, outcome State, limit int) ([]InRecord, error) {
	s := string(outcome)
	if s == "" {
		s = "pending"
	}
	var res []InRecord
	err := in.db.view(func(tx *bolt.Tx) error {
		var err error
		scanPrefix(tx.Bucket([]byte(bktInState)), prefix([]byte(s)), func(_, v []byte) bool {
			if limit > 0 && len(res) >= limit {
				return false
			}
			var r *InRecord
			if r, err = getIn(tx, string(v)); err != nil {
				return false
			}
			res = append(res, *r)
			return ctx.Err() == nil
		})
		if err == nil {
			err = ctx.Err()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list inbox: %w", err)
	}
	return res, nil
}

func checkChange(c StatusChange) error {
	if err := checkID("status country", c.Country); err != nil {
		return err
	}
	if err := checkID("status certificate number", c.Number); err != nil {
		return err
	}
	switch c.Status {
	case CertIssued, CertWithdrawn:
	case CertReplaced:
		if c.ReplacedBy == "" {
			return fmt.Errorf("%w: status replaced needs replacedBy", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: certificate status %q", ErrInvalid, c.Status)
	}
	return nil
}

func certKey(country, number string, version int) []byte {
	return key([]byte(country), []byte(number), be32(uint32(version)))
}

// applyStatus applies one change. Rules: a version's first change sets it;
// issued may become withdrawn or replaced; withdrawn and replaced are final,
// so a late or repeated message never revives a certificate. It reports
// whether anything changed.
func applyStatus(tx *bolt.Tx, c StatusChange, now time.Time) (*CertStatus, bool, error) {
	if c.At.IsZero() {
		c.At = now
	}
	c.At = c.At.UTC()
	b := tx.Bucket([]byte(bktCertState))
	k := certKey(c.Country, c.Number, c.Version)
	var cur CertStatus
	if v := b.Get(k); v != nil {
		if err := json.Unmarshal(v, &cur); err != nil {
			return nil, false, fmt.Errorf("decode status of %s/%s v%d: %w", c.Country, c.Number, c.Version, err)
		}
		if cur.Status != CertIssued || c.Status == CertIssued {
			return &cur, false, nil
		}
	} else {
		cur = CertStatus{Country: c.Country, Number: c.Number, Version: c.Version}
	}
	cur.Status, cur.ReplacedBy, cur.Updated = c.Status, c.ReplacedBy, c.At
	cur.History = append(cur.History, c)
	v, err := json.Marshal(&cur)
	if err != nil {
		return nil, false, err
	}
	if err := b.Put(k, v); err != nil {
		return nil, false, err
	}
	return &cur, true, refreshHead(tx, c.Country, c.Number)
}

// ApplyStatus applies a status change to a certificate version on its own
// (Accept applies the changes a message carries). It returns the resulting
// status and whether it changed.
func (in *Inbox) ApplyStatus(ctx context.Context, c StatusChange) (*CertStatus, bool, error) {
	if err := checkChange(c); err != nil {
		return nil, false, fmt.Errorf("apply status: %w", err)
	}
	var res *CertStatus
	var changed bool
	err := in.db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		res, changed, err = applyStatus(tx, c, in.db.clock().UTC())
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("apply status %s to %s/%s v%d: %w", c.Status, c.Country, c.Number, c.Version, err)
	}
	return res, changed, nil
}

// CertStatuses returns the status of every known version of a certificate,
// in version order.
func (in *Inbox) CertStatuses(ctx context.Context, country, number string) ([]CertStatus, error) {
	var res []CertStatus
	err := in.db.view(func(tx *bolt.Tx) error {
		var err error
		scanPrefix(tx.Bucket([]byte(bktCertState)), prefix([]byte(country), []byte(number)), func(_, v []byte) bool {
			var s CertStatus
			if err = json.Unmarshal(v, &s); err != nil {
				return false
			}
			res = append(res, s)
			return true
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("status of %s/%s: %w", country, number, err)
	}
	return res, nil
}

// checkInboxIndexes verifies the inbox's index entries against its records.
func checkInboxIndexes(tx *bolt.Tx) error {
	want := map[string]map[string]string{bktInKey: {}, bktInCert: {}, bktInState: {}}
	err := tx.Bucket([]byte(bktIn)).ForEach(func(k, v []byte) error {
		var r InRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("inbound message %s: %w", k, err)
		}
		if tx.Bucket([]byte(bktBlobs)).Get([]byte(r.ContentHash)) == nil {
			return fmt.Errorf("inbound message %s: blob %s missing", r.ID, r.ContentHash)
		}
		if r.CertNumber != "" {
			want[bktInKey][string(naturalKey(&r))] = r.ID
			want[bktInCert][string(key([]byte(r.From), []byte(r.CertNumber), be64(r.Seq)))] = r.ID
		}
		want[bktInState][string(inStateKey(&r))] = r.ID
		return nil
	})
	if err != nil {
		return err
	}
	for name, w := range want {
		n := 0
		err := tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
			if id, ok := w[string(k)]; !ok || id != string(v) {
				return fmt.Errorf("index %s: entry %q -> %q has no matching message", name, k, v)
			}
			n++
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(w) {
			return fmt.Errorf("index %s: %d entries for %d expected", name, n, len(w))
		}
	}
	return nil
}
