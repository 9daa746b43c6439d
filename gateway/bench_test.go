package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// BenchmarkEndToEnd measures delivered-and-receipted e-COs per second
// between two nodes on loopback: b.N unsigned e-COs are submitted to IN
// (validate, sign, durable enqueue), pushed over mutual TLS, verified,
// validated and stored durably at VN, and receipted; the clock stops when
// IN holds every receipt. The documents are made before the clock starts.
func BenchmarkEndToEnd(b *testing.B) {
	benchEndToEnd(b, false)
}

// BenchmarkEndToEndPresigned is BenchmarkEndToEnd with documents signed
// before the clock starts (the issuing system signs; the node verifies the
// signature against its own anchors instead of signing).
func BenchmarkEndToEndPresigned(b *testing.B) {
	benchEndToEnd(b, true)
}

// BenchmarkEndToEndCustomsView is BenchmarkEndToEnd with the receiving
// node storing each accepted e-CO's customs check view, as a node built
// from a configuration does: "afterCommit" in its own transaction after
// the message's (OnAccepted → customs.Service.StoreView, the earlier
// wiring), "inAcceptTx" in the transaction that accepts the message
// (Options.CheckView).
func BenchmarkEndToEndCustomsView(b *testing.B) {
	for _, mode := range []string{"afterCommit", "inAcceptTx"} {
		b.Run(mode, func(b *testing.B) { benchEndToEndWith(b, false, mode) })
	}
}

func benchEndToEnd(b *testing.B, presigned bool) { benchEndToEndWith(b, presigned, "") }

func benchEndToEndWith(b *testing.B, presigned bool, viewMode string) {
	in, _, _ := identities(b)
	var svc *customs.Service
	tweakVN := func(o *Options) {
		switch viewMode {
		case "afterCommit":
			o.OnAccepted = func(ctx context.Context, from, _ string, c *schema.Certificate, rep certs.Report, chain []*x509.Certificate) {
				if err := svc.StoreView(ctx, from, c, rep, chain...); err != nil {
					b.Error(err)
				}
			}
		case "inAcceptTx":
			o.CheckView = func(from string, c *schema.Certificate, rep certs.Report, chain []*x509.Certificate) ([]byte, []byte, error) {
				return svc.EncodeView(from, c, rep, chain...)
			}
		}
	}
	p := newPair(b, fastRetry, func(o *Options) { o.Workers = 64 }, tweakVN)
	if viewMode != "" {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		svc, err = customs.New(customs.Options{Country: "VN", Store: p.vn.DB.Customs(), Inbox: p.vn.DB.Inbox(),
			TokenVerifier: &certs.TokenVerifier{Key: &key.PublicKey, Issuer: "bench", Audience: TokenAudience}})
		if err != nil {
			b.Fatal(err)
		}
	}
	docs := make([][]byte, b.N)
	for i := range docs {
		if presigned {
			docs[i] = signedSample(b, in, i+1)
		} else {
			docs[i] = sample(b, i+1)
		}
	}
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(docs) {
					return
				}
				if _, err := p.in.Node.Submit(ctx, docs[i], nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	submitted := time.Since(start)
	for {
		c, err := p.in.DB.Outbox().CountByState(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if c[store.StateDelivered] >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "eCOs/s")
	b.ReportMetric(float64(b.N)/submitted.Seconds(), "submits/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/eCO")
	if viewMode != "" {
		snap := new(store.Snapshot)
		if ok, err := p.vn.DB.Customs().Snapshot("IN", sampleNumber(b.N), nil, snap); err != nil || !ok || snap.Stale {
			b.Fatalf("no check view stored for %s: %v", sampleNumber(b.N), err)
		}
	}
	for _, d := range []*DevNode{p.in, p.vn} {
		st := d.DB.Stats()
		b.Logf("%s: %d commits, %.1f ops per commit, %.0f commits/s", d.Node.Country(), st.Commits, float64(st.Ops)/float64(max(st.Commits, 1)), float64(st.Commits)/el.Seconds())
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSubmit measures the durable enqueue rate through the node's
// Submit (validate, sign, enqueue with fsync, audit) with 64 concurrent
// callers and no delivery running.
func BenchmarkSubmit(b *testing.B) {
	in, vn, _ := identities(b)
	db, err := store.Open(b.TempDir()+"/in.db", store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dir := NewStaticDirectory(vn.AsPartner("https://127.0.0.1:1/eco/v1", fastRetry))
	opt := in.NodeOptions(db, dir)
	opt.Logger = testLogger(b)
	n, err := New(opt)
	if err != nil {
		b.Fatal(err)
	}
	docs := make([][]byte, b.N)
	for i := range docs {
		docs[i] = sample(b, i+1)
	}
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(docs) {
					return
				}
				if _, err := n.Submit(context.Background(), docs[i], nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submits/s")
}

// BenchmarkReceive measures the receive pipeline alone (verify, decode,
// validate, sign the receipt, durable store, audit) with 16 concurrent
// senders, without HTTP.
func BenchmarkReceive(b *testing.B) {
	in, vn, _ := identities(b)
	db, err := store.Open(b.TempDir()+"/vn.db", store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	partnerIN := in.AsPartner("https://127.0.0.1:1/eco/v1", fastRetry)
	opt := vn.NodeOptions(db, NewStaticDirectory(partnerIN))
	opt.Logger = testLogger(b)
	n, err := New(opt)
	if err != nil {
		b.Fatal(err)
	}
	envs := make([]*Envelope, b.N)
	for i := range envs {
		envs[i] = &Envelope{MessageID: fmt.Sprintf("bench-%d", i), From: "IN", To: "VN", CertificateNumber: sampleNumber(i + 1), Version: 1, Content: signedSample(b, in, i+1)}
	}
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(envs) {
					return
				}
				res, err := n.Receive(context.Background(), partnerIN, envs[i])
				if err != nil || res.Receipt.Outcome != Delivered {
					b.Errorf("receive: %v %+v", err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "receives/s")
}

// BenchmarkDelivery measures the delivery leg alone: b.N signed e-COs are
// already in IN's outbox when the clock starts (the delivery loop is
// started then), and the clock stops when IN holds every receipt: push
// over mutual TLS, verification, validation and durable storage at VN,
// receipt verification and durable recording at IN.
func BenchmarkDelivery(b *testing.B) {
	in, _, _ := identities(b)
	var hold sync.Mutex
	hold.Lock()
	p := newPair(b, fastRetry, func(o *Options) {
		o.Workers = 64
		o.PollInterval = time.Hour // nothing moves until kicked
	}, nil)
	ctx := context.Background()
	msgs := make([]store.OutMessage, b.N)
	for i := range msgs {
		msgs[i] = store.OutMessage{ID: fmt.Sprintf("bench-%08d", i), Partner: "VN", CertNumber: sampleNumber(i + 1), Version: 1, Kind: KindIssue, Content: signedSample(b, in, i+1)}
	}
	// Enqueue with the time set in the future so the running loop does not
	// take them before the clock starts... simpler: enqueue in one batch
	// and start the clock; the loop only wakes on Kick.
	if err := p.in.DB.Outbox().Enqueue(ctx, msgs...); err != nil {
		b.Fatal(err)
	}
	hold.Unlock()
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	p.in.Node.Kick()
	for {
		c, err := p.in.DB.Outbox().CountByState(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if c[store.StateDelivered] >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "eCOs/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/eCO")
}
