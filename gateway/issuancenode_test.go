package gateway

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

const isuIEC = "AAACE1234F"

var (
	isuOperator = issuance.Actor{ID: "op@node.example", Role: issuance.RoleOperator}
	isuExporter = issuance.Actor{ID: "admin@exporter.example", Role: issuance.RoleExporterAdmin}
	isuAgAdmin  = issuance.Actor{ID: "admin@eic.example", Role: issuance.RoleAgencyAdmin}
	isuOfficer  = issuance.Actor{ID: "officer@eic.example", Role: issuance.RoleOfficer}
)

// heldKeys is the node's officer keys, in memory.
type heldKeys struct {
	mu sync.Mutex
	m  map[string]crypto.Signer
}

func (h *heldKeys) Key(_ context.Context, id string) (crypto.Signer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if k := h.m[id]; k != nil {
		return k, nil
	}
	return nil, errors.New("no key")
}

// issueDSC issues an ECDSA P-256 document-signing certificate under ca.
func issueDSC(t testing.TB, ca certs.KeyCert, cn string, usage x509.KeyUsage) certs.KeyCert {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"Export Inspection Council"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour), KeyUsage: usage}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, k.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certs.KeyCert{Key: k, Cert: c}
}

// isuWorld is an issuance service on a node's store, with the node's
// issuance adapter, an exporter, the agency EIC with office MUM, and an
// officer whose DSC (under ca) and key the node holds.
type isuWorld struct {
	t    testing.TB
	svc  *issuance.Service
	db   *store.DB
	node *IssuanceNode
	keys *heldKeys
	ca   certs.KeyCert
}

