package customs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/pgtest"
	"github.com/ecogate/ecogate/store"
)

// renewalCerts issues n client certificates of the test customs CA, the
// yearly renewals of one declaration system (each with its own key).
func renewalCerts(t *testing.T, p *mtlsPKI, n int) []tls.Certificate {
	t.Helper()
	out := make([]tls.Certificate, n)
	for i := range out {
		kc, err := issueTestCert("VNACCS", &p.ca, false, x509.ExtKeyUsageClientAuth)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = tlsCert(kc)
	}
	return out
}

// rolloverStore is what the rollover test needs of an engine: the
// client administration and the audit log the service writes to.
type rolloverStore interface {
	ClientAdmin
	Client(ctx context.Context, id string) (*store.CustomsClient, error)
}

// entryLister is an audit log that lists its entries.
type entryLister interface {
	AuditLog
	Entries(ctx context.Context, from uint64, limit int) ([]store.Entry, error)
}

// auditActions are the actions and "by" details of the audit entries
// about client id.
func auditActions(t *testing.T, audit entryLister, id string) []string {
	t.Helper()
	entries, err := audit.Entries(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		if en.Subject == id {
			out = append(out, strings.TrimSuffix(en.Action+" "+en.Details["by"], " "))
		}
	}
	return out
}

// TestCertRenewalRollover, over real TLS and on both engines: during a
// renewal the old and the new certificate both authenticate as the same
// client (same id, same scopes), also after requests with the new
// certificate; a renewal finished by the operator ends the old binding
// within the recheck interval. Each step is audited.
func TestCertRenewalRollover(t *testing.T) {
	p := testMTLSPKI(t)
	for _, engine := range []struct {
		name string
		open func(t *testing.T) (rolloverStore, entryLister, envOpt)
	}{
		{"bbolt", func(t *testing.T) (rolloverStore, entryLister, envOpt) { return nil, nil, nil }},
		{"postgres", func(t *testing.T) (rolloverStore, entryLister, envOpt) {
			pg, err := store.OpenPG(context.Background(), store.PGOptions{DSN: pgtest.DSN(t), Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pg.Close() })
			return pg.Customs(), pg.Audit(), func(o *Options) { o.Store, o.Inbox, o.Audit = pg.Customs(), pg.Inbox(), pg.Audit() }
		}},
	} {
		t.Run(engine.name, func(t *testing.T) {
			cs, audit, opt := engine.open(t)
			var opts []envOpt
			if opt != nil {
				opts = append(opts, opt)
			}
			e := newEnv(t, opts...)
			if cs == nil {
				cs, audit = e.db.Customs(), e.db.Audit()
			}
			testRollover(t, p, e, cs, audit)
		})
	}
}

func testRollover(t *testing.T, p *mtlsPKI, e *env, cs rolloverStore, audit entryLister) {
	base := mtlsServer(t, e, p.ca.Cert)
	ctx := context.Background()
	years := renewalCerts(t, p, 3)
	y1, y2, y3 := &years[0], &years[1], &years[2]
	nc, err := AddCertClient(ctx, cs, audit, "test", "VNACCS", []string{ScopeCheck}, y1.Leaf, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := json.Marshal(baseReq(item(1, "020230", "1", "KGM")))
	ok := `"verdict":"` // the certificate checked is not stored: NOT_FOUND, as the client
	expect := func(step string, cert *tls.Certificate, status int, want string) {
		t.Helper()
		resp, b := mtlsCall(t, mtlsClient(e, cert), "/customs/v1/checks", base, "", string(cb))
		if resp.StatusCode != status || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %s, want %d with %q", step, resp.StatusCode, b, status, want)
		}
	}
	expect("before the renewal, year 1", y1, 200, ok)
	expect("before the renewal, year 2", y2, 403, CodeCertNotRegistered)

	info, err := RenewCertClient(ctx, cs, audit, "test", nc.ID, y2.Leaf, false, e.clock.Now())
	if err != nil || info.ID != nc.ID || info.CertSHA256 != nc.CertSHA256 || info.NextCertSHA256 != CertFingerprint(y2.Leaf) || info.NextCertNotAfter.IsZero() {
		t.Fatalf("renew: %+v %v", info, err)
	}
	e.clock.Add(recheckEvery + time.Second) // the refusal of year 2 is forgotten
	for range 3 {                           // the old certificate keeps working, read from the store each time
		expect("during the renewal, year 1", y1, 200, ok)
		e.clock.Add(recheckEvery + time.Second)
	}
	cl, _ := cs.Client(ctx, nc.ID)
	if cl.NextCertSHA256 != info.NextCertSHA256 || cl.CertSHA256 != nc.CertSHA256 {
		t.Fatalf("the old certificate's use ended the renewal: %+v", cl)
	}
	// Both certificates serve the same client until the operator finishes:
	// the declaration system's instances switch one by one.
	for range 2 {
		expect("during the renewal, year 2", y2, 200, ok)
		expect("during the renewal, year 1 after year 2 was used", y1, 200, ok)
		e.clock.Add(recheckEvery + time.Second)
	}
	if cl, _ = cs.Client(ctx, nc.ID); cl.CertSHA256 != nc.CertSHA256 || cl.NextCertSHA256 != info.NextCertSHA256 {
		t.Fatalf("using the next certificate ended the renewal: %+v", cl)
	}
	if info, err = RenewCertClient(ctx, cs, audit, "test", nc.ID, nil, true, e.clock.Now()); err != nil ||
		info.CertSHA256 != CertFingerprint(y2.Leaf) || info.NextCertSHA256 != "" || info.ID != nc.ID {
		t.Fatalf("finish: %+v %v", info, err)
	}
	e.clock.Add(recheckEvery + time.Second)
	expect("year 1 after --finish", y1, 403, CodeCertNotRegistered)
	expect("year 2 after --finish", y2, 200, ok)

	// Year 3, bound and finished again by the operator.
	if _, err := RenewCertClient(ctx, cs, audit, "test", nc.ID, y3.Leaf, false, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	expect("during the second renewal, year 2", y2, 200, ok)
	if info, err = RenewCertClient(ctx, cs, audit, "test", nc.ID, nil, true, e.clock.Now()); err != nil ||
		info.CertSHA256 != CertFingerprint(y3.Leaf) || info.NextCertSHA256 != "" {
		t.Fatalf("finish: %+v %v", info, err)
	}
	e.clock.Add(recheckEvery + time.Second)
	expect("year 2 after --finish", y2, 403, CodeCertNotRegistered)
	expect("year 3 after --finish", y3, 200, ok)

	want := []string{"customs-client.add", "customs-client.renew", "customs-client.renew-finish operator",
		"customs-client.renew", "customs-client.renew-finish operator"}
	if got := auditActions(t, audit, nc.ID); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("audit %q, want %q", got, want)
	}
}

