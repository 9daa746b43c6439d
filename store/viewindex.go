package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The check view index keeps a copy of the check views (the cu_view
// bucket) in memory, in a hash table over an append-only arena outside the
// Go heap, so that a customs check finds its view with one hash probe
// instead of a walk down the B+tree of a large memory-mapped file (on a
// node with a million certificates, a cache and TLB miss at each level).
// The bucket stays the only record: the index is derived, built from it in
// the background after Open and rebuilt when its arena fills with
// replaced values; it is never written to disk.
//
// It never answers with a value older than the bucket's as of the start
// of a check:
//
//   - every write of the bucket goes through putView, which removes the key
//     from the index at once (checks read the bucket meanwhile, so they see
//     the write as soon as bbolt shows it, and a commit that fails after
//     bbolt showed it leaves the key removed) and puts the new value in the
//     transaction's commit handler (bolt.Tx.OnCommit), before the write's
//     caller is told it is done; each value carries its transaction's id,
//     and an older one never replaces a newer one;
//   - a build reads the bucket in chunks, each in a read transaction whose
//     id goes with the values it read, while every write committed from
//     before its first read on is applied to the index being built too, so
//     a chunk read before a write cannot undo it;
//   - a value that cannot be kept (the arena is full, or a value without a
//     check head) removes the key, and a key the index does not hold is
//     read from the bucket, exactly as without an index.
//
// Readers hold the index's read lock while they copy a value out; the
// arena is unmapped only under the write lock.

// viewIndexChunk is how many views a build reads per read transaction (a
// long read transaction would hold up a write that grows the file).
var viewIndexChunk = 10000

// Slot values: 0 empty; slotTomb a removed key (probing goes on past it);
// otherwise tag<<48 | (offset+2), tag the hash's top 16 bits.
const (
	slotTomb = 1
	slotOff  = 1<<48 - 1
	recHdr   = 8 + 2 + 4 // seq, key length, value length
)

// viewIndex is one built index. Lookups (get) may run concurrently with
// one writer (set, under wmu).
type viewIndex struct {
	mu     sync.RWMutex // readers hold it while reading the arena; close takes it
	arena  []byte       // nil once closed
	unmap  func([]byte) error
	seed   maphash.Seed
	tab    atomic.Pointer[slotTable]
	onFull func(*viewIndex)

	wmu   sync.Mutex
	used  int  // arena bytes written
	live  int  // bytes of the records the table points to
	n     int  // non-empty slots (keys and tombs)
	count int  // keys
	full  bool // a value did not fit: no more inserts
	asked bool // onFull was called for a rebuild
}

type slotTable struct{ s []uint64 }

// newViewIndex reserves an arena of size bytes (memory is only used as
// values are written into it).
func newViewIndex(size int) (*viewIndex, error) {
	arena, unmap, err := reserveArena(size)
	if err != nil {
		return nil, err
	}
	ix := &viewIndex{arena: arena, unmap: unmap, seed: maphash.MakeSeed()}
	ix.tab.Store(&slotTable{s: make([]uint64, 1024)})
	return ix, nil
}

// get returns the value stored for key k (nil when the index does not
// hold it). The caller holds ix.mu for reading, and the value is valid
// only until it lets go.
func (ix *viewIndex) get(k []byte) []byte {
	if ix.arena == nil {
		return nil
	}
	t := ix.tab.Load().s
	i, ok := ix.find(t, maphash.Bytes(ix.seed, k), k)
	if !ok {
		return nil
	}
	_, _, v := ix.rec(atomic.LoadUint64(&t[i]))
	if len(v) == 0 {
		return nil // removed
	}
	return v
}

// rec reads the record slot s points to.
func (ix *viewIndex) rec(s uint64) (seq uint64, k, v []byte) {
	r := ix.arena[s&slotOff-2:]
	kl, vl := int(binary.LittleEndian.Uint16(r[8:])), int(binary.LittleEndian.Uint32(r[10:]))
	return binary.LittleEndian.Uint64(r), r[recHdr : recHdr+kl], r[recHdr+kl : recHdr+kl+vl]
}

// find returns the slot of table t holding k, whose hash is h (ok), or
// else the first empty slot of its probe sequence. Slots are read
// atomically: readers probe while the writer stores.
func (ix *viewIndex) find(t []uint64, h uint64, k []byte) (i uint64, ok bool) {
	tag, mask := h>>48, uint64(len(t)-1)
	for i = h & mask; ; i = (i + 1) & mask {
		s := atomic.LoadUint64(&t[i])
		if s == 0 {
			return i, false
		}
		if s == slotTomb || s>>48 != tag {
			continue
		}
		if _, rk, _ := ix.rec(s); string(rk) == string(k) {
			return i, true
		}
	}
}

// set makes the index follow a write of value v for key k by the
// transaction seq (a read transaction's id for what it read). A value
// older than the one held is ignored. A value without a check head is
// held as a removal (lookups miss, and an older value cannot come back);
// when the arena is full, no value is added any more and a changed key is
// dropped.
func (ix *viewIndex) set(k, v []byte, seq uint64) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.arena == nil || len(k) > 1<<16-1 {
		return
	}
	t := ix.tab.Load().s
	h := maphash.Bytes(ix.seed, k)
	i, ok := ix.find(t, h, k)
	oldLive := 0 // the bytes of the value held (0: none, or a removal)
	if ok {
		oseq, _, ov := ix.rec(t[i])
		if oseq > seq {
			return
		}
		if len(ov) > 0 {
			oldLive = recHdr + len(k) + len(ov)
		}
	}
	if len(v) < 8 || binary.BigEndian.Uint64(v) != headMarker {
		v = nil // kept as a removal
	}
	need := recHdr + len(k) + len(v)
	if ix.full || ix.used+need > len(ix.arena) {
		if ok {
			atomic.StoreUint64(&t[i], slotTomb)
			if oldLive > 0 {
				ix.live -= oldLive
				ix.count--
			}
		}
		first := !ix.full
		ix.full = true
		ix.askRebuild(first)
		return
	}
	off := ix.used
	r := ix.arena[off : off+need]
	binary.LittleEndian.PutUint64(r, seq)
	binary.LittleEndian.PutUint16(r[8:], uint16(len(k)))
	binary.LittleEndian.PutUint32(r[10:], uint32(len(v)))
	copy(r[recHdr+copy(r[recHdr:], k):], v)
	ix.used += need
	s := h>>48<<48 | uint64(off+2)
	newLive := 0
	if v != nil {
		newLive = need
	}
	ix.live += newLive - oldLive
	switch {
	case oldLive == 0 && newLive > 0:
		ix.count++
	case oldLive > 0 && newLive == 0:
		ix.count--
	}
	if ok {
		atomic.StoreUint64(&t[i], s)
		return
	}
	if (ix.n+1)*2 > len(t) {
		t = ix.grow(t)
		i, _ = ix.find(t, h, k)
	}
	atomic.StoreUint64(&t[i], s)
	ix.n++
}

