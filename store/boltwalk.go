package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// bbolt page layout (go.etcd.io/bbolt internal/common), read here without
// mapping the file: a 16-byte header (id uint64, flags uint16, count uint16,
// overflow uint32), then count elements of 16 bytes each. Branch elements
// are (pos, ksize uint32, child pgid uint64); leaf elements are (flags, pos,
// ksize, vsize uint32). pos is relative to the element. A leaf element with
// flag 0x01 is a sub-bucket whose value starts with (root pgid, sequence
// uint64); root 0 means an inline bucket whose page follows in the value.
const (
	pgBranch       = 0x01
	pgLeaf         = 0x02
	pgFreelist     = 0x10
	leafBucketFlag = 0x01
	elemSize       = 16
	bucketHdrSize  = 16
	maxTreeDepth   = 64
)

// walkBolt reads every page reachable from the meta page m (and the
// freelist page when the file has one) through f, and checks that each one
// lies inside the file, has the type its parent expects, is referenced once
// and that its elements lie inside the page. bbolt, on open, scans the same
// pages through its memory map in a goroutine of its own, where a damaged
// page is a crash no recover can catch: this walk turns such a file into an
// error before bbolt sees it. Like that scan it also checks key order:
// sorted within a page, and a child's keys between its separator and the
// next one.
func walkBolt(f *os.File, size int64, m *metaInfo, root uint64, visit func(uint64, uint16)) error {
	w := &boltWalker{f: f, ps: int64(m.pageSize), hwm: m.pgid, seen: make([]byte, (m.pgid+7)/8), visit: visit}
	if int64(w.hwm)*w.ps > size {
		return fmt.Errorf("the meta page counts %d pages, the file holds %d", w.hwm, size/w.ps)
	}
	if m.freelist != ^uint64(0) {
		if err := w.freelist(m.freelist); err != nil {
			return err
		}
	}
	return w.tree(root, 0, "root bucket", nil, nil)
}

type boltWalker struct {
	f    *os.File
	ps   int64
	hwm  uint64
	seen []byte // bit per page id: already reached
	// visit, when set (tests), sees each page read with its type flags.
	visit func(id uint64, flags uint16)
}

// page reads page id with its overflow pages, after checking that it lies
// inside the file and carries its own id.
func (w *boltWalker) page(id uint64, what string) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("%s: page %d is outside the file's pages 2..%d", what, id, w.hwm-1)
	}
	var hdr [pageHeaderSize]byte
	if _, err := w.f.ReadAt(hdr[:], int64(id)*w.ps); err != nil {
		return nil, fmt.Errorf("%s: page %d: %w", what, id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(hdr[0:]); got != id {
		return nil, fmt.Errorf("%s: page %d carries id %d", what, id, got)
	}
	ov := uint64(le.Uint32(hdr[12:]))
	if id+ov >= w.hwm {
		return nil, fmt.Errorf("%s: page %d has %d overflow pages, past the last page %d", what, id, ov, w.hwm-1)
	}
	for p := id; p <= id+ov; p++ {
		if w.seen[p/8]&(1<<(p%8)) != 0 {
			return nil, fmt.Errorf("%s: page %d is referenced twice", what, p)
		}
		w.seen[p/8] |= 1 << (p % 8)
	}
	buf := make([]byte, int64(ov+1)*w.ps)
	if _, err := w.f.ReadAt(buf, int64(id)*w.ps); err != nil {
		return nil, fmt.Errorf("%s: page %d: %w", what, id, err)
	}
	if w.visit != nil {
		w.visit(id, le.Uint16(hdr[8:]))
	}
	return buf, nil
}

func (w *boltWalker) freelist(id uint64) error {
	buf, err := w.page(id, "freelist")
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	if fl := le.Uint16(buf[8:]); fl != pgFreelist {
		return fmt.Errorf("freelist: page %d has type flags %#x, not a freelist", id, fl)
	}
	n, off := uint64(le.Uint16(buf[10:])), uint64(pageHeaderSize)
	if n == 0xFFFF {
		n, off = le.Uint64(buf[pageHeaderSize:]), pageHeaderSize+8
	}
	if n > (uint64(len(buf))-off)/8 {
		return fmt.Errorf("freelist: page %d claims %d ids, more than it can hold", id, n)
	}
	for i := range n {
		if p := le.Uint64(buf[off+8*i:]); p < 2 || p >= w.hwm {
			return fmt.Errorf("freelist: page %d lists free page %d, outside the file's pages", id, p)
		}
	}
	return nil
}

// tree walks the b+tree whose root is page id.
func (w *boltWalker) tree(id uint64, depth int, what string, lo, hi []byte) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%s: the tree is deeper than %d levels (a cycle?)", what, maxTreeDepth)
	}
	buf, err := w.page(id, what)
	if err != nil {
		return err
	}
	return w.node(buf, id, depth, what, lo, hi)
}

