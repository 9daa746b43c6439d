package gateway

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// TestSubmitIsOneAct: submitting writes the outbox messages, the
// certificate's register entries and the audit entries together. When the
// registration fails (the hook, or the store refusing an entry inside the
// enqueue), nothing of the submission is stored, and the client's retry of
// the same document is accepted (never 409 already-sent with the
// certificate missing from the register). A submission refused as already
// sent leaves the register and the audit log as they were. Both with the
// audit log in the outbox's store (one transaction for everything) and in
// another store (messages and register in one transaction).
func TestSubmitIsOneAct(t *testing.T) {
	for _, sameStore := range []bool{true, false} {
		name := "audit in the outbox's store"
		if !sameStore {
			name = "audit in another store"
		}
		t.Run(name, func(t *testing.T) {
			var fail atomic.Value // func(c) ([]store.IssuedCert, error) or nil
			var auditDB *store.DB
			p := newPair(t, fastRetry, func(o *Options) {
				o.RegisterEntries = func(kind string, c *schema.Certificate) ([]store.IssuedCert, error) {
					if f, _ := fail.Load().(func(*schema.Certificate) ([]store.IssuedCert, error)); f != nil {
						return f(c)
					}
					return customs.IssuedRecords(c)
				}
				if !sameStore {
					db, err := store.Open(filepath.Join(t.TempDir(), "audit.db"), store.Options{})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { db.Close() })
					auditDB, o.Audit = db, db.Audit()
				}
			}, nil)
			if sameStore {
				auditDB = p.in.DB
			}
			ctx := context.Background()
			sends := func() int {
				t.Helper()
				es, err := auditDB.Audit().Entries(ctx, 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range es {
					if e.Action == "send" {
						n++
					}
				}
				return n
			}
			queued := func(number string) int {
				t.Helper()
				recs, err := p.in.DB.Outbox().List(ctx, store.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, r := range recs {
					if r.CertNumber == number {
						n++
					}
				}
				return n
			}
			failures := []struct {
				name string
				f    func(*schema.Certificate) ([]store.IssuedCert, error)
			}{
				{"the register hook fails", func(*schema.Certificate) ([]store.IssuedCert, error) {
					return nil, errors.New("register unavailable (simulated)")
				}},
				{"the store refuses a register entry", func(c *schema.Certificate) ([]store.IssuedCert, error) {
					rs, err := customs.IssuedRecords(c)
					return append(rs, store.IssuedCert{Number: "IN-REPLACED-1", Status: "lost"}), err
				}},
			}
			for i, tc := range failures {
				doc := sample(t, 100+i)
				number := sampleNumber(100 + i)
				fail.Store(tc.f)
				_, err := p.in.Node.Submit(ctx, doc, nil)
				var se *SubmitError
				if err == nil || errors.As(err, &se) {
					t.Fatalf("%s: Submit = %v, want a store error (503)", tc.name, err)
				}
				if n := queued(number); n != 0 {
					t.Errorf("%s: %d message(s) queued although the submission failed", tc.name, n)
				}
				if _, err := p.in.DB.Issued().Get(ctx, number); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: registered although the submission failed: %v", tc.name, err)
				}
				if n := sends(); n != i {
					t.Errorf("%s: %d send entries audited, want %d", tc.name, n, i)
				}
				// The client retries the same document: accepted, queued
				// once, registered.
				fail.Store((func(*schema.Certificate) ([]store.IssuedCert, error))(nil))
				res, err := p.in.Node.Submit(ctx, doc, nil)
				if err != nil {
					t.Fatalf("%s: retry refused: %v", tc.name, err)
				}
				rec, err := p.in.DB.Issued().Get(ctx, number)
				if err != nil || rec.Status != store.CertIssued || len(rec.Data) == 0 {
					t.Fatalf("%s: after the retry the register holds %+v, %v", tc.name, rec, err)
				}
				if n := queued(number); n != 1 || len(res.Messages) != 1 {
					t.Errorf("%s: %d message(s) queued after the retry, want 1", tc.name, n)
				}
				if n := sends(); n != i+1 {
					t.Errorf("%s: %d send entries after the retry, want %d", tc.name, n, i+1)
				}
			}
			if _, err := p.in.DB.Issued().Get(ctx, "IN-REPLACED-1"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("an entry of a failed submission is in the register: %v", err)
			}

			// Already sent: 409, the register and the audit log untouched.
			number := sampleNumber(100)
			before, err := p.in.DB.Issued().Get(ctx, number)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.in.Node.Submit(ctx, sample(t, 100), nil)
			var se *SubmitError
			if !errors.As(err, &se) || se.Status != http.StatusConflict || se.Code != CodeAlreadySent {
				t.Fatalf("second submission: %v, want 409 already sent", err)
			}
			after, err := p.in.DB.Issued().Get(ctx, number)
			if err != nil || !after.Updated.Equal(before.Updated) || after.Token != before.Token {
				t.Fatalf("register changed by a refused submission: %+v -> %+v (%v)", before, after, err)
			}
			if n := sends(); n != len(failures) {
				t.Errorf("%d send entries after a refused submission, want %d", n, len(failures))
			}
			if _, err := auditDB.Audit().Verify(ctx); err != nil {
				t.Fatalf("audit chain: %v", err)
			}
		})
	}
}