func newIsuWorld(t testing.TB, db *store.DB, n *Node, root *x509.Certificate, ca certs.KeyCert, wrap func(issuance.Store) issuance.Store) *isuWorld {
	t.Helper()
	ctx := context.Background()
	regPath := filepath.Join(t.TempDir(), "registry.yaml")
	if err := os.WriteFile(regPath, []byte("exporters:\n  - iec: "+isuIEC+"\n    name: Alpha Exports Pvt Ltd\n    address: 12 Marine Drive, Mumbai\n    gstin: 27AAACE1234F1Z6\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := issuance.NewFileRegistry(regPath)
	if err != nil {
		t.Fatal(err)
	}
	node, err := n.Issuance()
	if err != nil {
		t.Fatal(err)
	}
	var st issuance.Store = db.Issuance()
	if wrap != nil {
		st = wrap(st)
	}
	w := &isuWorld{t: t, db: db, node: node, keys: &heldKeys{m: map[string]crypto.Signer{}}, ca: ca}
	w.svc, err = issuance.New(issuance.Config{Country: n.Country(), Store: st, Registry: reg, Operators: []string{isuOperator.ID},
		Node: node, HeldKeys: w.keys, OfficerTrust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{root}}})
	if err != nil {
		t.Fatal(err)
	}
	np := func(id string) issuance.NewPerson { return issuance.NewPerson{ID: id, Name: "Person " + id, Email: id} }
	_, err = w.svc.RegisterExporter(ctx, isuOperator, isuIEC, np(isuExporter.ID))
	w.must(err)
	_, err = w.svc.RegisterAgency(ctx, issuance.AgencyRegistration{Agency: "EIC", Name: "Export Inspection Council", Series: "EIC",
		Admin: np(isuAgAdmin.ID), AuthorisationLetterSHA256: strings.Repeat("ab", 32)})
	w.must(err)
	w.must(w.svc.ApproveAgency(ctx, isuOperator, "EIC"))
	_, err = w.svc.PutOffice(ctx, isuAgAdmin, issuance.Office{ID: "MUM", Agency: "EIC", Code: "MUM", Name: "EIC Mumbai", Address: "Mumbai office",
		Currency: "INR", Fees: map[issuance.Kind]int64{issuance.KindOriginal: 100}, EWallet: true, MerchantID: "EICMUM", ChecksumKey: "k3y"})
	w.must(err)
	_, err = w.svc.RegisterOfficer(ctx, issuance.OfficerRegistration{Agency: "EIC", Office: "MUM", Officer: np(isuOfficer.ID)})
	w.must(err)
	w.must(w.svc.ApproveOfficer(ctx, isuAgAdmin, isuOfficer.ID))
	_, err = w.svc.TopUp(ctx, isuAgAdmin, isuIEC, "MUM", 1_000_000_000, "receipt R-1")
	w.must(err)
	kc := issueDSC(t, ca, "Officer One", x509.KeyUsageDigitalSignature)
	w.keys.m[isuOfficer.ID] = kc.Key
	_, err = w.svc.RegisterDSC(ctx, isuOfficer, append(certs.CertPEM(kc.Cert), certs.CertPEM(ca.Cert)...))
	w.must(err)
	return w
}

func (w *isuWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func isuContent(importing string) issuance.Content {
	return issuance.Content{
		Agreement: "AIFTA", Agency: "EIC", Office: "MUM", ImportingCountry: importing,
		InvoiceNumber: "INV-1", InvoiceDate: time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly), Currency: "INR",
		Consignee: issuance.Party{Name: "Saigon Imports", Address: "1 Le Loi, HCMC", Country: importing},
		Transport: issuance.Transport{Mode: "1", Vessel: "MV Ganga", PortLoading: "INNSA", PortDischarge: "VNSGN", DepartureDate: time.Now().UTC().Format(time.DateOnly)},
		Goods: []issuance.GoodsLine{{
			HS: "0202.30.00", Description: "Frozen boneless bovine meat", Quantity: "1000", Unit: "KGM", Packages: 50, PackageType: "CT",
			FOB: 1_000_000, Criterion: "WO",
		}},
		Declaration: issuance.Declaration{Place: "Mumbai", Name: "A. Kumar", Designation: "Director"},
	}
}

// reviewed files, submits and takes up an application: under review.
func (w *isuWorld) reviewed(kind issuance.Kind, concerns issuance.CertRef, importing string) string {
	w.t.Helper()
	ctx := context.Background()
	a, err := w.svc.CreateApplication(ctx, isuExporter, issuance.NewApplication{IEC: isuIEC, Kind: kind, Concerns: concerns, Content: isuContent(importing)})
	w.must(err)
	_, err = w.svc.Submit(ctx, isuExporter, a.ID, issuance.PayWallet)
	w.must(err)
	_, err = w.svc.Review(ctx, isuOfficer, a.ID)
	w.must(err)
	return a.ID
}

// TestIssuedReachesPartner: an application approved and issued at IN
// with the officer's node-held ECDSA key is in IN's issued register at
// once, travels to VN over the real mutual-TLS partner API, and VN's
// customs check answers AUTHENTIC for it.
func TestIssuedReachesPartner(t *testing.T) {
	in, vn := faceNodes(t)
	ctx := context.Background()
	pkiDir := filepath.Join(in.site.Dir, "pki")
	key, chain, err := certs.LoadKeyPair(filepath.Join(pkiDir, certs.FileIntermediateKey), filepath.Join(pkiDir, certs.FileIntermediateCert), "", "")
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certs.ParseCertificates(mustRead(t, filepath.Join(pkiDir, certs.FileRootCert)))
	if err != nil {
		t.Fatal(err)
	}
	w := newIsuWorld(t, in.inst.DB, in.inst.Node, roots[0], certs.KeyCert{Key: key, Cert: chain[0]}, nil)
	id := w.reviewed(issuance.KindOriginal, issuance.CertRef{}, "VN")
	app, cert, err := w.svc.ApproveAndIssue(ctx, isuOfficer, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if app.State != issuance.StateIssued || cert.Number != "EIC-MUM-"+fmt.Sprint(time.Now().Year())+"-000001" {
		t.Fatalf("issued %s as %q", app.State, cert.Number)
	}
	// In the register at once.
	rec, err := in.inst.DB.Issued().Get(ctx, cert.Number)
	if err != nil || rec.Token == "" || rec.Status != store.CertIssued {
		t.Fatalf("register: %+v %v", rec, err)
	}
	var msg *store.OutRecord
	defer func() {
		if t.Failed() && msg != nil {
			t.Logf("message: %s %s %s", msg.State, msg.LastErr, msg.Receipt)
		}
	}()
	waitFor(t, 20*time.Second, "delivered to VN", func() bool {
		recs, err := in.inst.DB.Outbox().List(ctx, store.Filter{})
		if err != nil || len(recs) != 1 {
			return false
		}
		msg = &recs[0]
		return msg.State == store.StateDelivered || msg.State == store.StateDeliveredWithWarnings
	})
	if msg.CertNumber != cert.Number || msg.Kind != KindIssue || msg.Partner != "VN" {
		t.Fatalf("message %+v", msg)
	}
	id2, secret := vn.addClient(t, customs.Scopes()...)
	tok := vn.token(t, id2, secret)
	req := customs.CheckRequest{ExportCountry: "IN", CertificateNumber: cert.Number, IssueDate: cert.IssuedAt.UTC().Format(time.DateOnly),
		DeclarationRef: "VN-DEC-1", Items: []customs.DeclaredItem{{SequenceNumber: 1, HSCode: "020230", Quantity: &customs.Quantity{Value: "1000", UnitCode: "KGM"}}}}
	status, body := vn.call(t, "POST", "/customs/v1/checks", tok, req)
	var res customs.CheckResult
	if err := json.Unmarshal(body, &res); err != nil || status != http.StatusOK || res.Verdict != customs.Authentic {
		t.Fatalf("customs check: %d %s", status, body)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// failStore wraps the issuance store so that NextSeq fails on demand.
type failStore struct {
	s       issuance.Store
	failSeq *atomic.Bool
}

type failTx struct {
	*store.IssuanceTx
	failSeq *atomic.Bool
}

func (f *failTx) NextSeq(series string) (uint64, error) {
	if f.failSeq.Load() {
		return 0, errors.New("injected: numbering failed")
	}
	return f.IssuanceTx.NextSeq(series)
}

func (f failStore) Update(ctx context.Context, fn func(issuance.Tx) error) error {
	return f.s.Update(ctx, func(tx issuance.Tx) error { return fn(&failTx{tx.(*store.IssuanceTx), f.failSeq}) })
}

func (f failStore) View(ctx context.Context, fn func(issuance.Tx) error) error {
	return f.s.View(ctx, fn)
}

// TestIssueAllOrNone injects a failure at each step of
// approve-sign-number-register-enqueue: each leaves the application under
// review, no number used, nothing in the register, nothing queued and no
// "send" in the audit log; the issue that finally succeeds gets number 1
// and everything at once.
func TestIssueAllOrNone(t *testing.T) {
	in, vn, _ := identities(t)
	p := newPair(t, fastRetry, nil, nil)
	_ = vn
	failSeq := new(atomic.Bool)
	w := newIsuWorld(t, p.in.DB, p.in.Node, in.PKI.Root.Cert, in.PKI.Intermediate, func(s issuance.Store) issuance.Store { return failStore{s, failSeq} })
	ctx := context.Background()
	id := w.reviewed(issuance.KindOriginal, issuance.CertRef{}, "VN")
	officerKey := w.keys.m[isuOfficer.ID]
	var hookStep atomic.Value
	w.node.hook = func(step string) error {
		if s, _ := hookStep.Load().(string); s == step {
			return errors.New("injected: " + step + " failed")
		}
		return nil
	}
	steps := []struct {
		name  string
		setup func()
		undo  func()
		is    error
	}{
		{"approve (no key: DSC check passes, signing fails)", func() { delete(w.keys.m, isuOfficer.ID) }, func() { w.keys.m[isuOfficer.ID] = officerKey }, nil},
		{"sign (key of another officer)", func() {
			w.keys.m[isuOfficer.ID] = issueDSC(t, in.PKI.Intermediate, "x", x509.KeyUsageDigitalSignature).Key
		},
			func() { w.keys.m[isuOfficer.ID] = officerKey }, nil},
		{"number", func() { failSeq.Store(true) }, func() { failSeq.Store(false) }, nil},
		{"register", func() { hookStep.Store("register") }, func() { hookStep.Store("") }, nil},
		{"enqueue", func() { hookStep.Store("enqueue") }, func() { hookStep.Store("") }, nil},
	}
	sends := func() int {
		es, err := p.in.DB.Audit().Entries(ctx, 1, 0)
		w.must(err)
		n := 0
		for _, e := range es {
			if e.Action == "send" || e.Action == "issuance.application.issue" || e.Action == "issuance.application.approve" {
				n++
			}
		}
		return n
	}
	for _, s := range steps {
		s.setup()
		_, _, err := w.svc.ApproveAndIssue(ctx, isuOfficer, id, "")
		s.undo()
		if err == nil {
			t.Fatalf("%s: issued despite the failure", s.name)
		}
		app, err2 := w.svc.Application(ctx, isuOfficer, id)
		w.must(err2)
		recs, err3 := p.in.DB.Outbox().List(ctx, store.Filter{})
		w.must(err3)
		if app.State != issuance.StateUnderReview || app.Certificate != "" || len(recs) != 0 || sends() != 0 {
			t.Fatalf("%s (%v): state %s cert %q queued %d audit %d", s.name, err, app.State, app.Certificate, len(recs), sends())
		}
		number := "EIC-MUM-" + fmt.Sprint(time.Now().Year()) + "-000001"
		if _, err := p.in.DB.Issued().Get(ctx, number); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: register holds %s: %v", s.name, number, err)
		}
	}
	// Only an officer approves.
	_, _, err := w.svc.ApproveAndIssue(ctx, isuOperator, id, "")
	if !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("operator approves: %v", err)
	}
	app, cert, err := w.svc.ApproveAndIssue(ctx, isuOfficer, id, "")
	w.must(err)
	if !strings.HasSuffix(cert.Number, "-000001") || app.State != issuance.StateIssued {
		t.Fatalf("final issue: %s %s", cert.Number, app.State)
	}
	recs, err := p.in.DB.Outbox().List(ctx, store.Filter{})
	w.must(err)
	if len(recs) != 1 || recs[0].CertNumber != cert.Number {
		t.Fatalf("queued %+v", recs)
	}
	if _, err := p.in.DB.Issued().Get(ctx, cert.Number); err != nil {
		t.Fatal(err)
	}
	// The signed e-CO verifies under IN's anchors, signed by the officer.
	full, err := p.in.DB.Outbox().Get(ctx, recs[0].ID)
	w.must(err)
	v := &certs.Verifier{Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{in.PKI.Root.Cert}}}
	res, err := v.Verify(full.Content)
	if err != nil || !res.Valid || res.Signer.Subject.CommonName != "Officer One" {
		t.Fatalf("signed e-CO: %v %+v", err, res.Report)
	}
}

// TestIssueKinds: a duplicate, an in-lieu and a back-to-back certificate
// each produce their e-CO (UNCL 1225 function, flags, references) and
// their register and outbox effects: the in-lieu certificate marks the old
// one replaced and is sent as a replacement.
func TestIssueKinds(t *testing.T) {
	in, _, _ := identities(t)
	p := newPair(t, fastRetry, nil, nil)
	w := newIsuWorld(t, p.in.DB, p.in.Node, in.PKI.Root.Cert, in.PKI.Intermediate, nil)
	ctx := context.Background()
	_, orig, err := w.svc.ApproveAndIssue(ctx, isuOfficer, w.reviewed(issuance.KindOriginal, issuance.CertRef{}, "VN"), "")
	w.must(err)
	for _, tc := range []struct {
		kind     issuance.Kind
		concerns issuance.CertRef
		function string
		msgKind  string
		check    func(c *schema.Certificate) bool
	}{
		{issuance.KindDuplicate, issuance.CertRef{Number: orig.Number}, "7", KindIssue, func(c *schema.Certificate) bool {
			return c.Header.Flags != nil && c.Header.Flags.CertifiedTrueCopy && len(c.References) == 1 && c.References[0].ID == orig.Number
		}},
		{issuance.KindBackToBack, issuance.CertRef{Country: "TH", Number: "TH-2026-77", IssueDate: "2026-05-01"}, "9", KindIssue, func(c *schema.Certificate) bool {
			return c.Header.Flags != nil && c.Header.Flags.BackToBack && len(c.OriginalProofs) == 1 && c.OriginalProofs[0].IssuingCountry == "TH"
		}},
		{issuance.KindInLieu, issuance.CertRef{Number: orig.Number}, "5", KindReplace, func(c *schema.Certificate) bool {
			return c.Replaces != nil && c.Replaces.CertificateNumber == orig.Number && !c.Replaces.IssueDate.IsZero()
		}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			_, cert, err := w.svc.ApproveAndIssue(ctx, isuOfficer, w.reviewed(tc.kind, tc.concerns, "VN"), "")
			if err != nil {
				t.Fatal(err)
			}
			if cert.ECO.Header.FunctionCode != tc.function || !tc.check(cert.ECO) || cert.Number == orig.Number {
				t.Fatalf("e-CO header %+v", cert.ECO.Header)
			}
			recs, err := p.in.DB.Outbox().List(ctx, store.Filter{})
			w.must(err)
			found := false
			for _, r := range recs {
				if r.CertNumber == cert.Number {
					found = r.Kind == tc.msgKind
				}
			}
			if !found {
				t.Fatalf("no %s message for %s", tc.msgKind, cert.Number)
			}
			rec, err := p.in.DB.Issued().Get(ctx, cert.Number)
			if err != nil || rec.Status != store.CertIssued {
				t.Fatalf("register %+v %v", rec, err)
			}
		})
	}
	old, err := p.in.DB.Issued().Get(ctx, orig.Number)
	if err != nil || old.Status != store.CertReplaced || old.ReplacedBy == "" {
		t.Fatalf("original after in-lieu: %+v %v", old, err)
	}
	// Not a partner: registered, not queued.
	before, _ := p.in.DB.Outbox().List(ctx, store.Filter{})
	_, c, err := w.svc.ApproveAndIssue(ctx, isuOfficer, w.reviewed(issuance.KindOriginal, issuance.CertRef{}, "TH"), "")
	w.must(err)
	after, _ := p.in.DB.Outbox().List(ctx, store.Filter{})
	if _, err := p.in.DB.Issued().Get(ctx, c.Number); err != nil || len(after) != len(before) {
		t.Fatalf("non-partner: register %v, queued %d -> %d", err, len(before), len(after))
	}
}