// node checks one page image (a file page or an inline bucket's page) and
// descends into its children and sub-buckets.
// Its keys must lie in [lo, hi) (nil: unbounded).
func (w *boltWalker) node(buf []byte, id uint64, depth int, what string, lo, hi []byte) error {
	le := binary.LittleEndian
	flags, count := le.Uint16(buf[8:]), int(le.Uint16(buf[10:]))
	if pageHeaderSize+count*elemSize > len(buf) {
		return fmt.Errorf("%s: page %d claims %d elements, more than it can hold", what, id, count)
	}
	var prev []byte
	order := func(i int, k []byte) error {
		if (prev != nil && bytes.Compare(k, prev) <= 0) || (lo != nil && bytes.Compare(k, lo) < 0) || (hi != nil && bytes.Compare(k, hi) >= 0) {
			return fmt.Errorf("%s: page %d element %d: its key is out of order", what, id, i)
		}
		prev = k
		return nil
	}
	branchKey := func(i int) []byte {
		e := pageHeaderSize + i*elemSize
		pos, ksize := uint64(le.Uint32(buf[e:])), uint64(le.Uint32(buf[e+4:]))
		if end := uint64(e) + pos + ksize; end > uint64(len(buf)) {
			return nil
		}
		return buf[uint64(e)+pos : uint64(e)+pos+ksize]
	}
	for i := range count {
		e := pageHeaderSize + i*elemSize
		switch flags {
		case pgBranch:
			k := branchKey(i)
			if k == nil {
				return fmt.Errorf("%s: page %d element %d points outside the page", what, id, i)
			}
			if err := order(i, k); err != nil {
				return err
			}
			next := hi
			if i+1 < count {
				if next = branchKey(i + 1); next == nil {
					return fmt.Errorf("%s: page %d element %d points outside the page", what, id, i+1)
				}
			}
			if err := w.tree(le.Uint64(buf[e+8:]), depth+1, what, k, next); err != nil {
				return err
			}
		case pgLeaf:
			ef, pos, ksize, vsize := le.Uint32(buf[e:]), uint64(le.Uint32(buf[e+4:])), uint64(le.Uint32(buf[e+8:])), uint64(le.Uint32(buf[e+12:]))
			start := uint64(e) + pos
			if start+ksize+vsize > uint64(len(buf)) {
				return fmt.Errorf("%s: page %d element %d points outside the page", what, id, i)
			}
			if err := order(i, buf[start:start+ksize]); err != nil {
				return err
			}
			if ef&leafBucketFlag == 0 {
				continue
			}
			v := buf[start+ksize : start+ksize+vsize]
			name := fmt.Sprintf("bucket %q", buf[start:start+ksize])
			if len(v) < bucketHdrSize {
				return fmt.Errorf("%s: page %d: %s has a %d-byte header", what, id, name, len(v))
			}
			if root := le.Uint64(v); root != 0 {
				if err := w.tree(root, depth+1, name, nil, nil); err != nil {
					return err
				}
				continue
			}
			inline := v[bucketHdrSize:]
			if len(inline) < pageHeaderSize {
				return fmt.Errorf("%s: page %d: inline %s is too short", what, id, name)
			}
			if err := w.node(inline, id, depth+1, name, nil, nil); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: page %d has type flags %#x, neither branch nor leaf", what, id, flags)
		}
	}
	if flags != pgBranch && flags != pgLeaf {
		return fmt.Errorf("%s: page %d has type flags %#x, neither branch nor leaf", what, id, flags)
	}
	if flags == pgBranch && count == 0 {
		return fmt.Errorf("%s: branch page %d is empty", what, id)
	}
	return nil
}
