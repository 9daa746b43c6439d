package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/internal/testenv"
	"github.com/ecogate/ecogate/mapping"
	"github.com/ecogate/ecogate/schema"
)

func mappingFixture(t *testing.T, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{testenv.RepoRoot(t), "mapping", "testdata"}, elem...)...)
}

// TestMapCommand runs ecogate map on the built-in profiles' fixtures in
// every output format and checks the output, the findings on stderr and
// the exit status.
func TestMapCommand(t *testing.T) {
	india := mappingFixture(t, "india-ecoo", "aifta-issued.json")
	formd := mappingFixture(t, "formd-csv", "formd.csv")

	t.Run("xml is the canonical e-CO and decodes", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run([]string{"map", "--profile", "india-ecoo", india}, &out, &errb)
		if code != exitOK {
			t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
		}
		c, fds := schema.DecodeXML(out.Bytes(), schema.DecodeOptions{})
		if fds.HasSevere() || c == nil {
			t.Fatalf("output does not decode: %v", fds)
		}
		if c.Header.ID != "AI-MUM-2026-0004711" || len(c.Consignment.Items) != 3 {
			t.Errorf("decoded %s with %d items", c.Header.ID, len(c.Consignment.Items))
		}
		if !strings.Contains(errb.String(), "1 mapped, 0 failed to map, 0 with SEVERE findings (profile india-ecoo)") {
			t.Errorf("summary missing: %s", errb.String())
		}
	})
	t.Run("json", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"map", "--profile", "india-ecoo", "--to", "json", india}, &out, &errb); code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if !bytes.Contains(out.Bytes(), []byte(`"nationalTariffCode"`)) {
			t.Errorf("json output: %.300s", out.String())
		}
	})
	t.Run("edi3 reads back", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"map", "--profile", "india-ecoo", "--to", "edi3", india}, &out, &errb); code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		p, _ := mapping.Builtin("edi3-coo")
		recs, err := p.ReadRecords(&out, "")
		if err != nil || len(recs) != 1 {
			t.Fatalf("edi3 output: %v", err)
		}
		if c, err := p.MapRecord(recs[0]); err != nil || c.Header.ID != "AI-MUM-2026-0004711" {
			t.Errorf("edi3 output maps back: %v", err)
		}
	})
	t.Run("ubl", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"map", "--profile", "india-ecoo", "--to", "ubl", india}, &out, &errb); code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(out.Bytes()); err != nil || doc.Root().NamespaceURI() != mapping.UBLNamespace {
			t.Fatalf("not UBL: %v", err)
		}
	})
	t.Run("csv with several certificates to a directory", func(t *testing.T) {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		code := run([]string{"map", "--profile", "formd-csv", "--out", dir, formd}, &out, &errb)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		for _, name := range []string{"TH2026-0012345.xml", "MY-PG-2026-000871.xml"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("missing %s", name)
			}
		}
		if out.Len() != 0 {
			t.Errorf("stdout not empty with --out")
		}
	})
	t.Run("a profile from a file", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run([]string{"map", "--profile", mappingFixture(t, "example", "profile.yaml"), "--to", "json", "--no-validate", mappingFixture(t, "example", "record.json")}, &out, &errb)
		if code != exitOK || !bytes.Contains(out.Bytes(), []byte(`"APP-1"`)) {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	})
}

