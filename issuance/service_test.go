package issuance_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

const (
	iecA = "AAACE1234F"
	iecB = "AAACX9876K"
)

var (
	operator = issuance.Actor{ID: "op@node.example", Role: issuance.RoleOperator}
	expAdmin = issuance.Actor{ID: "admin@exporter-a.example", Role: issuance.RoleExporterAdmin}
	appl     = issuance.Actor{ID: "clerk@exporter-a.example", Role: issuance.RoleApplicant}
	expAdmB  = issuance.Actor{ID: "admin@exporter-b.example", Role: issuance.RoleExporterAdmin}
	agAdmin  = issuance.Actor{ID: "admin@eic.example", Role: issuance.RoleAgencyAdmin}
	officer  = issuance.Actor{ID: "officer@eic.example", Role: issuance.RoleOfficer}
	officer2 = issuance.Actor{ID: "other@eic.example", Role: issuance.RoleOfficer} // mapped to DEL only
)

// fakeSigner "signs" by prefixing the number; it fails for a chosen number.
type fakeSigner struct{ failFor string }

func (f *fakeSigner) Sign(_ context.Context, o *issuance.Person, c *issuance.Certificate) ([]byte, error) {
	if c.Number == f.failFor {
		return nil, errors.New("token unplugged")
	}
	return []byte("signed:" + c.Number + ":" + o.ID), nil
}

// fakeNode records what was registered; the bbolt transaction is real, so
// a rolled-back issue must not leave a record in the store either.
type fakeNode struct {
	mu   sync.Mutex
	got  []string
	fail bool
}

func (n *fakeNode) RegisterAndQueue(_ context.Context, tx issuance.Tx, c *issuance.Certificate, signed []byte) error {
	if n.fail {
		return errors.New("outbox full")
	}
	n.mu.Lock()
	n.got = append(n.got, c.Number)
	n.mu.Unlock()
	return nil
}

