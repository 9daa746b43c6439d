package certs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStrict(t *testing.T) {
	deep := strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65)
	for _, tc := range []struct {
		name, in, reason string
		lim              Limits
	}{
		{"plain", `<a xmlns="urn:x"><b>t</b></a>`, "", Limits{}},
		{"xml declaration", `<?xml version="1.0" encoding="UTF-8"?><a/>`, "", Limits{}},
		{"comment outside root", "<!-- c --><a/>\n<!-- d -->", "", Limits{}},
		{"doctype", `<!DOCTYPE a><a/>`, "xml.doctype", Limits{}},
		{"doctype lower case", `<!doctype a><a/>`, "xml.doctype", Limits{}},
		{"entity", `<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`, "xml.doctype", Limits{}},
		{"undefined entity", `<a>&e;</a>`, "xml.syntax", Limits{}},
		{"processing instruction", `<a><?pi x?></a>`, "xml.proc-inst", Limits{}},
		{"stylesheet PI", `<?xml-stylesheet href="x"?><a/>`, "xml.proc-inst", Limits{}},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, "xml.encoding", Limits{}},
		{"duplicate attribute", `<a x="1" x="2"/>`, "xml.duplicate-attr", Limits{}},
		{"malformed attribute name (crewjam)", `<a ::foo="bar"/>`, "", Limits{}},
		{"undeclared prefix", `<p:a/>`, "xml.undeclared-prefix", Limits{}},
		{"undeclared attribute prefix", `<a p:x="1"/>`, "xml.undeclared-prefix", Limits{}},
		{"prefix un-declaration", `<a xmlns:p=""/>`, "xml.bad-name", Limits{}},
		{"too deep", deep, "xml.too-deep", Limits{}},
		{"depth at the limit", strings.Repeat("<a>", 64) + strings.Repeat("</a>", 64), "", Limits{}},
		{"too large", `<a>` + strings.Repeat("x", 100) + `</a>`, "xml.too-large", Limits{MaxBytes: 50}},
		{"two roots", `<a/><b/>`, "xml.syntax", Limits{}},
		{"text outside root", `<a/>junk`, "xml.syntax", Limits{}},
		{"unclosed", `<a><b></a>`, "xml.syntax", Limits{}},
		{"empty", ``, "xml.syntax", Limits{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseStrict([]byte(tc.in), tc.lim)
			var pe *ParseError
			switch {
			case tc.reason == "" && tc.name == "malformed attribute name (crewjam)":
				// encoding/xml may refuse it as a syntax error or we do as a bad
				// name; either way it must not parse.
				if err == nil {
					t.Fatal("accepted")
				}
			case tc.reason == "":
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
			case !errors.As(err, &pe):
				t.Fatalf("got %v, want ParseError %s", err, tc.reason)
			case pe.Reason != tc.reason:
				t.Fatalf("reason %s (%s), want %s", pe.Reason, pe.Detail, tc.reason)
			}
		})
	}
}

// FuzzVerify feeds arbitrary documents to Verify: it must never panic,
// never report a document valid that a fixed-key signature does not cover,
// and the verified element exists exactly when the result is valid, and
// its canonical form is exactly the signed octets. The seeds are signed
// e-COs of several kilobytes: run with a short minimisation time, or the
// worker spends the whole budget minimising the first new input:
//
//	go test ./certs -run '^$' -fuzz FuzzVerify -fuzztime 60s -fuzzminimizetime 2s
func FuzzVerify(f *testing.F) {
	p := testPKI(f)
	f.Add(mustSign(f, p.SignerECDSA, p, ecoDoc(2)))
	f.Add(mustSign(f, p.SignerRSA, p, ecoDoc(1)))
	if b, err := os.ReadFile(filepath.Join("testdata", "eco-20-lines.xml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`<a xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Signature/></a>`))
	f.Add(mustSign(f, p.SignerECDSA, p, []byte(`<r xmlns="urn:ecogate:eco:1"><a>1</a></r>`)))
	v := &Verifier{Trust: trustFor(f, p), At: testNow}
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := v.Verify(doc)
		if err != nil {
			t.Fatal(err)
		}
		if res.Valid != (res.Element != nil) {
			t.Fatalf("valid=%v but element=%v", res.Valid, res.Element != nil)
		}
		if len(res.Report) != 4 {
			t.Fatalf("report has %d entries", len(res.Report))
		}
		if res.Valid && !bytes.Equal(ExcC14N(res.Element, nil, nil), res.Signed) {
			t.Fatalf("the verified element is not exactly the signed octets")
		}
		for _, e := range res.Report {
			if e.Reason == "" {
				t.Fatalf("empty reason in %+v", e)
			}
		}
	})
}

// TestHasDoctype: the '!'-driven search finds exactly what searching for
// both spellings finds.
func TestHasDoctype(t *testing.T) {
	for _, s := range []string{"", "!", "<!", "<!DOCTYPE", "<!doctype", "<!DocType r>", "a!b<!DOCTYP", "x!<!DOCTYPE r>",
		"<r>!!<!-- <!doctype --></r>", "<!<!DOCTYPE", "<r>Hello!</r>", "<!-- c --><r/>", "!DOCTYPE", "<<!doctype"} {
		want := strings.Contains(s, "<!DOCTYPE") || strings.Contains(s, "<!doctype")
		if got := hasDoctype([]byte(s)); got != want {
			t.Errorf("hasDoctype(%q) = %v, want %v", s, got, want)
		}
	}
}
