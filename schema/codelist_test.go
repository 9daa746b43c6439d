package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ecogate/ecogate/internal/testenv"
)

func TestBuiltinCodeLists(t *testing.T) {
	var zero *CodeLists // a nil *CodeLists is the built-ins
	cl := DefaultCodeLists()
	for _, c := range []*CodeLists{zero, cl} {
		for code, want := range map[string]bool{"VN": true, "JP": true, "XK": false, "UK": false, "YU": false,
			"EU": false, "ZZ": false, "vn": false, "V": false, "VNM": false} {
			if got := c.Country(code); got != want {
				t.Errorf("Country(%q) = %v", code, got)
			}
		}
		for code, want := range map[string]CodeStatus{"USD": CodeValid, "VND": CodeValid, "VES": CodeValid,
			"DEM": CodeDeleted, "VEF": CodeDeleted, "CNH": CodeUnknown, "ABC": CodeUnknown, "usd": CodeUnknown} {
			if got := c.Currency(code); got != want {
				t.Errorf("Currency(%q) = %v, want %v", code, got, want)
			}
		}
		for code, want := range map[string]bool{"en": true, "vi": true, "EN": false, "eng": false, "qq": false} {
			if got := c.Language(code); got != want {
				t.Errorf("Language(%q) = %v", code, got)
			}
		}
		if st, full := c.Unit("KGM"); st != CodeValid || full {
			t.Errorf("Unit(KGM) = %v %v", st, full)
		}
		if st, full := c.Unit("ZZQ"); st != CodeUnknown || full {
			t.Errorf("Unit(ZZQ) = %v %v", st, full)
		}
		if st, _ := c.Package("CT"); st != CodeValid {
			t.Errorf("Package(CT) = %v", st)
		}
		if st, full := c.HS("610910"); st != CodeValid || full {
			t.Errorf("HS(610910) = %v %v", st, full)
		}
		for _, bad := range []string{"999999", "770100", "000000", "61091", "6109.10"} {
			if st, _ := c.HS(bad); st != CodeUnknown {
				t.Errorf("HS(%s) = %v", bad, st)
			}
		}
		if !c.TransportMode("4") || c.TransportMode("10") || !c.DocumentType("861") || c.DocumentType("380") ||
			!c.MessageFunction("9") || c.MessageFunction("2") || !c.Status("70") || c.Status("71") ||
			!c.DocumentStatus("44") || c.DocumentStatus("2") {
			t.Error("UNCL / Rec 19 lists")
		}
	}
	if !IsLOCODE("VNSGN") || !IsLOCODE("JPTY2") || IsLOCODE("VNSG1") || IsLOCODE("vnsgn") {
		t.Error("IsLOCODE")
	}
	if NormalizeHS("2204.21") != "220421" || NormalizeHS("6109 10") != "610910" {
		t.Error("NormalizeHS")
	}
}

// isoCodes reads a Debian iso-codes JSON file, or skips.
func isoCodes(t *testing.T, file, list, key string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/usr/share/iso-codes/json", file))
	if err != nil {
		testenv.Missing(t, "Debian iso-codes not installed (apt-get install iso-codes): %v", err)
	}
	var doc map[string][]map[string]string
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, e := range doc[list] {
		m[e[key]] = true
	}
	return m
}

// TestCountryMatchesISOCodes: Country accepts exactly the 249 ISO 3166-1
// codes of Debian iso-codes, over every pair of capital letters.
func TestCountryMatchesISOCodes(t *testing.T) {
	iso := isoCodes(t, "iso_3166-1.json", "3166-1", "alpha_2")
	cl := DefaultCodeLists()
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			code := string([]rune{a, b})
			if got := cl.Country(code); got != iso[code] {
				t.Errorf("Country(%s) = %v, iso-codes says %v", code, got, iso[code])
			}
		}
	}
}

// TestCurrencyMatchesISOCodes: Currency accepts every ISO 4217 code of
// Debian iso-codes and nothing else, bar amendments newer than it (ZWG).
func TestCurrencyMatchesISOCodes(t *testing.T) {
	iso := isoCodes(t, "iso_4217.json", "4217", "alpha_3")
	newer := map[string]bool{"ZWG": true}
	cl := DefaultCodeLists()
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			for c := 'A'; c <= 'Z'; c++ {
				code := string([]rune{a, b, c})
				got := cl.Currency(code) == CodeValid
				if got != (iso[code] || newer[code]) {
					t.Errorf("Currency(%s) valid = %v, iso-codes says %v", code, got, iso[code])
				}
			}
		}
	}
}

var sharedLists struct {
	once sync.Once
	cl   *CodeLists
	err  error
}

// fullCodeLists loads ../shared/codelists once per test binary, or skips.
func fullCodeLists(tb testing.TB) *CodeLists {
	tb.Helper()
	dir := testenv.Shared(tb, "codelists")
	sharedLists.once.Do(func() { sharedLists.cl, sharedLists.err = LoadCodeLists(dir) })
	if sharedLists.err != nil {
		tb.Fatalf("LoadCodeLists(%s): %v", dir, sharedLists.err)
	}
	return sharedLists.cl
}