// TestRenewCertClient: bad requests, conflicts and revoked clients change
// nothing; a renewed certificate is the client's next one until finished.
func TestRenewCertClient(t *testing.T) {
	p := testMTLSPKI(t)
	e := newEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	cs := renewalCerts(t, p, 4)
	a, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "A", []string{ScopeCheck}, cs[0].Leaf, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "B", []string{ScopeCheck}, cs[1].Leaf, now)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := AddClient(ctx, e.db.Customs(), e.db.Audit(), "test", "S", []string{ScopeCheck}, now)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "Gone", []string{ScopeCheck}, p.readOnly.Leaf, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := RevokeClient(ctx, e.db.Customs(), e.db.Audit(), "test", gone.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		id     string
		cert   *x509.Certificate
		finish bool
		at     time.Time
		want   error
		msg    string
	}{
		{"nothing to do", a.ID, nil, false, now, ErrBadClientRequest, "give the renewed"},
		{"CA certificate", a.ID, p.ca.Cert, false, now, ErrBadClientRequest, "CA certificate"},
		{"expired", a.ID, cs[2].Leaf, false, time.Date(2037, 1, 1, 0, 0, 0, 0, time.UTC), ErrBadClientRequest, "expired"},
		{"server certificate", a.ID, p.serverAuthOnly.Leaf, false, now, ErrBadClientRequest, "clientAuth"},
		{"unknown client", "cc-nobody", cs[2].Leaf, false, now, store.ErrNotFound, ""},
		{"revoked client", gone.ID, cs[2].Leaf, false, now, store.ErrConflict, "revoked"},
		{"secret client", sec.ID, cs[2].Leaf, false, now, store.ErrInvalid, "secret"},
		{"bound to another client", a.ID, cs[1].Leaf, false, now, store.ErrConflict, "already bound to client " + b.ID},
		{"its own current certificate", a.ID, cs[0].Leaf, false, now, store.ErrConflict, "current certificate"},
		{"finish without a renewal", a.ID, nil, true, now, store.ErrConflict, "no certificate renewal"},
		{"a revoked client's certificate", a.ID, p.readOnly.Leaf, false, now, store.ErrConflict, "which is revoked"},
		{"renew", a.ID, cs[3].Leaf, false, now, nil, ""},
		{"replaced by another", a.ID, cs[2].Leaf, false, now, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := e.db.Customs().Client(ctx, a.ID)
			info, err := RenewCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", tc.id, tc.cert, tc.finish, tc.at)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) || (err == nil) != (info != nil) ||
				(err != nil && !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("renew = %+v, %v; want %v %q", info, err, tc.want, tc.msg)
			}
			after, _ := e.db.Customs().Client(ctx, a.ID)
			switch {
			case err != nil && after.NextCertSHA256 != before.NextCertSHA256:
				t.Fatalf("a refused renewal changed the client: %+v", after)
			case err == nil && (after.NextCertSHA256 != CertFingerprint(tc.cert) || after.CertSHA256 != a.CertSHA256):
				t.Fatalf("renewed: %+v", after)
			}
		})
	}
	entries, _ := e.db.Audit().Entries(ctx, 0, 0)
	last := entries[len(entries)-1]
	if last.Action != "customs-client.renew" || last.Details["replacedCertSHA256"] != CertFingerprint(cs[3].Leaf) ||
		last.Details["certSHA256"] != CertFingerprint(cs[2].Leaf) || last.Details["currentCertSHA256"] != a.CertSHA256 {
		t.Fatalf("audit of the replacing renewal: %+v", last)
	}
	// Binding and finishing at once (a compromised key).
	info, err := RenewCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", b.ID, p.unregistered.Leaf, true, now)
	if err != nil || info.CertSHA256 != CertFingerprint(p.unregistered.Leaf) || info.NextCertSHA256 != "" {
		t.Fatalf("renew --finish: %+v %v", info, err)
	}
	if _, err := e.db.Customs().ClientByCert(ctx, b.CertSHA256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the compromised certificate still authenticates: %v", err)
	}
	// The audit failing after the change: the client and the error together.
	info, err = RenewCertClient(ctx, e.db.Customs(), failingAudit{}, "test", b.ID, p.registered.Leaf, false, now)
	if err == nil || info == nil || info.NextCertSHA256 != CertFingerprint(p.registered.Leaf) || !strings.Contains(err.Error(), "audit entry failed") {
		t.Fatalf("failing audit: %+v %v", info, err)
	}
}

