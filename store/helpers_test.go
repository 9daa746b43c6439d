package store

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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
	path := filepath.Join(t.TempDir(), "ecogate.db")
	opts := Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	if clock != nil {
		opts.Clock = clock.Now
	}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Check(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("consistency check at cleanup: %v", err)
		}
		db.Close()
	})
	return db, path
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
