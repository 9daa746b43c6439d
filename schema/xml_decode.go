package schema

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/internal/xmlguard"
)

// XMLDSigNamespace is the namespace of the enveloped ds:Signature that the
// decoder tolerates as the last child of the root element.
const XMLDSigNamespace = "http://www.w3.org/2000/09/xmldsig#"

// Default limits of DecodeOptions.
const (
	DefaultMaxBytes int64 = 4 << 20 // 4 MiB
	DefaultMaxDepth       = 32
)

// maxFindings caps the findings one decode reports, so that a hostile
// document cannot make the report itself large.
const maxFindings = 100

// Codes of the findings the codecs report. All are SEVERE, in area "schema".
const (
	CodeNotXML           = "ECO-SCHEMA-NOT-XML"           // not well-formed XML, or not one root element
	CodeNotJSON          = "ECO-SCHEMA-NOT-JSON"          // not well-formed JSON, or not one JSON object
	CodeDoctype          = "ECO-SCHEMA-DOCTYPE"           // a DOCTYPE (or other <!...> directive) is present
	CodeTooLarge         = "ECO-SCHEMA-TOO-LARGE"         // the body is larger than DecodeOptions.MaxBytes
	CodeTooDeep          = "ECO-SCHEMA-TOO-DEEP"          // elements nest deeper than DecodeOptions.MaxDepth
	CodeLimit            = "ECO-SCHEMA-LIMIT"             // more attributes or namespace declarations than internal/xmlguard allows (named in the message)
	CodeUnknownElement   = "ECO-SCHEMA-UNKNOWN-ELEMENT"   // an element the dataset does not define at that place
	CodeUnknownAttribute = "ECO-SCHEMA-UNKNOWN-ATTRIBUTE" // an attribute the dataset does not define
	CodeUnknownField     = "ECO-SCHEMA-UNKNOWN-FIELD"     // a JSON member the dataset does not define
	CodeNamespace        = "ECO-SCHEMA-NAMESPACE"         // an element outside urn:ecogate:eco:1
	CodeType             = "ECO-SCHEMA-TYPE"              // a value of the wrong type or form
	CodeOrder            = "ECO-SCHEMA-ORDER"             // an element out of the XSD's order
	CodeDuplicate        = "ECO-SCHEMA-DUPLICATE"         // a non-repeating element, attribute or member given twice
	CodeMissing          = "ECO-SCHEMA-MISSING"           // a required element, attribute or member is absent
	CodeTooMany          = "ECO-SCHEMA-TOO-MANY"          // a repeating element given more often than allowed
	CodeInternal         = "ECO-SCHEMA-INTERNAL"          // a bug in the codec; please report it
)

// DecodeOptions limit what the decoders accept. The zero value means the
// defaults: 4 MiB and a depth of 32 elements.
type DecodeOptions struct {
	// MaxBytes is the largest body accepted; 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxDepth is the deepest element nesting accepted (the root is depth
	// 1); 0 means DefaultMaxDepth. The JSON decoder applies it to objects
	// and arrays.
	MaxDepth int
}

func (o DecodeOptions) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

func (o DecodeOptions) maxDepth() int {
	if o.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return o.MaxDepth
}

func severe(code, path, msg string) Finding {
	return Finding{Area: AreaSchema, Level: Severe, Code: code, Path: path, Message: msg}
}

// DecodeXML parses b as a CertificateOfOrigin in namespace urn:ecogate:eco:1
// with etree and fills a Certificate.
//
// The contract: it returns a non-nil certificate and no findings, or a nil
// certificate and at least one SEVERE finding in area "schema" (codes
// CodeNotXML, CodeDoctype, CodeTooLarge, CodeTooDeep, CodeUnknownElement,
// CodeUnknownAttribute, CodeNamespace, CodeType, CodeOrder, CodeDuplicate,
// CodeMissing, CodeTooMany). It never returns a partly filled certificate
// and never panics. The decoder is as strict as the published XSD (XSD()):
// unknown elements and attributes, elements out of order, repeated
// non-repeating elements, missing required elements and malformed values
// are all refused; so are attributes in any namespace (xsi:schemaLocation
// included, which XSD validators let through), comments and processing
// instructions are ignored. One ds:Signature (namespace XMLDSigNamespace) is
// tolerated as the last child of the root and skipped; anywhere else it is
// an unknown element.
//
// Finding paths use the JSON member names (for example
// "supplyChainConsignment.includedConsignmentItems[2].tradeProduct.hsCode",
// indexes counted from 0), so schema findings read like validation findings.
func DecodeXML(b []byte, opts DecodeOptions) (*Certificate, Findings) {
	root, fs := parseXML(b, opts)
	if fs != nil {
		return nil, fs
	}
	return DecodeElement(root, opts)
}

