package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkEnqueue measures durable (fsynced) enqueues through the
// group-commit writer with many parallel producers, each enqueueing one
// message of 4 KiB per call, and reports enqueues per second and the
// average group size. producers=N runs exactly N goroutines. The content is
// zeros with the message id at the start: since blobs are compressed it is
// stored in about a hundred bytes, so BenchmarkEnqueueXML (realistic signed
// e-CO content) is the figure to judge the store by.
func BenchmarkEnqueue(b *testing.B) {
	benchEnqueue(b, func(id string, i int64, buf []byte) []byte {
		if buf == nil {
			buf = make([]byte, 4096)
		}
		copy(buf, id) // distinct content per message
		return buf
	})
}

// BenchmarkEnqueueXML is BenchmarkEnqueue with about 10 KB of e-CO-like
// signed XML per message (distinct per message), the size of the node's
// signed sample documents: it shows what blob compression saves in pages
// per commit and costs in CPU.
func BenchmarkEnqueueXML(b *testing.B) {
	base := xmlContent(0, 10000)
	at := bytes.Index(base, []byte("IN-AI-")) + len("IN-AI-")
	benchEnqueue(b, func(id string, _ int64, buf []byte) []byte {
		if buf == nil {
			buf = bytes.Clone(base)
		}
		copy(buf[at:], id) // distinct content per message
		return buf
	})
}

func benchEnqueue(b *testing.B, content func(id string, i int64, buf []byte) []byte) {
	for _, producers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			var n atomic.Int64
			ctx := context.Background()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := 0; p < producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var buf []byte
					for {
						i := n.Add(1)
						if i > int64(b.N) {
							return
						}
						id := fmt.Sprintf("m%09d", i)
						buf = content(id, i, buf)
						if err := db.Outbox().Enqueue(ctx, OutMessage{ID: id, Partner: "SG", CertNumber: "CO-" + id, Version: 1, Kind: "issue", Content: buf}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueues/s")
			if st := db.Stats(); st.Commits > 0 {
				b.ReportMetric(float64(st.Ops)/float64(st.Commits), "ops/commit")
			}
		})
	}
}

// BenchmarkBoltReference is the outside reference for BenchmarkEnqueue: the
// same 4 KiB value put with plain bbolt by 64 parallel producers, one
// db.Update (one commit and fsync) per put, and with bbolt's own db.Batch.
func BenchmarkBoltReference(b *testing.B) {
	for _, mode := range []string{"Update", "Batch"} {
		b.Run(mode+"/producers=64", func(b *testing.B) {
			bdb, err := bolt.Open(filepath.Join(b.TempDir(), "ref.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer bdb.Close()
			_ = bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err })
			run := bdb.Update
			if mode == "Batch" {
				run = bdb.Batch
			}
			var n atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				v := make([]byte, 4096)
				for pb.Next() {
					k := []byte(fmt.Sprintf("m%09d", n.Add(1)))
					if err := run(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put(k, v) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
		})
	}
}

// BenchmarkIssuedImport measures Issued.Import (document of 7.3 KB, its
// idempotency record, the register entry with 1 KB of core data and a
// token, fsynced in group commits) with 64 parallel producers: the store's
// share of `ecogate import`, without mapping.
func BenchmarkIssuedImport(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	doc := make([]byte, 7330)
	for i := range doc {
		doc[i] = 'a' + byte(i%26)
	}
	data := []byte(`{"country":"IN","number":"x","items":[` + strings.Repeat(`{"description":"goods","hsCode":"850440"},`, 20) + `{}]}`)
	var n atomic.Int64
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := append([]byte(nil), doc...)
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				num := fmt.Sprintf("AI-MUM-2026-%07d", i)
				copy(buf, num)
				if _, err := db.Issued().Import(ctx, ImportedCert{Country: "IN", Number: num, Version: 1, Doc: buf, Data: data}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "imports/s")
	if st := db.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.Ops)/float64(st.Commits), "ops/commit")
	}
}
