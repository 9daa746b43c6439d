package mapping

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/schema"
)

func fromEdi3(t *testing.T, data []byte) *schema.Certificate {
	t.Helper()
	p, _ := Builtin("edi3-coo")
	recs, err := p.ReadRecords(bytes.NewReader(data), "")
	if err != nil || len(recs) != 1 {
		t.Fatalf("read edi3: %v (%d records)", err, len(recs))
	}
	c, err := p.MapRecord(recs[0])
	if err != nil {
		t.Fatalf("map edi3: %v", err)
	}
	return c
}

// TestEdi3RoundTrip: CHAFTA edi3 → canonical → ToEdi3 → edi3-coo profile →
// the same canonical value; and the edi3 written equals the source document
// value for value (carried fields restored at their paths).
func TestEdi3RoundTrip(t *testing.T) {
	a, rec := chafta(t)
	out, err := ToEdi3(a)
	if err != nil {
		t.Fatal(err)
	}
	b := fromEdi3(t, out)
	if !reflect.DeepEqual(a, b) {
		ja, _ := ToEdi3(b)
		t.Errorf("canonical value changed over edi3 out and in; second edi3:\n%.3000s", ja)
	}
	tree, err := decodeJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	// The quantities taken from the packages' gross weight are written
	// out (they are facts of the certificate now); the source had none.
	var qs []string
	for _, ci := range tree.(map[string]any)["supplyChainConsignment"].(map[string]any)["includedConsignmentItems"].([]any) {
		for _, tl := range ci.(map[string]any)["tradeLineItems"].([]any) {
			m := tl.(map[string]any)
			q, _ := m["quantity"].(map[string]any)
			qs = append(qs, fmt.Sprint(q["value"], " ", q["unitCode"]))
			delete(m, "quantity")
		}
	}
	// So is the uuid of the canonical certificate.
	if tree.(map[string]any)["uuid"] != a.Header.UUID {
		t.Errorf("uuid not written")
	}
	delete(tree.(map[string]any), "uuid")
	if strings.Join(qs, ",") != "900 KGM,900 KGM,930 KGM" {
		t.Errorf("quantities written %q", qs)
	}
	if !reflect.DeepEqual(tree, rec.tree) {
		diffLeaves(t, rec.tree, tree)
	}
}

func diffLeaves(t *testing.T, want, got any) {
	t.Helper()
	w, g := map[string]string{}, map[string]string{}
	walkLeaves(want, "", func(p, v string) { w[p] = v })
	walkLeaves(got, "", func(p, v string) { g[p] = v })
	for p, v := range w {
		if g[p] != v {
			t.Errorf("edi3 out %s = %.60q, source has %.60q", p, g[p], v)
		}
	}
	for p, v := range g {
		if _, ok := w[p]; !ok {
			t.Errorf("edi3 out has %s = %.60q, not in the source", p, v)
		}
	}
}

// TestEdi3OutIndia: an Indian certificate written as edi3 and read back
// keeps every field the edi3 model has.
func TestEdi3OutIndia(t *testing.T) {
	a := mapFile(t, "india-ecoo", "testdata/india-ecoo/aifta-issued.json")[0]
	out, err := ToEdi3(a)
	if err != nil {
		t.Fatal(err)
	}
	b := fromEdi3(t, out)
	for _, tc := range []struct{ what, a, b string }{
		{"id", a.Header.ID, b.Header.ID},
		{"agreement", a.Header.Agreement, b.Header.Agreement},
		{"issued", a.Header.IssueDateTime.String(), b.Header.IssueDateTime.String()},
		{"status", a.Header.Status, b.Header.Status},
		{"import country", a.Header.ImportCountry, b.Header.ImportCountry},
		{"exporter", a.Consignment.Exporter.Name, b.Consignment.Exporter.Name},
		{"exporter IEC", idText(a.Consignment.Exporter.IDs), idText(b.Consignment.Exporter.IDs)},
		{"consignee lines", strings.Join(a.Consignment.Importer.Address.Lines, "|"), strings.Join(b.Consignment.Importer.Address.Lines, "|")},
		{"port of discharge", a.Consignment.UnloadingPort.ID, b.Consignment.UnloadingPort.ID},
		{"departure", a.Consignment.MainCarriage.DepartureDate.String(), b.Consignment.MainCarriage.DepartureDate.String()},
		{"items", string(rune('0' + len(a.Consignment.Items))), string(rune('0' + len(b.Consignment.Items)))},
		{"hs 2", a.Consignment.Items[1].Product.HSCode, b.Consignment.Items[1].Product.HSCode},
		{"criteria 1", strings.Join(a.Consignment.Items[0].OriginCriteria, "+"), strings.Join(b.Consignment.Items[0].OriginCriteria, "+")},
		{"criteria 3", strings.Join(a.Consignment.Items[2].OriginCriteria, "+"), strings.Join(b.Consignment.Items[2].OriginCriteria, "+")},
		{"invoice 3", a.Consignment.Items[2].InvoiceReferences[0].ID, b.Consignment.Items[2].InvoiceReferences[0].ID},
		{"declaration", a.FirstSignatory.Statement, b.FirstSignatory.Statement},
		{"declarant", a.FirstSignatory.Signatory.Name, b.FirstSignatory.Signatory.Name},
	} {
		if tc.a != tc.b || tc.a == "" {
			t.Errorf("%s: %q became %q", tc.what, tc.a, tc.b)
		}
	}
}

