package xmlguard

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/beevik/etree"
)

// ParseTree is the strict profile's one pass (Limits.Strict is implied):
// it checks b exactly as Check does and, in the same pass, builds the etree
// tree, refusing at the first fault with an *Error. b must not start with a
// byte-order mark (see TrimBOM).
//
// The tokenizer is this package's own, written to the XML 1.0 (fifth
// edition) and Namespaces in XML 1.0 well-formedness rules without a DTD:
// every character is checked to be a valid UTF-8 XML Char, names are
// QNames, only the five predefined entities and character references are
// expanded, line ends are normalised to LF and literal tabs and line ends
// in attribute values to spaces (as every conforming parser, libxml2
// included, does before canonicalisation), "]]>" in text, "--" in comments
// and a missing space between attributes are refused, and two attributes
// may not share an expanded name. Its cost is linear in len(b): the input
// is copied once into a string, names and text without references are
// substrings of it, and each element costs a bounded number of
// allocations (the element, its attribute array, its text and its share of
// its parent's child list).
//
// Attributes are created through etree's own API, so that each one knows
// its element (Attr.Element and Attr.NamespaceURI work as after
// etree's parse), at O(1) each: no attribute is ever compared with the
// others by etree (duplicates are refused here, in linear time).
func ParseTree(b []byte, lim Limits) (*etree.Document, error) {
	doc, _, err := parseTree(b, lim, true, false)
	return doc, err
}

// ParseTreeShared is ParseTree without the copy of the input: the tree's
// names and texts are substrings of b itself, so b must not change while
// the tree or any string taken from it is in use. It is meant for a tree
// that does not outlive its caller's use of b (such as signing, which
// drops the tree before returning); the cost saved is one copy and one
// allocation of the input's size.
//
// The tree is also built from memory reused across calls: release (never
// nil, also after an error) hands that memory back, and must be called
// only once neither the tree nor anything taken from it (elements, child
// lists, attributes) is in use any more; not calling it only costs the
// reuse.
func ParseTreeShared(b []byte, lim Limits) (doc *etree.Document, release func(), err error) {
	return parseTree(b, lim, false, true)
}

// ParseTreeReused is ParseTree (the tree's strings are substrings of one
// copy of b, so they stay valid whatever becomes of b or of the tree)
// whose elements, texts, child lists and attribute arrays are built from
// memory reused across calls, as ParseTreeShared's: release (never nil)
// hands that memory back once nothing holds the tree's nodes any more.
func ParseTreeReused(b []byte, lim Limits) (doc *etree.Document, release func(), err error) {
	return parseTree(b, lim, true, true)
}

// parseTree is the one strict pass that builds a tree: with copyInput the
// tree's names and texts are substrings of one copy of b, else of b
// itself; with reuse its memory comes from the pools and release hands it
// back (else release does nothing).
func parseTree(b []byte, lim Limits, copyInput, reuse bool) (*etree.Document, func(), error) {
	lim.Strict = true
	lim = lim.Resolved()
	if len(b) > lim.MaxBytes {
		return nil, func() {}, tooLarge(len(b), lim)
	}
	p := newStrict(b, lim, true)
	if copyInput {
		p.s = string(b)
	}
	p.reuse = reuse
	p.doc = etree.NewDocument()
	release := func() {}
	if reuse {
		release = p.release
	}
	if err := p.run(); err != nil {
		return nil, release, err
	}
	return p.doc, release, nil
}

func tooLarge(n int, lim Limits) *Error {
	return &Error{Reason: "xml.too-large", Detail: fmt.Sprintf("the document is %d bytes, more than the limit of %d bytes", n, lim.MaxBytes)}
}

type frame struct {
	name string // the qualified name as written
	mark int    // scope mark before the element's declarations
	el   *etree.Element
	kids int // where the element's children start in strictParser.kids
}

type rawAttr struct {
	name, prefix, local, value string
}

