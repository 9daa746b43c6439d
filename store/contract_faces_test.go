package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/issuance"
)

// The contract suite, continued: the stores `ecogate serve` needs beside
// the exchange (customs views and decisions, imported documents, the
// issuance records), the same assertions on both engines.

type cCustoms interface {
	AddClient(ctx context.Context, cl CustomsClient) error
	Client(ctx context.Context, id string) (*CustomsClient, error)
	Clients(ctx context.Context) ([]CustomsClient, error)
	ClientByCert(ctx context.Context, fingerprint string) (*CustomsClient, error)
	RevokeClient(ctx context.Context, id string) error
	RenewClientCert(ctx context.Context, id string, next ClientCert) (*CustomsClient, error)
	FinishClientRenewal(ctx context.Context, id, next string) (*CustomsClient, error)
	PutView(ctx context.Context, country, number string, basedOn uint64, view []byte, chain ...[]byte) error
	Chain(ctx context.Context, sha256Hex string) ([]byte, error)
	Snapshot(country, number string, versionOf func(view []byte) int, dst *Snapshot) (bool, error)
	Decide(ctx context.Context, d Decision, msg *OutMessage) (*Decision, error)
	Decisions(ctx context.Context, country, number string) ([]Decision, error)
	PutQueryAnswer(ctx context.Context, country, number string, fetched time.Time, answer []byte) error
	QueryAnswer(ctx context.Context, country, number string) ([]byte, time.Time, error)
}

type cImports interface {
	Import(ctx context.Context, c ImportedCert) (bool, error)
	Document(ctx context.Context, number string, version int) ([]byte, *IssuedDoc, error)
	Get(ctx context.Context, number string) (*IssuedCert, error)
}

type facesEngine struct {
	engine
	customs  cCustoms
	imports  cImports
	issuance issuance.Store
	// enqueueRegistered is the issue path's register+outbox+audit inside
	// an issuance transaction.
	enqueueRegistered func(tx issuance.Tx, reg []IssuedCert, audit []Entry, msgs ...OutMessage) error
}

func eachFacesEngine(t *testing.T, fn func(t *testing.T, e facesEngine)) {
	t.Run("bbolt", func(t *testing.T) {
		c := newFakeClock()
		db, _ := openTest(t, c)
		fn(t, facesEngine{engine{db.Outbox(), db.Inbox(), db.Audit(), db.Issued(), c}, db.Customs(), db.Issued(), db.Issuance(),
			func(tx issuance.Tx, reg []IssuedCert, audit []Entry, msgs ...OutMessage) error {
				return db.Outbox().EnqueueRegisteredTx(tx.(*IssuanceTx).Bolt(), reg, audit, msgs...)
			}})
	})
	t.Run("postgres", func(t *testing.T) {
		c := newFakeClock()
		pg := openPGTest(t, c)
		fn(t, facesEngine{engine{pg.Outbox(), pg.Inbox(), pg.Audit(), pg.Issued(), c}, pg.Customs(), pg.Issued(), pg.Issuance(),
			func(tx issuance.Tx, reg []IssuedCert, audit []Entry, msgs ...OutMessage) error {
				return tx.(*PGIssuanceTx).EnqueueRegistered(reg, audit, msgs...)
			}})
	})
}

func TestContractCustomsClients(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		h := fmt.Sprintf("%064x", 1)
		mustNil(t, "add b", e.customs.AddClient(ctx, CustomsClient{ID: "b", Name: "B", SecretHash: h}))
		mustNil(t, "add a", e.customs.AddClient(ctx, CustomsClient{ID: "a", Name: "A", SecretHash: h}))
		if err := e.customs.AddClient(ctx, CustomsClient{ID: "a", SecretHash: h}); !errors.Is(err, ErrConflict) {
			t.Fatalf("add a again: %v, want ErrConflict", err)
		}
		if err := e.customs.AddClient(ctx, CustomsClient{ID: "c", SecretHash: "short"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad hash: %v, want ErrInvalid", err)
		}
		if _, err := e.customs.Client(ctx, "zz"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing client: %v", err)
		}
		mustNil(t, "revoke", e.customs.RevokeClient(ctx, "a"))
		mustNil(t, "revoke twice", e.customs.RevokeClient(ctx, "a"))
		if err := e.customs.RevokeClient(ctx, "zz"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoke missing: %v", err)
		}
		cl, err := e.customs.Client(ctx, "a")
		mustNil(t, "get a", err)
		if cl.Revoked.IsZero() || cl.Name != "A" || !cl.Created.Equal(e.clock.Now()) {
			t.Fatalf("client a = %+v", cl)
		}
		all, err := e.customs.Clients(ctx)
		mustNil(t, "list", err)
		if len(all) != 2 || all[0].ID != "a" || all[1].ID != "b" {
			t.Fatalf("clients = %+v", all)
		}
	})
}

