package store

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
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

// Blobs are stored compressed when that saves space: fewer pages to write
// per commit (signed XML shrinks about 2.4 times with S2). A compressed
// value is blobMagic followed by an S2 block; any other value is the exact
// bytes. Reading a value that starts with blobMagic decompresses it and
// takes the result only when its SHA-256 is the blob's key (the content
// hash), so the bytes that come back are always exactly the bytes stored,
// even for raw content that happens to start with the magic.
var blobMagic = []byte{0x00, 'E', 'Z', 0x01}

// blobMagicDict marks a blob stored as a zstd frame compressed with the
// fixed dictionary blobdict1.xml (a canonical e-CO: every certificate
// shares its tags, so a 7 KB document stores in about 1.3 KB, against
// 3 KB with S2, and two fit a 4 KiB page where one S2 blob does).
// It costs about 5 times S2's CPU, so only bulk paths use it
// (Issued.Import, encodeDocBlob); the dictionary can never change (its
// SHA-256 is pinned by TestBlobDictPinned): a new one would take a new
// marker.
var blobMagicDict = []byte{0x00, 'E', 'Z', 0x02}

//go:embed blobdict1.xml
var blobDict1 []byte

// docCodec is the dictionary codec; its encoder and decoder are safe for
// concurrent use and are built once, on first use (they never change).
var docCodec = sync.OnceValues(func() (*zstd.Encoder, *zstd.Decoder) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderDictRaw(1, blobDict1),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(false))
	if err != nil {
		panic("store: zstd dictionary encoder: " + err.Error())
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDictRaw(1, blobDict1), zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		panic("store: zstd dictionary decoder: " + err.Error())
	}
	return enc, dec
})

// encodeDocBlob is encodeBlob with the dictionary codec: the stored form
// for documents written in bulk. It falls back to encodeBlob when the
// dictionary does not save an eighth.
func encodeDocBlob(b []byte) []byte {
	if len(b) < blobMinSize {
		return b
	}
	enc, _ := docCodec()
	buf := make([]byte, len(blobMagicDict), len(blobMagicDict)+len(b)/2)
	copy(buf, blobMagicDict)
	buf = enc.EncodeAll(b, buf)
	if len(buf) > len(b)-len(b)/8 {
		return encodeBlob(b)
	}
	return buf[:len(buf):len(buf)]
}

// blobMinSize is the size below which content is stored raw.
const blobMinSize = 256

// encodeBlob returns the stored form of b: compressed when that saves at
// least an eighth, else b itself. Call it outside the writer's
// transaction (it costs CPU, the writer is serial).
func encodeBlob(b []byte) []byte {
	if len(b) < blobMinSize {
		return b
	}
	buf := make([]byte, len(blobMagic)+s2.MaxEncodedLen(len(b)))
	copy(buf, blobMagic)
	z := s2.Encode(buf[len(blobMagic):], b)
	n := len(blobMagic) + len(z)
	if n > len(b)-len(b)/8 {
		return b
	}
	return buf[:n:n]
}

// decodeBlob returns the exact bytes of the stored value v of blob h
// (hex SHA-256). v is not retained unless it is returned.
func decodeBlob(h string, v []byte) []byte {
	if bytes.HasPrefix(v, blobMagicDict) {
		_, dec := docCodec()
		if d, err := dec.DecodeAll(v[len(blobMagicDict):], nil); err == nil && hashHex(d) == h {
			return d
		}
	}
	if bytes.HasPrefix(v, blobMagic) {
		if n, err := s2.DecodedLen(v[len(blobMagic):]); err == nil && n <= 64<<20 {
			if d, err := s2.Decode(make([]byte, n), v[len(blobMagic):]); err == nil && hashHex(d) == h {
				return d
			}
		}
	}
	return v
}

// putBlob stores the stored form v (encodeBlob of the content, or the
// content itself) under the content's hash h once.
func putBlob(tx *bolt.Tx, h string, v []byte) (string, error) {
	bk := tx.Bucket([]byte(bktBlobs))
	if bk.Get([]byte(h)) == nil {
		if err := bk.Put([]byte(h), v); err != nil {
			return "", fmt.Errorf("store blob %s: %w", h, err)
		}
	}
	return h, nil
}

// getBlob returns the exact bytes of the blob with hash h (a copy).
func getBlob(tx *bolt.Tx, h string) ([]byte, error) {
	v, err := getStoredBlob(tx, h)
	if err != nil {
		return nil, err
	}
	return decodeBlob(h, v), nil
}

// getStoredBlob returns a copy of the stored form of blob h; decodeBlob
// turns it into the content (outside the writer's transaction, in Claim).
func getStoredBlob(tx *bolt.Tx, h string) ([]byte, error) {
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
