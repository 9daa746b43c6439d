package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the web portal's accounts and sessions (package portal).
const (
	bktPortalUser    = "portal_user"    // login name -> JSON PortalUser
	bktPortalSession = "portal_session" // sha256(session id) -> JSON PortalSession
)

// PortalUser is a portal login: its name, argon2id password hash (PHC
// string), and the issuance person and role it acts as.
type PortalUser struct {
	Name     string    `json:"name"`
	Hash     string    `json:"hash"`
	Person   string    `json:"person"` // issuance person id ("" for the operator)
	Role     string    `json:"role"`
	Org      string    `json:"org,omitempty"` // IEC or agency id
	Disabled bool      `json:"disabled,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// PortalSession is a logged-in session. It is stored under the SHA-256 of
// its id, so that a copy of the data file gives no usable session.
type PortalSession struct {
	User    string    `json:"user"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Portal is the portal's account and session storage (implements
// portal.Store).
type Portal struct{ db *DB }

// Portal returns the portal's storage.
func (db *DB) Portal() *Portal { return &Portal{db: db} }

func sessionKey(id string) []byte {
	s := sha256.Sum256([]byte("portal-session\x00" + id))
	return s[:]
}

func (p *Portal) get(bkt string, k []byte, what string, v any) error {
	return p.db.view(func(tx *bolt.Tx) error {
		b := bucketOf(tx, bkt)
		if b == nil {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		raw := b.Get(k)
		if raw == nil {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return json.Unmarshal(raw, v)
	})
}

func (p *Portal) put(ctx context.Context, bkt string, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return p.db.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketRW(tx, bkt)
		if err != nil {
			return err
		}
		return b.Put(k, raw)
	})
}

// User returns a login by name (ErrNotFound when absent).
func (p *Portal) User(ctx context.Context, name string) (*PortalUser, error) {
	if err := checkID("user name", name); err != nil {
		return nil, err
	}
	var u PortalUser
	if err := p.get(bktPortalUser, []byte(name), "portal user "+name, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// PutUser stores a login (overwriting).
func (p *Portal) PutUser(ctx context.Context, u *PortalUser) error {
	if err := checkID("user name", u.Name); err != nil {
		return err
	}
	return p.put(ctx, bktPortalUser, []byte(u.Name), u)
}

// Session returns a session by its id (ErrNotFound when absent).
func (p *Portal) Session(ctx context.Context, id string) (*PortalSession, error) {
	var s PortalSession
	if err := p.get(bktPortalSession, sessionKey(id), "portal session", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// PutSession stores a session under its id.
func (p *Portal) PutSession(ctx context.Context, id string, s *PortalSession) error {
	return p.put(ctx, bktPortalSession, sessionKey(id), s)
}

// DeleteSession removes a session (no error when absent).
func (p *Portal) DeleteSession(ctx context.Context, id string) error {
	return p.db.update(ctx, func(tx *bolt.Tx) error {
		b := bucketOf(tx, bktPortalSession)
		if b == nil {
			return nil
		}
		return b.Delete(sessionKey(id))
	})
}

// DeleteExpiredSessions removes sessions expired at now and returns how
// many it removed.
func (p *Portal) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := p.db.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b := bucketOf(tx, bktPortalSession)
		if b == nil {
			return nil
		}
		var dead [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			var s PortalSession
			if json.Unmarshal(v, &s) != nil || !now.Before(s.Expires) {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}
