package gateway

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// BenchmarkApproveSignIssueEnqueue measures approve-sign-issue-enqueue of
// one application end to end (ApproveAndIssue: DSC check, e-CO built and
// validated, signed with the officer's node-held ECDSA P-256 key, number,
// register, outbox and audit in one fsynced bbolt transaction), with
// parallel officers so that group commit can share fsyncs. The
// applications are filed, submitted and taken up before the timer starts.
func BenchmarkApproveSignIssueEnqueue(b *testing.B) {
	in, vn, _ := identities(b)
	db, err := store.Open(filepath.Join(b.TempDir(), "in.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	n, err := New(in.NodeOptions(db, NewStaticDirectory(vn.AsPartner("https://127.0.0.1:1/eco/v1", fastRetry, "AIFTA"))))
	if err != nil {
		b.Fatal(err)
	}
	w := newIsuWorld(b, db, n, in.PKI.Root.Cert, in.PKI.Intermediate, nil)
	ids := make([]string, b.N)
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				ids[i] = w.reviewed(issuance.KindOriginal, issuance.CertRef{}, "VN")
			}
		}()
	}
	wg.Wait()
	ctx := context.Background()
	next.Store(0)
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) - 1
			if _, _, err := w.svc.ApproveAndIssue(ctx, isuOfficer, ids[i], ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "issues/s")
	recs, err := db.Outbox().List(ctx, store.Filter{})
	if err != nil || len(recs) != b.N {
		b.Fatalf("queued %d of %d: %v", len(recs), b.N, err)
	}
}