// strictParser is the state of one strict pass over s.
type strictParser struct {
	s     string
	pos   int
	lim   Limits
	build bool
	doc   *etree.Document

	stack []frame
	scope *Scope
	attrs []rawAttr
	seen  map[string]struct{}
	seenX map[[2]string]struct{}
	buf   []byte

	totalAttrs, totalNS, roots int
	ops                        int

	// The tree is built from slabs: elements, texts, child lists and
	// attribute arrays are carved out of arrays allocated a few hundred at
	// a time, so that the allocations per element stay far below one. The
	// children of an open element wait in kids and get a child list of
	// exactly their number when it closes (capacity = length, so that a
	// later append by a caller reallocates instead of writing into a
	// neighbour's list).
	kids    []etree.Token
	elSlab  []etree.Element
	cdSlab  []etree.CharData
	tokSlab []etree.Token
	atSlab  []etree.Attr
	// reuse takes the slabs from pools (ParseTreeShared) and keeps them in
	// held for release.
	reuse bool
	held  heldSlabs
}

const slab = 128

// Slabs of the standard sizes are reused by ParseTreeShared's trees (see
// release); larger ones, for elements with more children or attributes
// than a slab holds, are not.
var (
	elPool  = sync.Pool{New: func() any { return new([slab]etree.Element) }}
	cdPool  = sync.Pool{New: func() any { return new([slab]etree.CharData) }}
	tokPool = sync.Pool{New: func() any { return new([4 * slab]etree.Token) }}
	atPool  = sync.Pool{New: func() any { return new([slab]etree.Attr) }}
)

func (p *strictParser) newElement(space, tag string) *etree.Element {
	if len(p.elSlab) == 0 {
		if p.reuse {
			a := elPool.Get().(*[slab]etree.Element)
			p.held.el = append(p.held.el, a)
			p.elSlab = a[:]
		} else {
			p.elSlab = make([]etree.Element, slab)
		}
	}
	e := &p.elSlab[0]
	p.elSlab = p.elSlab[1:]
	e.Space, e.Tag = space, tag
	e.Attr, e.Child = []etree.Attr{}, []etree.Token{}
	return e
}

func (p *strictParser) newCharData(t string) *etree.CharData {
	if len(p.cdSlab) == 0 {
		if p.reuse {
			a := cdPool.Get().(*[slab]etree.CharData)
			p.held.cd = append(p.held.cd, a)
			p.cdSlab = a[:]
		} else {
			p.cdSlab = make([]etree.CharData, slab)
		}
	}
	c := &p.cdSlab[0]
	p.cdSlab = p.cdSlab[1:]
	c.SetData(t) // sets etree's whitespace flag as its parser does
	return c
}

// tokens returns an empty slice with room for exactly n tokens.
func (p *strictParser) tokens(n int) []etree.Token {
	if n > len(p.tokSlab) {
		if p.reuse && n <= 4*slab {
			a := tokPool.Get().(*[4 * slab]etree.Token)
			p.held.tok = append(p.held.tok, a)
			p.tokSlab = a[:]
		} else {
			p.tokSlab = make([]etree.Token, max(4*slab, n))
		}
	}
	t := p.tokSlab[0:0:n]
	p.tokSlab = p.tokSlab[n:]
	return t
}

// attrs returns an empty slice with room for exactly n attributes.
func (p *strictParser) attrSlice(n int) []etree.Attr {
	if n > len(p.atSlab) {
		if p.reuse && n <= slab {
			a := atPool.Get().(*[slab]etree.Attr)
			p.held.at = append(p.held.at, a)
			p.atSlab = a[:]
		} else {
			p.atSlab = make([]etree.Attr, max(slab, n))
		}
	}
	a := p.atSlab[0:0:n]
	p.atSlab = p.atSlab[n:]
	return a
}

// heldSlabs are the pooled slabs a reusing parse took.
type heldSlabs struct {
	el  []*[slab]etree.Element
	cd  []*[slab]etree.CharData
	tok []*[4 * slab]etree.Token
	at  []*[slab]etree.Attr
}

