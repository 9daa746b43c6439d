package schema

import (
	_ "embed"
	"encoding/json"
	"reflect"
)

//go:embed jsonschema/eco-1.schema.json
var jsonSchemaEco1 []byte

// JSONSchema returns the published JSON Schema (draft 2020-12) of the JSON
// form of a certificate (schema/jsonschema/eco-1.schema.json). DecodeJSON
// applies the same rules. The returned slice is a copy.
func JSONSchema() []byte { return append([]byte(nil), jsonSchemaEco1...) }

// generateJSONSchema derives the JSON Schema from the Go types; a test keeps
// the committed file equal to it.
func generateJSONSchema() ([]byte, error) {
	defs := map[string]any{}
	if err := jsonSchemaDef(reflect.TypeFor[Certificate](), defs); err != nil {
		return nil, err
	}
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "urn:ecogate:eco:1:certificate.schema.json",
		"title":       "ecogate canonical e-CO (certificate of origin), version 1",
		"description": "JSON form of urn:ecogate:eco:1 CertificateOfOrigin, member names after the edi3 Certificate of Origin. Generated from the Go types in github.com/ecogate/ecogate/schema; do not edit by hand.",
		"$ref":        "#/$defs/Certificate",
		"$defs":       defs,
	}
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func jsonSchemaDef(t reflect.Type, defs map[string]any) error {
	if _, ok := defs[t.Name()]; ok {
		return nil
	}
	ti, err := infoOf(t)
	if err != nil {
		return err
	}
	props := map[string]any{}
	required := []string{}
	def := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	defs[t.Name()] = def
	for _, f := range ti.all {
		var item map[string]any
		if f.val == valStruct {
			if err := jsonSchemaDef(f.typ, defs); err != nil {
				return err
			}
			item = map[string]any{"$ref": "#/$defs/" + f.typ.Name()}
		} else {
			item = jsonSchemaSimple(f)
		}
		if f.repeated {
			arr := map[string]any{"type": "array", "items": item}
			if f.jsonRequired() {
				arr["minItems"] = 1
			}
			if f.maxOccurs > 0 {
				arr["maxItems"] = f.maxOccurs
			}
			item = arr
		}
		props[f.jsonName] = item
		if f.jsonRequired() {
			required = append(required, f.jsonName)
		}
	}
	if len(required) > 0 {
		def["required"] = required
	}
	return nil
}

func jsonSchemaSimple(f *fieldInfo) map[string]any {
	optional := func(p string) string {
		if f.jsonOmit && !f.repeated {
			return "^(" + p + ")?$" // "" is the zero value, as good as absent
		}
		return "^(" + p + ")$"
	}
	switch f.val {
	case valInt:
		return map[string]any{"type": "integer", "minimum": -2147483648, "maximum": 2147483647}
	case valInt64:
		return map[string]any{"type": "integer"}
	case valBool:
		return map[string]any{"type": "boolean"}
	case valDate:
		return map[string]any{"type": "string", "pattern": optional(patDate), "description": "calendar date YYYY-MM-DD"}
	case valDateTime:
		return map[string]any{"type": "string", "pattern": optional(patDateTime), "description": "RFC 3339 date-time with a zone"}
	case valDecimal:
		return map[string]any{"type": "string", "pattern": optional(patDecimal), "description": "exact decimal number as text"}
	case valBytes:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	}
	if f.simple != nil {
		return map[string]any{"type": "string", "pattern": optional(f.simple.pattern), "description": f.simple.what}
	}
	return map[string]any{"type": "string"}
}
