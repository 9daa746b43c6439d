package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// txAlias lets tests name bbolt's transaction type briefly.
type txAlias = bolt.Tx

func inRec(id, from, cert string, version int, kind, content string) InRecord {
	return InRecord{ID: id, From: from, CertNumber: cert, Version: version, Kind: kind, Content: []byte(content)}
}

// TestInboxDeduplication checks each duplicate and conflict case of Accept,
// in sequence against one store.
func TestInboxDeduplication(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	in, ctx := db.Inbox(), context.Background()
	first := inRec("m1", "SG", "CO-1", 1, "issue", "<signed/>")
	first.Outcome, first.Receipt = StateDelivered, []byte("receipt-1")
	if ex, err := in.Accept(ctx, first); ex != nil || err != nil {
		t.Fatalf("first Accept: %v %v", ex, err)
	}
	tests := []struct {
		name       string
		rec        InRecord
		wantErr    error
		wantExisID string // "" means new
	}{
		{"same id same content", inRec("m1", "SG", "CO-1", 1, "issue", "<signed/>"), nil, "m1"},
		{"same id other content", inRec("m1", "SG", "CO-1", 1, "issue", "<forged/>"), ErrConflict, "m1"},
		{"same id from another sender", inRec("m1", "TH", "CO-1", 1, "issue", "<signed/>"), ErrConflict, "m1"},
		{"new id same certificate version kind and content", inRec("m1-retry", "SG", "CO-1", 1, "issue", "<signed/>"), nil, "m1"},
		{"new id same certificate version kind, other content", inRec("m9", "SG", "CO-1", 1, "issue", "<other/>"), ErrConflict, "m1"},
		{"same certificate, new version", inRec("m2", "SG", "CO-1", 2, "issue", "<v2/>"), nil, ""},
		{"same certificate, withdrawal", inRec("m3", "SG", "CO-1", 1, "withdraw", "<w/>"), nil, ""},
		{"same number from another country", inRec("m4", "TH", "CO-1", 1, "issue", "<signed/>"), nil, ""},
		{"unreadable message without certificate", InRecord{ID: "m5", From: "SG", Content: []byte("garbage")}, nil, ""},
		{"empty id", inRec("", "SG", "CO-1", 1, "issue", "x"), ErrInvalid, ""},
		{"empty sender", inRec("m6", "", "CO-1", 1, "issue", "x"), ErrInvalid, ""},
		{"bad outcome", InRecord{ID: "m7", From: "SG", Outcome: StateQueued}, ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, err := in.Accept(ctx, tt.rec)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			switch {
			case tt.wantExisID == "" && ex != nil:
				t.Fatalf("got existing %s, want a new record", ex.ID)
			case tt.wantExisID != "" && (ex == nil || ex.ID != tt.wantExisID):
				t.Fatalf("existing %+v, want %s", ex, tt.wantExisID)
			case tt.wantExisID == "m1" && string(ex.Receipt) != "receipt-1":
				t.Fatalf("duplicate did not get the original receipt: %q", ex.Receipt)
			}
		})
	}
	if _, err := in.Get(ctx, "m1-retry"); !errors.Is(err, ErrNotFound) {
		t.Errorf("duplicate by natural key created a record: %v", err)
	}
	got, _ := in.ByCertificate(ctx, "SG", "CO-1")
	var gotIDs []string
	for _, r := range got {
		gotIDs = append(gotIDs, r.ID)
	}
	if !reflect.DeepEqual(gotIDs, []string{"m1", "m2", "m3"}) {
		t.Errorf("ByCertificate: %v", gotIDs)
	}
	r, err := in.Get(ctx, "m1")
	if err != nil || string(r.Content) != "<signed/>" {
		t.Errorf("Get: %v %v", r, err)
	}
}