// release clears the pooled slabs (so that they keep nothing of the
// document alive) and puts them back; a second call does nothing.
func (p *strictParser) release() {
	h := p.held
	p.held = heldSlabs{}
	p.elSlab, p.cdSlab, p.tokSlab, p.atSlab = nil, nil, nil, nil
	putBack(&elPool, h.el)
	putBack(&cdPool, h.cd)
	putBack(&tokPool, h.tok)
	putBack(&atPool, h.at)
}

// putBack zeroes each slab and puts it back in pool.
func putBack[A any](pool *sync.Pool, slabs []*A) {
	for _, a := range slabs {
		var zero A
		*a = zero
		pool.Put(a)
	}
}

// add appends t to the open element's pending children, or to the
// document outside the root.
func (p *strictParser) add(t etree.Token) {
	if len(p.stack) == 0 {
		p.doc.AddChild(t)
		return
	}
	p.kids = append(p.kids, t)
}

// newStrict prepares a pass over b that reads b in place; a pass that
// builds a tree outliving b's use (ParseTree) replaces p.s with a copy.
func newStrict(b []byte, lim Limits, build bool) *strictParser {
	p := &strictParser{lim: lim, build: build, scope: NewScope()}
	if len(b) > 0 {
		p.s = unsafe.String(&b[0], len(b))
	}
	return p
}

func (p *strictParser) fail(reason, format string, a ...any) error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, a...), Offset: int64(p.pos)}
}

func (p *strictParser) syntax(format string, a ...any) error {
	return p.fail("xml.syntax", format, a...)
}

func (p *strictParser) eof() error {
	return p.syntax("unexpected end of input")
}

func (p *strictParser) run() error {
	s := p.s
	if strings.HasPrefix(s, "<?xml") && len(s) > 5 && isSpace(s[5]) {
		if err := p.xmlDecl(); err != nil {
			return err
		}
	}
	for p.pos < len(s) {
		p.ops++
		var err error
		switch {
		case s[p.pos] != '<':
			err = p.text()
		case p.pos+1 >= len(s):
			p.pos++
			err = p.eof()
		case s[p.pos+1] == '/':
			err = p.endTag()
		case s[p.pos+1] == '?':
			err = p.procInst()
		case s[p.pos+1] == '!':
			switch {
			case strings.HasPrefix(s[p.pos:], "<!--"):
				err = p.comment()
			case strings.HasPrefix(s[p.pos:], "<![CDATA["):
				err = p.cdata()
			case len(p.stack) > 0:
				err = p.fail("xml.doctype", "directive <!%.20s...> inside an element is not accepted", s[p.pos+2:])
			default:
				err = p.fail("xml.doctype", "directive <!%.20s...> is not accepted; remove the DTD", s[p.pos+2:])
			}
		default:
			err = p.startTag()
		}
		if err != nil {
			return err
		}
		p.ops += p.scope.Ops
		p.scope.Ops = 0
	}
	if len(p.stack) > 0 {
		return p.syntax("unexpected end of input: <%s> is not closed", p.stack[len(p.stack)-1].name)
	}
	if p.roots == 0 {
		return p.syntax("no root element")
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *strictParser) skipSpace() bool {
	start := p.pos
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
	return p.pos > start
}

// isChar reports whether r is an XML 1.0 Char.
func isChar(r rune) bool {
	switch {
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// checkChars checks that s[i:j] is valid UTF-8 made of XML Chars.
func (p *strictParser) checkChars(i, j int) error {
	s := p.s
	for i < j {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				p.pos = i
				return p.syntax("illegal character code U+%04X", c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:j])
		if r == utf8.RuneError && n <= 1 {
			p.pos = i
			return p.syntax("invalid UTF-8")
		}
		if !isChar(r) {
			p.pos = i
			return p.syntax("illegal character code U+%04X", r)
		}
		i += n
	}
	return nil
}

func isNameStart(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r == ':':
		return true
	case r < 0xC0:
		return false
	case r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	return false
}

func isNameChar(r rune) bool {
	switch {
	case isNameStart(r):
		return true
	case r == '-', r == '.', r >= '0' && r <= '9', r == 0xB7,
		r >= 0x300 && r <= 0x36F, r >= 0x203F && r <= 0x2040:
		return true
	}
	return false
}

// nameASCII classifies ASCII bytes: 1 may start a Name, 2 may be in one.
var nameASCII = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		r := rune(c)
		if isNameStart(r) {
			t[c] |= 1
		}
		if isNameChar(r) {
			t[c] |= 2
		}
	}
	return t
}()

