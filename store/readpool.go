package store

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// readPool keeps read-only transactions open between customs checks, so
// that a check neither begins nor ends a transaction, opens its buckets or
// allocates its cursors: it takes a pooled transaction with its buckets and
// cursors already open, seeks, and hands it back.
//
// A pooled transaction is only ever used by one goroutine at a time (the
// pool's mutex hands it over), as bbolt requires. It is kept only while no
// write has started since it began: the writer goroutine calls writing
// before each group transaction, which closes every idle one and marks the
// ones in use for closing when they come back, and written after it. So a
// check sees every write committed before it started, exactly as with a
// transaction of its own, and a write that has to grow the file's memory
// map (which waits for every open read transaction) waits only for the
// checks under way.
type readPool struct {
	mu      sync.Mutex
	gen     uint64 // bumped when a write starts
	busy    bool   // a write is under way: nothing is pooled
	closed  bool
	idle    []*readTx
	maxIdle int
}

// readTx is a read-only transaction with the buckets and cursors of the
// check path, opened on first use.
type readTx struct {
	tx       *bolt.Tx
	gen      uint64
	poolable bool
	opened   [nHot]bool
	cur      [nHot]*bolt.Cursor
}

// The buckets a customs check reads.
const (
	hotInCert = iota
	hotCuView
	hotCertState
	hotCuUtil
	nHot
)

var hotNames = [nHot][]byte{[]byte(bktInCert), []byte(bktCuView), []byte(bktCertState), []byte(bktCuUtil)}

// cursor is a cursor on hot bucket i (nil when the bucket does not exist),
// the same one for every use of t.
func (t *readTx) cursor(i int) *bolt.Cursor {
	if !t.opened[i] {
		t.opened[i] = true
		if b := t.tx.Bucket(hotNames[i]); b != nil {
			t.cur[i] = b.Cursor()
		}
	}
	return t.cur[i]
}

// get returns the value of key k in hot bucket i (nil when absent or a
// nested bucket), as Bucket.Get does but through t's cursor.
func (t *readTx) get(i int, k []byte) []byte {
	c := t.cursor(i)
	if c == nil {
		return nil
	}
	ck, v := c.Seek(k)
	if v == nil || string(ck) != string(k) {
		return nil
	}
	return v
}

// get takes a pooled transaction or begins one.
func (p *readPool) get(db *bolt.DB) (*readTx, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		t := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return t, nil
	}
	gen, poolable := p.gen, !p.busy && !p.closed
	p.mu.Unlock()
	tx, err := db.Begin(false)
	if err != nil {
		return nil, err
	}
	return &readTx{tx: tx, gen: gen, poolable: poolable}, nil
}

// put hands t back: pooled when no write started since it began,
// otherwise rolled back.
func (p *readPool) put(t *readTx) {
	p.mu.Lock()
	if t.poolable && !p.busy && !p.closed && t.gen == p.gen && len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, t)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = t.tx.Rollback()
}

// writing is called by the writer before each write transaction: it closes
// the idle transactions and retires the ones in use.
func (p *readPool) writing() { p.drain(func() { p.gen++; p.busy = true }) }

// written is called by the writer after each write transaction, committed
// or not.
func (p *readPool) written() {
	p.mu.Lock()
	p.busy = false
	p.mu.Unlock()
}

// close closes the idle transactions and pools nothing more (before the
// store closes, which waits for every open transaction).
func (p *readPool) close() { p.drain(func() { p.closed = true }) }

// drain runs mark under the pool's lock, takes the idle transactions and
// rolls them back.
func (p *readPool) drain(mark func()) {
	p.mu.Lock()
	mark()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, t := range idle {
		_ = t.tx.Rollback()
	}
}

// viewHot runs fn in a read-only transaction from db's pool. fn must not
// keep t, its cursors or any byte slice read through them after it
// returns.
func (db *DB) viewHot(fn func(t *readTx) error) (err error) {
	select {
	case <-db.closing:
		return ErrClosed
	default:
	}
	t, err := db.reads.get(db.bolt)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			_ = t.tx.Rollback()
			panic(r)
		}
		db.reads.put(t)
	}()
	return fn(t)
}
