package certs

import (
	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/internal/xmlguard"
)

// nsIndex maps every element inside a ds:Signature (the Signature
// included) to its namespace URI, computed in one walk of the tree. The
// profile checks look namespaces up here: etree's NamespaceURI walks up the
// tree and scans every ancestor's attributes per call, which a hostile
// document turns into quadratic work.
type nsIndex map[*etree.Element]string

// isDS reports whether e is the XML-DSig element named local.
func (ix nsIndex) isDS(e *etree.Element, local string) bool {
	return e.Tag == local && ix.uri(e) == NSDSig
}

// uri returns e's namespace URI; an element outside every signature (not
// expected here) falls back to etree.
func (ix nsIndex) uri(e *etree.Element) string {
	if u, ok := ix[e]; ok {
		return u
	}
	return e.NamespaceURI()
}

// scanSignatures returns every element named Signature in the XML-DSig
// namespace under root (inclusive), in document order, and the namespace
// URIs of the elements inside them. Its cost is linear in the tree.
func scanSignatures(root *etree.Element) ([]*etree.Element, nsIndex) {
	s := &sigScanner{scope: xmlguard.NewScope(), ix: nsIndex{}}
	var anc []*etree.Element
	for p := root.Parent(); p != nil; p = p.Parent() {
		anc = append(anc, p)
	}
	for i := len(anc) - 1; i >= 0; i-- {
		pushDecls(s.scope, anc[i])
	}
	s.walk(root, false)
	return s.sigs, s.ix
}

// findSignatures returns the signatures of scanSignatures.
func findSignatures(root *etree.Element) []*etree.Element {
	sigs, _ := scanSignatures(root)
	return sigs
}

type sigScanner struct {
	scope *xmlguard.Scope
	sigs  []*etree.Element
	ix    nsIndex
}

func (s *sigScanner) walk(e *etree.Element, inSig bool) {
	mark := s.scope.Mark()
	pushDecls(s.scope, e)
	// The namespace is looked up only where it matters: for elements named
	// Signature and inside a signature.
	if inSig || e.Tag == "Signature" {
		uri, _ := s.scope.Lookup(e.Space)
		if e.Space == "xml" {
			uri = nsXML
		}
		if e.Tag == "Signature" && uri == NSDSig {
			s.sigs = append(s.sigs, e)
			inSig = true
		}
		if inSig {
			s.ix[e] = uri
		}
	}
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			s.walk(c, inSig)
		}
	}
	s.scope.PopTo(mark)
}
