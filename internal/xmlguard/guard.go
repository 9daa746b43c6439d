package xmlguard

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// Default limits; see the package documentation.
const (
	DefaultMaxBytes           = 4 << 20
	DefaultMaxDepth           = 64
	DefaultMaxAttrsPerElement = 256
	DefaultMaxNSPerElement    = 64
	// BytesPerAttr and BytesPerNSDecl make the document-wide totals
	// proportional to the size cap: MaxBytes/16 and MaxBytes/4096.
	BytesPerAttr   = 16
	BytesPerNSDecl = 4096
	minNSDecls     = 64
)

// Limits bound what Check accepts; a zero field means its default.
type Limits struct {
	MaxBytes           int
	MaxDepth           int
	MaxAttrsPerElement int
	MaxNSPerElement    int
	MaxAttrs           int
	MaxNSDecls         int
	// Strict adds the checks of the signature profile (see the package
	// documentation); without it only the limits, directives and
	// well-formedness are checked.
	Strict bool
}

func or(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// Resolved returns l with every zero field replaced by its default.
func (l Limits) Resolved() Limits {
	l.MaxBytes = or(l.MaxBytes, DefaultMaxBytes)
	l.MaxDepth = or(l.MaxDepth, DefaultMaxDepth)
	l.MaxAttrsPerElement = or(l.MaxAttrsPerElement, DefaultMaxAttrsPerElement)
	l.MaxNSPerElement = or(l.MaxNSPerElement, DefaultMaxNSPerElement)
	l.MaxAttrs = or(l.MaxAttrs, max(l.MaxBytes/BytesPerAttr, l.MaxAttrsPerElement))
	l.MaxNSDecls = or(l.MaxNSDecls, max(l.MaxBytes/BytesPerNSDecl, minNSDecls))
	return l
}

// Error is a refusal by Check.
type Error struct {
	// Reason is a stable code (see the package documentation).
	Reason string
	// Detail says what is wrong and, for a limit, names it.
	Detail string
	// Offset is the input offset at which the refusal was decided.
	Offset int64
}

func (e *Error) Error() string { return e.Detail + " (" + e.Reason + ")" }

var bom = []byte("\xEF\xBB\xBF")

// TrimBOM returns b without a leading UTF-8 byte-order mark.
func TrimBOM(b []byte) []byte { return bytes.TrimPrefix(b, bom) }

const nsXML = "http://www.w3.org/XML/1998/namespace"

// Check reads b (without a byte-order mark: see TrimBOM) and returns nil
// when it is within lim, or an *Error at the first fault.
func Check(b []byte, lim Limits) error {
	_, err := check(b, lim)
	return err
}

// check is Check, also returning a count of the elementary operations
// done, which the tests use to assert linear cost.
func check(b []byte, lim Limits) (ops int, err error) {
	lim = lim.Resolved()
	if len(b) > lim.MaxBytes {
		return 0, tooLarge(len(b), lim)
	}
	if lim.Strict {
		sp := newStrict(b, lim, false)
		err := sp.run()
		return sp.ops, err
	}
	l := &lenient{lim: lim, dec: xml.NewDecoder(bytes.NewReader(b))}
	err = l.run()
	return l.ops, err
}

// lenient is a pass of Check without Strict: the limits, directives and
// well-formedness over encoding/xml's raw tokens (the schema codec and
// the mapping readers, which parse again afterwards). Names, prefixes,
// duplicate attributes, processing instructions and encodings are left
// to the parser that follows.
type lenient struct {
	lim        Limits
	dec        *xml.Decoder
	ops        int
	stack      []xml.Name
	totalAttrs int
	totalNS    int
	roots      int
}

func (l *lenient) fail(reason, format string, a ...any) error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, a...), Offset: l.dec.InputOffset()}
}

func (l *lenient) run() error {
	l.dec.Strict = true
	l.dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) {
		return r, nil // as etree: read the bytes as they are
	}
	for {
		tok, err := l.dec.RawToken()
		l.ops++
		if err == io.EOF {
			break
		}
		if err != nil {
			return l.fail("xml.syntax", "%v", err)
		}
		if err := l.token(tok); err != nil {
			return err
		}
	}
	if len(l.stack) > 0 {
		return l.fail("xml.syntax", "unexpected end of input: <%s> is not closed", qname(l.stack[len(l.stack)-1]))
	}
	if l.roots == 0 {
		return l.fail("xml.syntax", "no root element")
	}
	return nil
}

func (l *lenient) token(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		return l.start(t)
	case xml.EndElement:
		if len(l.stack) == 0 || l.stack[len(l.stack)-1] != t.Name {
			return l.fail("xml.syntax", "unexpected end element </%s>", qname(t.Name))
		}
		l.stack = l.stack[:len(l.stack)-1]
	case xml.CharData:
		if len(l.stack) == 0 && len(bytes.Trim(t, " \t\r\n")) > 0 {
			return l.fail("xml.syntax", "text outside the root element")
		}
	case xml.Directive:
		if len(l.stack) > 0 {
			return l.fail("xml.doctype", "directive <!%.20s...> inside an element is not accepted", t)
		}
		return l.fail("xml.doctype", "directive <!%.20s...> is not accepted; remove the DTD", t)
	}
	return nil
}

func (l *lenient) start(t xml.StartElement) error {
	lim := l.lim
	if len(l.stack) == 0 {
		l.roots++
		if l.roots > 1 {
			return l.fail("xml.syntax", "more than one root element")
		}
	}
	if len(l.stack)+1 > lim.MaxDepth {
		return l.fail("xml.too-deep", "elements nest deeper than %d levels (the MaxDepth limit)", lim.MaxDepth)
	}
	n := len(t.Attr)
	if n > lim.MaxAttrsPerElement {
		return l.fail("xml.too-many-attrs", "element <%s> has %d attributes, more than the limit of %d per element (MaxAttrsPerElement)", qname(t.Name), n, lim.MaxAttrsPerElement)
	}
	l.totalAttrs += n
	if l.totalAttrs > lim.MaxAttrs {
		return l.fail("xml.too-many-attrs", "the document has more than %d attributes in all (the MaxAttrs limit)", lim.MaxAttrs)
	}
	l.stack = append(l.stack, t.Name)
	nsHere := 0
	for _, a := range t.Attr {
		l.ops++
		if a.Name.Space != "xmlns" && (a.Name.Space != "" || a.Name.Local != "xmlns") {
			continue
		}
		nsHere++
		if nsHere > lim.MaxNSPerElement {
			return l.fail("xml.too-many-ns", "element <%s> declares more than %d namespaces (the MaxNSPerElement limit)", qname(t.Name), lim.MaxNSPerElement)
		}
		l.totalNS++
		if l.totalNS > lim.MaxNSDecls {
			return l.fail("xml.too-many-ns", "the document has more than %d namespace declarations in all (the MaxNSDecls limit)", lim.MaxNSDecls)
		}
	}
	return nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// IsError reports whether err is an *Error and returns it.
func IsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
