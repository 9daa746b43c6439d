package mapping

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/ecogate/ecogate/schema"
)

// LOCODEScheme is the scheme prefix edi3 writes before a UN/LOCODE.
const LOCODEScheme = "unece.un.org:locode:"

// ToEdi3 writes c as an edi3 / UN/CEFACT Certificate of Origin JSON
// document (the TradeTrust CoO data model), the inverse of the edi3-coo
// profile: goods items are grouped back into consignment items (consecutive
// items with the same producer and origin criteria; criterion lines joined
// by "; "), identifiers are written
// scheme:value, LOCODEs get their scheme prefix, dates become date-times at
// midnight UTC, signature images become data URIs, and carried edi3 fields
// (see Carried) go back to their source paths.
//
// Facts of the dataset that the edi3 sample model does not name are
// written under the dataset's own JSON names where the UN/CEFACT
// vocabulary has the same element, and read back by the edi3-coo profile:
// on the document uuid, messageFunction, remarks, validUntil and version; on a
// trade line item quantity, grossWeight ({value, unitCode}), fobValue
// ({value, currency}), rvcPercent, marksAndNumbers and packaging
// ([{quantity, typeCode, marks}]); on its tradeProduct hsEdition and
// nationalTariffCode; on a signatory authentication the signatory's
// position and the place (issueLocation). Not written, because the edi3
// CoO model has no place for them: a party's identifiers after the first,
// contacts, flags, original proofs, the
// replaced certificate, transport equipment, transit countries,
// consignment-level packages, the third-party invoicer, the verification
// link, the attached file, approved-exporter codes, the invoice issuer and
// referenced documents other than invoice files and signature images
// (TestEdi3RoundTripKeepsFacts lists them). Round trip edi3 → canonical →
// edi3 → canonical is exact.
func ToEdi3(c *schema.Certificate) ([]byte, error) {
	h := &c.Header
	doc := map[string]any{}
	put(doc, "iD", h.ID)
	put(doc, "name", h.Name)
	put(doc, "issueDateTime", h.IssueDateTime.String())
	doc["isPreferential"] = h.IsPreferential
	put(doc, "freeTradeAgreement", h.Agreement)
	put(doc, "uuid", h.UUID)
	put(doc, "messageFunction", h.FunctionCode)
	put(doc, "remarks", h.Remarks)
	put(doc, "validUntil", h.ValidUntil.String())
	if h.Version > 1 {
		doc["version"] = strconv.Itoa(h.Version)
	}
	put(doc, "status", map[string]string{"70": "issued", "40": "withdrawn", "41": "rejected"}[h.Status])
	if h.Status != "" && doc["status"] == nil {
		doc["status"] = h.Status
	}
	if l := edi3Location(h.IssueLocation); l != nil {
		doc["issueLocation"] = l
	}
	if p := edi3Party(&h.Issuer); p != nil {
		doc["issuer"] = p
	}
	cons := &c.Consignment
	sc := map[string]any{}
	if cons.ID != nil {
		put(sc, "iD", idString(*cons.ID))
	}
	put(sc, "information", cons.Information)
	if h.ExportCountry != "" {
		sc["exportCountry"] = map[string]any{"code": h.ExportCountry}
	}
	if h.ImportCountry != "" {
		sc["importCountry"] = map[string]any{"code": h.ImportCountry}
	}
	if p := edi3Party(&cons.Exporter); p != nil {
		sc["exporter"] = p
	}
	if p := edi3Party(&cons.Importer); p != nil {
		sc["importer"] = p
	}
	if l := edi3Location(cons.LoadingPort); l != nil {
		sc["loadingBaseportLocation"] = l
	}
	if l := edi3Location(cons.UnloadingPort); l != nil {
		sc["unloadingBaseportLocation"] = l
	}
	if mc := cons.MainCarriage; mc != nil {
		m := map[string]any{}
		put(m, "iD", mc.JourneyID)
		put(m, "modeCode", mc.ModeCode)
		if tm := mc.UsedTransportMeans; tm != nil {
			u := map[string]any{}
			put(u, "iD", tm.ID)
			put(u, "name", tm.Name)
			if len(u) > 0 {
				m["usedTransportMeans"] = u
			}
		}
		if !mc.DepartureDate.IsZero() {
			m["departureEvent"] = map[string]any{"departureDateTime": mc.DepartureDate.String() + "T00:00:00Z"}
		}
		if len(m) > 0 {
			sc["mainCarriageTransportMovement"] = m
		}
	}
	// Invoice files, by invoice number.
	invoiceURI := map[string]string{}
	for _, r := range c.References {
		if r.TypeCode == "380" && r.Attachment != nil && r.Attachment.URI != "" {
			if _, ok := invoiceURI[r.ID]; !ok {
				invoiceURI[r.ID] = r.Attachment.URI
			}
		}
	}
	producers := map[string]*schema.Party{}
	for i := range cons.Producers {
		producers[cons.Producers[i].Ref] = &cons.Producers[i]
	}
	var cis []any
	for i := 0; i < len(cons.Items); {
		first := &cons.Items[i]
		ci := map[string]any{}
		if len(first.OriginCriteria) > 0 {
			ci["crossBorderRegulatoryProcedure"] = map[string]any{"originCriteriaText": strings.Join(first.OriginCriteria, "; ")}
		}
		if p, ok := producers[first.ProducerRef]; ok && first.ProducerRef != "" {
			if mp := edi3Party(p); mp != nil {
				ci["manufacturer"] = mp
			}
		}
		var lines []any
		j := i
		for ; j < len(cons.Items); j++ {
			it := &cons.Items[j]
			if it.ProducerRef != first.ProducerRef || !slices.Equal(it.OriginCriteria, first.OriginCriteria) {
				break
			}
			lines = append(lines, edi3Line(it, invoiceURI))
		}
		ci["tradeLineItems"] = lines
		cis = append(cis, ci)
		i = j
	}
	if len(cis) > 0 {
		sc["includedConsignmentItems"] = cis
	}
	if len(sc) > 0 {
		doc["supplyChainConsignment"] = sc
	}
	if a := edi3Auth(c, &c.FirstSignatory); a != nil {
		doc["firstSignatoryAuthentication"] = a
	}
	if c.SecondSignatory != nil {
		if a := edi3Auth(c, c.SecondSignatory); a != nil {
			doc["secondSignatoryAuthentication"] = a
		}
	}
	for _, f := range Carried(c) {
		if err := setPath(doc, f.Path, f.Value); err != nil {
			return nil, fmt.Errorf("carried field %s: %w", f.Path, err)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func put(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func idString(id schema.Identifier) string {
	if id.SchemeID == "" {
		return id.Value
	}
	return id.SchemeID + ":" + id.Value
}

func edi3Location(l *schema.Location) map[string]any {
	if l == nil {
		return nil
	}
	m := map[string]any{}
	if l.ID != "" {
		m["iD"] = LOCODEScheme + l.ID
	}
	put(m, "name", l.Name)
	if len(m) == 0 {
		return nil
	}
	return m
}

func edi3Party(p *schema.Party) map[string]any {
	m := map[string]any{}
	put(m, "name", p.Name)
	if len(p.IDs) > 0 {
		m["iD"] = idString(p.IDs[0])
	}
	if a := p.Address; a != nil {
		pa := map[string]any{}
		for i, l := range a.Lines {
			put(pa, "line"+strconv.Itoa(i+1), l)
		}
		put(pa, "cityName", a.CityName)
		put(pa, "postcode", a.Postcode)
		put(pa, "countrySubDivisionName", a.CountrySubDivisionName)
		put(pa, "countryCode", a.CountryCode)
		if len(pa) > 0 {
			m["postalAddress"] = pa
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func edi3Line(it *schema.GoodsItem, invoiceURI map[string]string) map[string]any {
	li := map[string]any{"sequenceNumber": it.SequenceNumber}
	if len(it.InvoiceReferences) > 0 {
		ir := it.InvoiceReferences[0]
		inv := map[string]any{}
		put(inv, "iD", ir.ID)
		if !ir.IssueDate.IsZero() {
			inv["formattedIssueDateTime"] = ir.IssueDate.String() + "T00:00:00Z"
		}
		if u, ok := invoiceURI[ir.ID]; ok {
			inv["attachedBinaryFile"] = map[string]any{"uRI": u}
		}
		li["invoiceReference"] = inv
	}
	p := &it.Product
	tp := map[string]any{}
	if len(p.IDs) > 0 {
		tp["iD"] = idString(p.IDs[0])
	}
	put(tp, "description", p.Description)
	if p.HSCode != "" {
		code := p.HSCode
		if len(code) == 6 {
			code = code[:4] + "." + code[4:]
		}
		tp["harmonisedTariffCode"] = map[string]any{"classCode": code}
	}
	if p.OriginCountry != "" {
		tp["originCountry"] = map[string]any{"code": p.OriginCountry}
	}
	put(tp, "hsEdition", p.HSEdition)
	put(tp, "nationalTariffCode", p.NationalTariffCode)
	if len(tp) > 0 {
		li["tradeProduct"] = tp
	}
	if m := edi3Measure(it.Quantity); m != nil {
		li["quantity"] = m
	}
	if it.GrossWeight != nil {
		if m := edi3Measure(*it.GrossWeight); m != nil {
			li["grossWeight"] = m
		}
	}
	if f := it.FOBValue; f != nil && (f.Value != "" || f.Currency != "") {
		fob := map[string]any{}
		put(fob, "value", string(f.Value))
		put(fob, "currency", f.Currency)
		li["fobValue"] = fob
	}
	put(li, "rvcPercent", string(it.RVCPercent))
	put(li, "marksAndNumbers", it.MarksAndNumbers)
	var pk []any
	for _, p := range it.Packages {
		m := map[string]any{}
		put(m, "quantity", string(p.Quantity))
		put(m, "typeCode", p.TypeCode)
		put(m, "marks", p.Marks)
		pk = append(pk, m)
	}
	if len(pk) > 0 {
		li["packaging"] = pk
	}
	return li
}

func edi3Measure(m schema.Measure) map[string]any {
	if m.Value == "" && m.UnitCode == "" {
		return nil
	}
	out := map[string]any{}
	put(out, "value", string(m.Value))
	put(out, "unitCode", m.UnitCode)
	return out
}

func edi3Auth(c *schema.Certificate, a *schema.Authentication) map[string]any {
	m := map[string]any{}
	put(m, "actualDateTime", a.ActualDateTime.String())
	put(m, "statement", a.Statement)
	if l := edi3Location(a.Place); l != nil {
		m["issueLocation"] = l
	}
	if a.Signatory.Name != "" || a.Signatory.Position != "" {
		s := map[string]any{}
		put(s, "name", a.Signatory.Name)
		put(s, "position", a.Signatory.Position)
		m["signatory"] = s
	}
	if a.SealImageRef != "" {
		for _, r := range c.References {
			if at := r.Attachment; at != nil && at.Filename == a.SealImageRef && len(at.Content) > 0 {
				m["signature"] = "data:" + at.MIMECode + ";base64," + base64.StdEncoding.EncodeToString(at.Content)
				break
			}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// setPath stores v at a source path (a.b[2].c) in a JSON tree, creating
// objects and lists on the way. A number or boolean carried as text is
// written as text.
func setPath(root map[string]any, path, v string) error {
	segs := splitSegments(path)
	var cur any = root
	var set func(any)
	for si, seg := range segs {
		name, idxs, _ := strings.Cut(seg, "[")
		var indices []int
		if idxs != "" {
			for _, part := range strings.Split(strings.TrimSuffix(idxs, "]"), "][") {
				n, err := strconv.Atoi(part)
				if err != nil || n < 0 || n > 100000 {
					return fmt.Errorf("bad index %q", part)
				}
				indices = append(indices, n)
			}
		}
		last := si == len(segs)-1
		obj, ok := cur.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is not an object", seg)
		}
		// descend into obj[name], then through the indices
		var next any = obj[name]
		setter := func(x any) { obj[name] = x }
		for k, n := range indices {
			list, _ := next.([]any)
			for len(list) <= n {
				list = append(list, nil)
			}
			setter(list)
			l := list
			setter = func(x any) { l[n] = x }
			next = l[n]
			_ = k
		}
		if last {
			setter(v)
			return nil
		}
		if _, ok := next.(map[string]any); !ok {
			m := map[string]any{}
			setter(m)
			next = m
		}
		cur = next
		set = setter
	}
	_ = set
	return nil
}

// CodeQuantityFromWeight is the INFO finding that a goods item's quantity
// was taken from the gross weight of its transport packages.
const CodeQuantityFromWeight = "ECO-MAP-QUANTITY-FROM-GROSS-WEIGHT"

// CodeWeightUnreadable is the WARNING that a package's gross weight could
// not be read, so the item got no quantity from it.
const CodeWeightUnreadable = "ECO-MAP-GROSS-WEIGHT-UNREADABLE"

// edi3GrossWeightQuantities gives each goods item that has no quantity the
// summed gross weight of its edi3 transport packages, in kilograms: RCEP
// and ATIGA accept the gross weight as the quantity. The goods items are
// the trade line items in document order (as the edi3-coo profile
// flattens them); a count that does not match changes nothing.
func edi3GrossWeightQuantities(c *schema.Certificate, tree any) schema.Findings {
	root, _ := tree.(map[string]any)
	sc, _ := root["supplyChainConsignment"].(map[string]any)
	cis, _ := sc["includedConsignmentItems"].([]any)
	var lines []map[string]any
	for _, ci := range cis {
		m, _ := ci.(map[string]any)
		tls, _ := m["tradeLineItems"].([]any)
		for _, tl := range tls {
			l, _ := tl.(map[string]any)
			lines = append(lines, l)
		}
	}
	items := c.Consignment.Items
	if len(lines) != len(items) {
		return nil
	}
	var notes schema.Findings
	for i := range items {
		it := &items[i]
		if it.Quantity.Value != "" || it.Quantity.UnitCode != "" {
			continue
		}
		pkgs, _ := lines[i]["transportPackages"].([]any)
		if len(pkgs) == 0 {
			continue
		}
		path := fmt.Sprintf("supplyChainConsignment.includedConsignmentItems[%d].quantity", i)
		total := new(big.Rat)
		ok := true
		for j, pk := range pkgs {
			m, _ := pk.(map[string]any)
			w, _ := m["grossWeight"].(string)
			kg, err := parseKilograms(w)
			if err != nil {
				notes = append(notes, schema.Finding{Area: schema.AreaMandatory, Level: schema.Warning, Code: CodeWeightUnreadable, Path: path,
					Message: fmt.Sprintf("item %d: package %d's grossWeight %q: %v; the item has no quantity from its packages", i+1, j+1, w, err)})
				ok = false
				break
			}
			total.Add(total, kg)
		}
		if !ok {
			continue
		}
		it.Quantity = schema.Measure{Value: schema.Decimal(ratDecimal(total)), UnitCode: "KGM"}
		notes = append(notes, schema.Finding{Area: schema.AreaMandatory, Level: schema.Info, Code: CodeQuantityFromWeight, Path: path,
			Message: fmt.Sprintf("item %d has no quantity: the gross weight of its %d transport package(s), %s KGM, is taken as the quantity (RCEP and ATIGA accept gross weight)", i+1, len(pkgs), it.Quantity.Value)})
	}
	return notes
}

var weightUnits = map[string]*big.Rat{
	"KG": big.NewRat(1, 1), "KGS": big.NewRat(1, 1), "KGM": big.NewRat(1, 1), "KILOGRAM": big.NewRat(1, 1), "KILOGRAMS": big.NewRat(1, 1), "KILO": big.NewRat(1, 1), "KILOS": big.NewRat(1, 1),
	"G": big.NewRat(1, 1000), "GRM": big.NewRat(1, 1000), "GRAM": big.NewRat(1, 1000), "GRAMS": big.NewRat(1, 1000),
	"T": big.NewRat(1000, 1), "TNE": big.NewRat(1000, 1), "TONNE": big.NewRat(1000, 1), "TONNES": big.NewRat(1000, 1),
}

// parseKilograms reads a weight written as a number and a unit of mass
// ("450 Kg", "450kg", "1.2 t", "900 KGM") and returns it in kilograms.
func parseKilograms(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	if !schema.Decimal(num).Valid() {
		return nil, fmt.Errorf("write a number and a unit of mass, e.g. 450 kg")
	}
	f, ok := weightUnits[unit]
	if !ok {
		return nil, fmt.Errorf("unit %q is not a unit of mass (kg, g, t)", unit)
	}
	v, _ := new(big.Rat).SetString(num)
	return v.Mul(v, f), nil
}

// ratDecimal writes r as a decimal without trailing zeros.
func ratDecimal(r *big.Rat) string {
	s := r.FloatString(6)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