// TestContractCustomsCertClients: clients bound to a client certificate
// (mutual TLS) are found by its fingerprint while active; a certificate is
// bound to one active client at a time; revoking frees it.
func TestContractCustomsCertClients(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		fp1, fp2 := fmt.Sprintf("%064x", 0xa1), fmt.Sprintf("%064x", 0xb2)
		for _, tc := range []struct {
			name string
			cl   CustomsClient
			want error
		}{
			{"cert only", CustomsClient{ID: "m1", Name: "M1", CertSHA256: fp1, Scopes: []string{"customs:check"}}, nil},
			{"secret and cert", CustomsClient{ID: "m2", Name: "M2", SecretHash: fp1, CertSHA256: fp2}, nil},
			{"same cert again", CustomsClient{ID: "m3", Name: "M3", CertSHA256: fp1}, ErrConflict},
			{"same id", CustomsClient{ID: "m1", Name: "M1", CertSHA256: fmt.Sprintf("%064x", 3)}, ErrConflict},
			{"neither secret nor cert", CustomsClient{ID: "m4", Name: "M4"}, ErrInvalid},
			{"upper-case fingerprint", CustomsClient{ID: "m5", CertSHA256: strings.Repeat("A", 64)}, ErrInvalid},
			{"short fingerprint", CustomsClient{ID: "m6", CertSHA256: "abcd"}, ErrInvalid},
		} {
			if err := e.customs.AddClient(ctx, tc.cl); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("%s: add = %v, want %v", tc.name, err, tc.want)
			}
		}
		cl, err := e.customs.ClientByCert(ctx, fp1)
		if err != nil || cl.ID != "m1" || cl.CertSHA256 != fp1 || len(cl.Scopes) != 1 || cl.SecretHash != "" {
			t.Fatalf("by cert 1: %+v %v", cl, err)
		}
		if cl, err = e.customs.ClientByCert(ctx, fp2); err != nil || cl.ID != "m2" {
			t.Fatalf("by cert 2: %+v %v", cl, err)
		}
		if _, err := e.customs.ClientByCert(ctx, fmt.Sprintf("%064x", 9)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown cert: %v", err)
		}
		mustNil(t, "revoke m1", e.customs.RevokeClient(ctx, "m1"))
		if _, err := e.customs.ClientByCert(ctx, fp1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cert of a revoked client: %v", err)
		}
		if cl, err = e.customs.Client(ctx, "m1"); err != nil || cl.CertSHA256 != fp1 || cl.Revoked.IsZero() {
			t.Fatalf("revoked client keeps its binding on record: %+v %v", cl, err)
		}
		// A revoked client's certificate is never bound again (its key
		// may be compromised): not to a new client, not by a renewal.
		if err := e.customs.AddClient(ctx, CustomsClient{ID: "m7", Name: "M7", CertSHA256: fp1}); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("rebind a revoked client's certificate: %v", err)
		}
		if _, err := e.customs.RenewClientCert(ctx, "m2", ClientCert{SHA256: fp1, Subject: "CN=m1"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("renew to a revoked client's certificate: %v", err)
		}
		if _, err := e.customs.ClientByCert(ctx, fp1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused binding took effect: %v", err)
		}
		if _, err := e.customs.Client(ctx, "m7"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused client was stored: %v", err)
		}
		// A client stored revoked (a copy) binds nothing.
		mustNil(t, "add revoked", e.customs.AddClient(ctx, CustomsClient{ID: "m8", CertSHA256: fp2, Revoked: e.clock.Now()}))
		if cl, err = e.customs.ClientByCert(ctx, fp2); err != nil || cl.ID != "m2" {
			t.Fatalf("a revoked record took the binding: %+v %v", cl, err)
		}
	})
}