// TestFullCodeLists loads the reference tables from ../shared/codelists and
// checks the code lists and the grading that depends on them: an unknown
// HS subheading or unit is SEVERE with the full list and WARNING without.
func TestFullCodeLists(t *testing.T) {
	cl := fullCodeLists(t)
	if !cl.FullHS() || !cl.FullUnits() || !cl.FullPackages() {
		t.Fatal("full tables not loaded")
	}
	if n := len(cl.hs); n < 5000 {
		t.Errorf("%d HS subheadings", n)
	}
	hs := map[string]CodeStatus{"610910": CodeValid, "220421": CodeValid, "999999": CodeUnknown, "610999": CodeUnknown}
	for code, want := range hs {
		if st, full := cl.HS(code); st != want || !full {
			t.Errorf("HS(%s) = %v %v, want %v", code, st, full, want)
		}
	}
	if !cl.HSHeading("6109") || !cl.HSHeading("61") || cl.HSHeading("99") || cl.HSHeading("77") {
		t.Error("HSHeading")
	}
	units := map[string]CodeStatus{"KGM": CodeValid, "KGS": CodeValid, "KTM": CodeDeleted, "NPR": CodeDeprecated,
		"MNJ": CodeValid, "PCE": CodeUnknown}
	for code, want := range units {
		if st, full := cl.Unit(code); st != want || !full {
			t.Errorf("Unit(%s) = %v %v, want %v", code, st, full, want)
		}
	}
	pk := map[string]CodeStatus{"CT": CodeValid, "OD": CodeValid, "SX": CodeDeleted, "Q9": CodeUnknown}
	for code, want := range pk {
		if st, _ := cl.Package(code); st != want {
			t.Errorf("Package(%s) = %v, want %v", code, st, want)
		}
	}

	// Grading with and without the full lists.
	grade := []struct {
		name        string
		mutate      func(c *Certificate)
		code        string
		full, built Level // "" means the code must be absent
	}{
		{"hs 999999", func(c *Certificate) { vtItem(c, 1).Product.HSCode = "999999" }, CodeHSUnknown, Severe, Warning},
		{"hs 610999 (no such subheading)", func(c *Certificate) { vtItem(c, 1).Product.HSCode = "610999" }, CodeHSUnknown, Severe, ""},
		{"hs 610999 in HS2017", func(c *Certificate) {
			vtItem(c, 1).Product.HSCode, vtItem(c, 1).Product.HSEdition = "610999", "HS2017"
		}, CodeHSUnknown, Warning, ""},
		{"unit ZZQ", func(c *Certificate) { vtItem(c, 1).Quantity.UnitCode = "ZZQ" }, CodeUnit, Severe, Warning},
		{"unit KTM deleted", func(c *Certificate) { vtItem(c, 1).Quantity.UnitCode = "KTM" }, CodeUnitDeleted, Severe, ""},
		{"unit KGS", func(c *Certificate) { vtItem(c, 1).Quantity.UnitCode = "KGS" }, CodeUnitKGS, Severe, Severe},
		{"unit NPR deprecated", func(c *Certificate) { vtItem(c, 1).Quantity.UnitCode = "NPR" }, CodeUnitDeprecated, Warning, Warning},
		{"package Q9", func(c *Certificate) { vtItem(c, 1).Packages[0].TypeCode = "Q9" }, CodePackage, Severe, Warning},
		{"package SX deleted", func(c *Certificate) { vtItem(c, 1).Packages[0].TypeCode = "SX" }, CodePackageDeleted, Severe, ""},
	}
	for _, g := range grade {
		for _, mode := range []struct {
			cl   *CodeLists
			want Level
		}{{cl, g.full}, {nil, g.built}} {
			c := vtBase()
			g.mutate(c)
			fs := Validate(c, ValidateOptions{Now: vtClock(vtNow), CodeLists: mode.cl})
			var got Level
			for _, f := range fs {
				if f.Code == g.code {
					got = f.Level
				}
			}
			if got != mode.want {
				t.Errorf("%s (full=%v): %s at level %q, want %q\n%s", g.name, mode.cl != nil, g.code, got, mode.want, vtDump(fs))
			}
		}
	}
	// The clean base and the codec's golden certificates stay clean with the full lists.
	if fs := Validate(vtBase(), ValidateOptions{Now: vtClock(vtNow), CodeLists: cl}); len(fs) != 0 {
		t.Errorf("base with full lists:\n%s", vtDump(fs))
	}
}

// TestBuiltinsInFullLists: every built-in unit and package code, and every
// unit called a mass unit, is in force in the full UN/ECE tables.
func TestBuiltinsInFullLists(t *testing.T) {
	cl := fullCodeLists(t)
	for code, st := range builtinUnits {
		if got, _ := cl.Unit(code); got != st {
			t.Errorf("built-in unit %s is %v in Rec 20, built-in says %v", code, got, st)
		}
	}
	for code := range massUnits {
		if got, _ := cl.Unit(code); got != CodeValid {
			t.Errorf("mass unit %s is %v in Rec 20", code, got)
		}
	}
	for code := range builtinPackages {
		if got, _ := cl.Package(code); got != CodeValid {
			t.Errorf("built-in package %s is %v in Rec 21", code, got)
		}
	}
}