// TestMapCommandFailures: a record that does not fit is reported with
// record, field and rule, the rest is still written, and the exit status
// is 1; SEVERE findings give 1; usage and profile errors give 2.
func TestMapCommandFailures(t *testing.T) {
	good, err := os.ReadFile(mappingFixture(t, "india-ecoo", "aifta-issued.json"))
	if err != nil {
		t.Fatal(err)
	}
	compact := func(b []byte) string {
		var buf bytes.Buffer
		for _, l := range strings.Split(string(b), "\n") {
			buf.WriteString(strings.TrimSpace(l))
		}
		return buf.String()
	}
	line := compact(good)
	bad := strings.Replace(line, `"iec": "0304012345"`, `"iec": "03040"`, 1)
	if bad == line {
		t.Fatal("fixture changed: no iec to break")
	}
	src := filepath.Join(t.TempDir(), "batch.ndjson")
	if err := os.WriteFile(src, []byte(line+"\n"+bad+"\n"+line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"map", "--profile", "india-ecoo", "--to", "json", src}, &out, &errb)
	if code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	if n := strings.Count(out.String(), `"exchangedDocument"`); n != 2 {
		t.Errorf("%d certificates written, want 2", n)
	}
	for _, want := range []string{`record 2 (key EIC/MUM/2026/A/004711, line 2): field iec: rule rules[20] "IEC"`, "an IEC (Importer-Exporter Code) has exactly 10 letters or digits", "2 mapped, 1 failed to map"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}

	// The CHAFTA certificate maps but has no quantities: SEVERE findings.
	chafta := testenv.Shared(t, "vectors", "tradetrust", "coo-selective-disclosure.unsalted-data.json")
	out.Reset()
	errb.Reset()
	if code := run([]string{"map", "--profile", "edi3-coo", "--to", "json", chafta}, &out, &errb); code != exitFail {
		t.Errorf("CHAFTA: exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "SEVERE ECO-MANDATORY-MISSING") || out.Len() == 0 {
		t.Errorf("CHAFTA findings:\n%s", errb.String())
	}

	for _, args := range [][]string{
		{"map"},
		{"map", "--profile", "no-such-profile", "x.json"},
		{"map", "--profile", "india-ecoo", "--to", "pdf", "x.json"},
		{"map", "--profile", "india-ecoo", "does-not-exist.json"},
		{"map", "--profile", "india-ecoo"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(args, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
	out.Reset()
	if code := run([]string{"map", "--profile", "formd-csv", "--show-profile"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "name: formd-csv") {
		t.Errorf("--show-profile: %d", code)
	}
}

// TestMapValidateAgreementFile: the CHAFTA certificate maps and validates
// without a SEVERE finding when the CHAFTA agreement file is given, and
// is SEVERE (agreement unknown) without it; a bad agreement file is a
// usage error naming the line and key.
func TestMapValidateAgreementFile(t *testing.T) {
	chafta := testenv.Shared(t, "vectors", "tradetrust", "coo-selective-disclosure.unsalted-data.json")
	agreement := filepath.Join(testenv.RepoRoot(t), "docs", "agreements", "chafta.yaml")

	var out, errb bytes.Buffer
	if code := run([]string{"map", "--profile", "edi3-coo", "--to", "json", "--agreements", agreement, chafta}, &out, &errb); code != exitOK {
		t.Fatalf("with the agreement file: exit %d:\n%s", code, errb.String())
	}
	if strings.Contains(errb.String(), ": SEVERE ") || !strings.Contains(errb.String(), "0 with SEVERE findings") {
		t.Errorf("SEVERE findings with the agreement file:\n%s", errb.String())
	}
	if !strings.Contains(errb.String(), "INFO ECO-MAP-QUANTITY-FROM-GROSS-WEIGHT") {
		t.Errorf("no note on the quantities taken from gross weight:\n%s", errb.String())
	}
	doc := filepath.Join(t.TempDir(), "chafta.json")
	if err := os.WriteFile(doc, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"map", "--profile", "edi3-coo", "--to", "json", chafta}, &out, &errb); code != exitFail {
		t.Errorf("without the agreement file: exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), `SEVERE ECO-CODELIST-AGREEMENT codelist exchangedDocument.freeTradeAgreement: agreement "CHAFTA" is not known`) {
		t.Errorf("without the agreement file:\n%s", errb.String())
	}

	out.Reset()
	if code := run([]string{"validate", "--agreements", agreement, doc}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "valid (profile CHAFTA; 0 SEVERE") {
		t.Errorf("validate with the agreement file: exit %d:\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"validate", doc}, &out, &errb); code != exitFail || !strings.Contains(out.String(), "SEVERE ECO-CODELIST-AGREEMENT") {
		t.Errorf("validate without the agreement file: exit %d:\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"validate", "--profile", "chafta", "--agreements", agreement, doc}, &out, &errb); code != exitOK {
		t.Errorf("--profile CHAFTA from the file: exit %d:\n%s", code, out.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: XFTA\ncodes: [XFTA]\ntitle: X\npreferential: true\nparties: [AU, ZZ]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"map", "validate"} {
		errb.Reset()
		args := []string{cmd, "--agreements", bad, doc}
		if cmd == "map" {
			args = []string{cmd, "--profile", "edi3-coo", "--agreements", bad, chafta}
		}
		if code := run(args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "bad.yaml: line 5: parties[1]") {
			t.Errorf("%s with a bad agreement file: exit %d:\n%s", cmd, code, errb.String())
		}
	}
}

// TestMapRepeatedFindingsOnce: a WARNING or INFO finding that every record
// has is printed once, with the count, not once per record.
func TestMapRepeatedFindingsOnce(t *testing.T) {
	good, err := os.ReadFile(mappingFixture(t, "india-ecoo", "aifta-issued.json"))
	if err != nil {
		t.Fatal(err)
	}
	var line strings.Builder
	for _, l := range strings.Split(string(good), "\n") {
		line.WriteString(strings.TrimSpace(l))
	}
	const n = 50
	var src strings.Builder
	for i := 0; i < n; i++ {
		src.WriteString(strings.Replace(line.String(), "AI-MUM-2026-0004711", "AI-MUM-2026-"+strings.Repeat("0", 3)+string(rune('A'+i%26))+string(rune('A'+i/26)), 1) + "\n")
	}
	in := filepath.Join(t.TempDir(), "batch.ndjson")
	if err := os.WriteFile(in, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"map", "--profile", "india-ecoo", "--to", "json", "--at", "2026-03-10", in}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, errb.String())
	}
	if c := strings.Count(errb.String(), "ECO-CODELIST-HS-NOT-CHECKED"); c != 1 {
		t.Errorf("the HS INFO finding printed %d times, want once:\n%.2000s", c, errb.String())
	}
	if !strings.Contains(errb.String(), "50 records (first record 1") {
		t.Errorf("no count of the repeated finding:\n%.2000s", errb.String())
	}
	if lines := strings.Count(errb.String(), "\n"); lines > 10 {
		t.Errorf("%d lines of findings for %d records", lines, n)
	}
}
