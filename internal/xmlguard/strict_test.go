package xmlguard

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// TestParseTreeTable: the refusals of the strict tokenizer beyond the
// limits (well-formedness it adds over encoding/xml's, with the reasons),
// and what it normalises in accepted documents.
func TestParseTreeTable(t *testing.T) {
	for _, tc := range []struct {
		name, doc, reason string
		attr, text        string // expected root attribute a / root text when accepted
	}{
		{"attr whitespace normalised", "<r a=\"x\ty\nz\r\nw\"/>", "", "x y z w", ""},
		{"char refs kept in attr", `<r a="x&#9;y&#10;z"/>`, "", "x\ty\nz", ""},
		{"crlf in text", "<r>a\r\nb\rc</r>", "", "", "a\nb\nc"},
		{"refs in text", `<r>&lt;&amp;&gt;&quot;&apos;&#x1F600;</r>`, "", "", `<&>"'` + "\U0001F600"},
		{"cdata", `<r><![CDATA[<&]]></r>`, "", "", "<&"},
		{"decl single quotes", `<?xml version='1.0' encoding='utf-8' standalone='yes'?><r/>`, "", "", ""},
		{"]]> in text", `<r>a]]>b</r>`, "xml.syntax", "", ""},
		{"-- in comment", `<r><!-- a -- b --></r>`, "xml.syntax", "", ""},
		{"comment ending in -", `<r><!-- a ---></r>`, "xml.syntax", "", ""},
		{"no space between attrs", `<r a="1"b="2"/>`, "xml.syntax", "", ""},
		{"unquoted attr", `<r a=1/>`, "xml.syntax", "", ""},
		{"attr without value", `<r a/>`, "xml.syntax", "", ""},
		{"< in attr", `<r a="<"/>`, "xml.syntax", "", ""},
		{"unknown entity", `<r>&nbsp;</r>`, "xml.syntax", "", ""},
		{"bad char ref", `<r>&#0;</r>`, "xml.syntax", "", ""},
		{"control char", "<r>\x01</r>", "xml.syntax", "", ""},
		{"invalid utf-8", "<r>\xff</r>", "xml.syntax", "", ""},
		{"invalid utf-8 in a name", "<A \xf8=\"\"/>", "xml.syntax", "", ""},
		{"U+FFFE", "<r>\uFFFE</r>", "xml.syntax", "", ""},
		{"same expanded name", `<r xmlns:a="urn:x" xmlns:b="urn:x" a:c="1" b:c="2"/>`, "xml.duplicate-attr", "", ""},
		{"two colons", `<a:b:c xmlns:a="urn:x"/>`, "xml.bad-name", "", ""},
		{"xmlns prefix bound", `<r xmlns:xmlns="urn:x"/>`, "xml.bad-name", "", ""},
		{"xml namespace to other prefix", `<r xmlns:p="http://www.w3.org/XML/1998/namespace"/>`, "xml.bad-name", "", ""},
		{"late decl", `<r/><?xml version="1.0"?>`, "xml.proc-inst", "", ""},
		{"decl version 1.1", `<?xml version="1.1"?><r/>`, "xml.syntax", "", ""},
		{"decl garbage", `<?xml version="1.0" foo="bar"?><r/>`, "xml.syntax", "", ""},
		{"decl utf-16", `<?xml version="1.0" encoding="UTF-16"?><r/>`, "xml.encoding", "", ""},
		{"cdata outside root", `<r/><![CDATA[ ]]>`, "xml.syntax", "", ""},
		{"ref outside root", `<r/>&#32;`, "xml.syntax", "", ""},
		{"unterminated comment", `<r><!-- x`, "xml.syntax", "", ""},
		{"eof in tag", `<r a="1"`, "xml.syntax", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := ParseTree([]byte(tc.doc), Limits{})
			if cerr := Check([]byte(tc.doc), Limits{Strict: true}); (cerr == nil) != (err == nil) {
				t.Fatalf("Check and ParseTree disagree: %v / %v", cerr, err)
			}
			if tc.reason != "" {
				ge, ok := IsError(err)
				if !ok || ge.Reason != tc.reason {
					t.Fatalf("got %v, want %s", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			root := doc.Root()
			if got := root.SelectAttrValue("a", ""); got != tc.attr {
				t.Errorf("attribute a = %q, want %q", got, tc.attr)
			}
			var txt strings.Builder
			for _, c := range root.Child {
				if cd, ok := c.(*etree.CharData); ok {
					txt.WriteString(cd.Data)
				}
			}
			if txt.String() != tc.text {
				t.Errorf("text = %q, want %q", txt.String(), tc.text)
			}
		})
	}
}

// sameTree compares the tree of ParseTree with etree's own parse of the
// same input: tokens, names, attributes (with their element), texts with
// their whitespace flag, parents and indexes.
func sameTree(t *testing.T, a, b *etree.Element) {
	t.Helper()
	if a.Space != b.Space || a.Tag != b.Tag || len(a.Attr) != len(b.Attr) || len(a.Child) != len(b.Child) {
		t.Fatalf("element %s:%s (%d attrs, %d children) vs %s:%s (%d, %d)", a.Space, a.Tag, len(a.Attr), len(a.Child), b.Space, b.Tag, len(b.Attr), len(b.Child))
	}
	for i := range a.Attr {
		x, y := a.Attr[i], b.Attr[i]
		if x.Space != y.Space || x.Key != y.Key || x.Value != y.Value || x.Element() != a || x.NamespaceURI() != y.NamespaceURI() {
			t.Fatalf("attribute %s: %q vs %q (element set: %v)", x.FullKey(), x.Value, y.Value, x.Element() == a)
		}
	}
	for i := range a.Child {
		if a.Child[i].Parent() != a || a.Child[i].Index() != i {
			t.Fatalf("child %d of <%s>: parent or index wrong", i, a.Tag)
		}
		switch x := a.Child[i].(type) {
		case *etree.Element:
			y, ok := b.Child[i].(*etree.Element)
			if !ok {
				t.Fatalf("child %d of <%s>: element vs %T", i, a.Tag, b.Child[i])
			}
			sameTree(t, x, y)
		case *etree.CharData:
			y, ok := b.Child[i].(*etree.CharData)
			if !ok || x.Data != y.Data || x.IsWhitespace() != y.IsWhitespace() {
				t.Fatalf("child %d of <%s>: text %q vs %#v", i, a.Tag, x.Data, b.Child[i])
			}
		case *etree.Comment:
			y, ok := b.Child[i].(*etree.Comment)
			if !ok || x.Data != y.Data {
				t.Fatalf("child %d of <%s>: comment %q vs %#v", i, a.Tag, x.Data, b.Child[i])
			}
		}
	}
}

// genDoc builds a random ASCII document without the constructs where the
// XML specification and encoding/xml differ (literal whitespace in
// attribute values, CRs, "]]>").
func genDoc(seed int) string {
	x := uint32(seed)*2654435761 + 1
	next := func(n int) int { x ^= x << 13; x ^= x >> 17; x ^= x << 5; return int(x % uint32(n)) }
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<!-- head -->\n")
	var el func(d int)
	el = func(d int) {
		name := []string{"e", "p:e", "q:f", "g"}[next(4)]
		b.WriteString("<" + name)
		if next(3) == 0 {
			b.WriteString(` xmlns:q="urn:q"`)
		}
		for i := range next(4) {
			fmt.Fprintf(&b, ` %s="%s"`, []string{"a", "p:a", "xml:lang", "b"}[i], []string{"1", "&lt;&amp;", "&#x263A;", "x y"}[next(4)])
		}
		if d > 4 || next(3) == 0 {
			b.WriteString("/>")
			return
		}
		b.WriteString(">")
		for range next(5) {
			switch next(5) {
			case 0, 1:
				el(d + 1)
			case 2:
				b.WriteString("\n   ")
			case 3:
				b.WriteString("<![CDATA[a<b]]>")
			default:
				b.WriteString("t &amp; &#65;<!--c-->")
			}
		}
		b.WriteString("</" + name + ">")
	}
	b.WriteString(`<r xmlns="urn:r" xmlns:p="urn:p" xmlns:q="urn:q0">`)
	el(0)
	b.WriteString("</r>\n")
	return b.String()
}

// TestParseTreeMatchesEtree is the differential test against etree's own
// parse (through encoding/xml) over generated documents: the same tree.
func TestParseTreeMatchesEtree(t *testing.T) {
	for seed := range 300 {
		src := genDoc(seed)
		ours, err := ParseTree([]byte(src), Limits{})
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, src)
		}
		ref := etree.NewDocument()
		if err := ref.ReadFromString(src); err != nil {
			t.Fatalf("seed %d: etree: %v", seed, err)
		}
		sameTree(t, &ours.Element, &ref.Element)
	}
}

