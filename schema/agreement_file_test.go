package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/testenv"
)

func chaftaFile(t *testing.T) string {
	t.Helper()
	return filepath.Join(testenv.RepoRoot(t), "docs", "agreements", "chafta.yaml")
}

// TestAgreementFileCHAFTA loads the shipped CHAFTA agreement file and
// checks that it selects certificates by their agreement code, with its
// parties, criteria and relaxed signatory name.
func TestAgreementFileCHAFTA(t *testing.T) {
	ps, err := LoadAgreementFiles([]string{chaftaFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d profiles", len(ps))
	}
	p := ps[0]
	if p.Name != "CHAFTA" || !p.Preferential || !p.IsParty("AU") || !p.IsParty("CN") || p.IsParty("VN") || p.ValidityMonths != 12 || !p.SignatureImageSuffices {
		t.Errorf("profile %+v", p)
	}
	if len(p.Criteria) != 1 || strings.Join(p.Criteria[0], ",") != "WO,WP,PSR" {
		t.Errorf("criteria %v", p.Criteria)
	}
	c := &Certificate{Header: Header{Agreement: "chafta", IsPreferential: true}}
	if got := ProfileForWith(c, ps); got != p {
		t.Errorf("ProfileForWith: %v", got)
	}
	if ProfileFor(c) != nil {
		t.Errorf("a built-in profile selects CHAFTA")
	}
	if LookupProfile("RCEP", ps).Name != "RCEP" || LookupProfile("CHAFTA", nil) != nil {
		t.Errorf("LookupProfile")
	}
}

// TestAgreementFileRefused: a bad agreement file is refused with an error
// that names the file, the line and the key.
func TestAgreementFileRefused(t *testing.T) {
	const good = "name: TESTFTA\ncodes: [TESTFTA]\ntitle: Test\npreferential: true\nparties: [AU, NZ]\ncriteria:\n  - [WO, PSR]\n"
	if _, err := ParseAgreementFile([]byte(good), "good.yaml"); err != nil {
		t.Fatalf("good file refused: %v", err)
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", good + "partys: [AU]\n", "line 8: field partys not found"},
		{"bad party", strings.Replace(good, "[AU, NZ]", "[AU, XX]", 1), "line 5: parties[1]: \"XX\" is not an ISO 3166-1"},
		{"bad criterion", strings.Replace(good, "[WO, PSR]", "[WO, \"RVC 40%\"]", 1), "line 7: criteria[0][1]"},
		{"unknown rule", good + "rules: [ECO-RULE-NOPE]\n", "line 8: rules[0]: \"ECO-RULE-NOPE\" is not a rule"},
		{"bad mandatory field", good + "mandatory:\n  - {field: item.colour, level: SEVERE}\n", "line 9: mandatory[0].field"},
		{"bad level", good + "mandatory:\n  - {field: item.invoiceReferences, level: FATAL}\n", "line 9: mandatory[0].level"},
		{"no parties", strings.Replace(good, "parties: [AU, NZ]\n", "", 1), "parties: a preferential agreement lists its parties"},
		{"no preferential", strings.Replace(good, "preferential: true\n", "", 1), "preferential: say true"},
		{"bad name", strings.Replace(good, "name: TESTFTA", "name: \"x y\"", 1), "line 1: name"},
		{"bad document type", good + "documentTypes: [\"380\"]\n", "line 8: documentTypes[0]"},
		{"wrong type", strings.Replace(good, "parties: [AU, NZ]", "parties: AU", 1), "line 5"},
		{"not a mapping", "- a\n- b\n", "one YAML mapping"},
		{"negative validity", good + "validityMonths: -1\n", "line 8: validityMonths"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAgreementFile([]byte(tc.yaml), "bad.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bad.yaml: ") {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	// A name or code taken by a built-in, or by an earlier file, is refused.
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	clash := write("rcep.yaml", strings.Replace(good, "codes: [TESTFTA]", "codes: [RCEP]", 1))
	if _, err := LoadAgreementFiles([]string{clash}); err == nil || !strings.Contains(err.Error(), "RCEP already selects profile RCEP") {
		t.Errorf("clash with a built-in: %v", err)
	}
	a := write("a.yaml", good)
	if _, err := LoadAgreementFiles([]string{a, a}); err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Errorf("same agreement twice: %v", err)
	}
	if _, err := LoadAgreementFiles([]string{filepath.Join(dir, "missing.yaml")}); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParseAgreementFile: the agreement file parser never panics.
func FuzzParseAgreementFile(f *testing.F) {
	f.Add([]byte("name: TESTFTA\ncodes: [TESTFTA]\ntitle: Test\npreferential: true\nparties: [AU, NZ]\ncriteria:\n  - [WO, PSR]\n"))
	f.Add([]byte("mandatory:\n  - {field: x}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseAgreementFile(b, "fuzz.yaml")
	})
}
