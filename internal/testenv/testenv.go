package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, walking up from the working
// directory of the test.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// SharedDir returns the path of the shared material (../shared beside the
// repository, or $ECOGATE_SHARED), or skips the test when it is absent.
func SharedDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("ECOGATE_SHARED"); d != "" {
		return d
	}
	d := filepath.Join(filepath.Dir(RepoRoot(t)), "shared")
	if _, err := os.Stat(d); err != nil {
		Missing(t, "shared test material not found at %s (set ECOGATE_SHARED)", d)
	}
	return d
}

// Shared returns a path inside the shared material, skipping when absent.
func Shared(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{SharedDir(t)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "shared test material %s not found", p)
	}
	return p
}

// Program returns the path of an outside program used as an oracle. It skips
// the test when the program is missing, unless CI is set, where a missing
// oracle is a failure: .ci/run installs them.
func Program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := map[string]string{"xmllint": "libxml2-utils"}[name]
		if pkg == "" {
			pkg = name
		}
		Missing(t, "%s not installed (apt-get install %s; .ci/run installs it)", name, pkg)
	}
	return p
}

// Missing reports that something a test needs is absent: a failure under
// CI (the CI environment variable set), a skip with the reason elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: "+format, args...)
	}
	t.Skipf(format, args...)
}
