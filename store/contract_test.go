package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/pgtest"
)

// The contract suite: the same assertions against both engines (bbolt and
// PostgreSQL), for every interface the consumers use.

type cOutbox interface {
	Enqueue(ctx context.Context, msgs ...OutMessage) error
	EnqueueAudited(ctx context.Context, audit []Entry, msgs ...OutMessage) error
	EnqueueRegistered(ctx context.Context, register []IssuedCert, audit []Entry, msgs ...OutMessage) error
	Due(ctx context.Context, now time.Time, limit int) ([]OutRecord, error)
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutRecord, error)
	MarkAttempt(ctx context.Context, id string, a Attempt) error
	MarkAttemptAudited(ctx context.Context, id string, a Attempt, audit []Entry) error
	Suspend(ctx context.Context, id, reason string) error
	Retry(ctx context.Context, id string) error
	Get(ctx context.Context, id string) (*OutRecord, error)
	List(ctx context.Context, f Filter) ([]OutRecord, error)
	Depth(ctx context.Context) (map[string]int, error)
	CountByState(ctx context.Context) (map[State]int, error)
	DepthByState(ctx context.Context) (map[string]map[State]int, error)
	Waiting(ctx context.Context, partner string, limit int) ([]OutRecord, error)
	Ack(ctx context.Context, partner, id string, outcome State, receipt []byte) error
}

type cInbox interface {
	Accept(ctx context.Context, rec InRecord) (*InRecord, error)
	AcceptAudited(ctx context.Context, rec InRecord, audit []Entry) (*InRecord, error)
	SetReceipt(ctx context.Context, id string, outcome State, receipt []byte) (*InRecord, error)
	Get(ctx context.Context, id string) (*InRecord, error)
	List(ctx context.Context, outcome State, limit int) ([]InRecord, error)
	ByCertificate(ctx context.Context, country, number string) ([]InRecord, error)
	ApplyStatus(ctx context.Context, c StatusChange) (*CertStatus, bool, error)
	CertStatuses(ctx context.Context, country, number string) ([]CertStatus, error)
}

type cAudit interface {
	Append(ctx context.Context, e Entry) (Entry, error)
	Verify(ctx context.Context) (int, error)
	Entries(ctx context.Context, from uint64, limit int) ([]Entry, error)
}

type cIssued interface {
	Token(ctx context.Context, country, number string) (string, error)
	Register(ctx context.Context, r IssuedCert) (*IssuedCert, error)
	SetStatus(ctx context.Context, number string, st CertState, replacedBy string) (*IssuedCert, error)
	Get(ctx context.Context, number string) (*IssuedCert, error)
	ByToken(ctx context.Context, tok string) (*IssuedCert, error)
	AddDecision(ctx context.Context, d ReceivedDecision) (bool, error)
	Decisions(ctx context.Context, number string) ([]ReceivedDecision, error)
}

type engine struct {
	outbox cOutbox
	inbox  cInbox
	audit  cAudit
	issued cIssued
	clock  *fakeClock
}