type world struct {
	t     *testing.T
	db    *store.DB
	svc   *issuance.Service
	node  *fakeNode
	sign  *fakeSigner
	clock time.Time
	reg   string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, node: &fakeNode{}, sign: &fakeSigner{}, clock: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	db, err := store.Open(filepath.Join(dir, "ecogate.db"), store.Options{Clock: func() time.Time { return w.clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.db = db
	w.reg = filepath.Join(dir, "registry.yaml")
	writeRegistry(t, w.reg, "Alpha Exports Pvt Ltd")
	reg, err := issuance.NewFileRegistry(w.reg)
	if err != nil {
		t.Fatal(err)
	}
	w.svc, err = issuance.New(issuance.Config{Country: "IN", Store: db.Issuance(), Registry: reg,
		Operators: []string{operator.ID}, Signer: w.sign, Node: w.node, Clock: func() time.Time { return w.clock }})
	if err != nil {
		t.Fatal(err)
	}
	w.setup()
	return w
}

func writeRegistry(t *testing.T, path, nameA string) {
	t.Helper()
	y := fmt.Sprintf(`exporters:
  - iec: %s
    name: %s
    address: 12 Marine Drive, Mumbai
    gstin: 27AAACE1234F1Z6
    branches:
      - {id: PUNE, address: "Hinjawadi, Pune"}
  - iec: %s
    name: Beta Traders
    address: 4 MG Road, Bengaluru
    gstin: 29AAACX9876K1ZC
`, iecA, nameA, iecB)
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *world) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func np(id string) issuance.NewPerson {
	return issuance.NewPerson{ID: id, Name: "Person " + id, Email: id}
}

// setup registers the exporters, the agency, two offices, two officers
// and funds exporter A's wallet at MUM.
func (w *world) setup() {
	ctx := context.Background()
	_, err := w.svc.RegisterExporter(ctx, operator, iecA, np(expAdmin.ID))
	w.must(err)
	_, err = w.svc.RegisterExporter(ctx, operator, iecB, np(expAdmB.ID))
	w.must(err)
	_, err = w.svc.AddApplicant(ctx, expAdmin, iecA, np(appl.ID))
	w.must(err)
	_, err = w.svc.RegisterAgency(ctx, issuance.AgencyRegistration{Agency: "EIC", Name: "Export Inspection Council", Series: "EIC",
		Admin: np(agAdmin.ID), AuthorisationLetterSHA256: strings.Repeat("ab", 32)})
	w.must(err)
	w.must(w.svc.ApproveAgency(ctx, operator, "EIC"))
	for _, o := range []string{"MUM", "DEL"} {
		_, err = w.svc.PutOffice(ctx, agAdmin, issuance.Office{ID: o, Agency: "EIC", Code: o, Name: "EIC " + o, Address: o + " office",
			Currency: "INR", Fees: map[issuance.Kind]int64{issuance.KindOriginal: 50000, issuance.KindDuplicate: 20000},
			EWallet: true, MerchantID: "EIC" + o, ChecksumKey: "k3y-" + o})
		w.must(err)
	}
	for _, o := range []struct {
		a      issuance.Actor
		office string
	}{{officer, "MUM"}, {officer2, "DEL"}} {
		_, err = w.svc.RegisterOfficer(ctx, issuance.OfficerRegistration{Agency: "EIC", Office: o.office, Officer: np(o.a.ID)})
		w.must(err)
		w.must(w.svc.ApproveOfficer(ctx, agAdmin, o.a.ID))
	}
	_, err = w.svc.TopUp(ctx, agAdmin, iecA, "MUM", 1_000_000_000, "receipt R-1")
	w.must(err)
}

func content() issuance.Content {
	return issuance.Content{
		Agreement: "AIFTA", Agency: "EIC", Office: "MUM", ImportingCountry: "VN",
		InvoiceNumber: "INV-1", InvoiceDate: "2026-11-28", Currency: "INR",
		Consignee: issuance.Party{Name: "Saigon Imports", Address: "1 Le Loi, HCMC", Country: "VN"},
		Transport: issuance.Transport{Mode: "1", Vessel: "MV Ganga", PortLoading: "INNSA", PortDischarge: "VNSGN"},
		Goods: []issuance.GoodsLine{{
			HS: "8414.51.10", Description: "Table fans", Quantity: "500", Unit: "NAR", Packages: 50, PackageType: "CT",
			FOB: 1_000_000, Criterion: "RVC 35% + CTSH",
			Materials: []issuance.Material{{HS: "850110", OriginCountry: "CN", Value: 300_000}, {HS: "392690", OriginCountry: "IN", Value: 200_000}},
			CostSheet: &issuance.CostSheet{Basis: issuance.BasisFOB, Price: 1_000_000, OriginatingMaterials: 200_000,
				NonOriginatingMaterials: 300_000, Labour: 200_000, Overheads: 150_000, Profit: 150_000},
		}},
		Declaration: issuance.Declaration{Place: "Mumbai", Name: "A. Kumar", Designation: "Director"},
	}
}

func (w *world) draft(by issuance.Actor) *issuance.Application {
	w.t.Helper()
	a, err := w.svc.CreateApplication(context.Background(), by, issuance.NewApplication{IEC: iecA, Content: content()})
	w.must(err)
	return a
}

// driveTo brings a new application to state s by the shortest path.
func (w *world) driveTo(s issuance.State) *issuance.Application {
	w.t.Helper()
	ctx := context.Background()
	a := w.draft(appl)
	path := map[issuance.State][]func() error{
		issuance.StateDraft:       {},
		issuance.StateSubmitted:   {w.sub(a.ID)},
		issuance.StateUnderReview: {w.sub(a.ID), w.rev(a.ID)},
		issuance.StateReturned:    {w.sub(a.ID), w.rev(a.ID), func() error { _, err := w.svc.Return(ctx, officer, a.ID, "invoice?"); return err }},
		issuance.StateApproved:    {w.sub(a.ID), w.rev(a.ID), w.appr(a.ID)},
		issuance.StateIssued: {w.sub(a.ID), w.rev(a.ID), w.appr(a.ID), func() error {
			_, _, err := w.svc.Issue(ctx, officer, a.ID)
			return err
		}},
		issuance.StateRejected:  {w.sub(a.ID), func() error { _, err := w.svc.Reject(ctx, officer, a.ID, "no"); return err }},
		issuance.StateWithdrawn: {func() error { _, err := w.svc.Withdraw(ctx, appl, a.ID, ""); return err }},
	}[s]
	for _, f := range path {
		w.must(f())
	}
	got, err := w.svc.Application(ctx, appl, a.ID)
	w.must(err)
	if got.State != s {
		w.t.Fatalf("driveTo %s: got %s", s, got.State)
	}
	return got
}

func (w *world) sub(id string) func() error {
	return func() error { _, err := w.svc.Submit(context.Background(), appl, id, issuance.PayWallet); return err }
}
func (w *world) rev(id string) func() error {
	return func() error { _, err := w.svc.Review(context.Background(), officer, id); return err }
}
func (w *world) appr(id string) func() error {
	return func() error { _, err := w.svc.Approve(context.Background(), officer, id, ""); return err }
}

// act performs action on id as actor.
func (w *world) act(a issuance.Actor, act issuance.Action, id, reason string) error {
	ctx := context.Background()
	var err error
	switch act {
	case issuance.ActSubmit:
		_, err = w.svc.Submit(ctx, a, id, issuance.PayWallet)
	case issuance.ActWithdraw:
		_, err = w.svc.Withdraw(ctx, a, id, reason)
	case issuance.ActReview:
		_, err = w.svc.Review(ctx, a, id)
	case issuance.ActReturn:
		_, err = w.svc.Return(ctx, a, id, reason)
	case issuance.ActAnswer:
		_, err = w.svc.Answer(ctx, a, id, reason)
	case issuance.ActReject:
		_, err = w.svc.Reject(ctx, a, id, reason)
	case issuance.ActApprove:
		_, err = w.svc.Approve(ctx, a, id, reason)
	case issuance.ActIssue:
		_, _, err = w.svc.Issue(ctx, a, id)
	default:
		panic(act)
	}
	return err
}

func (w *world) state(id string) issuance.State {
	var s issuance.State
	w.must(w.db.Issuance().View(context.Background(), func(tx issuance.Tx) error {
		a, err := tx.Application(id)
		if err == nil {
			s = a.State
		}
		return err
	}))
	return s
}

func (w *world) lastAudit() store.Entry {
	w.t.Helper()
	n, err := w.db.Audit().Verify(context.Background())
	w.must(err)
	es, err := w.db.Audit().Entries(context.Background(), uint64(n), 1)
	w.must(err)
	return es[0]
}

func actorFor(r issuance.Role) issuance.Actor {
	return map[issuance.Role]issuance.Actor{issuance.RoleExporterAdmin: expAdmin, issuance.RoleApplicant: appl,
		issuance.RoleAgencyAdmin: agAdmin, issuance.RoleOfficer: officer, issuance.RoleOperator: operator}[r]
}

// TestLifecycle walks the whole workflow, each step by the role the table
// names: a return answered, approval, issue with a number, wallet charged.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	a := w.draft(appl)
	steps := []struct {
		name  string
		by    issuance.Actor
		do    func() error
		state issuance.State
	}{
		{"applicant submits", appl, w.sub(a.ID), issuance.StateSubmitted},
		{"officer reviews", officer, w.rev(a.ID), issuance.StateUnderReview},
		{"officer returns", officer, func() error { _, err := w.svc.Return(ctx, officer, a.ID, "attach the packing list"); return err }, issuance.StateReturned},
		{"exporter admin edits", expAdmin, func() error {
			c := content()
			c.Remarks = "packing list attached"
			_, err := w.svc.SaveDraft(ctx, expAdmin, a.ID, c)
			return err
		}, issuance.StateReturned},
		{"exporter admin answers", expAdmin, func() error { _, err := w.svc.Answer(ctx, expAdmin, a.ID, "attached"); return err }, issuance.StateSubmitted},
		{"officer reviews again", officer, w.rev(a.ID), issuance.StateUnderReview},
		{"officer approves", officer, w.appr(a.ID), issuance.StateApproved},
		{"officer issues", officer, func() error { _, _, err := w.svc.Issue(ctx, officer, a.ID); return err }, issuance.StateIssued},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := w.state(a.ID); got != s.state {
			t.Fatalf("%s: state %s, want %s", s.name, got, s.state)
		}
		if e := w.lastAudit(); e.Actor != s.by.String() || e.Subject != a.ID {
			t.Fatalf("%s: last audit entry %+v", s.name, e)
		}
	}
	got, err := w.svc.Application(ctx, expAdmin, a.ID)
	w.must(err)
	if got.Certificate != "EIC-MUM-2026-000001" || got.Fee != 50000 || got.PaidVia != "wallet" || len(got.History) != 7 {
		t.Fatalf("issued application: cert %q fee %d via %q history %d", got.Certificate, got.Fee, got.PaidVia, len(got.History))
	}
	if len(w.node.got) != 1 || w.node.got[0] != got.Certificate {
		t.Fatalf("node got %v", w.node.got)
	}
	bal, ms, err := w.svc.Wallet(ctx, appl, iecA, "MUM")
	w.must(err)
	if bal != 1_000_000_000-50000 || len(ms) != 2 || ms[1].Amount != -50000 || ms[1].Application != a.ID {
		t.Fatalf("wallet %d %+v", bal, ms)
	}
	// A duplicate points at the issued certificate; another exporter cannot.
	if _, err := w.svc.CreateApplication(ctx, appl, issuance.NewApplication{IEC: iecA, Kind: issuance.KindDuplicate,
		Concerns: issuance.CertRef{Number: got.Certificate}, Content: content()}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.CreateApplication(ctx, expAdmB, issuance.NewApplication{IEC: iecB, Kind: issuance.KindInLieu,
		Concerns: issuance.CertRef{Number: got.Certificate}, Content: content()}); !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("in-lieu of another exporter's certificate: %v", err)
	}
	if _, err := w.svc.CreateApplication(ctx, appl, issuance.NewApplication{IEC: iecA, Kind: issuance.KindDuplicate,
		Concerns: issuance.CertRef{Number: "EIC-MUM-2026-999999"}, Content: content()}); !errors.Is(err, issuance.ErrInvalid) {
		t.Fatalf("duplicate of an unknown certificate: %v", err)
	}
	if n, err := w.db.Audit().Verify(ctx); err != nil || n < 10 {
		t.Fatalf("audit chain: %d %v", n, err)
	}
}

// TestForbiddenTransitions loops over every state x action x role: the
// move succeeds exactly when the table allows it for that role; otherwise
// it is refused (ErrForbidden with an audit entry for a wrong role,
// ErrState for a move the table lacks) and the state is unchanged.
func TestForbiddenTransitions(t *testing.T) {
	w := newWorld(t)
	for _, s := range issuance.States {
		for _, act := range issuance.Actions {
			for _, r := range issuance.Roles {
				a := w.driveTo(s)
				tr, inTable := issuance.Lookup(s, act)
				allowed := inTable && containsRole(tr.Roles, r)
				err := w.act(actorFor(r), act, a.ID, "because")
				name := fmt.Sprintf("%s %s by %s", s, act, r)
				switch {
				case allowed:
					if err != nil {
						t.Errorf("%s: %v", name, err)
					} else if got := w.state(a.ID); got != tr.To {
						t.Errorf("%s: state %s, want %s", name, got, tr.To)
					}
					continue
				case err == nil:
					t.Errorf("%s: accepted", name)
				case !issuance.RoleMay(r, act) || inTable:
					if !errors.Is(err, issuance.ErrForbidden) {
						t.Errorf("%s: %v, want ErrForbidden", name, err)
					} else if e := w.lastAudit(); e.Action != "issuance.refused" || e.Subject != a.ID || e.Actor != actorFor(r).String() {
						t.Errorf("%s: refusal not audited: %+v", name, e)
					}
				default:
					if !errors.Is(err, issuance.ErrState) {
						t.Errorf("%s: %v, want ErrState", name, err)
					}
				}
				if got := w.state(a.ID); got != s {
					t.Errorf("%s: state moved to %s", name, got)
				}
			}
		}
	}
}

func containsRole(rs []issuance.Role, r issuance.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// TestOtherOrganisation: the right role on another organisation's
// application, an officer of another office, a deactivated officer, a
// removed applicant, a claimed role the person does not hold.
func TestOtherOrganisation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	sub := w.driveTo(issuance.StateSubmitted)
	draft := w.driveTo(issuance.StateDraft)
	cases := []struct {
		name string
		do   func() error
	}{
		{"exporter B submits A's draft", func() error { _, err := w.svc.Submit(ctx, expAdmB, draft.ID, issuance.PayWallet); return err }},
		{"exporter B reads A's application", func() error { _, err := w.svc.Application(ctx, expAdmB, draft.ID); return err }},
		{"exporter B saves A's draft", func() error { _, err := w.svc.SaveDraft(ctx, expAdmB, draft.ID, content()); return err }},
		{"exporter B files for A", func() error {
			_, err := w.svc.CreateApplication(ctx, expAdmB, issuance.NewApplication{IEC: iecA, Content: content()})
			return err
		}},
		{"officer of DEL reviews MUM's", func() error { _, err := w.svc.Review(ctx, officer2, sub.ID); return err }},
		{"applicant claims officer", func() error {
			_, err := w.svc.Review(ctx, issuance.Actor{ID: appl.ID, Role: issuance.RoleOfficer}, sub.ID)
			return err
		}},
		{"unknown person", func() error {
			_, err := w.svc.Review(ctx, issuance.Actor{ID: "nobody@x", Role: issuance.RoleOfficer}, sub.ID)
			return err
		}},
		{"not an operator", func() error {
			return w.svc.ApproveAgency(ctx, issuance.Actor{ID: "x@y", Role: issuance.RoleOperator}, "EIC")
		}},
		{"applicant adds applicant", func() error { _, err := w.svc.AddApplicant(ctx, appl, iecA, np("z@a.example")); return err }},
		{"exporter B admin adds to A", func() error { _, err := w.svc.AddApplicant(ctx, expAdmB, iecA, np("z@a.example")); return err }},
		{"officer tops up", func() error { _, err := w.svc.TopUp(ctx, officer, iecA, "MUM", 1, "x"); return err }},
		{"exporter B reads A's wallet", func() error { _, _, err := w.svc.Wallet(ctx, expAdmB, iecA, "MUM"); return err }},
		{"removed applicant", func() error {
			_, err := w.svc.AddApplicant(ctx, expAdmin, iecA, np("temp@a.example"))
			w.must(err)
			w.must(w.svc.RemoveApplicant(ctx, expAdmin, iecA, "temp@a.example"))
			_, err = w.svc.Submit(ctx, issuance.Actor{ID: "temp@a.example", Role: issuance.RoleApplicant}, draft.ID, issuance.PayWallet)
			return err
		}},
		{"deactivated officer", func() error { // last: the officer stays inactive
			w.must(w.svc.SetOfficerActive(ctx, agAdmin, officer.ID, false))
			_, err := w.svc.Review(ctx, officer, sub.ID)
			return err
		}},
	}
	for _, c := range cases {
		err := c.do()
		if !errors.Is(err, issuance.ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", c.name, err)
			continue
		}
		if e := w.lastAudit(); e.Action != "issuance.refused" {
			t.Errorf("%s: refusal not audited, last entry %+v", c.name, e)
		}
	}
	if w.state(sub.ID) != issuance.StateSubmitted || w.state(draft.ID) != issuance.StateDraft {
		t.Fatal("a refused action changed an application")
	}
}

// TestConcurrentNumbering: 100 approved applications issued in parallel get
// the numbers 1 to 100 of the office's series, each once; a failed
// signature in the middle consumes no number.
func TestConcurrentNumbering(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	const n = 100
	ids := make([]string, n)
	for i := range ids {
		ids[i] = w.driveTo(issuance.StateApproved).ID
	}
	w.sign.failFor = "EIC-MUM-2026-000101" // never reached: the 101st
	var wg sync.WaitGroup
	nums := make([]string, n)
	errs := make([]error, n)
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			app, _, err := w.svc.Issue(ctx, officer, id)
			errs[i] = err
			if err == nil {
				nums[i] = app.Certificate
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("issue %s: %v", ids[i], err)
		}
	}
	sort.Strings(nums)
	for i, num := range nums {
		if want := fmt.Sprintf("EIC-MUM-2026-%06d", i+1); num != want {
			t.Fatalf("number %d is %s, want %s (gap or duplicate)", i, num, want)
		}
	}
	// A failed signature rolls the whole issue back: no number used.
	a := w.driveTo(issuance.StateApproved)
	if _, _, err := w.svc.Issue(ctx, officer, a.ID); err == nil || w.state(a.ID) != issuance.StateApproved {
		t.Fatalf("issue with a failing signer: %v, state %s", err, w.state(a.ID))
	}
	w.sign.failFor = ""
	w.node.fail = true
	if _, _, err := w.svc.Issue(ctx, officer, a.ID); err == nil || w.state(a.ID) != issuance.StateApproved {
		t.Fatalf("issue with a failing node: %v", err)
	}
	w.node.fail = false
	app, _, err := w.svc.Issue(ctx, officer, a.ID)
	w.must(err)
	if app.Certificate != "EIC-MUM-2026-000101" {
		t.Fatalf("after two failed issues the number is %s, want 000101 (no gap)", app.Certificate)
	}
}

// TestWalletNeverNegative: a submission the balance cannot pay is refused
// and changes nothing; parallel submissions never overdraw.
func TestWalletNeverNegative(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// Exporter B has no credit at MUM.
	bAdm := expAdmB
	c := content()
	a, err := w.svc.CreateApplication(ctx, bAdm, issuance.NewApplication{IEC: iecB, Content: c})
	w.must(err)
	if _, err := w.svc.Submit(ctx, bAdm, a.ID, issuance.PayWallet); !errors.Is(err, issuance.ErrInsufficientFunds) {
		t.Fatalf("submit without funds: %v", err)
	}
	if w.state(a.ID) != issuance.StateDraft {
		t.Fatal("unpaid submission moved")
	}
	if _, err := w.svc.Submit(ctx, bAdm, a.ID, issuance.PayGateway); !errors.Is(err, issuance.ErrNotAvailable) {
		t.Fatalf("gateway path: %v", err)
	}
	// Credit 3 fees; 6 parallel submissions: exactly 3 pass.
	_, err = w.svc.TopUp(ctx, agAdmin, iecB, "MUM", 150000, "receipt R-2")
	w.must(err)
	for _, bad := range []int64{0, -5} {
		if _, err := w.svc.TopUp(ctx, agAdmin, iecB, "MUM", bad, "x"); !errors.Is(err, issuance.ErrInvalid) {
			t.Fatalf("top up %d: %v", bad, err)
		}
	}
	var ids []string
	for range 6 {
		x, err := w.svc.CreateApplication(ctx, bAdm, issuance.NewApplication{IEC: iecB, Content: c})
		w.must(err)
		ids = append(ids, x.ID)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, poor := 0, 0
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.svc.Submit(ctx, bAdm, id, issuance.PayWallet)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, issuance.ErrInsufficientFunds):
				poor++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	bal, ms, err := w.svc.Wallet(ctx, bAdm, iecB, "MUM")
	w.must(err)
	if ok != 3 || poor != 3 || bal != 0 {
		t.Fatalf("ok %d, refused %d, balance %d", ok, poor, bal)
	}
	var sum int64
	for i, m := range ms {
		sum += m.Amount
		if m.Balance != sum || m.Balance < 0 || m.Reason == "" || m.Seq != uint64(i+1) {
			t.Fatalf("movement %d: %+v (running sum %d)", i, m, sum)
		}
	}
}

// TestSubmitValidation: an incomplete application is refused with every
// problem named; a draft saves anyway.
func TestSubmitValidation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c := content()
	c.Goods[0].HS = "841451"
	c.Goods[0].Unit = "XYZ"
	c.Goods[0].Quantity = "-1"
	c.InvoiceDate = "28/11/2026"
	c.Goods[0].Materials[0].OriginCountry = "ZZ"
	c.Declaration.Place = ""
	a, err := w.svc.CreateApplication(ctx, appl, issuance.NewApplication{IEC: iecA, Content: c})
	w.must(err) // a draft saves at any point
	_, err = w.svc.Submit(ctx, appl, a.ID, issuance.PayWallet)
	var ve *issuance.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, issuance.ErrInvalid) {
		t.Fatalf("submit: %v", err)
	}
	for _, f := range []string{"goods[0].hs", "goods[0].unit", "goods[0].quantity", "invoiceDate", "goods[0].materials[0].originCountry", "declaration.place"} {
		found := false
		for _, p := range ve.Problems {
			found = found || p.Field == f
		}
		if !found {
			t.Errorf("no problem reported for %s: %v", f, err)
		}
	}
	big := content()
	big.Goods[0].FOB = -1
	if _, err := w.svc.SaveDraft(ctx, appl, a.ID, big); !errors.Is(err, issuance.ErrInvalid) {
		t.Fatalf("negative FOB saved: %v", err)
	}
}