func writeLists(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		HSFile:    "section,hscode,description,parent,level\nI,01,Animals,TOTAL,2\nI,0101,Horses,01,4\nI,010121,Horses pure-bred,0101,6\nTOTAL,999999,not specified,9999,6\n",
		Rec20File: "Status,\"CommonCode\",Name,Description,\"LevelCategory\",Symbol,ConversionFactor\n,KGM,kilogram,,1,kg,\nX,KTM,kilometre,,,,\n",
		Rec21File: "Status,Code,Name,Description,NumericCode\n,CT,Carton,,\n",
	}
	for k, v := range files {
		base[k] = v
	}
	for k, v := range base {
		if v == "-" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoadCodeListsErrors: a broken table gives an error naming the file,
// the line and what is wrong.
func TestLoadCodeListsErrors(t *testing.T) {
	cl, err := LoadCodeLists(writeLists(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := cl.HS("010121"); st != CodeValid {
		t.Error("010121")
	}
	if st, _ := cl.HS("999999"); st != CodeUnknown {
		t.Error("the Comtrade aggregate 999999 must not count as HS")
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing file", map[string]string{Rec21File: "-"}, []string{Rec21File, "no such file"}},
		{"bad level", map[string]string{HSFile: "section,hscode,description,parent,level\nI,01,A,TOTAL,2\nI,0101,B,01,5\n"}, []string{HSFile, "line 3", "level"}},
		{"digits vs level", map[string]string{HSFile: "section,hscode,description,parent,level\nI,0101,B,01,6\n"}, []string{HSFile, "line 2", "has 4 digits"}},
		{"chapter 77", map[string]string{HSFile: "section,hscode,description,parent,level\nXV,770100,B,7701,6\n"}, []string{"line 2", "chapter"}},
		{"no header column", map[string]string{Rec20File: "Status,Code\n,KGM\n"}, []string{Rec20File, "line 1", "CommonCode"}},
		{"ragged row", map[string]string{Rec21File: "Status,Code,Name,Description,NumericCode\n,CT,Carton\n"}, []string{Rec21File, "line 2"}},
		{"bad code", map[string]string{Rec20File: "Status,CommonCode\n,KGM\n,kg m\n"}, []string{Rec20File, "line 3", "kg m"}},
		{"empty file", map[string]string{Rec21File: ""}, []string{Rec21File, "empty"}},
		{"no rows", map[string]string{Rec21File: "Status,Code\n"}, []string{Rec21File, "no package codes"}},
	}
	for _, tt := range tests {
		_, err := LoadCodeLists(writeLists(t, tt.files))
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tt.name, err, w)
			}
		}
	}
	if _, err := LoadCodeLists(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("missing directory")
	}
}

// FuzzParseRec20Table and its siblings: the CSV parsers never panic, and
// what they accept holds only well-formed codes.
func FuzzParseCodeListTables(f *testing.F) {
	f.Add("Status,CommonCode\n,KGM\nX,KTM\n")
	f.Add("section,hscode,description,parent,level\nI,010121,H,0101,6\n")
	f.Add("Status,Code\n,CT\n\"a\"\"b\",\"\n")
	f.Add("\xef\xbb\xbfStatus,Code,Name\n¦,OD,\"x, y\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseRec20Table([]byte(s), "f"); err == nil {
			for k := range m {
				if !isCodeChars(k, 2, 3) {
					t.Fatalf("Rec 20 code %q", k)
				}
			}
		}
		if m, err := ParseRec21Table([]byte(s), "f"); err == nil {
			for k := range m {
				if !isCodeChars(k, 2, 2) {
					t.Fatalf("Rec 21 code %q", k)
				}
			}
		}
		if sub, lv, err := ParseHSTable([]byte(s), "f"); err == nil {
			for k := range sub {
				if len(k) != 6 || !allDigits(k) || !HSChapter(k[:2]) {
					t.Fatalf("HS subheading %q", k)
				}
			}
			for k := range lv {
				if (len(k) != 2 && len(k) != 4) || !allDigits(k) {
					t.Fatalf("HS level %q", k)
				}
			}
		}
	})
}

// TestCodeListsConcurrent: one loaded CodeLists serves concurrent
// validations (run with -race).
func TestCodeListsConcurrent(t *testing.T) {
	cl := fullCodeLists(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if fs := Validate(vtBase(), ValidateOptions{Now: vtClock(vtNow), CodeLists: cl}); len(fs) != 0 {
					t.Errorf("findings: %v", fs)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkLoadCodeLists(b *testing.B) {
	dir := testenv.Shared(b, "codelists")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadCodeLists(dir); err != nil {
			b.Fatal(err)
		}
	}
}