// TestContractCustomsCertRenewal: a certificate client renewed holds its
// current and its next certificate (both find it) until the renewal
// finishes; conflicts, revoked clients and bad requests change nothing.
func TestContractCustomsCertRenewal(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		fp := func(n int) string { return fmt.Sprintf("%064x", n) }
		add := func(cl CustomsClient) { mustNil(t, "add "+cl.ID, e.customs.AddClient(ctx, cl)) }
		add(CustomsClient{ID: "r1", Name: "R1", CertSHA256: fp(1), Scopes: []string{"customs:check"}})
		add(CustomsClient{ID: "r2", Name: "R2", CertSHA256: fp(2)})
		add(CustomsClient{ID: "s1", Name: "S1", SecretHash: fp(3)})
		add(CustomsClient{ID: "gone", Name: "Gone", CertSHA256: fp(4)})
		mustNil(t, "revoke", e.customs.RevokeClient(ctx, "gone"))
		nc := func(n int) ClientCert {
			return ClientCert{SHA256: fp(n), Subject: fmt.Sprintf("CN=c%d", n), NotAfter: e.clock.Now().Add(time.Hour)}
		}
		for _, tc := range []struct {
			name    string
			id      string
			next    ClientCert
			want    error
			pending string // r1's next certificate afterwards
		}{
			{"unknown client", "nobody", nc(10), ErrNotFound, ""},
			{"revoked client", "gone", nc(10), ErrConflict, ""},
			{"secret client", "s1", nc(10), ErrInvalid, ""},
			{"bad fingerprint", "r1", ClientCert{SHA256: "ABC"}, ErrInvalid, ""},
			{"its current certificate", "r1", nc(1), ErrConflict, ""},
			{"another active client's certificate", "r1", nc(2), ErrConflict, ""},
			{"renew", "r1", nc(11), nil, fp(11)},
			{"the same again changes nothing", "r1", nc(11), nil, fp(11)},
			{"another pending certificate replaces it", "r1", nc(12), nil, fp(12)},
			{"a revoked client's certificate is never bound again", "r1", nc(4), ErrConflict, fp(12)},
			{"back to 12", "r1", nc(12), nil, fp(12)},
			{"r2 cannot take r1's next", "r2", nc(12), ErrConflict, fp(12)},
		} {
			before, err := e.customs.RenewClientCert(ctx, tc.id, tc.next)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) || (err == nil) != (before != nil) {
				t.Fatalf("%s: renew = %+v, %v; want %v", tc.name, before, err, tc.want)
			}
			cl, err := e.customs.Client(ctx, "r1")
			if err != nil || cl.NextCertSHA256 != tc.pending || cl.CertSHA256 != fp(1) {
				t.Fatalf("%s: r1 is %+v %v, want next %q", tc.name, cl, err, tc.pending)
			}
		}
		for _, f := range []string{fp(1), fp(12)} {
			if cl, err := e.customs.ClientByCert(ctx, f); err != nil || cl.ID != "r1" || cl.NextCertSubject != "CN=c12" || len(cl.Scopes) != 1 {
				t.Fatalf("during the renewal, by %s: %+v %v", f[60:], cl, err)
			}
		}
		for _, f := range []string{fp(11), fp(4)} { // replaced pending certificates bind nothing
			if _, err := e.customs.ClientByCert(ctx, f); !errors.Is(err, ErrNotFound) {
				t.Fatalf("replaced %s: %v", f[60:], err)
			}
		}
		// Finishing: only the pending certificate's renewal, once.
		if _, err := e.customs.FinishClientRenewal(ctx, "r1", fp(11)); !errors.Is(err, ErrConflict) {
			t.Fatalf("finish another certificate's renewal: %v", err)
		}
		if _, err := e.customs.FinishClientRenewal(ctx, "r2", ""); !errors.Is(err, ErrConflict) {
			t.Fatalf("finish without a renewal: %v", err)
		}
		if _, err := e.customs.FinishClientRenewal(ctx, "nobody", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("finish an unknown client: %v", err)
		}
		before, err := e.customs.FinishClientRenewal(ctx, "r1", fp(12))
		if err != nil || before.CertSHA256 != fp(1) || before.NextCertSHA256 != fp(12) {
			t.Fatalf("finish: %+v %v", before, err)
		}
		if _, err := e.customs.FinishClientRenewal(ctx, "r1", fp(12)); !errors.Is(err, ErrConflict) {
			t.Fatalf("finish twice: %v", err)
		}
		cl, err := e.customs.ClientByCert(ctx, fp(12))
		if err != nil || cl.ID != "r1" || cl.CertSHA256 != fp(12) || cl.CertSubject != "CN=c12" || cl.NextCertSHA256 != "" || !cl.NextCertNotAfter.IsZero() {
			t.Fatalf("after the renewal, by the new certificate: %+v %v", cl, err)
		}
		if _, err := e.customs.ClientByCert(ctx, fp(1)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the old certificate after the renewal: %v", err)
		}
		// The old certificate is free again; a client revoked during a
		// renewal binds neither certificate any more, and neither can be
		// bound again.
		add(CustomsClient{ID: "r3", Name: "R3", CertSHA256: fp(1)})
		if _, err := e.customs.RenewClientCert(ctx, "r3", nc(13)); err != nil {
			t.Fatal(err)
		}
		mustNil(t, "revoke r3", e.customs.RevokeClient(ctx, "r3"))
		for _, f := range []string{fp(1), fp(13)} {
			if _, err := e.customs.ClientByCert(ctx, f); !errors.Is(err, ErrNotFound) {
				t.Fatalf("revoked during a renewal, by %s: %v", f[60:], err)
			}
		}
		if _, err := e.customs.FinishClientRenewal(ctx, "r3", ""); !errors.Is(err, ErrConflict) {
			t.Fatalf("finish a revoked client's renewal: %v", err)
		}
		for _, f := range []string{fp(1), fp(13)} {
			if err := e.customs.AddClient(ctx, CustomsClient{ID: "r4", Name: "R4", CertSHA256: f}); !errors.Is(err, ErrConflict) {
				t.Fatalf("bind %s, held by the revoked r3: %v", f[60:], err)
			}
		}
		// A stored record with a malformed next binding is refused.
		if err := e.customs.AddClient(ctx, CustomsClient{ID: "r5", CertSHA256: fp(20), NextCertSHA256: fp(20)}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("next = current: %v", err)
		}
		// A copied record in renewal binds both, and conflicts as a whole.
		add(CustomsClient{ID: "r6", CertSHA256: fp(21), NextCertSHA256: fp(22)})
		if cl, err := e.customs.ClientByCert(ctx, fp(22)); err != nil || cl.ID != "r6" {
			t.Fatalf("added in renewal: %+v %v", cl, err)
		}
		if err := e.customs.AddClient(ctx, CustomsClient{ID: "r7", CertSHA256: fp(23), NextCertSHA256: fp(21)}); !errors.Is(err, ErrConflict) {
			t.Fatalf("next bound elsewhere: %v", err)
		}
		if _, err := e.customs.ClientByCert(ctx, fp(23)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a refused add left a binding: %v", err)
		}
	})
}