// TestClientRoutesRenew: POST /customs-clients/{id}/renew binds the next
// certificate (both shown by the list), refuses a certificate bound to
// another active client (409), an unknown client (404), a bad body (400),
// and finishes with {"finish": true}.
func TestClientRoutesRenew(t *testing.T) {
	p := testMTLSPKI(t)
	e := newEnv(t)
	ctx := context.Background()
	cs := renewalCerts(t, p, 2)
	a, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "A", []string{ScopeCheck}, cs[0].Leaf, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "B", []string{ScopeCheck}, p.registered.Leaf, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret, err := AddClient(ctx, e.db.Customs(), e.db.Audit(), "test", "S", []string{ScopeCheck}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	gone, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "G", []string{ScopeCheck}, p.readOnly.Leaf, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := RevokeClient(ctx, e.db.Customs(), e.db.Audit(), "test", gone.ID); err != nil {
		t.Fatal(err)
	}
	h := ClientRoutes(e.db.Customs(), e.db.Audit(), e.clock.Now)
	pemOf := func(c *x509.Certificate) string {
		b, _ := json.Marshal(RenewClientRequest{Certificate: string(certs.CertPEM(c))})
		return string(b)
	}
	key, err := certs.KeyPEM(cs[1].PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	withKey, _ := json.Marshal(RenewClientRequest{Certificate: string(certs.CertPEM(cs[1].Leaf)) + string(key)})
	next := CertFingerprint(cs[1].Leaf)
	for _, tc := range []struct {
		name, id, body string
		status         int
		want           string
	}{
		{"bound to another client", a.ID, pemOf(p.registered.Leaf), 409, "already bound to client " + other.ID},
		{"unknown client", "cc-nobody", pemOf(cs[1].Leaf), 404, "no customs client"},
		{"unknown field", a.ID, `{"cert": "x"}`, 400, "invalid_request"},
		{"not a certificate", a.ID, `{"certificate": "hello"}`, 400, "certificate:"},
		{"empty", a.ID, `{}`, 400, "give the renewed"},
		{"a CA certificate", a.ID, pemOf(p.ca.Cert), 400, "CA certificate"},
		{"the private key beside the certificate", a.ID, string(withKey), 400, "certificate:"},
		{"a client with a secret", secret.ID, pemOf(cs[1].Leaf), 400, "invalid_request"},
		{"a revoked client", gone.ID, pemOf(cs[1].Leaf), 409, "conflict"},
		{"finish without a renewal", a.ID, `{"finish": true}`, 409, "no certificate renewal"},
		{"renew", a.ID, pemOf(cs[1].Leaf), 200, `"nextCertSHA256":"` + next + `"`},
		{"finish", a.ID, `{"finish": true}`, 200, `"certSHA256":"` + next + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/customs-clients/"+tc.id+"/renew", bytes.NewReader([]byte(tc.body))))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("got %d %s, want %d with %q", w.Code, w.Body, tc.status, tc.want)
			}
			if tc.name == "renew" {
				lw := httptest.NewRecorder()
				h.ServeHTTP(lw, httptest.NewRequest("GET", "/customs-clients", nil))
				if !strings.Contains(lw.Body.String(), `"nextCertSHA256":"`+next+`"`) || !strings.Contains(lw.Body.String(), `"nextCertNotAfter":"2036-`) ||
					!strings.Contains(lw.Body.String(), `"certSHA256":"`+a.CertSHA256+`"`) {
					t.Fatalf("list during the renewal: %s", lw.Body)
				}
			}
		})
	}
}
