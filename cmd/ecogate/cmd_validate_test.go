package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/testenv"
	"github.com/ecogate/ecogate/schema"
)

// valRun runs `ecogate ARGS...` through run() and returns the exit code,
// standard output and standard error.
func valRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv(codeListsEnv, "")
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func valFixture(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(testenv.RepoRoot(t), "schema", "testdata", dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s: %v", p, err)
	}
	return p
}

// TestValidateCommandExitCodes: 0 without a SEVERE finding, 1 with one, 2
// on a usage or read error.
func TestValidateCommandExitCodes(t *testing.T) {
	valid := valFixture(t, "valid", "rcep.xml")
	noFOB := valFixture(t, "invalid", "rvc-without-fob.xml")
	kgs := valFixture(t, "invalid", "unit-kgs.xml")
	notXML := valFixture(t, "bad-xml", "not-xml.xml")
	tmp := t.TempDir()
	tests := []struct {
		name string
		args []string
		want int
		out  []string // substrings of stdout
		err  []string // substrings of stderr
	}{
		{"valid", []string{valid}, exitOK, []string{valid + ": valid (profile RCEP; 0 SEVERE"}, nil},
		{"all valid fixtures", []string{valid, valFixture(t, "valid", "atiga.xml"), valFixture(t, "valid", "nonpref.xml")}, exitOK,
			[]string{"3 files: 3 valid, 0 invalid, 0 unreadable"}, nil},
		{"rule broken", []string{noFOB}, exitFail,
			[]string{noFOB + ": SEVERE ECO-RULE-RVC-FOB supplyChainConsignment.includedConsignmentItems[0].fobValue: add fobValue", "INVALID (profile RCEP; 1 SEVERE"}, nil},
		{"KGS", []string{kgs}, exitFail, []string{"ECO-CODELIST-UNIT-KGS", "write KGM"}, nil},
		{"valid and invalid", []string{valid, noFOB}, exitFail, []string{"2 files: 1 valid, 1 invalid, 0 unreadable"}, nil},
		{"not XML", []string{notXML}, exitFail, []string{"ECO-SCHEMA-NOT-XML", "(profile none;"}, nil},
		{"forced profile", []string{"--profile", "atiga", valid}, exitFail, []string{"ECO-RULE-PARTY-IMPORT", "ECO-RULE-PROFILE-MISMATCH", "profile ATIGA"}, nil},
		{"flags after files", []string{valid, "--profile", "RCEP"}, exitOK, []string{"valid (profile RCEP"}, nil},
		{"expired at a later date", []string{"--at", "2027-06-01", valid}, exitOK, []string{"WARNING ECO-RULE-EXPIRED"}, nil},
		{"too large", []string{"--max-bytes", "200", valid}, exitFail, []string{"ECO-SCHEMA-TOO-LARGE"}, nil},
		{"missing file", []string{filepath.Join(tmp, "nope.xml")}, exitUsage, []string{"ERROR"}, []string{"no such file"}},
		{"missing among good ones", []string{valid, filepath.Join(tmp, "nope.xml"), noFOB}, exitUsage, []string{"3 files: 1 valid, 1 invalid, 1 unreadable"}, nil},
		{"directory", []string{tmp}, exitUsage, nil, []string{"is a directory"}},
		{"no files", nil, exitUsage, nil, []string{"name at least one FILE"}},
		{"unknown profile", []string{"--profile", "NAFTA", valid}, exitUsage, nil, []string{`unknown profile "NAFTA"`, "RCEP, ATIGA"}},
		{"bad flag", []string{"--bogus", valid}, exitUsage, nil, []string{"bogus"}},
		{"bad --at", []string{"--at", "soon", valid}, exitUsage, nil, []string{"--at"}},
		{"unreadable codelists", []string{"--codelists", filepath.Join(tmp, "none"), valid}, exitUsage, nil, []string{"code lists"}},
		{"codelists dir without the tables", []string{"--codelists", tmp, valid}, exitUsage, nil, []string{"hs2022.csv"}},
		{"help", []string{"-h"}, exitOK, []string{"usage: ecogate validate"}, nil}, // help asked for goes to stdout
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := valRun(t, append([]string{"validate"}, tt.args...)...)
			if code != tt.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.want, out, errs)
			}
			for _, s := range tt.out {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.err {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
		})
	}
}

