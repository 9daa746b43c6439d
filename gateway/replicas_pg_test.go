package gateway

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/pgtest"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// TestMain stops the throwaway PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestReplicasShareOutboxOnPostgres runs two IN replicas on one PostgreSQL
// database, as two processes would (separate pools), submitting through
// both local APIs. A third "replica" claims some messages and dies
// mid-send (its lease expired): the live replicas deliver everything to VN
// exactly once (each message claimed once, the dead replica's claims
// once more after the lease), and the audit chain is one intact chain.
func TestReplicasShareOutboxOnPostgres(t *testing.T) {
	in, vn, _ := identities(t)
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	open := func() *store.PG {
		pg, err := store.OpenPG(ctx, store.PGOptions{DSN: dsn, Migrate: true, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		return pg
	}
	pgA, pgB, pgDead := open(), open(), open()

	plVN, llVN, err := DevListeners()
	if err != nil {
		t.Fatal(err)
	}
	var reps []*Node
	var lns [][2]net.Listener
	for _, pg := range []*store.PG{pgA, pgB} {
		pl, ll, err := DevListeners()
		if err != nil {
			t.Fatal(err)
		}
		opt := in.NodeOptions(nil, NewStaticDirectory(vn.AsPartner(PartnerURLOf(plVN), fastRetry, "AIFTA")))
		opt.Outbox, opt.Inbox, opt.Audit = pg.Outbox(), pg.Inbox(), pg.Audit()
		opt.PublicURL, opt.LocalURL = PartnerURLOf(pl), "http://"+ll.Addr().String()
		fastOptions(t)(&opt)
		opt.PollInterval = time.Second // NOTIFY wakes the workers, not polling
		opt.RegisterEntries = func(_ string, c *schema.Certificate) ([]store.IssuedCert, error) { return customs.IssuedRecords(c) }
		n, err := New(opt)
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, n)
		lns = append(lns, [2]net.Listener{pl, ll})
	}
	vnNode, err := StartDevNode(vn, filepath.Join(t.TempDir(), "vn.db"), plVN, llVN,
		NewStaticDirectory(in.AsPartner(PartnerURLOf(lns[0][0]), fastRetry, "AIFTA")), fastOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	defer vnNode.Close()

	const total = 40
	for i := 0; i < total; i++ {
		if _, err := reps[i%2].Submit(ctx, sample(t, 9000+i), []string{"VN"}); err != nil {
			t.Fatalf("submit %d through replica %d: %v", i, i%2, err)
		}
	}
	// A replica claims 5 messages and dies before sending: its lease has
	// run out by the time the others look.
	dead, err := pgDead.Outbox().Claim(ctx, time.Now(), 5, time.Millisecond)
	if err != nil || len(dead) != 5 {
		t.Fatalf("dead replica's claim: %d, %v", len(dead), err)
	}
	deadIDs := map[string]bool{}
	for _, r := range dead {
		deadIDs[r.ID] = true
	}

	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, n := range reps {
		pl, ll := lns[i][0], lns[i][1]
		pg := []*store.PG{pgA, pgB}[i]
		wg.Add(2)
		go func() { defer wg.Done(); _ = n.Serve(sctx, pl, ll) }()
		go func() { defer wg.Done(); pg.ListenOutbox(sctx, n.Kick) }()
	}
	defer func() { cancel(); wg.Wait() }()

	waitFor(t, 60*time.Second, "every message delivered", func() bool {
		c, err := pgA.Outbox().CountByState(ctx)
		return err == nil && c[store.StateDelivered] == total
	})
	recs, err := pgB.Outbox().List(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != total {
		t.Fatalf("%d messages stored, want %d", len(recs), total)
	}
	for _, r := range recs {
		want := 1
		if deadIDs[r.ID] {
			want = 2
		}
		if r.Attempts != want {
			t.Errorf("message %s (%s) claimed %d times, want %d", r.ID, r.CertNumber, r.Attempts, want)
		}
	}
	got, err := vnNode.DB.Inbox().List(ctx, store.StateDelivered, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("VN holds %d messages, want %d", len(got), total)
	}
	n, err := pgB.Audit().Verify(ctx)
	if err != nil || n < total {
		t.Fatalf("audit chain: %d entries, %v", n, err)
	}
	for i := 0; i < total; i++ {
		if _, err := pgA.Issued().Get(ctx, fmt.Sprintf("IN-AI-TEST-%06d", 9000+i)); err != nil {
			t.Errorf("register: %v", err)
		}
	}
}
