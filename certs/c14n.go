package certs

import (
	"slices"
	"strings"

	"github.com/beevik/etree"
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
	c := c14n{buf: dst, exclude: exclude, inclusive: prefixList}
	// Namespace declarations in scope from the ancestors, outermost first.
	var anc []*etree.Element
	for p := e.Parent(); p != nil; p = p.Parent() {
		anc = append(anc, p)
	}
	var scope *nsScope
	for i := len(anc) - 1; i >= 0; i-- {
		scope = pushDecls(scope, anc[i])
	}
	c.element(e, scope, nil)
	return c.buf
}

func pushDecls(scope *nsScope, e *etree.Element) *nsScope {
	for _, a := range e.Attr {
		if a.Space == "xmlns" {
			scope = &nsScope{a.Key, a.Value, scope}
		} else if a.Space == "" && a.Key == "xmlns" {
			scope = &nsScope{"", a.Value, scope}
		}
	}
	return scope
}

type c14n struct {
	buf       []byte
	exclude   *etree.Element
	inclusive []string
	nsTmp     []nsDecl
	attrTmp   []attrOut
}

type nsDecl struct{ prefix, uri string }

type attrOut struct {
	uri, local, qname, value string
}

func (c *c14n) element(e *etree.Element, scope, rendered *nsScope) {
	scope = pushDecls(scope, e)

	// Namespace axis: visibly utilised prefixes plus the inclusive list.
	ns := c.nsTmp[:0]
	need := func(prefix string) {
		if prefix == "xml" || prefix == "xmlns" {
			return
		}
		for _, d := range ns {
			if d.prefix == prefix {
				return
			}
		}
		uri, ok := scope.lookup(prefix)
		if !ok && prefix != "" {
			return
		}
		r, _ := rendered.lookup(prefix)
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
		if _, ok := scope.lookup(p); ok {
			need(p)
		}
	}
	slices.SortFunc(ns, func(a, b nsDecl) int { return strings.Compare(a.prefix, b.prefix) })

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
				o.uri, _ = scope.lookup(a.Space)
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
		rendered = &nsScope{d.prefix, d.uri, rendered}
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
			c.element(t, scope, rendered)
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
