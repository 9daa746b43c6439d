package schema

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/testenv"
)

// validFixtures returns the certificate fixtures (not the outcome).
func validFixtures(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(validDir(), "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".xml")
		if strings.HasPrefix(name, "outcome-") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	for _, want := range []string{"rcep", "atiga", "aanzfta", "aifta", "akfta", "acfta", "nonpref"} {
		if _, ok := out[want]; !ok {
			t.Fatalf("fixture %s.xml missing from %s", want, validDir())
		}
	}
	return out
}

func mustDecodeXML(t testing.TB, name string, b []byte) *Certificate {
	t.Helper()
	c, fs := DecodeXML(b, DecodeOptions{})
	if c == nil || len(fs) > 0 {
		t.Fatalf("%s: decode: %v", name, fs)
	}
	return c
}

// TestRoundTrip proves XML -> Go -> JSON -> Go -> XML loses nothing: for
// every fixture the final bytes equal the fixture's bytes. The JSON form is
// kept as a golden file beside each fixture (-update rewrites it).
func TestRoundTrip(t *testing.T) {
	for name, orig := range validFixtures(t) {
		t.Run(name, func(t *testing.T) {
			c1 := mustDecodeXML(t, name, orig)
			js, err := EncodeJSON(c1)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(validDir(), name+".json")
			if *update {
				if err := os.WriteFile(golden, js, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if want, err := os.ReadFile(golden); err != nil {
				t.Fatal(err)
			} else if !bytes.Equal(js, want) {
				t.Errorf("JSON form differs from %s (run with -update if the change is intended)", golden)
			}
			c2, fs := DecodeJSON(js, DecodeOptions{})
			if c2 == nil || len(fs) > 0 {
				t.Fatalf("decode JSON: %v", fs)
			}
			back, err := EncodeXML(c2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, orig) {
				t.Errorf("XML -> JSON -> XML changed the document:\n%s", firstDiff(orig, back))
			}
			js2, err := EncodeJSON(c2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(js, js2) {
				t.Errorf("JSON -> Go -> JSON changed the document:\n%s", firstDiff(js, js2))
			}
		})
	}
	t.Run("outcome", func(t *testing.T) {
		orig, err := os.ReadFile(filepath.Join(validDir(), "outcome-atiga.xml"))
		if err != nil {
			t.Fatal(err)
		}
		o, fs := DecodeOutcomeXML(orig, DecodeOptions{})
		if o == nil || len(fs) > 0 {
			t.Fatalf("decode outcome: %v", fs)
		}
		back, err := EncodeOutcomeXML(o)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, orig) {
			t.Errorf("outcome round trip changed the document:\n%s", firstDiff(orig, back))
		}
	})
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return "(no line differs)"
}

// xmllintValid runs xmllint --schema on b and reports whether it validates,
// with xmllint's output.
func xmllintValid(t *testing.T, xmllint string, b []byte) (bool, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "doc.xml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("xsd", "eco-1.xsd"), p)
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

// withSignature appends a ds:Signature as the last child of the root.
func withSignature(b []byte) []byte {
	sig := `  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>` + "\n"
	s := string(b)
	i := strings.LastIndex(s, "</CertificateOfOrigin>")
	return []byte(s[:i] + sig + s[i:])
}

// TestXSDValidatesEncodedFixtures checks the published XSD against an
// outside validator (xmllint): everything the encoder writes validates,
// with or without an enveloped signature as the last child, and the XSD
// fixes element order: documents with an element out of order, a smuggled
// element, a duplicate, or a signature anywhere but last are rejected.
func TestXSDValidatesEncodedFixtures(t *testing.T) {
	xmllint := testenv.Program(t, "xmllint")
	for name, orig := range validFixtures(t) {
		c := mustDecodeXML(t, name, orig)
		enc, err := EncodeXML(c)
		if err != nil {
			t.Fatal(err)
		}
		if ok, out := xmllintValid(t, xmllint, enc); !ok {
			t.Errorf("%s: encoded document fails the XSD:\n%s", name, out)
		}
		signed := withSignature(enc)
		if ok, out := xmllintValid(t, xmllint, signed); !ok {
			t.Errorf("%s: encoded document with a trailing ds:Signature fails the XSD:\n%s", name, out)
		}
		if c2, fs := DecodeXML(signed, DecodeOptions{}); c2 == nil || len(fs) > 0 {
			t.Errorf("%s: decoder refuses a trailing ds:Signature: %v", name, fs)
		}
	}
	ob, err := os.ReadFile(filepath.Join(validDir(), "outcome-atiga.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, out := xmllintValid(t, xmllint, ob); !ok {
		t.Errorf("outcome fails the XSD:\n%s", out)
	}
	for _, c := range badXMLCases {
		if !c.xsdRejects {
			continue
		}
		b, err := os.ReadFile(filepath.Join("testdata", "bad-xml", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := xmllintValid(t, xmllint, b); ok {
			t.Errorf("%s: the XSD accepts it, but the decoder refuses it with %s", c.file, c.code)
		}
	}
}

// badXMLCases are the negative codec fixtures under testdata/bad-xml with
// the finding each must produce.
var badXMLCases = []struct {
	file       string
	code       string
	path       string // expected path of the first finding ("" for document level)
	xsdRejects bool   // xmllint must reject it too (false where xmllint is not asked: DOCTYPE)
}{
	{"not-xml.xml", CodeNotXML, "", true},
	{"truncated.xml", CodeNotXML, "", true},
	{"two-roots.xml", CodeNotXML, "", true},
	{"doctype-billion-laughs.xml", CodeDoctype, "", false},
	{"doctype-external-entity.xml", CodeDoctype, "", false},
	{"doctype-no-entities.xml", CodeDoctype, "", false},
	{"unknown-element.xml", CodeUnknownElement, "exchangedDocument", true},
	{"unknown-attribute.xml", CodeUnknownAttribute, "exchangedDocument", true},
	{"wrong-namespace.xml", CodeNamespace, "", true},
	{"no-namespace.xml", CodeNamespace, "", true},
	{"wrong-namespace-child.xml", CodeNamespace, "exchangedDocument.languageCode", true},
	{"bad-date.xml", CodeType, "exchangedDocument.validUntil", true},
	{"bad-datetime.xml", CodeType, "exchangedDocument.issueDateTime", true},
	{"bad-decimal.xml", CodeType, "supplyChainConsignment.includedConsignmentItems[0].fobValue.value", true},
	{"bad-int.xml", CodeType, "supplyChainConsignment.includedConsignmentItems[1].sequenceNumber", true},
	{"bad-bool.xml", CodeType, "exchangedDocument.isPreferential", true},
	{"bad-country.xml", CodeType, "exchangedDocument.exportCountry", true},
	{"bad-hscode.xml", CodeType, "supplyChainConsignment.includedConsignmentItems[1].tradeProduct.hsCode", true},
	{"out-of-order.xml", CodeOrder, "exchangedDocument.exportCountry", true},
	{"duplicate.xml", CodeDuplicate, "exchangedDocument.version", true},
	{"missing-required.xml", CodeMissing, "exchangedDocument.uuid", true},
	{"signature-not-last.xml", CodeUnknownElement, "", true},
	{"signature-nested.xml", CodeUnknownElement, "exchangedDocument", true},
	{"signature-twice.xml", CodeUnknownElement, "", true},
	{"too-deep.xml", CodeTooDeep, "", true},
	{"text-in-group.xml", CodeType, "exchangedDocument", true},
	{"too-many-criteria.xml", CodeTooMany, "supplyChainConsignment.includedConsignmentItems[1].originCriteria", true},
}

// TestBadXML proves each kind of bad input gives a SEVERE schema finding
// with its code and path, and a nil certificate, never a partial value.
func TestBadXML(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bad-xml", "*.xml"))
	if len(files) != len(badXMLCases) {
		t.Errorf("%d files under testdata/bad-xml but %d cases in the table", len(files), len(badXMLCases))
	}
	for _, c := range badXMLCases {
		t.Run(strings.TrimSuffix(c.file, ".xml"), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "bad-xml", c.file))
			if err != nil {
				t.Fatal(err)
			}
			cert, fs := DecodeXML(b, DecodeOptions{})
			if cert != nil {
				t.Fatalf("got a certificate, want nil")
			}
			if len(fs) == 0 {
				t.Fatalf("no findings")
			}
			for _, f := range fs {
				if f.Level != Severe || f.Area != AreaSchema || f.Message == "" {
					t.Errorf("finding %v: want a SEVERE schema finding with a message", f)
				}
			}
			if fs[0].Code != c.code || fs[0].Path != c.path {
				t.Errorf("first finding %v: want code %s path %q", fs[0], c.code, c.path)
			}
		})
	}
}

// TestDecodeLimits checks the configurable size and depth limits.
func TestDecodeLimits(t *testing.T) {
	orig := validFixtures(t)["rcep"]
	if _, fs := DecodeXML(orig, DecodeOptions{MaxBytes: int64(len(orig) - 1)}); len(fs) != 1 || fs[0].Code != CodeTooLarge {
		t.Errorf("MaxBytes: got %v, want %s", fs, CodeTooLarge)
	}
	if c, fs := DecodeXML(orig, DecodeOptions{MaxBytes: int64(len(orig))}); c == nil {
		t.Errorf("MaxBytes equal to the size: %v", fs)
	}
	big := append(bytes.Repeat([]byte(" "), int(DefaultMaxBytes)), orig...)
	if _, fs := DecodeXML(big, DecodeOptions{}); len(fs) != 1 || fs[0].Code != CodeTooLarge {
		t.Errorf("default 4 MiB: got %v, want %s", fs, CodeTooLarge)
	}
	if _, fs := DecodeXML(orig, DecodeOptions{MaxDepth: 3}); len(fs) != 1 || fs[0].Code != CodeTooDeep {
		t.Errorf("MaxDepth 3: got %v, want %s", fs, CodeTooDeep)
	}
	if c, fs := DecodeXML(orig, DecodeOptions{MaxDepth: 5}); c == nil {
		t.Errorf("MaxDepth 5 (the certificate's own depth): %v", fs)
	}
	js, _ := EncodeJSON(mustDecodeXML(t, "rcep", orig))
	if _, fs := DecodeJSON(js, DecodeOptions{MaxBytes: 100}); len(fs) != 1 || fs[0].Code != CodeTooLarge {
		t.Errorf("JSON MaxBytes: got %v", fs)
	}
	deep := strings.Repeat(`{"exchangedDocument":`, 40)
	if _, fs := DecodeJSON([]byte(deep), DecodeOptions{}); len(fs) == 0 || fs[0].Code != CodeNotJSON && fs[0].Code != CodeTooDeep {
		t.Errorf("JSON deep: got %v", fs)
	}
}

// TestBadJSON proves the JSON decoder's strictness.
func TestBadJSON(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(validDir(), "rcep.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(orig)
	rep := func(old, new string) []byte {
		if !strings.Contains(s, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
	cases := []struct {
		name string
		in   []byte
		code string
		path string
	}{
		{"not-json", []byte("<xml/>"), CodeNotJSON, ""},
		{"array", []byte("[]"), CodeNotJSON, ""},
		{"trailing", append(append([]byte{}, orig...), []byte("{}")...), CodeNotJSON, ""},
		{"unknown-member", rep(`"uuid":`, `"colour": "red", "uuid":`), CodeUnknownField, "exchangedDocument.colour"},
		{"case-folded-member", rep(`"uuid":`, `"UUID":`), CodeUnknownField, "exchangedDocument.UUID"},
		{"duplicate-member", rep(`"uuid":`, `"version": 3, "uuid":`), CodeDuplicate, "exchangedDocument.version"},
		{"wrong-type-int", rep(`"version": 1`, `"version": "1"`), CodeType, "exchangedDocument.version"},
		{"fraction-int", rep(`"version": 1`, `"version": 1.5`), CodeType, "exchangedDocument.version"},
		{"wrong-type-bool", rep(`"isPreferential": true`, `"isPreferential": "true"`), CodeType, "exchangedDocument.isPreferential"},
		{"bad-date", rep(`"validUntil": "2027-03-02"`, `"validUntil": "02/03/2027"`), CodeType, "exchangedDocument.validUntil"},
		{"bad-decimal", rep(`"value": "27600.00"`, `"value": 27600.00`), CodeType, "supplyChainConsignment.includedConsignmentItems[0].fobValue.value"},
		{"null-required", rep(`"iD": "VN-RCEP-26-17-004127"`, `"iD": null`), CodeType, "exchangedDocument.iD"},
		{"missing-required", rep(`"uuid": "3f6c2a1e-8b4d-4f0a-9c1e-7d2b5a6e8f01",`, ``), CodeMissing, "exchangedDocument.uuid"},
		{"control-char", rep(`"remarks": "Back-to-back`, `"remarks": "\u0001Back-to-back`), CodeType, "exchangedDocument.remarks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cert, fs := DecodeJSON(c.in, DecodeOptions{})
			if cert != nil || len(fs) == 0 {
				t.Fatalf("got %v, %v: want nil and findings", cert, fs)
			}
			if fs[0].Code != c.code || fs[0].Path != c.path || fs[0].Level != Severe || fs[0].Area != AreaSchema {
				t.Errorf("first finding %v: want SEVERE schema %s at %q", fs[0], c.code, c.path)
			}
		})
	}
}

// TestAnnex3BAndFormDHomes proves every item (a) to (m) of RCEP Annex 3B
// and every box 1 to 13 of ATIGA Form D has a home in the dataset, by
// reading each one from the RCEP and ATIGA fixtures (box 4 from the
// importing side's outcome). The mapping is the one in doc.go.
func TestAnnex3BAndFormDHomes(t *testing.T) {
	fx := validFixtures(t)
	r := mustDecodeXML(t, "rcep", fx["rcep"])
	a := mustDecodeXML(t, "atiga", fx["atiga"])
	ob, err := os.ReadFile(filepath.Join(validDir(), "outcome-atiga.xml"))
	if err != nil {
		t.Fatal(err)
	}
	o, fs := DecodeOutcomeXML(ob, DecodeOptions{})
	if o == nil {
		t.Fatalf("outcome: %v", fs)
	}
	ri, ai := r.Consignment.Items[0], a.Consignment.Items[0]
	nonEmpty := func(vals ...any) bool {
		for _, v := range vals {
			switch x := v.(type) {
			case string:
				if x == "" {
					return false
				}
			case Decimal:
				if x == "" {
					return false
				}
			case int:
				if x == 0 {
					return false
				}
			case bool:
				if !x {
					return false
				}
			case Date:
				if x.IsZero() {
					return false
				}
			case DateTime:
				if x.IsZero() {
					return false
				}
			}
		}
		return true
	}
	cases := []struct {
		name string
		ok   bool
	}{
		{"RCEP_a_exporter", nonEmpty(r.Consignment.Exporter.Name, r.Consignment.Exporter.Address != nil && r.Consignment.Exporter.Address.CountryCode != "")},
		{"RCEP_b_producer", len(r.Consignment.Producers) > 0 && nonEmpty(r.Consignment.Producers[0].Name, ri.ProducerRef) && ri.ProducerRef == r.Consignment.Producers[0].Ref},
		{"RCEP_c_importer", nonEmpty(r.Consignment.Importer.Name)},
		{"RCEP_d_description_hs", nonEmpty(ri.Product.Description, ri.Product.HSCode)},
		{"RCEP_e_co_number", nonEmpty(r.Header.ID)},
		{"RCEP_f_origin_criterion", len(ri.OriginCriteria) > 0 && nonEmpty(ri.OriginCriteria[0])},
		{"RCEP_g_exporter_declaration", nonEmpty(r.FirstSignatory.Signatory.Name, r.FirstSignatory.ActualDateTime, r.FirstSignatory.Statement)},
		{"RCEP_h_certification", r.SecondSignatory != nil && nonEmpty(r.SecondSignatory.Signatory.Name, r.SecondSignatory.ActualDateTime, r.Header.Issuer.Name)},
		{"RCEP_i_country_of_origin", nonEmpty(ri.Product.OriginCountry)},
		{"RCEP_j_consignment_ids", len(ri.InvoiceReferences) > 0 && r.Consignment.MainCarriage != nil && r.Consignment.UnloadingPort != nil &&
			nonEmpty(ri.InvoiceReferences[0].ID, r.Consignment.MainCarriage.DepartureDate, r.Consignment.UnloadingPort.ID)},
		{"RCEP_k_fob_value", ri.FOBValue != nil && nonEmpty(ri.FOBValue.Value, ri.FOBValue.Currency)},
		{"RCEP_l_quantity", nonEmpty(ri.Quantity.Value, ri.Quantity.UnitCode)},
		{"RCEP_m_back_to_back", len(r.OriginalProofs) > 0 && nonEmpty(r.OriginalProofs[0].Number, r.OriginalProofs[0].IssueDate, r.OriginalProofs[0].IssuingCountry)},
		{"FormD_reference_no", nonEmpty(a.Header.ID, a.Header.ExportCountry)},
		{"FormD_box01_exporter", nonEmpty(a.Consignment.Exporter.Name)},
		{"FormD_box02_consignee", nonEmpty(a.Consignment.Importer.Name)},
		{"FormD_box03_transport_route", a.Consignment.MainCarriage != nil && a.Consignment.MainCarriage.UsedTransportMeans != nil && a.Consignment.UnloadingPort != nil &&
			nonEmpty(a.Consignment.MainCarriage.DepartureDate, a.Consignment.MainCarriage.UsedTransportMeans.Name, a.Consignment.UnloadingPort.Name) && len(a.Consignment.TransitCountries) > 0},
		{"FormD_box04_official_use", o.CertificateNumber == a.Header.ID && len(o.Items) > 0 && nonEmpty(o.Items[0].SequenceNumber)},
		{"FormD_box05_item_number", nonEmpty(ai.SequenceNumber)},
		{"FormD_box06_marks", nonEmpty(ai.MarksAndNumbers)},
		{"FormD_box07_packages_description_hs", len(ai.Packages) > 0 && nonEmpty(ai.Packages[0].Quantity, ai.Packages[0].TypeCode, ai.Product.Description, ai.Product.HSCode, ai.Product.NationalTariffCode)},
		{"FormD_box08_origin_criterion", len(ai.OriginCriteria) > 0 && nonEmpty(ai.OriginCriteria[0], ai.RVCPercent)},
		{"FormD_box09_weight_quantity_fob", ai.GrossWeight != nil && ai.FOBValue != nil && nonEmpty(ai.GrossWeight.Value, ai.Quantity.Value, ai.FOBValue.Value)},
		{"FormD_box10_invoice", len(ai.InvoiceReferences) > 0 && nonEmpty(ai.InvoiceReferences[0].ID, ai.InvoiceReferences[0].IssueDate)},
		{"FormD_box11_exporter_declaration", nonEmpty(a.FirstSignatory.Signatory.Name, a.FirstSignatory.ActualDateTime, a.Header.ImportCountry)},
		{"FormD_box12_certification", a.SecondSignatory != nil && nonEmpty(a.SecondSignatory.Signatory.Name, a.SecondSignatory.ActualDateTime)},
		{"FormD_box13_flags", a.Header.Flags != nil && a.Header.Flags.Any()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Errorf("%s has no value in the fixture", c.name)
			}
		})
	}
}

// TestDecodeElement decodes from an already parsed tree, as the gateway
// does with the element the signature verifier returns.
func TestDecodeElement(t *testing.T) {
	orig := validFixtures(t)["atiga"]
	root, fs := parseXML(withSignature(orig), DecodeOptions{})
	if fs != nil {
		t.Fatal(fs)
	}
	c, fs := DecodeElement(root, DecodeOptions{})
	if c == nil || len(fs) > 0 {
		t.Fatalf("DecodeElement: %v", fs)
	}
	if got := c.Ref(); got != (CertRef{"TH", "TH-D-2026-BKK-0081934", 1}) || got.String() != "TH/TH-D-2026-BKK-0081934/v1" {
		t.Errorf("Ref() = %v", got)
	}
	if c, fs := DecodeElement(nil, DecodeOptions{}); c != nil || len(fs) != 1 {
		t.Errorf("nil element: %v %v", c, fs)
	}
}

// TestEncodeRefusesUncarriableText: a string XML cannot carry is an error,
// not a silently replaced character.
func TestEncodeRefusesUncarriableText(t *testing.T) {
	c := fixtureNonPref()
	c.Header.Remarks = "bell \a"
	if _, err := EncodeXML(c); err == nil || !strings.Contains(err.Error(), "exchangedDocument.remarks") {
		t.Errorf("EncodeXML: err = %v, want an error naming exchangedDocument.remarks", err)
	}
	if _, err := EncodeXML(nil); err == nil {
		t.Error("EncodeXML(nil): no error")
	}
}
