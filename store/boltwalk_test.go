package store

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// boltPages lists the pages reachable in a sound file by type.
func boltPages(t *testing.T, path string) map[string][]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m0, err0 := readMeta(f, 0)
	m1, err1 := readMeta(f, pageSize(t, path))
	if err0 != nil || err1 != nil {
		t.Fatal(err0, err1)
	}
	if m1.txid > m0.txid {
		m0 = m1
	}
	out := map[string][]int{}
	names := map[uint16]string{pgBranch: "branch", pgLeaf: "leaf", pgFreelist: "freelist"}
	if err := walkBolt(f, st.Size(), m0, m0.root, func(id uint64, fl uint16) { out[names[fl]] = append(out[names[fl]], int(id)) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// currentMeta returns the current meta page's offset and its 64 bytes.
func currentMeta(t *testing.T, path string) (int64, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := pageSize(t, path)
	m0, m1 := b[16:16+64], b[ps+16:ps+16+64]
	if binary.LittleEndian.Uint64(m1[48:]) > binary.LittleEndian.Uint64(m0[48:]) {
		return ps + 16, append([]byte(nil), m1...)
	}
	return 16, append([]byte(nil), m0...)
}

// rewriteMetas applies edit to both meta pages and recomputes their checksums.
func rewriteMetas(t *testing.T, path string, edit func(m []byte)) {
	t.Helper()
	ps := pageSize(t, path)
	b, _ := os.ReadFile(path)
	for _, off := range []int64{16, ps + 16} {
		m := append([]byte(nil), b[off:off+64]...)
		edit(m)
		h := fnv.New64a()
		h.Write(m[:56])
		binary.LittleEndian.PutUint64(m[56:], h.Sum64())
		writeAt(t, path, off, m)
	}
}

// TestOpenDamagedPagesNoPanic damages the pages bbolt scans at open (its
// freelist rebuild walks every reachable page in a goroutine of its own,
// where a bad page used to crash the process) and checks that Open returns
// a *CorruptError with the remedy instead.
func TestOpenDamagedPagesNoPanic(t *testing.T) {
	u16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	tests := []struct {
		name    string
		synced  bool // the file carries a freelist page
		damage  func(t *testing.T, path string, ps int64, pages map[string][]int)
		wantSub string
	}{
		{"branch page flags flipped", false, func(t *testing.T, path string, ps int64, pages map[string][]int) {
			writeAt(t, path, int64(pages["branch"][0])*ps+8, u16(0x0404))
		}, "neither branch nor leaf"},
		{"branch child beyond the file", false, func(t *testing.T, path string, ps int64, pages map[string][]int) {
			writeAt(t, path, int64(pages["branch"][0])*ps+16+8, u64(1<<40))
		}, "outside the file's pages"},
		{"leaf element count too large", false, func(t *testing.T, path string, ps int64, pages map[string][]int) {
			writeAt(t, path, int64(pages["leaf"][0])*ps+10, u16(0xFFF0))
		}, "more than it can hold"},
		{"leaf element points outside the page", false, func(t *testing.T, path string, ps int64, pages map[string][]int) {
			writeAt(t, path, int64(pages["leaf"][0])*ps+16+4, binary.LittleEndian.AppendUint32(nil, 1<<30))
		}, "points outside the page"},
		{"leaf keys out of order", false, func(t *testing.T, path string, ps int64, pages map[string][]int) {
			b, _ := os.ReadFile(path)
			for _, id := range pages["leaf"] {
				p := b[int64(id)*ps:]
				if binary.LittleEndian.Uint16(p[10:]) < 2 {
					continue
				}
				pos := binary.LittleEndian.Uint32(p[16+4:])
				writeAt(t, path, int64(id)*ps+16+int64(pos), []byte{0xFF})
				return
			}
			t.Fatal("no leaf with two keys")
		}, "out of order"},
		{"page header id overwritten", false, func(t *testing.T, path string, ps int64, pages map[string][]int) {
			writeAt(t, path, int64(pages["branch"][0])*ps, u64(0xdeadbeef))
		}, "carries id"},
		{"overflow past the end", false, func(t *testing.T, path string, ps int64, pages map[string][]int) {
			writeAt(t, path, int64(pages["leaf"][0])*ps+12, binary.LittleEndian.AppendUint32(nil, 1<<20))
		}, "overflow pages"},
		{"meta root beyond the file (valid checksums)", false, func(t *testing.T, path string, _ int64, _ map[string][]int) {
			rewriteMetas(t, path, func(m []byte) { binary.LittleEndian.PutUint64(m[16:], 1<<30) })
		}, "outside the file's pages"},
		{"freelist ids out of range", true, func(t *testing.T, path string, ps int64, _ map[string][]int) {
			_, m := currentMeta(t, path)
			fl := int64(binary.LittleEndian.Uint64(m[32:]))
			writeAt(t, path, fl*ps+16, u64(1<<40))
			writeAt(t, path, fl*ps+10, u16(1))
		}, "freelist"},
		{"freelist page flags flipped", true, func(t *testing.T, path string, ps int64, _ map[string][]int) {
			_, m := currentMeta(t, path)
			fl := int64(binary.LittleEndian.Uint64(m[32:]))
			writeAt(t, path, fl*ps+8, u16(pgLeaf))
		}, "not a freelist"},
		{"truncated by a few pages", false, func(t *testing.T, path string, ps int64, _ map[string][]int) {
			_, m := currentMeta(t, path)
			if err := os.Truncate(path, int64(binary.LittleEndian.Uint64(m[40:])-3)*ps); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ecogate.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			fill(t, db, 3000)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if tt.synced { // as written by a bbolt that syncs its freelist
				bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				_ = bdb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bktMeta)).Put([]byte("x"), []byte("y")) })
				bdb.Close()
				if _, m := currentMeta(t, path); binary.LittleEndian.Uint64(m[32:]) == ^uint64(0) {
					t.Fatal("the file has no freelist page to damage")
				}
			}
			pages := boltPages(t, path)
			if len(pages["branch"]) == 0 || len(pages["leaf"]) == 0 {
				t.Fatalf("no branch or leaf page to damage: %v", len(pages))
			}
			tt.damage(t, path, pageSize(t, path), pages)

			db, err = Open(path, Options{LockTimeout: time.Second, Check: CheckNever})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded on a damaged file")
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T %v, want *CorruptError", err, err)
			}
			for _, want := range []string{path, tt.wantSub, "restore the last good backup"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestWalkSoundFile checks the walk accepts sound files: fresh, filled, with
// a synced freelist, and while another handle holds the lock it stays out.
func TestWalkSoundFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ecogate.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := preflight(path); err != nil {
		t.Fatalf("preflight while open: %v", err)
	}
	fill(t, db, 1500)
	db.Close()
	for range 2 {
		if err := preflight(path); err != nil {
			t.Fatalf("preflight on a sound file: %v", err)
		}
		db, err := Open(path, Options{Check: CheckAlways})
		if err != nil {
			t.Fatal(err)
		}
		fill(t, db, 10)
		db.Close()
	}
}

// FuzzPreflight feeds mutated data files to preflight: it must return an
// error or nil, never panic, and a file it accepts must open without a crash.
func FuzzPreflight(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.db")
	db, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	db.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed, uint32(0), []byte{})
	f.Add(seed, uint32(2*4096+8), []byte{0x04, 0x04})
	f.Add(seed, uint32(3*4096+10), []byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, file []byte, off uint32, patch []byte) {
		if int(off) < len(file) {
			copy(file[off:], patch)
		}
		p := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(p, file, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = preflight(p)
	})
}