func TestContractCustomsViewsAndDecisions(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		var s Snapshot
		found, err := e.customs.Snapshot("VN", "C1", nil, &s)
		if err != nil || found || s.LatestSeq != 0 {
			t.Fatalf("empty snapshot: %v %v %+v", found, err, s)
		}
		// Signer chains stored once, with the views that refer to them.
		chainA, chainB := bytes.Repeat([]byte("chain A "), 200), []byte("chain B")
		if _, err := e.customs.Chain(ctx, hashHex(chainA)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a chain never stored: %v", err)
		}
		_, err = e.inbox.Accept(ctx, InRecord{ID: "in0", From: "VN", CertNumber: "C0", Version: 1, Kind: "issue", Content: []byte("x0"),
			CheckView: []byte("view-c0"), ViewChain: chainA})
		mustNil(t, "accept with a view and its chain", err)
		mustNil(t, "put view with a chain", e.customs.PutView(ctx, "VN", "C9", 0, []byte("view-c9"), chainB))
		for _, ch := range [][]byte{chainA, chainB} {
			if got, err := e.customs.Chain(ctx, hashHex(ch)); err != nil || !bytes.Equal(got, ch) {
				t.Fatalf("chain %q...: %q %v", ch[:7], got, err)
			}
		}
		// A view stored from the latest message; a newer message makes it stale.
		_, err = e.inbox.Accept(ctx, InRecord{ID: "in1", From: "VN", CertNumber: "C1", Version: 1, Kind: "issue", Content: []byte("x1")})
		mustNil(t, "accept", err)
		mustNil(t, "put view", e.customs.PutView(ctx, "VN", "C1", 0, []byte("view-v1")))
		if err := e.customs.PutView(ctx, "", "C1", 0, []byte("v")); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty country: %v", err)
		}
		ver := func([]byte) int { return 1 }
		found, err = e.customs.Snapshot("VN", "C1", ver, &s)
		if err != nil || !found || s.Stale || string(s.View) != "view-v1" || s.HasStatus {
			t.Fatalf("snapshot: %v %v %+v", found, err, s)
		}
		_, _, err = e.inbox.ApplyStatus(ctx, StatusChange{Country: "VN", Number: "C1", Version: 1, Status: CertWithdrawn, MessageID: "w"})
		mustNil(t, "status", err)
		_, err = e.inbox.Accept(ctx, InRecord{ID: "in2", From: "VN", CertNumber: "C1", Version: 2, Kind: "issue", Content: []byte("x2")})
		mustNil(t, "accept 2", err)
		found, err = e.customs.Snapshot("VN", "C1", ver, &s)
		if err != nil || !found || !s.Stale || !s.HasStatus || s.Status != CertWithdrawn || s.LatestSeq == 0 {
			t.Fatalf("snapshot after a newer message: %v %v %+v", found, err, s)
		}
		// A view from a query answer is fresh while no message arrived.
		mustNil(t, "put query view", e.customs.PutView(ctx, "TH", "Q1", ViewFromQuery, []byte("q")))
		if found, err = e.customs.Snapshot("TH", "Q1", nil, &s); err != nil || !found || s.Stale {
			t.Fatalf("query view: %v %v %+v", found, err, s)
		}

		// Decisions: quantities, duplicates, conflicts, the message queued with it.
		d := Decision{Country: "VN", Number: "C1", Version: 1, DeclarationRef: "D1", Fingerprint: "f1",
			Items: []DecisionItem{{Seq: 1, PreferenceGiven: true, Use: 60, Limit: 100}, {Seq: 2, Use: 5, Limit: 5}}}
		m := msg("dec1", "VN", "C1", 1, "decision", "signed decision")
		res, err := e.customs.Decide(ctx, d, &m)
		mustNil(t, "decide", err)
		if res.Remaining[1] != 40 || res.Remaining[2] != 0 || res.MessageID != "dec1" {
			t.Fatalf("decision = %+v", res)
		}
		if _, err := e.outbox.Get(ctx, "dec1"); err != nil {
			t.Fatalf("decision message not queued: %v", err)
		}
		if res, err := e.customs.Decide(ctx, d, &m); !errors.Is(err, ErrDuplicate) || res == nil || res.DeclarationRef != "D1" {
			t.Fatalf("same decision again: %v %+v", err, res)
		}
		d2 := d
		d2.Fingerprint = "other"
		if _, err := e.customs.Decide(ctx, d2, nil); !errors.Is(err, ErrConflict) {
			t.Fatalf("other decision under D1: %v", err)
		}
		d3 := Decision{Country: "VN", Number: "C1", Version: 1, DeclarationRef: "D0", Fingerprint: "f3",
			Items: []DecisionItem{{Seq: 1, Use: 50, Limit: 100}}}
		var qe *QuantityError
		if _, err := e.customs.Decide(ctx, d3, nil); !errors.As(err, &qe) || qe.Items[0].Remaining != 40 {
			t.Fatalf("over the limit: %v", err)
		}
		d3.Items[0].Use = 40
		_, err = e.customs.Decide(ctx, d3, nil)
		mustNil(t, "decide the rest", err)
		ds, err := e.customs.Decisions(ctx, "VN", "C1")
		mustNil(t, "decisions", err)
		if len(ds) != 2 || ds[0].DeclarationRef != "D0" || ds[1].DeclarationRef != "D1" {
			t.Fatalf("decisions = %+v", ds)
		}
		if _, err = e.customs.Snapshot("VN", "C1", ver, &s); err != nil || len(s.Used) != 2 || s.Used[0] != (Used{1, 100}) || s.Used[1] != (Used{2, 5}) {
			t.Fatalf("used = %+v, %v", s.Used, err)
		}

		// The query cache.
		if _, _, err := e.customs.QueryAnswer(ctx, "TH", "Q1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no answer: %v", err)
		}
		at := e.clock.Now().Add(-time.Minute)
		mustNil(t, "put answer", e.customs.PutQueryAnswer(ctx, "TH", "Q1", at, []byte("jws")))
		ans, got, err := e.customs.QueryAnswer(ctx, "TH", "Q1")
		if err != nil || string(ans) != "jws" || !got.Equal(at) {
			t.Fatalf("answer = %q %v %v", ans, got, err)
		}
	})
}

