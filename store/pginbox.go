package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGInbox is the inbox on PostgreSQL. Get it from PG.Inbox. Its methods
// follow Inbox's documentation; deduplication is enforced by the unique
// constraints of the inbox table.
type PGInbox struct{ pg *PG }

// Inbox returns the inbox.
func (pg *PG) Inbox() *PGInbox { return &PGInbox{pg: pg} }

// PG returns the engine.
func (in *PGInbox) PG() *PG { return in.pg }

func scanIn(row pgx.Row) (*InRecord, error) {
	var v []byte
	var seq int64
	var outcome string
	if err := row.Scan(&seq, &outcome, &v); err != nil {
		return nil, err
	}
	var r InRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode inbound message: %w", err)
	}
	r.Seq = uint64(seq)
	return &r, nil
}

func pgGetIn(ctx context.Context, tx pgx.Tx, where string, args ...any) (*InRecord, error) {
	r, err := scanIn(tx.QueryRow(ctx, "SELECT seq, outcome, rec FROM inbox WHERE "+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

func inOutcome(r *InRecord) string {
	if r.Outcome == "" {
		return "pending"
	}
	return string(r.Outcome)
}

// Accept is Inbox.Accept.
func (in *PGInbox) Accept(ctx context.Context, rec InRecord) (*InRecord, error) {
	return in.accept(ctx, rec, nil)
}

// AcceptAudited is Inbox.AcceptAudited.
func (in *PGInbox) AcceptAudited(ctx context.Context, rec InRecord, audit []Entry) (*InRecord, error) {
	return in.accept(ctx, rec, audit)
}

func (in *PGInbox) accept(ctx context.Context, rec InRecord, audit []Entry) (*InRecord, error) {
	audit, err := in.pg.checkEntries(audit)
	if err != nil {
		return nil, fmt.Errorf("accept %s: %w", rec.ID, err)
	}
	if err := checkAccept(&rec); err != nil {
		return nil, err
	}
	hash := hashHex(rec.Content)
	now := in.pg.now()
	var existing *InRecord
	var conflict bool
	err = in.pg.inTx(ctx, func(tx pgx.Tx) error {
		existing, conflict = nil, false
		r := rec
		r.ContentHash = hash
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
			r.StatusChanges = append(r.StatusChanges, c)
		}
		if err := pgPutBlob(ctx, tx, hash, rec.Content); err != nil {
			return err
		}
		v, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		// The constraints decide: a row with the same id or the same
		// natural key (committed by any replica) makes this a duplicate.
		tag, err := tx.Exec(ctx, `INSERT INTO inbox (id, sender, cert_number, version, kind, outcome, content_hash, rec)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			r.ID, r.From, r.CertNumber, r.Version, r.Kind, inOutcome(&r), hash, v)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			if old, err := pgGetIn(ctx, tx, "id = $1", r.ID); err == nil {
				existing, conflict = old, old.ContentHash != hash || old.From != rec.From
				return nil
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
			old, err := pgGetIn(ctx, tx, "sender = $1 AND cert_number = $2 AND version = $3 AND kind = $4 AND cert_number <> ''",
				r.From, r.CertNumber, r.Version, r.Kind)
			if err != nil {
				return fmt.Errorf("inbound message %s: refused by a constraint but no stored message matches: %w", r.ID, err)
			}
			existing, conflict = old, old.ContentHash != hash
			return nil
		}
		for _, c := range r.StatusChanges {
			if _, _, err := pgApplyStatus(ctx, tx, c, now); err != nil {
				return err
			}
		}
		if len(rec.CheckView) > 0 && r.CertNumber != "" {
			// The check view, based on the row just inserted (as bbolt's).
			if _, err := tx.Exec(ctx, `INSERT INTO cu_view (country, number, based_on, view)
				SELECT sender, cert_number, seq, $2 FROM inbox WHERE id = $1
				ON CONFLICT (country, number) DO UPDATE SET based_on = EXCLUDED.based_on, view = EXCLUDED.view`, r.ID, rec.CheckView); err != nil {
				return err
			}
			if len(rec.ViewChain) > 0 {
				if err := pgPutBlob(ctx, tx, hashHex(rec.ViewChain), rec.ViewChain); err != nil {
					return err
				}
			}
		}
		return pgAppendEntries(ctx, tx, audit)
	})
	return accepted(in.pg.log, &rec, hash, err, existing, conflict)
}

// SetReceipt is Inbox.SetReceipt (the first receipt wins).
func (in *PGInbox) SetReceipt(ctx context.Context, id string, outcome State, receipt []byte) (*InRecord, error) {
	if !outcome.Settled() {
		return nil, fmt.Errorf("set receipt of %s: %w: outcome %q", id, ErrInvalid, outcome)
	}
	var res *InRecord
	err := in.pg.inTx(ctx, func(tx pgx.Tx) error {
		r, err := pgGetIn(ctx, tx, "id = $1 FOR UPDATE", id)
		if err != nil {
			return fmt.Errorf("inbound message %s: %w", id, err)
		}
		res = r
		if r.Receipt != nil {
			return nil
		}
		r.Outcome, r.Receipt = outcome, bytes.Clone(receipt)
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE inbox SET outcome = $2, rec = $3 WHERE id = $1", id, string(outcome), v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set receipt of %s: %w", id, err)
	}
	return res, nil
}

// Get is Inbox.Get.
func (in *PGInbox) Get(ctx context.Context, id string) (*InRecord, error) {
	var r *InRecord
	err := in.pg.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if r, err = pgGetIn(ctx, tx, "id = $1", id); err != nil {
			return err
		}
		r.Content, err = pgGetBlob(ctx, tx, r.ContentHash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get inbound message %s: %w", id, err)
	}
	return r, nil
}

func (in *PGInbox) list(ctx context.Context, q string, args ...any) ([]InRecord, error) {
	rows, err := in.pg.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var res []InRecord
	for rows.Next() {
		r, err := scanIn(rows)
		if err != nil {
			return nil, err
		}
		res = append(res, *r)
	}
	return res, rows.Err()
}

// ByCertificate is Inbox.ByCertificate.
func (in *PGInbox) ByCertificate(ctx context.Context, country, number string) ([]InRecord, error) {
	res, err := in.list(ctx, "SELECT seq, outcome, rec FROM inbox WHERE sender = $1 AND cert_number = $2 ORDER BY seq", country, number)
	if err != nil {
		return nil, fmt.Errorf("messages for certificate %s/%s: %w", country, number, err)
	}
	return res, nil
}

// List is Inbox.List.
func (in *PGInbox) List(ctx context.Context, outcome State, limit int) ([]InRecord, error) {
	s := string(outcome)
	if s == "" {
		s = "pending"
	}
	q := "SELECT seq, outcome, rec FROM inbox WHERE outcome = $1 ORDER BY seq"
	args := []any{s}
	if limit > 0 {
		q += " LIMIT $2"
		args = append(args, limit)
	}
	res, err := in.list(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list inbox: %w", err)
	}
	return res, nil
}

// pgApplyStatus is applyStatus on PostgreSQL (the row is locked).
func pgApplyStatus(ctx context.Context, tx pgx.Tx, c StatusChange, now time.Time) (*CertStatus, bool, error) {
	if c.At.IsZero() {
		c.At = now
	}
	c.At = c.At.UTC()
	// The first status change of a version: the primary key decides
	// between replicas applying it at the same moment (no read before the
	// write, so two of them cannot both see "no row" and both record it).
	fresh := CertStatus{Country: c.Country, Number: c.Number, Version: c.Version, Status: c.Status, ReplacedBy: c.ReplacedBy, Updated: c.At, History: []StatusChange{c}}
	fv, err := json.Marshal(&fresh)
	if err != nil {
		return nil, false, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO cert_status (country, number, version, rec) VALUES ($1, $2, $3, $4)
		ON CONFLICT (country, number, version) DO NOTHING`, c.Country, c.Number, c.Version, fv)
	if err != nil {
		return nil, false, err
	}
	if tag.RowsAffected() == 1 {
		return &fresh, true, nil
	}
	// A record exists: lock it and apply the change to it.
	var cur CertStatus
	var v []byte
	if err := tx.QueryRow(ctx, "SELECT rec FROM cert_status WHERE country = $1 AND number = $2 AND version = $3 FOR UPDATE", c.Country, c.Number, c.Version).Scan(&v); err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(v, &cur); err != nil {
		return nil, false, fmt.Errorf("decode status of %s/%s v%d: %w", c.Country, c.Number, c.Version, err)
	}
	if cur.Status != CertIssued || c.Status == CertIssued {
		return &cur, false, nil
	}
	cur.Status, cur.ReplacedBy, cur.Updated = c.Status, c.ReplacedBy, c.At
	cur.History = append(cur.History, c)
	nv, err := json.Marshal(&cur)
	if err != nil {
		return nil, false, err
	}
	_, err = tx.Exec(ctx, "UPDATE cert_status SET rec = $4 WHERE country = $1 AND number = $2 AND version = $3", c.Country, c.Number, c.Version, nv)
	return &cur, true, err
}

// ApplyStatus is Inbox.ApplyStatus.
func (in *PGInbox) ApplyStatus(ctx context.Context, c StatusChange) (*CertStatus, bool, error) {
	if err := checkChange(c); err != nil {
		return nil, false, fmt.Errorf("apply status: %w", err)
	}
	var res *CertStatus
	var changed bool
	err := in.pg.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		res, changed, err = pgApplyStatus(ctx, tx, c, in.pg.now())
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("apply status %s to %s/%s v%d: %w", c.Status, c.Country, c.Number, c.Version, err)
	}
	return res, changed, nil
}

// CertStatuses is Inbox.CertStatuses.
func (in *PGInbox) CertStatuses(ctx context.Context, country, number string) ([]CertStatus, error) {
	res, err := pgRecs[CertStatus](ctx, in.pg.pool, "SELECT rec FROM cert_status WHERE country = $1 AND number = $2 ORDER BY version", country, number)
	if err != nil {
		return nil, fmt.Errorf("status of %s/%s: %w", country, number, err)
	}
	return res, nil
}
