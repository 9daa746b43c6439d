package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// headedValue is a cu_view value with an empty check head and view.
func headedValue(view string) []byte {
	return appendViewValue(nil, &viewHead{}, []byte(view))
}

// TestViewIndexModel drives one index with random writes, some with an
// older transaction id than the one held, some without a head, into an
// arena that fills, against a map of what the bucket would hold: a value
// the index returns is always the newest, and until the arena fills it
// returns every one.
func TestViewIndexModel(t *testing.T) {
	for _, size := range []int{1 << 20, 8 << 10} {
		t.Run(fmt.Sprint("arena=", size), func(t *testing.T) {
			ix, err := newViewIndex(size)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.close()
			r := rand.New(rand.NewPCG(3, uint64(size)))
			want := map[string][]byte{} // the newest value per key
			seqOf := map[string]uint64{}
			seq := uint64(10)
			stale, tombs := 0, 0
			for step := range 5000 {
				k := []byte(fmt.Sprint("IN\x00C", r.IntN(700)))
				switch op := r.IntN(10); {
				case op == 0 && seqOf[string(k)] > 1: // a read older than what is held
					ix.set(k, headedValue(fmt.Sprint("old ", step)), seqOf[string(k)]-1)
					stale++
				case op == 1: // a legacy value: removed from the index
					seq++
					v := append(be64(7), "legacy"...)
					ix.set(k, v, seq)
					want[string(k)], seqOf[string(k)] = v, seq
					tombs++
				default:
					seq++
					v := headedValue(fmt.Sprint("view of ", string(k), " at ", step, " ", string(bytes.Repeat([]byte("x"), r.IntN(200)))))
					ix.set(k, v, seq)
					want[string(k)], seqOf[string(k)] = v, seq
				}
				if step%97 != 0 {
					continue
				}
				_, _, _, full := ix.stats()
				held := 0
				var bad error
				ix.mu.RLock()
				for k, v := range want {
					got := ix.get([]byte(k))
					headed := binary.BigEndian.Uint64(v) == headMarker
					switch {
					case got == nil && headed && !full:
						bad = fmt.Errorf("step %d: %q is missing", step, k)
					case got != nil && !bytes.Equal(got, v):
						bad = fmt.Errorf("step %d: %q is %q, want %q", step, k, got, v)
					case got != nil:
						held++
					}
				}
				ix.mu.RUnlock()
				if bad != nil {
					t.Fatal(bad)
				}
				if keys, _, _, _ := ix.stats(); keys != held {
					t.Fatalf("step %d: the index counts %d keys, %d found", step, keys, held)
				}
			}
			keys, used, live, full := ix.stats()
			t.Logf("keys %d, arena %d, live %d, full %v; %d stale writes, %d legacy", keys, used, live, full, stale, tombs)
			if full != (size < 1<<20) || stale < 100 || tombs < 100 {
				t.Fatalf("the sequence proves little: full %v, %d stale writes, %d legacy", full, stale, tombs)
			}
		})
	}
}

