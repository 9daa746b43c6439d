package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGIssued is the register of issued certificates on PostgreSQL. Get it
// from PG.Issued. Its methods follow Issued's documentation.
type PGIssued struct{ pg *PG }

// Issued returns the register of issued certificates.
func (pg *PG) Issued() *PGIssued { return &PGIssued{pg: pg} }

func pgGetIssued(ctx context.Context, tx pgx.Tx, where string, arg any) (*IssuedCert, error) {
	var v []byte
	if err := tx.QueryRow(ctx, "SELECT rec FROM issued WHERE "+where, arg).Scan(&v); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	var r IssuedCert
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode issued certificate: %w", err)
	}
	return &r, nil
}

func pgPutIssued(ctx context.Context, tx pgx.Tx, r *IssuedCert) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO issued (number, token, rec) VALUES ($1, $2, $3)
		ON CONFLICT (number) DO UPDATE SET rec = EXCLUDED.rec`, r.Number, r.Token, v)
	return err
}

// pgLockIssued returns the record of number locked for update, creating it
// (with a fresh token) when missing; created tells which.
func pgLockIssued(ctx context.Context, tx pgx.Tx, country, number string, now time.Time) (cur *IssuedCert, created bool, err error) {
	fresh := &IssuedCert{Country: country, Number: number, Token: NewToken(), Status: CertIssued, Registered: now, Updated: now}
	v, err := json.Marshal(fresh)
	if err != nil {
		return nil, false, err
	}
	tag, err := tx.Exec(ctx, "INSERT INTO issued (number, token, rec) VALUES ($1, $2, $3) ON CONFLICT (number) DO NOTHING", number, fresh.Token, v)
	if err != nil {
		return nil, false, err
	}
	cur, err = pgGetIssued(ctx, tx, "number = $1 FOR UPDATE", number)
	return cur, tag.RowsAffected() == 1, err
}

// pgRegisterTx is registerTx on PostgreSQL.
func pgRegisterTx(ctx context.Context, tx pgx.Tx, r IssuedCert, now time.Time) (*IssuedCert, error) {
	cur, _, err := pgLockIssued(ctx, tx, r.Country, r.Number, now)
	if err != nil {
		return nil, err
	}
	mergeIssued(cur, &r, now)
	if err := pgPutIssued(ctx, tx, cur); err != nil {
		return nil, err
	}
	return cur, nil
}

// Token is Issued.Token.
func (is *PGIssued) Token(ctx context.Context, country, number string) (string, error) {
	if err := checkID("certificate number", number); err != nil {
		return "", fmt.Errorf("QR token: %w", err)
	}
	var tok string
	err := is.pg.inTx(ctx, func(tx pgx.Tx) error {
		cur, _, err := pgLockIssued(ctx, tx, country, number, is.pg.now())
		if err == nil {
			tok = cur.Token
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("QR token of %s: %w", number, err)
	}
	return tok, nil
}

// Register is Issued.Register.
func (is *PGIssued) Register(ctx context.Context, r IssuedCert) (*IssuedCert, error) {
	if err := checkID("certificate number", r.Number); err != nil {
		return nil, fmt.Errorf("register issued certificate: %w", err)
	}
	var res *IssuedCert
	err := is.pg.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		res, err = pgRegisterTx(ctx, tx, r, is.pg.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("register issued certificate %s: %w", r.Number, err)
	}
	return res, nil
}

// SetStatus is Issued.SetStatus.
func (is *PGIssued) SetStatus(ctx context.Context, number string, st CertState, replacedBy string) (*IssuedCert, error) {
	if st != CertWithdrawn && st != CertReplaced {
		return nil, fmt.Errorf("set status of issued %s: %w: status %q", number, ErrInvalid, st)
	}
	var res *IssuedCert
	err := is.pg.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := pgGetIssued(ctx, tx, "number = $1 FOR UPDATE", number)
		if err != nil {
			return err
		}
		if cur.Status == CertIssued {
			cur.Status, cur.ReplacedBy, cur.Updated = st, replacedBy, is.pg.now()
			if err := pgPutIssued(ctx, tx, cur); err != nil {
				return err
			}
		}
		res = cur
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set status of issued %s: %w", number, err)
	}
	return res, nil
}

// Get is Issued.Get.
func (is *PGIssued) Get(ctx context.Context, number string) (*IssuedCert, error) {
	var r *IssuedCert
	err := is.pg.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = pgGetIssued(ctx, tx, "number = $1", number)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("issued certificate %s: %w", number, err)
	}
	return r, nil
}

// ByToken is Issued.ByToken.
func (is *PGIssued) ByToken(ctx context.Context, tok string) (*IssuedCert, error) {
	var r *IssuedCert
	err := is.pg.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = pgGetIssued(ctx, tx, "token = $1", tok)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("issued certificate by token: %w", err)
	}
	return r, nil
}

// AddDecision is Issued.AddDecision (deduplicated by a unique constraint
// on sender and message id).
func (is *PGIssued) AddDecision(ctx context.Context, d ReceivedDecision) (dup bool, err error) {
	if err := checkDecision(&d, is.pg.clock); err != nil {
		return false, err
	}
	v, err := json.Marshal(&d)
	if err != nil {
		return false, err
	}
	tag, err := is.pg.pool.Exec(ctx, `INSERT INTO issued_decisions (sender, message_id, number, rec) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sender, message_id) DO NOTHING`, d.From, d.MessageID, d.Number, v)
	if err != nil {
		return false, fmt.Errorf("add decision %s from %s on %s: %w", d.MessageID, d.From, d.Number, err)
	}
	return tag.RowsAffected() == 0, nil
}

// Decisions is Issued.Decisions.
func (is *PGIssued) Decisions(ctx context.Context, number string) ([]ReceivedDecision, error) {
	res, err := pgRecs[ReceivedDecision](ctx, is.pg.pool, "SELECT rec FROM issued_decisions WHERE number = $1 ORDER BY seq", number)
	if err != nil {
		return nil, fmt.Errorf("decisions on issued %s: %w", number, err)
	}
	return res, nil
}
