package strictjson

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Error is a refused body. Field is the path of the offending member in
// the documented form ("items[0].quantity.value"), or "body" when the
// problem is the body as a whole; Reason says what is wrong.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

// options: unknown members are refused; duplicate names, invalid UTF-8
// and case-insensitive matches are refused by the package's defaults.
var options = json.RejectUnknownMembers(true)

// Unmarshal decodes data, which must be one JSON value, into v. Any
// refusal is an *Error.
func Unmarshal(data []byte, v any) error {
	if !utf8.Valid(data) {
		return &Error{Field: "body", Reason: fmt.Sprintf("not valid UTF-8 (first bad byte at offset %d): send UTF-8 text", badUTF8(data))}
	}
	err := json.Unmarshal(data, v, options)
	if err == nil {
		return nil
	}
	return explain(err)
}

// badUTF8 is the offset of the first byte of data that is not UTF-8.
func badUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

// explain turns a decoder error into an *Error.
func explain(err error) *Error {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &syn):
		field := Path(syn.JSONPointer)
		switch {
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return &Error{Field: field, Reason: "appears twice in the same object: send each field once"}
		case strings.Contains(syn.Err.Error(), "after top-level value"):
			return &Error{Field: "body", Reason: fmt.Sprintf("trailing data after the JSON value at byte offset %d: send exactly one JSON object", syn.ByteOffset)}
		case strings.Contains(syn.Err.Error(), "UTF-8") || strings.Contains(syn.Err.Error(), "surrogate"):
			return &Error{Field: field, Reason: "holds an invalid character escape (a lone UTF-16 surrogate): send valid Unicode"}
		}
		return &Error{Field: orBody(field), Reason: fmt.Sprintf("not valid JSON at byte offset %d: %v", syn.ByteOffset, syn.Err)}
	case errors.As(err, &sem):
		field := Path(sem.JSONPointer)
		if errors.Is(sem.Err, json.ErrUnknownName) {
			return &Error{Field: field, Reason: "unknown field: remove it (names are case sensitive)"}
		}
		if sem.GoType != nil && sem.JSONKind != 0 && sem.JSONKind != jsontext.KindNull {
			want := kindOf(sem.GoType)
			if got := jsonKind(sem.JSONKind); want != "" && got != want {
				return &Error{Field: orBody(field), Reason: "must be " + want + ", not " + got}
			}
		}
		if sem.Err != nil {
			return &Error{Field: orBody(field), Reason: "invalid value: " + sem.Err.Error()}
		}
		return &Error{Field: orBody(field), Reason: "invalid value: " + err.Error()}
	}
	return &Error{Field: "body", Reason: "not valid JSON: " + err.Error()}
}

func orBody(field string) string {
	if field == "" {
		return "body"
	}
	return field
}

// Path writes a JSON pointer (/items/0/quantity) as the field path the
// documentation uses (items[0].quantity).
func Path(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if tok == "" {
			tok = `""` // an empty member name
		}
		if _, err := strconv.Atoi(tok); err == nil && tok != "" && tok[0] != '-' {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// kindOf names the JSON kind a Go type is read from.
func kindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return ""
}

var textUnmarshaler = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()

func jsonKind(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "true or false"
	case '[':
		return "an array"
	case '{':
		return "an object"
	case 'n':
		return "null"
	}
	return "something else"
}
