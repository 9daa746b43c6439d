package issuance_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// countingRegistry counts the lookups a Service makes.
type countingRegistry struct{ n atomic.Int32 }

func (r *countingRegistry) Lookup(_ context.Context, iec string) (*issuance.RegistryRecord, error) {
	r.n.Add(1)
	return &issuance.RegistryRecord{IEC: iec, Name: "Alpha Exports Pvt Ltd", Address: "12 Marine Drive, Mumbai"}, nil
}

// TestRegisterExporterAsksRegistryForOperatorsOnly: an actor who is not a
// configured operator is refused before the node calls the trade
// registry; an operator's registration looks it up once.
func TestRegisterExporterAsksRegistryForOperatorsOnly(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "ecogate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := &countingRegistry{}
	svc, err := issuance.New(issuance.Config{Country: "IN", Store: db.Issuance(), Registry: reg,
		Operators: []string{operator.ID}, Signer: &fakeSigner{}, Node: &fakeNode{}, Clock: func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []issuance.Actor{
		expAdmin,
		{ID: "someone@else.example", Role: issuance.RoleOperator}, // claims the role, not configured
		{},
	} {
		if _, err := svc.RegisterExporter(ctx, a, iecA, np("admin@alpha.example")); !errors.Is(err, issuance.ErrForbidden) {
			t.Fatalf("%+v: %v, want ErrForbidden", a, err)
		}
	}
	if n := reg.n.Load(); n != 0 {
		t.Fatalf("%d registry lookups for refused actors, want 0", n)
	}
	if _, err := svc.RegisterExporter(ctx, operator, iecA, np("admin@alpha.example")); err != nil {
		t.Fatal(err)
	}
	if n := reg.n.Load(); n != 1 {
		t.Fatalf("%d registry lookups for the operator, want 1", n)
	}
}
