package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fill writes n outbound messages so the file has many leaf pages.
func fill(t *testing.T, db *DB, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += 100 {
		var ms []OutMessage
		for j := i; j < i+100 && j < n; j++ {
			ms = append(ms, msg(fmt.Sprintf("m%05d", j), "SG", fmt.Sprintf("C%05d", j), 1, "issue", strings.Repeat("x", 200)+fmt.Sprint(j)))
		}
		if err := db.Outbox().Enqueue(ctx, ms...); err != nil {
			t.Fatal(err)
		}
	}
}

// pageSize reads bbolt's page size from the first meta page.
func pageSize(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], 16+4+4); err != nil {
		t.Fatal(err)
	}
	return int64(binary.LittleEndian.Uint32(b[:]))
}

// reachableLeaf returns the id of a leaf page in use.
func reachableLeaf(t *testing.T, path string) int {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	id := -1
	_ = bdb.View(func(tx *bolt.Tx) error {
		for i := 2; ; i++ {
			p, err := tx.Page(i)
			if err != nil || p == nil {
				return nil
			}
			if p.Type == "leaf" {
				id = i
				return nil
			}
		}
	})
	if id < 0 {
		t.Fatal("no leaf page found")
	}
	return id
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesDamagedFiles corrupts data files in several ways and checks
// that Open fails with a *CorruptError naming the file and the remedy, and
// never creates an empty store in its place.
func TestOpenRefusesDamagedFiles(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantSub string
	}{
		{"empty file", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "empty"},
		{"not a bbolt file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("hello, this is not a database\n", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "bbolt cannot open it"},
		{"both meta pages damaged", func(t *testing.T, path string) {
			ps := pageSize(t, path)
			junk := []byte(strings.Repeat("\xde\xad\xbe\xef", 16))
			writeAt(t, path, 16, junk)
			writeAt(t, path, ps+16, junk)
		}, "bbolt cannot open it"},
		{"leaf page type damaged", func(t *testing.T, path string) {
			ps, id := pageSize(t, path), reachableLeaf(t, path)
			writeAt(t, path, int64(id)*ps+8, []byte{0, 0}) // page flags: no valid type
		}, "neither branch nor leaf"},
		{"truncated to half", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			if err := os.Truncate(path, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "damaged"},
		{"bbolt file of another program", func(t *testing.T, path string) {
			os.Remove(path)
			bdb, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
			bdb.Close()
		}, "not an ecogate data file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ecogate.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fill(t, db, 2000)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, path)
			before, _ := os.ReadFile(path)

			db, err = Open(path, Options{LockTimeout: time.Second})
			if err == nil {
				n := 0
				if l, lerr := db.Outbox().List(context.Background(), Filter{}); lerr == nil {
					n = len(l)
				}
				db.Close()
				t.Fatalf("Open succeeded on a damaged file (it lists %d messages)", n)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error is %T %v, want *CorruptError", err, err)
			}
			msg := err.Error()
			for _, want := range []string{path, tt.wantSub, "restore the last good backup"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Errorf("Open changed the damaged file")
			}
		})
	}
}

// TestOpenLockedAndNewerSchema covers the other reasons Open refuses a file.
func TestOpenLockedAndNewerSchema(t *testing.T) {
	db, path := openTest(t, nil)
	_, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "is the node running") {
		t.Fatalf("second Open: got %v, want ErrLocked with advice", err)
	}
	db.Close()

	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bktMeta)).Put([]byte(schemaKey), []byte("99"))
	})
	bdb.Close()
	_, err = Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "run a newer ecogate") {
		t.Fatalf("Open of schema 99: got %v", err)
	}
}

// TestReopenKeepsData checks that a clean close and reopen keeps everything.
func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ecogate.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, db, 250)
	db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := db.Outbox().List(context.Background(), Filter{})
	if err != nil || len(l) != 250 {
		t.Fatalf("after reopen: %d messages, err %v; want 250", len(l), err)
	}
}

