package xmlguard

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// hostile builders: each returns a document whose hostile part grows with n.
var families = map[string]func(n int) []byte{
	// n attributes on one element (refused above 256, so this family is
	// measured with a raised per-element limit).
	"attrs-one-element": func(n int) []byte {
		var b bytes.Buffer
		b.WriteString(`<r xmlns:p="urn:p"><e`)
		for i := range n {
			fmt.Fprintf(&b, ` p:a%d=""`, i)
		}
		b.WriteString(`/></r>`)
		return b.Bytes()
	},
	// n elements with 200 prefixed attributes each, under 64 nested
	// ancestors that each declare namespaces.
	"elements-many-attrs-deep-ns": func(n int) []byte {
		var b bytes.Buffer
		for d := range 60 {
			fmt.Fprintf(&b, `<d%d`, d)
			for k := range 4 {
				fmt.Fprintf(&b, ` xmlns:n%d_%d="urn:%d"`, d, k, k)
			}
			b.WriteString(`>`)
		}
		for range n {
			b.WriteString(`<e`)
			for i := range 200 {
				fmt.Fprintf(&b, ` n0_0:a%d=""`, i)
			}
			b.WriteString(`/>`)
		}
		for d := 59; d >= 0; d-- {
			fmt.Fprintf(&b, `</d%d>`, d)
		}
		return b.Bytes()
	},
	// n elements, each redeclaring the same prefix.
	"redeclared-prefix": func(n int) []byte {
		var b bytes.Buffer
		b.WriteString(`<r xmlns:p="urn:0">`)
		for i := range n {
			fmt.Fprintf(&b, `<p:e xmlns:p="urn:%d" p:a="1"/>`, i)
		}
		b.WriteString(`</r>`)
		return b.Bytes()
	},
}

// TestCheckLinear asserts without timing that the work of Check grows
// linearly: the operation count for 2n is at most 2.2 times that for n,
// where a quadratic check (a nested duplicate loop, a walk up the tree per
// prefix) would give 4 times.
func TestCheckLinear(t *testing.T) {
	lim := Limits{MaxBytes: 64 << 20, MaxAttrsPerElement: 1 << 20, MaxAttrs: 1 << 24, MaxNSDecls: 1 << 20, Strict: true}
	for name, build := range families {
		t.Run(name, func(t *testing.T) {
			const n = 2000
			o1, err := check(build(n), lim)
			if err != nil {
				t.Fatalf("n: %v", err)
			}
			o2, err := check(build(2*n), lim)
			if err != nil {
				t.Fatalf("2n: %v", err)
			}
			if r := float64(o2) / float64(o1); r > 2.2 {
				t.Errorf("operations n=%d: %d, 2n: %d (ratio %.2f): not linear", n, o1, o2, r)
			}
		})
	}
}

// TestCheckRefusesAtTheLimit asserts that a refusal is decided at the
// limit, before the rest of the input is read: the tail after the
// offending tag is not even well-formed, yet the reason is the limit.
func TestCheckRefusesAtTheLimit(t *testing.T) {
	tail := strings.Repeat("<<<&&&", 1000)
	var b strings.Builder
	b.WriteString(`<r><e`)
	for i := range 257 {
		fmt.Fprintf(&b, ` a%d=""`, i)
	}
	b.WriteString(`/>`)
	head := b.Len()
	doc := []byte(b.String() + tail)
	err := Check(doc, Limits{Strict: true})
	ge, ok := IsError(err)
	if !ok || ge.Reason != "xml.too-many-attrs" {
		t.Fatalf("got %v, want xml.too-many-attrs", err)
	}
	if ge.Offset > int64(head) {
		t.Errorf("refused at offset %d, after the offending tag ending at %d", ge.Offset, head)
	}
	if !strings.Contains(ge.Detail, "256") || !strings.Contains(ge.Detail, "MaxAttrsPerElement") {
		t.Errorf("detail does not name the limit: %s", ge.Detail)
	}
}

