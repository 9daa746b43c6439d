package mapping

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/schema"
)

func mustProfile(t *testing.T, y string) *Profile {
	t.Helper()
	p, err := ParseProfile([]byte(y), "test")
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	return p
}

func mapOne(t *testing.T, p *Profile, src, name string) (*schema.Certificate, error) {
	t.Helper()
	recs, err := p.ReadRecords(strings.NewReader(src), name)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	return p.MapRecord(recs[0])
}

// TestExampleProfile maps the documented example profile: dates with a
// zone, code tables, conditions, defaults, concat, split, identifiers, HS
// normalisation, number clean-up, unit conversion, $index and $. paths.
func TestExampleProfile(t *testing.T) {
	p, err := LoadProfileFile("testdata/example/profile.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("testdata/example/record.json")
	c, err := mapOne(t, p, string(src), "record.json")
	if err != nil {
		t.Fatal(err)
	}
	h := c.Header
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("id", h.ID, "APP-1")
	check("issue", h.IssueDateTime.String(), "2026-03-05T14:30:00+05:30")
	check("agreement", h.Agreement, "AIFTA")
	check("preferential", map[bool]string{true: "yes"}[h.IsPreferential], "yes")
	check("import country (default)", h.ImportCountry, "VN")
	check("remarks", h.Remarks, "first; second")
	check("iec", idText(c.Consignment.Exporter.IDs), "in:iec:0304012345")
	if !slices.Equal(c.Consignment.Exporter.Address.Lines, []string{"Plot 7, MIDC", "Andheri East"}) {
		t.Errorf("lines %q", c.Consignment.Exporter.Address.Lines)
	}
	it := c.Consignment.Items
	if len(it) != 2 {
		t.Fatalf("%d items", len(it))
	}
	check("seq", string(rune('0'+it[1].SequenceNumber)), "2")
	check("hs", it[0].Product.HSCode, "610910")
	check("national", it[0].Product.NationalTariffCode, "61091000")
	check("edition", it[0].Product.HSEdition, "HS2022")
	check("qty0", string(it[0].Quantity.Value)+" "+it[0].Quantity.UnitCode, "1200.5 KGM")
	check("qty1 converted", string(it[1].Quantity.Value)+" "+it[1].Quantity.UnitCode, "2500 KGM")
	check("criterion", it[1].OriginCriteria[0], "RVC 40% + CTSH")
	check("fob", string(it[1].FOBValue.Value)+" "+it[1].FOBValue.Currency, "12500.00 USD")
	check("invoice", it[1].InvoiceReferences[0].ID+" "+it[1].InvoiceReferences[0].IssueDate.String(), "INV-9 2026-03-01")
	// The example is a starting point that works: a valid e-CO.
	at := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	fds := schema.Validate(c, schema.ValidateOptions{Now: func() time.Time { return at }})
	if fds.HasSevere() || h.TypeCode == "" {
		t.Errorf("the example maps to an invalid e-CO (typeCode %q):\n%v", h.TypeCode, fds)
	}
}

// TestProfileStrict refuses unknown fields and bad targets at load time,
// naming the rule and its line.
func TestProfileStrict(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"unknown top field", "name: x\nformat: json\nrulez: []\n", "field rulez not found"},
		{"unknown rule field", "format: json\nrules:\n  - {to: exchangedDocument.iD, form: a}\n", "field form not found"},
		{"unknown transform", "format: json\nrules:\n  - to: exchangedDocument.iD\n    from: a\n    transforms: [{uppercase: true}]\n", "field uppercase not found"},
		{"bad target", "format: json\nrules:\n  - {to: exchangedDocument.iDD, from: a}\n", `rules[0] (line 3, to exchangedDocument.iDD)`},
		{"bad target says known", "format: json\nrules:\n  - {to: exchangedDocument.iDD, from: a}\n", "known: iD, uuid"},
		{"group target", "format: json\nrules:\n  - {to: supplyChainConsignment.consignor, from: a}\n", "group of fields"},
		{"no format", "rules:\n  - {to: exchangedDocument.iD, from: a}\n", "'format' is missing"},
		{"from and value", "format: json\nrules:\n  - {to: exchangedDocument.iD, from: a, value: b}\n", "not both"},
		{"each needs []", "format: json\nrules:\n  - each: a[*]\n    to: supplyChainConsignment.includedConsignmentItems[0]\n    rules: [{to: sequenceNumber, from: n}]\n", "must end in '[]'"},
		{"nested names line", "format: json\nrules:\n  - each: a[*]\n    to: supplyChainConsignment.includedConsignmentItems[]\n    rules:\n      - {to: hsCode, from: n}\n", "rules[0].rules[0] (line 6, to hsCode)"},
		{"shaper last", "format: json\nrules:\n  - to: supplyChainConsignment.includedConsignmentItems[].tradeProduct\n    from: a\n    transforms: [{hs: {}}, {trim: true}]\n", "must come last"},
		{"two in one", "format: json\nrules:\n  - to: exchangedDocument.iD\n    from: a\n    transforms: [{trim: true, upper: true}]\n", "one transform per list entry"},
		{"bad date pattern", "format: json\nrules:\n  - to: exchangedDocument.issueDateTime\n    from: a\n    transforms: [{date: {from: whenever}}]\n", "neither a pattern"},
		{"csv key with dot", "format: csv\nkey: a.b\nrules:\n  - {to: exchangedDocument.iD, from: a}\n", "name of the column"},
		{"bad source path", "format: json\nrules:\n  - {to: exchangedDocument.iD, from: \"a[x]\"}\n", "index \"x\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseProfile([]byte(tc.yaml), "t")
			if err == nil {
				t.Fatalf("loaded; want an error with %q", tc.want)
			}
			var pe *ProfileError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ProfileError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestMappingErrorsNameRecordFieldRule: a record that does not fit is
// refused whole, and each error names the record, field and rule.
func TestMappingErrorsNameRecordFieldRule(t *testing.T) {
	p := mustProfile(t, `
format: json
key: no
rules:
  - {name: number, to: exchangedDocument.iD, from: no, required: true}
  - name: issue date
    to: exchangedDocument.issueDateTime
    from: date
    transforms: [{date: {from: DD/MM/YYYY, to: datetime}}]
  - each: items[*]
    to: supplyChainConsignment.includedConsignmentItems[]
    rules:
      - to: quantity
        from: qty
        transforms: [{unit: {field: uom, table: {KGS: KGM}}}]
      - to: tradeProduct.originCountry
        from: origin
        transforms: [{map: {table: {India: IN}}}]
`)
	src := `[{"no": "A1", "date": "2026-03-01", "items": [{"qty": "5", "uom": "KGS", "origin": "India"}, {"qty": "5", "uom": "BAGS", "origin": "Bharat"}]},
	{"date": "01/03/2026"}]`
	recs, err := p.ReadRecords(strings.NewReader(src), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.MapRecord(recs[0])
	if c != nil {
		t.Fatal("a record with errors produced a certificate")
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("want 3 mapping errors, got %v", err)
	}
	want := []struct{ field, rule, msg string }{
		{"date", `rules[1] "issue date"`, `"2026-03-01" is not a date in the form DD/MM/YYYY`},
		{"items[1].uom", `rules[2].rules[0]`, `unit "BAGS" is not in the rule's unit table (KGS)`},
		{"items[1].origin", `rules[2].rules[1]`, `value "Bharat" is not in the rule's code table (India)`},
	}
	for i, w := range want {
		e := es[i]
		if e.Record != "record 1 (key A1)" || e.SourceField != w.field || !strings.HasPrefix(e.Rule, w.rule) || !strings.Contains(e.Err.Error(), w.msg) {
			t.Errorf("error %d = %q; want record 1 (key A1), field %s, rule %s, %q", i, e, w.field, w.rule, w.msg)
		}
	}
	_, err = p.MapRecord(recs[1])
	if err == nil || !strings.Contains(err.Error(), `record 2: field no: rule rules[0] "number"`) || !strings.Contains(err.Error(), "requires it") {
		t.Errorf("missing required field: %v", err)
	}
}

// TestCSVGroupsRowsByKey: consecutive rows with one key form one record;
// bad rows are reported with their line and skipped without stopping.
func TestCSVGroupsRowsByKey(t *testing.T) {
	p := mustProfile(t, `
format: csv
key: Ref
rules:
  - {to: exchangedDocument.iD, from: Ref}
  - {to: supplyChainConsignment.consignor.name, from: Exporter}
  - each: rows[*]
    to: supplyChainConsignment.includedConsignmentItems[]
    rules:
      - {to: sequenceNumber, from: Item}
      - {to: tradeProduct.description, from: Description}
`)
	src := "Ref,Exporter,Item,Description\n" +
		"A,Acme,1,Bolts\n" +
		"A,Acme,2,Nuts\n" +
		"B,Beta,1,\"Washers, steel\"\n" +
		"C,Gamma,1\n" +
		"D,Delta,1,Rivets\n" +
		"B,Beta,2,Late row\n"
	recs, err := p.ReadRecords(strings.NewReader(src), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		c, err := p.MapRecord(r)
		if err != nil {
			got = append(got, "ERR "+err.Error())
			continue
		}
		var d []string
		for _, it := range c.Consignment.Items {
			d = append(d, it.Product.Description)
		}
		got = append(got, c.Header.ID+" "+c.Consignment.Exporter.Name+" "+strings.Join(d, "|"))
	}
	want := []string{
		"A Acme Bolts|Nuts",
		"B Beta Washers, steel",
		"ERR record 3 (line 5): the row has 3 columns, the header 4",
		"D Delta Rivets",
		`ERR record 5 (key B, line 7): key "B" already appeared in record 2: the rows of one record must be consecutive`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if recs[0].Pos != "lines 2-3" {
		t.Errorf("pos %q", recs[0].Pos)
	}
}

// TestXMLRecords reads records by slash paths; repeated elements are
// lists, attributes @name; a DOCTYPE is refused.
func TestXMLRecords(t *testing.T) {
	p := mustProfile(t, `
format: xml
records: Batch/Application
key: No
rules:
  - {to: exchangedDocument.iD, from: No}
  - {to: exchangedDocument.exportCountry, from: Exporter/@country}
  - each: Goods/Line[*]
    to: supplyChainConsignment.includedConsignmentItems[]
    rules:
      - {to: sequenceNumber, from: "@n"}
      - {to: tradeProduct.description, from: Text}
`)
	src := `<?xml version="1.0"?><Batch xmlns="urn:x">
<Application><No>X1</No><Exporter country="IN">A</Exporter><Goods><Line n="1"><Text>one</Text></Line><Line n="2"><Text>two</Text></Line></Goods></Application>
<Application><No>X2</No><Exporter country="IN">B</Exporter><Goods><Line n="1"><Text>only</Text></Line></Goods></Application>
</Batch>`
	recs, err := p.ReadRecords(strings.NewReader(src), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	for i, want := range []string{"X1 IN one,two", "X2 IN only"} {
		c, err := p.MapRecord(recs[i])
		if err != nil {
			t.Fatal(err)
		}
		var d []string
		for _, it := range c.Consignment.Items {
			d = append(d, it.Product.Description)
		}
		if got := c.Header.ID + " " + c.Header.ExportCountry + " " + strings.Join(d, ","); got != want {
			t.Errorf("record %d: %q, want %q", i, got, want)
		}
	}
	_, err = p.ReadRecords(strings.NewReader(`<!DOCTYPE x [<!ENTITY a "b">]><Batch/>`), "")
	if err == nil || !strings.Contains(err.Error(), "DOCTYPE") {
		t.Errorf("DOCTYPE: %v", err)
	}
}

// TestNDJSONBadLineSkipped: in line-delimited JSON a bad line is one bad
// record; the next lines are read.
func TestNDJSONBadLineSkipped(t *testing.T) {
	p := mustProfile(t, "format: json\nkey: n\nrules:\n  - {to: exchangedDocument.iD, from: n}\n")
	recs, err := p.ReadRecords(strings.NewReader("{\"n\":\"1\"}\n{\"n\":\n\n{\"n\":\"3\"}\n"), "x.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[1].Err == nil || recs[1].Pos != "line 2" || recs[2].Key != "3" {
		t.Fatalf("records %+v", recs)
	}
}

func TestSourcePaths(t *testing.T) {
	tree, _ := decodeJSON([]byte(`{"a":{"b":[{"c":"x"},{"c":"y"}]},"s":[{"k":"1"}],"o":{"k":"2"}}`))
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"a.b[0].c", []string{"x"}},
		{"a.b[*].c", []string{"x", "y"}},
		{"a/b[1]/c", []string{"y"}},
		{"s.k", []string{"1"}},    // one-element list steps in
		{"o[*].k", []string{"2"}}, // wildcard on an object
		{"a.b[5].c", nil},         // out of range: absent
		{"missing.x", nil},
	} {
		sp, err := parseSrcPath(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		ms, err := sp.eval(tree, "", true)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		var got []string
		for _, m := range ms {
			s, _ := leafString(m.node)
			got = append(got, s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
	sp, _ := parseSrcPath("a.b.c")
	if _, err := sp.eval(tree, "", true); err == nil || !strings.Contains(err.Error(), "a.b holds 2 values") {
		t.Errorf("ambiguous path: %v", err)
	}
	for _, bad := range []string{"", "a..b", "a[", "a[-1]", "^", "^.$.a", "a]b"} {
		if _, err := parseSrcPath(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
