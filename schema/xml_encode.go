package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// EncodeXML writes the certificate as a CertificateOfOrigin document in
// namespace urn:ecogate:eco:1: an XML declaration, then the elements in the
// order of the XSD, indented by two spaces. Optional elements that are
// empty (nil pointers, empty strings and slices, zero dates) are left out;
// required ones are always written. Binary content is base64.
//
// It fails only when a string holds a character XML cannot carry (a
// control character or invalid UTF-8) or when c is nil. The output is
// deterministic: the same value always gives the same bytes, and
// DecodeXML(EncodeXML(c)) gives back c.
func EncodeXML(c *Certificate) ([]byte, error) {
	if c == nil {
		return nil, errors.New("encode certificate: nil certificate")
	}
	return encodeRoot("CertificateOfOrigin", reflect.ValueOf(c).Elem())
}

// EncodeOutcomeXML writes an ImportOutcome document like EncodeXML.
func EncodeOutcomeXML(o *Outcome) ([]byte, error) {
	if o == nil {
		return nil, errors.New("encode outcome: nil outcome")
	}
	return encodeRoot("ImportOutcome", reflect.ValueOf(o).Elem())
}

func encodeRoot(name string, v reflect.Value) ([]byte, error) {
	ti, err := infoOf(v.Type())
	if err != nil {
		return nil, err
	}
	e := &xmlEncoder{}
	e.buf.WriteString(xml.Header)
	e.writeStruct(v, ti, name, ` xmlns="`+Namespace+`"`, 0, nil)
	if e.err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, e.err)
	}
	return e.buf.Bytes(), nil
}

type xmlEncoder struct {
	buf bytes.Buffer
	err error
}

func (e *xmlEncoder) indent(depth int) {
	for i := 0; i < depth; i++ {
		e.buf.WriteString("  ")
	}
}

// encPath is the dataset path of the value being written (e.g.
// consignment.items[2].product.hsCode) as a chain of small nodes, turned
// into a string only for an error message (the nodes still escape to the
// heap through the writeStruct/writeValue recursion, one per element).
type encPath struct {
	parent *encPath
	name   string
	index  int // >= 0: an element of a repeated field
}

func (p *encPath) String() string {
	if p == nil {
		return ""
	}
	s := joinPath(p.parent.String(), p.name)
	if p.index >= 0 {
		s += "[" + strconv.Itoa(p.index) + "]"
	}
	return s
}

func (e *xmlEncoder) escape(s string, path *encPath) {
	if !xmlSafe(s) {
		if e.err == nil {
			e.err = fmt.Errorf("%s: the text holds a character XML cannot carry (control character or invalid UTF-8)", path.String())
		}
		return
	}
	if !strings.ContainsAny(s, "\"'&<>\t\n\r") {
		e.buf.WriteString(s) // nothing to escape: what xml.EscapeText would write
		return
	}
	_ = xml.EscapeText(&e.buf, []byte(s))
}

func (e *xmlEncoder) open(name, extra string) {
	e.buf.WriteByte('<')
	e.buf.WriteString(name)
	e.buf.WriteString(extra)
}

func (e *xmlEncoder) close(name string) {
	e.buf.WriteString("</")
	e.buf.WriteString(name)
	e.buf.WriteString(">\n")
}

// isEmpty reports whether an optional value is left out.
func isEmpty(v reflect.Value, f *fieldInfo) bool {
	switch f.val {
	case valDate:
		return v.Interface().(Date).IsZero()
	case valDateTime:
		return v.Interface().(DateTime).IsZero()
	case valStruct:
		return false
	}
	return v.IsZero()
}

// formatSimple writes the lexical form of a simple value.
func formatSimple(v reflect.Value, f *fieldInfo) string {
	switch f.val {
	case valString, valDecimal:
		return v.String()
	case valInt, valInt64:
		return strconv.FormatInt(v.Int(), 10)
	case valBool:
		return strconv.FormatBool(v.Bool())
	case valDate:
		return v.Interface().(Date).String()
	case valDateTime:
		return v.Interface().(DateTime).String()
	case valBytes:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	}
	return ""
}

func (e *xmlEncoder) writeStruct(v reflect.Value, ti *typeInfo, name, extra string, depth int, path *encPath) {
	e.indent(depth)
	e.open(name, extra)
	for _, f := range ti.attrs {
		fv := v.Field(f.index)
		if f.xmlOmit && isEmpty(fv, f) {
			continue
		}
		e.buf.WriteByte(' ')
		e.buf.WriteString(f.xmlName)
		e.buf.WriteString(`="`)
		e.escape(formatSimple(fv, f), &encPath{parent: path, name: f.jsonName, index: -1})
		e.buf.WriteByte('"')
	}
	if ti.text != nil {
		e.buf.WriteByte('>')
		e.escape(formatSimple(v.Field(ti.text.index), ti.text), &encPath{parent: path, name: ti.text.jsonName, index: -1})
		e.close(name)
		return
	}
	mark := e.buf.Len()
	e.buf.WriteString(">\n")
	wrote := false
	for _, f := range ti.elems {
		fv := v.Field(f.index)
		switch {
		case f.repeated:
			for i := 0; i < fv.Len(); i++ {
				e.writeValue(fv.Index(i), f, depth+1, &encPath{parent: path, name: f.jsonName, index: i})
				wrote = true
			}
		case f.pointer:
			if !fv.IsNil() {
				e.writeValue(fv.Elem(), f, depth+1, &encPath{parent: path, name: f.jsonName, index: -1})
				wrote = true
			}
		default:
			if f.xmlOmit && isEmpty(fv, f) {
				continue
			}
			e.writeValue(fv, f, depth+1, &encPath{parent: path, name: f.jsonName, index: -1})
			wrote = true
		}
	}
	if !wrote {
		e.buf.Truncate(mark)
		e.buf.WriteString("/>\n")
		return
	}
	e.indent(depth)
	e.close(name)
}

func (e *xmlEncoder) writeValue(v reflect.Value, f *fieldInfo, depth int, path *encPath) {
	if f.val == valStruct {
		ti, err := infoOf(f.typ)
		if err != nil {
			if e.err == nil {
				e.err = err
			}
			return
		}
		e.writeStruct(v, ti, f.xmlName, "", depth, path)
		return
	}
	e.indent(depth)
	e.open(f.xmlName, "")
	e.buf.WriteByte('>')
	e.escape(formatSimple(v, f), path)
	e.close(f.xmlName)
}
