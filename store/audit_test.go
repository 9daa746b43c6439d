package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestAuditChain appends concurrently, verifies, then tampers with the file
// in several ways and checks that Verify names the first broken entry.
func TestAuditChain(t *testing.T) {
	tamper := []struct {
		name    string
		edit    func(b *bolt.Bucket) error
		wantSeq uint64
	}{
		{"edit a detail", func(b *bolt.Bucket) error {
			var e Entry
			_ = json.Unmarshal(b.Get(be64(7)), &e)
			e.Details["outcome"] = "delivered"
			v, _ := json.Marshal(e)
			return b.Put(be64(7), v)
		}, 7},
		{"rehash an edited entry", func(b *bolt.Bucket) error {
			var e Entry
			_ = json.Unmarshal(b.Get(be64(5)), &e)
			e.Actor = "mallory"
			e.Hash, _ = entryHash(e)
			v, _ := json.Marshal(e)
			return b.Put(be64(5), v)
		}, 6},
		{"delete an entry", func(b *bolt.Bucket) error { return b.Delete(be64(3)) }, 3},
		{"garbage", func(b *bolt.Bucket) error { return b.Put(be64(9), []byte("{")) }, 9},
	}
	for _, tt := range tamper {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ecogate.db")
			clk := newFakeClock()
			db, err := Open(path, Options{Clock: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := db.Audit().Append(ctx, Entry{Actor: "node", Action: "send", Subject: fmt.Sprintf("msg-%d", i), Details: map[string]string{"partner": "SG", "outcome": "failed"}})
					if err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if n, err := db.Audit().Verify(ctx); n != 20 || err != nil {
				t.Fatalf("Verify: %d %v", n, err)
			}
			es, _ := db.Audit().Entries(ctx, 1, 0)
			if len(es) != 20 || es[1].PrevHash != es[0].Hash || es[0].PrevHash != "" || !es[0].Time.Equal(clk.Now()) {
				t.Fatalf("entries not chained: %+v", es[:2])
			}
			db.Close()

			bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := bdb.Update(func(tx *bolt.Tx) error { return tt.edit(tx.Bucket([]byte(bktAudit))) }); err != nil {
				t.Fatal(err)
			}
			bdb.Close()

			db, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = db.Audit().Verify(ctx)
			var ce *ChainError
			if !errors.As(err, &ce) || ce.Seq != tt.wantSeq {
				t.Fatalf("Verify after tampering: %v, want break at %d", err, tt.wantSeq)
			}
		})
	}
}

// TestAuditRefusesSecretsAndEmptyFields covers Append's input checks.
func TestAuditRefusesSecretsAndEmptyFields(t *testing.T) {
	db, _ := openTest(t, nil)
	ctx := context.Background()
	bad := []Entry{
		{Action: "send", Subject: "m"},
		{Actor: "a", Subject: "m"},
		{Actor: "a", Action: "send"},
		{Actor: "a", Action: "login", Subject: "u", Details: map[string]string{"Password": "x"}},
		{Actor: "a", Action: "key", Subject: "k", Details: map[string]string{"privateKey": "x"}},
		{Actor: "a", Action: "api", Subject: "k", Details: map[string]string{"bearer_token": "x"}},
	}
	for i, e := range bad {
		if _, err := db.Audit().Append(ctx, e); !errors.Is(err, ErrInvalid) {
			t.Errorf("entry %d: %v, want ErrInvalid", i, err)
		}
	}
	if n, err := db.Audit().Verify(ctx); n != 0 || err != nil {
		t.Errorf("refused entries were stored: %d %v", n, err)
	}
}