// name reads an XML Name at p.pos; "" when there is none.
func (p *strictParser) name() string {
	s := p.s
	start := p.pos
	i := start
	// ASCII fast path: a name-start byte, then name bytes through the
	// table; the general loop below takes over at the first other byte.
	if i < len(s) && s[i] < utf8.RuneSelf && nameASCII[s[i]]&1 != 0 {
		i++
		for i < len(s) && s[i] < utf8.RuneSelf && nameASCII[s[i]]&2 != 0 {
			i++
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf { // ASCII through the table
			if nameASCII[c]&2 == 0 || i == start && nameASCII[c]&1 == 0 {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			break // invalid UTF-8 (U+FFFD itself is a name character)
		}
		if i == start && !isNameStart(r) || i > start && !isNameChar(r) {
			break
		}
		i += n
	}
	p.pos = i
	return s[start:i]
}

// qname reads a Name and splits it as a QName (NCName or NCName:NCName).
func (p *strictParser) qname(what string) (name, prefix, local string, err error) {
	name = p.name()
	if name == "" {
		if p.pos >= len(p.s) {
			return "", "", "", p.eof()
		}
		return "", "", "", p.syntax("expected %s name, found %q", what, p.s[p.pos:min(p.pos+1, len(p.s))])
	}
	i := strings.IndexByte(name, ':')
	if i < 0 {
		return name, "", name, nil
	}
	prefix, local = name[:i], name[i+1:]
	if prefix == "" || local == "" || strings.IndexByte(local, ':') >= 0 {
		return "", "", "", p.fail("xml.bad-name", "malformed %s name %q", what, name)
	}
	return name, prefix, local, nil
}

// xmlDecl reads the XML declaration at the start of the input.
func (p *strictParser) xmlDecl() error {
	end := strings.Index(p.s, "?>")
	if end < 0 {
		return p.syntax("unterminated XML declaration")
	}
	body := p.s[5:end]
	inst := strings.TrimLeft(body, " \t\r\n")
	bad := func() error { return p.syntax("malformed XML declaration <?xml%s?>", body) }
	rest := body
	field := func(key string, required bool) (string, bool, error) {
		t := strings.TrimLeft(rest, " \t\r\n")
		if len(t) == len(rest) || !strings.HasPrefix(t, key) {
			if required {
				return "", false, bad()
			}
			return "", false, nil
		}
		t = strings.TrimLeft(t[len(key):], " \t\r\n")
		if !strings.HasPrefix(t, "=") {
			return "", false, bad()
		}
		t = strings.TrimLeft(t[1:], " \t\r\n")
		if t == "" || (t[0] != '"' && t[0] != '\'') {
			return "", false, bad()
		}
		j := strings.IndexByte(t[1:], t[0])
		if j < 0 {
			return "", false, bad()
		}
		rest = t[j+2:]
		return t[1 : j+1], true, nil
	}
	ver, _, err := field("version", true)
	if err != nil {
		return err
	}
	if ver != "1.0" {
		return p.syntax("unsupported XML version %q; send XML 1.0", ver)
	}
	enc, ok, err := field("encoding", false)
	if err != nil {
		return err
	}
	if ok && !strings.EqualFold(enc, "UTF-8") {
		return p.fail("xml.encoding", "encoding %q is not accepted; send UTF-8", enc)
	}
	sa, ok, err := field("standalone", false)
	if err != nil {
		return err
	}
	if ok && sa != "yes" && sa != "no" {
		return bad()
	}
	if strings.TrimLeft(rest, " \t\r\n") != "" {
		return bad()
	}
	if err := p.checkChars(5, end); err != nil {
		return err
	}
	if p.build {
		p.doc.CreateProcInst("xml", inst)
	}
	p.pos = end + 2
	return nil
}

func (p *strictParser) procInst() error {
	p.pos += 2
	target := p.name()
	end := strings.Index(p.s[p.pos:], "?>")
	if end < 0 {
		return p.syntax("unterminated processing instruction")
	}
	if target == "" {
		return p.syntax("expected a target name after <?")
	}
	if target == "xml" {
		return p.fail("xml.proc-inst", "processing instruction <?xml?> is only accepted as the declaration at the start of the document")
	}
	return p.fail("xml.proc-inst", "processing instruction <?%s?> is not accepted", target)
}

func (p *strictParser) comment() error {
	start := p.pos + 4
	i := strings.Index(p.s[start:], "--")
	if i < 0 {
		p.pos = len(p.s)
		return p.syntax("unterminated comment")
	}
	end := start + i
	if end+2 >= len(p.s) || p.s[end+2] != '>' {
		p.pos = end
		return p.syntax(`invalid sequence "--" in a comment`)
	}
	if err := p.checkChars(start, end); err != nil {
		return err
	}
	if p.build {
		p.add(etree.NewComment(p.normLines(p.s[start:end])))
	}
	p.pos = end + 3
	return nil
}

func (p *strictParser) cdata() error {
	if len(p.stack) == 0 {
		return p.syntax("CDATA section outside the root element")
	}
	start := p.pos + 9
	i := strings.Index(p.s[start:], "]]>")
	if i < 0 {
		p.pos = len(p.s)
		return p.syntax("unterminated CDATA section")
	}
	end := start + i
	if err := p.checkChars(start, end); err != nil {
		return err
	}
	if p.build {
		p.addText(p.normLines(p.s[start:end]))
	}
	p.pos = end + 3
	return nil
}

// normLines replaces CR LF and lone CR by LF.
func (p *strictParser) normLines(t string) string {
	if strings.IndexByte(t, '\r') < 0 {
		return t
	}
	b := p.buf[:0]
	for i := 0; i < len(t); i++ {
		if t[i] == '\r' {
			b = append(b, '\n')
			if i+1 < len(t) && t[i+1] == '\n' {
				i++
			}
			continue
		}
		b = append(b, t[i])
	}
	p.buf = b
	return string(b)
}

func isWS(t string) bool {
	for i := 0; i < len(t); i++ {
		if !isSpace(t[i]) {
			return false
		}
	}
	return true
}

func (p *strictParser) addText(t string) { p.add(p.newCharData(t)) }

// valueSpecial marks the bytes that scanValue must look at in text or an
// attribute value: markup, references, quotes, white space that an
// attribute value normalises, control characters and non-ASCII bytes.
var valueSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c >= utf8.RuneSelf
	}
	for _, c := range `<&]"'` {
		t[c] = true
	}
	return t
}()

