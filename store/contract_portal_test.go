package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/issuance"
)

// The contract suite, continued: the web portal's logins and sessions and
// the issuance workflow's signature and stamp images, the same assertions
// on both engines.

type cPortal interface {
	User(ctx context.Context, name string) (*PortalUser, error)
	PutUser(ctx context.Context, u *PortalUser) error
	Session(ctx context.Context, id string) (*PortalSession, error)
	PutSession(ctx context.Context, id string, s *PortalSession) error
	DeleteSession(ctx context.Context, id string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}

func eachPortalEngine(t *testing.T, fn func(t *testing.T, p cPortal, is issuance.Store, c *fakeClock)) {
	t.Run("bbolt", func(t *testing.T) {
		c := newFakeClock()
		db, _ := openTest(t, c)
		fn(t, db.Portal(), db.Issuance(), c)
	})
	t.Run("postgres", func(t *testing.T) {
		c := newFakeClock()
		pg := openPGTest(t, c)
		fn(t, pg.Portal(), pg.Issuance(), c)
	})
}

func TestContractPortalUsers(t *testing.T) {
	eachPortalEngine(t, func(t *testing.T, p cPortal, _ issuance.Store, c *fakeClock) {
		ctx := context.Background()
		if _, err := p.User(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("absent user: %v, want ErrNotFound", err)
		}
		now := c.Now().UTC()
		u := &PortalUser{Name: "alice", Hash: "$argon2id$v=19$h1", Person: "p1", Role: "applicant", Org: "IEC1", Created: now, Updated: now}
		mustNil(t, "put", p.PutUser(ctx, u))
		// Overwriting keeps one login with the new fields.
		u2 := *u
		u2.Disabled, u2.Hash, u2.Updated = true, "$argon2id$v=19$h2", now.Add(time.Minute)
		mustNil(t, "put again", p.PutUser(ctx, &u2))
		got, err := p.User(ctx, "alice")
		if err != nil || !got.Disabled || got.Hash != u2.Hash || got.Org != "IEC1" || !got.Created.Equal(now) || !got.Updated.Equal(u2.Updated) {
			t.Fatalf("user: %+v %v", got, err)
		}
		for _, bad := range []string{"", "a\x00b", string(make([]byte, 2000))} {
			if err := p.PutUser(ctx, &PortalUser{Name: bad}); !errors.Is(err, ErrInvalid) {
				t.Errorf("put user %q: %v, want ErrInvalid", bad, err)
			}
			if _, err := p.User(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("user %q: %v, want ErrInvalid", bad, err)
			}
		}
	})
}

func TestContractPortalSessions(t *testing.T) {
	eachPortalEngine(t, func(t *testing.T, p cPortal, _ issuance.Store, c *fakeClock) {
		ctx := context.Background()
		now := c.Now().UTC()
		if _, err := p.Session(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("absent session: %v", err)
		}
		for i, ttl := range []time.Duration{time.Hour, 2 * time.Hour, -time.Second, 0} {
			mustNil(t, "put session", p.PutSession(ctx, fmt.Sprintf("s%d", i), &PortalSession{User: "alice", CSRF: fmt.Sprintf("csrf%d", i), Created: now, Expires: now.Add(ttl)}))
		}
		s, err := p.Session(ctx, "s1")
		if err != nil || s.User != "alice" || s.CSRF != "csrf1" || !s.Expires.Equal(now.Add(2*time.Hour)) {
			t.Fatalf("session s1: %+v %v", s, err)
		}
		// Sliding a session replaces it; its new expiry is what the sweep reads.
		mustNil(t, "slide", p.PutSession(ctx, "s2", &PortalSession{User: "alice", CSRF: "csrf2", Created: now, Expires: now.Add(time.Hour)}))
		// Expired at now: s3 (expires == now); s2 no longer.
		n, err := p.DeleteExpiredSessions(ctx, now)
		if err != nil || n != 1 {
			t.Fatalf("sweep at now: %d %v, want 1", n, err)
		}
		if _, err := p.Session(ctx, "s3"); !errors.Is(err, ErrNotFound) {
			t.Errorf("s3 after sweep: %v", err)
		}
		n, err = p.DeleteExpiredSessions(ctx, now.Add(90*time.Minute))
		if err != nil || n != 2 {
			t.Fatalf("sweep at +90m: %d %v, want 2 (s0, s2)", n, err)
		}
		mustNil(t, "delete", p.DeleteSession(ctx, "s1"))
		mustNil(t, "delete absent", p.DeleteSession(ctx, "s1"))
		if _, err := p.Session(ctx, "s1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("s1 after delete: %v", err)
		}
	})
}

// TestContractPortalSessionsConcurrent: many sessions written and read at
// once (several replicas' logins) all stay readable.
func TestContractPortalSessionsConcurrent(t *testing.T) {
	eachPortalEngine(t, func(t *testing.T, p cPortal, _ issuance.Store, c *fakeClock) {
		ctx := context.Background()
		now := c.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("sid%d", i)
				if err := p.PutSession(ctx, id, &PortalSession{User: fmt.Sprintf("u%d", i), Expires: now.Add(time.Hour)}); err != nil {
					errs <- err
					return
				}
				if s, err := p.Session(ctx, id); err != nil || s.User != fmt.Sprintf("u%d", i) {
					errs <- fmt.Errorf("%s: %+v %v", id, s, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n, err := p.DeleteExpiredSessions(ctx, now.Add(2*time.Hour)); err != nil || n != 40 {
			t.Fatalf("sweep: %d %v", n, err)
		}
	})
}

func TestContractIssuanceImages(t *testing.T) {
	eachPortalEngine(t, func(t *testing.T, _ cPortal, is issuance.Store, c *fakeClock) {
		ctx := context.Background()
		put := func(kind issuance.ImageKind, owner, data string) error {
			return is.Update(ctx, func(tx issuance.Tx) error {
				it, ok := tx.(issuance.ImageTx)
				if !ok {
					return errors.New("the engine's issuance transaction keeps no images")
				}
				return it.PutImage(&issuance.Image{Kind: kind, Owner: owner, ContentType: "image/png", Size: len(data), Uploaded: c.Now().UTC(), By: "admin"}, []byte(data))
			})
		}
		get := func(kind issuance.ImageKind, owner string) (img *issuance.Image, data []byte, err error) {
			err = is.View(ctx, func(tx issuance.Tx) error {
				img, data, err = tx.(issuance.ImageTx).Image(kind, owner)
				return err
			})
			return
		}
		mustNil(t, "stamp", put(issuance.ImageStamp, "o1", "stamp-v1"))
		mustNil(t, "signature", put(issuance.ImageSignature, "o1", "sig"))
		mustNil(t, "replace stamp", put(issuance.ImageStamp, "o1", "stamp-v2"))
		img, data, err := get(issuance.ImageStamp, "o1")
		if err != nil || string(data) != "stamp-v2" || img.Size != 8 || img.Owner != "o1" || img.By != "admin" {
			t.Fatalf("stamp: %+v %q %v", img, data, err)
		}
		// Kinds do not mix: the same owner has its own signature.
		if _, data, err := get(issuance.ImageSignature, "o1"); err != nil || string(data) != "sig" {
			t.Fatalf("signature: %q %v", data, err)
		}
		if _, _, err := get(issuance.ImageStamp, "o2"); !errors.Is(err, issuance.ErrNotFound) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("absent image: %v, want both not-found errors", err)
		}
		if err := put(issuance.ImageStamp, "", "x"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty owner: %v, want ErrInvalid", err)
		}
		// A failing transaction stores no image.
		boom := errors.New("boom")
		err = is.Update(ctx, func(tx issuance.Tx) error {
			if err := tx.(issuance.ImageTx).PutImage(&issuance.Image{Kind: issuance.ImageStamp, Owner: "o3"}, []byte("x")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("failing update: %v", err)
		}
		if _, _, err := get(issuance.ImageStamp, "o3"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("image of a rolled-back transaction: %v", err)
		}
	})
}