// TestValidateCommandJSON: --json writes an array of {file, profile,
// valid, findings}, one per file, with the findings' stable codes.
func TestValidateCommandJSON(t *testing.T) {
	valid := valFixture(t, "valid", "rcep.xml")
	noFOB := valFixture(t, "invalid", "rvc-without-fob.xml")
	code, out, errs := valRun(t, "validate", "--json", valid, noFOB)
	if code != exitFail {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res []struct {
		File     string           `json:"file"`
		Profile  string           `json:"profile"`
		Valid    bool             `json:"valid"`
		Findings []schema.Finding `json:"findings"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(res) != 2 || res[0].File != valid || !res[0].Valid || res[0].Profile != "RCEP" || res[1].Valid {
		t.Fatalf("unexpected results: %+v", res)
	}
	if res[0].Findings == nil {
		t.Error("findings must be an array, never null")
	}
	found := false
	for _, f := range res[1].Findings {
		if f.Code == schema.CodeRVCFOB && f.Level == schema.Severe && f.Area == schema.AreaRule &&
			f.Path == "supplyChainConsignment.includedConsignmentItems[0].fobValue" && strings.Contains(f.Message, "FOB") {
			found = true
		}
	}
	if !found {
		t.Errorf("no ECO-RULE-RVC-FOB finding: %+v", res[1].Findings)
	}

	// A read error is reported in the array too, with exit 2.
	code, out, _ = valRun(t, "validate", "--json", filepath.Join(t.TempDir(), "nope.xml"))
	if code != exitUsage || !strings.Contains(out, `"error"`) {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// TestValidateCommandJSONInput: a .json file, and a file whose first byte
// is '{', go through the JSON codec.
func TestValidateCommandJSONInput(t *testing.T) {
	b, err := os.ReadFile(valFixture(t, "valid", "atiga.xml"))
	if err != nil {
		t.Fatal(err)
	}
	c, fs := schema.DecodeXML(b, schema.DecodeOptions{})
	if c == nil {
		t.Fatal(fs)
	}
	js, err := schema.EncodeJSON(c)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	named := filepath.Join(dir, "atiga.json")
	sniffed := filepath.Join(dir, "atiga.eco")
	for _, p := range []string{named, sniffed} {
		if err := os.WriteFile(p, append([]byte("\n  "), js...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := valRun(t, "validate", named, sniffed)
	if code != exitOK || !strings.Contains(out, "2 files: 2 valid") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	// A JSON document with a broken rule fails like its XML twin.
	c.Consignment.Items[0].OriginCriteria = []string{"RVC 40%"}
	c.Header.ExportCountry = "KH"
	c.Consignment.Exporter.Address.CountryCode = "KH"
	c.Consignment.Items[0].FOBValue = nil
	js, _ = schema.EncodeJSON(c)
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := valRun(t, "validate", bad); code != exitFail || !strings.Contains(out, "ECO-RULE-RVC-FOB") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestValidateCommandFullCodeLists: with --codelists (or $ECOGATE_CODELISTS)
// an HS subheading that is not in the table is SEVERE; without, a WARNING.
func TestValidateCommandFullCodeLists(t *testing.T) {
	dir := testenv.Shared(t, "codelists")
	f := valFixture(t, "invalid", "hs-chapter-99.xml")
	code, out, _ := valRun(t, "validate", f)
	if code != exitOK || !strings.Contains(out, "WARNING ECO-CODELIST-HS-UNKNOWN") || !strings.Contains(out, "full HS list was not loaded") {
		t.Errorf("built-in lists: exit %d\n%s", code, out)
	}
	code, out, _ = valRun(t, "validate", "--codelists", dir, f)
	if code != exitFail || !strings.Contains(out, "SEVERE ECO-CODELIST-HS-UNKNOWN") {
		t.Errorf("full lists: exit %d\n%s", code, out)
	}
	var o, e bytes.Buffer
	t.Setenv(codeListsEnv, dir)
	if code := run([]string{"validate", f}, &o, &e); code != exitFail {
		t.Errorf("$%s: exit %d\n%s%s", codeListsEnv, code, o.String(), e.String())
	}
}
