package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ecogate/ecogate/internal/pgtest"
)

// The binary the end-to-end tests run as child processes, built once per
// test run (CGO_ENABLED=0, as the README builds it) into a folder that
// TestMain removes.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m) // stops the throwaway PostgreSQL cluster, if a test started one
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildEcogate returns the path of the ecogate binary built from this
// package.
func buildEcogate(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "ecogate-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "ecogate")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}
