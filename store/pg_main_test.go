package store

import (
	"os"
	"testing"

	"github.com/ecogate/ecogate/internal/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster (if a test started one)
// after the package's tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
