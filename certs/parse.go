package certs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
)

// Limits bounds what ParseStrict accepts. The zero value means the defaults.
type Limits struct {
	// MaxBytes caps the input size; 0 means DefaultMaxBytes.
	MaxBytes int
	// MaxDepth caps element nesting; 0 means DefaultMaxDepth.
	MaxDepth int
}

// Default limits for ParseStrict.
const (
	DefaultMaxBytes = 4 << 20 // 4 MiB
	DefaultMaxDepth = 64
)

func (l Limits) maxBytes() int {
	if l.MaxBytes > 0 {
		return l.MaxBytes
	}
	return DefaultMaxBytes
}

func (l Limits) maxDepth() int {
	if l.MaxDepth > 0 {
		return l.MaxDepth
	}
	return DefaultMaxDepth
}

// ParseError is returned by ParseStrict. Reason is a stable code such as
// "xml.doctype", "xml.too-large", "xml.too-deep", "xml.proc-inst",
// "xml.duplicate-attr", "xml.bad-name", "xml.undeclared-prefix",
// "xml.syntax" or "xml.encoding".
type ParseError struct {
	Reason string
	Detail string
}

func (e *ParseError) Error() string { return "parse XML: " + e.Detail + " (" + e.Reason + ")" }

func parseErr(reason, format string, a ...any) *ParseError {
	return &ParseError{Reason: reason, Detail: fmt.Sprintf(format, a...)}
}

// ParseStrict parses b with etree under the security profile of design.md
// section 6: it refuses any DOCTYPE (so no entity can be declared or
// expanded), processing instructions other than the XML declaration,
// non-UTF-8 encodings, duplicate attributes, malformed or undeclared
// namespace prefixes, text outside the root element, input larger than
// lim.MaxBytes and nesting deeper than lim.MaxDepth. It never fetches
// anything.
func ParseStrict(b []byte, lim Limits) (*etree.Document, error) {
	if len(b) > lim.maxBytes() {
		return nil, parseErr("xml.too-large", "document is %d bytes, the limit is %d", len(b), lim.maxBytes())
	}
	// Cheap pre-check so that a DOCTYPE is named as such even when the
	// decoder would fail earlier on an undefined entity.
	if bytes.Contains(b, []byte("<!DOCTYPE")) || bytes.Contains(b, []byte("<!doctype")) {
		return nil, parseErr("xml.doctype", "DOCTYPE declarations are not accepted; remove the DTD")
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		PreserveDuplicateAttrs: true,
		MaxDepth:               lim.maxDepth(),
		CharsetReader: func(charset string, _ io.Reader) (io.Reader, error) {
			return nil, parseErr("xml.encoding", "encoding %q is not accepted; send UTF-8", charset)
		},
	}
	if err := doc.ReadFromBytes(b); err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			return nil, pe
		}
		if errors.Is(err, etree.ErrMaxDepth) {
			return nil, parseErr("xml.too-deep", "elements nest deeper than %d levels", lim.maxDepth())
		}
		if strings.Contains(err.Error(), "charset") || strings.Contains(err.Error(), "encoding") {
			return nil, parseErr("xml.encoding", "%v; send UTF-8", err)
		}
		return nil, parseErr("xml.syntax", "%v", err)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, parseErr("xml.syntax", "more than one root element")
			}
			root = t
		case *etree.Directive:
			return nil, parseErr("xml.doctype", "directive <!%.20s...> is not accepted", t.Data)
		case *etree.ProcInst:
			if t.Target != "xml" {
				return nil, parseErr("xml.proc-inst", "processing instruction <?%s?> is not accepted", t.Target)
			}
			if !isUTF8Decl(t.Inst) {
				return nil, parseErr("xml.encoding", "XML declaration %q: only UTF-8 is accepted", t.Inst)
			}
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, parseErr("xml.syntax", "text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, parseErr("xml.syntax", "no root element")
	}
	if err := checkTree(root, nil); err != nil {
		return nil, err
	}
	return doc, nil
}

func isUTF8Decl(inst string) bool {
	i := strings.Index(inst, "encoding")
	if i < 0 {
		return true
	}
	rest := strings.TrimLeft(inst[i+len("encoding"):], " \t\r\n=")
	rest = strings.Trim(rest, " \t\r\n")
	if len(rest) < 2 {
		return false
	}
	q := rest[0]
	j := strings.IndexByte(rest[1:], q)
	if j < 0 {
		return false
	}
	enc := strings.ToUpper(rest[1 : 1+j])
	return enc == "UTF-8" || enc == "UTF8"
}

func validNCName(s string) bool {
	return s != "" && !strings.ContainsAny(s, ": \t\r\n")
}

// nsScope is a linked list of namespace declarations in scope.
type nsScope struct {
	prefix, uri string
	next        *nsScope
}

func (s *nsScope) lookup(prefix string) (string, bool) {
	for ; s != nil; s = s.next {
		if s.prefix == prefix {
			return s.uri, true
		}
	}
	return "", false
}

func checkTree(e *etree.Element, scope *nsScope) error {
	if !validNCName(e.Tag) || (e.Space != "" && !validNCName(e.Space)) {
		return parseErr("xml.bad-name", "malformed element name %q", e.FullTag())
	}
	for i, a := range e.Attr {
		if !validNCName(a.Key) || (a.Space != "" && !validNCName(a.Space)) {
			return parseErr("xml.bad-name", "malformed attribute name %q on <%s>", a.FullKey(), e.FullTag())
		}
		for _, b := range e.Attr[:i] {
			if a.Space == b.Space && a.Key == b.Key {
				return parseErr("xml.duplicate-attr", "attribute %q appears twice on <%s>", a.FullKey(), e.FullTag())
			}
		}
		switch {
		case a.Space == "xmlns":
			if a.Key == "xmlns" || (a.Key == "xml" && a.Value != nsXML) || a.Value == "" {
				return parseErr("xml.bad-name", "invalid namespace declaration %q", a.FullKey())
			}
			scope = &nsScope{a.Key, a.Value, scope}
		case a.Space == "" && a.Key == "xmlns":
			scope = &nsScope{"", a.Value, scope}
		}
	}
	if e.Space != "" && e.Space != "xml" {
		if _, ok := scope.lookup(e.Space); !ok {
			return parseErr("xml.undeclared-prefix", "prefix %q of <%s> is not declared", e.Space, e.FullTag())
		}
	}
	for _, a := range e.Attr {
		if a.Space != "" && a.Space != "xmlns" && a.Space != "xml" {
			if _, ok := scope.lookup(a.Space); !ok {
				return parseErr("xml.undeclared-prefix", "prefix %q of attribute %q is not declared", a.Space, a.FullKey())
			}
		}
	}
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			if err := checkTree(t, scope); err != nil {
				return err
			}
		case *etree.ProcInst:
			return parseErr("xml.proc-inst", "processing instruction <?%s?> is not accepted", t.Target)
		case *etree.Directive:
			return parseErr("xml.doctype", "directive inside an element is not accepted")
		}
	}
	return nil
}

const nsXML = "http://www.w3.org/XML/1998/namespace"