// askRebuild tells the store, through onFull, that the arena is full: the
// first time (first), and once replaced values take a quarter of it (a
// rebuild then gives room back). Under wmu.
func (ix *viewIndex) askRebuild(first bool) {
	worth := (ix.used-ix.live)*4 >= len(ix.arena)
	if ix.onFull == nil || ix.asked || !(first || worth) {
		return
	}
	ix.asked = worth
	go ix.onFull(ix)
}

// grow replaces the table by one at least twice as large as its keys need,
// without the tombs.
func (ix *viewIndex) grow(old []uint64) []uint64 {
	size, n := len(old), 0
	for _, s := range old {
		if s != 0 && s != slotTomb {
			n++
		}
	}
	for (n+1)*4 > size {
		size *= 2
	}
	t := make([]uint64, size)
	mask := uint64(size - 1)
	for _, s := range old {
		if s == 0 || s == slotTomb {
			continue
		}
		_, k, _ := ix.rec(s)
		i := maphash.Bytes(ix.seed, k) & mask
		for t[i] != 0 {
			i = (i + 1) & mask
		}
		t[i] = s
	}
	ix.tab.Store(&slotTable{s: t})
	ix.n = n
	return t
}

// stats returns the keys held, the arena bytes written and the bytes still
// pointed to.
func (ix *viewIndex) stats() (keys, used, live int, full bool) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	return ix.count, ix.used, ix.live, ix.full
}

// close unmaps the arena once no reader holds it.
func (ix *viewIndex) close() {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.arena != nil {
		_ = ix.unmap(ix.arena)
		ix.arena = nil
	}
}