// DecodeElement fills a Certificate from an already parsed root element,
// such as the one the signature verifier returns. It applies the same
// checks and contract as DecodeXML (the depth limit of opts included; the
// size limit does not apply to a parsed tree).
func DecodeElement(el *etree.Element, opts DecodeOptions) (*Certificate, Findings) {
	c := new(Certificate)
	if fs := decodeRoot(el, opts, "CertificateOfOrigin", reflect.ValueOf(c).Elem()); fs != nil {
		return nil, fs
	}
	return c, nil
}

// DecodeOutcomeXML parses an ImportOutcome (standards.md b.9) under the
// same contract as DecodeXML.
func DecodeOutcomeXML(b []byte, opts DecodeOptions) (*Outcome, Findings) {
	root, fs := parseXML(b, opts)
	if fs != nil {
		return nil, fs
	}
	o := new(Outcome)
	if fs := decodeRoot(root, opts, "ImportOutcome", reflect.ValueOf(o).Elem()); fs != nil {
		return nil, fs
	}
	return o, nil
}

// parseXML applies the size limit, parses with etree under the depth limit
// and checks the document level: one root element, no DOCTYPE, no text.
func parseXML(b []byte, opts DecodeOptions) (*etree.Element, Findings) {
	if int64(len(b)) > opts.maxBytes() {
		return nil, Findings{severe(CodeTooLarge, "", fmt.Sprintf("the document is %d bytes, more than the limit of %d bytes: split it or ask the operator to raise the limit", len(b), opts.maxBytes()))}
	}
	// XML allows a leading UTF-8 byte-order mark; the tokenizer would read
	// it as text outside the root.
	b = xmlguard.TrimBOM(b)
	// One streaming pass refuses, at a cost linear in the size, what
	// crosses a limit (depth, attributes and namespace declarations per
	// element and in all) before etree builds a tree.
	if err := xmlguard.Check(b, xmlguard.Limits{MaxBytes: int(opts.maxBytes()), MaxDepth: opts.maxDepth()}); err != nil {
		if ge, ok := xmlguard.IsError(err); ok {
			switch ge.Reason {
			case "xml.too-deep":
				return nil, Findings{severe(CodeTooDeep, "", fmt.Sprintf("elements nest deeper than %d levels: this is not a certificate of origin", opts.maxDepth()))}
			case "xml.doctype":
				return nil, Findings{severe(CodeDoctype, "", "the document has a DOCTYPE or another <!...> declaration: DTDs and entity declarations are refused; send the document without one")}
			case "xml.too-many-attrs", "xml.too-many-ns":
				return nil, Findings{severe(CodeLimit, "", ge.Detail+": this is not a certificate of origin")}
			}
		}
		if bytes.Contains(b, []byte("<!DOCTYPE")) {
			return nil, Findings{severe(CodeDoctype, "", "the document has a DOCTYPE: DTDs and entity declarations are refused; send the document without one")}
		}
		return nil, Findings{severe(CodeNotXML, "", fmt.Sprintf("the body is not well-formed XML (%v): send a UTF-8 XML document", err))}
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{MaxDepth: opts.maxDepth(), PreserveDuplicateAttrs: true}
	if err := doc.ReadFromBytes(b); err != nil {
		switch {
		case errors.Is(err, etree.ErrMaxDepth):
			return nil, Findings{severe(CodeTooDeep, "", fmt.Sprintf("elements nest deeper than %d levels: this is not a certificate of origin", opts.maxDepth()))}
		case strings.Contains(string(b), "<!DOCTYPE"):
			return nil, Findings{severe(CodeDoctype, "", "the document has a DOCTYPE: DTDs and entity declarations are refused; send the document without one")}
		}
		return nil, Findings{severe(CodeNotXML, "", fmt.Sprintf("the body is not well-formed XML (%v): send a UTF-8 XML document", err))}
	}
	var root *etree.Element
	for _, tok := range doc.Child {
		switch t := tok.(type) {
		case *etree.Directive:
			return nil, Findings{severe(CodeDoctype, "", "the document has a DOCTYPE or another <!...> declaration: DTDs and entity declarations are refused; send the document without one")}
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, Findings{severe(CodeNotXML, "", "the body is not XML: it holds text outside any element")}
			}
		case *etree.Element:
			if root != nil {
				return nil, Findings{severe(CodeNotXML, "", "the document has more than one root element")}
			}
			root = t
		}
	}
	if root == nil {
		return nil, Findings{severe(CodeNotXML, "", "the body holds no XML element: send a UTF-8 XML document")}
	}
	return root, nil
}

