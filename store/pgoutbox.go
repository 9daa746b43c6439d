package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGOutbox is the outbox on PostgreSQL, shared by every replica. Get it
// from PG.Outbox. Its methods follow Outbox's documentation.
type PGOutbox struct{ pg *PG }

// Outbox returns the outbox.
func (pg *PG) Outbox() *PGOutbox { return &PGOutbox{pg: pg} }

// PG returns the engine.
func (o *PGOutbox) PG() *PG { return o.pg }

func pgPutBlob(ctx context.Context, tx pgx.Tx, hash string, content []byte) error {
	_, err := tx.Exec(ctx, "INSERT INTO blobs (hash, content) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING", hash, content)
	return err
}

func pgGetBlob(ctx context.Context, q pgx.Tx, hash string) ([]byte, error) {
	var b []byte
	if err := q.QueryRow(ctx, "SELECT content FROM blobs WHERE hash = $1", hash).Scan(&b); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("content %s: %w", hash, ErrNotFound)
		}
		return nil, err
	}
	return b, nil
}

func scanOut(row pgx.Row) (*OutRecord, error) {
	var v []byte
	var seq int64
	if err := row.Scan(&seq, &v); err != nil {
		return nil, err
	}
	var r OutRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode outbound message: %w", err)
	}
	r.Seq = uint64(seq)
	return &r, nil
}

func collectOut(rows pgx.Rows) ([]OutRecord, error) {
	defer rows.Close()
	var res []OutRecord
	for rows.Next() {
		r, err := scanOut(rows)
		if err != nil {
			return nil, err
		}
		res = append(res, *r)
	}
	return res, rows.Err()
}

func pgGetOut(ctx context.Context, tx pgx.Tx, id string, lock bool) (*OutRecord, error) {
	q := "SELECT seq, rec FROM outbox WHERE id = $1"
	if lock {
		q += " FOR UPDATE"
	}
	r, err := scanOut(tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("outbound message %s: %w", id, ErrNotFound)
	}
	return r, err
}

// pgUpdateOut writes r's state back (r.Seq set).
func pgUpdateOut(ctx context.Context, tx pgx.Tx, r *OutRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE outbox SET state = $2, next_try = $3, rec = $4 WHERE id = $1", r.ID, string(r.State), r.NextTry, v)
	return err
}

// Enqueue is Outbox.Enqueue.
func (o *PGOutbox) Enqueue(ctx context.Context, msgs ...OutMessage) error {
	return o.enqueue(ctx, nil, nil, msgs)
}

// EnqueueAudited is Outbox.EnqueueAudited.
func (o *PGOutbox) EnqueueAudited(ctx context.Context, audit []Entry, msgs ...OutMessage) error {
	return o.enqueue(ctx, nil, audit, msgs)
}

// EnqueueRegistered is Outbox.EnqueueRegistered: messages, register
// entries and audit entries in one PostgreSQL transaction.
func (o *PGOutbox) EnqueueRegistered(ctx context.Context, register []IssuedCert, audit []Entry, msgs ...OutMessage) error {
	return o.enqueue(ctx, register, audit, msgs)
}

func (o *PGOutbox) enqueue(ctx context.Context, register []IssuedCert, audit []Entry, msgs []OutMessage) error {
	audit, err := o.pg.checkEntries(audit)
	if err != nil {
		return fmt.Errorf("enqueue %d message(s): %w", len(msgs), err)
	}
	if err := checkEnqueue(register, msgs); err != nil {
		return err
	}
	now := o.pg.now()
	err = o.pg.inTx(ctx, func(tx pgx.Tx) error {
		added := false
		for i := range msgs {
			isNew, err := pgEnqueueTx(ctx, tx, now, &msgs[i])
			if err != nil {
				return err
			}
			added = added || isNew
		}
		if !added {
			return nil
		}
		for _, r := range register {
			if _, err := pgRegisterTx(ctx, tx, r, now); err != nil {
				return fmt.Errorf("register issued certificate %s: %w", r.Number, err)
			}
		}
		if err := pgAppendEntries(ctx, tx, audit); err != nil {
			return err
		}
		return notifyOutbox(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("enqueue %d message(s): %w", len(msgs), err)
	}
	return nil
}

func pgEnqueueTx(ctx context.Context, tx pgx.Tx, now time.Time, m *OutMessage) (bool, error) {
	hash := hashHex(m.Content)
	if m.Exclusive {
		// One exclusive enqueue per partner and certificate at a time,
		// across replicas.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "out\x01"+m.Partner+"\x01"+m.CertNumber); err != nil {
			return false, err
		}
	}
	if old, err := pgGetOut(ctx, tx, m.ID, false); err == nil {
		if old.Partner == m.Partner && old.ContentHash == hash {
			return false, nil
		}
		return false, fmt.Errorf("enqueue %s: %w (stored for %s with hash %s)", m.ID, ErrConflict, old.Partner, old.ContentHash)
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if m.Exclusive {
		prev, err := scanOut(tx.QueryRow(ctx, `SELECT seq, rec FROM outbox WHERE partner = $1 AND cert_number = $2
			AND version = $3 AND kind = $4 AND id <> $5 AND state NOT IN ('not-readable', 'failed') ORDER BY seq LIMIT 1`,
			m.Partner, m.CertNumber, m.Version, m.Kind, m.ID))
		if err == nil {
			return false, &AlreadySentError{Partner: m.Partner, CertNumber: m.CertNumber, Version: m.Version, Kind: m.Kind, ID: prev.ID, State: prev.State}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return false, err
		}
	}
	if err := pgPutBlob(ctx, tx, hash, m.Content); err != nil {
		return false, err
	}
	created := m.Created
	if created.IsZero() {
		created = now
	}
	r := &OutRecord{
		ID: m.ID, Partner: m.Partner, CertNumber: m.CertNumber, Version: m.Version,
		Kind: m.Kind, ContentHash: hash, Pull: m.Pull, Created: created.UTC(), RetryFrom: created.UTC(),
		State: StateQueued, NextTry: now.UTC(), Updated: now.UTC(),
	}
	v, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO outbox (id, partner, cert_number, version, kind, state, pull, next_try, content_hash, rec)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Partner, r.CertNumber, r.Version, r.Kind, string(r.State), r.Pull, r.NextTry, hash, v)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		// Another replica enqueued the same id meanwhile.
		old, err := pgGetOut(ctx, tx, m.ID, false)
		if err != nil {
			return false, err
		}
		if old.Partner == m.Partner && old.ContentHash == hash {
			return false, nil
		}
		return false, fmt.Errorf("enqueue %s: %w (stored for %s with hash %s)", m.ID, ErrConflict, old.Partner, old.ContentHash)
	}
	return true, nil
}