// openPGTest opens the PostgreSQL engine on a fresh database of the test
// cluster (migrated), closed at cleanup.
func openPGTest(t testing.TB, clock *fakeClock) *PG {
	t.Helper()
	o := PGOptions{DSN: pgtest.DSN(t), Migrate: true, Logger: slog.New(slog.DiscardHandler)}
	if clock != nil {
		o.Clock = clock.Now
	}
	pg, err := OpenPG(context.Background(), o)
	if err != nil {
		t.Fatalf("OpenPG: %v", err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

// eachEngine runs fn once per engine, each on a fresh store.
func eachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	t.Run("bbolt", func(t *testing.T) {
		c := newFakeClock()
		db, _ := openTest(t, c)
		fn(t, engine{db.Outbox(), db.Inbox(), db.Audit(), db.Issued(), c})
	})
	t.Run("postgres", func(t *testing.T) {
		c := newFakeClock()
		pg := openPGTest(t, c)
		fn(t, engine{pg.Outbox(), pg.Inbox(), pg.Audit(), pg.Issued(), c})
	})
}

func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestContractOutboxEnqueue(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		mustNil(t, "enqueue", e.outbox.Enqueue(ctx, msg("m1", "VN", "C1", 1, "issue", "doc1"), msg("m2", "TH", "C1", 1, "issue", "doc1")))
		// The same again is a no-op; other content under the id a conflict.
		mustNil(t, "enqueue again", e.outbox.Enqueue(ctx, msg("m1", "VN", "C1", 1, "issue", "doc1")))
		if err := e.outbox.Enqueue(ctx, msg("m1", "VN", "C1", 1, "issue", "other")); !errors.Is(err, ErrConflict) {
			t.Fatalf("other content under m1: %v, want ErrConflict", err)
		}
		// All or none: a bad message refuses the batch.
		if err := e.outbox.Enqueue(ctx, msg("m3", "VN", "C3", 1, "issue", "x"), msg("", "VN", "C3", 1, "issue", "x")); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty id: %v, want ErrInvalid", err)
		}
		if _, err := e.outbox.Get(ctx, "m3"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("m3 stored from a refused batch: %v", err)
		}
		r, err := e.outbox.Get(ctx, "m1")
		mustNil(t, "get", err)
		if r.State != StateQueued || string(r.Content) != "doc1" || r.Partner != "VN" || r.ContentHash != hashHex([]byte("doc1")) {
			t.Fatalf("m1 = %+v", r)
		}
		counts, err := e.outbox.CountByState(ctx)
		mustNil(t, "count", err)
		if counts[StateQueued] != 2 || counts[StateDelivered] != 0 || len(counts) != len(States()) {
			t.Fatalf("counts = %v", counts)
		}
		depth, err := e.outbox.Depth(ctx)
		mustNil(t, "depth", err)
		if depth["VN"] != 1 || depth["TH"] != 1 {
			t.Fatalf("depth = %v", depth)
		}
		list, err := e.outbox.List(ctx, Filter{Partner: "TH"})
		mustNil(t, "list", err)
		if fmt.Sprint(ids(list)) != "[m2]" {
			t.Fatalf("list TH = %v", ids(list))
		}
		if _, err := e.outbox.List(ctx, Filter{State: "bogus"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("list bogus state: %v", err)
		}
	})
}