// decodeRoot checks the tree as a whole (depth, directives) and the root
// element's name, then fills v.
func decodeRoot(el *etree.Element, opts DecodeOptions, rootName string, v reflect.Value) (fs Findings) {
	defer func() {
		if r := recover(); r != nil {
			fs = Findings{severe(CodeInternal, "", fmt.Sprintf("the decoder failed (%v): please report this document to the ecogate maintainers", r))}
		}
	}()
	if el == nil {
		return Findings{severe(CodeNotXML, "", "no XML element to decode")}
	}
	if f, bad := checkTree(el, opts.maxDepth()); bad {
		return Findings{f}
	}
	if ns := el.NamespaceURI(); ns != Namespace {
		return Findings{severe(CodeNamespace, "", fmt.Sprintf("the root element <%s> is in namespace %q: it must be <%s xmlns=%q>", el.Tag, ns, rootName, Namespace))}
	}
	if el.Tag != rootName {
		return Findings{severe(CodeUnknownElement, "", fmt.Sprintf("the root element is <%s>: expected <%s>", el.Tag, rootName))}
	}
	ti, err := infoOf(v.Type())
	if err != nil {
		return Findings{severe(CodeInternal, "", err.Error())}
	}
	d := &xmlDecoder{scope: xmlguard.NewScope()}
	var anc []*etree.Element
	for p := el.Parent(); p != nil; p = p.Parent() {
		anc = append(anc, p)
	}
	for i := len(anc) - 1; i >= 0; i-- {
		d.pushDecls(anc[i])
	}
	d.decodeStruct(el, v, ti, "", rootName == "CertificateOfOrigin")
	if len(d.fs) > 0 {
		return d.fs
	}
	return nil
}

// checkTree walks the tree without recursion: depth and directives.
func checkTree(root *etree.Element, maxDepth int) (Finding, bool) {
	type item struct {
		el    *etree.Element
		depth int
	}
	stack := []item{{root, 1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.depth > maxDepth {
			return severe(CodeTooDeep, "", fmt.Sprintf("elements nest deeper than %d levels: this is not a certificate of origin", maxDepth)), true
		}
		for _, tok := range it.el.Child {
			switch t := tok.(type) {
			case *etree.Directive:
				return severe(CodeDoctype, "", "the document has a <!...> declaration inside an element: refused"), true
			case *etree.Element:
				stack = append(stack, item{t, it.depth + 1})
			}
		}
	}
	return Finding{}, false
}

type xmlDecoder struct {
	fs Findings
	// scope holds the namespace declarations in scope at the element
	// being decoded: resolving a child's namespace costs O(its own
	// attributes), never a walk up the tree (etree's NamespaceURI).
	scope *xmlguard.Scope
}

func (d *xmlDecoder) pushDecls(el *etree.Element) {
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns":
			d.scope.Push(a.Key, a.Value)
		case a.Space == "" && a.Key == "xmlns":
			d.scope.Push("", a.Value)
		}
	}
}

// nsOf returns the namespace URI of el, a child of the element whose
// declarations are in d.scope.
func (d *xmlDecoder) nsOf(el *etree.Element) string {
	for i := len(el.Attr) - 1; i >= 0; i-- {
		a := el.Attr[i]
		if (el.Space == "" && a.Space == "" && a.Key == "xmlns") || (el.Space != "" && a.Space == "xmlns" && a.Key == el.Space) {
			return a.Value
		}
	}
	if el.Space == "xml" {
		return "http://www.w3.org/XML/1998/namespace"
	}
	uri, _ := d.scope.Lookup(el.Space)
	return uri
}

func (d *xmlDecoder) add(code, path, msg string) {
	if len(d.fs) < maxFindings {
		d.fs = append(d.fs, severe(code, path, msg))
	}
}

func isNSDecl(a etree.Attr) bool {
	return a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns")
}

func (d *xmlDecoder) isSignature(el *etree.Element) bool {
	return el.Tag == "Signature" && d.nsOf(el) == XMLDSigNamespace
}

func lastChildElement(el *etree.Element) *etree.Element {
	for i := len(el.Child) - 1; i >= 0; i-- {
		if c, ok := el.Child[i].(*etree.Element); ok {
			return c
		}
	}
	return nil
}

