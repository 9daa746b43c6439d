package certs

import (
	"bytes"
	"crypto/sha256"
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

// TestHashExcC14NStreams: the canonical form streamed into the hash in
// chunks gives the digest of the canonical form built whole, for inputs
// below, at and far above the chunk size, with and without an excluded
// (enveloped) signature.
func TestHashExcC14NStreams(t *testing.T) {
	p := testPKI(t)
	for _, n := range []int{1, 100, 120, 600} {
		for _, signed := range []bool{false, true} {
			doc := ecoDoc(n)
			if signed {
				doc = mustSign(t, p.SignerRSA, p, doc)
			}
			d, err := ParseStrict(doc, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			var exclude *etree.Element
			if sigs := findSignatures(d.Root()); len(sigs) > 0 {
				exclude = sigs[0]
			}
			whole := appendExcC14N(nil, d.Root(), exclude, nil)
			want := sha256.Sum256(whole)
			h := sha256.New()
			hashExcC14N(h, d.Root(), exclude, nil)
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Errorf("%d lines, signed %v (%d canonical bytes): streamed digest differs", n, signed, len(whole))
			}
			if signed && bytes.Contains(whole, []byte("SignatureValue")) {
				t.Errorf("%d lines: the excluded signature is in the canonical form", n)
			}
		}
	}
}

// TestExcC14NNamespaceChanges exercises the fast path for elements that
// change nothing in namespaces against the general one: every document
// mixes such elements with ones that rebind, unbind or newly use a
// prefix, and each subtree must equal goxmldsig's canonical form.
func TestExcC14NNamespaceChanges(t *testing.T) {
	canon := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	for _, doc := range []string{
		`<a xmlns="urn:x"><b><c xmlns="urn:y"><d/><e xmlns="urn:x"><f/></e></c><g/></b></a>`,
		`<a xmlns="urn:x"><b xmlns=""><c/><d xmlns="urn:x"/></b></a>`,
		`<p:a xmlns:p="urn:p"><p:b><q:c xmlns:q="urn:q"><q:d/><p:e/></q:c></p:b><f xmlns="urn:d"><g/></f></p:a>`,
		`<p:a xmlns:p="urn:p"><p:b xmlns:p="urn:p2"><p:c/></p:b><p:d x="1" y="2"/></p:a>`,
		`<a><b z="1" a="2" m="&#x9;&lt;&quot;"/><c xmlns:u="urn:u" u:k="v"><d u:j="w"/></c></a>`,
		`<p:a xmlns:p="urn:p" xmlns:q="urn:q"><q:b><q:c/><p:d/></q:b></p:a>`,
		`<a xmlns="urn:x"><p:b xmlns:p="urn:p"><c/><p:d/></p:b></a>`,
		`<a xmlns="urn:x" xmlns:unused="urn:u"><b xml:lang="en"><c>t &amp; &#xD; &gt;</c></b></a>`,
	} {
		d, err := ParseStrict([]byte(doc), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		// The whole document: every element below the root goes through
		// the fast path or the general one. (Subtrees are not compared:
		// goxmldsig's detached copy adds xmlns="" to an apex in no
		// namespace, which exclusive C14N does not output.)
		want, err := canon.Canonicalize(d.Root().Copy())
		if err != nil {
			t.Fatal(err)
		}
		if got := ExcC14N(d.Root(), nil, nil); !bytes.Equal(got, want) {
			t.Errorf("%s:\n  ours: %s\ntheirs: %s", doc, got, want)
		}
	}
}