func TestCheckTable(t *testing.T) {
	attrs := func(n int, f string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, f, i)
		}
		return b.String()
	}
	nested := func(depth int) string {
		return strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth)
	}
	for _, tc := range []struct {
		name   string
		doc    string
		lim    Limits
		reason string // "" = accepted
	}{
		{"plain", `<?xml version="1.0" encoding="UTF-8"?><r/>`, Limits{Strict: true}, ""},
		{"256 attrs", `<r` + attrs(256, ` a%d=""`) + `/>`, Limits{Strict: true}, ""},
		{"257 attrs", `<r` + attrs(257, ` a%d=""`) + `/>`, Limits{Strict: true}, "xml.too-many-attrs"},
		{"64 ns", `<r` + attrs(64, ` xmlns:p%d="urn:x"`) + `/>`, Limits{Strict: true}, ""},
		{"65 ns", `<r` + attrs(65, ` xmlns:p%d="urn:x"`) + `/>`, Limits{Strict: true}, "xml.too-many-ns"},
		{"ns total", `<r>` + strings.Repeat(`<e`+attrs(64, ` xmlns:p%d="urn:x"`)+`/>`, 2) + `</r>`, Limits{Strict: true, MaxNSDecls: 100}, "xml.too-many-ns"},
		{"attrs total", `<r>` + strings.Repeat(`<e`+attrs(100, ` a%d=""`)+`/>`, 3) + `</r>`, Limits{Strict: true, MaxAttrs: 250}, "xml.too-many-attrs"},
		{"depth 64", nested(64), Limits{Strict: true}, ""},
		{"depth 65", nested(65), Limits{Strict: true}, "xml.too-deep"},
		{"dup attr small", `<r a="1" b="2" a="3"/>`, Limits{Strict: true}, "xml.duplicate-attr"},
		{"dup attr large", `<r xmlns:p="urn:p"` + attrs(100, ` p:a%d=""`) + ` p:a7="x"/>`, Limits{Strict: true}, "xml.duplicate-attr"},
		{"dup xmlns", `<r xmlns:p="urn:a" xmlns:p="urn:b"/>`, Limits{Strict: true}, "xml.duplicate-attr"},
		{"dup attr non-strict", `<r a="1" a="2"/>`, Limits{}, ""},
		{"undeclared", `<p:r/>`, Limits{Strict: true}, "xml.undeclared-prefix"},
		{"out of scope", `<r><e xmlns:p="urn:p"/><p:e/></r>`, Limits{Strict: true}, "xml.undeclared-prefix"},
		{"undeclare", `<r xmlns:p=""/>`, Limits{Strict: true}, "xml.bad-name"},
		{"doctype", `<!DOCTYPE r><r/>`, Limits{}, "xml.doctype"},
		{"pi", `<r><?php x?></r>`, Limits{Strict: true}, "xml.proc-inst"},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?><r/>`, Limits{Strict: true}, "xml.encoding"},
		{"two roots", `<r/><r/>`, Limits{}, "xml.syntax"},
		{"text outside", `<r/>x`, Limits{}, "xml.syntax"},
		{"unclosed", `<r><a>`, Limits{}, "xml.syntax"},
		{"mismatched", `<r></a>`, Limits{}, "xml.syntax"},
		{"empty", ``, Limits{}, "xml.syntax"},
		{"too large", `<r>` + strings.Repeat(" ", 100) + `</r>`, Limits{MaxBytes: 50}, "xml.too-large"},
		{"bom left in", "\xEF\xBB\xBF<r/>", Limits{}, "xml.syntax"},
		{"bom trimmed", string(TrimBOM([]byte("\xEF\xBB\xBF<r/>"))), Limits{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.doc), tc.lim)
			got := ""
			if err != nil {
				ge, ok := IsError(err)
				if !ok {
					t.Fatalf("not an *Error: %v", err)
				}
				got = ge.Reason
			}
			if got != tc.reason {
				t.Errorf("reason %q, want %q (%v)", got, tc.reason, err)
			}
		})
	}
}

func TestScope(t *testing.T) {
	s := NewScope()
	s.Push("p", "a")
	m := s.Mark()
	s.Push("p", "b")
	s.Push("", "d")
	if u, _ := s.Lookup("p"); u != "b" {
		t.Errorf("p = %q", u)
	}
	s.PopTo(m)
	if u, _ := s.Lookup("p"); u != "a" {
		t.Errorf("after pop p = %q", u)
	}
	if _, ok := s.Lookup(""); ok {
		t.Errorf("default still bound")
	}
}

// FuzzCheck: Check never panics, and a document it accepts in strict mode
// is one etree parses (names with non-ASCII characters aside), with no
// duplicate attribute.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`<r a="1"/>`, `<p:r xmlns:p="u"><p:e p:a=""/></p:r>`, `<!DOCTYPE r><r/>`, `<r><?x?></r>`, `<r a="1" a="1"/>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Check(b, Limits{Strict: true}) != nil {
			return
		}
		doc := etree.NewDocument()
		doc.ReadSettings.PreserveDuplicateAttrs = true
		if err := doc.ReadFromBytes(b); err != nil {
			if bytes.IndexFunc(b, func(r rune) bool { return r >= 0x80 }) >= 0 {
				// encoding/xml's name tables are XML 1.0's older ones
				// (Appendix B); the strict check follows the fifth edition.
				return
			}
			t.Fatalf("accepted by Check, refused by etree: %v", err)
		}
		var walk func(e *etree.Element)
		walk = func(e *etree.Element) {
			seen := map[xml.Name]bool{}
			for _, a := range e.Attr {
				k := xml.Name{Space: a.Space, Local: a.Key}
				if seen[k] {
					t.Fatalf("duplicate attribute %s accepted", a.FullKey())
				}
				seen[k] = true
			}
			for _, c := range e.ChildElements() {
				walk(c)
			}
		}
		walk(doc.Root())
	})
}