// scanValue scans character data from p.pos to the next '<' (quote == 0)
// or to the closing quote, checking characters, and reports whether it
// needs decoding (references, CRs, and in attribute values literal tabs
// and LFs).
func (p *strictParser) scanValue(quote byte) (end int, decode bool, err error) {
	s := p.s
	i := p.pos
	for i < len(s) {
		// Skip the bytes that need no look (most of them) in a tight loop.
		for i < len(s) && !valueSpecial[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				p.pos = i
				return 0, false, p.syntax("invalid UTF-8")
			}
			if !isChar(r) {
				p.pos = i
				return 0, false, p.syntax("illegal character code U+%04X", r)
			}
			i += n
			continue
		}
		switch {
		case c == quote && quote != 0:
			return i, decode, nil
		case c == '<':
			if quote == 0 {
				return i, decode, nil
			}
			p.pos = i
			return 0, false, p.syntax("unescaped < inside an attribute value")
		case c == '&' || c == '\r':
			decode = true
		case c == '\t' || c == '\n':
			if quote != 0 {
				decode = true
			}
		case c == ']':
			if quote == 0 && strings.HasPrefix(s[i:], "]]>") {
				p.pos = i
				return 0, false, p.syntax(`"]]>" is not allowed in text; write "]]&gt;"`)
			}
		case c < 0x20:
			p.pos = i
			return 0, false, p.syntax("illegal character code U+%04X", c)
		}
		i++
	}
	if quote != 0 {
		p.pos = i
		return 0, false, p.eof()
	}
	return i, decode, nil
}

