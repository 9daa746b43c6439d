package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
)

// EncodeJSON writes the certificate in its JSON form (member names of the
// edi3 Certificate of Origin), indented by two spaces. It fails when c is
// nil.
func EncodeJSON(c *Certificate) ([]byte, error) {
	if c == nil {
		return nil, errors.New("encode certificate: nil certificate")
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode certificate as JSON: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeJSON reads a certificate in its JSON form under the same contract
// as DecodeXML: a certificate and no findings, or nil and SEVERE findings
// in area "schema" (codes CodeNotJSON, CodeTooLarge, CodeTooDeep,
// CodeUnknownField, CodeDuplicate, CodeMissing, CodeTooMany, CodeType).
//
// It is strict: member names match exactly (encoding/json alone would
// match them case-insensitively), unknown and repeated members are refused,
// required members must be present, values must have the type and form the
// JSON Schema (JSONSchema()) gives them, and strings must be carriable in
// XML, so that a certificate read from JSON can always be written as XML.
// Paths are JSON member paths, indexes counted from 0.
func DecodeJSON(b []byte, opts DecodeOptions) (*Certificate, Findings) {
	if int64(len(b)) > opts.maxBytes() {
		return nil, Findings{severe(CodeTooLarge, "", fmt.Sprintf("the document is %d bytes, more than the limit of %d bytes: split it or ask the operator to raise the limit", len(b), opts.maxBytes()))}
	}
	if fs := checkJSON(b, reflect.TypeFor[Certificate](), opts); fs != nil {
		return nil, fs
	}
	c := new(Certificate)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		// checkJSON should have caught it; report rather than accept.
		var te *json.UnmarshalTypeError
		path := ""
		if errors.As(err, &te) {
			path = te.Field
		}
		return nil, Findings{severe(CodeType, path, fmt.Sprintf("the JSON does not fit the dataset: %v", err))}
	}
	return c, nil
}

// checkJSON walks the JSON tokens against the field tables.
func checkJSON(b []byte, t reflect.Type, opts DecodeOptions) (fs Findings) {
	defer func() {
		if r := recover(); r != nil {
			fs = Findings{severe(CodeInternal, "", fmt.Sprintf("the decoder failed (%v): please report this document to the ecogate maintainers", r))}
		}
	}()
	ti, err := infoOf(t)
	if err != nil {
		return Findings{severe(CodeInternal, "", err.Error())}
	}
	w := &jsonWalker{dec: json.NewDecoder(bytes.NewReader(b)), maxDepth: opts.maxDepth()}
	w.dec.UseNumber()
	if err := w.object(ti, "", 1); err != nil {
		return w.fatal(err)
	}
	if _, err := w.dec.Token(); err != io.EOF {
		return Findings{severe(CodeNotJSON, "", "the body holds more than one JSON value: send exactly one object")}
	}
	return w.fs
}

// errTooDeep and syntax errors stop the walk; other problems are findings.
var errJSONTooDeep = errors.New("too deep")

type jsonWalker struct {
	dec      *json.Decoder
	fs       Findings
	maxDepth int
}

func (w *jsonWalker) fatal(err error) Findings {
	if errors.Is(err, errJSONTooDeep) {
		return Findings{severe(CodeTooDeep, "", fmt.Sprintf("objects and arrays nest deeper than %d levels: this is not a certificate of origin", w.maxDepth))}
	}
	return Findings{severe(CodeNotJSON, "", fmt.Sprintf("the body is not well-formed JSON (%v): send one JSON object", err))}
}

func (w *jsonWalker) add(code, path, msg string) {
	if len(w.fs) < maxFindings {
		w.fs = append(w.fs, severe(code, path, msg))
	}
}

func kindOfToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a value"
}

// skip consumes the rest of a value whose first token is tok.
func (w *jsonWalker) skip(tok json.Token, depth int) error {
	d, ok := tok.(json.Delim)
	if !ok || (d != '{' && d != '[') {
		return nil
	}
	if depth > w.maxDepth {
		return errJSONTooDeep
	}
	for w.dec.More() {
		if d == '{' {
			if _, err := w.dec.Token(); err != nil { // key
				return err
			}
		}
		t, err := w.dec.Token()
		if err != nil {
			return err
		}
		if err := w.skip(t, depth+1); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // closing delimiter
	return err
}

// object checks one JSON object against ti; the '{' is still to be read.
func (w *jsonWalker) object(ti *typeInfo, path string, depth int) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	return w.objectFrom(tok, ti, path, depth)
}