// viewIndexes is a DB's index state.
type viewIndexes struct {
	size   int           // arena bytes; 0: no index
	misses atomic.Uint64 // checks not answered from an index

	cur atomic.Pointer[viewIndex] // the published index (nil: none yet)

	mu       sync.Mutex
	next     *viewIndex // the index being built
	building bool
	closed   bool // the store closed: nothing is published any more
	builders sync.WaitGroup
	ready    chan struct{} // closed when the first build ends (published or not)
	readyOne sync.Once
}

// hookViewIndexChunk, when set (tests only), runs after a build read each
// chunk and before it adds the chunk to the index.
var hookViewIndexChunk func(db *DB)

// registry finds the DB of a bbolt transaction, for putView.
var registry sync.Map // *bolt.DB -> *DB

// putView writes value v for key k into b, the cu_view bucket of write
// transaction tx. Every write of that bucket goes through it, so that the
// check view index follows when tx commits.
func putView(tx *bolt.Tx, b *bolt.Bucket, k, v []byte) error {
	if err := b.Put(k, v); err != nil {
		return err
	}
	d, ok := registry.Load(tx.DB())
	if !ok {
		return nil
	}
	db := d.(*DB)
	k, v, seq := bytes.Clone(k), bytes.Clone(v), uint64(tx.ID())
	db.applyView(k, nil, seq) // removed until the commit handler puts v
	tx.OnCommit(func() { db.applyView(k, v, seq) })
	return nil
}

// applyView has the published index and the one being built follow a write
// of transaction seq (v nil: remove the key).
func (db *DB) applyView(k, v []byte, seq uint64) {
	vi := &db.vindex
	vi.mu.Lock()
	next := vi.next
	vi.mu.Unlock()
	if cur := vi.cur.Load(); cur != nil {
		cur.set(k, v, seq)
	}
	if next != nil {
		next.set(k, v, seq)
	}
}

// initViewIndex prepares the index of size bytes (0: none) before the
// writer starts (Open), so that every write from then on reaches putView's
// registry.
func (db *DB) initViewIndex(size int) {
	db.vindex.size = size
	db.vindex.ready = make(chan struct{})
	if size <= 0 {
		close(db.vindex.ready)
		return
	}
	registry.Store(db.bolt, db)
}

// startViewIndex builds the first index in the background (Open).
func (db *DB) startViewIndex() {
	if db.vindex.size > 0 {
		db.rebuildViewIndex(nil)
	}
}

// rebuildViewIndex starts a build unless one is under way. full is the
// index whose arena filled (nil for the first build): it is rebuilt, so
// that replaced values no longer take room, when they take at least a
// quarter of it; otherwise a new one would soon fill again, and the views
// beyond it are read from the bucket.
func (db *DB) rebuildViewIndex(full *viewIndex) {
	vi := &db.vindex
	if full != nil {
		if full != vi.cur.Load() {
			return
		}
		if keys, used, live, _ := full.stats(); (used-live)*4 < vi.size {
			db.warnViewIndexFull(keys, live)
			return
		}
	}
	vi.mu.Lock()
	if vi.building || vi.closed {
		vi.mu.Unlock()
		return
	}
	vi.building = true
	vi.builders.Add(1)
	vi.mu.Unlock()
	go func() {
		defer vi.builders.Done()
		db.buildViewIndex()
	}()
}

