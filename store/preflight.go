package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk meta page layout (go.etcd.io/bbolt internal/common): a
// 16-byte page header, then magic, version, page size, flags (uint32 each),
// root bucket (pgid, sequence), freelist pgid, high-water pgid, txid and an
// FNV-64a checksum of the preceding meta bytes.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
)

type metaInfo struct {
	pageSize uint32
	freelist uint64
	pgid     uint64
	txid     uint64
	root     uint64
}

// readMeta decodes and validates the meta page at off.
func readMeta(f *os.File, off int64) (*metaInfo, error) {
	var b [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return nil, err
	}
	m := b[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic {
		return nil, errors.New("bad magic")
	}
	if le.Uint32(m[4:]) != boltVersion {
		return nil, fmt.Errorf("unsupported bbolt version %d", le.Uint32(m[4:]))
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return nil, errors.New("checksum mismatch")
	}
	return &metaInfo{pageSize: le.Uint32(m[8:]), freelist: le.Uint64(m[32:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:]), root: le.Uint64(m[16:])}, nil
}

// preflight checks, before bbolt maps the file, that the meta page bbolt
// will use describes a file no longer than the real one. bbolt itself
// would read past the end of a truncated file and crash the process.
// Files whose meta pages are both unreadable are left to bbolt, which
// reports them as invalid. It then walks every page reachable from that
// meta page (walkBolt), since bbolt's own scan at open crashes the process
// on a damaged page.
func preflight(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	m0, err0 := readMeta(f, 0)
	ps := int64(4096)
	if err0 == nil {
		ps = int64(m0.pageSize)
	}
	m1, err1 := readMeta(f, ps)
	if err1 != nil && !errors.Is(err1, io.EOF) {
		m1 = nil
	}
	best := m0
	if best == nil || (m1 != nil && m1.txid > best.txid) {
		best = m1
	}
	if best == nil {
		return nil
	}
	if best.pageSize < 512 || best.pageSize > 1<<20 {
		return fmt.Errorf("implausible page size %d", best.pageSize)
	}
	if hwm := int64(best.pgid) * int64(best.pageSize); hwm > st.Size() {
		return fmt.Errorf("the file is %d bytes but its meta page says it holds %d pages of %d bytes (%d bytes): it was truncated", st.Size(), best.pgid, best.pageSize, hwm)
	}
	if best.freelist != ^uint64(0) && best.freelist >= best.pgid {
		return fmt.Errorf("freelist page %d is beyond the last page %d", best.freelist, best.pgid)
	}
	// Walk the pages only while no other process writes the file (a
	// running node reuses pages under the walk); a held lock is reported
	// by bolt.Open as ErrLocked.
	if !tryShareLock(f) {
		return nil
	}
	return walkBolt(f, st.Size(), best, best.root, nil)
}
