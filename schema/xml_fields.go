package schema

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"unicode/utf8"
)

// This file builds, once per Go type, the table of fields that the XML
// encoder and decoder, the JSON decoder and the schema generators share, so
// that the four agree on names, order, cardinality and value types.

type nodeKind int

const (
	nodeElem nodeKind = iota // a child element (`xml:"Name"`)
	nodeAttr                 // an attribute (`xml:"name,attr"`)
	nodeText                 // the character data (`xml:",chardata"`)
)

type valueKind int

const (
	valString valueKind = iota
	valInt
	valInt64
	valBool
	valDate
	valDateTime
	valDecimal
	valBytes
	valStruct
)

var (
	typeDate     = reflect.TypeFor[Date]()
	typeDateTime = reflect.TypeFor[DateTime]()
	typeDecimal  = reflect.TypeFor[Decimal]()
	typeBytes    = reflect.TypeFor[[]byte]()
)

// simpleType is a restricted string type shared by the decoder and the XSD.
type simpleType struct {
	name    string // XSD / JSON Schema name
	pattern string // XSD regex (implicitly anchored)
	re      *regexp.Regexp
	what    string // for messages
}

func newSimpleType(name, pattern, what string) *simpleType {
	return &simpleType{name: name, pattern: pattern, re: regexp.MustCompile(`^(?:` + pattern + `)$`), what: what}
}

var (
	stCountry  = newSimpleType("CountryCodeType", `[A-Z]{2}`, "an ISO 3166-1 alpha-2 country code (two capital letters, e.g. VN)")
	stCurrency = newSimpleType("CurrencyCodeType", `[A-Z]{3}`, "an ISO 4217 currency code (three capital letters, e.g. USD)")
	stHS       = newSimpleType("HSCodeType", `[0-9]{6}`, "a 6-digit HS subheading (digits only, e.g. 610910)")
	stLanguage = newSimpleType("LanguageCodeType", `[a-z]{2}`, "an ISO 639-1 language code (two small letters, e.g. en)")
	stUUID     = newSimpleType("UUIDType", `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`, "a UUID (e.g. 0b8e3f1c-5d2a-4c7e-9f10-2a6b8c4d1e3f)")

	// Lexical forms accepted for dates, date-times and decimals: the Go
	// parsers and the XSD patterns agree on them.
	reDate     = regexp.MustCompile(`^` + patDate + `$`)
	reDateTime = regexp.MustCompile(`^` + patDateTime + `$`)
)

const (
	patDate     = `[0-9]{4}-[0-9]{2}-[0-9]{2}`
	patDateTime = `[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+\-][0-9]{2}:[0-9]{2})`
	patDecimal  = `-?(0|[1-9][0-9]*)(\.[0-9]+)?`
)

// fieldSimpleTypes restricts string fields, keyed by "GoType.GoField".
var fieldSimpleTypes = map[string]*simpleType{
	"Address.CountryCode":               stCountry,
	"Header.ExportCountry":              stCountry,
	"Header.ImportCountry":              stCountry,
	"Header.LanguageCode":               stLanguage,
	"Header.UUID":                       stUUID,
	"Consignment.TransitCountries":      stCountry,
	"TradeProduct.HSCode":               stHS,
	"TradeProduct.OriginCountry":        stCountry,
	"OriginalProof.IssuingCountry":      stCountry,
	"OriginalProof.RCEPCountryOfOrigin": stCountry,
	"Amount.Currency":                   stCurrency,
	"Outcome.ExportCountry":             stCountry,
	"Outcome.ImportCountry":             stCountry,
}

// fieldMaxOccurs bounds repeating elements, keyed by "GoType.GoField".
var fieldMaxOccurs = map[string]int{
	"GoodsItem.OriginCriteria": 3,
}

// fieldInfo describes one Go field in both codecs.
type fieldInfo struct {
	goName    string
	index     int
	node      nodeKind
	xmlName   string
	jsonName  string
	xmlOmit   bool // xml omitempty: the element or attribute is optional
	jsonOmit  bool // json omitempty or omitzero
	repeated  bool // a slice other than []byte
	pointer   bool
	maxOccurs int          // 0: unbounded
	typ       reflect.Type // the element type after stripping slice and pointer
	val       valueKind
	simple    *simpleType
}

// required reports whether the XML element or attribute must be present.
func (f *fieldInfo) required() bool { return !f.pointer && !f.xmlOmit }

// jsonRequired reports whether the JSON member must be present.
func (f *fieldInfo) jsonRequired() bool { return !f.pointer && !f.jsonOmit }

