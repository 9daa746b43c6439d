package mapping

import (
	"encoding"
	"encoding/base64"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/ecogate/ecogate/schema"
)

// A target path names a field of the canonical dataset by the JSON names of
// the schema types, e.g. supplyChainConsignment.consignor.name. It is
// resolved against the Go types when the profile loads, so a misspelt
// target fails at load time, naming the rule.
//
//	a.b.c          a field
//	a.list[2].c    a fixed element (the list grows as needed)
//	a.list[].c     append: the rule's values go to new elements, value i to
//	               element len+i (one '[]' per path)
//	a.strings      a list of text (e.g. originCriteria, postalAddress.lines):
//	               the values are appended
//	$.a.b          from the certificate root, inside a repeating group

type tstepKind uint8

const (
	tField tstepKind = iota
	tDeref
	tIndex
	tAppend
)

type tstep struct {
	kind  tstepKind
	field int
	index int
	typ   reflect.Type // slice type for tIndex/tAppend, elem type for tDeref
}

type leafKind uint8

const (
	lkObject leafKind = iota
	lkString
	lkText
	lkInt
	lkBool
	lkStringList
	lkBytes
)

type tgtPath struct {
	text   string
	abs    bool
	steps  []tstep
	leaf   leafKind
	typ    reflect.Type
	append int // index of the tAppend step, -1 when none
}

var (
	certType          = reflect.TypeFor[schema.Certificate]()
	textUnmarshalerTy = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// parseTgtPath resolves text against root.
func parseTgtPath(text string, root reflect.Type) (*tgtPath, error) {
	tp := &tgtPath{text: text, append: -1}
	rest := strings.TrimSpace(text)
	if strings.HasPrefix(rest, "$.") {
		tp.abs = true
		rest = rest[2:]
		root = certType
	}
	if rest == "" {
		return nil, fmt.Errorf("empty target path")
	}
	t := root
	for _, seg := range strings.Split(rest, ".") {
		name, idx, _ := strings.Cut(seg, "[")
		if name == "" {
			return nil, fmt.Errorf("target %q: empty field name", text)
		}
		for t.Kind() == reflect.Pointer {
			tp.steps = append(tp.steps, tstep{kind: tDeref, typ: t.Elem()})
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, fmt.Errorf("target %q: %q is a value of type %s and has no field %q", text, strings.TrimSuffix(rest[:strings.Index(rest, seg)], "."), t, name)
		}
		fi, ft, ok := fieldByJSON(t, name)
		if !ok {
			return nil, fmt.Errorf("target %q: %s has no field %q; known: %s", text, t.Name(), name, strings.Join(jsonNames(t), ", "))
		}
		tp.steps = append(tp.steps, tstep{kind: tField, field: fi})
		t = ft
		if idx == "" {
			continue
		}
		idx = "[" + idx
		for idx != "" {
			j := strings.IndexByte(idx, ']')
			if idx[0] != '[' || j < 0 {
				return nil, fmt.Errorf("target %q: malformed index in %q", text, seg)
			}
			in := idx[1:j]
			idx = idx[j+1:]
			if t.Kind() != reflect.Slice || t.Elem().Kind() == reflect.Uint8 {
				return nil, fmt.Errorf("target %q: %q is not a list and takes no index", text, name)
			}
			if in == "" {
				if tp.append >= 0 {
					return nil, fmt.Errorf("target %q: only one '[]' per target path", text)
				}
				tp.append = len(tp.steps)
				tp.steps = append(tp.steps, tstep{kind: tAppend, typ: t})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 || n > 10000 {
					return nil, fmt.Errorf("target %q: index %q must be a number from 0 to 10000, or empty to append", text, in)
				}
				tp.steps = append(tp.steps, tstep{kind: tIndex, index: n, typ: t})
			}
			t = t.Elem()
		}
	}
	for t.Kind() == reflect.Pointer {
		tp.steps = append(tp.steps, tstep{kind: tDeref, typ: t.Elem()})
		t = t.Elem()
	}
	tp.typ = t
	switch {
	case reflect.PointerTo(t).Implements(textUnmarshalerTy):
		tp.leaf = lkText
	case t.Kind() == reflect.String:
		tp.leaf = lkString
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		tp.leaf = lkInt
	case t.Kind() == reflect.Bool:
		tp.leaf = lkBool
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		tp.leaf = lkBytes
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		tp.leaf = lkStringList
	default:
		tp.leaf = lkObject
	}
	return tp, nil
}

func fieldByJSON(t reflect.Type, name string) (int, reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return i, f.Type, true
		}
	}
	return 0, nil, false
}

func jsonNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		out = append(out, tag)
	}
	return out
}

// walk returns the value the steps lead to from root, allocating pointers
// and growing lists on the way. appendAt is the element index used at the
// '[]' step.
func (tp *tgtPath) walk(root reflect.Value, appendAt int, upto int) reflect.Value {
	v := root
	for _, st := range tp.steps[:upto] {
		switch st.kind {
		case tField:
			v = v.Field(st.field)
		case tDeref:
			if v.IsNil() {
				v.Set(reflect.New(st.typ))
			}
			v = v.Elem()
		case tIndex, tAppend:
			n := st.index
			if st.kind == tAppend {
				n = appendAt
			}
			if v.Len() <= n {
				nv := reflect.MakeSlice(v.Type(), n+1, n+1)
				reflect.Copy(nv, v)
				v.Set(nv)
			}
			v = v.Index(n)
		}
	}
	return v
}

// appendBase returns the current length of the list at the '[]' step.
func (tp *tgtPath) appendBase(root reflect.Value) int {
	if tp.append < 0 {
		return 0
	}
	return tp.walk(root, 0, tp.append).Len()
}

// set stores the text s at the target, converting it to the field's type.
func (tp *tgtPath) set(root reflect.Value, appendAt int, s string) error {
	v := tp.walk(root, appendAt, len(tp.steps))
	switch tp.leaf {
	case lkText:
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return err
		}
	case lkString:
		v.SetString(s)
	case lkInt:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case lkBool:
		b, ok := parseBool(s)
		if !ok {
			return fmt.Errorf("%q is not a yes/no value (true/false, yes/no, y/n, 1/0)", s)
		}
		v.SetBool(b)
	case lkBytes:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return fmt.Errorf("not base64 content: %v", err)
		}
		v.SetBytes(b)
	case lkStringList:
		v.Set(reflect.Append(v, reflect.ValueOf(s)))
	default:
		return fmt.Errorf("target %s is a group of fields (%s), not a single value: name one of its fields (%s), or use a shaping transform (hs, unit, identifier)", tp.text, tp.typ, strings.Join(jsonNames(tp.typ), ", "))
	}
	return nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y", "1", "x":
		return true, true
	case "false", "no", "n", "0", "":
		return false, true
	}
	return false, false
}
