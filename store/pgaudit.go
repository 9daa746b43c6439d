package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// PGAudit is the audit log on PostgreSQL: the same hash chain as Audit,
// one chain for every replica. Get it from PG.Audit.
type PGAudit struct{ pg *PG }

// Audit returns the audit log.
func (pg *PG) Audit() *PGAudit { return &PGAudit{pg: pg} }

// PG returns the engine (PGOutbox and PGInbox compare it to write their
// audit entries in their own transaction).
func (a *PGAudit) PG() *PG { return a.pg }

// Append adds an entry as Audit.Append does.
func (a *PGAudit) Append(ctx context.Context, e Entry) (Entry, error) {
	if err := checkEntryWith(&e, a.pg.clock); err != nil {
		return Entry{}, err
	}
	var out Entry
	err := a.pg.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = pgAppendEntry(ctx, tx, e)
		return err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("audit append %s %s: %w", e.Action, e.Subject, err)
	}
	return out, nil
}

// pgAppendEntry chains e after the head, in tx. The head row's lock
// serialises appends from every transaction and every replica, so the log
// stays one chain.
func pgAppendEntry(ctx context.Context, tx pgx.Tx, e Entry) (Entry, error) {
	var seq int64
	var prev string
	if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE").Scan(&seq, &prev); err != nil {
		return Entry{}, fmt.Errorf("lock the audit head: %w", err)
	}
	x := e
	x.Seq, x.PrevHash = uint64(seq)+1, prev
	x, v, err := sealEntry(x)
	if err != nil {
		return Entry{}, err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO audit (seq, hash, entry) VALUES ($1, $2, $3)", int64(x.Seq), x.Hash, v); err != nil {
		return Entry{}, err
	}
	if _, err := tx.Exec(ctx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", int64(x.Seq), x.Hash); err != nil {
		return Entry{}, err
	}
	return x, nil
}

func pgAppendEntries(ctx context.Context, tx pgx.Tx, es []Entry) error {
	for _, e := range es {
		if _, err := pgAppendEntry(ctx, tx, e); err != nil {
			return fmt.Errorf("audit append %s %s: %w", e.Action, e.Subject, err)
		}
	}
	return nil
}

// Verify walks the chain as Audit.Verify does, and also checks that the
// head row names the last entry.
func (a *PGAudit) Verify(ctx context.Context) (int, error) {
	n := 0
	var prev string
	err := a.pg.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT seq, entry FROM audit ORDER BY seq")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var v []byte
			if err := rows.Scan(&seq, &v); err != nil {
				return err
			}
			want := uint64(n + 1)
			if uint64(seq) != want {
				return &ChainError{Seq: want, Reason: fmt.Sprintf("entry %d is missing (next is %d)", want, seq)}
			}
			h, err := checkLink(want, v, prev)
			if err != nil {
				return err
			}
			prev = h
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var hs int64
		var hh string
		if err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&hs, &hh); err != nil {
			return err
		}
		if hs != int64(n) || hh != prev {
			return &ChainError{Seq: uint64(n + 1), Reason: fmt.Sprintf("the head says entry %d (%s) but the chain ends at %d (%s)", hs, hh, n, prev)}
		}
		return nil
	})
	return n, err
}

// Entries returns up to limit entries from sequence from, in order.
func (a *PGAudit) Entries(ctx context.Context, from uint64, limit int) ([]Entry, error) {
	q := "SELECT entry FROM audit WHERE seq >= $1 ORDER BY seq"
	args := []any{int64(from)}
	if limit > 0 {
		q += " LIMIT $2"
		args = append(args, limit)
	}
	res, err := pgRecs[Entry](ctx, a.pg.pool, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	return res, nil
}
