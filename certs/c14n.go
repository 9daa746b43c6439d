package certs

import (
	"hash"
	"slices"
	"strings"
	"sync"

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
	c.run(e)
	return c.buf
}

// c14nChunk is the size of the pieces in which hashExcC14N feeds the hash:
// large enough that SHA-256 runs its block function over long runs (small
// writes are much slower), small enough to stay in the CPU caches.
const c14nChunk = 64 << 10

var c14nBufs = sync.Pool{New: func() any { b := make([]byte, 0, c14nChunk+4096); return &b }}

// hashExcC14N writes the exclusive canonical form of appendExcC14N into h
// without building it whole: it goes through one pooled buffer of about
// c14nChunk bytes, flushed into h whenever it fills.
func hashExcC14N(h hash.Hash, e, exclude *etree.Element, prefixList []string) {
	bp := c14nBufs.Get().(*[]byte)
	c := newC14N((*bp)[:0], exclude, prefixList)
	c.w = h
	c.run(e)
	c.flush()
	// A long text node can grow the buffer past the chunk size; such a
	// buffer is left to the GC rather than kept in the pool.
	if cap(c.buf) <= 4*c14nChunk {
		*bp = c.buf[:0]
		c14nBufs.Put(bp)
	}
}

func newC14N(dst []byte, exclude *etree.Element, prefixList []string) *c14n {
	return &c14n{buf: dst, exclude: exclude, inclusive: prefixList, scope: xmlguard.NewScope(), rendered: xmlguard.NewScope()}
}

// run canonicalises the subtree rooted at e.
func (c *c14n) run(e *etree.Element) {
	// Namespace declarations in scope from the ancestors, outermost first.
	var anc []*etree.Element
	for p := e.Parent(); p != nil; p = p.Parent() {
		anc = append(anc, p)
	}
	for i := len(anc) - 1; i >= 0; i-- {
		pushDecls(c.scope, anc[i])
	}
	c.element(e, nil)
}

// flush hands the buffered output to the hash, if there is one.
func (c *c14n) flush() {
	if c.w != nil && len(c.buf) > 0 {
		c.w.Write(c.buf)
		c.buf = c.buf[:0]
	}
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
	buf []byte
	// w, when set, receives the output in chunks of about c14nChunk
	// bytes (see hashExcC14N); buf then holds only the unflushed rest.
	w         hash.Hash
	exclude   *etree.Element
	inclusive []string
	scope     *xmlguard.Scope
	rendered  *xmlguard.Scope
	nsTmp     []nsDecl
	attrTmp   []attrOut
}

type nsDecl struct{ prefix, uri string }

type attrOut struct {
	uri, prefix, local, value string
}

// element canonicalises e; parent is e's parent when it was output just
// before (nil for the apex of the walk).
func (c *c14n) element(e, parent *etree.Element) {
	smark, rmark := c.scope.Mark(), c.rendered.Mark()

	// Fast path for the common element: no namespace declarations, no
	// prefixed attributes, the same prefix as its parent and no
	// InclusiveNamespaces list. Its namespace axis is then empty (the
	// parent rendered or already had its prefix's binding, and nothing is
	// rebound), so the scopes need neither lookups nor changes.
	plain := parent != nil && e.Space == parent.Space && len(c.inclusive) == 0
	if plain {
		for i := range e.Attr {
			if a := &e.Attr[i]; a.Space != "" || a.Key == "xmlns" {
				plain = false
				break
			}
		}
	}

	var ns []nsDecl
	if !plain {
		pushDecls(c.scope, e)
		ns = c.namespaces(e)
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
	c.nsTmp = ns[:0]
	switch {
	case len(e.Attr) == 0:
	case plain && len(e.Attr) == 1:
		a := &e.Attr[0]
		c.buf = append(c.buf, ' ')
		c.buf = append(c.buf, a.Key...)
		c.buf = append(c.buf, `="`...)
		c.buf = appendEscAttr(c.buf, a.Value)
		c.buf = append(c.buf, '"')
	default:
		c.attributes(e)
	}
	c.buf = append(c.buf, '>')

	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			if t == c.exclude {
				continue
			}
			c.element(t, e)
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
		if c.w != nil && len(c.buf) >= c14nChunk {
			c.flush()
		}
	}
	c.buf = append(c.buf, "</"...)
	c.buf = appendQName(c.buf, e.Space, e.Tag)
	c.buf = append(c.buf, '>')
	if !plain {
		c.scope.PopTo(smark)
		c.rendered.PopTo(rmark)
	}
}

// namespaces returns e's namespace axis: visibly utilised prefixes plus
// the inclusive list, whose binding differs from the one the output has
// in scope, sorted by prefix and then made unique (a sort, not a search
// per prefix, so that many attributes cost n log n, not n squared).
func (c *c14n) namespaces(e *etree.Element) []nsDecl {
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
	if len(ns) > 1 {
		slices.SortFunc(ns, func(a, b nsDecl) int { return strings.Compare(a.prefix, b.prefix) })
		ns = slices.CompactFunc(ns, func(a, b nsDecl) bool { return a.prefix == b.prefix })
	}
	return ns
}

// attributes writes e's attribute axis (namespace declarations left
// out), sorted by namespace URI and then local name.
func (c *c14n) attributes(e *etree.Element) {
	at := c.attrTmp[:0]
	for _, a := range e.Attr {
		if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
			continue
		}
		o := attrOut{prefix: a.Space, local: a.Key, value: a.Value}
		if a.Space != "" {
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
	for _, a := range at {
		c.buf = append(c.buf, ' ')
		c.buf = appendQName(c.buf, a.prefix, a.local)
		c.buf = append(c.buf, `="`...)
		c.buf = appendEscAttr(c.buf, a.value)
		c.buf = append(c.buf, '"')
	}
	// Give the scratch slice back for reuse by descendants.
	c.attrTmp = at[:0]
}

func appendQName(b []byte, space, local string) []byte {
	if space != "" {
		b = append(b, space...)
		b = append(b, ':')
	}
	return append(b, local...)
}

// escText and escAttr give, for each byte, its replacement in canonical
// text and attribute values (empty: the byte stands for itself).
var escText, escAttr [256]string

func init() {
	escText['&'], escText['<'], escText['>'], escText['\r'] = "&amp;", "&lt;", "&gt;", "&#xD;"
	escAttr['&'], escAttr['<'], escAttr['"'] = "&amp;", "&lt;", "&quot;"
	escAttr['\t'], escAttr['\n'], escAttr['\r'] = "&#x9;", "&#xA;", "&#xD;"
}

func appendEscText(b []byte, s string) []byte { return appendEsc(b, s, &escText) }

func appendEscAttr(b []byte, s string) []byte { return appendEsc(b, s, &escAttr) }

// appendEsc appends s with the bytes that tab names replaced, copying the
// runs between them whole.
func appendEsc(b []byte, s string, tab *[256]string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		r := tab[s[i]]
		if r == "" {
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, r...)
		last = i + 1
	}
	return append(b, s[last:]...)
}
