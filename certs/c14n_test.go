package certs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/ecogate/ecogate/internal/testenv"
)

func findByLocal(e *etree.Element, space, local string) *etree.Element {
	if e.Tag == local && e.NamespaceURI() == space {
		return e
	}
	for _, c := range e.ChildElements() {
		if f := findByLocal(c, space, local); f != nil {
			return f
		}
	}
	return nil
}

// TestExcC14NSantuario checks ExcC14N byte for byte against the exclusive
// C14N examples of the W3C recommendation (Santuario's copies).
func TestExcC14NSantuario(t *testing.T) {
	dir := testenv.Shared(t, "vectors", "santuario", "c14n", "inExcl")
	for _, tc := range []struct {
		in, out, ns, local string
	}{
		{"example2_2_1.xml", "example2_2_c14nized_exclusive.xml", "http://example.net", "elem2"},
		{"example2_2_2.xml", "example2_2_c14nized_exclusive.xml", "http://example.net", "elem2"},
		{"example2_4.xml", "example2_4_c14nized.xml", "http://example.net", "elem2"},
		{"plain-soap-1.1.xml", "plain-soap-c14nized.xml", "http://schemas.xmlsoap.org/soap/envelope/", "Body"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, tc.in))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, tc.out))
			if err != nil {
				t.Fatal(err)
			}
			d := etree.NewDocument()
			if err := d.ReadFromBytes(in); err != nil {
				t.Fatal(err)
			}
			el := findByLocal(d.Root(), tc.ns, tc.local)
			if el == nil {
				t.Fatalf("no {%s}%s", tc.ns, tc.local)
			}
			got := ExcC14N(el, nil, nil)
			want = bytes.TrimRight(want, "\n")
			if !bytes.Equal(got, want) {
				t.Errorf("mismatch\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

// TestExcC14NMatchesGoxmldsig compares ExcC14N with goxmldsig's exclusive
// canonicaliser on the e-CO sample and on every outside vector file that
// parses without a DTD (whole document and every element subtree).
func TestExcC14NMatchesGoxmldsig(t *testing.T) {
	files := []string{filepath.Join("testdata", "eco-20-lines.xml")}
	for _, g := range [][]string{
		{"*.xml", "xml-crypto", "static"}, {"*.xml", "signxml", "interop", "aleksey-xmldsig-01-enveloped"},
		{"*.xml", "santuario", "c14n", "inExcl"}, {"*.xml", "xmlsec", "tests", "xmldsig11-interop-2012"},
		{"*.xml", "goxmldsig"},
	} {
		files = append(files, vectorFiles(t, g[0], g[1:]...)...)
	}
	canon := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	compared := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("<!DOCTYPE")) || bytes.Contains(b, []byte("<?xml-stylesheet")) {
			continue
		}
		d := etree.NewDocument()
		if err := d.ReadFromBytes(b); err != nil {
			continue
		}
		n := 0
		err = etreeutils.NSTraverse(etreeutils.NewDefaultNSContext(), d.Root(), func(ctx etreeutils.NSContext, el *etree.Element) error {
			if n++; n > 40 {
				return etreeutils.ErrTraversalHalted
			}
			got := ExcC14N(el, nil, nil)
			// goxmldsig canonicalises a detached copy carrying the
			// namespaces in scope; ours walks the tree in place.
			det, err := etreeutils.NSDetatch(ctx, el)
			if err != nil {
				return err
			}
			want, err := canon.Canonicalize(det)
			if err != nil {
				return err
			}
			compared++
			if !bytes.Equal(got, want) {
				t.Errorf("%s <%s>: differs from goxmldsig\n  ours: %.300q\ntheirs: %.300q", strings.TrimPrefix(f, "/work/shared/"), el.FullTag(), got, want)
			}
			return nil
		})
		if err != nil && err != etreeutils.ErrTraversalHalted {
			t.Logf("%s: goxmldsig: %v", f, err)
		}
	}
	t.Logf("compared %d subtrees", compared)
}

// FuzzExcC14N: for any document ParseStrict accepts, the canonical form
// parses again and is a fixed point of canonicalisation.
func FuzzExcC14N(f *testing.F) {
	f.Add(ecoDoc(1))
	f.Add([]byte(`<a xmlns="x" xmlns:p="y"><p:b p:c="1" d="&#xA;"><c xmlns="">t&amp;&#xD;</c></p:b></a>`))
	f.Add([]byte(`<e:r xmlns:e="urn:e" xml:lang="en"><![CDATA[<x>]]><!-- c --></e:r>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := ParseStrict(doc, Limits{})
		if err != nil {
			return
		}
		c1 := ExcC14N(d.Root(), nil, nil)
		d2, err := ParseStrict(c1, Limits{MaxDepth: DefaultMaxDepth + 1})
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%q", err, c1)
		}
		if c2 := ExcC14N(d2.Root(), nil, nil); !bytes.Equal(c1, c2) {
			t.Fatalf("not a fixed point:\n%q\n%q", c1, c2)
		}
	})
}