// buildViewIndex reads every view into a new index and publishes it.
func (db *DB) buildViewIndex() {
	vi := &db.vindex
	defer vi.readyOne.Do(func() { close(vi.ready) })
	ix, err := newViewIndex(vi.size)
	if err != nil {
		db.log.Warn("store: no memory for the check view index; checks read the data file", "bytes", vi.size, "err", err)
		vi.mu.Lock()
		vi.building = false
		vi.mu.Unlock()
		return
	}
	ix.onFull = db.rebuildViewIndex
	vi.mu.Lock()
	vi.next = ix
	vi.mu.Unlock()
	published := false
	defer func() {
		if published {
			return
		}
		vi.mu.Lock()
		vi.next, vi.building = nil, false
		vi.mu.Unlock()
		ix.close()
	}()
	// Each chunk is copied out of its read transaction, then added with
	// that transaction's id: a write committed in between has already
	// been applied with a later one, which the chunk's value cannot undo.
	var after, buf []byte
	var lens [][2]int // key and value lengths in buf
	for end := false; !end; {
		select {
		case <-db.closing:
			return
		default:
		}
		var seq uint64
		buf, lens = buf[:0], lens[:0]
		err := db.view(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bktCuView))
			if b == nil {
				end = true
				return nil
			}
			seq = uint64(tx.ID())
			c := b.Cursor()
			k, v := c.Seek(after)
			if after != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			n := 0
			for ; k != nil && n < viewIndexChunk; k, v = c.Next() {
				if len(v) >= 8 && binary.BigEndian.Uint64(v) == headMarker {
					buf = append(append(buf, k...), v...)
					lens = append(lens, [2]int{len(k), len(v)})
				}
				after = append(after[:0], k...)
				n++
			}
			end = k == nil
			return nil
		})
		if err != nil {
			return
		}
		if hookViewIndexChunk != nil {
			hookViewIndexChunk(db)
		}
		off := 0
		for _, l := range lens {
			ix.set(buf[off:off+l[0]], buf[off+l[0]:off+l[0]+l[1]], seq)
			off += l[0] + l[1]
		}
	}
	// Publish. A write committed from now on finds the new index as the
	// current one; one committed before was applied to it as the one
	// being built.
	vi.mu.Lock()
	if vi.closed {
		vi.mu.Unlock()
		return
	}
	old := vi.cur.Swap(ix)
	vi.next, vi.building = nil, false
	vi.mu.Unlock()
	published = true
	if old != nil {
		old.close()
	}
	// It may have filled while being built, when a rebuild could not be
	// asked for yet.
	ix.wmu.Lock()
	ix.asked = false
	if ix.full {
		ix.askRebuild(false)
	}
	ix.wmu.Unlock()
	keys, _, live, full := ix.stats()
	db.log.Info("store: check view index built", "views", keys, "bytes", live, "full", full)
	if full {
		db.warnViewIndexFull(keys, live)
	}
}

// warnViewIndexFull says that the index holds keys views in live bytes and
// no more.
func (db *DB) warnViewIndexFull(keys, live int) {
	db.log.Warn("store: the check view index is full; the views beyond it are read from the data file (raise dataViewMemoryMiB)",
		"views", keys, "bytes", live)
}

// closeViewIndex drops the index and waits for a build under way to stop
// (Close, after the writer stopped; a build's reads then fail).
func (db *DB) closeViewIndex() {
	registry.Delete(db.bolt)
	vi := &db.vindex
	vi.mu.Lock()
	vi.closed = true
	ix := vi.cur.Swap(nil)
	vi.mu.Unlock()
	if ix != nil {
		ix.close()
	}
	vi.builders.Wait()
}

// snapshotIndexed fills dst from the index for key k; false when the
// index does not hold it (the caller reads the bucket).
func (db *DB) snapshotIndexed(k []byte, dst *Snapshot) bool {
	ix := db.vindex.cur.Load()
	if ix == nil {
		if db.vindex.size > 0 {
			db.vindex.misses.Add(1)
		}
		return false
	}
	ix.mu.RLock()
	v := ix.get(k)
	if v == nil {
		ix.mu.RUnlock()
		db.vindex.misses.Add(1)
		return false
	}
	view, headed, err := parseViewValue(v, &dst.head)
	if err == nil && headed {
		dst.View = append(dst.View, view...)
	}
	ix.mu.RUnlock()
	if err != nil || !headed {
		db.vindex.misses.Add(1)
		return false
	}
	return true
}

// WaitViewIndex returns when the first build of the check view index has
// ended (at once when there is none), or when ctx is done.
func (db *DB) WaitViewIndex(ctx context.Context) error {
	select {
	case <-db.vindex.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ViewIndexStats describes the check view index.
type ViewIndexStats struct {
	// Views is the number of views it holds, Bytes the memory they take
	// and Arena the memory written (replaced values included).
	Views, Bytes, Arena int
	// Full is true when a view did not fit: views beyond it are read from
	// the data file.
	Full bool
	// Misses counts the checks that did not find their view in it (and
	// read the data file).
	Misses uint64
}

// ViewIndexStats returns the index's figures (zero without one).
func (db *DB) ViewIndexStats() ViewIndexStats {
	st := ViewIndexStats{Misses: db.vindex.misses.Load()}
	if ix := db.vindex.cur.Load(); ix != nil {
		st.Views, st.Arena, st.Bytes, st.Full = ix.stats()
	}
	return st
}
