package certs

import (
	"slices"
	"strings"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/internal/xmlguard"
)

// ExcC14N returns the exclusive XML canonicalization (without comments,
// http://www.w3.org/2001/10/xml-exc-c14n#) of the subtree rooted at e,
// leaving out the subtree exclude (nil for none) as the enveloped-signature
// transform does. Namespaces in scope from e's ancestors are honoured.
// prefixList is the InclusiveNamespaces PrefixList ("#default" names the
// default namespace). The tree is walked in place; nothing is copied.
func ExcC14N(e, exclude *etree.Element, prefixList []string) []byte {
	return appendExcC14N(nil, e, exclude, prefixList)
}

func appendExcC14N(dst []byte, e, exclude *etree.Element, prefixList []string) []byte {
	c := newC14N(dst, exclude, prefixList)
	// Namespace declarations in scope from the ancestors, outermost first.
	var anc []*etree.Element
	for p := e.Parent(); p != nil; p = p.Parent() {
		anc = append(anc, p)
	}
	for i := len(anc) - 1; i >= 0; i-- {
		pushDecls(c.scope, anc[i])
	}
	c.element(e)
	return c.buf
}

func newC14N(dst []byte, exclude *etree.Element, prefixList []string) *c14n {
	return &c14n{buf: dst, exclude: exclude, inclusive: prefixList, scope: xmlguard.NewScope(), rendered: xmlguard.NewScope()}
}

// pushDecls binds e's namespace declarations in scope.
func pushDecls(scope *xmlguard.Scope, e *etree.Element) {
	for _, a := range e.Attr {
		if a.Space == "xmlns" {
			scope.Push(a.Key, a.Value)
		} else if a.Space == "" && a.Key == "xmlns" {
			scope.Push("", a.Value)
		}
	}
}

// c14n holds one canonicalization. scope holds the declarations in scope
// at the current element, rendered those the output has in scope; both
// answer in O(1), so the cost is linear in the size of the subtree.
type c14n struct {
	buf       []byte
	exclude   *etree.Element
	inclusive []string
	scope     *xmlguard.Scope
	rendered  *xmlguard.Scope
	nsTmp     []nsDecl
	attrTmp   []attrOut
}

type nsDecl struct{ prefix, uri string }

type attrOut struct {
	uri, local, qname, value string
}

func (c *c14n) element(e *etree.Element) {
	smark, rmark := c.scope.Mark(), c.rendered.Mark()
	pushDecls(c.scope, e)

	// Namespace axis: visibly utilised prefixes plus the inclusive list,
	// sorted by prefix and then made unique (a sort, not a search per
	// prefix, so that many attributes cost n log n, not n squared).
	ns := c.nsTmp[:0]
	need := func(prefix string) {
		if prefix == "xml" || prefix == "xmlns" {
			return
		}
		uri, ok := c.scope.Lookup(prefix)
		if !ok && prefix != "" {
			return
		}
		r, _ := c.rendered.Lookup(prefix)
		if r == uri {
			return
		}
		ns = append(ns, nsDecl{prefix, uri})
	}
	need(e.Space)
	for _, a := range e.Attr {
		if a.Space != "" && a.Space != "xmlns" {
			need(a.Space)
		}
	}
	for _, p := range c.inclusive {
		if p == "#default" {
			p = ""
		}
		if _, ok := c.scope.Lookup(p); ok {
			need(p)
		}
	}
	slices.SortFunc(ns, func(a, b nsDecl) int { return strings.Compare(a.prefix, b.prefix) })
	ns = slices.CompactFunc(ns, func(a, b nsDecl) bool { return a.prefix == b.prefix })

	// Attribute axis.
	at := c.attrTmp[:0]
	for _, a := range e.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		o := attrOut{local: a.Key, value: a.Value}
		if a.Space != "" {
			o.qname = a.Space + ":" + a.Key
			if a.Space == "xml" {
				o.uri = nsXML
			} else {
				o.uri, _ = c.scope.Lookup(a.Space)
			}
		}
		at = append(at, o)
	}
	if len(at) > 1 {
		slices.SortFunc(at, func(a, b attrOut) int {
			if a.uri != b.uri {
				return strings.Compare(a.uri, b.uri)
			}
			return strings.Compare(a.local, b.local)
		})
	}

	c.buf = append(c.buf, '<')
	c.buf = appendQName(c.buf, e.Space, e.Tag)
	for _, d := range ns {
		if d.prefix == "" {
			c.buf = append(c.buf, ` xmlns="`...)
		} else {
			c.buf = append(c.buf, ` xmlns:`...)
			c.buf = append(c.buf, d.prefix...)
			c.buf = append(c.buf, `="`...)
		}
		c.buf = appendEscAttr(c.buf, d.uri)
		c.buf = append(c.buf, '"')
		c.rendered.Push(d.prefix, d.uri)
	}
	for _, a := range at {
		c.buf = append(c.buf, ' ')
		if a.qname != "" {
			c.buf = append(c.buf, a.qname...)
		} else {
			c.buf = append(c.buf, a.local...)
		}
		c.buf = append(c.buf, `="`...)
		c.buf = appendEscAttr(c.buf, a.value)
		c.buf = append(c.buf, '"')
	}
	c.buf = append(c.buf, '>')
	// Give the scratch slices back for reuse by descendants.
	c.nsTmp, c.attrTmp = ns[:0], at[:0]

	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			if t == c.exclude {
				continue
			}
			c.element(t)
		case *etree.CharData:
			c.buf = appendEscText(c.buf, t.Data)
		case *etree.ProcInst:
			c.buf = append(c.buf, "<?"...)
			c.buf = append(c.buf, t.Target...)
			if t.Inst != "" {
				c.buf = append(c.buf, ' ')
				c.buf = append(c.buf, t.Inst...)
			}
			c.buf = append(c.buf, "?>"...)
		}
	}
	c.buf = append(c.buf, "</"...)
	c.buf = appendQName(c.buf, e.Space, e.Tag)
	c.buf = append(c.buf, '>')
	c.scope.PopTo(smark)
	c.rendered.PopTo(rmark)
}

func appendQName(b []byte, space, local string) []byte {
	if space != "" {
		b = append(b, space...)
		b = append(b, ':')
	}
	return append(b, local...)
}

func appendEscText(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case '&':
			r = "&amp;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		case '\r':
			r = "&#xD;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, r...)
		last = i + 1
	}
	return append(b, s[last:]...)
}

func appendEscAttr(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case '&':
			r = "&amp;"
		case '<':
			r = "&lt;"
		case '"':
			r = "&quot;"
		case '\t':
			r = "&#x9;"
		case '\n':
			r = "&#xA;"
		case '\r':
			r = "&#xD;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, r...)
		last = i + 1
	}
	return append(b, s[last:]...)
}
