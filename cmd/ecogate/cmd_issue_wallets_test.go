package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/issuance/api"
	"github.com/ecogate/ecogate/store"
)

// TestIssueImportWallets: `ecogate issue import-wallets` migrates each
// opening balance as one ledger entry "migrated opening balance (REF)";
// unknown IECs and offices, an office without e-wallet and malformed
// amounts go to the failure report without stopping the rest; a second
// run resumes from the checkpoint; run again from the start it writes
// nothing twice, and a changed amount is a conflict, never a second
// migration.
func TestIssueImportWallets(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "d.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := filepath.Join(dir, "reg.yaml")
	os.WriteFile(reg, []byte("exporters:\n  - {iec: AAACE1234F, name: Alpha, address: Mumbai, gstin: 27AAACE1234F1Z6}\n"), 0o600)
	r, err := issuance.NewFileRegistry(reg)
	if err != nil {
		t.Fatal(err)
	}
	op := issuance.Actor{ID: "op@node.example", Role: issuance.RoleOperator}
	ag := issuance.Actor{ID: "admin@eic.example", Role: issuance.RoleAgencyAdmin}
	svc, err := issuance.New(issuance.Config{Country: "IN", Store: db.Issuance(), Registry: r, Operators: []string{op.ID}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	np := func(id string) issuance.NewPerson { return issuance.NewPerson{ID: id, Name: "P", Email: id} }
	_, err = svc.RegisterExporter(ctx, op, "AAACE1234F", np("admin@alpha.example"))
	must(err)
	_, err = svc.RegisterAgency(ctx, issuance.AgencyRegistration{Agency: "EIC", Name: "EIC", Series: "EIC", Admin: np(ag.ID), AuthorisationLetterSHA256: strings.Repeat("ab", 32)})
	must(err)
	must(svc.ApproveAgency(ctx, op, "EIC"))
	for _, o := range []issuance.Office{
		{ID: "MUM", Agency: "EIC", Code: "MUM", Name: "EIC Mumbai", Address: "Mumbai", Currency: "INR", Fees: map[issuance.Kind]int64{issuance.KindOriginal: 100}, EWallet: true, MerchantID: "M1", ChecksumKey: "k1"},
		{ID: "DEL", Agency: "EIC", Code: "DEL", Name: "EIC Delhi", Address: "Delhi", Currency: "INR", Fees: map[issuance.Kind]int64{issuance.KindOriginal: 100}, MerchantID: "M2", ChecksumKey: "k2"},
	} {
		_, err = svc.PutOffice(ctx, ag, o)
		must(err)
	}
	const tok = "0123456789abcdef0123456789abcdef"
	root := chi.NewRouter()
	root.Mount(api.Prefix, api.New(api.Options{Service: svc, Auth: &api.TokenAuth{Service: svc, LocalToken: tok, Operator: op.ID}}).Routes())
	srv := httptest.NewServer(root)
	defer srv.Close()
	t.Setenv(localTokenEnv, tok)

	src := filepath.Join(dir, "wallets.csv")
	report := filepath.Join(dir, "failures.jsonl")
	write := func(s string) { must(os.WriteFile(src, []byte(s), 0o600)) }
	write("iec,office,amount,ref\n" +
		"AAACE1234F,MUM,1250000,LEGACY-W-1\n" + // migrated
		"AAACE9999F,MUM,100,LEGACY-W-2\n" + // unknown IEC
		"AAACE1234F,PUN,100,LEGACY-W-3\n" + // unknown office
		"AAACE1234F,DEL,100,LEGACY-W-4\n" + // no e-wallet
		"AAACE1234F,MUM,12.50,LEGACY-W-5\n" + // not minor units
		"AAACE1234X,MUM,100,LEGACY-W-6\n" + // IEC of the wrong form
		"AAACE1234F,MUM,-5,LEGACY-W-7\n") // negative
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		full := append([]string{"--node", srv.URL, "import-wallets", "--report", report, "--batch", "3"}, args...)
		if rc := runIssue(ctx, full, &out, &errb); rc != want {
			t.Fatalf("import-wallets %v: exit %d, want %d: %s %s", args, rc, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	out := run(exitFail, src)
	if !strings.Contains(out, "7 records: 1 migrated, 0 already migrated, 0 zero, 6 failed") {
		t.Fatalf("first run: %s", out)
	}
	rep, _ := os.ReadFile(report)
	for _, w := range []string{`"record":2,"iec":"AAACE9999F"`, `"code":"not-found"`, `"record":3`, `office PUN`, `"record":4`, `no e-wallet`,
		`"record":5`, `amount \"12.50\" is not an integer`, `"record":6`, `"record":7`, `between 0 and`} {
		if !strings.Contains(string(rep), w) {
			t.Errorf("report lacks %s:\n%s", w, rep)
		}
	}
	if n := strings.Count(string(rep), "\n"); n != 6 {
		t.Errorf("report has %d lines, want 6:\n%s", n, rep)
	}
	bal, ms, err := svc.Wallet(ctx, ag, "AAACE1234F", "MUM")
	must(err)
	if bal != 1250000 || len(ms) != 1 || ms[0].Reason != "migrated opening balance (LEGACY-W-1)" || ms[0].Actor != op.ID {
		t.Fatalf("wallet %d %+v", bal, ms)
	}
	// Resumed: the checkpoint says all was done.
	if out := run(exitOK, src); !strings.Contains(out, "resuming after record 7") || !strings.Contains(out, "0 records") {
		t.Fatalf("resume: %s", out)
	}
	// From the start again: recognised, nothing written twice.
	must(os.Remove(src + ".checkpoint"))
	write("iec,office,amount,ref\nAAACE1234F,MUM,1250000,LEGACY-W-1\n")
	if out := run(exitOK, src); !strings.Contains(out, "1 records: 0 migrated, 1 already migrated") {
		t.Fatalf("second run: %s", out)
	}
	must(os.Remove(src + ".checkpoint"))
	write("iec,office,amount\nAAACE1234F,MUM,999\n")
	if out := run(exitFail, src); !strings.Contains(out, "1 failed") {
		t.Fatalf("changed amount: %s", out)
	}
	if rep, _ := os.ReadFile(report); !strings.Contains(string(rep), `"code":"conflict"`) {
		t.Errorf("changed amount not reported as a conflict:\n%s", rep)
	}
	if bal, ms, _ := svc.Wallet(ctx, ag, "AAACE1234F", "MUM"); bal != 1250000 || len(ms) != 1 {
		t.Fatalf("wallet after reruns: %d %+v", bal, ms)
	}
	// An unreadable source is a usage error, before anything is sent.
	var ce bytes.Buffer
	if rc := runIssue(ctx, []string{"--node", srv.URL, "--token", "nope", "import-wallets", "--report", report, src + ".x"}, &ce, &ce); rc != exitUsage {
		t.Fatalf("unreadable source: %d %s", rc, ce.String())
	}
}