// typeInfo is the field table of one struct type.
type typeInfo struct {
	typ    reflect.Type
	elems  []*fieldInfo // child elements in XML (= XSD) order
	attrs  []*fieldInfo
	text   *fieldInfo
	all    []*fieldInfo // every field in Go order
	byXML  map[string]int
	byJSON map[string]*fieldInfo
}

// typeCache maps reflect.Type to *typeInfo; it is the only package-level
// state and it is a pure cache of values derived from the type definitions.
var typeCache sync.Map

func infoOf(t reflect.Type) (*typeInfo, error) {
	if ti, ok := typeCache.Load(t); ok {
		return ti.(*typeInfo), nil
	}
	ti, err := buildTypeInfo(t)
	if err != nil {
		return nil, err
	}
	actual, _ := typeCache.LoadOrStore(t, ti)
	return actual.(*typeInfo), nil
}

func valueKindOf(t reflect.Type) (valueKind, error) {
	switch t {
	case typeDate:
		return valDate, nil
	case typeDateTime:
		return valDateTime, nil
	case typeDecimal:
		return valDecimal, nil
	case typeBytes:
		return valBytes, nil
	}
	switch t.Kind() {
	case reflect.String:
		return valString, nil
	case reflect.Int:
		return valInt, nil
	case reflect.Int64:
		return valInt64, nil
	case reflect.Bool:
		return valBool, nil
	case reflect.Struct:
		return valStruct, nil
	}
	return 0, fmt.Errorf("unsupported field type %s", t)
}

func buildTypeInfo(t reflect.Type) (*typeInfo, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("schema codec: %s is not a struct", t)
	}
	ti := &typeInfo{typ: t, byXML: map[string]int{}, byJSON: map[string]*fieldInfo{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Name == "XMLName" || !sf.IsExported() {
			continue
		}
		xtag := sf.Tag.Get("xml")
		if xtag == "-" {
			continue
		}
		f := &fieldInfo{goName: sf.Name, index: i}
		parts := strings.Split(xtag, ",")
		f.xmlName = parts[0]
		for _, p := range parts[1:] {
			switch p {
			case "attr":
				f.node = nodeAttr
			case "chardata":
				f.node = nodeText
			case "omitempty":
				f.xmlOmit = true
			}
		}
		if f.xmlName == "" && f.node != nodeText {
			f.xmlName = sf.Name
		}
		jparts := strings.Split(sf.Tag.Get("json"), ",")
		f.jsonName = jparts[0]
		if f.jsonName == "" {
			f.jsonName = sf.Name
		}
		for _, p := range jparts[1:] {
			if p == "omitempty" || p == "omitzero" {
				f.jsonOmit = true
			}
		}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			f.pointer = true
			ft = ft.Elem()
		} else if ft.Kind() == reflect.Slice && ft != typeBytes {
			f.repeated = true
			ft = ft.Elem()
		}
		f.typ = ft
		vk, err := valueKindOf(ft)
		if err != nil {
			return nil, fmt.Errorf("schema codec: %s.%s: %w", t.Name(), sf.Name, err)
		}
		f.val = vk
		key := t.Name() + "." + sf.Name
		f.simple = fieldSimpleTypes[key]
		f.maxOccurs = fieldMaxOccurs[key]
		if f.node != nodeElem && (vk == valStruct || f.repeated || f.pointer) {
			return nil, fmt.Errorf("schema codec: %s.%s: an attribute or text must be a simple value", t.Name(), sf.Name)
		}
		switch f.node {
		case nodeElem:
			if _, dup := ti.byXML[f.xmlName]; dup {
				return nil, fmt.Errorf("schema codec: %s: two fields named <%s>", t.Name(), f.xmlName)
			}
			ti.byXML[f.xmlName] = len(ti.elems)
			ti.elems = append(ti.elems, f)
		case nodeAttr:
			ti.attrs = append(ti.attrs, f)
		case nodeText:
			ti.text = f
		}
		if _, dup := ti.byJSON[f.jsonName]; dup {
			return nil, fmt.Errorf("schema codec: %s: two fields named %q in JSON", t.Name(), f.jsonName)
		}
		ti.byJSON[f.jsonName] = f
		ti.all = append(ti.all, f)
	}
	if ti.text != nil && len(ti.elems) > 0 {
		return nil, fmt.Errorf("schema codec: %s mixes text and elements", t.Name())
	}
	return ti, nil
}

// joinPath appends a JSON member name to a path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// xmlSafe reports whether s is valid UTF-8 made only of XML characters.
func xmlSafe(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' {
			// Either a real U+FFFD (allowed) or invalid UTF-8.
			continue
		}
		if !isXMLChar(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}
