package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// mapFile maps every record of a fixture with a built-in profile.
func mapFile(t *testing.T, profile, path string) []*schema.Certificate {
	t.Helper()
	p, err := Builtin(profile)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := p.ReadRecords(f, path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*schema.Certificate
	for _, r := range recs {
		c, err := p.MapRecord(r)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, c)
	}
	return out
}

// golden compares v's indented JSON with testdata/NAME (rewritten with -update).
func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./mapping -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the mapped value (go test ./mapping -run %s -update, then review the diff):\n%s", path, t.Name(), got)
	}
}

// TestIndiaEcoo maps the two Indian fixtures (an issued AIFTA certificate
// IN→VN migrated from the legacy platform, and a non-preferential
// application to the UAE) and compares with golden canonical JSON; the key
// translations are also asserted one by one.
func TestIndiaEcoo(t *testing.T) {
	for _, name := range []string{"aifta-issued", "nonpref-application"} {
		t.Run(name, func(t *testing.T) {
			cs := mapFile(t, "india-ecoo", "testdata/india-ecoo/"+name+".json")
			if len(cs) != 1 {
				t.Fatalf("%d certificates", len(cs))
			}
			golden(t, "india-ecoo/"+name+".golden.json", cs[0])
		})
	}
	c := mapFile(t, "india-ecoo", "testdata/india-ecoo/aifta-issued.json")[0]
	h := c.Header
	items := c.Consignment.Items
	for _, tc := range []struct{ what, got, want string }{
		{"certificate number", h.ID, "AI-MUM-2026-0004711"},
		{"agreement", h.Agreement, "AIFTA"},
		{"type", h.TypeCode, "864"},
		{"import country", h.ImportCountry, "VN"},
		{"issued at (IST)", h.IssueDateTime.String(), "2026-03-09T11:42:00+05:30"},
		{"IEC", idText(c.Consignment.Exporter.IDs[:1]), "in:iec:0304012345"},
		{"GSTIN", idText(c.Consignment.Exporter.IDs[1:]), "in:gstin:27AAACR5055K1Z7"},
		{"items", string(rune('0' + len(items))), "3"},
		{"HS 6", items[1].Product.HSCode, "610990"},
		{"ITC-HS 8", items[1].Product.NationalTariffCode, "61099090"},
		{"DOZ → DZN", items[1].Quantity.UnitCode, "DZN"},
		{"MTS → 210 KGM", string(items[1].GrossWeight.Value) + " " + items[1].GrossWeight.UnitCode, "210 KGM"},
		{"criteria", strings.Join(items[0].OriginCriteria, "|"), "RVC + CTSH"},
		{"RVC rounded down", string(items[0].RVCPercent), "42"},
		{"invoice of item 3", items[2].InvoiceReferences[0].ID, "RTPL/EXP/2025-26/1188"},
		{"raw material", c.References[1].ID + " " + c.References[1].Information, "RM1.2 Reactive dyes | 32041600 | DE | 72,500"},
		{"declarant", c.FirstSignatory.Signatory.Name + ", " + c.FirstSignatory.Signatory.Position, "Rahul Mehta, Manager - Exports"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	np := mapFile(t, "india-ecoo", "testdata/india-ecoo/nonpref-application.json")[0]
	if np.Header.Agreement != "NONPREF" || np.Header.IsPreferential || np.Header.TypeCode != "861" || np.Header.ID != "FIEO/DEL/2026/N/021930" || np.Header.Status != "" {
		t.Errorf("non-preferential application header: %+v", np.Header)
	}
}

// TestIndiaEcooBadRecords: each defect is reported with the record, the
// source field and the rule, and the other records still map.
func TestIndiaEcooBadRecords(t *testing.T) {
	p, _ := Builtin("india-ecoo")
	good, _ := os.ReadFile("testdata/india-ecoo/nonpref-application.json")
	var base map[string]any
	if err := json.Unmarshal(good, &base); err != nil {
		t.Fatal(err)
	}
	variant := func(edit func(m map[string]any)) string {
		var m map[string]any
		_ = json.Unmarshal(good, &m)
		edit(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	product := func(m map[string]any) map[string]any {
		return m["invoices"].([]any)[0].(map[string]any)["products"].([]any)[0].(map[string]any)
	}
	lines := []string{
		variant(func(m map[string]any) {}),
		variant(func(m map[string]any) { m["iec"] = "AAFCB4455" }),
		variant(func(m map[string]any) { product(m)["uom"] = "BORIS" }),
		variant(func(m map[string]any) { m["agreement"] = "India-Mars CEPA" }),
		variant(func(m map[string]any) { m["issueDate"] = "2026-03-14" }),
		variant(func(m map[string]any) { product(m)["itchsCode"] = "1006" }),
		`{"applicationNo": "broken", `,
		variant(func(m map[string]any) {}),
	}
	recs, err := p.ReadRecords(strings.NewReader(strings.Join(lines, "\n")), "batch.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"",
		`record 2 (key FIEO/DEL/2026/N/021930, line 2): field iec: rule rules[20] "IEC"`,
		`field invoices[0].products[0].uom: rule rules[40].rules[7] "quantity and unit (Indian UQC onto Rec 20)"`,
		`field agreement: rule rules[6] "agreement"`,
		`field issueDate: rule rules[10]`,
		`field invoices[0].products[0].itchsCode: rule rules[40].rules[2] "ITC-HS code"`,
		`record 7 (line 7): the line is not one JSON object`,
		"",
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		c, err := p.MapRecord(r)
		if want[i] == "" {
			if err != nil || c == nil {
				t.Errorf("record %d: %v", i+1, err)
			}
			continue
		}
		var es Errors
		if c != nil || !errors.As(err, &es) || !strings.Contains(err.Error(), want[i]) {
			t.Errorf("record %d: got %v; want an error containing %q", i+1, err, want[i])
		}
	}
}
