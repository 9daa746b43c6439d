package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxIDLen bounds identifiers used in keys.
const maxIDLen = 256

// checkID refuses identifiers that would break the key layout.
func checkID(field, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	case len(v) > maxIDLen:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, field, maxIDLen)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalid, field)
	}
	return nil
}

// key joins parts with 0x00 separators.
func key(parts ...[]byte) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

// prefix is key(parts...) followed by the separator, for prefix scans.
func prefix(parts ...[]byte) []byte { return append(key(parts...), 0) }

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func be32(v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return b[:]
}

// timeKey orders times; times before 1970 sort as 0.
func timeKey(t time.Time) []byte {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return be64(uint64(ns))
}

// hashHex is the hex SHA-256 of b, used as the content hash and blob key.
func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// putBlob stores b under its hash h (hashHex(b)) once.
func putBlob(tx *bolt.Tx, h string, b []byte) (string, error) {
	bk := tx.Bucket([]byte(bktBlobs))
	if bk.Get([]byte(h)) == nil {
		if err := bk.Put([]byte(h), b); err != nil {
			return "", fmt.Errorf("store blob %s: %w", h, err)
		}
	}
	return h, nil
}

// getBlob returns a copy of the blob with hash h.
func getBlob(tx *bolt.Tx, h string) ([]byte, error) {
	v := tx.Bucket([]byte(bktBlobs)).Get([]byte(h))
	if v == nil {
		return nil, fmt.Errorf("blob %s is missing: %w", h, ErrNotFound)
	}
	return bytes.Clone(v), nil
}

// scanPrefix calls fn for each key with prefix p, in key order, until fn
// returns false.
func scanPrefix(b *bolt.Bucket, p []byte, fn func(k, v []byte) bool) {
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if !fn(k, v) {
			return
		}
	}
}

// lastPart returns the bytes after the last 0x00 of k.
func lastPart(k []byte) []byte {
	if i := bytes.LastIndexByte(k, 0); i >= 0 {
		return k[i+1:]
	}
	return k
}
