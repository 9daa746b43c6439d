package schema

import (
	_ "embed"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

//go:embed xsd/eco-1.xsd
var xsdEco1 []byte

// XSD returns the published XML Schema of the dataset (schema/xsd/eco-1.xsd):
// root elements CertificateOfOrigin and ImportOutcome in namespace
// urn:ecogate:eco:1. It fixes element order and cardinality and allows one
// ds:Signature, and only as the last child of CertificateOfOrigin. The
// returned slice is a copy.
func XSD() []byte { return append([]byte(nil), xsdEco1...) }

// generateXSD derives the XSD from the Go types; a test keeps the committed
// file equal to it (go test ./schema -run TestSchemaFilesUpToDate -update).
func generateXSD() (string, error) {
	g := &xsdGen{done: map[reflect.Type]bool{}}
	roots := []struct {
		name string
		t    reflect.Type
	}{
		{"CertificateOfOrigin", reflect.TypeFor[Certificate]()},
		{"ImportOutcome", reflect.TypeFor[Outcome]()},
	}
	for _, r := range roots {
		if err := g.complexType(r.t, r.name == "CertificateOfOrigin"); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!-- ecogate canonical e-CO dataset, version 1. Generated from the Go types in
     github.com/ecogate/ecogate/schema (xml_xsd.go); do not edit by hand. -->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns="` + Namespace + `"
           targetNamespace="` + Namespace + `"
           elementFormDefault="qualified"
           attributeFormDefault="unqualified"
           version="1">

`)
	for _, r := range roots {
		fmt.Fprintf(&b, "  <xs:element name=%q type=%q/>\n", r.name, r.t.Name()+"Type")
	}
	b.WriteString("\n")
	b.WriteString(`  <!-- Simple types: the decoder applies the same lexical rules. -->
  <xs:simpleType name="DateType">
    <xs:restriction base="xs:date"><xs:pattern value="` + patDate + `"/></xs:restriction>
  </xs:simpleType>
  <xs:simpleType name="DateTimeType">
    <xs:restriction base="xs:dateTime"><xs:pattern value="` + patDateTime + `"/></xs:restriction>
  </xs:simpleType>
  <xs:simpleType name="DecimalType">
    <xs:restriction base="xs:decimal"><xs:pattern value="` + patDecimal + `"/></xs:restriction>
  </xs:simpleType>
`)
	for _, st := range []*simpleType{stCountry, stCurrency, stHS, stLanguage, stUUID} {
		b.WriteString("  <xs:simpleType name=\"" + st.name + "\">\n    <xs:restriction base=\"xs:string\"><xs:pattern value=\"" + st.pattern + "\"/></xs:restriction>\n  </xs:simpleType>\n")
	}
	names := make([]string, 0, len(g.types))
	for n := range g.types {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString("\n")
		b.WriteString(g.types[n])
	}
	b.WriteString("</xs:schema>\n")
	return b.String(), nil
}

type xsdGen struct {
	done  map[reflect.Type]bool
	types map[string]string
}

func xsdSimpleName(f *fieldInfo) string {
	if f.simple != nil {
		return f.simple.name
	}
	switch f.val {
	case valInt:
		return "xs:int"
	case valInt64:
		return "xs:long"
	case valBool:
		return "xs:boolean"
	case valDate:
		return "DateType"
	case valDateTime:
		return "DateTimeType"
	case valDecimal:
		return "DecimalType"
	case valBytes:
		return "xs:base64Binary"
	}
	return "xs:string"
}

func (g *xsdGen) complexType(t reflect.Type, signed bool) error {
	if g.done[t] {
		return nil
	}
	g.done[t] = true
	if g.types == nil {
		g.types = map[string]string{}
	}
	ti, err := infoOf(t)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  <xs:complexType name=%q>\n", t.Name()+"Type")
	attrs := func(indent string) {
		for _, f := range ti.attrs {
			use := "optional"
			if f.required() {
				use = "required"
			}
			fmt.Fprintf(&b, "%s<xs:attribute name=%q type=%q use=%q/>\n", indent, f.xmlName, xsdSimpleName(f), use)
		}
	}
	if ti.text != nil {
		fmt.Fprintf(&b, "    <xs:simpleContent>\n      <xs:extension base=%q>\n", xsdSimpleName(ti.text))
		attrs("        ")
		b.WriteString("      </xs:extension>\n    </xs:simpleContent>\n")
	} else {
		b.WriteString("    <xs:sequence>\n")
		for _, f := range ti.elems {
			minOcc, maxOcc := "1", "1"
			switch {
			case f.repeated:
				if f.xmlOmit {
					minOcc = "0"
				}
				maxOcc = "unbounded"
				if f.maxOccurs > 0 {
					maxOcc = fmt.Sprint(f.maxOccurs)
				}
			case !f.required():
				minOcc = "0"
			}
			typ := xsdSimpleName(f)
			if f.val == valStruct {
				typ = f.typ.Name() + "Type"
				if err := g.complexType(f.typ, false); err != nil {
					return err
				}
			}
			occ := ""
			if minOcc != "1" {
				occ += fmt.Sprintf(" minOccurs=%q", minOcc)
			}
			if maxOcc != "1" {
				occ += fmt.Sprintf(" maxOccurs=%q", maxOcc)
			}
			fmt.Fprintf(&b, "      <xs:element name=%q type=%q%s/>\n", f.xmlName, typ, occ)
		}
		if signed {
			b.WriteString("      <!-- The enveloped XML-DSig signature: at most one, and only here, as the last child. -->\n")
			b.WriteString("      <xs:any namespace=\"" + XMLDSigNamespace + "\" processContents=\"skip\" minOccurs=\"0\" maxOccurs=\"1\"/>\n")
		}
		b.WriteString("    </xs:sequence>\n")
		attrs("    ")
	}
	b.WriteString("  </xs:complexType>\n")
	g.types[t.Name()+"Type"] = b.String()
	return nil
}
