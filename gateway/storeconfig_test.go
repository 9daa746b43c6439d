package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        StoreConfig
		needData bool
		problem  string // substring of the only problem; "" for none
	}{
		{"default is bbolt", StoreConfig{}, true, ""},
		{"bbolt with dsn", StoreConfig{Engine: "bbolt", DSN: "postgres://x@h/db"}, true, "store.dsn: only used with store.engine: postgres"},
		{"unknown engine", StoreConfig{Engine: "sqlite"}, false, `store.engine: "sqlite" is not an engine`},
		{"postgres without dsn", StoreConfig{Engine: "postgres"}, false, "store.dsn: required"},
		{"password in URL", StoreConfig{Engine: "postgres", DSN: "postgres://eco:s3cret@db:5432/eco"}, false, "store.passwordEnv"},
		{"password in URL query", StoreConfig{Engine: "postgres", DSN: "postgres://eco@db/eco?password=s3cret"}, false, "must not contain the password"},
		{"password keyword", StoreConfig{Engine: "postgres", DSN: "host=db user=eco password=s3cret dbname=eco"}, false, "must not contain the password"},
		{"both password sources", StoreConfig{Engine: "postgres", DSN: "postgres://eco@db/eco", PasswordEnv: "PW", PasswordFile: "/pw"}, false, "not both"},
		{"good postgres", StoreConfig{Engine: "postgres", DSN: "postgres://eco@db/eco?sslmode=verify-full", PasswordEnv: "PW"}, false, ""},
		{"good keyword dsn", StoreConfig{Engine: "postgres", DSN: "host=db user=eco dbname=eco", PasswordFile: "/run/secrets/pw"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var probs []string
			s := tc.s
			need := s.check(func(key, f string, a ...any) {
				probs = append(probs, key+": "+strings.ReplaceAll(f, "%q", `"`+func() string {
					if len(a) > 0 {
						return a[0].(string)
					}
					return ""
				}()+`"`))
			}, func(*string) {})
			if need != tc.needData {
				t.Errorf("needs data = %v, want %v", need, tc.needData)
			}
			switch {
			case tc.problem == "" && len(probs) > 0:
				t.Fatalf("problems %q, want none", probs)
			case tc.problem != "" && (len(probs) != 1 || !strings.Contains(probs[0], tc.problem)):
				t.Fatalf("problems %q, want one containing %q", probs, tc.problem)
			}
			for _, p := range probs {
				if strings.Contains(p, "s3cret") {
					t.Fatalf("the problem echoes the password: %q", p)
				}
			}
		})
	}
}

func TestStoreConfigPassword(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("from-file\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ECOGATE_TEST_PW", "from-env")
	for _, tc := range []struct {
		s       StoreConfig
		want    string
		wantErr string
	}{
		{StoreConfig{PasswordEnv: "ECOGATE_TEST_PW"}, "from-env", ""},
		{StoreConfig{PasswordEnv: "ECOGATE_TEST_UNSET_PW"}, "", "ECOGATE_TEST_UNSET_PW is not set"},
		{StoreConfig{PasswordFile: f}, "from-file", ""},
		{StoreConfig{PasswordFile: filepath.Join(dir, "missing")}, "", "store.passwordFile"},
		{StoreConfig{}, "", ""},
	} {
		got, err := tc.s.Password()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: err %v, want %q", tc.s, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.s, got, err, tc.want)
		}
	}
}
