package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testViewVersion reads the version of the test views ("vN ...").
func testViewVersion(view []byte) int {
	var v int
	fmt.Sscanf(string(view), "v%d", &v)
	return v
}

// snapshotFromSources is what Snapshot answers, computed the way it was
// before check heads: from in_cert, cert_state and the view's basedOn.
func snapshotFromSources(t *testing.T, db *DB, country, number string) (Snapshot, bool) {
	t.Helper()
	var s Snapshot
	found := false
	mustNil(t, "reference snapshot", db.view(func(tx *bolt.Tx) error {
		s.LatestSeq = latestInSeq(tx, country, number)
		b := tx.Bucket([]byte(bktCuView))
		if b == nil {
			return nil
		}
		v := b.Get(key([]byte(country), []byte(number)))
		if v == nil {
			return nil
		}
		var h viewHead
		view, _, err := parseViewValue(v, &h)
		if err != nil {
			return err
		}
		found = true
		s.View = append([]byte(nil), view...)
		s.Stale = h.basedOn != s.LatestSeq && !(h.basedOn == ViewFromQuery && s.LatestSeq == 0)
		if sv := tx.Bucket([]byte(bktCertState)).Get(certKey(country, number, testViewVersion(view))); sv != nil {
			var st CertStatus
			if err := json.Unmarshal(sv, &st); err != nil {
				return err
			}
			s.HasStatus, s.Status, s.ReplacedBy = true, st.Status, st.ReplacedBy
		}
		if ub := tx.Bucket([]byte(bktCuUtil)); ub != nil {
			p := prefix([]byte(country), []byte(number))
			scanPrefix(ub, p, func(k, v []byte) bool {
				s.Used = append(s.Used, Used{Seq: int(binary.BigEndian.Uint32(k[len(p):])), Used: int64(binary.BigEndian.Uint64(v))})
				return true
			})
		}
		return nil
	}))
	return s, found
}

// TestViewHeadsFollowTheInbox: after every write of a random sequence
// (messages accepted with and without a view, status changes carried by
// messages about other certificates, statuses applied on their own, views
// put from the inbox, from no message and from a query answer), the
// one-seek Snapshot answers exactly what in_cert and cert_state say, and
// DB.Check finds every head consistent.
func TestViewHeadsFollowTheInbox(t *testing.T) {
	for _, mem := range []int{0, testViewMemory} {
		t.Run(fmt.Sprint("viewMemory=", mem), func(t *testing.T) { testViewHeadsFollowTheInbox(t, mem) })
	}
}