// TestRegistryAndOrganisations: IEC form, registry changes flowing in with
// branch GSTINs kept, office gateway parameters refused when blank or
// spaced, officer registration needing approval.
func TestRegistryAndOrganisations(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, bad := range []string{"AAACE1234", "aaace1234f", "12345ABCDE", "AAACE1234FF"} {
		if _, err := w.svc.RegisterExporter(ctx, operator, bad, np("x@y.example")); !errors.Is(err, issuance.ErrInvalid) {
			t.Errorf("IEC %q: %v", bad, err)
		}
	}
	if _, err := w.svc.RegisterExporter(ctx, operator, "0123456789", np("x@y.example")); !errors.Is(err, issuance.ErrNotFound) {
		t.Errorf("IEC unknown to the registry: %v", err)
	}
	if _, err := w.svc.RegisterExporter(ctx, operator, iecA, np("x@y.example")); !errors.Is(err, issuance.ErrConflict) {
		t.Errorf("registered twice: %v", err)
	}
	w.must(w.svc.SetBranchGSTIN(ctx, expAdmin, iecA, "PUNE", "27AAACE1234F1Z6"))
	if err := w.svc.SetBranchGSTIN(ctx, expAdmin, iecA, "PUNE", "27AAACE1234F1Z7"); !errors.Is(err, issuance.ErrInvalid) {
		t.Errorf("bad GSTIN check character: %v", err)
	}
	writeRegistry(t, w.reg, "Alpha Exports Limited")
	os.Chtimes(w.reg, time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	e, err := w.svc.RefreshExporter(ctx, expAdmin, iecA)
	w.must(err)
	if e.Name != "Alpha Exports Limited" || e.Branches[0].GSTIN != "27AAACE1234F1Z6" {
		t.Fatalf("refreshed exporter: %+v", e)
	}
	for _, o := range []issuance.Office{
		{MerchantID: "", ChecksumKey: "k"},
		{MerchantID: "M 1", ChecksumKey: "k"},
		{MerchantID: "M1", ChecksumKey: " k"},
		{MerchantID: "M1", ChecksumKey: "k\t"},
	} {
		o.ID, o.Agency, o.Code, o.Name, o.Address, o.Currency = "BOM", "EIC", "BOM", "n", "a", "INR"
		if _, err := w.svc.PutOffice(ctx, agAdmin, o); !errors.Is(err, issuance.ErrInvalid) {
			t.Errorf("office with merchant %q key %q: %v", o.MerchantID, o.ChecksumKey, err)
		}
	}
	// A pending officer cannot act until approved.
	p := issuance.Actor{ID: "new@eic.example", Role: issuance.RoleOfficer}
	_, err = w.svc.RegisterOfficer(ctx, issuance.OfficerRegistration{Agency: "EIC", Office: "MUM", Officer: np(p.ID)})
	w.must(err)
	sub := w.driveTo(issuance.StateSubmitted)
	if _, err := w.svc.Review(ctx, p, sub.ID); !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("pending officer reviewed: %v", err)
	}
	w.must(w.svc.ApproveOfficer(ctx, agAdmin, p.ID))
	if _, err := w.svc.Review(ctx, p, sub.ID); err != nil {
		t.Fatalf("approved officer: %v", err)
	}
	// A pending agency's administrator cannot add offices.
	_, err = w.svc.RegisterAgency(ctx, issuance.AgencyRegistration{Agency: "FIEO", Name: "FIEO", Series: "FIEO", Admin: np("a@fieo.example"), AuthorisationLetterSHA256: strings.Repeat("cd", 32)})
	w.must(err)
	if _, err := w.svc.PutOffice(ctx, issuance.Actor{ID: "a@fieo.example", Role: issuance.RoleAgencyAdmin}, issuance.Office{ID: "F1", Agency: "FIEO", Code: "F1", Name: "n", Address: "a", Currency: "INR", MerchantID: "m", ChecksumKey: "k"}); !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("pending agency admin: %v", err)
	}
}
