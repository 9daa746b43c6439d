package portal_test

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/store"
)

// live is a portal over the real issuance service on bbolt (no node:
// nothing is issued), with an exporter (IEC lvIEC), an agency EIC with
// office MUM, an approved officer and a logged-in user for each.
type live struct {
	*world
	svc *issuance.Service
}

const (
	lvIEC     = "AAACE1234F"
	lvNewIEC  = "BBBCE5678G"
	lvAdmin   = "admin@alpha.example"
	lvAgAdmin = "admin@eic.example"
	lvOfficer = "officer@eic.example"
	lvOp      = "op@in.example"
)

var (
	lvExporter = issuance.Actor{ID: lvAdmin, Role: issuance.RoleExporterAdmin}
	lvOfficerA = issuance.Actor{ID: lvOfficer, Role: issuance.RoleOfficer}
)

func newLive(t testing.TB) *live {
	t.Helper()
	w := &world{t: t, clock: &clock{t: time.Now().UTC()}}
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "node.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.db = db
	reg := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte("exporters:\n"+
		"  - {iec: "+lvIEC+", name: Alpha Exports Pvt Ltd, address: '12 Marine Drive, Mumbai', gstin: 27AAACE1234F1Z6}\n"+
		"  - {iec: "+lvNewIEC+", name: Beta Spices LLP, address: '4 Mattancherry, Kochi', gstin: 32BBBCE5678G1ZL, email: owner@beta.example}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fr, err := issuance.NewFileRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := issuance.New(issuance.Config{Country: "IN", Store: db.Issuance(), Registry: fr, Operators: []string{lvOp}, Clock: w.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op := issuance.Actor{ID: lvOp, Role: issuance.RoleOperator}
	ag := issuance.Actor{ID: lvAgAdmin, Role: issuance.RoleAgencyAdmin}
	np := func(id, name string) issuance.NewPerson { return issuance.NewPerson{ID: id, Name: name, Email: id} }
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.RegisterExporter(ctx, op, lvIEC, np(lvAdmin, "Asha Rao")))
	must(svc.RegisterAgency(ctx, issuance.AgencyRegistration{Agency: "EIC", Name: "Export Inspection Council", Series: "EIC",
		Admin: np(lvAgAdmin, "B. Rao"), AuthorisationLetterSHA256: strings.Repeat("ab", 32)}))
	must(nil, svc.ApproveAgency(ctx, op, "EIC"))
	must(svc.PutOffice(ctx, ag, issuance.Office{ID: "MUM", Agency: "EIC", Code: "MUM", Name: "EIC Mumbai", Address: "Mumbai office",
		Currency: "INR", Fees: map[issuance.Kind]int64{issuance.KindOriginal: 50000}, EWallet: true, MerchantID: "EICMUM", ChecksumKey: "k3y-MUM"}))
	must(svc.RegisterOfficer(ctx, issuance.OfficerRegistration{Agency: "EIC", Office: "MUM", Officer: np(lvOfficer, "Officer One")}))
	must(nil, svc.ApproveOfficer(ctx, ag, lvOfficer))
	must(svc.TopUp(ctx, ag, lvIEC, "MUM", 100_000_000, "receipt R-1"))
	hash, err := portal.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ name, person, role string }{{"alpha", lvAdmin, "exporter-admin"}, {"eic-admin", lvAgAdmin, "agency-admin"},
		{"officer", lvOfficer, "officer"}, {"operator", lvOp, "operator"}} {
		if err := db.Portal().PutUser(ctx, &store.PortalUser{Name: u.name, Hash: hash, Person: u.person, Role: u.role, Created: w.clock.now()}); err != nil {
			t.Fatal(err)
		}
	}
	w.ts = httptest.NewUnstartedServer(nil)
	w.base = "http://localhost:" + strconv.Itoa(w.ts.Listener.Addr().(*net.TCPAddr).Port)
	w.srv, err = portal.New(portal.Options{Name: "ecogate IN (live test)", Store: db.Portal(), Service: svc, Clock: w.clock.now,
		LoginRate: 1000, LoginBurst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	w.ts.Config.Handler = w.srv.Handler()
	w.ts.Start()
	t.Cleanup(w.ts.Close)
	return &live{world: w, svc: svc}
}

// content is a complete application's content.
func (l *live) content() issuance.Content {
	today := l.clock.now().Format(time.DateOnly)
	return issuance.Content{
		Agreement: "AIFTA", Agency: "EIC", Office: "MUM", ImportingCountry: "VN",
		InvoiceNumber: "INV-1", InvoiceDate: today, Currency: "INR",
		Consignee: issuance.Party{Name: "Saigon Imports", Address: "1 Le Loi, HCMC", Country: "VN"},
		Transport: issuance.Transport{Mode: "1", Vessel: "MV Ganga", PortLoading: "INNSA", PortDischarge: "VNSGN", DepartureDate: today},
		Goods: []issuance.GoodsLine{
			{HS: "0202.30.00", Description: "Frozen boneless bovine meat", Quantity: "1000", Unit: "KGM", Packages: 50, PackageType: "CT", FOB: 1_000_000, Criterion: "WO"},
			{HS: "8504.40.10", Description: "Static converters for telecom", Quantity: "1200", Unit: "NAR", Packages: 40, PackageType: "CT", FOB: 4_560_000, Criterion: "WO"},
		},
		Declaration: issuance.Declaration{Place: "Mumbai", Name: "Asha Rao", Designation: "Director"},
	}
}

// underReview files, submits (e-wallet) and takes up an application.
func (l *live) underReview() string {
	l.t.Helper()
	ctx := context.Background()
	a, err := l.svc.CreateApplication(ctx, lvExporter, issuance.NewApplication{IEC: lvIEC, Kind: issuance.KindOriginal, Content: l.content()})
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.svc.Submit(ctx, lvExporter, a.ID, issuance.PayWallet); err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.svc.Review(ctx, lvOfficerA, a.ID); err != nil {
		l.t.Fatal(err)
	}
	return a.ID
}