// FuzzParseTree: never panics; agrees with Check; an accepted document
// is one etree accepts too, with the same tree, unless it holds what the
// specification and encoding/xml treat differently (non-ASCII names, CRs,
// literal whitespace in attribute values).
func FuzzParseTree(f *testing.F) {
	for i := range 8 {
		f.Add([]byte(genDoc(i)))
	}
	f.Add([]byte(`<r a="1"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := ParseTree(b, Limits{})
		// Twice: the second tree is built from the first one's released
		// (pooled) memory and must be the same.
		for range 2 {
			sd, release, serr := ParseTreeShared(b, Limits{})
			if (serr == nil) != (err == nil) {
				t.Fatalf("ParseTreeShared %v, ParseTree %v", serr, err)
			} else if err == nil {
				sameTree(t, &sd.Element, &doc.Element)
			}
			release()
			release() // a second call does nothing
		}
		if cerr := Check(b, Limits{Strict: true}); (cerr == nil) != (err == nil) {
			t.Fatalf("Check %v, ParseTree %v", cerr, err)
		}
		if err != nil {
			return
		}
		for _, c := range b {
			if c >= 0x80 || c == '\r' || c == '\t' || c == '\n' {
				return
			}
		}
		ref := etree.NewDocument()
		ref.ReadSettings.PreserveDuplicateAttrs = true
		if err := ref.ReadFromBytes(b); err != nil {
			t.Fatalf("accepted by ParseTree, refused by etree: %v", err)
		}
		sameTree(t, &doc.Element, &ref.Element)
	})
}

// TestParseTreeAllocsBounded: allocations per element stay bounded (the
// tree is carved from slabs): well under one per element, and the same
// per element for n and 4n elements.
func TestParseTreeAllocsBounded(t *testing.T) {
	doc := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`<r xmlns="urn:r">`)
		for i := range n {
			fmt.Fprintf(&b, "\n <item n=\"%d\"><a>x &amp; y</a><b unit=\"KGM\">1.5</b><c/></item>", i)
		}
		b.WriteString("\n</r>")
		return []byte(b.String())
	}
	per := func(n int) float64 {
		d := doc(n)
		return testing.AllocsPerRun(5, func() {
			if _, err := ParseTree(d, Limits{}); err != nil {
				t.Fatal(err)
			}
		}) / float64(4*n)
	}
	p1, p4 := per(500), per(2000)
	if p1 > 0.6 || p4 > 0.6 {
		t.Errorf("allocations per element: %.2f (n=500), %.2f (n=2000); want at most 0.6", p1, p4)
	}
}

// TestParseTreeCopies: ParseTree's tree does not change when the input
// bytes are overwritten afterwards (it parses a copy), nor does
// ParseTreeReused's before its release; ParseTreeShared's is the same
// tree as ParseTree's while the input stays as it was.
func TestParseTreeCopies(t *testing.T) {
	for i := range 4 {
		b := []byte(genDoc(i))
		ref, err := ParseTree(bytes.Clone(b), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		shared, release, err := ParseTreeShared(b, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		sameTree(t, &shared.Element, &ref.Element)
		release()
		if len(shared.Root().Child) != 0 || shared.Root().Tag != "" {
			t.Fatal("a released tree still holds the document (its slabs were not cleared)")
		}
		d, err := ParseTree(b, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		reused, releaseReused, err := ParseTreeReused(b, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for j := range b {
			b[j] = 'x'
		}
		sameTree(t, &d.Element, &ref.Element)
		sameTree(t, &reused.Element, &ref.Element)
		releaseReused()
		if len(reused.Root().Child) != 0 || reused.Root().Tag != "" {
			t.Fatal("a released ParseTreeReused tree still holds the document (its slabs were not cleared)")
		}
	}
}
