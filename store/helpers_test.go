package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// openTest opens a fresh store in a temporary directory, closed at cleanup.
func openTest(t testing.TB, clock *fakeClock) (*DB, string) {
	t.Helper()
	return openTestWith(t, clock, testViewMemory)
}

// openTestWith is openTest with a check view index of viewMemory bytes (0:
// none).
func openTestWith(t testing.TB, clock *fakeClock, viewMemory int) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ecogate.db")
	opts := Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), ViewMemory: viewMemory}
	if clock != nil {
		opts.Clock = clock.Now
	}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.WaitViewIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Check(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("consistency check at cleanup: %v", err)
		}
		if err := viewIndexDiff(db); err != nil {
			t.Errorf("check view index at cleanup: %v", err)
		}
		db.Close()
	})
	return db, path
}

// testViewMemory is the check view index of test stores: every store test
// reads its checks through it and compares it with the bucket at cleanup.
const testViewMemory = 4 << 20

// viewIndexDiff compares db's published check view index with the cu_view
// bucket (no write may run meanwhile): every value it holds must be the
// bucket's, and it may lack a headed view only once its arena is full.
func viewIndexDiff(db *DB) error {
	ix := db.vindex.cur.Load()
	if ix == nil {
		return nil
	}
	keys, _, _, full := ix.stats() // before the read lock: close takes wmu, then mu
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.arena == nil {
		return nil
	}
	return db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bktCuView))
		n := 0
		if b != nil {
			err := b.ForEach(func(k, v []byte) error {
				got := ix.get(k)
				headed := len(v) >= 8 && binary.BigEndian.Uint64(v) == headMarker
				switch {
				case got == nil && headed && !full:
					return fmt.Errorf("view %q is missing from the index", k)
				case got != nil && !bytes.Equal(got, v):
					return fmt.Errorf("view %q: the index holds %q, the bucket %q", k, got, v)
				case got != nil:
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if keys != n {
			return fmt.Errorf("the index holds %d views, %d of them found in the bucket", keys, n)
		}
		return nil
	})
}

func msg(id, partner, cert string, version int, kind, content string) OutMessage {
	return OutMessage{ID: id, Partner: partner, CertNumber: cert, Version: version, Kind: kind, Content: []byte(content)}
}

func ids(rs []OutRecord) []string {
	var s []string
	for _, r := range rs {
		s = append(s, r.ID)
	}
	return s
}