// testViewHeadsFollowTheInbox runs TestViewHeadsFollowTheInbox with the
// check view index of viewMemory bytes (0: checks read the bucket through
// pooled read transactions).
func testViewHeadsFollowTheInbox(t *testing.T, viewMemory int) {
	db, _ := openTestWith(t, newFakeClock(), viewMemory)
	ctx := context.Background()
	cu, in := db.Customs(), db.Inbox()
	r := rand.New(rand.NewPCG(7, 11))
	numbers := []string{"C1", "C2", "C3", "C10"} // C1 is a prefix of C10
	states := []CertState{CertIssued, CertWithdrawn, CertReplaced}
	headed, usedSeen := 0, 0
	for step := range 400 {
		n := numbers[r.IntN(len(numbers))]
		ver := 1 + r.IntN(3)
		var what string
		switch op := r.IntN(6); op {
		case 0, 1: // a message about n, maybe with its view and statuses
			rec := InRecord{ID: fmt.Sprint("m", step), From: "IN", CertNumber: n, Version: ver, Kind: fmt.Sprint("kind", step), Content: []byte(fmt.Sprint("doc ", step)), Outcome: StateDelivered}
			if op == 0 {
				rec.CheckView = []byte(fmt.Sprintf("v%d view of %s at %d", ver, n, step))
			}
			for range r.IntN(3) {
				other := numbers[r.IntN(len(numbers))]
				st := states[r.IntN(len(states))]
				c := StatusChange{Country: "IN", Number: other, Version: 1 + r.IntN(3), Status: st}
				if st == CertReplaced {
					c.ReplacedBy = "R" + fmt.Sprint(step)
				}
				rec.StatusChanges = append(rec.StatusChanges, c)
			}
			what = fmt.Sprintf("accept %s (view %v, %d status changes)", n, op == 0, len(rec.StatusChanges))
			if _, err := in.Accept(ctx, rec); err != nil {
				t.Fatalf("step %d %s: %v", step, what, err)
			}
		case 2: // a status applied on its own
			st := states[r.IntN(len(states))]
			what = fmt.Sprintf("apply %s v%d %s", n, ver, st)
			c := StatusChange{Country: "IN", Number: n, Version: ver, Status: st}
			if st == CertReplaced {
				c.ReplacedBy = "R"
			}
			if _, _, err := in.ApplyStatus(ctx, c); err != nil {
				t.Fatalf("step %d %s: %v", step, what, err)
			}
		case 3: // a view rebuilt from the inbox (basedOn 0: the latest message)
			what = "put view of " + n
			mustNil(t, what, cu.PutView(ctx, "IN", n, 0, []byte(fmt.Sprintf("v%d rebuilt %s at %d", ver, n, step))))
		case 5: // a customs decision utilising goods items
			d := Decision{Country: "IN", Number: n, Version: ver, DeclarationRef: fmt.Sprint("D", step), Fingerprint: fmt.Sprint(step),
				Items: []DecisionItem{{Seq: 1 + r.IntN(3), PreferenceGiven: true, Use: int64(1 + r.IntN(5)), Limit: 1000}}}
			what = fmt.Sprintf("decide on %s item %d", n, d.Items[0].Seq)
			if _, err := cu.Decide(ctx, d, nil); err != nil {
				t.Fatalf("step %d %s: %v", step, what, err)
			}
		case 4: // a view from a query answer
			what = "put query view of " + n
			mustNil(t, what, cu.PutView(ctx, "IN", n, ViewFromQuery, []byte(fmt.Sprintf("v%d query %s at %d", ver, n, step))))
		}
		for _, m := range numbers {
			var got Snapshot
			ok, err := cu.Snapshot("IN", m, testViewVersion, &got)
			if err != nil {
				t.Fatalf("step %d (%s): snapshot of %s: %v", step, what, m, err)
			}
			want, wantOK := snapshotFromSources(t, db, "IN", m)
			if !ok {
				got.Used = nil // without a view, Snapshot reads no utilisation
			}
			if !wantOK {
				want.Used = nil
			}
			if len(got.Used) == 0 {
				got.Used = nil
			}
			got.head, want.head = viewHead{}, viewHead{} // the working memory
			if ok != wantOK || !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d (%s): snapshot of %s\n got %v %+v\nwant %v %+v", step, what, m, ok, got, wantOK, want)
			}
			if ok && got.HasStatus {
				headed++
			}
			if ok && len(got.Used) > 0 {
				usedSeen++
			}
		}
		if step%50 == 49 {
			mustNil(t, "check", db.Check(ctx))
		}
	}
	if headed < 100 || usedSeen < 100 {
		t.Fatalf("only %d snapshots had a status and %d a utilisation: the sequence proves little", headed, usedSeen)
	}
	st := db.ViewIndexStats()
	switch {
	case viewMemory == 0 && st != (ViewIndexStats{}):
		t.Fatalf("no index was asked for, yet %+v", st)
	case viewMemory > 0 && (st.Views != len(numbers) || st.Misses > 400):
		// A miss is a certificate without a view yet (the first steps).
		t.Fatalf("the index did not serve the checks: %+v", st)
	}
}

// TestLegacyViewValue: a view stored before check heads (be64(basedOn)
// and the view) is read by the inbox and status lookups, stays in that
// layout when messages and statuses arrive, is rewritten with a head when
// the view is put again, and passes DB.Check throughout.
func TestLegacyViewValue(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	cu, in := db.Customs(), db.Inbox()
	if _, err := in.Accept(ctx, InRecord{ID: "m1", From: "IN", CertNumber: "C1", Version: 1, Kind: "issue", Content: []byte("x"), Outcome: StateDelivered,
		StatusChanges: []StatusChange{{Country: "IN", Number: "C1", Version: 1, Status: CertIssued}}}); err != nil {
		t.Fatal(err)
	}
	legacy := append(be64(1), "v1 legacy"...)
	mustNil(t, "write legacy", db.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketRW(tx, bktCuView)
		if err != nil {
			return err
		}
		return b.Put(key([]byte("IN"), []byte("C1")), legacy)
	}))
	raw := func() []byte {
		var v []byte
		mustNil(t, "read", db.view(func(tx *bolt.Tx) error {
			v = append(v, tx.Bucket([]byte(bktCuView)).Get(key([]byte("IN"), []byte("C1")))...)
			return nil
		}))
		return v
	}
	var s Snapshot
	if ok, err := cu.Snapshot("IN", "C1", testViewVersion, &s); !ok || err != nil || s.Stale || string(s.View) != "v1 legacy" || s.Status != CertIssued {
		t.Fatalf("legacy snapshot %v %v %+v", ok, err, s)
	}
	if _, _, err := in.ApplyStatus(ctx, StatusChange{Country: "IN", Number: "C1", Version: 1, Status: CertWithdrawn}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Accept(ctx, InRecord{ID: "m2", From: "IN", CertNumber: "C1", Version: 1, Kind: "withdraw", Content: []byte("y"), Outcome: StateDelivered}); err != nil {
		t.Fatal(err)
	}
	if string(raw()) != string(legacy) {
		t.Fatalf("a legacy value was rewritten by the inbox: %q", raw())
	}
	if ok, err := cu.Snapshot("IN", "C1", testViewVersion, &s); !ok || err != nil || !s.Stale || s.LatestSeq != 2 || s.Status != CertWithdrawn {
		t.Fatalf("legacy snapshot after a withdrawal %v %v %+v", ok, err, s)
	}
	mustNil(t, "check", db.Check(ctx))
	mustNil(t, "put", cu.PutView(ctx, "IN", "C1", 0, []byte("v1 rebuilt")))
	if v := raw(); binary.BigEndian.Uint64(v) != headMarker || !strings.HasSuffix(string(v), "v1 rebuilt") {
		t.Fatalf("a view put again has no head: %q", v)
	}
	if ok, err := cu.Snapshot("IN", "C1", testViewVersion, &s); !ok || err != nil || s.Stale || s.LatestSeq != 2 || s.Status != CertWithdrawn {
		t.Fatalf("headed snapshot %v %v %+v", ok, err, s)
	}
	mustNil(t, "check", db.Check(ctx))
}