func TestContractOutboxClaimLeaseOrder(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		mustNil(t, "enqueue", e.outbox.Enqueue(ctx, msg("a-issue", "VN", "C1", 1, "issue", "i")))
		e.clock.Add(time.Second)
		mustNil(t, "enqueue", e.outbox.Enqueue(ctx, msg("a-withdraw", "VN", "C1", 1, "withdraw", "w")))
		mustNil(t, "enqueue", e.outbox.Enqueue(ctx, msg("b-issue", "VN", "C2", 1, "issue", "j")))
		now := e.clock.Now()
		got, err := e.outbox.Claim(ctx, now, 10, time.Minute)
		mustNil(t, "claim", err)
		// The withdrawal waits for the issue of the same certificate.
		if fmt.Sprint(ids(got)) != "[a-issue b-issue]" {
			t.Fatalf("claimed %v", ids(got))
		}
		if got[0].State != StateSending || got[0].Attempts != 1 || string(got[0].Content) != "i" {
			t.Fatalf("claimed record %+v", got[0])
		}
		// Claimed messages are not claimed again within the lease...
		again, err := e.outbox.Claim(ctx, now.Add(30*time.Second), 10, time.Minute)
		mustNil(t, "claim again", err)
		if len(again) != 0 {
			t.Fatalf("claimed again within the lease: %v", ids(again))
		}
		// ...but are after it (the claimer died).
		again, err = e.outbox.Claim(ctx, now.Add(2*time.Minute), 1, time.Minute)
		mustNil(t, "claim after lease", err)
		if fmt.Sprint(ids(again)) != "[a-issue]" || again[0].Attempts != 2 {
			t.Fatalf("after the lease: %v", again)
		}
		mustNil(t, "deliver", e.outbox.MarkAttempt(ctx, "a-issue", Attempt{Outcome: StateDelivered, Receipt: []byte("r")}))
		due, err := e.outbox.Due(ctx, now.Add(5*time.Minute), 10)
		mustNil(t, "due", err)
		if fmt.Sprint(ids(due)) != "[a-withdraw b-issue]" {
			t.Fatalf("due after the issue was delivered: %v", ids(due))
		}
		// Settled stays settled.
		mustNil(t, "same outcome", e.outbox.MarkAttempt(ctx, "a-issue", Attempt{Outcome: StateDelivered}))
		if err := e.outbox.MarkAttempt(ctx, "a-issue", Attempt{Outcome: StateFailed}); !errors.Is(err, ErrState) {
			t.Fatalf("re-settle: %v, want ErrState", err)
		}
		if err := e.outbox.MarkAttempt(ctx, "b-issue", Attempt{Outcome: StateAwaitingRetry}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("retry without time: %v", err)
		}
		if err := e.outbox.MarkAttempt(ctx, "nope", Attempt{Outcome: StateDelivered}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		r, err := e.outbox.Get(ctx, "a-issue")
		mustNil(t, "get", err)
		if string(r.Receipt) != "r" || r.State != StateDelivered {
			t.Fatalf("delivered record %+v", r)
		}
		// Retry and suspend.
		mustNil(t, "suspend", e.outbox.Suspend(ctx, "b-issue", "spent"))
		if err := e.outbox.Retry(ctx, "a-issue"); !errors.Is(err, ErrState) {
			t.Fatalf("retry delivered: %v", err)
		}
		mustNil(t, "retry", e.outbox.Retry(ctx, "b-issue"))
		r, err = e.outbox.Get(ctx, "b-issue")
		mustNil(t, "get", err)
		if r.State != StateQueued || r.Attempts != 0 {
			t.Fatalf("retried record %+v", r)
		}
		by, err := e.outbox.DepthByState(ctx)
		mustNil(t, "depth by state", err)
		if by["VN"][StateQueued] != 2 || by["VN"][StateDelivered] != 0 {
			t.Fatalf("depth by state = %v", by)
		}
	})
}

func TestContractOutboxPullAndExclusive(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		p := msg("p1", "KR", "C9", 1, "issue", "pull")
		p.Pull = true
		mustNil(t, "enqueue pull", e.outbox.Enqueue(ctx, p))
		due, err := e.outbox.Due(ctx, e.clock.Now().Add(time.Hour), 10)
		mustNil(t, "due", err)
		if len(due) != 0 {
			t.Fatalf("pull message due: %v", ids(due))
		}
		w, err := e.outbox.Waiting(ctx, "KR", 10)
		mustNil(t, "waiting", err)
		if len(w) != 1 || string(w[0].Content) != "pull" {
			t.Fatalf("waiting = %+v", w)
		}
		if err := e.outbox.Ack(ctx, "VN", "p1", StateDelivered, nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ack by another partner: %v", err)
		}
		mustNil(t, "ack", e.outbox.Ack(ctx, "KR", "p1", StateDelivered, []byte("rc")))
		w, err = e.outbox.Waiting(ctx, "KR", 10)
		mustNil(t, "waiting", err)
		if len(w) != 0 {
			t.Fatalf("still waiting after ack: %v", ids(w))
		}
		x := msg("x1", "VN", "C5", 1, "issue", "a")
		x.Exclusive = true
		mustNil(t, "exclusive", e.outbox.Enqueue(ctx, x))
		y := msg("x2", "VN", "C5", 1, "issue", "b")
		y.Exclusive = true
		var ase *AlreadySentError
		if err := e.outbox.Enqueue(ctx, y); !errors.As(err, &ase) || ase.ID != "x1" {
			t.Fatalf("second exclusive: %v", err)
		}
	})
}

