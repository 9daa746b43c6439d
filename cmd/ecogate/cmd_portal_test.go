package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/store"
)

// portalData is a stopped node's data file with an agency administrator
// (admin@eic.example) registered in the issuance workflow.
func portalData(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := issuance.New(issuance.Config{Country: "IN", Store: db.Issuance(), Operators: []string{"op@in.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RegisterAgency(context.Background(), issuance.AgencyRegistration{Agency: "EIC", Name: "Export Inspection Council", Series: "EIC",
		Admin: issuance.NewPerson{ID: "admin@eic.example", Name: "B. Rao", Email: "admin@eic.example"}, AuthorisationLetterSHA256: strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func portalUser(t *testing.T, path, name string) *store.PortalUser {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.Portal().User(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPortalAddUser(t *testing.T) {
	t.Setenv("ECOGATE_PORTAL_PASSWORD", "") // stdin first
	data := portalData(t)
	const pw = "correct horse battery"
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runPortalIn(context.Background(), args, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, c := range []struct {
		name    string
		stdin   string
		args    []string
		code    int
		want    string // in stdout (success) or stderr
		created bool
	}{
		{"password from stdin", pw + "\n", []string{"add-user", "--data", data, "--role", "agency-admin", "--person", "Admin@EIC.example", "eic"}, exitOK,
			"login eic acts as admin@eic.example (agency-admin)", true},
		{"unknown role refused", pw + "\n", []string{"add-user", "--data", data, "--role", "king", "--person", "admin@eic.example", "eic2"}, exitUsage,
			`--role "king" is not one of`, false},
		{"role the person does not have", pw + "\n", []string{"add-user", "--data", data, "--role", "officer", "--person", "admin@eic.example", "eic2"}, exitUsage,
			"is a agency-admin, not a officer", false},
		{"person must exist", pw + "\n", []string{"add-user", "--data", data, "--role", "officer", "--person", "nobody@eic.example", "eic2"}, exitUsage,
			"register it first", false},
		{"short password", "short\n", []string{"add-user", "--data", data, "--role", "agency-admin", "--person", "admin@eic.example", "eic2"}, exitUsage,
			"at least 12 characters", false},
		{"no password", "", []string{"add-user", "--data", data, "--role", "agency-admin", "--person", "admin@eic.example", "eic2"}, exitUsage,
			"at least 12 characters", false},
		{"no person", pw + "\n", []string{"add-user", "--data", data, "--role", "agency-admin", "eic2"}, exitUsage, "give --person", false},
		{"no data file", pw + "\n", []string{"add-user", "--role", "agency-admin", "--person", "admin@eic.example", "eic2"}, exitUsage, "usage:", false},
		{"unknown subcommand", pw + "\n", []string{"remove-user", "--data", data, "eic"}, exitUsage, "usage:", false},
	} {
		code, out, errs := run(c.stdin, c.args...)
		got := errs
		if code == exitOK {
			got = out
		}
		if code != c.code || !strings.Contains(got, c.want) {
			t.Errorf("%s: exit %d (stdout %q, stderr %q), want %d with %q", c.name, code, out, errs, c.code, c.want)
		}
	}
	u := portalUser(t, data, "eic")
	if ok, err := portal.CheckPassword(u.Hash, pw); !ok || err != nil || u.Person != "admin@eic.example" || u.Role != "agency-admin" || u.Disabled {
		t.Fatalf("stored login %+v (password ok %v, %v)", u, ok, err)
	}
	if !strings.HasPrefix(u.Hash, "$argon2id$") || strings.Contains(u.Hash, pw) {
		t.Errorf("hash %q", u.Hash)
	}
	// the refused attempts created nothing
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Portal().User(context.Background(), "eic2"); err == nil {
		t.Error("a refused add-user created login eic2")
	}
	db.Close()

	// the environment variable wins over stdin; a reset keeps the creation time
	t.Setenv("ECOGATE_PORTAL_PASSWORD", "another long password")
	if code, _, errs := run("ignored stdin line\n", "add-user", "--data", data, "--role", "agency-admin", "--person", "admin@eic.example", "eic"); code != exitOK {
		t.Fatalf("reset: %d %s", code, errs)
	}
	u2 := portalUser(t, data, "eic")
	if ok, _ := portal.CheckPassword(u2.Hash, "another long password"); !ok || !u2.Created.Equal(u.Created) {
		t.Errorf("reset login %+v (password ok %v)", u2, ok)
	}

	// disable-user
	if code, out, _ := run("", "disable-user", "--data", data, "eic"); code != exitOK || !strings.Contains(out, "login eic disabled") {
		t.Errorf("disable-user: %d %q", code, out)
	}
	if !portalUser(t, data, "eic").Disabled {
		t.Error("login eic not disabled")
	}
	if code, _, errs := run("", "disable-user", "--data", data, "nobody"); code != exitUsage || !strings.Contains(errs, `login "nobody"`) {
		t.Errorf("disable-user of an unknown login: %d %q", code, errs)
	}
}