// decodeStruct fills the struct v from element el.
func (d *xmlDecoder) decodeStruct(el *etree.Element, v reflect.Value, ti *typeInfo, path string, isRoot bool) {
	defer d.scope.PopTo(d.scope.Mark())
	d.pushDecls(el)
	// Attributes.
	seenAttr := map[string]bool{}
	for _, a := range el.Attr {
		if isNSDecl(a) {
			continue
		}
		var f *fieldInfo
		if a.Space == "" {
			for _, af := range ti.attrs {
				if af.xmlName == a.Key {
					f = af
				}
			}
		}
		if f == nil {
			d.add(CodeUnknownAttribute, path, fmt.Sprintf("element <%s> has an unknown attribute %q: remove it", el.Tag, a.FullKey()))
			continue
		}
		if seenAttr[f.xmlName] {
			d.add(CodeDuplicate, joinPath(path, f.jsonName), fmt.Sprintf("element <%s> has attribute %q twice", el.Tag, a.Key))
			continue
		}
		seenAttr[f.xmlName] = true
		d.setValue(v.Field(f.index), f, a.Value, joinPath(path, f.jsonName), fmt.Sprintf("attribute %q of <%s>", a.Key, el.Tag))
	}
	for _, af := range ti.attrs {
		if af.required() && !seenAttr[af.xmlName] {
			d.add(CodeMissing, joinPath(path, af.jsonName), fmt.Sprintf("element <%s> needs the attribute %q", el.Tag, af.xmlName))
		}
	}

	// Children.
	var text strings.Builder
	counts := make([]int, len(ti.elems))
	cursor := -1
	var last *etree.Element
	if isRoot {
		last = lastChildElement(el)
	}
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			if ti.text != nil {
				text.WriteString(t.Data)
			} else if !t.IsWhitespace() {
				d.add(CodeType, path, fmt.Sprintf("element <%s> holds text %q but may hold only elements", el.Tag, clip(t.Data)))
			}
		case *etree.Element:
			if isRoot && t == last && d.isSignature(t) {
				continue // the enveloped signature, verified elsewhere
			}
			if d.isSignature(t) {
				d.add(CodeUnknownElement, path, fmt.Sprintf("a ds:Signature inside <%s> is not allowed: the signature must be the last child of the root element", el.Tag))
				continue
			}
			ns := d.nsOf(t)
			idx, known := ti.byXML[t.Tag]
			if ns != Namespace {
				if known {
					counts[idx]++ // reported here; not also as missing
					d.add(CodeNamespace, joinPath(path, ti.elems[idx].jsonName), fmt.Sprintf("element <%s> in <%s> is in namespace %q: it must be in %q", t.Tag, el.Tag, ns, Namespace))
				} else {
					d.add(CodeUnknownElement, path, fmt.Sprintf("element <%s> (namespace %q) is not allowed in <%s>", t.Tag, ns, el.Tag))
				}
				continue
			}
			if !known {
				d.add(CodeUnknownElement, path, fmt.Sprintf("element <%s> is not allowed in <%s>%s", t.Tag, el.Tag, expectedList(ti)))
				continue
			}
			f := ti.elems[idx]
			fpath := joinPath(path, f.jsonName)
			if idx < cursor {
				counts[idx]++ // reported here; not also as missing
				d.add(CodeOrder, fpath, fmt.Sprintf("element <%s> comes after <%s> in <%s>: it must come before it (the order is fixed by the XSD)", t.Tag, ti.elems[cursor].xmlName, el.Tag))
				continue
			}
			if counts[idx] > 0 && !f.repeated {
				d.add(CodeDuplicate, fpath, fmt.Sprintf("element <%s> appears more than once in <%s>: it may appear only once", t.Tag, el.Tag))
				continue
			}
			if f.maxOccurs > 0 && counts[idx] >= f.maxOccurs {
				d.add(CodeTooMany, fpath, fmt.Sprintf("element <%s> appears more than %d times in <%s>", t.Tag, f.maxOccurs, el.Tag))
				continue
			}
			cursor = idx
			counts[idx]++
			d.decodeField(t, v.Field(f.index), f, fpath)
		}
	}
	if ti.text != nil {
		d.setValue(v.Field(ti.text.index), ti.text, text.String(), joinPath(path, ti.text.jsonName), fmt.Sprintf("the text of <%s>", el.Tag))
	}
	for i, f := range ti.elems {
		if counts[i] > 0 {
			continue
		}
		if f.required() || (f.repeated && !f.xmlOmit) {
			d.add(CodeMissing, joinPath(path, f.jsonName), fmt.Sprintf("element <%s> is required in <%s>", f.xmlName, el.Tag))
		}
	}
}