// dueQuery selects due, unblocked, push-mode messages: an earlier
// unsettled message for the same partner and certificate blocks a later
// one (design §5).
const dueQuery = `SELECT o.seq, o.rec FROM outbox o
	WHERE NOT o.pull AND o.state IN ('queued', 'awaiting-retry', 'sending') AND o.next_try <= $1
	AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.partner = o.partner AND p.cert_number = o.cert_number
		AND p.seq < o.seq AND p.state NOT IN ('delivered', 'delivered-with-warnings', 'not-readable', 'failed'))
	ORDER BY o.next_try, o.id LIMIT $2`

// Due is Outbox.Due.
func (o *PGOutbox) Due(ctx context.Context, now time.Time, limit int) ([]OutRecord, error) {
	rows, err := o.pg.pool.Query(ctx, dueQuery, now.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("due messages: %w", err)
	}
	return collectOut(rows)
}

// Claim is Outbox.Claim for several replicas: the due rows are locked with
// FOR UPDATE SKIP LOCKED (a row another replica is claiming is skipped,
// not waited for) and leased until now+lease.
func (o *PGOutbox) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutRecord, error) {
	var res []OutRecord
	err := o.pg.inTx(ctx, func(tx pgx.Tx) error {
		res = res[:0]
		rows, err := tx.Query(ctx, dueQuery+" FOR UPDATE OF o SKIP LOCKED", now.UTC(), limit)
		if err != nil {
			return err
		}
		list, err := collectOut(rows)
		if err != nil {
			return err
		}
		for _, r := range list {
			r.State = StateSending
			r.Attempts++
			r.LastTry = now.UTC()
			r.NextTry = now.Add(lease).UTC()
			r.Updated = o.pg.now()
			if err := pgUpdateOut(ctx, tx, &r); err != nil {
				return err
			}
			if r.Content, err = pgGetBlob(ctx, tx, r.ContentHash); err != nil {
				return err
			}
			res = append(res, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due messages: %w", err)
	}
	return res, nil
}

// MarkAttempt is Outbox.MarkAttempt.
func (o *PGOutbox) MarkAttempt(ctx context.Context, id string, a Attempt) error {
	return o.markAttempt(ctx, id, a, nil)
}

// MarkAttemptAudited is Outbox.MarkAttemptAudited.
func (o *PGOutbox) MarkAttemptAudited(ctx context.Context, id string, a Attempt, audit []Entry) error {
	return o.markAttempt(ctx, id, a, audit)
}

func (o *PGOutbox) markAttempt(ctx context.Context, id string, a Attempt, audit []Entry) error {
	audit, err := o.pg.checkEntries(audit)
	if err != nil {
		return fmt.Errorf("mark attempt of %s: %w", id, err)
	}
	if err := a.check(id); err != nil {
		return err
	}
	err = o.pg.inTx(ctx, func(tx pgx.Tx) error {
		r, err := pgGetOut(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if repeat, err := a.apply(r, o.pg.now()); err != nil {
			return err
		} else if repeat {
			return pgAppendEntries(ctx, tx, audit)
		}
		if err := pgUpdateOut(ctx, tx, r); err != nil {
			return err
		}
		if err := pgAppendEntries(ctx, tx, audit); err != nil {
			return err
		}
		if a.Outcome.Settled() {
			// A later message for the same certificate may be unblocked.
			return notifyOutbox(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark attempt of %s as %s: %w", id, a.Outcome, err)
	}
	return nil
}

// Suspend is Outbox.Suspend.
func (o *PGOutbox) Suspend(ctx context.Context, id, reason string) error {
	return o.MarkAttempt(ctx, id, Attempt{Outcome: StateSuspended, Err: reason})
}

// Retry is Outbox.Retry.
func (o *PGOutbox) Retry(ctx context.Context, id string) error {
	err := o.pg.inTx(ctx, func(tx pgx.Tx) error {
		r, err := pgGetOut(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if err := retryable(r.State); err != nil {
			return err
		}
		now := o.pg.now()
		r.State, r.Attempts, r.NextTry, r.RetryFrom, r.Updated = StateQueued, 0, now, now, now
		r.Receipt = nil
		if err := pgUpdateOut(ctx, tx, r); err != nil {
			return err
		}
		return notifyOutbox(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("retry %s: %w", id, err)
	}
	return nil
}

// Get is Outbox.Get.
func (o *PGOutbox) Get(ctx context.Context, id string) (*OutRecord, error) {
	var r *OutRecord
	err := o.pg.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if r, err = pgGetOut(ctx, tx, id, false); err != nil {
			return err
		}
		r.Content, err = pgGetBlob(ctx, tx, r.ContentHash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get outbound message %s: %w", id, err)
	}
	return r, nil
}

// stateOrder sorts states in lifecycle order in SQL.
const stateOrder = `array_position(ARRAY['queued','sending','awaiting-retry','delivered','delivered-with-warnings','not-readable','failed','suspended'], state)`

// List is Outbox.List.
func (o *PGOutbox) List(ctx context.Context, f Filter) ([]OutRecord, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, fmt.Errorf("list outbox: %w: unknown state %q (one of %v)", ErrInvalid, f.State, States())
	}
	q := "SELECT seq, rec FROM outbox WHERE ($1 = '' OR state = $1) AND ($2 = '' OR partner = $2) ORDER BY " + stateOrder + ", partner, seq"
	args := []any{string(f.State), f.Partner}
	if f.Limit > 0 {
		q += " LIMIT $3"
		args = append(args, f.Limit)
	}
	rows, err := o.pg.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	res, err := collectOut(rows)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return res, nil
}

// DepthByState is Outbox.DepthByState.
func (o *PGOutbox) DepthByState(ctx context.Context) (map[string]map[State]int, error) {
	rows, err := o.pg.pool.Query(ctx, `SELECT partner, state, count(*) FROM outbox
		WHERE state NOT IN ('delivered', 'delivered-with-warnings', 'not-readable', 'failed') GROUP BY partner, state`)
	if err != nil {
		return nil, fmt.Errorf("outbox depth: %w", err)
	}
	defer rows.Close()
	res := map[string]map[State]int{}
	for rows.Next() {
		var p, s string
		var n int
		if err := rows.Scan(&p, &s, &n); err != nil {
			return nil, fmt.Errorf("outbox depth: %w", err)
		}
		if res[p] == nil {
			res[p] = map[State]int{}
		}
		res[p][State(s)] = n
	}
	return res, rows.Err()
}

// Depth is Outbox.Depth.
func (o *PGOutbox) Depth(ctx context.Context) (map[string]int, error) {
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

// CountByState is Outbox.CountByState.
func (o *PGOutbox) CountByState(ctx context.Context) (map[State]int, error) {
	res := map[State]int{}
	for _, s := range States() {
		res[s] = 0
	}
	rows, err := o.pg.pool.Query(ctx, "SELECT state, count(*) FROM outbox GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("count outbox states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count outbox states: %w", err)
		}
		res[State(s)] = n
	}
	return res, rows.Err()
}

// Waiting is Outbox.Waiting.
func (o *PGOutbox) Waiting(ctx context.Context, partner string, limit int) ([]OutRecord, error) {
	var res []OutRecord
	err := o.pg.inTx(ctx, func(tx pgx.Tx) error {
		q := "SELECT seq, rec FROM outbox WHERE state = 'queued' AND partner = $1 AND pull ORDER BY seq"
		args := []any{partner}
		if limit > 0 {
			q += " LIMIT $2"
			args = append(args, limit)
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		if res, err = collectOut(rows); err != nil {
			return err
		}
		for i := range res {
			if res[i].Content, err = pgGetBlob(ctx, tx, res[i].ContentHash); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list messages waiting for %s: %w", partner, err)
	}
	return res, nil
}

// Ack is Outbox.Ack.
func (o *PGOutbox) Ack(ctx context.Context, partner, id string, outcome State, receipt []byte) error {
	if !outcome.Settled() {
		return fmt.Errorf("ack %s: %w: outcome %q is not a receipt outcome", id, ErrInvalid, outcome)
	}
	var owner string
	err := o.pg.pool.QueryRow(ctx, "SELECT partner FROM outbox WHERE id = $1", id).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && owner != partner) {
		err = fmt.Errorf("outbound message %s: %w", id, ErrNotFound)
	}
	if err == nil {
		err = o.MarkAttempt(ctx, id, Attempt{Outcome: outcome, Receipt: receipt})
	}
	if err != nil {
		return fmt.Errorf("ack %s by %s: %w", id, partner, err)
	}
	return nil
}