// TestInboxReceiptFirstWins: concurrent SetReceipt calls for one message all
// return the same, first stored receipt.
func TestInboxReceiptFirstWins(t *testing.T) {
	db, _ := openTest(t, nil)
	in, ctx := db.Inbox(), context.Background()
	if _, err := in.Accept(ctx, inRec("m1", "SG", "CO-1", 1, "issue", "x")); err != nil {
		t.Fatal(err)
	}
	if l, _ := in.List(ctx, "", 0); len(l) != 1 {
		t.Fatalf("pending receipts: %d", len(l))
	}
	var wg sync.WaitGroup
	got := make([]string, 10)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := in.SetReceipt(ctx, "m1", StateDeliveredWithWarnings, []byte{byte('a' + i)})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = string(r.Receipt)
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] || g == "" {
			t.Fatalf("receipts differ: %q", got)
		}
	}
	if l, _ := in.List(ctx, StateDeliveredWithWarnings, 0); len(l) != 1 {
		t.Errorf("List by outcome: %d", len(l))
	}
	if _, err := in.SetReceipt(ctx, "nope", StateDelivered, []byte("r")); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetReceipt unknown: %v", err)
	}
}

// TestCertificateStatusInOrder: the lifecycle rules of status records.
func TestCertificateStatusInOrder(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	in, ctx := db.Inbox(), context.Background()
	issue := inRec("m1", "SG", "CO-1", 1, "issue", "i")
	issue.StatusChanges = []StatusChange{{Country: "SG", Number: "CO-1", Version: 1, Status: CertIssued}}
	if _, err := in.Accept(ctx, issue); err != nil {
		t.Fatal(err)
	}
	// A duplicate of the issue applies nothing again.
	if _, err := in.Accept(ctx, issue); err != nil {
		t.Fatal(err)
	}
	repl := inRec("m2", "SG", "CO-1", 2, "replace", "r")
	repl.StatusChanges = []StatusChange{
		{Country: "SG", Number: "CO-1", Version: 1, Status: CertReplaced, ReplacedBy: "CO-1/2"},
		{Country: "SG", Number: "CO-1", Version: 2, Status: CertIssued},
	}
	if _, err := in.Accept(ctx, repl); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		c           StatusChange
		wantChanged bool
		wantStatus  CertState
		wantErr     error
	}{
		{StatusChange{Country: "SG", Number: "CO-1", Version: 1, Status: CertIssued}, false, CertReplaced, nil},
		{StatusChange{Country: "SG", Number: "CO-1", Version: 1, Status: CertWithdrawn}, false, CertReplaced, nil},
		{StatusChange{Country: "SG", Number: "CO-1", Version: 2, Status: CertWithdrawn}, true, CertWithdrawn, nil},
		{StatusChange{Country: "SG", Number: "CO-1", Version: 2, Status: CertIssued}, false, CertWithdrawn, nil},
		{StatusChange{Country: "SG", Number: "CO-9", Version: 1, Status: CertWithdrawn}, true, CertWithdrawn, nil},
		{StatusChange{Country: "SG", Number: "CO-1", Version: 3, Status: CertReplaced}, false, "", ErrInvalid},
		{StatusChange{Country: "SG", Number: "CO-1", Version: 3, Status: "lost"}, false, "", ErrInvalid},
		{StatusChange{Country: "", Number: "CO-1", Version: 3, Status: CertIssued}, false, "", ErrInvalid},
	}
	for i, s := range steps {
		st, changed, err := in.ApplyStatus(ctx, s.c)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Errorf("step %d: err %v, want %v", i, err, s.wantErr)
			}
			continue
		}
		if err != nil || changed != s.wantChanged || st.Status != s.wantStatus {
			t.Errorf("step %d: %+v changed=%v err=%v; want %s changed=%v", i, st, changed, err, s.wantStatus, s.wantChanged)
		}
	}
	all, err := in.CertStatuses(ctx, "SG", "CO-1")
	if err != nil || len(all) != 2 || all[0].Status != CertReplaced || all[0].ReplacedBy != "CO-1/2" || len(all[0].History) != 2 || all[0].History[1].MessageID != "m2" {
		t.Fatalf("CertStatuses: %+v %v", all, err)
	}
}