// TestContractCustomsConcurrentDecisions: decisions racing on one item
// never use more than its limit.
func TestContractCustomsConcurrentDecisions(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := Decision{Country: "VN", Number: "C9", Version: 1, DeclarationRef: fmt.Sprintf("D%d", i), Fingerprint: "f",
					Items: []DecisionItem{{Seq: 1, Use: 30, Limit: 100}}}
				if _, err := e.customs.Decide(ctx, d, nil); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok != 3 {
			t.Fatalf("%d decisions of 30 within a limit of 100, want 3", ok)
		}
	})
}

func TestContractImport(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		c := ImportedCert{Country: "IN", Number: "N1", Version: 0, Doc: []byte("<eco>1</eco>"), Data: []byte(`{"a":1}`), Origin: "legacy"}
		dup, err := e.imports.Import(ctx, c)
		if err != nil || dup {
			t.Fatalf("import: %v %v", dup, err)
		}
		if dup, err = e.imports.Import(ctx, c); err != nil || !dup {
			t.Fatalf("import again: %v %v", dup, err)
		}
		c2 := c
		c2.Doc = []byte("<eco>other</eco>")
		if _, err := e.imports.Import(ctx, c2); !errors.Is(err, ErrConflict) {
			t.Fatalf("other content: %v", err)
		}
		for _, bad := range []ImportedCert{{Number: "", Doc: []byte("x")}, {Number: "N", Version: -1, Doc: []byte("x")}, {Number: "N"},
			{Number: "N", Doc: []byte("x"), Status: CertReplaced}} {
			if _, err := e.imports.Import(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("import %+v: %v, want ErrInvalid", bad, err)
			}
		}
		doc, info, err := e.imports.Document(ctx, "N1", 0)
		if err != nil || string(doc) != "<eco>1</eco>" || info.Size != len(doc) || info.Origin != "legacy" {
			t.Fatalf("document: %q %+v %v", doc, info, err)
		}
		if _, _, err := e.imports.Document(ctx, "N1", 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing version: %v", err)
		}
		// A replacement marks the replaced certificate in the register.
		r := ImportedCert{Country: "IN", Number: "N2", Version: 0, Doc: []byte("<eco>2</eco>"), ReplacesNumber: "N1"}
		_, err = e.imports.Import(ctx, r)
		mustNil(t, "import replacement", err)
		old, err := e.imports.Get(ctx, "N1")
		if err != nil || old.Status != CertReplaced || old.ReplacedBy != "N2" || old.Token == "" {
			t.Fatalf("replaced = %+v, %v", old, err)
		}
	})
}

