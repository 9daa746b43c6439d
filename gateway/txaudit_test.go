package gateway

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/ecogate/ecogate/store"
)

func auditCount(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	ents, err := db.Audit().Entries(context.Background(), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, e := range ents {
		m[e.Action]++
	}
	if _, err := db.Audit().Verify(context.Background()); err != nil {
		t.Fatalf("audit chain: %v", err)
	}
	return m
}

// TestAuditInWriteTransaction: Submit and Receive write their message and
// its audit entries in one store operation (one commit, one wait), the
// entries are all there, a duplicate adds none, and the chain verifies;
// after an exchange both nodes hold one send, receipt, receive and status
// entry per e-CO.
func TestAuditInWriteTransaction(t *testing.T) {
	in, vn, _ := identities(t)
	ctx := context.Background()

	dbIN, err := store.Open(t.TempDir()+"/in.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dbIN.Close()
	opt := in.NodeOptions(dbIN, NewStaticDirectory(vn.AsPartner("https://127.0.0.1:1/eco/v1", fastRetry)))
	opt.Logger = testLogger(t)
	nIN, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := nIN.Submit(ctx, sample(t, i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if st := dbIN.Stats(); st.Ops != 3 {
		t.Errorf("3 submissions took %d store operations, want 3 (audit entries in the enqueue's transaction)", st.Ops)
	}
	if got := auditCount(t, dbIN); got["send"] != 3 || len(got) != 1 {
		t.Errorf("IN audit %v", got)
	}

	dbVN, err := store.Open(t.TempDir()+"/vn.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dbVN.Close()
	partnerIN := in.AsPartner("https://127.0.0.1:1/eco/v1", fastRetry)
	optVN := vn.NodeOptions(dbVN, NewStaticDirectory(partnerIN))
	optVN.Logger = testLogger(t)
	nVN, err := New(optVN)
	if err != nil {
		t.Fatal(err)
	}
	env := &Envelope{MessageID: "tx-audit-1", From: "IN", To: "VN", CertificateNumber: sampleNumber(7), Version: 1, Content: signedSample(t, in, 7)}
	res, err := nVN.Receive(ctx, partnerIN, env)
	if err != nil || res.Receipt.Outcome != Delivered {
		t.Fatalf("receive: %v %+v", err, res)
	}
	if st := dbVN.Stats(); st.Ops != 1 {
		t.Errorf("a reception took %d store operations, want 1", st.Ops)
	}
	dup, err := nVN.Receive(ctx, partnerIN, env)
	if err != nil || !dup.Duplicate {
		t.Fatalf("duplicate: %v %+v", err, dup)
	}
	if got := auditCount(t, dbVN); got["receive"] != 1 || got["status"] != 1 || len(got) != 2 {
		t.Errorf("VN audit after a duplicate %v, want one receive and one status entry", got)
	}
}

func TestAuditAfterExchange(t *testing.T) {
	p := newPair(t, fastRetry, nil, nil)
	ids := submitAll(t, p.in, 1, 20, 4)
	waitDelivered(t, p, len(ids))
	got := auditCount(t, p.in.DB)
	if got["send"] != 20 || got["receipt"] != 20 {
		t.Errorf("IN audit %v", got)
	}
	got = auditCount(t, p.vn.DB)
	if got["receive"] != 20 || got["status"] != 20 {
		t.Errorf("VN audit %v", got)
	}
	ents, _ := p.in.DB.Audit().Entries(context.Background(), 1, 0)
	var subj []string
	for _, e := range ents {
		if e.Action == "receipt" {
			subj = append(subj, e.Subject)
		}
	}
	sort.Strings(subj)
	sort.Strings(ids)
	if fmt.Sprint(subj) != fmt.Sprint(ids) {
		t.Errorf("receipt entries %v, messages %v", subj, ids)
	}
}

func waitDelivered(t *testing.T, p *pair, n int) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d delivered", n), func() bool {
		c, err := p.in.DB.Outbox().CountByState(context.Background())
		return err == nil && c[store.StateDelivered] >= n
	})
}