// TestGroupCommitIsolatesFailingOps runs many producers, some of whose
// operations fail, and checks that exactly the successful ones are stored.
func TestGroupCommitIsolatesFailingOps(t *testing.T) {
	db, _ := openTest(t, nil)
	ctx := context.Background()
	const n = 400
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.update(ctx, func(tx *bolt.Tx) error {
				if err := tx.Bucket([]byte(bktMeta)).Put([]byte(fmt.Sprintf("k%03d", i)), []byte("v")); err != nil {
					return err
				}
				if i%7 == 0 {
					return fmt.Errorf("op %d fails on purpose", i)
				}
				if i%50 == 1 {
					panic("op panics on purpose")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	if st := db.Stats(); st.Ops <= st.Commits || st.FailedCommits != 0 {
		t.Errorf("no group commit happened with %d concurrent producers: %+v", n, st)
	}
	_ = db.view(func(tx *bolt.Tx) error {
		for i := 0; i < n; i++ {
			got := tx.Bucket([]byte(bktMeta)).Get([]byte(fmt.Sprintf("k%03d", i))) != nil
			wantFail := i%7 == 0 || i%50 == 1
			if wantFail == (errs[i] == nil) {
				t.Errorf("op %d: err %v, want failure %v", i, errs[i], wantFail)
			}
			if got == wantFail {
				t.Errorf("op %d: stored %v, want %v", i, got, !wantFail)
			}
		}
		return nil
	})
}

// TestCommitFailureWritesNothing injects a commit failure (failpoint) and
// checks that every operation of the group fails and none is visible.
func TestCommitFailureWritesNothing(t *testing.T) {
	db, _ := openTest(t, nil)
	ctx := context.Background()
	db.hookBeforeCommit = func() error { return errors.New("injected: disk full") }
	err := db.Outbox().Enqueue(ctx, msg("a", "SG", "C1", 1, "issue", "x"))
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Enqueue with failing commit: %v", err)
	}
	_, err = db.Audit().Append(ctx, Entry{Actor: "t", Action: "send", Subject: "a"})
	if err == nil {
		t.Fatal("Append with failing commit succeeded")
	}
	db.hookBeforeCommit = nil
	if _, err := db.Outbox().Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("message visible after failed commit: %v", err)
	}
	if n, err := db.Audit().Verify(ctx); n != 0 || err != nil {
		t.Fatalf("audit after failed commit: %d entries, %v", n, err)
	}
}

// TestCloseWithPendingWriters closes the store while producers write: each
// call either succeeds (and is stored) or returns ErrClosed; none hangs.
func TestCloseWithPendingWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ecogate.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := map[string]bool{}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				err := db.Outbox().Enqueue(ctx, msg(id, "SG", id, 1, "issue", id))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("enqueue %s: %v", id, err)
					return
				}
				mu.Lock()
				ok[id] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for id := range ok {
		if _, err := db.Outbox().Get(ctx, id); err != nil {
			t.Errorf("acknowledged %s lost: %v", id, err)
		}
	}
	if len(ok) == 0 {
		t.Error("no enqueue succeeded before Close")
	}
}

// TestCanceledContext checks that a canceled context is refused up front.
func TestCanceledContext(t *testing.T) {
	db, _ := openTest(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Outbox().Enqueue(ctx, msg("a", "SG", "C", 1, "issue", "x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestCheckPolicy: which opens run the full structural check. The damage
// (a page neither reachable nor free) is one only that check finds, so an open that
// checks refuses the file and one that does not opens it.
func TestCheckPolicy(t *testing.T) {
	for _, tt := range []struct {
		name      string
		opts      Options
		unclean   bool // the last process did not Close
		wantCheck bool
	}{
		{"auto, small file", Options{}, false, true},
		{"auto, large file closed cleanly", Options{AutoCheckBytes: 1}, false, false},
		{"auto, large file not closed cleanly", Options{AutoCheckBytes: 1}, true, true},
		{"always", Options{Check: CheckAlways, AutoCheckBytes: 1}, false, true},
		{"never", Options{Check: CheckNever}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ecogate.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fill(t, db, 2000)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			// Rewritten by a bbolt that syncs its freelist; unclean: what a
			// killed process leaves, the open mark still set.
			bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			mark := map[bool]string{true: "1", false: "0"}[tt.unclean]
			_ = bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bktMeta)).Put([]byte(openKey), []byte(mark)) })
			bdb.Close()
			// The damage only the full check finds (the page walk before
			// every open does not): a free page dropped from the freelist,
			// so it is neither reachable nor free.
			ps := pageSize(t, path)
			_, m := currentMeta(t, path)
			fl := int64(binary.LittleEndian.Uint64(m[32:]))
			b, _ := os.ReadFile(path)
			n := binary.LittleEndian.Uint16(b[fl*ps+10:])
			if n == 0 || n == 0xFFFF {
				t.Fatalf("freelist page %d holds %d ids", fl, n)
			}
			writeAt(t, path, fl*ps+10, binary.LittleEndian.AppendUint16(nil, n-1))
			opts := tt.opts
			opts.LockTimeout = time.Second
			db, err = Open(path, opts)
			if err == nil {
				db.bolt.Close() // not db.Close: the damaged file must not be written
			}
			if checked := errors.Is(err, ErrCorrupt); checked != tt.wantCheck {
				t.Fatalf("checked = %v (err %v), want %v", checked, err, tt.wantCheck)
			}
		})
	}
	if p, err := ParseCheckPolicy("always"); err != nil || p != CheckAlways {
		t.Errorf("ParseCheckPolicy(always) = %v, %v", p, err)
	}
	if _, err := ParseCheckPolicy("sometimes"); err == nil {
		t.Error("ParseCheckPolicy(sometimes) accepted")
	}
}