// decode expands references in s[start:end] and normalises line ends
// (and, in an attribute value, literal whitespace to spaces).
func (p *strictParser) decode(start, end int, attr bool) (string, error) {
	s := p.s
	b := p.buf[:0]
	for i := start; i < end; {
		c := s[i]
		switch {
		case c == '\r':
			if i+1 < end && s[i+1] == '\n' {
				i++
			}
			c = '\n'
			fallthrough
		case attr && (c == '\t' || c == '\n'):
			if attr {
				c = ' '
			}
			b = append(b, c)
			i++
		case c == '&':
			j := strings.IndexByte(s[i:end], ';')
			if j < 0 {
				p.pos = i
				return "", p.syntax("unterminated reference %.20q", s[i:end])
			}
			ref := s[i+1 : i+j]
			switch ref {
			case "lt":
				b = append(b, '<')
			case "gt":
				b = append(b, '>')
			case "amp":
				b = append(b, '&')
			case "apos":
				b = append(b, '\'')
			case "quot":
				b = append(b, '"')
			default:
				r, ok := charRef(ref)
				if !ok {
					p.pos = i
					return "", p.syntax("invalid character entity &%s; (only &lt; &gt; &amp; &apos; &quot; and character references are accepted)", ref)
				}
				b = utf8.AppendRune(b, r)
			}
			i += j + 1
		default:
			b = append(b, c)
			i++
		}
	}
	p.buf = b
	return string(b), nil
}

func charRef(ref string) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	digits, base := ref[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if digits == "" || len(digits) > 8 {
		return 0, false
	}
	var r rune
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		r = r*base + d
	}
	return r, isChar(r)
}

func (p *strictParser) text() error {
	start := p.pos
	end, dec, err := p.scanValue(0)
	if err != nil {
		return err
	}
	t := p.s[start:end]
	if dec {
		if t, err = p.decode(start, end, false); err != nil {
			return err
		}
	}
	if len(p.stack) == 0 && (dec && strings.IndexByte(p.s[start:end], '&') >= 0 || !isWS(t)) {
		return p.syntax("text outside the root element")
	}
	if p.build {
		p.addText(t)
	}
	p.pos = end
	return nil
}

func (p *strictParser) endTag() error {
	p.pos += 2
	// Fast path: the open element's name followed directly by '>' is what
	// the general path below would read and accept.
	if n := len(p.stack); n > 0 {
		open := p.stack[n-1].name
		if end := p.pos + len(open); end < len(p.s) && p.s[end] == '>' && p.s[p.pos:end] == open {
			p.pos = end
		} else if err := p.endName(); err != nil {
			return err
		}
	} else if err := p.endName(); err != nil {
		return err
	}
	p.pos++
	f := p.stack[len(p.stack)-1]
	p.scope.PopTo(f.mark)
	p.stack = p.stack[:len(p.stack)-1]
	if p.build {
		kids := p.kids[f.kids:]
		f.el.Child = p.tokens(len(kids))
		for _, t := range kids {
			f.el.AddChild(t)
		}
		clear(kids)
		p.kids = p.kids[:f.kids]
	}
	return nil
}

