package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ecogate/ecogate/issuance"
)

// fillStore writes some of every kind of record into a store through its
// public API.
func fillStore(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	for i := range 30 {
		m := msg(fmt.Sprintf("m%d", i), "VN", fmt.Sprintf("C%d", i), 1, "issue", fmt.Sprintf("doc %d %0300d", i, i))
		mustNil(t, "enqueue", db.Outbox().EnqueueRegistered(ctx, []IssuedCert{{Country: "IN", Number: m.CertNumber, Data: []byte(`{"x":1}`)}},
			[]Entry{{Actor: "t", Action: "send", Subject: m.ID}}, m))
		_, err := db.Inbox().AcceptAudited(ctx, InRecord{ID: fmt.Sprintf("in%d", i), From: "VN", CertNumber: fmt.Sprintf("V%d", i), Version: 1, Kind: "issue",
			Content: []byte(fmt.Sprintf("in %d", i)), StatusChanges: []StatusChange{{Country: "VN", Number: fmt.Sprintf("V%d", i), Version: 1, Status: CertWithdrawn}}},
			[]Entry{{Actor: "t", Action: "receive", Subject: fmt.Sprintf("in%d", i)}})
		mustNil(t, "accept", err)
	}
	c := db.Customs()
	mustNil(t, "client", c.AddClient(ctx, CustomsClient{ID: "cl", SecretHash: fmt.Sprintf("%064x", 7)}))
	mustNil(t, "cert client", c.AddClient(ctx, CustomsClient{ID: "cm", CertSHA256: fmt.Sprintf("%064x", 8)}))
	mustNil(t, "revoked cert client", c.AddClient(ctx, CustomsClient{ID: "cr", CertSHA256: fmt.Sprintf("%064x", 9)}))
	mustNil(t, "revoke cert client", c.RevokeClient(ctx, "cr"))
	mustNil(t, "client in renewal", c.AddClient(ctx, CustomsClient{ID: "cn", CertSHA256: fmt.Sprintf("%064x", 10)}))
	_, err := c.RenewClientCert(ctx, "cn", ClientCert{SHA256: fmt.Sprintf("%064x", 11), Subject: "CN=next"})
	mustNil(t, "renew", err)
	mustNil(t, "view", c.PutView(ctx, "VN", "V1", 0, []byte("view")))
	_, err = c.Decide(ctx, Decision{Country: "VN", Number: "V1", Version: 1, DeclarationRef: "D", Fingerprint: "f", Items: []DecisionItem{{Seq: 3, Use: 1, Limit: 5}}}, nil)
	mustNil(t, "decide", err)
	mustNil(t, "answer", c.PutQueryAnswer(ctx, "TH", "T1", newFakeClock().Now(), []byte("jws")))
	_, err = db.Issued().AddDecision(ctx, ReceivedDecision{MessageID: "d1", From: "VN", Number: "C1"})
	mustNil(t, "decision", err)
	_, err = db.Issued().Import(ctx, ImportedCert{Country: "IN", Number: "OLD-1", Doc: []byte("<eco/>")})
	mustNil(t, "import", err)
	mustNil(t, "issuance", db.Issuance().Update(ctx, func(tx issuance.Tx) error {
		if err := tx.PutPerson(&issuance.Person{ID: "p", Org: "IEC"}); err != nil {
			return err
		}
		if err := tx.(issuance.ImageTx).PutImage(&issuance.Image{Kind: issuance.ImageStamp, Owner: "o", ContentType: "image/png", Size: 3}, []byte("png")); err != nil {
			return err
		}
		return tx.AddMovement(&issuance.Movement{IEC: "IEC", Office: "o", Amount: 5, Reason: "r"})
	}))
	now := newFakeClock().Now()
	for _, u := range []string{"alice", "bob"} {
		mustNil(t, "portal user", db.Portal().PutUser(ctx, &PortalUser{Name: u, Hash: "$argon2id$x", Person: "p", Role: "applicant", Created: now}))
	}
	mustNil(t, "portal session", db.Portal().PutSession(ctx, "sid-1", &PortalSession{User: "alice", CSRF: "c", Created: now, Expires: now.Add(time.Hour)}))
}

