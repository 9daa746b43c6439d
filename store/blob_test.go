package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	bolt "go.etcd.io/bbolt"
)

// xmlContent is e-CO-like signed XML of about n bytes, distinct per seed.
func xmlContent(seed, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CertificateOfOrigin xmlns=\"urn:ecogate:eco:1\"><ExchangedDocument><ID>IN-AI-%08d</ID></ExchangedDocument>\n", seed)
	for i := 0; b.Len() < n-200; i++ {
		fmt.Fprintf(&b, "  <IncludedConsignmentItem><SequenceNumeric>%d</SequenceNumeric><Description>Cotton shirts style %04d</Description><HSCode listID=\"HS2022\">6205%02d</HSCode><GrossWeight unitCode=\"KGM\">%d.%02d</GrossWeight></IncludedConsignmentItem>\n", i+1, seed%9973+i, i%100, 100+seed%997, i%100)
	}
	b.WriteString("<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignatureValue>" + strings.Repeat("QUJD", 20) + "</ds:SignatureValue></ds:Signature></CertificateOfOrigin>\n")
	return []byte(b.String())
}

func storedSize(t *testing.T, db *DB, h string) int {
	t.Helper()
	n := -1
	if err := db.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(bktBlobs)).Get([]byte(h)); v != nil {
			n = len(v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBlobsExact: whatever the content (compressible XML, random bytes,
// short, content that starts with the compression marker, even a marker
// followed by a valid compressed block of other bytes), Get, Claim and
// Inbox.Get return exactly the bytes stored; XML is stored compressed.
func TestBlobsExact(t *testing.T) {
	db, _ := openTest(t, nil)
	ctx := context.Background()
	random := make([]byte, 10000)
	rand.Read(random)
	other := xmlContent(99, 8000)
	forged := append(append([]byte{}, blobMagic...), s2.Encode(nil, other)...)
	contents := map[string][]byte{
		"xml":          xmlContent(1, 10000),
		"xml-big":      xmlContent(2, 300000),
		"random":       random,
		"short":        []byte("<r/>"),
		"magic-only":   append(append([]byte{}, blobMagic...), []byte("not s2 at all, but long enough to be worth trying to compress "+strings.Repeat("x", 300))...),
		"magic-forged": forged,
		"magic-xml":    append(append([]byte{}, blobMagic...), xmlContent(3, 5000)...),
	}
	for name, c := range contents {
		if err := db.Outbox().Enqueue(ctx, msg("m-"+name, "VN", "C-"+name, 1, "issue", string(c))); err != nil {
			t.Fatal(err)
		}
		in := InRecord{ID: "i-" + name, From: "IN", CertNumber: "C-" + name, Version: 1, Kind: "issue", Content: c, Outcome: StateDelivered}
		if _, err := db.Inbox().Accept(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := db.Outbox().Claim(ctx, time.Now().Add(time.Second), 100, time.Minute)
	if err != nil || len(claimed) != len(contents) {
		t.Fatalf("claim: %v %d", err, len(claimed))
	}
	for _, r := range claimed {
		name := strings.TrimPrefix(r.ID, "m-")
		if !bytes.Equal(r.Content, contents[name]) {
			t.Errorf("%s: Claim returned other bytes", name)
		}
	}
	for name, c := range contents {
		r, err := db.Outbox().Get(ctx, "m-"+name)
		if err != nil || !bytes.Equal(r.Content, c) {
			t.Errorf("%s: Outbox.Get: %v, equal %v", name, err, err == nil && bytes.Equal(r.Content, c))
		}
		ir, err := db.Inbox().Get(ctx, "i-"+name)
		if err != nil || !bytes.Equal(ir.Content, c) {
			t.Errorf("%s: Inbox.Get: %v", name, err)
		}
		size := storedSize(t, db, hashHex(c))
		switch name {
		case "xml", "xml-big":
			if size > len(c)/2 {
				t.Errorf("%s: %d bytes stored for %d: not compressed", name, size, len(c))
			}
		case "random", "short":
			if size != len(c) {
				t.Errorf("%s: %d bytes stored for %d: should be raw", name, size, len(c))
			}
		}
	}
}

// TestBlobsRawReadable: blobs written raw (by a store before compression,
// or content not worth compressing) read back unchanged.
func TestBlobsRawReadable(t *testing.T) {
	db, _ := openTest(t, nil)
	c := xmlContent(7, 9000)
	h := hashHex(c)
	if err := db.update(context.Background(), func(tx *bolt.Tx) error { _, err := putBlob(tx, h, c); return err }); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := db.view(func(tx *bolt.Tx) error {
		var err error
		got, err = getBlob(tx, h)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, c) {
		t.Fatal("raw blob changed on read")
	}
	if dec := decodeBlob(h, encodeBlob(c)); !bytes.Equal(dec, c) {
		t.Fatal("encode/decode round trip")
	}
}

// FuzzBlobRoundTrip: encodeBlob or encodeDocBlob then decodeBlob gives the input back, and
// decodeBlob of any stored value for any key gives either the value or
// bytes whose hash is the key.
func FuzzBlobRoundTrip(f *testing.F) {
	f.Add(xmlContent(1, 2000))
	f.Add(append(append([]byte{}, blobMagic...), s2.Encode(nil, xmlContent(2, 1000))...))
	f.Add(encodeDocBlob(xmlContent(3, 3000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		h := hashHex(b)
		if got := decodeBlob(h, encodeBlob(b)); !bytes.Equal(got, b) {
			t.Fatalf("round trip changed %d bytes", len(b))
		}
		if got := decodeBlob(h, encodeDocBlob(b)); !bytes.Equal(got, b) {
			t.Fatalf("dictionary round trip changed %d bytes", len(b))
		}
		other := hashHex(append([]byte("k"), b...))
		if got := decodeBlob(other, b); !bytes.Equal(got, b) && hashHex(got) != other {
			t.Fatalf("decodeBlob returned bytes that are neither the value nor the key's content")
		}
	})
}
