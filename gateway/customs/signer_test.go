package customs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// trustSwitch is a TrustSource whose trust store a test replaces, as a
// registry reload does (a new value per load).
type trustSwitch struct {
	cur atomic.Pointer[certs.TrustSet]
}

func (s *trustSwitch) source(country string) certs.TrustStore {
	if country != "IN" {
		return nil
	}
	if t := s.cur.Load(); t != nil {
		return t
	}
	return nil
}

func crlOf(t testing.TB, issuer certs.KeyCert, this time.Time, revoked ...*x509.Certificate) *x509.RevocationList {
	t.Helper()
	b, err := certs.IssueCRL(issuer, revoked, this, this.Add(30*24*time.Hour), this.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	l, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCheckRevokedAfterReceipt: a certificate received while its signer
// was in good standing is checked against the partner's trust as loaded
// at the time of the check: after a reload with a CRL that revokes the
// signer (or its CA) the check answers REVOKED, after one with a stale
// CRL or without the anchor UNTRUSTED, while the stored report (history)
// still says VALID. The view is stored eagerly with the chain, or built
// lazily from the stored signed message.
func TestCheckRevokedAfterReceipt(t *testing.T) {
	pki := testPKI(t)
	other, err := certs.NewDevPKI(certs.PKIOptions{Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	good := &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert},
		RevocationLists: []*x509.RevocationList{crlOf(t, pki.Root, received.Add(-time.Hour)), crlOf(t, pki.Intermediate, received.Add(-time.Hour))}}
	later := received.Add(time.Hour)
	tests := []struct {
		name    string
		reload  *certs.TrustSet // nil: the partner left the registry
		verdict string
		reason  string // first failing reason of the signer report
	}{
		{"no reload", good, Authentic, ""},
		{"reload without change", &certs.TrustSet{AnchorCerts: good.AnchorCerts, RevocationLists: good.RevocationLists}, Authentic, ""},
		{"signer revoked", &certs.TrustSet{AnchorCerts: good.AnchorCerts,
			RevocationLists: []*x509.RevocationList{good.RevocationLists[0], crlOf(t, pki.Intermediate, later, pki.SignerECDSA.Cert)}}, Revoked, "revocation.revoked"},
		{"issuing CA revoked", &certs.TrustSet{AnchorCerts: good.AnchorCerts,
			RevocationLists: []*x509.RevocationList{crlOf(t, pki.Root, later, pki.Intermediate.Cert), good.RevocationLists[1]}}, Revoked, "revocation.revoked"},
		{"another signer revoked", &certs.TrustSet{AnchorCerts: good.AnchorCerts,
			RevocationLists: []*x509.RevocationList{good.RevocationLists[0], crlOf(t, pki.Intermediate, later, pki.SignerRSA.Cert)}}, Authentic, ""},
		{"stale CRL", &certs.TrustSet{AnchorCerts: good.AnchorCerts,
			RevocationLists: []*x509.RevocationList{good.RevocationLists[0], crlOf(t, pki.Intermediate, received.Add(-40*24*time.Hour))}}, Untrusted, "revocation.crl-stale"},
		{"anchor replaced", &certs.TrustSet{AnchorCerts: []*x509.Certificate{other.Root.Cert}}, Untrusted, "trust.unknown-authority"},
		{"partner removed", nil, Untrusted, "trust.no-anchors"},
	}
	for _, mode := range []string{"", "from inbox/", "format 4/"} {
		for _, tc := range tests {
			name := mode + tc.name
			t.Run(name, func(t *testing.T) {
				var ts trustSwitch
				ts.cur.Store(good)
				e := newEnv(t, func(o *Options) { o.SignerTrust = ts.source })
				switch mode {
				case "from inbox/":
					e.receiveSigned(t, testCert(t, certNo), pki.SignerECDSA, pki.Intermediate.Cert)
				case "format 4/": // stored by an earlier ecogate: the chain inside the view
					v, err := ViewOf(testCert(t, certNo), validReport, nil, e.clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					v.Country, v.Chain = "IN", chainDER([]*x509.Certificate{pki.SignerECDSA.Cert, pki.Intermediate.Cert, pki.Root.Cert})
					if err := e.db.Customs().PutView(context.Background(), "IN", certNo, 0, v.encode(4)); err != nil {
						t.Fatal(err)
					}
				default:
					e.svc.StoreView(context.Background(), "IN", testCert(t, certNo), validReport, pki.SignerECDSA.Cert, pki.Intermediate.Cert, pki.Root.Cert)
				}
				// Checked once before the reload: authentic (and cached).
				if _, res, body := e.check(baseReq(item(1, "020230", "1", "KGM"))); res.Verdict != Authentic || res.Signer == nil || !res.Signer.Valid {
					t.Fatalf("before the reload: %s", body)
				}
				e.advance(time.Hour + time.Minute)
				ts.cur.Store(tc.reload)
				for round := range 2 { // the second answer comes from the cache
					status, res, body := e.check(baseReq(item(1, "020230", "1", "KGM")))
					if status != 200 || res.Verdict != tc.verdict {
						t.Fatalf("round %d: %d %s, want %s: %s", round, status, res.Verdict, tc.verdict, body)
					}
					if res.Verification == nil || !res.Verification.Valid {
						t.Fatalf("the stored report (history) changed: %s", body)
					}
					if res.Signer == nil {
						t.Fatalf("no signer re-check in the answer: %s", body)
					}
					if tc.reason == "" {
						if !res.Signer.Valid {
							t.Fatalf("signer: %s", body)
						}
						continue
					}
					if res.Signer.Valid || res.Signer.Report.First().Reason != tc.reason || !strings.Contains(res.Message, tc.reason) {
						t.Fatalf("signer report: want %s: %s", tc.reason, body)
					}
				}
				if tc.verdict == Revoked && e.counter("ecogate_customs_checks_total", "verdict", Revoked) != 2 {
					t.Errorf("REVOKED not counted")
				}
			})
		}
	}
}

// receiveSigned stores a signed e-CO in the inbox as the receive pipeline
// does, without a check view (the first check builds it).
func (e *env) receiveSigned(t *testing.T, c *schema.Certificate, signer certs.KeyCert, chain ...*x509.Certificate) {
	t.Helper()
	doc, err := schema.EncodeXML(c)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := (&certs.Signer{Key: signer.Key, Chain: append([]*x509.Certificate{signer.Cert}, chain...)}).Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.db.Inbox().Accept(context.Background(), store.InRecord{ID: "m-" + c.Header.ID, From: "IN", CertNumber: c.Header.ID, Version: c.Header.Version,
		Kind: "issue", Content: signed, Outcome: store.StateDelivered, Received: e.clock.Now(),
		StatusChanges: []store.StatusChange{{Country: "IN", Number: c.Header.ID, Version: c.Header.Version, Status: store.CertIssued, MessageID: "m-" + c.Header.ID, At: e.clock.Now()}}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCheckLegacyViewRebuilt: a view stored before views kept the signer
// chain is built again from the stored message on its first check, so
// that revocation counts for it too.
func TestCheckLegacyViewRebuilt(t *testing.T) {
	pki := testPKI(t)
	var ts trustSwitch
	ts.cur.Store(&certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert},
		RevocationLists: []*x509.RevocationList{crlOf(t, pki.Intermediate, time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC), pki.SignerECDSA.Cert)}})
	e := newEnv(t, func(o *Options) { o.SignerTrust = ts.source })
	c := testCert(t, certNo)
	e.receiveSigned(t, c, pki.SignerECDSA, pki.Intermediate.Cert)
	v, err := ViewOf(c, validReport, nil, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	b := v.encode(2) // the format before the chain
	if err := e.db.Customs().PutView(context.Background(), "IN", certNo, 0, b); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Hour)
	if _, res, body := e.check(baseReq(item(1, "020230", "1", "KGM"))); res.Verdict != Revoked {
		t.Fatalf("legacy view: %s", body)
	}
}

// chainCounter counts the signer chains a check loads from the store, and
// can answer with other bytes than were stored.
type chainCounter struct {
	Store
	loads   atomic.Int64
	replace []byte
	fail    atomic.Pointer[error]
}

func (c *chainCounter) Chain(ctx context.Context, ref string) ([]byte, error) {
	c.loads.Add(1)
	if err := c.fail.Load(); err != nil {
		return nil, *err
	}
	if c.replace != nil {
		return c.replace, nil
	}
	return c.Store.Chain(ctx, ref)
}

// TestCheckSignerChainStoredOnce: a view keeps its signer chain's SHA-256,
// the chain is stored once beside the views, and a check loads it only
// when the signer cache has no answer for it; a chain that is missing, or
// whose bytes do not match the hash, is a failed signer re-check (never
// AUTHENTIC).
func TestCheckSignerChainStoredOnce(t *testing.T) {
	pki := testPKI(t)
	received := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	trust := &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert},
		RevocationLists: []*x509.RevocationList{crlOf(t, pki.Root, received.Add(-time.Hour)), crlOf(t, pki.Intermediate, received.Add(-time.Hour))}}
	chain := []*x509.Certificate{pki.SignerECDSA.Cert, pki.Intermediate.Cert, pki.Root.Cert}
	for _, tc := range []struct {
		name    string
		store   func(e *env) // stores the view of certNo
		replace []byte
		verdict string
		reason  string
		loads   int64
	}{
		{"stored with its chain", func(e *env) {
			e.svc.StoreView(context.Background(), "IN", testCert(t, certNo), validReport, chain...)
		}, nil, Authentic, "", 1},
		{"chain missing", func(e *env) {
			v, err := ViewOf(testCert(t, certNo), validReport, nil, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			v.Country, v.Chain = "IN", chainDER(chain)
			b, _ := v.Encode()
			if err := e.db.Customs().PutView(context.Background(), "IN", certNo, 0, b); err != nil { // the chain not stored
				t.Fatal(err)
			}
		}, nil, Untrusted, "trust.no-chain", 3},
		{"other bytes than the hash", func(e *env) {
			e.svc.StoreView(context.Background(), "IN", testCert(t, certNo), validReport, chain...)
		}, chainDER(chain[1:]), Untrusted, "trust.no-chain", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &chainCounter{replace: tc.replace}
			e := newEnv(t, func(o *Options) {
				o.SignerTrust = func(string) certs.TrustStore { return trust }
				cc.Store = o.Store
				o.Store = cc
			})
			tc.store(e)
			for round := range 3 {
				status, res, body := e.check(baseReq(item(1, "020230", "1", "KGM")))
				if status != 200 || res.Verdict != tc.verdict || res.Signer == nil {
					t.Fatalf("round %d: %d %s, want %s: %s", round, status, res.Verdict, tc.verdict, body)
				}
				if tc.reason != "" && (res.Signer.Valid || res.Signer.Report.First().Reason != tc.reason) {
					t.Fatalf("round %d: signer report, want %s: %s", round, tc.reason, body)
				}
			}
			if got := cc.loads.Load(); got != tc.loads {
				t.Fatalf("the chain was loaded %d times in 3 checks, want %d", got, tc.loads)
			}
		})
	}
	// The store failing to read the chain (not a missing one): no
	// judgment (503 UNAVAILABLE), nothing cached; the next check after
	// it recovers is AUTHENTIC.
	cc := &chainCounter{}
	e0 := newEnv(t, func(o *Options) {
		o.SignerTrust = func(string) certs.TrustStore { return trust }
		cc.Store = o.Store
		o.Store = cc
	})
	e0.svc.StoreView(context.Background(), "IN", testCert(t, certNo), validReport, chain...)
	outage := errors.New("connection reset (test)")
	cc.fail.Store(&outage)
	for range 2 {
		if status, res, body := e0.check(baseReq(item(1, "020230", "1", "KGM"))); status != 503 || res.Verdict != Unavailable || !strings.Contains(res.Message, "connection reset") {
			t.Fatalf("chain unreadable: %d %s", status, body)
		}
	}
	cc.fail.Store(nil)
	if status, res, body := e0.check(baseReq(item(1, "020230", "1", "KGM"))); status != 200 || res.Verdict != Authentic {
		t.Fatalf("after the outage: %d %s", status, body)
	}
	// Two chains, each judged on its own through its reference: the RSA
	// signer revoked, the ECDSA one not.
	revokedRSA := &certs.TrustSet{AnchorCerts: trust.AnchorCerts,
		RevocationLists: []*x509.RevocationList{trust.RevocationLists[0], crlOf(t, pki.Intermediate, received.Add(-time.Hour), pki.SignerRSA.Cert)}}
	e2 := newEnv(t, func(o *Options) { o.SignerTrust = func(string) certs.TrustStore { return revokedRSA } })
	e2.svc.StoreView(context.Background(), "IN", testCert(t, certNo), validReport, chain...)
	e2.svc.StoreView(context.Background(), "IN", testCert(t, "IN-RSA-1"), validReport, pki.SignerRSA.Cert, pki.Intermediate.Cert, pki.Root.Cert)
	for round := range 2 {
		req := baseReq(item(1, "020230", "1", "KGM"))
		if _, res, body := e2.check(req); res.Verdict != Authentic {
			t.Fatalf("round %d, ECDSA signer: %s", round, body)
		}
		req.CertificateNumber = "IN-RSA-1"
		if _, res, body := e2.check(req); res.Verdict != Revoked {
			t.Fatalf("round %d, revoked RSA signer: %s", round, body)
		}
	}
	// Views of two certificates signed by the same chain: one stored
	// chain, and each view 1 KB smaller than with the chain inside.
	e := newEnv(t)
	for _, n := range []string{"IN-A-1", "IN-A-2"} {
		e.svc.StoreView(context.Background(), "IN", testCert(t, n), validReport, chain...)
		var s store.Snapshot
		if ok, err := e.db.Customs().Snapshot("IN", n, nil, &s); err != nil || !ok || len(s.View) > 1200 {
			t.Fatalf("%s: %v %v, %d bytes", n, ok, err, len(s.View))
		}
	}
	sum := sha256.Sum256(chainDER(chain))
	if got, err := e.db.Customs().Chain(context.Background(), hex.EncodeToString(sum[:])); err != nil || len(got) < 1000 {
		t.Fatalf("the stored chain: %d bytes, %v", len(got), err)
	}
}