func expectedList(ti *typeInfo) string {
	if len(ti.elems) == 0 {
		return ""
	}
	names := make([]string, len(ti.elems))
	for i, f := range ti.elems {
		names[i] = f.xmlName
	}
	return " (allowed, in this order: " + strings.Join(names, ", ") + ")"
}

// decodeField fills the field fv (slice, pointer or value) from child el.
func (d *xmlDecoder) decodeField(el *etree.Element, fv reflect.Value, f *fieldInfo, path string) {
	target := fv
	switch {
	case f.repeated:
		path = fmt.Sprintf("%s[%d]", path, fv.Len())
		fv.Set(reflect.Append(fv, reflect.Zero(f.typ)))
		target = fv.Index(fv.Len() - 1)
	case f.pointer:
		fv.Set(reflect.New(f.typ))
		target = fv.Elem()
	}
	if f.val == valStruct {
		ti, err := infoOf(f.typ)
		if err != nil {
			d.add(CodeInternal, path, err.Error())
			return
		}
		d.decodeStruct(el, target, ti, path, false)
		return
	}
	// A simple element: text only, no attributes, no child elements.
	var text strings.Builder
	for _, a := range el.Attr {
		if !isNSDecl(a) {
			d.add(CodeUnknownAttribute, path, fmt.Sprintf("element <%s> has an unknown attribute %q: remove it", el.Tag, a.FullKey()))
		}
	}
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			text.WriteString(t.Data)
		case *etree.Element:
			d.add(CodeUnknownElement, path, fmt.Sprintf("element <%s> may hold only text, not the element <%s>", el.Tag, t.Tag))
		}
	}
	d.setValue(target, f, text.String(), path, fmt.Sprintf("element <%s>", el.Tag))
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// setValue parses the text s into v according to f.
func (d *xmlDecoder) setValue(v reflect.Value, f *fieldInfo, s, path, where string) {
	if err := parseSimple(v, f, s); err != nil {
		d.add(CodeType, path, fmt.Sprintf("%s: %v", where, err))
	}
}

// parseSimple parses the lexical form s into v: the rules are those of the
// XSD simple types, so that the decoder and xmllint agree.
func parseSimple(v reflect.Value, f *fieldInfo, s string) error {
	switch f.val {
	case valString:
		if f.simple != nil && !f.simple.re.MatchString(s) {
			return fmt.Errorf("%q is not %s", clip(s), f.simple.what)
		}
		v.SetString(s)
	case valInt, valInt64:
		bits := 32
		if f.val == valInt64 {
			bits = 64
		}
		// No whitespace trimming: xmllint refuses padded integers, and the
		// decoder is kept exactly as strict as the XSD's validator.
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", clip(s))
		}
		v.SetInt(n)
	case valBool:
		switch strings.TrimSpace(s) {
		case "true", "1":
			v.SetBool(true)
		case "false", "0":
			v.SetBool(false)
		default:
			return fmt.Errorf("%q is not a boolean: write true or false", clip(s))
		}
	case valDate:
		t := strings.TrimSpace(s)
		if !reDate.MatchString(t) {
			return fmt.Errorf("%q is not a date: write it as YYYY-MM-DD", clip(s))
		}
		dt, err := ParseDate(t)
		if err != nil {
			return err
		}
		if dt.Year == 0 {
			return fmt.Errorf("%q is not a date: the year 0000 does not exist", clip(s))
		}
		v.Set(reflect.ValueOf(dt))
	case valDateTime:
		t := strings.TrimSpace(s)
		if !reDateTime.MatchString(t) {
			return fmt.Errorf("%q is not a date-time: write it as YYYY-MM-DDThh:mm:ss with a zone, e.g. 2026-03-01T10:30:00+07:00", clip(s))
		}
		dt, err := ParseDateTime(t)
		if err != nil {
			return err
		}
		if _, off := dt.Zone(); dt.Year() == 0 || off > 14*3600 || off < -14*3600 {
			return fmt.Errorf("%q is not a date-time: the year must be 0001 or later and the zone offset at most 14:00", clip(s))
		}
		v.Set(reflect.ValueOf(dt))
	case valDecimal:
		var dec Decimal
		t := strings.TrimSpace(s)
		if err := dec.UnmarshalText([]byte(t)); err != nil || t == "" {
			return fmt.Errorf("%q is not a decimal number: write digits with an optional '.' and fraction, e.g. 1250.50", clip(s))
		}
		v.SetString(string(dec))
	case valBytes:
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.Strict().DecodeString(clean)
		if err != nil {
			return fmt.Errorf("the content is not base64: %v", err)
		}
		v.SetBytes(b)
	default:
		return fmt.Errorf("unsupported value kind")
	}
	return nil
}
