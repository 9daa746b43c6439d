package certs

import (
	"bytes"
	"fmt"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/internal/xmlguard"
)

// Limits bounds what ParseStrict accepts. The zero value means the
// defaults; every limit is enforced while the input is read, at a cost
// linear in its size (see internal/xmlguard).
type Limits struct {
	// MaxBytes caps the input size; 0 means DefaultMaxBytes.
	MaxBytes int
	// MaxDepth caps element nesting; 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxAttrsPerElement caps the attributes (namespace declarations
	// included) of one element; 0 means DefaultMaxAttrsPerElement.
	MaxAttrsPerElement int
	// MaxNSPerElement caps the namespace declarations of one element; 0
	// means DefaultMaxNSPerElement.
	MaxNSPerElement int
	// MaxAttrs caps the attributes of the whole document; 0 means
	// MaxBytes/16.
	MaxAttrs int
	// MaxNSDecls caps the namespace declarations of the whole document; 0
	// means MaxBytes/4096 (at least 64).
	MaxNSDecls int
}

// Default limits for ParseStrict.
const (
	DefaultMaxBytes           = 4 << 20 // 4 MiB
	DefaultMaxDepth           = 64
	DefaultMaxAttrsPerElement = xmlguard.DefaultMaxAttrsPerElement // 256
	DefaultMaxNSPerElement    = xmlguard.DefaultMaxNSPerElement    // 64
)

func (l Limits) guard() xmlguard.Limits {
	return xmlguard.Limits{
		MaxBytes:           or(l.MaxBytes, DefaultMaxBytes),
		MaxDepth:           or(l.MaxDepth, DefaultMaxDepth),
		MaxAttrsPerElement: l.MaxAttrsPerElement,
		MaxNSPerElement:    l.MaxNSPerElement,
		MaxAttrs:           l.MaxAttrs,
		MaxNSDecls:         l.MaxNSDecls,
		Strict:             true,
	}.Resolved()
}

func or(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

// ParseError is returned by ParseStrict. Reason is a stable code such as
// "xml.doctype", "xml.too-large", "xml.too-deep", "xml.too-many-attrs",
// "xml.too-many-ns", "xml.proc-inst", "xml.duplicate-attr",
// "xml.bad-name", "xml.undeclared-prefix", "xml.syntax" or
// "xml.encoding".
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
// lim.MaxBytes, nesting deeper than lim.MaxDepth and more attributes or
// namespace declarations than lim allows. A leading UTF-8 byte-order mark
// is allowed (XML allows it) and is not part of the tree. Every check is
// made in the same single pass that builds the tree (xmlguard.ParseTree,
// the project's own strict tokenizer), at a cost linear in len(b) and with
// a bounded number of allocations per element, refusing at the first
// limit crossed. It never fetches anything.
func ParseStrict(b []byte, lim Limits) (*etree.Document, error) {
	d, _, err := parseStrict(b, lim, sharedNot)
	return d, err
}

// How parseStrict builds the tree.
const (
	sharedNot     = iota // fresh memory, strings from one copy of b
	sharedInPlace        // reused memory, strings in b itself (xmlguard.ParseTreeShared)
	sharedReused         // reused memory, strings from one copy of b (xmlguard.ParseTreeReused)
)

// parseStrict is ParseStrict building the tree as shared says; with
// reused memory the caller calls release (never nil) once it has dropped
// the tree (and, in place, before b can change).
func parseStrict(b []byte, lim Limits, shared int) (_ *etree.Document, release func(), _ error) {
	release = func() {}
	gl := lim.guard()
	if len(b) > gl.MaxBytes {
		return nil, release, parseErr("xml.too-large", "document is %d bytes, the limit is %d", len(b), gl.MaxBytes)
	}
	b = xmlguard.TrimBOM(b)
	// Cheap pre-check so that a DOCTYPE is named as such even when the
	// tokenizer would fail earlier on an undefined entity.
	if hasDoctype(b) {
		return nil, release, parseErr("xml.doctype", "DOCTYPE declarations are not accepted; remove the DTD")
	}
	var doc *etree.Document
	var err error
	switch shared {
	case sharedInPlace:
		doc, release, err = xmlguard.ParseTreeShared(b, gl)
	case sharedReused:
		doc, release, err = xmlguard.ParseTreeReused(b, gl)
	default:
		doc, err = xmlguard.ParseTree(b, gl)
	}
	if err != nil {
		if ge, ok := xmlguard.IsError(err); ok {
			return nil, release, &ParseError{Reason: ge.Reason, Detail: ge.Detail}
		}
		return nil, release, parseErr("xml.syntax", "%v", err)
	}
	if doc.Root() == nil {
		return nil, release, parseErr("xml.syntax", "no root element")
	}
	return doc, release, nil
}

// hasDoctype reports whether b contains "<!DOCTYPE" or "<!doctype". It
// looks for the rare '!' (one vectorised IndexByte pass) instead of
// searching for both strings, each a pass over the input.
func hasDoctype(b []byte) bool {
	for i := 1; i < len(b); {
		j := bytes.IndexByte(b[i:], '!')
		if j < 0 {
			return false
		}
		i += j
		if b[i-1] == '<' && (bytes.HasPrefix(b[i+1:], []byte("DOCTYPE")) || bytes.HasPrefix(b[i+1:], []byte("doctype"))) {
			return true
		}
		i++
	}
	return false
}

const nsXML = "http://www.w3.org/XML/1998/namespace"