func (w *jsonWalker) objectFrom(tok json.Token, ti *typeInfo, path string, depth int) error {
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		if path == "" {
			return fmt.Errorf("the body is %s, not a JSON object", kindOfToken(tok))
		}
		w.add(CodeType, path, fmt.Sprintf("expected an object, got %s", kindOfToken(tok)))
		return w.skip(tok, depth)
	}
	if depth > w.maxDepth {
		return errJSONTooDeep
	}
	seen := map[string]bool{}
	for w.dec.More() {
		kt, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		vt, err := w.dec.Token()
		if err != nil {
			return err
		}
		f := ti.byJSON[key]
		if f == nil {
			w.add(CodeUnknownField, joinPath(path, key), fmt.Sprintf("unknown member %q: remove it (member names are case-sensitive)", key))
			if err := w.skip(vt, depth+1); err != nil {
				return err
			}
			continue
		}
		fpath := joinPath(path, key)
		if seen[key] {
			w.add(CodeDuplicate, fpath, fmt.Sprintf("member %q appears twice", key))
			if err := w.skip(vt, depth+1); err != nil {
				return err
			}
			continue
		}
		seen[key] = true
		if err := w.field(vt, f, fpath, depth+1); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil { // '}'
		return err
	}
	for _, f := range ti.all {
		if seen[f.jsonName] || !f.jsonRequired() {
			continue
		}
		w.add(CodeMissing, joinPath(path, f.jsonName), fmt.Sprintf("member %q is required", f.jsonName))
	}
	return nil
}

func (w *jsonWalker) field(tok json.Token, f *fieldInfo, path string, depth int) error {
	if tok == nil {
		if f.repeated && f.jsonRequired() {
			w.add(CodeMissing, path, "the list must hold at least one entry, not null")
			return nil
		}
		w.add(CodeType, path, "null is not allowed: give a value or leave the member out")
		return nil
	}
	if f.repeated {
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			w.add(CodeType, path, fmt.Sprintf("expected an array, got %s", kindOfToken(tok)))
			return w.skip(tok, depth)
		}
		if depth > w.maxDepth {
			return errJSONTooDeep
		}
		n := 0
		for w.dec.More() {
			et, err := w.dec.Token()
			if err != nil {
				return err
			}
			if err := w.single(et, f, fmt.Sprintf("%s[%d]", path, n), depth+1); err != nil {
				return err
			}
			n++
		}
		if _, err := w.dec.Token(); err != nil { // ']'
			return err
		}
		if n == 0 && f.jsonRequired() {
			w.add(CodeMissing, path, "the list must hold at least one entry")
		}
		if f.maxOccurs > 0 && n > f.maxOccurs {
			w.add(CodeTooMany, path, fmt.Sprintf("the list holds %d entries, at most %d are allowed", n, f.maxOccurs))
		}
		return nil
	}
	return w.single(tok, f, path, depth)
}

// single checks one value (not an array of the field).
func (w *jsonWalker) single(tok json.Token, f *fieldInfo, path string, depth int) error {
	if f.val == valStruct {
		ti, err := infoOf(f.typ)
		if err != nil {
			w.add(CodeInternal, path, err.Error())
			return w.skip(tok, depth)
		}
		return w.objectFrom(tok, ti, path, depth)
	}
	switch f.val {
	case valInt, valInt64:
		n, ok := tok.(json.Number)
		if !ok {
			w.add(CodeType, path, fmt.Sprintf("expected a whole number, got %s", kindOfToken(tok)))
			return w.skip(tok, depth)
		}
		bits := 32
		if f.val == valInt64 {
			bits = 64
		}
		if _, err := strconv.ParseInt(string(n), 10, bits); err != nil {
			w.add(CodeType, path, fmt.Sprintf("%s is not a whole number in range", n))
		}
		return nil
	case valBool:
		if _, ok := tok.(bool); !ok {
			w.add(CodeType, path, fmt.Sprintf("expected true or false, got %s", kindOfToken(tok)))
			return w.skip(tok, depth)
		}
		return nil
	}
	s, ok := tok.(string)
	if !ok {
		w.add(CodeType, path, fmt.Sprintf("expected a string, got %s", kindOfToken(tok)))
		return w.skip(tok, depth)
	}
	switch f.val {
	case valBytes:
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			w.add(CodeType, path, "the content is not base64")
		}
		return nil
	case valString:
		if !xmlSafe(s) {
			w.add(CodeType, path, "the text holds a control character or invalid UTF-8, which the XML form cannot carry")
			return nil
		}
	}
	switch f.val {
	case valString, valDate, valDateTime, valDecimal:
		if s == "" && f.jsonOmit && !f.repeated {
			// encoding/json writes omitted zero values as absent; an
			// empty string is the zero value and is accepted.
			return nil
		}
	}
	var scratch reflect.Value
	switch f.val {
	case valString:
		scratch = reflect.New(f.typ).Elem()
	case valDate:
		scratch = reflect.New(typeDate).Elem()
	case valDateTime:
		scratch = reflect.New(typeDateTime).Elem()
	case valDecimal:
		scratch = reflect.New(typeDecimal).Elem()
	}
	if err := parseSimple(scratch, f, s); err != nil {
		w.add(CodeType, path, err.Error())
	}
	return nil
}