// TestCopyToPG copies a bbolt store into PostgreSQL, checks what the
// PostgreSQL engine answers, and that a second run (a resumed copy) adds
// nothing and still verifies.
func TestCopyToPG(t *testing.T) {
	db, _ := openTest(t, nil)
	fillStore(t, db)
	pg := openPGTest(t, nil)
	ctx := context.Background()
	rep, err := CopyToPG(ctx, db, pg, nil)
	if err != nil {
		t.Fatalf("copy: %v (%+v)", err, rep)
	}
	want := map[string]int{"outbox": 30, "inbox": 30, "issued": 31, "cert_status": 30, "audit": 60, "cu_client": 4, "cu_client_cert": 3, "cu_view": 1,
		"cu_util": 1, "cu_decl": 1, "cu_query": 1, "issued_decisions": 1, "issued_docs": 1, "portal_user": 2, "portal_session": 1}
	for _, c := range rep.Counts {
		if w, ok := want[c.Table]; ok && (c.Source != w || c.Destination != w) {
			t.Errorf("%s: %+v, want %d", c.Table, c, w)
		}
	}
	if rep.AuditEntries != 60 {
		t.Errorf("audit entries %d", rep.AuditEntries)
	}
	// The PostgreSQL engine reads what was copied.
	r, err := pg.Outbox().Get(ctx, "m7")
	if err != nil || r.CertNumber != "C7" || string(r.Content) != fmt.Sprintf("doc %d %0300d", 7, 7) {
		t.Fatalf("outbox m7: %+v %v", r, err)
	}
	in, err := pg.Inbox().Get(ctx, "in3")
	if err != nil || string(in.Content) != "in 3" {
		t.Fatalf("inbox in3: %+v %v", in, err)
	}
	reg, _ := db.Issued().Get(ctx, "C5")
	if got, err := pg.Issued().ByToken(ctx, reg.Token); err != nil || got.Number != "C5" {
		t.Fatalf("by token: %+v %v", got, err)
	}
	if cl, err := pg.Customs().ClientByCert(ctx, fmt.Sprintf("%064x", 8)); err != nil || cl.ID != "cm" {
		t.Fatalf("certificate binding: %+v %v", cl, err)
	}
	if _, err := pg.Customs().ClientByCert(ctx, fmt.Sprintf("%064x", 9)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the binding of a revoked client was copied: %v", err)
	}
	for _, n := range []int{10, 11} { // both certificates of a renewal in progress
		if cl, err := pg.Customs().ClientByCert(ctx, fmt.Sprintf("%064x", n)); err != nil || cl.ID != "cn" || cl.NextCertSubject != "CN=next" {
			t.Fatalf("certificate %d of a renewal: %+v %v", n, cl, err)
		}
	}
	var s Snapshot
	if ok, err := pg.Customs().Snapshot("VN", "V1", func([]byte) int { return 1 }, &s); err != nil || !ok || s.Stale || s.Status != CertWithdrawn || len(s.Used) != 1 {
		t.Fatalf("snapshot: %v %v %+v", ok, err, s)
	}
	if doc, _, err := pg.Issued().Document(ctx, "OLD-1", 0); err != nil || string(doc) != "<eco/>" {
		t.Fatalf("document: %q %v", doc, err)
	}
	mustNil(t, "issuance", pg.Issuance().View(ctx, func(tx issuance.Tx) error {
		if bal, _ := tx.Balance("IEC", "o"); bal != 5 {
			return fmt.Errorf("balance %d", bal)
		}
		if _, err := tx.Person("p"); err != nil {
			return err
		}
		img, data, err := tx.(issuance.ImageTx).Image(issuance.ImageStamp, "o")
		if err != nil || img.ContentType != "image/png" || string(data) != "png" {
			return fmt.Errorf("stamp image: %+v %q %v", img, data, err)
		}
		return nil
	}))
	if u, err := pg.Portal().User(ctx, "bob"); err != nil || u.Role != "applicant" {
		t.Fatalf("portal user: %+v %v", u, err)
	}
	if s, err := pg.Portal().Session(ctx, "sid-1"); err != nil || s.User != "alice" {
		t.Fatalf("portal session: %+v %v", s, err)
	}
	// New work continues the sequences and the chain.
	mustNil(t, "enqueue after copy", pg.Outbox().Enqueue(ctx, msg("new", "VN", "N", 1, "issue", "x")))
	if _, err := pg.Audit().Append(ctx, Entry{Actor: "t", Action: "a", Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	if n, err := pg.Audit().Verify(ctx); err != nil || n != 61 {
		t.Fatalf("chain after copy: %d %v", n, err)
	}
	// A copy into a database that has moved on is refused by the counts.
	if _, err := CopyToPG(ctx, db, pg, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("copy into a database with more records: %v", err)
	}
}

// TestCopyToPGResumes: a copy that stopped half way (rows missing) is
// completed by running it again.
func TestCopyToPGResumes(t *testing.T) {
	db, _ := openTest(t, nil)
	fillStore(t, db)
	pg := openPGTest(t, nil)
	ctx := context.Background()
	if _, err := CopyToPG(ctx, db, pg, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DELETE FROM audit WHERE seq > 20", "UPDATE audit_head SET seq = 20, hash = (SELECT hash FROM audit WHERE seq = 20)",
		"DELETE FROM outbox WHERE seq > 10", "DELETE FROM isu_kv", "DELETE FROM portal_user WHERE name = 'bob'"} {
		if _, err := pg.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := CopyToPG(ctx, db, pg, nil)
	if err != nil || rep.AuditEntries != 60 {
		t.Fatalf("resumed copy: %v %+v", err, rep)
	}
}