// TestCheckFindsAStaleHead: DB.Check reports a head that the inbox no
// longer matches (written behind the store's back).
func TestCheckFindsAStaleHead(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	mustNil(t, "put", db.Customs().PutView(ctx, "IN", "C1", 0, []byte("v1 view")))
	mustNil(t, "check", db.Check(ctx))
	mustNil(t, "sneak", db.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bktCertState)).Put(certKey("IN", "C1", 1), []byte(`{"country":"IN","number":"C1","version":1,"status":"withdrawn"}`))
	}))
	err := db.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "IN/C1") || !strings.Contains(err.Error(), "head") {
		t.Fatalf("Check: %v", err)
	}
	// Put right for the cleanup's check.
	mustNil(t, "repair", db.update(ctx, func(tx *bolt.Tx) error { return refreshHead(tx, "IN", "C1") }))
}

// FuzzParseViewValue: any bytes parse to an error or to a head and view
// that parse again, re-encoded, to the same head and view; never a panic.
func FuzzParseViewValue(f *testing.F) {
	h := viewHead{basedOn: 3, latest: 4, statuses: []headStatus{{1, CertIssued, ""}, {2, CertReplaced, "X/3"}}, used: []Used{{1, 5e9}, {3, 7}}}
	f.Add(appendViewValue(nil, &h, []byte("v1 view")))
	f.Add(append(be64(7), "legacy"...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h viewHead
		view, headed, err := parseViewValue(b, &h)
		if err != nil || !headed {
			return
		}
		again := appendViewValue(nil, &h, view)
		if len(again) > len(b) || !bytes.Equal(again[len(again)-len(view):], view) {
			t.Fatalf("re-encoded value %x is not a head before the view %x", again, view)
		}
		var h2 viewHead
		view2, headed2, err := parseViewValue(again, &h2)
		if err != nil || !headed2 || !bytes.Equal(view2, view) || !reflect.DeepEqual(h2, h) {
			t.Fatalf("re-encoded value parses to %+v %q (%v), want %+v %q", h2, view2, err, h, view)
		}
	})
}

