package issuance_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// TestSelfRegisterExporter: the registry confirms an administrator whose
// e-mail it holds for the IEC (active at once); another stays pending, may
// not act, and is confirmed by the operator only.
func TestSelfRegisterExporter(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "d.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(reg, []byte("exporters:\n  - {iec: AAACE1234F, name: Alpha, address: Mumbai, gstin: 27AAACE1234F1Z6, email: Admin@Alpha.example}\n  - {iec: AAACX9876K, name: Beta, address: Bengaluru, gstin: 29AAACX9876K1ZC}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := issuance.NewFileRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	op := issuance.Actor{ID: "op@node.example", Role: issuance.RoleOperator}
	svc, err := issuance.New(issuance.Config{Country: "IN", Store: db.Issuance(), Registry: r, Operators: []string{op.ID}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := svc.SelfRegisterExporter(ctx, "AAACE1234F", issuance.NewPerson{ID: "admin@alpha.example", Name: "A", Email: "admin@alpha.example"})
	if err != nil || a.Status != issuance.PersonActive || a.ConfirmedBy != "registry" || a.Exporter.Name != "Alpha" {
		t.Fatalf("registry-confirmed: %+v %v", a, err)
	}
	b, err := svc.SelfRegisterExporter(ctx, "AAACX9876K", issuance.NewPerson{ID: "boss@beta.example", Name: "B", Email: "boss@beta.example"})
	if err != nil || b.Status != issuance.PersonPending || b.ConfirmedBy != "" {
		t.Fatalf("pending: %+v %v", b, err)
	}
	beta := issuance.Actor{ID: "boss@beta.example", Role: issuance.RoleExporterAdmin}
	if _, err := svc.AddApplicant(ctx, beta, "AAACX9876K", issuance.NewPerson{ID: "c@beta.example", Name: "C", Email: "c@beta.example"}); !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("a pending administrator acted: %v", err)
	}
	alpha := issuance.Actor{ID: "admin@alpha.example", Role: issuance.RoleExporterAdmin}
	if err := svc.ConfirmExporter(ctx, alpha, "AAACX9876K"); !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("an exporter confirmed another: %v", err)
	}
	if err := svc.ConfirmExporter(ctx, op, "AAACX9876K"); err != nil {
		t.Fatal(err)
	}
	if err := svc.ConfirmExporter(ctx, op, "AAACX9876K"); !errors.Is(err, issuance.ErrState) {
		t.Fatalf("confirmed twice: %v", err)
	}
	if _, err := svc.AddApplicant(ctx, beta, "AAACX9876K", issuance.NewPerson{ID: "c@beta.example", Name: "C", Email: "c@beta.example"}); err != nil {
		t.Fatalf("confirmed administrator: %v", err)
	}
	if _, err := svc.SelfRegisterExporter(ctx, "AAACX9876K", issuance.NewPerson{ID: "x@beta.example", Name: "X", Email: "x@beta.example"}); !errors.Is(err, issuance.ErrConflict) {
		t.Fatalf("second registration: %v", err)
	}
}
