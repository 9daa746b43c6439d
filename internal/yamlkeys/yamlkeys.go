package yamlkeys

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxProblems bounds the problems reported for one file.
const maxProblems = 10

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// Explain returns a readable error for decodeErr, the error of decoding
// data strictly into a value of v's type (v is a pointer, as given to
// Decode). It walks the YAML against the type and reports every unknown
// key and every place where a mapping or a list was expected and something
// else was found. When it finds nothing to say (a syntax error, a value of
// the wrong scalar type) it returns decodeErr with any Go type in it
// replaced by a plain word.
func Explain(data []byte, v any, decodeErr error) error {
	if decodeErr == nil {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return plain(decodeErr)
	}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var probs []string
	walk(doc.Content[0], t, "", &probs)
	if len(probs) == 0 {
		return plain(decodeErr)
	}
	if len(probs) > maxProblems {
		probs = append(probs[:maxProblems], fmt.Sprintf("and %d more", len(probs)-maxProblems))
	}
	return errors.New(strings.Join(probs, "; "))
}

// field is one key a struct accepts.
type field struct {
	name string
	typ  reflect.Type
}

// fields lists the YAML keys of struct type t in declaration order
// (following yaml.v3's rules: the tag's name, else the lower-cased field
// name; "-" and unexported fields are skipped; ",inline" is flattened).
func fields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				fs = append(fs, fields(ft)...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs = append(fs, field{name, f.Type})
	}
	return fs
}

func kindWord(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	default:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
}

// walk checks node n against type t; at is where n sits ("" for the top).
func walk(n *yaml.Node, t reflect.Type, at string, probs *[]string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType) {
		return // the type checks itself
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	where := at
	if where == "" {
		where = "the top level"
	}
	switch t.Kind() {
	case reflect.Struct:
		fs := fields(t)
		names := make([]string, len(fs))
		for i, f := range fs {
			names[i] = f.name
		}
		if n.Kind != yaml.MappingNode {
			*probs = append(*probs, fmt.Sprintf("line %d: %s must be a mapping with the keys %s, not %s", n.Line, where, strings.Join(names, ", "), kindWord(n)))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				walk(val, t, at, probs)
				continue
			}
			var ft reflect.Type
			for _, f := range fs {
				if f.name == k.Value {
					ft = f.typ
					break
				}
			}
			if ft == nil {
				hint := ""
				for _, nm := range names {
					if strings.EqualFold(nm, k.Value) {
						hint = fmt.Sprintf(" (did you mean %q? keys are case-sensitive)", nm)
					}
				}
				*probs = append(*probs, fmt.Sprintf("line %d: unknown key %q in %s%s; the keys allowed there are: %s",
					k.Line, k.Value, where, hint, strings.Join(names, ", ")))
				continue
			}
			walk(val, ft, join(at, k.Value), probs)
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return
		}
		if n.Kind != yaml.SequenceNode {
			if n.Kind == yaml.MappingNode {
				*probs = append(*probs, fmt.Sprintf("line %d: %s must be a list (- item lines or [a, b]), not a mapping", n.Line, where))
			}
			return // a scalar for a list: yaml's own message is clear enough
		}
		for i, e := range n.Content {
			walk(e, t.Elem(), fmt.Sprintf("%s[%d]", at, i), probs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*probs = append(*probs, fmt.Sprintf("line %d: %s must be a mapping, not %s", n.Line, where, kindWord(n)))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], t.Elem(), join(at, n.Content[i].Value), probs)
		}
	default:
		if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
			*probs = append(*probs, fmt.Sprintf("line %d: %s must be a single value (%s), not %s", n.Line, where, t.Kind(), kindWord(n)))
		}
	}
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// plain rewrites yaml.v3's messages without Go type names: "cannot
// unmarshal !!str `abc` into int" stays readable, a struct type dump
// becomes "a mapping".
func plain(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if i := strings.Index(m, " into struct {"); i >= 0 {
			m = m[:i] + " into a mapping"
		} else if i := strings.Index(m, " in type struct {"); i >= 0 {
			m = m[:i]
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}