func TestContractEnqueueRegistered(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		reg := []IssuedCert{{Country: "IN", Number: "N1", Version: 1, Data: json.RawMessage(`{"n":1}`)}}
		aud := []Entry{{Actor: "t", Action: "submit", Subject: "N1"}}
		mustNil(t, "enqueue registered", e.outbox.EnqueueRegistered(ctx, reg, aud, msg("r1", "VN", "N1", 1, "issue", "d")))
		got, err := e.issued.Get(ctx, "N1")
		mustNil(t, "register", err)
		if got.Status != CertIssued || got.Token == "" || string(got.Data) != `{"n":1}` {
			t.Fatalf("registered %+v", got)
		}
		// A refused enqueue registers and audits nothing.
		reg2 := []IssuedCert{{Country: "IN", Number: "N2", Version: 1, Data: json.RawMessage(`{}`)}}
		err = e.outbox.EnqueueRegistered(ctx, reg2, []Entry{{Actor: "t", Action: "submit", Subject: "N2"}}, msg("r1", "VN", "N2", 1, "issue", "other"))
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("conflicting enqueue: %v", err)
		}
		if _, err := e.issued.Get(ctx, "N2"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("N2 registered by a refused enqueue: %v", err)
		}
		// The same ids again write nothing new.
		mustNil(t, "again", e.outbox.EnqueueRegistered(ctx, reg, aud, msg("r1", "VN", "N1", 1, "issue", "d")))
		n, err := e.audit.Verify(ctx)
		mustNil(t, "verify", err)
		if n != 1 {
			t.Fatalf("audit entries = %d, want 1", n)
		}
		// Audited attempt: one entry more.
		_, err = e.outbox.Claim(ctx, e.clock.Now(), 1, time.Minute)
		mustNil(t, "claim", err)
		mustNil(t, "mark audited", e.outbox.MarkAttemptAudited(ctx, "r1", Attempt{Outcome: StateDelivered}, []Entry{{Actor: "t", Action: "delivered", Subject: "r1"}}))
		if n, err = e.audit.Verify(ctx); err != nil || n != 2 {
			t.Fatalf("verify = %d, %v", n, err)
		}
		if err := e.outbox.EnqueueAudited(ctx, []Entry{{Actor: "t", Action: "x", Subject: "y", Details: map[string]string{"password": "p"}}}, msg("r9", "VN", "N9", 1, "issue", "d")); !errors.Is(err, ErrInvalid) {
			t.Fatalf("secret in audit: %v", err)
		}
	})
}

