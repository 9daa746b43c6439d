package certs

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/internal/xmlguard"
)

// fillTo returns head + as many units as fit + tail, just under max bytes.
func fillTo(max int, head string, unit func(i int) string, tail string) []byte {
	var b bytes.Buffer
	b.WriteString(head)
	for i := 0; ; i++ {
		u := unit(i)
		if b.Len()+len(u)+len(tail) >= max {
			break
		}
		b.WriteString(u)
	}
	b.WriteString(tail)
	return b.Bytes()
}

func attrList(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

const ecoNS = `xmlns="urn:ecogate:eco:1"`

// deepNSDoc: 63 nested elements each declaring 4 prefixes and carrying
// 200 attributes, then leaf elements at depth 64 in the outermost prefix
// (the declaration farthest away) up to max bytes.
func deepNSDoc(max int) []byte {
	var head, tail strings.Builder
	head.WriteString(`<CertificateOfOrigin ` + ecoNS + `>`)
	for d := range 62 {
		fmt.Fprintf(&head, `<n%d:d`, d)
		for k := range 4 {
			fmt.Fprintf(&head, ` xmlns:n%d="urn:n%d"`, d*4+k, k)
		}
		head.WriteString(attrList(200, ` a%d=""`))
		head.WriteString(`>`)
		fmt.Fprintf(&tail, `</n%d:d>`, 61-d)
	}
	return fillTo(max, head.String(), func(int) string { return `<n0:e/>` }, tail.String()+`</CertificateOfOrigin>`)
}

// TestHostileDocuments: documents just under the size cap (configured to
// 1 MiB, the size of the example; the totals scale with it: 65536
// attributes, 256 namespace declarations), each refused with the right
// reason by ParseStrict and by Verify, or accepted, signed and verified.
// BenchmarkHostile measures the same shapes under the default 4 MiB cap.
func TestHostileDocuments(t *testing.T) {
	p := testPKI(t)
	const max = 1 << 20
	lim := Limits{MaxBytes: max}
	root := `<CertificateOfOrigin ` + ecoNS + ` xmlns:p="urn:p">`
	end := `</CertificateOfOrigin>`
	for _, tc := range []struct {
		name   string
		doc    []byte
		reason string // "" = signed and verified valid
	}{
		{"100k attributes on one element (1 MB, the issue's case)", []byte(root + `<e` + attrList(100000, ` a%d=""`) + `/>` + end), "xml.too-many-attrs"},
		{"one element with attributes up to the cap", fillTo(max, root+`<e`, func(i int) string { return fmt.Sprintf(` a%d=""`, i) }, `/>`+end), "xml.too-many-attrs"},
		{"256 attributes on one element", []byte(root + `<e` + attrList(256, ` p:a%d=""`) + `/>` + end), ""},
		{"65 namespace declarations on one element", []byte(root + `<e` + attrList(65, ` xmlns:q%d="urn:q"`) + `/>` + end), "xml.too-many-ns"},
		{"64 declarations per element up to the cap", fillTo(max, root, func(int) string { return `<e` + attrList(64, ` xmlns:q%d="urn:q"`) + `/>` }, end), "xml.too-many-ns"},
		{"the same prefix redeclared up to the cap", fillTo(max, root, func(i int) string { return fmt.Sprintf(`<p:e xmlns:p="urn:%d"/>`, i) }, end), "xml.too-many-ns"},
		{"deep-but-allowed nesting with namespaces, leaves to the cap", deepNSDoc(max), ""},
		{"nesting one level too deep", []byte(strings.Repeat(`<a>`, 65) + strings.Repeat(`</a>`, 65)), "xml.too-deep"},
		{"many elements with 200 attributes each to the cap", fillTo(max, root, func(int) string { return `<e` + attrList(200, ` p:a%d=""`) + `/>` }, end), "xml.too-many-attrs"},
		{"elements with 256 attributes and long values to the cap", fillTo(max, root, func(int) string { return `<e` + attrList(256, ` p:a%d="`+strings.Repeat("v", 300)+`"`) + `/>` }, end), ""},
		{"one long attribute value", []byte(root + `<e a="` + strings.Repeat("x&amp;", (max-200)/6) + `"/>` + end), ""},
		{"duplicate attribute after 255 others", []byte(root + `<e` + attrList(255, ` p:a%d=""`) + ` p:a0="x"/>` + end), "xml.duplicate-attr"},
		{"duplicate prefix declaration", []byte(root + `<e xmlns:q="urn:a" xmlns:q="urn:b"/>` + end), "xml.duplicate-attr"},
		{"leaves with an undeclared prefix at the end", fillTo(max, root, func(int) string { return `<p:e/>` }, `<z:e/>`+end), "xml.undeclared-prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.doc) > max {
				t.Fatalf("test document is %d bytes, over the cap", len(tc.doc))
			}
			_, err := ParseStrict(tc.doc, lim)
			if tc.reason != "" {
				pe, ok := err.(*ParseError)
				if !ok || pe.Reason != tc.reason {
					t.Fatalf("got %v, want %s", err, tc.reason)
				}
				if pe.Detail == "" {
					t.Errorf("no detail")
				}
				// The node's verify path reports the same reason.
				res, verr := (&Verifier{Trust: trustFor(t, p), At: testNow, Limits: lim}).Verify(tc.doc)
				if verr != nil || res.Valid || res.Report.First().Reason != tc.reason {
					t.Errorf("Verify: %v %+v", verr, res.Report.First())
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			signed := mustSign(t, p.SignerECDSA, p, tc.doc)
			res, verr := (&Verifier{Trust: trustFor(t, p), At: testNow, Limits: Limits{MaxBytes: 2 * max}}).Verify(signed)
			if verr != nil || !res.Valid {
				t.Fatalf("Verify: %v %+v", verr, res.Report)
			}
		})
	}
}

// TestHostileSignatureContent: a valid signature whose KeyInfo holds
// many ignored ds:KeyName elements under a root with many attributes still
// verifies (KeyInfo is outside SignedInfo), and the profile checks resolve
// namespaces through the index, not up the tree.
func TestHostileSignatureContent(t *testing.T) {
	p := testPKI(t)
	doc := []byte(`<CertificateOfOrigin ` + ecoNS + attrList(200, ` a%d=""`) + `><X/></CertificateOfOrigin>`)
	signed := mustSign(t, p.SignerECDSA, p, doc)
	many := strings.Repeat(`<ds:KeyName/>`, 200000)
	hostile := bytes.Replace(signed, []byte(`<ds:KeyInfo>`), []byte(`<ds:KeyInfo>`+many), 1)
	if bytes.Equal(hostile, signed) {
		t.Fatal("no ds:KeyInfo in the signed document")
	}
	res, err := (&Verifier{Trust: trustFor(t, p), At: testNow}).Verify(hostile)
	if err != nil || !res.Valid {
		t.Fatalf("Verify: %v %+v", err, res.Report)
	}
}

// c14nOps canonicalizes root and returns the scope operations done.
func c14nOps(root *etree.Element) (int, int) {
	c := newC14N(nil, nil, nil)
	c.element(root, nil)
	return c.scope.Ops + c.rendered.Ops, len(c.buf)
}

// TestLinearCost asserts without timing that the strict parse, exclusive
// C14N and the signature scan do work linear in the input: operation
// counts and allocations for 2n are at most 2.2 times those for n (a walk
// up the tree or along the declarations per element would give far more).
func TestLinearCost(t *testing.T) {
	lim := Limits{MaxBytes: 64 << 20, MaxAttrs: 1 << 24}
	for _, tc := range []struct {
		name  string
		build func(n int) []byte
	}{
		{"leaves under deep declarations", func(n int) []byte { return deepNSDoc(200_000 + 70*n) }},
		{"elements with many prefixed attributes", func(n int) []byte {
			return []byte(`<r xmlns:p="urn:p">` + strings.Repeat(`<e`+attrList(200, ` p:a%d=""`)+`/>`, n) + `</r>`)
		}},
		{"redeclared prefixes", func(n int) []byte {
			var b strings.Builder
			b.WriteString(`<r xmlns:p="urn:p">`)
			for i := range n {
				fmt.Fprintf(&b, `<p:e xmlns:p="urn:%d" p:a=""/>`, i%500)
			}
			b.WriteString(`</r>`)
			return []byte(b.String())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 300
			d1, d2 := tc.build(n), tc.build(2*n)
			l := lim
			l.MaxNSDecls = 1 << 20
			var trees [2]*etree.Document
			for i, d := range [][]byte{d1, d2} {
				doc, err := ParseStrict(d, l)
				if err != nil {
					t.Fatal(err)
				}
				trees[i] = doc
			}
			o1, _ := c14nOps(trees[0].Root())
			o2, _ := c14nOps(trees[1].Root())
			if r := float64(o2) / float64(o1); r > 2.2 {
				t.Errorf("c14n operations %d -> %d (ratio %.2f)", o1, o2, r)
			}
			s1 := &sigScanner{scope: newScopeForTest(), ix: nsIndex{}}
			s1.walk(trees[0].Root(), false)
			s2 := &sigScanner{scope: newScopeForTest(), ix: nsIndex{}}
			s2.walk(trees[1].Root(), false)
			if r := float64(s2.scope.Ops) / float64(s1.scope.Ops); r > 2.2 {
				t.Errorf("signature scan operations %d -> %d (ratio %.2f)", s1.scope.Ops, s2.scope.Ops, r)
			}
			a1 := testing.AllocsPerRun(1, func() { ParseStrict(d1, l) })
			a2 := testing.AllocsPerRun(1, func() { ParseStrict(d2, l) })
			if r := a2 / a1; r > 2.2 {
				t.Errorf("ParseStrict allocations %.0f -> %.0f (ratio %.2f)", a1, a2, r)
			}
		})
	}
}

// TestBOM: a document starting with a UTF-8 byte-order mark is signed
// (the mark is kept: signing changes no input byte), verified by ecogate
// and by xmlsec1, and its signed form verifies again with the mark.
func TestBOM(t *testing.T) {
	p := testPKI(t)
	bom := []byte("\xEF\xBB\xBF")
	for _, doc := range [][]byte{append(bom, ecoDoc(2)...), append(bom, []byte(`<CertificateOfOrigin `+ecoNS+`><X/></CertificateOfOrigin>`)...)} {
		signed := mustSign(t, p.SignerRSA, p, doc)
		if !bytes.HasPrefix(signed, bom) {
			t.Fatalf("signing dropped the byte-order mark")
		}
		res, err := (&Verifier{Trust: trustFor(t, p), At: testNow}).Verify(signed)
		if err != nil || !res.Valid {
			t.Fatalf("Verify with BOM: %v %+v", err, res.Report)
		}
		// The same signature verifies without the mark (C14N does not see it).
		res, _ = (&Verifier{Trust: trustFor(t, p), At: testNow}).Verify(signed[3:])
		if !res.Valid {
			t.Errorf("Verify without BOM: %+v", res.Report)
		}
		if ok, out := xmlsecVerify(t, signed, pkiDir+"/"+FileRootCert); !ok {
			t.Errorf("xmlsec1 rejects the signed document with BOM:\n%s", out)
		}
	}
	// A BOM anywhere but the start is still text outside the root.
	if _, err := ParseStrict([]byte("<r/>\xEF\xBB\xBF"), Limits{}); err == nil {
		t.Errorf("a trailing BOM was accepted")
	}
	if _, err := ParseStrict(append(bom, bom...), Limits{}); err == nil {
		t.Errorf("two BOMs and no element were accepted")
	}
}

// FuzzParseStrict: no input panics ParseStrict, every refusal carries a
// reason, and an accepted document canonicalizes.
func FuzzParseStrict(f *testing.F) {
	for _, s := range []string{`<r a="1"/>`, "\xEF\xBB\xBF<r/>", `<p:r xmlns:p="u" p:a="1"><p:e/></p:r>`, `<!DOCTYPE r><r/>`, `<r a="1" a="2"/>`, `<?xml version="1.0" encoding="latin1"?><r/>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseStrict(b, Limits{MaxBytes: 1 << 16})
		if err != nil {
			if pe, ok := err.(*ParseError); !ok || pe.Reason == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		ExcC14N(d.Root(), nil, nil)
	})
}

func newScopeForTest() *xmlguard.Scope { return xmlguard.NewScope() }

// BenchmarkHostile measures ParseStrict and Verify on hostile documents
// just under the default 4 MiB cap (and the 1 MB case), refused or
// accepted: each must stay well under a second per document.
func BenchmarkHostile(b *testing.B) {
	p := testPKI(b)
	const max = DefaultMaxBytes
	root := `<CertificateOfOrigin ` + ecoNS + ` xmlns:p="urn:p">`
	end := `</CertificateOfOrigin>`
	docs := []struct {
		name string
		doc  []byte
	}{
		{"100k-attrs-1MB", []byte(root + `<e` + attrList(100000, ` a%d=""`) + `/>` + end)},
		{"attrs-one-element-4MB", fillTo(max, root+`<e`, func(i int) string { return fmt.Sprintf(` a%d=""`, i) }, `/>`+end)},
		{"many-elements-200-attrs-4MB", fillTo(max, root, func(int) string { return `<e` + attrList(200, ` p:a%d=""`) + `/>` }, end)},
		{"deep-ns-leaves-4MB", deepNSDoc(max - 4096)},
	}
	v := &Verifier{Trust: trustFor(b, p), At: testNow}
	for _, d := range docs {
		doc := d.doc
		if _, err := ParseStrict(doc, Limits{}); err == nil {
			doc = mustSign(b, p.SignerECDSA, p, doc)
		}
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := v.Verify(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