// TestViewIndexBuildMissesNoWrite: views written, and heads refreshed,
// while the index is being built (after a chunk was read and before it is
// added, for keys of that chunk, of chunks done and of chunks to come) are
// what the index holds once it is published.
func TestViewIndexBuildMissesNoWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ecogate.db")
	ctx := context.Background()
	numbers := make([]string, 60)
	{
		db, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range numbers {
			numbers[i] = fmt.Sprintf("C%03d", i)
			mustNil(t, "put", db.Customs().PutView(ctx, "IN", numbers[i], 0, []byte("v1 first "+numbers[i])))
		}
		mustNil(t, "close", db.Close())
	}
	defer func(n int) { viewIndexChunk, hookViewIndexChunk = n, nil }(viewIndexChunk)
	viewIndexChunk = 7
	r := rand.New(rand.NewPCG(5, 5))
	chunks := 0
	hookViewIndexChunk = func(db *DB) { // runs in the builder: no t.Fatal
		chunks++
		for j := range 4 {
			n := numbers[r.IntN(len(numbers))]
			if j == 0 { // a key of the chunk just read
				n = numbers[min((chunks-1)*viewIndexChunk+r.IntN(viewIndexChunk), len(numbers)-1)]
			}
			if err := db.Customs().PutView(ctx, "IN", n, 0, []byte(fmt.Sprint("v1 chunk ", chunks, " ", n))); err != nil {
				t.Errorf("put during the build: %v", err)
			}
			m := numbers[r.IntN(len(numbers))]
			if _, _, err := db.Inbox().ApplyStatus(ctx, StatusChange{Country: "IN", Number: m, Version: 1, Status: CertWithdrawn}); err != nil {
				t.Errorf("status during the build: %v", err)
			}
		}
	}
	db, err := Open(path, Options{ViewMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustNil(t, "wait", db.WaitViewIndex(ctx))
	if chunks < 8 {
		t.Fatalf("%d chunks: the build did not run as the test meant", chunks)
	}
	mustNil(t, "index against the bucket", viewIndexDiff(db))
	if st := db.ViewIndexStats(); st.Views != len(numbers) {
		t.Fatalf("the index holds %d views, want %d", st.Views, len(numbers))
	}
	withdrawn := 0
	for _, n := range numbers {
		var got Snapshot
		if _, err := db.Customs().Snapshot("IN", n, testViewVersion, &got); err != nil {
			t.Fatal(err)
		}
		want, _ := snapshotFromSources(t, db, "IN", n)
		got.head, want.head = viewHead{}, viewHead{}
		if len(got.Used) == 0 {
			got.Used = nil
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %+v, want %+v", n, got, want)
		}
		if got.Status == CertWithdrawn {
			withdrawn++
		}
	}
	if db.ViewIndexStats().Misses != 0 || withdrawn == 0 {
		t.Fatalf("the checks did not all come from the index, or nothing was withdrawn: %+v, %d withdrawn", db.ViewIndexStats(), withdrawn)
	}
}

// TestViewIndexFull: views beyond a full index are read from the bucket;
// an index whose arena fills with replaced values is rebuilt.
func TestViewIndexFull(t *testing.T) {
	ctx := context.Background()
	db, _ := openTestWith(t, nil, 16<<10)
	cu := db.Customs()
	pad := string(bytes.Repeat([]byte("p"), 300))
	for i := range 100 { // about 35 KB of views: more than the arena
		mustNil(t, "put", cu.PutView(ctx, "IN", fmt.Sprint("C", i), 0, []byte(fmt.Sprint("v1 ", i, pad))))
	}
	st := db.ViewIndexStats()
	if !st.Full || st.Views == 0 || st.Views == 100 {
		t.Fatalf("the arena should hold some of the views: %+v", st)
	}
	for i := range 100 {
		var s Snapshot
		ok, err := cu.Snapshot("IN", fmt.Sprint("C", i), nil, &s)
		if err != nil || !ok || !bytes.HasPrefix(s.View, fmt.Append(nil, "v1 ", i, "p")) {
			t.Fatalf("C%d: %v %v %q", i, ok, err, s.View)
		}
	}
	if db.ViewIndexStats().Misses == 0 {
		t.Fatal("no check read the bucket")
	}

	// Views rewritten (a node's views change with every message and
	// decision): the arena fills with replaced values, and the index is
	// rebuilt with the current ones, whether they take little of it or
	// more than half.
	for _, views := range []int{5, 27} {
		db2, _ := openTestWith(t, nil, 16<<10)
		for round := range 40 {
			for i := range views {
				mustNil(t, "put", db2.Customs().PutView(ctx, "IN", fmt.Sprint("C", i), 0, []byte(fmt.Sprint("round ", round, pad))))
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for st := db2.ViewIndexStats(); st.Full || st.Views != views; st = db2.ViewIndexStats() {
			if time.Now().After(deadline) {
				t.Fatalf("%d views: the index was not rebuilt: %+v", views, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st := db2.ViewIndexStats(); views == 27 && st.Bytes < 16<<10/2 {
			t.Fatalf("27 views should take more than half the arena: %+v", st)
		}
		mustNil(t, "index against the bucket", viewIndexDiff(db2))
	}
}

// TestViewIndexChecksNeverGoBack: a check that starts after a write was
// acknowledged sees it, with checks and writes running concurrently (run
// with -race).
func TestViewIndexChecksNeverGoBack(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t, nil)
	cu := db.Customs()
	const certs = 4
	var acked [certs]atomic.Int64
	var checks atomic.Int64
	for c := range certs {
		mustNil(t, "put", cu.PutView(ctx, "IN", fmt.Sprint("C", c), 0, []byte("step 0")))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s Snapshot
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := (g + i) % certs
				checks.Add(1)
				min := acked[c].Load()
				if _, err := cu.Snapshot("IN", fmt.Sprint("C", c), nil, &s); err != nil {
					errs <- err
					return
				}
				got, err := strconv.ParseInt(string(bytes.TrimPrefix(s.View, []byte("step "))), 10, 64)
				if err != nil || got < min {
					errs <- fmt.Errorf("C%d: a check after step %d was acknowledged read %q", c, min, s.View)
					return
				}
			}
		}()
	}
	for step := int64(1); step <= 300; step++ {
		c := int(step) % certs
		mustNil(t, "put", cu.PutView(ctx, "IN", fmt.Sprint("C", c), 0, fmt.Append(nil, "step ", step)))
		acked[c].Store(step)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A check of a view being written reads the bucket (the key is out of
	// the index until the commit), so some miss; the others must not.
	if st := db.ViewIndexStats(); st.Views != certs || st.Misses >= uint64(checks.Load()) {
		t.Fatalf("the checks did not come from the index: %+v of %d checks", st, checks.Load())
	}
}

// TestViewIndexClose: checks running while the store closes end with
// ErrClosed, never reading an unmapped arena; a store closed while its
// index is being built closes without publishing it.
func TestViewIndexClose(t *testing.T) {
	ctx := context.Background()
	t.Run("during a build", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ecogate.db")
		db, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			mustNil(t, "put", db.Customs().PutView(ctx, "IN", fmt.Sprint("C", i), 0, []byte("view")))
		}
		mustNil(t, "close", db.Close())
		defer func(n int) { viewIndexChunk, hookViewIndexChunk = n, nil }(viewIndexChunk)
		viewIndexChunk = 10
		inBuild, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		hookViewIndexChunk = func(*DB) {
			once.Do(func() { close(inBuild) })
			<-release
		}
		db, err = Open(path, Options{ViewMemory: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		<-inBuild
		closed := make(chan error)
		go func() { closed <- db.Close() }()
		time.Sleep(20 * time.Millisecond)
		select {
		case err := <-closed:
			t.Fatalf("Close returned (%v) while the build was still reading", err)
		default:
		}
		close(release)
		mustNil(t, "close", <-closed)
		if st := db.ViewIndexStats(); st.Views != 0 {
			t.Fatalf("an index was published after Close: %+v", st)
		}
		var s Snapshot
		if _, err := db.Customs().Snapshot("IN", "C1", nil, &s); !errors.Is(err, ErrClosed) {
			t.Fatalf("a check after Close: %v", err)
		}
	})
	for range 20 {
		path := filepath.Join(t.TempDir(), "ecogate.db")
		db, err := Open(path, Options{ViewMemory: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		mustNil(t, "wait", db.WaitViewIndex(ctx))
		mustNil(t, "put", db.Customs().PutView(ctx, "IN", "C1", 0, []byte("view")))
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var s Snapshot
				for {
					_, err := db.Customs().Snapshot("IN", "C1", nil, &s)
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil || string(s.View) != "view" {
						t.Errorf("%v %q", err, s.View)
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		mustNil(t, "close", db.Close())
		wg.Wait()
	}
}

// TestViewIndexWriteWindow: from the write of a view to its commit the key
// is out of the index, so that a check reads the bucket (which shows the
// write as soon as bbolt does); a commit that fails leaves it out, and the
// checks read what the bucket holds.
func TestViewIndexWriteWindow(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t, nil)
	cu := db.Customs()
	mustNil(t, "put", cu.PutView(ctx, "IN", "C1", 0, []byte("first")))
	held := func() bool {
		ix := db.vindex.cur.Load()
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		return ix.get([]byte("IN\x00C1")) != nil
	}
	if !held() {
		t.Fatal("the view is not in the index")
	}
	var inTx []bool
	fail := false
	db.hookBeforeCommit = func() error {
		inTx = append(inTx, held())
		if fail {
			return errors.New("disk full (test)")
		}
		return nil
	}
	mustNil(t, "put", cu.PutView(ctx, "IN", "C1", 0, []byte("second")))
	fail = true
	if err := cu.PutView(ctx, "IN", "C1", 0, []byte("third")); err == nil {
		t.Fatal("the failing commit succeeded")
	}
	db.hookBeforeCommit = nil
	if fmt.Sprint(inTx) != "[false false]" {
		t.Fatalf("the view was in the index during its transactions: %v", inTx)
	}
	var s Snapshot
	if ok, err := cu.Snapshot("IN", "C1", nil, &s); err != nil || !ok || string(s.View) != "second" {
		t.Fatalf("after a failed commit: %v %v %q", ok, err, s.View)
	}
	if held() {
		t.Fatal("a failed commit left the key in the index")
	}
	mustNil(t, "put", cu.PutView(ctx, "IN", "C1", 0, []byte("fourth")))
	if !held() {
		t.Fatal("the next write did not put the key back")
	}
}