func TestContractInbox(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		rec := InRecord{ID: "i1", From: "VN", CertNumber: "C1", Version: 1, Kind: "issue", Content: []byte("doc"),
			StatusChanges: []StatusChange{{Country: "VN", Number: "C1", Version: 1, Status: CertIssued}}}
		old, err := e.inbox.AcceptAudited(ctx, rec, []Entry{{Actor: "VN", Action: "receive", Subject: "i1"}})
		if err != nil || old != nil {
			t.Fatalf("accept new: %v, %v", old, err)
		}
		// Duplicate by id, and by natural key under another id.
		old, err = e.inbox.AcceptAudited(ctx, rec, []Entry{{Actor: "VN", Action: "receive", Subject: "i1"}})
		if err != nil || old == nil || old.ID != "i1" {
			t.Fatalf("accept dup: %v, %v", old, err)
		}
		r2 := rec
		r2.ID = "i2"
		if old, err = e.inbox.Accept(ctx, r2); err != nil || old == nil || old.ID != "i1" {
			t.Fatalf("accept dup by natural key: %v, %v", old, err)
		}
		r3 := rec
		r3.ID, r3.Content = "i3", []byte("other")
		if old, err = e.inbox.Accept(ctx, r3); !errors.Is(err, ErrConflict) || old == nil || old.ID != "i1" {
			t.Fatalf("conflict by natural key: %v, %v", old, err)
		}
		r4 := rec
		r4.Content = []byte("other")
		if _, err = e.inbox.Accept(ctx, r4); !errors.Is(err, ErrConflict) {
			t.Fatalf("conflict by id: %v", err)
		}
		if _, err := e.inbox.Accept(ctx, InRecord{ID: "", From: "VN"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty id: %v", err)
		}
		if n, err := e.audit.Verify(ctx); err != nil || n != 1 {
			t.Fatalf("audit after dups = %d, %v (duplicates must not audit)", n, err)
		}
		// An unreadable message has no number: not deduplicated by it.
		for _, id := range []string{"u1", "u2"} {
			if _, err := e.inbox.Accept(ctx, InRecord{ID: id, From: "VN", Content: []byte("junk")}); err != nil {
				t.Fatalf("accept unreadable %s: %v", id, err)
			}
		}
		pending, err := e.inbox.List(ctx, "", 0)
		mustNil(t, "list", err)
		if fmt.Sprint(inIDs(pending)) != "[i1 u1 u2]" {
			t.Fatalf("pending = %v", inIDs(pending))
		}
		_, err = e.inbox.SetReceipt(ctx, "i1", StateDelivered, []byte("first"))
		mustNil(t, "receipt", err)
		got, err := e.inbox.SetReceipt(ctx, "i1", StateFailed, []byte("second"))
		mustNil(t, "receipt again", err)
		if string(got.Receipt) != "first" {
			t.Fatalf("second receipt replaced the first: %q", got.Receipt)
		}
		g, err := e.inbox.Get(ctx, "i1")
		mustNil(t, "get", err)
		if string(g.Content) != "doc" || g.Outcome != StateDelivered || string(g.Receipt) != "first" {
			t.Fatalf("get = %+v", g)
		}
		del, err := e.inbox.List(ctx, StateDelivered, 0)
		mustNil(t, "list delivered", err)
		if fmt.Sprint(inIDs(del)) != "[i1]" {
			t.Fatalf("delivered = %v", inIDs(del))
		}
		byc, err := e.inbox.ByCertificate(ctx, "VN", "C1")
		mustNil(t, "by certificate", err)
		if fmt.Sprint(inIDs(byc)) != "[i1]" {
			t.Fatalf("by certificate = %v", inIDs(byc))
		}
		// Status: withdrawn is final.
		_, changed, err := e.inbox.ApplyStatus(ctx, StatusChange{Country: "VN", Number: "C1", Version: 1, Status: CertWithdrawn})
		if err != nil || !changed {
			t.Fatalf("withdraw: %v %v", changed, err)
		}
		_, changed, err = e.inbox.ApplyStatus(ctx, StatusChange{Country: "VN", Number: "C1", Version: 1, Status: CertIssued})
		if err != nil || changed {
			t.Fatalf("revive: %v %v", changed, err)
		}
		sts, err := e.inbox.CertStatuses(ctx, "VN", "C1")
		mustNil(t, "statuses", err)
		if len(sts) != 1 || sts[0].Status != CertWithdrawn || len(sts[0].History) != 2 || sts[0].History[0].MessageID != "i1" {
			t.Fatalf("statuses = %+v", sts)
		}
		if _, _, err := e.inbox.ApplyStatus(ctx, StatusChange{Country: "VN", Number: "C1", Version: 1, Status: CertReplaced}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("replaced without replacedBy: %v", err)
		}
	})
}

func inIDs(rs []InRecord) []string {
	var s []string
	for _, r := range rs {
		s = append(s, r.ID)
	}
	return s
}

func TestContractAudit(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		var last Entry
		for i := 0; i < 5; i++ {
			x, err := e.audit.Append(ctx, Entry{Actor: "op", Action: "act", Subject: fmt.Sprint(i), Details: map[string]string{"b": "2", "a": "1"}})
			mustNil(t, "append", err)
			if x.Seq != uint64(i+1) || x.PrevHash != last.Hash || x.Hash == "" {
				t.Fatalf("entry %d = %+v", i, x)
			}
			last = x
		}
		for _, bad := range []Entry{{Action: "a", Subject: "s"}, {Actor: "a", Subject: "s"}, {Actor: "a", Action: "b", Subject: "s", Details: map[string]string{"apiToken": "x"}}} {
			if _, err := e.audit.Append(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Fatalf("append %+v: %v, want ErrInvalid", bad, err)
			}
		}
		n, err := e.audit.Verify(ctx)
		if err != nil || n != 5 {
			t.Fatalf("verify = %d, %v", n, err)
		}
		es, err := e.audit.Entries(ctx, 4, 0)
		mustNil(t, "entries", err)
		if len(es) != 2 || es[1].Hash != last.Hash || es[0].Details["a"] != "1" {
			t.Fatalf("entries = %+v", es)
		}
	})
}

