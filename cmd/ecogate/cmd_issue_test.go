package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/issuance/api"
	"github.com/ecogate/ecogate/store"
)

// TestIssueCommands drives the operator's and the agency administrator's
// tasks through `ecogate issue` against the issuance API.
func TestIssueCommands(t *testing.T) {
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
	svc, err := issuance.New(issuance.Config{Country: "IN", Store: db.Issuance(), Registry: r, Operators: []string{"op@node.example"}})
	if err != nil {
		t.Fatal(err)
	}
	const tok = "0123456789abcdef0123456789abcdef"
	root := chi.NewRouter()
	root.Mount(api.Prefix, api.New(api.Options{Service: svc, Auth: &api.TokenAuth{Service: svc, LocalToken: tok, Operator: "op@node.example"}}).Routes())
	srv := httptest.NewServer(root)
	defer srv.Close()
	t.Setenv(localTokenEnv, tok)
	agency := filepath.Join(dir, "agency.json")
	os.WriteFile(agency, []byte(`{"agency":"EIC","name":"Export Inspection Council","series":"EIC","admin":{"id":"admin@eic.example","name":"A","email":"admin@eic.example"},"authorisationLetterSha256":"`+strings.Repeat("ab", 32)+`"}`), 0o600)
	office := filepath.Join(dir, "office.json")
	os.WriteFile(office, []byte(`{"code":"MUM","name":"EIC Mumbai","address":"Mumbai","currency":"INR","fees":{"original":50000},"eWallet":true,"merchantId":"EICMUM","checksumKey":"k3y"}`), 0o600)
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if rc := runIssue(context.Background(), append([]string{"--node", srv.URL}, args...), &out, &errb); rc != want {
			t.Fatalf("issue %v: exit %d, want %d: %s %s", args, rc, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	run(exitOK, "register-exporter", "AAACE1234F", "admin@alpha.example", "Anil", "Kumar")
	run(exitOK, "register-agency", agency)
	run(exitOK, "approve-agency", "EIC")
	out := run(exitOK, "token", "admin@eic.example", "24h")
	var agTok string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), `"token": "`); ok {
			agTok = strings.TrimRight(v, `",`)
		}
	}
	if agTok == "" {
		t.Fatalf("no token in %s", out)
	}
	run(exitOK, "--token", agTok, "add-office", "EIC", "MUM", office)
	run(exitOK, "register-officer", "EIC", "MUM", "off@eic.example", "O")
	run(exitOK, "--token", agTok, "approve-officer", "off@eic.example")
	if msg := run(exitFail, "approve-agency", "EIC"); !strings.Contains(msg, "409") { // already active
		t.Fatalf("second approval: %s", msg)
	}
	if msg := run(exitUsage, "--token", agTok, "approve-agency", "EIC"); !strings.Contains(msg, "403") {
		t.Fatalf("agency admin approving: %s", msg)
	}
	if msg := run(exitFail, "--token", agTok, "add-office", "EIC", "DEL", agency); !strings.Contains(msg, "400") {
		t.Fatalf("bad office body: %s", msg)
	}
	run(exitUsage, "frobnicate")
}
