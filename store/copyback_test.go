package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// dumpBuckets returns every key and value of db's buckets but meta.
func dumpBuckets(t *testing.T, db *DB) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	mustNil(t, "dump", db.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if string(name) == bktMeta {
				return nil
			}
			m := map[string]string{}
			out[string(name)] = m
			return b.ForEach(func(k, v []byte) error { m[string(k)] = string(v); return nil })
		})
	}))
	return out
}

// TestCopyFromPG copies a bbolt store into PostgreSQL and back into a new
// bbolt file: every bucket, indexes included, holds the same keys and
// values; the copy interrupted half way (context cancelled) completes when
// run again; new work continues the sequences and the audit chain; a
// target file with other records is refused by the counts.
func TestCopyFromPG(t *testing.T) {
	src, _ := openTest(t, nil)
	fillStore(t, src)
	pg := openPGTest(t, nil)
	ctx := context.Background()
	if _, err := CopyToPG(ctx, src, pg, nil); err != nil {
		t.Fatal(err)
	}
	dst, err := Open(filepath.Join(t.TempDir(), "back.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	cctx, cancel := context.WithCancel(ctx)
	_, err = CopyFromPG(cctx, pg, dst, func(table string, _ int) {
		if table == "inbox" {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted copy: %v", err)
	}
	rep, err := CopyFromPG(ctx, pg, dst, nil)
	if err != nil {
		t.Fatalf("resumed copy: %v (%+v)", err, rep)
	}
	if rep.AuditEntries != 60 {
		t.Fatalf("audit entries %d", rep.AuditEntries)
	}
	for _, c := range rep.Counts {
		if c.Source != c.Destination {
			t.Errorf("%+v", c)
		}
	}
	want, got := dumpBuckets(t, src), dumpBuckets(t, dst)
	for name, w := range want {
		g := got[name]
		if len(w) != len(g) {
			t.Errorf("bucket %s: %d keys, want %d", name, len(g), len(w))
			continue
		}
		for k, v := range w {
			if !bytes.Equal([]byte(g[k]), []byte(v)) {
				t.Errorf("bucket %s key %q differs", name, k)
				break
			}
		}
	}
	for _, n := range []int{10, 11} { // both certificates of a renewal in progress
		if cl, err := dst.Customs().ClientByCert(ctx, fmt.Sprintf("%064x", n)); err != nil || cl.ID != "cn" || cl.NextCertSubject != "CN=next" {
			t.Fatalf("certificate %d of a renewal: %+v %v", n, cl, err)
		}
	}
	if _, err := dst.Customs().FinishClientRenewal(ctx, "cn", fmt.Sprintf("%064x", 11)); err != nil {
		t.Fatalf("finish the copied renewal: %v", err)
	}
	mustNil(t, "check the copy", dst.Check(ctx))
	if _, err := pg.Customs().FinishClientRenewal(ctx, "cn", fmt.Sprintf("%064x", 11)); err != nil { // the same on both sides
		t.Fatalf("finish the renewal on postgres: %v", err)
	}
	// Again: nothing new, still verified.
	if _, err := CopyFromPG(ctx, pg, dst, nil); err != nil {
		t.Fatalf("copy again: %v", err)
	}
	mustNil(t, "enqueue after copy", dst.Outbox().Enqueue(ctx, msg("new", "VN", "N", 1, "issue", "x")))
	r, err := dst.Outbox().Get(ctx, "new")
	if err != nil || r.Seq != 31 {
		t.Fatalf("new message after the copy: %+v %v", r, err)
	}
	if _, err := dst.Audit().Append(ctx, Entry{Actor: "t", Action: "a", Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	if n, err := dst.Audit().Verify(ctx); err != nil || n != 61 {
		t.Fatalf("chain after copy: %d %v", n, err)
	}
	if _, err := CopyFromPG(ctx, pg, dst, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("copy into a file with more records: %v", err)
	}
}