// TestUBLStructure checks the UBL 2.1 CertificateOfOrigin written for the
// CHAFTA and the Indian certificates: namespaces, the document-level
// sequence, the mandatory aggregates and the goods items' content.
func TestUBLStructure(t *testing.T) {
	c, _ := chafta(t)
	india := mapFile(t, "india-ecoo", "testdata/india-ecoo/aifta-issued.json")[0]
	for _, tc := range []struct {
		name  string
		c     *schema.Certificate
		goods int
		hs    []string
	}{
		{"chafta", c, 3, []string{"220421", "220421", "220421"}},
		{"india", india, 3, []string{"610910", "610990", "630231"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ToUBL(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(out); err != nil {
				t.Fatalf("not well-formed: %v", err)
			}
			root := doc.Root()
			if root.Tag != "CertificateOfOrigin" || root.NamespaceURI() != UBLNamespace {
				t.Fatalf("root {%s}%s", root.NamespaceURI(), root.Tag)
			}
			// Every element is in the document, cac or cbc namespace.
			var walk func(e *etree.Element)
			walk = func(e *etree.Element) {
				switch e.NamespaceURI() {
				case UBLNamespace, UBLCAC, UBLCBC:
				default:
					t.Errorf("element %s in namespace %q", e.GetPath(), e.NamespaceURI())
				}
				if e.Space == "cbc" && len(e.ChildElements()) > 0 {
					t.Errorf("basic component %s has children", e.GetPath())
				}
				for _, k := range e.ChildElements() {
					walk(k)
				}
			}
			walk(root)
			var seq []string
			for _, k := range root.ChildElements() {
				seq = append(seq, k.FullTag())
			}
			order := []string{"cbc:UBLVersionID", "cbc:CustomizationID", "cbc:ID", "cbc:UUID", "cbc:IssueDate", "cbc:IssueTime", "cbc:Description", "cbc:Note", "cbc:VersionID", "cac:ExporterParty", "cac:ImporterParty", "cac:CertificateOfOriginApplication", "cac:IssuerEndorsement"}
			if !inOrder(seq, order) {
				t.Errorf("root children %v are not in the UBL 2.1 order %v", seq, order)
			}
			for _, must := range []string{"cbc:ID", "cbc:IssueDate", "cac:ExporterParty", "cac:ImporterParty", "cac:CertificateOfOriginApplication", "cac:IssuerEndorsement"} {
				if root.SelectElement(must) == nil {
					t.Errorf("missing %s", must)
				}
			}
			if got := root.FindElement("cbc:ID").Text(); got != tc.c.Header.ID {
				t.Errorf("ID %q", got)
			}
			app := root.SelectElement("cac:CertificateOfOriginApplication")
			var appSeq []string
			for _, k := range app.ChildElements() {
				appSeq = append(appSeq, k.FullTag())
			}
			appOrder := []string{"cbc:ReferenceID", "cbc:CertificateType", "cbc:ApplicationStatusCode", "cbc:OriginalJobID", "cac:Shipment", "cac:EndorserParty", "cac:PreparationParty", "cac:IssuerParty", "cac:IssuingCountry", "cac:SupportingDocumentReference"}
			if !inOrder(appSeq, appOrder) {
				t.Errorf("application children %v not in order %v", appSeq, appOrder)
			}
			for _, must := range []string{"cbc:ReferenceID", "cbc:CertificateType", "cbc:OriginalJobID", "cac:Shipment", "cac:EndorserParty", "cac:PreparationParty", "cac:IssuerParty", "cac:IssuingCountry"} {
				if app.SelectElement(must) == nil {
					t.Errorf("application lacks mandatory %s", must)
				}
			}
			goods := app.FindElements("cac:Shipment/cac:GoodsItem")
			if len(goods) != tc.goods {
				t.Fatalf("%d goods items, want %d", len(goods), tc.goods)
			}
			for i, g := range goods {
				hs := g.FindElement("cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode[@listID='HS']")
				if hs == nil || hs.Text() != tc.hs[i] {
					t.Errorf("goods %d HS %v, want %s", i+1, hs, tc.hs[i])
				}
				if g.FindElement("cac:Item/cac:OriginCountry/cbc:IdentificationCode") == nil {
					t.Errorf("goods %d without origin country", i+1)
				}
			}
			ie := root.SelectElement("cac:IssuerEndorsement")
			if ie.FindElement("cbc:DocumentID") == nil || ie.FindElement("cbc:ApprovalStatus").Text() != "issued" || ie.FindElement("cac:EndorserParty/cac:Party/cac:PartyName/cbc:Name").Text() != tc.c.Header.Issuer.Name {
				t.Errorf("issuer endorsement incomplete")
			}
			if bytes.Contains(out, []byte(CarriedRelationship)) {
				t.Errorf("carried fields leaked into UBL")
			}
		})
	}
}

// inOrder reports whether seq follows the order of names (each name may
// repeat or be absent; nothing else may appear).
func inOrder(seq, order []string) bool {
	pos := 0
	for _, s := range seq {
		for pos < len(order) && order[pos] != s {
			pos++
		}
		if pos == len(order) {
			return false
		}
	}
	return true
}