func TestContractIssuance(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		err := e.issuance.Update(ctx, func(tx issuance.Tx) error {
			for _, p := range []*issuance.Person{{ID: "p2", Org: "IEC1"}, {ID: "p1", Org: "IEC1"}, {ID: "p3", Org: "AG"}} {
				if err := tx.PutPerson(p); err != nil {
					return err
				}
			}
			if err := tx.PutOffice(&issuance.Office{ID: "o1", Agency: "AG"}); err != nil {
				return err
			}
			a := &issuance.Application{ID: "A1", IEC: "IEC1", State: "draft"}
			a.Content.Office = "o1"
			if err := tx.PutApplication(a); err != nil {
				return err
			}
			if err := tx.AddMovement(&issuance.Movement{IEC: "IEC1", Office: "o1", Amount: 100, Reason: "credit"}); err != nil {
				return err
			}
			if err := tx.AddMovement(&issuance.Movement{IEC: "IEC1", Office: "o1", Amount: -30, Reason: "fee"}); err != nil {
				return err
			}
			ext := tx.(issuance.ExtTx)
			if err := ext.PutAttachment(&issuance.Attachment{Application: "A1", SHA256: "ab", Name: "inv.pdf"}, []byte("pdf")); err != nil {
				return err
			}
			return tx.Audit(issuance.AuditEntry{Actor: "t", Action: "create", Subject: "A1"})
		})
		mustNil(t, "update", err)
		// A failing transaction leaves nothing.
		boom := errors.New("boom")
		err = e.issuance.Update(ctx, func(tx issuance.Tx) error {
			if err := tx.PutExporter(&issuance.Exporter{IEC: "IEC9"}); err != nil {
				return err
			}
			if _, err := tx.NextSeq("S"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("failing update: %v", err)
		}
		err = e.issuance.View(ctx, func(tx issuance.Tx) error {
			if _, err := tx.Exporter("IEC9"); !errors.Is(err, issuance.ErrNotFound) || !errors.Is(err, ErrNotFound) {
				t.Errorf("rolled-back exporter: %v", err)
			}
			ps, err := tx.People("IEC1")
			if err != nil || len(ps) != 2 || ps[0].ID != "p1" || ps[1].ID != "p2" {
				t.Errorf("people = %v, %v", ps, err)
			}
			as, err := tx.Applications(issuance.Query{Office: "o1"})
			if err != nil || len(as) != 1 {
				t.Errorf("applications by office = %v, %v", as, err)
			}
			if _, err := tx.Applications(issuance.Query{}); !errors.Is(err, issuance.ErrInvalid) {
				t.Errorf("no query: %v", err)
			}
			if bal, _ := tx.Balance("IEC1", "o1"); bal != 70 {
				t.Errorf("balance %d, want 70", bal)
			}
			mv, err := tx.Movements("IEC1", "o1")
			if err != nil || len(mv) != 2 || mv[1].Seq != 2 || mv[1].Balance != 70 {
				t.Errorf("movements = %+v, %v", mv, err)
			}
			a, data, err := tx.(issuance.ExtTx).Attachment("A1", "ab")
			if err != nil || string(data) != "pdf" || a.Name != "inv.pdf" {
				t.Errorf("attachment = %+v %q %v", a, data, err)
			}
			if err := tx.PutExporter(&issuance.Exporter{IEC: "X"}); err == nil {
				t.Errorf("a write in View succeeded")
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Logf("view: %v", err)
		}
		// Overdraft refused; certificate numbers given once.
		err = e.issuance.Update(ctx, func(tx issuance.Tx) error {
			return tx.AddMovement(&issuance.Movement{IEC: "IEC1", Office: "o1", Amount: -71, Reason: "fee"})
		})
		if !errors.Is(err, issuance.ErrInsufficientFunds) {
			t.Fatalf("overdraft: %v", err)
		}
		err = e.issuance.Update(ctx, func(tx issuance.Tx) error {
			a, err := tx.Application("A1")
			if err != nil {
				return err
			}
			a.Certificate = "CERT1"
			if err := tx.PutApplication(a); err != nil {
				return err
			}
			return tx.PutApplication(&issuance.Application{ID: "A2", IEC: "IEC1", Certificate: "CERT1"})
		})
		if !errors.Is(err, issuance.ErrConflict) {
			t.Fatalf("a number given twice: %v", err)
		}
		if n, err := e.audit.Verify(ctx); err != nil || n != 1 {
			t.Fatalf("audit: %d %v", n, err)
		}
	})
}

// TestContractIssuanceNextSeqConcurrent: numbers from concurrent issuance
// transactions are unique and without gaps.
func TestContractIssuanceNextSeqConcurrent(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		var mu sync.Mutex
		seen := map[uint64]bool{}
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var n uint64
				err := e.issuance.Update(ctx, func(tx issuance.Tx) error {
					var err error
					n, err = tx.NextSeq("IN-2026")
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[n] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		for i := uint64(1); i <= 10; i++ {
			if !seen[i] {
				t.Fatalf("numbers %v: %d missing", seen, i)
			}
		}
	})
}

// TestContractIssueTransaction: the issue path's register entries,
// messages and audit entries commit with the issuance transaction, or
// not at all.
func TestContractIssueTransaction(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		audit := []Entry{{Actor: "issuance:o", Action: "send", Subject: "m1"}}
		m := msg("m1", "VN", "IN-1", 0, "issue", "signed")
		m.Exclusive = true
		boom := errors.New("boom")
		err := e.issuance.Update(ctx, func(tx issuance.Tx) error {
			if err := e.enqueueRegistered(tx, []IssuedCert{{Country: "IN", Number: "IN-1"}}, audit, m); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("failed issue: %v", err)
		}
		if _, err := e.outbox.Get(ctx, "m1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("message of a rolled-back issue: %v", err)
		}
		if _, err := e.issued.Get(ctx, "IN-1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("register entry of a rolled-back issue: %v", err)
		}
		err = e.issuance.Update(ctx, func(tx issuance.Tx) error {
			if err := e.enqueueRegistered(tx, []IssuedCert{{Country: "IN", Number: "IN-1"}}, audit, m); err != nil {
				return err
			}
			// Not a partner: register and audit only.
			return e.enqueueRegistered(tx, []IssuedCert{{Country: "IN", Number: "IN-2"}}, []Entry{{Actor: "issuance:o", Action: "register", Subject: "IN-2"}})
		})
		mustNil(t, "issue", err)
		for _, n := range []string{"IN-1", "IN-2"} {
			if r, err := e.issued.Get(ctx, n); err != nil || r.Token == "" {
				t.Fatalf("register %s: %+v %v", n, r, err)
			}
		}
		if r, err := e.outbox.Get(ctx, "m1"); err != nil || r.State != StateQueued {
			t.Fatalf("message: %+v %v", r, err)
		}
		// The same certificate again to the same partner is refused.
		m2 := m
		m2.ID = "m2"
		err = e.issuance.Update(ctx, func(tx issuance.Tx) error { return e.enqueueRegistered(tx, nil, nil, m2) })
		var ase *AlreadySentError
		if !errors.As(err, &ase) {
			t.Fatalf("second exclusive send: %v", err)
		}
		if n, err := e.audit.Verify(ctx); err != nil || n != 2 {
			t.Fatalf("audit: %d %v", n, err)
		}
	})
}

// TestContractFirstStatusRace: replicas applying the first status change
// of a certificate version at the same moment record it once.
func TestContractFirstStatusRace(t *testing.T) {
	eachFacesEngine(t, func(t *testing.T, e facesEngine) {
		ctx := context.Background()
		for round := range 5 {
			num := fmt.Sprintf("R%d", round)
			var wg sync.WaitGroup
			var mu sync.Mutex
			changed := 0
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := CertWithdrawn
					if i%2 == 1 {
						st = CertReplaced
					}
					_, ch, err := e.inbox.ApplyStatus(ctx, StatusChange{Country: "VN", Number: num, Version: 1, Status: st, ReplacedBy: "X", MessageID: fmt.Sprintf("s%d", i)})
					if err != nil {
						t.Error(err)
						return
					}
					if ch {
						mu.Lock()
						changed++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			ss, err := e.inbox.CertStatuses(ctx, "VN", num)
			mustNil(t, "statuses", err)
			if changed != 1 || len(ss) != 1 || len(ss[0].History) != 1 {
				t.Fatalf("round %d: %d changes reported, history %+v; want exactly one", round, changed, ss)
			}
		}
	})
}
