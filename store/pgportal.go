package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGPortal is the portal's account and session storage on PostgreSQL
// (implements portal.Store), with the same records and rules as Portal:
// logins by name, sessions under the SHA-256 of their id, shared by every
// replica (a session opened on one replica is valid on the others).
type PGPortal struct{ pg *PG }

// Portal returns the portal's storage.
func (pg *PG) Portal() *PGPortal { return &PGPortal{pg: pg} }

// User returns a login by name (ErrNotFound when absent).
func (p *PGPortal) User(ctx context.Context, name string) (*PortalUser, error) {
	if err := checkID("user name", name); err != nil {
		return nil, err
	}
	var raw []byte
	err := p.pg.pool.QueryRow(ctx, "SELECT rec FROM portal_user WHERE name = $1", name).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("portal user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("portal user %s: %w", name, err)
	}
	var u PortalUser
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("decode portal user %s: %w", name, err)
	}
	return &u, nil
}

// PutUser stores a login (overwriting).
func (p *PGPortal) PutUser(ctx context.Context, u *PortalUser) error {
	if err := checkID("user name", u.Name); err != nil {
		return err
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return err
	}
	_, err = p.pg.pool.Exec(ctx, "INSERT INTO portal_user (name, rec) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET rec = EXCLUDED.rec", u.Name, raw)
	return err
}

// Session returns a session by its id (ErrNotFound when absent).
func (p *PGPortal) Session(ctx context.Context, id string) (*PortalSession, error) {
	var raw []byte
	err := p.pg.pool.QueryRow(ctx, "SELECT rec FROM portal_session WHERE k = $1", sessionKey(id)).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("portal session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("portal session: %w", err)
	}
	var s PortalSession
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode portal session: %w", err)
	}
	return &s, nil
}

// PutSession stores a session under its id.
func (p *PGPortal) PutSession(ctx context.Context, id string, s *PortalSession) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = p.pg.pool.Exec(ctx, `INSERT INTO portal_session (k, expires, rec) VALUES ($1, $2, $3)
		ON CONFLICT (k) DO UPDATE SET expires = EXCLUDED.expires, rec = EXCLUDED.rec`, sessionKey(id), s.Expires.UTC(), raw)
	return err
}

// DeleteSession removes a session (no error when absent).
func (p *PGPortal) DeleteSession(ctx context.Context, id string) error {
	_, err := p.pg.pool.Exec(ctx, "DELETE FROM portal_session WHERE k = $1", sessionKey(id))
	return err
}

// DeleteExpiredSessions removes sessions expired at now and returns how
// many it removed.
func (p *PGPortal) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := p.pg.pool.Exec(ctx, "DELETE FROM portal_session WHERE expires <= $1", now.UTC())
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
