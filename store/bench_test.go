package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkEnqueue measures durable (fsynced) enqueues through the
// group-commit writer with many parallel producers, each enqueueing one
// message of 4 KiB per call, and reports enqueues per second.
func BenchmarkEnqueue(b *testing.B) {
	for _, producers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			content := make([]byte, 4096)
			var n atomic.Int64
			ctx := context.Background()
			b.SetParallelism((producers + 1) / 2) // GOMAXPROCS is 2 on the target machine
			if producers == 1 {
				b.SetParallelism(1)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				buf := append([]byte(nil), content...)
				for pb.Next() {
					i := n.Add(1)
					id := fmt.Sprintf("m%09d", i)
					copy(buf, id) // distinct content per message
					if err := db.Outbox().Enqueue(ctx, OutMessage{ID: id, Partner: "SG", CertNumber: "CO-" + id, Version: 1, Kind: "issue", Content: buf}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueues/s")
			if st := db.Stats(); st.Commits > 0 {
				b.ReportMetric(float64(st.Ops)/float64(st.Commits), "ops/commit")
			}
		})
	}
}
