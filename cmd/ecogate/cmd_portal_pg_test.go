package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/pgtest"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// TestPortalUsersOnPostgres: `ecogate portal add-user` and `disable-user`
// with a store.engine: postgres configuration write the logins to the
// database the replicas read; the person check runs against the database's
// issuance records.
func TestPortalUsersOnPostgres(t *testing.T) {
	base, _ := importSite(t)
	dsn := pgtest.DSN(t)
	cfg := writeReplicaConfig(t, base, "pg.yaml", map[string]any{"store.engine": "postgres", "store.dsn": dsn, "store.migrate": true})
	ctx := context.Background()
	pg, err := store.OpenPG(ctx, store.PGOptions{DSN: dsn, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if err := pg.Issuance().Update(ctx, func(tx issuance.Tx) error {
		return tx.PutPerson(&issuance.Person{ID: "p1", Org: "IEC1", Role: issuance.RoleApplicant})
	}); err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := runPortalIn(ctx, args, strings.NewReader(stdin), &out, &errb)
		return code, out.String() + errb.String()
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add-user", "--config", cfg, "--role", "officer", "--person", "p1", "asha"}, "is a applicant, not a officer"},
		{[]string{"add-user", "--config", cfg, "--role", "applicant", "--person", "nobody", "asha"}, "register it first"},
		{[]string{"disable-user", "--config", cfg, "nobody"}, "not found"},
	} {
		if code, out := run("a long enough password\n", tc.args...); code != exitUsage || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, out, tc.want)
		}
	}
	if code, out := run("a long enough password\n", "add-user", "--config", cfg, "--role", "applicant", "--person", "P1", "asha"); code != exitOK || !strings.Contains(out, "acts as p1") {
		t.Fatalf("add-user: %d %s", code, out)
	}
	u, err := pg.Portal().User(ctx, "asha")
	if err != nil || u.Person != "p1" || u.Role != "applicant" || !strings.HasPrefix(u.Hash, "$argon2id$") || u.Disabled {
		t.Fatalf("login in PostgreSQL: %+v %v", u, err)
	}
	if code, out := run("", "disable-user", "--config", cfg, "asha"); code != exitOK {
		t.Fatalf("disable-user: %d %s", code, out)
	}
	if u, err := pg.Portal().User(ctx, "asha"); err != nil || !u.Disabled {
		t.Fatalf("disabled login: %+v %v", u, err)
	}
}
