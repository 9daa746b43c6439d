package conformance

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNeverImportsGateway keeps the kit independent of the node it tests
// (design §9): no non-test file of the package imports gateway.
func TestNeverImportsGateway(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, im := range af.Imports {
			if strings.Contains(im.Path.Value, "ecogate/ecogate/gateway") {
				t.Errorf("%s imports %s: the kit must not depend on gateway", f, im.Path.Value)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d files", checked)
	}
}