func TestContractAuditConcurrentAppendsOneChain(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					if _, err := e.audit.Append(ctx, Entry{Actor: "w", Action: "a", Subject: fmt.Sprint(w, i)}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n, err := e.audit.Verify(ctx); err != nil || n != 40 {
			t.Fatalf("verify = %d, %v", n, err)
		}
	})
}

func TestContractIssued(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		tok, err := e.issued.Token(ctx, "IN", "N1")
		mustNil(t, "token", err)
		tok2, err := e.issued.Token(ctx, "IN", "N1")
		mustNil(t, "token again", err)
		if tok == "" || tok != tok2 {
			t.Fatalf("tokens %q %q", tok, tok2)
		}
		r, err := e.issued.Register(ctx, IssuedCert{Country: "IN", Number: "N1", Version: 2, Data: json.RawMessage(`{"v":2}`)})
		mustNil(t, "register", err)
		if r.Token != tok || r.Version != 2 {
			t.Fatalf("register = %+v", r)
		}
		// An older version does not replace the data.
		r, err = e.issued.Register(ctx, IssuedCert{Country: "IN", Number: "N1", Version: 1, Data: json.RawMessage(`{"v":1}`)})
		mustNil(t, "register older", err)
		if string(r.Data) != `{"v":2}` {
			t.Fatalf("older version replaced data: %s", r.Data)
		}
		b, err := e.issued.ByToken(ctx, tok)
		mustNil(t, "by token", err)
		if b.Number != "N1" {
			t.Fatalf("by token = %+v", b)
		}
		if _, err := e.issued.ByToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		if _, err := e.issued.Get(ctx, "N0"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown number: %v", err)
		}
		_, err = e.issued.SetStatus(ctx, "N1", CertWithdrawn, "")
		mustNil(t, "withdraw", err)
		r, err = e.issued.Register(ctx, IssuedCert{Number: "N1", Status: CertIssued})
		mustNil(t, "register issued again", err)
		if r.Status != CertWithdrawn {
			t.Fatalf("withdrawn certificate made issued again: %+v", r)
		}
		if _, err := e.issued.SetStatus(ctx, "N1", CertIssued, ""); !errors.Is(err, ErrInvalid) {
			t.Fatalf("set status issued: %v", err)
		}
		d := ReceivedDecision{MessageID: "d1", From: "VN", Number: "N1", Outcome: json.RawMessage(`{"ok":true}`)}
		dup, err := e.issued.AddDecision(ctx, d)
		if err != nil || dup {
			t.Fatalf("add decision: %v %v", dup, err)
		}
		dup, err = e.issued.AddDecision(ctx, d)
		if err != nil || !dup {
			t.Fatalf("add decision again: %v %v", dup, err)
		}
		ds, err := e.issued.Decisions(ctx, "N1")
		mustNil(t, "decisions", err)
		if len(ds) != 1 || ds[0].MessageID != "d1" {
			t.Fatalf("decisions = %+v", ds)
		}
	})
}

// TestContractConcurrentClaimers: workers claiming at once never get the
// same message (on PostgreSQL: FOR UPDATE SKIP LOCKED).
func TestContractConcurrentClaimers(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		ctx := context.Background()
		const n = 200
		var ms []OutMessage
		for i := 0; i < n; i++ {
			ms = append(ms, msg(fmt.Sprintf("m%03d", i), "VN", fmt.Sprintf("C%03d", i), 1, "issue", fmt.Sprint("doc", i)))
		}
		mustNil(t, "enqueue", e.outbox.Enqueue(ctx, ms...))
		now := e.clock.Now()
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := e.outbox.Claim(ctx, now, 7, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, r := range got {
						seen[r.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		var dups []string
		for id, k := range seen {
			if k != 1 {
				dups = append(dups, id)
			}
		}
		sort.Strings(dups)
		if len(seen) != n || len(dups) > 0 {
			t.Fatalf("claimed %d distinct of %d, claimed more than once: %v", len(seen), n, dups)
		}
	})
}
