package mapping

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseProfile: the profile loader never panics, whatever the YAML.
// A profile that loads maps a small record without panicking either. The
// built-in profiles join the seeds with FUZZ_BIG_SEEDS=1 (10 KB seeds slow
// the mutator to a crawl; the built-ins load in the other tests anyway).
func FuzzParseProfile(f *testing.F) {
	if os.Getenv("FUZZ_BIG_SEEDS") != "" {
		for _, n := range []string{"india-ecoo", "edi3-coo", "formd-csv"} {
			y, _ := BuiltinYAML(n)
			f.Add(string(y))
		}
	}
	f.Add("format: json\nrules:\n  - {to: exchangedDocument.iD, from: a}\n")
	f.Add("format: csv\nkey: k\nrules:\n  - each: rows[*]\n    to: supplyChainConsignment.includedConsignmentItems[]\n    rules: [{to: sequenceNumber, from: $index}]\n")
	f.Add("format: json\nrules:\n  - to: exchangedDocument.issueDateTime\n    from: d\n    transforms: [{date: {from: DD/MM/YYYY hh:mm, to: datetime, zone: '+05:30'}}]\n")
	f.Fuzz(func(t *testing.T, y string) {
		p, err := ParseProfile([]byte(y), "fuzz")
		if err != nil {
			if p != nil {
				t.Fatal("profile and error")
			}
			return
		}
		var src string
		switch p.Format {
		case FormatCSV:
			src = "k,a,d\n1,x,01/02/2026 10:00\n1,y,\n"
		case FormatXML:
			src = "<r><a>x</a><d>01/02/2026</d></r>"
		default:
			src = `{"a": "x", "d": "01/02/2026 10:00", "items": [{"n": 1}, {"n": "2"}], "k": 1}`
		}
		recs, err := p.ReadRecords(strings.NewReader(src), "")
		if err != nil {
			return
		}
		for _, r := range recs {
			c, err := p.MapRecord(r)
			if (c == nil) == (err == nil) {
				t.Fatalf("MapRecord returned certificate %v and error %v", c != nil, err)
			}
		}
	})
}

// FuzzSourcePath: any source path parses or is refused cleanly, and one
// that parses evaluates on a JSON tree without panicking.
func FuzzSourcePath(f *testing.F) {
	for _, s := range []string{"a.b[0].c", "items[*].x", "$.a", "^.^.b[*]", "$index", "a/b/c", "[*][0]", "a[1][*].b", "^.$index"} {
		f.Add(s)
	}
	tree, _ := decodeJSON([]byte(`{"a": {"b": [{"c": "x"}, {"c": ["y", {"d": true}]}]}, "items": [[1, 2], {"x": null}], "": {"": "e"}}`))
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := parseSrcPath(s)
		if err != nil {
			return
		}
		if _, err := sp.eval(tree, "", true); err != nil {
			return
		}
	})
}
