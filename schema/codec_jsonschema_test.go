package schema

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/testenv"
)

// jsonSchemaOracle validates documents against the published JSON Schema
// with the Python jsonschema package (draft 2020-12), an outside oracle.
const jsonSchemaOracle = `
import json, sys
try:
    import jsonschema
except ImportError:
    print("SKIP"); sys.exit(0)
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for p in sys.argv[2:]:
    errs = list(v.iter_errors(json.load(open(p))))
    print(p, "OK" if not errs else "INVALID " + "; ".join(e.message for e in errs[:3]))
`

// TestJSONSchemaValidatesFixtures: every fixture's JSON form validates
// against the JSON Schema, and documents the decoder refuses for an unknown
// member, a wrong type or a missing member are refused by the schema too.
func TestJSONSchemaValidatesFixtures(t *testing.T) {
	// The oracle is Python's jsonschema (Debian python3-jsonschema, which
	// .ci/run installs); Debian's own interpreter is tried first since a
	// python3 earlier on PATH may lack the module.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			testenv.Missing(t, "python3 not installed (apt-get install python3-jsonschema)")
		}
	}
	dir := t.TempDir()
	var docs []string
	for name, orig := range validFixtures(t) {
		js, err := EncodeJSON(mustDecodeXML(t, name, orig))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "valid-"+name+".json")
		if err := os.WriteFile(p, js, 0o644); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, p)
	}
	rcep, err := os.ReadFile(filepath.Join(validDir(), "rcep.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string][2]string{
		"unknown": {`"uuid":`, `"colour": "red", "uuid":`},
		"type":    {`"version": 1`, `"version": "1"`},
		"missing": {`"uuid": "3f6c2a1e-8b4d-4f0a-9c1e-7d2b5a6e8f01",`, ``},
		"pattern": {`"exportCountry": "VN"`, `"exportCountry": "Viet Nam"`},
	} {
		b := strings.Replace(string(rcep), mut[0], mut[1], 1)
		if _, fs := DecodeJSON([]byte(b), DecodeOptions{}); !fs.HasSevere() {
			t.Fatalf("bad-%s: the decoder accepts it", name)
		}
		p := filepath.Join(dir, "bad-"+name+".json")
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, p)
	}
	out, err := exec.Command(python, append([]string{"-c", jsonSchemaOracle, filepath.Join("jsonschema", "eco-1.schema.json")}, docs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("oracle failed: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) == "SKIP" {
		testenv.Missing(t, "python3 module jsonschema not installed (apt-get install python3-jsonschema)")
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, verdict, _ := strings.Cut(line, " ")
		bad := strings.HasPrefix(filepath.Base(path), "bad-")
		if bad == (verdict == "OK") {
			t.Errorf("%s: JSON Schema says %s", filepath.Base(path), verdict)
		}
	}
}