// endName reads the name of an end tag up to its '>' (left at p.pos)
// and checks that it closes the open element.
func (p *strictParser) endName() error {
	name := p.name()
	p.skipSpace()
	if p.pos >= len(p.s) {
		return p.eof()
	}
	if p.s[p.pos] != '>' {
		return p.syntax("expected > to end </%s", name)
	}
	if len(p.stack) == 0 || p.stack[len(p.stack)-1].name != name {
		return p.syntax("unexpected end element </%s>", name)
	}
	return nil
}

func (p *strictParser) startTag() error {
	lim := p.lim
	p.pos++
	name, prefix, local, err := p.qname("element")
	if err != nil {
		return err
	}
	if len(p.stack) == 0 {
		p.roots++
		if p.roots > 1 {
			return p.syntax("more than one root element")
		}
	}
	if len(p.stack)+1 > lim.MaxDepth {
		return p.fail("xml.too-deep", "elements nest deeper than %d levels (the MaxDepth limit)", lim.MaxDepth)
	}
	p.attrs = p.attrs[:0]
	empty := false
	for {
		sp := p.skipSpace()
		if p.pos >= len(p.s) {
			return p.eof()
		}
		c := p.s[p.pos]
		if c == '>' {
			p.pos++
			break
		}
		if c == '/' {
			if p.pos+1 >= len(p.s) || p.s[p.pos+1] != '>' {
				return p.syntax("expected /> in <%s", name)
			}
			p.pos += 2
			empty = true
			break
		}
		if !sp {
			return p.syntax("expected a space before the attribute in <%s", name)
		}
		an, ap, al, err := p.qname("attribute")
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != '=' {
			return p.syntax("attribute %q in <%s> has no value", an, name)
		}
		p.pos++
		p.skipSpace()
		if p.pos >= len(p.s) || (p.s[p.pos] != '"' && p.s[p.pos] != '\'') {
			return p.syntax("the value of attribute %q in <%s> is not quoted", an, name)
		}
		q := p.s[p.pos]
		p.pos++
		vstart := p.pos
		vend, dec, err := p.scanValue(q)
		if err != nil {
			return err
		}
		v := p.s[vstart:vend]
		if dec {
			if v, err = p.decode(vstart, vend, true); err != nil {
				return err
			}
		}
		p.pos = vend + 1
		p.ops++
		if n := len(p.attrs) + 1; n > lim.MaxAttrsPerElement {
			return p.fail("xml.too-many-attrs", "element <%s> has more than %d attributes, the limit per element (MaxAttrsPerElement)", name, lim.MaxAttrsPerElement)
		}
		p.totalAttrs++
		if p.totalAttrs > lim.MaxAttrs {
			return p.fail("xml.too-many-attrs", "the document has more than %d attributes in all (the MaxAttrs limit)", lim.MaxAttrs)
		}
		p.attrs = append(p.attrs, rawAttr{name: an, prefix: ap, local: al, value: v})
	}
	mark := p.scope.Mark()
	if err := p.checkAttrs(name, prefix); err != nil {
		return err
	}
	if p.build {
		el := p.newElement(prefix, local)
		p.add(el)
		if n := len(p.attrs); n > 0 {
			// CreateAttr scans the element's attributes for one of the same
			// name; showing it an empty window onto the final array makes
			// that O(1) while still setting each attribute's element.
			full := p.attrSlice(n)
			for i := range p.attrs {
				el.Attr = full[i:i]
				el.CreateAttr(p.attrs[i].name, p.attrs[i].value)
			}
			el.Attr = full[:n]
		}
		if !empty {
			p.stack = append(p.stack, frame{name: name, mark: mark, el: el, kids: len(p.kids)})
		}
	} else if !empty {
		p.stack = append(p.stack, frame{name: name, mark: mark})
	}
	if empty {
		p.scope.PopTo(mark)
	}
	return nil
}

