package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/pgtest"
)

// Engine benchmarks: the same outbox work on bbolt and on PostgreSQL
// (pgtest's throwaway cluster made durable by pgtest.Durable: fsync and
// synchronous_commit on, as bbolt fsyncs each group commit), through the
// contract suite's cOutbox. docs/benchmarks.md reads them.

// benchEngine opens one engine's outbox on a fresh store; the PostgreSQL
// pool has one connection per goroutine (store.maxConns), at least pgx's
// default of 4.
func benchEngine(b *testing.B, name string, goroutines int) cOutbox {
	b.Helper()
	if name == "bbolt" {
		db, _ := openTest(b, nil)
		return db.Outbox()
	}
	pgtest.Durable(b)
	pg, err := OpenPG(context.Background(), PGOptions{DSN: pgtest.DSN(b), Migrate: true, MaxConns: int32(max(goroutines, 4))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pg.Close() })
	return pg.Outbox()
}

// benchDoc returns a distinct ~10 KB e-CO-like signed document for id.
func benchDoc(base []byte, at int, id string) []byte {
	buf := bytes.Clone(base)
	copy(buf[at:], id)
	return buf
}

// BenchmarkEngineEnqueue measures durable enqueues as the local API makes
// them (EnqueueAudited: the message with ~10 KB of signed XML and its
// audit entry in one transaction) with N parallel producers, on both
// engines; the noaudit runs enqueue without the audit entry (Enqueue), to
// show what the one audit chain costs.
func BenchmarkEngineEnqueue(b *testing.B) {
	base := xmlContent(0, 10000)
	at := bytes.Index(base, []byte("IN-AI-")) + len("IN-AI-")
	type run struct {
		producers int
		audit     bool
	}
	for _, eng := range []string{"bbolt", "postgres"} {
		for _, r := range []run{{1, true}, {16, true}, {64, true}, {16, false}, {64, false}} {
			producers, name := r.producers, fmt.Sprintf("%s/producers=%d", eng, r.producers)
			if !r.audit {
				name = fmt.Sprintf("%s/noaudit/producers=%d", eng, r.producers)
			}
			b.Run(name, func(b *testing.B) {
				ob := benchEngine(b, eng, producers)
				ctx := context.Background()
				var n atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for range producers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := n.Add(1)
							if i > int64(b.N) {
								return
							}
							id := fmt.Sprintf("m%09d", i)
							m := OutMessage{ID: id, Partner: "VN", CertNumber: "CO-" + id, Version: 1, Kind: "issue", Content: benchDoc(base, at, id)}
							var audit []Entry
							if r.audit {
								audit = []Entry{{Actor: "local-api", Action: "submit", Subject: id}}
							}
							if err := ob.EnqueueAudited(ctx, audit, m); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueues/s")
			})
		}
	}
}

// BenchmarkEngineClaimDeliver measures the delivery workers' store work:
// b.N messages are enqueued first (not timed), then N workers claim them
// in batches of 16 with a lease and record each as delivered with its
// receipt (~1 KB) and audit entry (MarkAttemptAudited), as a worker does
// after the partner's answer, until the outbox is empty.
func BenchmarkEngineClaimDeliver(b *testing.B) {
	base := xmlContent(0, 10000)
	at := bytes.Index(base, []byte("IN-AI-")) + len("IN-AI-")
	receipt := bytes.Repeat([]byte("r"), 1024)
	for _, eng := range []string{"bbolt", "postgres"} {
		for _, workers := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/workers=%d", eng, workers), func(b *testing.B) {
				ob := benchEngine(b, eng, workers)
				ctx := context.Background()
				var msgs []OutMessage
				flush := func() {
					if err := ob.Enqueue(ctx, msgs...); err != nil {
						b.Fatal(err)
					}
					msgs = msgs[:0]
				}
				for i := range b.N {
					id := fmt.Sprintf("m%09d", i)
					msgs = append(msgs, OutMessage{ID: id, Partner: "VN", CertNumber: "CO-" + id, Version: 1, Kind: "issue", Content: benchDoc(base, at, id)})
					if len(msgs) == 500 {
						flush()
					}
				}
				flush()
				// Claims look an hour ahead: every message is due.
				now := time.Now().Add(time.Hour)
				var done atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							recs, err := ob.Claim(ctx, now, 16, time.Minute)
							if err != nil {
								b.Error(err)
								return
							}
							if len(recs) == 0 {
								return
							}
							for _, r := range recs {
								if err := ob.MarkAttemptAudited(ctx, r.ID, Attempt{Outcome: StateDelivered, Receipt: receipt},
									[]Entry{{Actor: "delivery", Action: "delivered", Subject: r.ID}}); err != nil {
									b.Error(err)
									return
								}
								done.Add(1)
							}
						}
					}()
				}
				wg.Wait()
				if got := done.Load(); got != int64(b.N) {
					b.Fatalf("%d delivered, want %d", got, b.N)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			})
		}
	}
}