// TestUpgradeViewHeads: a file whose views were stored before check heads
// (written here the old way, and its meta mark removed) gets a head on
// every view in the background after Open, each equal to what the inbox
// holds; the mark is set, so the next Open does nothing.
func TestUpgradeViewHeads(t *testing.T) {
	db, path := openTest(t, newFakeClock())
	ctx := context.Background()
	in := db.Inbox()
	const n = 2*headBatch + 7
	for i := range 3 {
		if _, err := in.Accept(ctx, InRecord{ID: fmt.Sprint("m", i), From: "IN", CertNumber: fmt.Sprint("C", i), Version: 1, Kind: "issue", Content: []byte{byte(i)}, Outcome: StateDelivered,
			StatusChanges: []StatusChange{{Country: "IN", Number: fmt.Sprint("C", i), Version: 1, Status: CertWithdrawn}}}); err != nil {
			t.Fatal(err)
		}
	}
	mustNil(t, "legacy views", db.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucketRW(tx, bktCuView)
		if err != nil {
			return err
		}
		for i := range n {
			if err := b.Put(key([]byte("IN"), []byte(fmt.Sprint("C", i))), append(be64(0), fmt.Sprintf("v1 old %d", i)...)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte(bktMeta)).Put([]byte(schemaKey), []byte("1")) // before heads
	}))
	mustNil(t, "close", db.Close())
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var mark []byte
		mustNil(t, "mark", db2.view(func(tx *bolt.Tx) error {
			mark = tx.Bucket([]byte(bktMeta)).Get([]byte(viewHeadsKey))
			return nil
		}))
		if string(mark) == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the views were not upgraded in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	legacy := 0
	mustNil(t, "scan", db2.view(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bktCuView)).ForEach(func(k, v []byte) error {
			if binary.BigEndian.Uint64(v) != headMarker {
				legacy++
			}
			return nil
		})
	}))
	if legacy != 0 {
		t.Fatalf("%d views still without a head", legacy)
	}
	mustNil(t, "schema", db2.view(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket([]byte(bktMeta)).Get([]byte(schemaKey))); v != fmt.Sprint(SchemaVersion) {
			return fmt.Errorf("schema %q after the upgrade, want %d (an older ecogate must refuse the file)", v, SchemaVersion)
		}
		return nil
	}))
	mustNil(t, "check", db2.Check(ctx))
	var s Snapshot
	if ok, err := db2.Customs().Snapshot("IN", "C1", testViewVersion, &s); !ok || err != nil || !s.Stale || s.LatestSeq != 2 || s.Status != CertWithdrawn {
		t.Fatalf("upgraded snapshot %v %v %+v", ok, err, s)
	}
	if ok, err := db2.Customs().Snapshot("IN", "C5", testViewVersion, &s); !ok || err != nil || s.Stale || s.HasStatus || string(s.View) != "v1 old 5" {
		t.Fatalf("upgraded snapshot of a view with no message %v %v %+v", ok, err, s)
	}
}

// TestUnreadableViewReadsAsMissing: a view value too short or with a
// damaged head is read as no view (with the inbox's latest message, so
// the caller builds it again), PutView replaces it, and DB.Check names it
// until then.
func TestUnreadableViewReadsAsMissing(t *testing.T) {
	for name, bad := range map[string][]byte{"short": {1, 2, 3}, "damaged head": append(be64(headMarker), 0xff)} {
		t.Run(name, func(t *testing.T) {
			db, _ := openTest(t, newFakeClock())
			ctx := context.Background()
			if _, err := db.Inbox().Accept(ctx, InRecord{ID: "m1", From: "IN", CertNumber: "C1", Version: 1, Kind: "issue", Content: []byte("x"), Outcome: StateDelivered}); err != nil {
				t.Fatal(err)
			}
			mustNil(t, "damage", db.update(ctx, func(tx *bolt.Tx) error {
				b, err := bucketRW(tx, bktCuView)
				if err != nil {
					return err
				}
				return b.Put(key([]byte("IN"), []byte("C1")), bad)
			}))
			if err := db.Check(ctx); err == nil || !strings.Contains(err.Error(), "IN/C1") {
				t.Fatalf("Check: %v", err)
			}
			var s Snapshot
			if ok, err := db.Customs().Snapshot("IN", "C1", testViewVersion, &s); ok || err != nil || s.LatestSeq != 1 {
				t.Fatalf("snapshot of an unreadable view: %v %v %+v", ok, err, s)
			}
			// Writes about the certificate go on.
			if _, err := db.Inbox().Accept(ctx, InRecord{ID: "m2", From: "IN", CertNumber: "C1", Version: 1, Kind: "withdraw", Content: []byte("y"), Outcome: StateDelivered,
				StatusChanges: []StatusChange{{Country: "IN", Number: "C1", Version: 1, Status: CertWithdrawn}}}); err != nil {
				t.Fatalf("accept beside an unreadable view: %v", err)
			}
			if _, err := db.Customs().Decide(ctx, Decision{Country: "IN", Number: "C1", Version: 1, DeclarationRef: "D1", Fingerprint: "f",
				Items: []DecisionItem{{Seq: 1, PreferenceGiven: true, Use: 1, Limit: 10}}}, nil); err != nil {
				t.Fatalf("decision beside an unreadable view: %v", err)
			}
			mustNil(t, "rebuild", db.Customs().PutView(ctx, "IN", "C1", 0, []byte("v1 rebuilt")))
			if ok, err := db.Customs().Snapshot("IN", "C1", testViewVersion, &s); !ok || err != nil || s.Stale || string(s.View) != "v1 rebuilt" || s.Status != CertWithdrawn || len(s.Used) != 1 {
				t.Fatalf("snapshot after the rebuild: %v %v %+v", ok, err, s)
			}
			mustNil(t, "check", db.Check(ctx))
		})
	}
}