// checkAttrs applies the namespace and duplicate rules to the attributes
// of the element name just read, and pushes its declarations.
func (p *strictParser) checkAttrs(name, prefix string) error {
	lim := p.lim
	attrs := p.attrs
	n := len(attrs)
	if n > 8 {
		if p.seen == nil {
			p.seen = make(map[string]struct{})
		}
		clear(p.seen)
	}
	nsHere := 0
	for i, a := range attrs {
		dup := false
		if n <= 8 { // a few comparisons beat a map
			for _, o := range attrs[:i] {
				p.ops++
				dup = dup || o.name == a.name
			}
		} else {
			p.ops++
			_, dup = p.seen[a.name]
			p.seen[a.name] = struct{}{}
		}
		if dup {
			return p.fail("xml.duplicate-attr", "attribute %q appears twice on <%s>", a.name, name)
		}
		pfx, isDecl := "", false
		switch {
		case a.prefix == "xmlns":
			pfx, isDecl = a.local, true
		case a.prefix == "" && a.name == "xmlns":
			isDecl = true
		}
		if !isDecl {
			continue
		}
		nsHere++
		if nsHere > lim.MaxNSPerElement {
			return p.fail("xml.too-many-ns", "element <%s> declares more than %d namespaces (the MaxNSPerElement limit)", name, lim.MaxNSPerElement)
		}
		p.totalNS++
		if p.totalNS > lim.MaxNSDecls {
			return p.fail("xml.too-many-ns", "the document has more than %d namespace declarations in all (the MaxNSDecls limit)", lim.MaxNSDecls)
		}
		switch {
		case pfx == "xmlns", pfx == "xml" && a.value != nsXML, pfx != "" && a.value == "",
			pfx != "xml" && a.value == nsXML, a.value == nsXMLNS:
			return p.fail("xml.bad-name", "invalid namespace declaration %s=%q", a.name, a.value)
		}
		p.scope.Push(pfx, a.value)
	}
	if prefix != "" && prefix != "xml" {
		if _, ok := p.scope.Lookup(prefix); !ok {
			return p.fail("xml.undeclared-prefix", "prefix %q of <%s> is not declared", prefix, name)
		}
	}
	if prefix == "xmlns" {
		return p.fail("xml.bad-name", "element <%s> uses the reserved prefix xmlns", name)
	}
	// Attributes with a prefix: declared, and no two with the same
	// namespace and local name (Namespaces in XML 1.0, section 6.3).
	if n > 8 {
		if p.seenX == nil {
			p.seenX = make(map[[2]string]struct{})
		}
		clear(p.seenX)
	}
	for i, a := range attrs {
		if a.prefix == "" || a.prefix == "xmlns" {
			continue
		}
		uri := nsXML
		if a.prefix != "xml" {
			u, ok := p.scope.Lookup(a.prefix)
			if !ok {
				return p.fail("xml.undeclared-prefix", "prefix %q of attribute %q is not declared", a.prefix, a.name)
			}
			uri = u
		}
		dup := false
		if n <= 8 {
			for _, o := range attrs[:i] {
				p.ops++
				if o.prefix == "" || o.prefix == "xmlns" || o.local != a.local {
					continue
				}
				ou := nsXML
				if o.prefix != "xml" {
					ou, _ = p.scope.Lookup(o.prefix)
				}
				dup = dup || ou == uri
			}
		} else {
			p.ops++
			k := [2]string{uri, a.local}
			_, dup = p.seenX[k]
			p.seenX[k] = struct{}{}
		}
		if dup {
			return p.fail("xml.duplicate-attr", "attribute %q on <%s> has the same namespace and local name as another", a.name, name)
		}
	}
	return nil
}

const nsXMLNS = "http://www.w3.org/2000/xmlns/"
