package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestDecideAtomic: concurrent decisions on one item never use more than
// its limit; each winner's outbox message commits with it, a loser leaves
// nothing; a repeat is ErrDuplicate, a changed decision ErrConflict. The
// outbox indexes stay consistent (checked at cleanup).
func TestDecideAtomic(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	cu := db.Customs()
	const n, limit = 40, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, short := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := Decision{Country: "IN", Number: "C1", Version: 1, DeclarationRef: fmt.Sprint("D", i), Fingerprint: fmt.Sprint(i),
				Items: []DecisionItem{{Seq: 1, PreferenceGiven: true, Use: 1, Limit: limit}}}
			m := msg(fmt.Sprint("m", i), "IN", "C1", 1, "decision", fmt.Sprint("<ImportOutcome>", i))
			_, err := cu.Decide(ctx, d, &m)
			var qe *QuantityError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.As(err, &qe) && qe.Items[0].Remaining == 0:
				short++
			default:
				t.Errorf("decision %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if won != limit || short != n-limit {
		t.Fatalf("%d won, %d short; want %d and %d", won, short, limit, n-limit)
	}
	ds, err := cu.Decisions(ctx, "IN", "C1")
	if err != nil || len(ds) != limit {
		t.Fatalf("%d decisions stored: %v", len(ds), err)
	}
	out, err := db.Outbox().List(ctx, Filter{})
	if err != nil || len(out) != limit {
		t.Fatalf("%d outbox messages: %v", len(out), err)
	}
	for _, d := range ds {
		if _, err := db.Outbox().Get(ctx, d.MessageID); err != nil {
			t.Errorf("decision %s: message %s: %v", d.DeclarationRef, d.MessageID, err)
		}
	}
	var snap Snapshot
	if err := cu.PutView(ctx, "IN", "C1", 0, []byte{0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := cu.Snapshot("IN", "C1", nil, &snap); err != nil || len(snap.Used) != 1 || snap.Used[0] != (Used{Seq: 1, Used: limit}) {
		t.Fatalf("utilisation %+v %v", snap.Used, err)
	}
	d := ds[0]
	d.Remaining = nil
	if got, err := cu.Decide(ctx, d, nil); !errors.Is(err, ErrDuplicate) || got.DeclarationRef != d.DeclarationRef {
		t.Fatalf("repeat: %v", err)
	}
	d.Fingerprint = "other"
	if _, err := cu.Decide(ctx, d, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("changed: %v", err)
	}
	if _, err := cu.Decide(ctx, Decision{Country: "IN", Number: "C1"}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no declaration: %v", err)
	}
}

// TestSnapshot: a view, its version's status record and utilisation in one
// read; a message arriving after the view makes it stale; a file without
// the customs buckets reads as empty.
func TestSnapshot(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	cu := db.Customs()
	var snap Snapshot
	if ok, err := cu.Snapshot("IN", "C1", nil, &snap); ok || err != nil {
		t.Fatalf("empty store: %v %v", ok, err)
	}
	in := db.Inbox()
	if _, err := in.Accept(ctx, InRecord{ID: "m1", From: "IN", CertNumber: "C1", Version: 2, Kind: "issue", Content: []byte("x"),
		StatusChanges: []StatusChange{{Country: "IN", Number: "C1", Version: 2, Status: CertIssued}}}); err != nil {
		t.Fatal(err)
	}
	if err := cu.PutView(ctx, "IN", "C1", 0, []byte{0, 0, 0, 2, 'v'}); err != nil {
		t.Fatal(err)
	}
	version := func(b []byte) int { return int(b[3]) }
	ok, err := cu.Snapshot("IN", "C1", version, &snap)
	if !ok || err != nil || snap.Stale || !snap.HasStatus || snap.Status != CertIssued || string(snap.View) != "\x00\x00\x00\x02v" {
		t.Fatalf("snapshot %+v %v %v", snap, ok, err)
	}
	if _, err := in.Accept(ctx, InRecord{ID: "m2", From: "IN", CertNumber: "C1", Version: 2, Kind: "withdraw", Content: []byte("y"),
		StatusChanges: []StatusChange{{Country: "IN", Number: "C1", Version: 2, Status: CertWithdrawn}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Accept(ctx, InRecord{ID: "m3", From: "IN", CertNumber: "C10", Version: 1, Kind: "issue", Content: []byte("z")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cu.Snapshot("IN", "C1", version, &snap); err != nil || !snap.Stale || snap.Status != CertWithdrawn {
		t.Fatalf("after withdrawal %+v %v", snap, err)
	}
	// A view from a query answer is fresh until a message arrives.
	if err := cu.PutView(ctx, "IN", "Q1", ViewFromQuery, []byte{0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	if ok, err := cu.Snapshot("IN", "Q1", version, &snap); !ok || err != nil || snap.Stale || snap.HasStatus {
		t.Fatalf("query view %+v %v", snap, err)
	}
}

// TestIssuedRegister: a token reserved before signing survives
// registration; statuses are final; decisions are deduplicated by sender
// and message id.
func TestIssuedRegister(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	is := db.Issued()
	tok, err := is.Token(ctx, "IN", "C1")
	if err != nil || len(tok) != 22 {
		t.Fatalf("token %q %v", tok, err)
	}
	if _, err := is.ByToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	r, err := is.Register(ctx, IssuedCert{Country: "IN", Number: "C1", Version: 1, Data: []byte(`{"v":1}`)})
	if err != nil || r.Token != tok || r.Status != CertIssued {
		t.Fatalf("register %+v %v", r, err)
	}
	if r, _ := is.Register(ctx, IssuedCert{Number: "C1", Version: 0, Data: []byte(`{"v":0}`)}); string(r.Data) != `{"v":1}` {
		t.Errorf("an older version replaced the data: %s", r.Data)
	}
	if r, _ := is.SetStatus(ctx, "C1", CertWithdrawn, ""); r.Status != CertWithdrawn {
		t.Fatal(r)
	}
	if r, _ := is.Register(ctx, IssuedCert{Number: "C1", Version: 2, Status: CertReplaced, ReplacedBy: "C2", Data: []byte(`{}`)}); r.Status != CertWithdrawn {
		t.Errorf("a final status changed: %+v", r)
	}
	if _, err := is.SetStatus(ctx, "C1", CertIssued, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("set issued: %v", err)
	}
	if _, err := is.ByToken(ctx, NewToken()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
	d := ReceivedDecision{MessageID: "m1", From: "VN", Number: "C1", Outcome: []byte(`{}`)}
	for i, want := range []bool{false, true} {
		if dup, err := is.AddDecision(ctx, d); err != nil || dup != want {
			t.Fatalf("add %d: dup=%v %v", i, dup, err)
		}
	}
	d.From = "TH"
	if dup, _ := is.AddDecision(ctx, d); dup {
		t.Error("same id from another partner is not a duplicate")
	}
	if ds, err := is.Decisions(ctx, "C1"); err != nil || len(ds) != 2 {
		t.Fatalf("decisions %v %v", ds, err)
	}
	if ds, err := is.Decisions(ctx, "C"); err != nil || len(ds) != 0 {
		t.Fatalf("decisions of a prefix: %v %v", ds, err)
	}
}

// TestCustomsClients: add, conflict, list, revoke.
func TestCustomsClients(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	cu := db.Customs()
	if _, err := cu.Client(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no clients yet: %v", err)
	}
	h := "0000000000000000000000000000000000000000000000000000000000000000"
	if err := cu.AddClient(ctx, CustomsClient{ID: "c1", SecretHash: h, Scopes: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if err := cu.AddClient(ctx, CustomsClient{ID: "c1", SecretHash: h}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := cu.AddClient(ctx, CustomsClient{ID: "c2", SecretHash: "short"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad hash: %v", err)
	}
	if err := cu.RevokeClient(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := cu.RevokeClient(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	cl, err := cu.Clients(ctx)
	if err != nil || len(cl) != 1 || cl[0].Revoked.IsZero() {
		t.Fatalf("clients %+v %v", cl, err)
	}
}

// TestContractAcceptStoresCheckView: a check view given with an accepted
// message is stored in the same transaction (on bbolt one commit), based
// on that message (not stale); a duplicate or a conflicting message
// changes nothing. Both engines.
func TestContractAcceptStoresCheckView(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		rec := InRecord{ID: "m-1", From: "IN", CertNumber: "IN-V-1", Version: 1, Kind: "issue", Content: []byte("<eco>1</eco>"),
			Outcome: StateDelivered, Receipt: []byte("r"), CheckView: []byte("view one")}
		db, isBolt := e.inbox.(*Inbox)
		var commits uint64
		if isBolt {
			commits = db.db.Stats().Commits
		}
		if old, err := e.inbox.Accept(ctx, rec); err != nil || old != nil {
			t.Fatalf("accept: %v %v", old, err)
		}
		if isBolt {
			if got := db.db.Stats().Commits - commits; got != 1 {
				t.Errorf("%d commits for a message with its view, want 1", got)
			}
		}
		snap := new(Snapshot)
		if ok, err := e.customs.Snapshot("IN", "IN-V-1", nil, snap); err != nil || !ok || string(snap.View) != "view one" || snap.Stale || snap.LatestSeq == 0 {
			t.Fatalf("view after accept: ok=%v %v %q stale=%v seq=%d", ok, err, snap.View, snap.Stale, snap.LatestSeq)
		}
		got, err := e.inbox.Get(ctx, "m-1")
		if err != nil || got.CheckView != nil {
			t.Fatalf("stored record keeps the view: %v", err)
		}
		for _, tc := range []struct {
			name string
			rec  InRecord
			err  bool
		}{
			{"duplicate", rec, false},
			{"same id, other content", func() InRecord { r := rec; r.Content = []byte("<eco>2</eco>"); return r }(), true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := tc.rec
				r.CheckView = []byte("view " + tc.name)
				old, err := e.inbox.Accept(ctx, r)
				if old == nil || (err != nil) != tc.err {
					t.Fatalf("accept: %v %v", old, err)
				}
				if ok, err := e.customs.Snapshot("IN", "IN-V-1", nil, snap); err != nil || !ok || string(snap.View) != "view one" {
					t.Fatalf("view changed by a %s: %q", tc.name, snap.View)
				}
			})
		}
	})
}

// TestCheckCustomsClientIndex: DB.Check finds a certificate binding that
// lost its index entry and an index entry that names no active client.
func TestCheckCustomsClientIndex(t *testing.T) {
	ctx := context.Background()
	fp, next := fmt.Sprintf("%064x", 0xc3), fmt.Sprintf("%064x", 0xc4)
	for _, tc := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   string
	}{
		{"intact", func(*bolt.Tx) error { return nil }, ""},
		{"binding not indexed", func(tx *bolt.Tx) error { return tx.Bucket([]byte(bktCuClientCert)).Delete([]byte(fp)) }, "is not indexed"},
		{"dangling index entry", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bktCuClientCert)).Put([]byte(fmt.Sprintf("%064x", 0xd4)), []byte("gone"))
		}, "3 certificate bindings for 2"},
		{"index names another client", func(tx *bolt.Tx) error { return tx.Bucket([]byte(bktCuClientCert)).Put([]byte(fp), []byte("other")) }, "is not indexed"},
		{"next binding not indexed", func(tx *bolt.Tx) error { return tx.Bucket([]byte(bktCuClientCert)).Delete([]byte(next)) }, "its certificate " + next + " is not indexed"},
		{"next binding names another client", func(tx *bolt.Tx) error { return tx.Bucket([]byte(bktCuClientCert)).Put([]byte(next), []byte("m2")) }, "is not indexed"},
		{"ended binding left in the index", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bktCuClientCert)).Put([]byte(fmt.Sprintf("%064x", 0xe5)), []byte("m1"))
		}, "3 certificate bindings for 2"},
		{"next equal to the current certificate", func(tx *bolt.Tx) error {
			v, _ := json.Marshal(CustomsClient{ID: "m1", CertSHA256: fp, NextCertSHA256: fp})
			return tx.Bucket([]byte(bktCuClient)).Put([]byte("m1"), v)
		}, "renews no other current certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTest(t, nil)
			if err := db.Customs().AddClient(ctx, CustomsClient{ID: "m1", Name: "M1", CertSHA256: fp, Scopes: []string{"customs:check"}}); err != nil {
				t.Fatal(err)
			}
			// A renewal in progress: both bindings are indexed.
			if _, err := db.Customs().RenewClientCert(ctx, "m1", ClientCert{SHA256: next}); err != nil {
				t.Fatal(err)
			}
			if err := db.update(ctx, tc.damage); err != nil {
				t.Fatal(err)
			}
			err := db.Check(ctx)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
			if err != nil { // repair, so the cleanup check passes
				if err := db.update(ctx, func(tx *bolt.Tx) error {
					if err := tx.DeleteBucket([]byte(bktCuClientCert)); err != nil {
						return err
					}
					b, err := tx.CreateBucket([]byte(bktCuClientCert))
					if err != nil {
						return err
					}
					v, _ := json.Marshal(CustomsClient{ID: "m1", CertSHA256: fp, NextCertSHA256: next, Scopes: []string{"customs:check"}})
					if err := tx.Bucket([]byte(bktCuClient)).Put([]byte("m1"), v); err != nil {
						return err
					}
					if err := b.Put([]byte(next), []byte("m1")); err != nil {
						return err
					}
					return b.Put([]byte(fp), []byte("m1"))
				}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestAllot: the quantity rule Decide applies on both engines.
func TestAllot(t *testing.T) {
	stored := map[int]int64{1: 40, 2: 0}
	for _, tc := range []struct {
		name   string
		items  []DecisionItem
		order  []int
		totals map[int]int64
		rem    map[int]int64
		short  []ShortItem
	}{
		{"within", []DecisionItem{{Seq: 1, Use: 10, Limit: 100}, {Seq: 2, Use: 0, Limit: 5}},
			[]int{1, 2}, map[int]int64{1: 50, 2: 0}, map[int]int64{1: 50, 2: 5}, nil},
		{"named twice counts both", []DecisionItem{{Seq: 1, Use: 30, Limit: 100}, {Seq: 1, Use: 30, Limit: 100}},
			[]int{1}, map[int]int64{1: 100}, map[int]int64{1: 0}, nil},
		{"twice, the second short", []DecisionItem{{Seq: 1, Use: 50, Limit: 100}, {Seq: 1, Use: 20, Limit: 100}},
			[]int{1}, map[int]int64{1: 90}, map[int]int64{1: 10}, []ShortItem{{Seq: 1, Requested: 20, Remaining: 10}}},
		{"negative", []DecisionItem{{Seq: 2, Use: -1, Limit: 5}},
			nil, map[int]int64{}, map[int]int64{}, []ShortItem{{Seq: 2, Requested: -1, Remaining: 5}}},
		{"over an exhausted item", []DecisionItem{{Seq: 1, Use: 1, Limit: 30}},
			nil, map[int]int64{}, map[int]int64{}, []ShortItem{{Seq: 1, Requested: 1, Remaining: 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order, totals, rem, short := allot(tc.items, func(seq int) int64 { return stored[seq] })
			if !reflect.DeepEqual(order, tc.order) || !reflect.DeepEqual(totals, tc.totals) || !reflect.DeepEqual(rem, tc.rem) || !reflect.DeepEqual(short, tc.short) {
				t.Fatalf("allot = %v %v %v %v, want %v %v %v %v", order, totals, rem, short, tc.order, tc.totals, tc.rem, tc.short)
			}
		})
	}
}
