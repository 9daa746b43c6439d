package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestBlobDictPinned: the compression dictionary is part of the file
// format (blobs written with it must decode forever): it never changes.
func TestBlobDictPinned(t *testing.T) {
	const want = "178b0e275af940266c203e04c2be406aebbce57c2f88a55e8c05d258d5f56475"
	if got := hashHex(blobDict1); got != want {
		t.Fatalf("store/blobdict1.xml changed (sha256 %s, want %s): restore it; a new dictionary needs a new blob marker", got, want)
	}
}

// TestDocBlobRoundTrip: the dictionary form is exact, smaller than S2 on
// e-CO XML, and falls back to S2 or raw where it does not pay; a damaged
// dictionary blob reads as its stored bytes (never as other content).
func TestDocBlobRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		marker []byte
	}{
		{"e-CO XML", xmlContent(3, 7000), blobMagicDict},
		{"the dictionary itself", blobDict1, blobMagicDict},
		{"small", []byte("<a/>"), nil},
		{"incompressible", noise(3000), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := encodeDocBlob(tc.in)
			if tc.marker != nil && !bytes.HasPrefix(st, tc.marker) {
				t.Fatalf("stored form starts %x, want the dictionary marker", st[:min(4, len(st))])
			}
			if tc.marker != nil && len(st) >= len(encodeBlob(tc.in)) {
				t.Errorf("dictionary form %d bytes, S2 %d: no gain", len(st), len(encodeBlob(tc.in)))
			}
			if got := decodeBlob(hashHex(tc.in), st); !bytes.Equal(got, tc.in) {
				t.Fatal("round trip changed the bytes")
			}
		})
	}
	c := xmlContent(4, 5000)
	st := encodeDocBlob(c)
	bad := bytes.Clone(st)
	bad[len(bad)/2] ^= 0xff
	if got := decodeBlob(hashHex(c), bad); !bytes.Equal(got, bad) {
		t.Fatal("a damaged dictionary blob decoded to something other than its stored bytes")
	}
}

// noise returns n bytes that do not compress.
func noise(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// TestImportStoresDocumentOnceCompressed: an imported document is one
// compressed blob (the same bytes sent later share it), not a raw copy.
func TestImportStoresDocumentOnceCompressed(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	doc := xmlContent(11, 7000)
	c := imported("AI-Z1", 1, string(doc))
	if _, err := db.Issued().Import(ctx, c); err != nil {
		t.Fatal(err)
	}
	h := hashHex(doc)
	if n := storedSize(t, db, h); n <= 0 || n > len(doc)/3 {
		t.Fatalf("stored blob is %d bytes for a %d-byte document", n, len(doc))
	}
	if err := db.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bktIssDoc)); b != nil && b.Stats().KeyN > 0 {
			return errors.New("a raw copy was written to " + bktIssDoc)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, info, err := db.Issued().Document(ctx, "AI-Z1", 1)
	if err != nil || !bytes.Equal(got, doc) || info.DocSHA256 != h {
		t.Fatalf("document: %d bytes %+v %v", len(got), info, err)
	}
}

// TestImportedLegacyLayoutReads: a file written by the earlier code (raw
// bytes in iss_doc beside their record) opens, reads and checks, and new
// imports beside it go to the blobs; a legacy document whose bytes are
// damaged fails Check.
func TestImportedLegacyLayoutReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	doc := xmlContent(21, 6000)
	// The old layout, written with bbolt directly as the old Import did.
	odb, _ := openTest(t, newFakeClock())
	if _, err := odb.Issued().Register(context.Background(), IssuedCert{Country: "IN", Number: "AI-OLD", Version: 1, Data: json.RawMessage(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	src := odb.bolt.Path()
	if err := odb.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := IssuedDoc{Number: "AI-OLD", Version: 1, ContentSHA256: hashHex(doc), DocSHA256: hashHex(doc), Size: len(doc), Origin: "old", Imported: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ij, _ := json.Marshal(&info)
	err = bdb.Update(func(tx *bolt.Tx) error {
		d, err := tx.CreateBucketIfNotExists([]byte(bktIssDoc))
		if err != nil {
			return err
		}
		ib, err := tx.CreateBucketIfNotExists([]byte(bktIssDocInfo))
		if err != nil {
			return err
		}
		if err := d.Put(docKey("AI-OLD", 1), doc); err != nil {
			return err
		}
		return ib.Put(docKey("AI-OLD", 1), ij)
	})
	if err != nil {
		t.Fatal(err)
	}
	bdb.Close()

	db, err := Open(path, Options{Clock: newFakeClock().Now})
	if err != nil {
		t.Fatalf("open a file of the old layout: %v", err)
	}
	ctx := context.Background()
	got, gi, err := db.Issued().Document(ctx, "AI-OLD", 1)
	if err != nil || !bytes.Equal(got, doc) || gi.Origin != "old" {
		t.Fatalf("old document: %d bytes %+v %v", len(got), gi, err)
	}
	if dup, err := db.Issued().Import(ctx, ImportedCert{Country: "IN", Number: "AI-OLD", Version: 1, Doc: doc, Data: json.RawMessage(`{"n":1}`)}); err != nil || !dup {
		t.Fatalf("re-import of the old document: dup=%v %v", dup, err)
	}
	newDoc := xmlContent(22, 6000)
	if _, err := db.Issued().Import(ctx, ImportedCert{Country: "IN", Number: "AI-NEW", Version: 1, Doc: newDoc, Data: json.RawMessage(`{"n":2}`)}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := db.Issued().Document(ctx, "AI-NEW", 1); err != nil || !bytes.Equal(got, newDoc) {
		t.Fatalf("new document beside the old: %v", err)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatalf("check of a mixed file: %v", err)
	}
	// Damage the legacy copy: Check names it.
	if err := db.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bktIssDoc)).Put(docKey("AI-OLD", 1), append(bytes.Clone(doc), ' '))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err == nil || !bytes.Contains([]byte(err.Error()), []byte("AI-OLD")) {
		t.Fatalf("check of a damaged legacy document: %v", err)
	}
	if err := db.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bktIssDoc)).Put(docKey("AI-OLD", 1), doc)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
}
