package schema

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated files and golden files under schema/")

// TestSchemaFilesUpToDate keeps the committed XSD and JSON Schema equal to
// what the Go types generate, so the published schemas, the encoder and
// the decoders cannot drift apart. Run with -update to rewrite them.
func TestSchemaFilesUpToDate(t *testing.T) {
	xsd, err := generateXSD()
	if err != nil {
		t.Fatal(err)
	}
	js, err := generateJSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path     string
		want     []byte
		embedded []byte
	}{
		{filepath.Join("xsd", "eco-1.xsd"), []byte(xsd), XSD()},
		{filepath.Join("jsonschema", "eco-1.schema.json"), js, JSONSchema()},
	} {
		if *update {
			if err := os.WriteFile(f.path, f.want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s is out of date with the Go types: run go test ./schema -run TestSchemaFilesUpToDate -update", f.path)
		}
		if !bytes.Equal(f.embedded, got) {
			t.Errorf("%s: embedded copy differs from the file (rebuild)", f.path)
		}
	}
}
