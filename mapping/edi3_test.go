package mapping

import (
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/testenv"
	"github.com/ecogate/ecogate/schema"
)

// chafta maps the TradeTrust CHAFTA certificate with the edi3-coo profile
// and returns the certificate and the source record.
func chafta(t testing.TB) (*schema.Certificate, *Record) {
	t.Helper()
	path := testenv.Shared(t, "vectors", "tradetrust", "coo-selective-disclosure.unsalted-data.json")
	p, err := Builtin("edi3-coo")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := p.ReadRecords(f, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	c, err := p.MapRecord(recs[0])
	if err != nil {
		t.Fatalf("map: %v", err)
	}
	return c, recs[0]
}

// leafCheck says where a source leaf lands: it returns an error when the
// canonical value does not hold the leaf's value.
type leafCheck func(c *schema.Certificate, ix []int, path, v string) error

func eq(get func(c *schema.Certificate, ix []int) string) leafCheck {
	return eqf(get, func(v string) string { return v })
}

// eqf checks that the canonical field equals want(v).
func eqf(get func(c *schema.Certificate, ix []int) string, want func(string) string) leafCheck {
	return func(c *schema.Certificate, ix []int, _, v string) error {
		if got, w := get(c, ix), want(v); got != w {
			return fmt.Errorf("canonical value %q, want %q", got, w)
		}
		return nil
	}
}

func both(a, b leafCheck) leafCheck {
	return func(c *schema.Certificate, ix []int, path, v string) error {
		if err := a(c, ix, path, v); err != nil {
			return err
		}
		return b(c, ix, path, v)
	}
}

// carried checks that the leaf travels verbatim as a carried field under
// its own source path.
func carried(c *schema.Certificate, _ []int, path, v string) error {
	{
		for _, f := range Carried(c) {
			if f.Path == path {
				if f.Value != v {
					return fmt.Errorf("carried as %q, want %q", f.Value, v)
				}
				return nil
			}
		}
		return fmt.Errorf("not carried")
	}
}

func idText(ids []schema.Identifier) string {
	if len(ids) == 0 {
		return ""
	}
	if ids[0].SchemeID == "" {
		return ids[0].Value
	}
	return ids[0].SchemeID + ":" + ids[0].Value
}

func line(a *schema.Address, i int) string {
	if a == nil || i >= len(a.Lines) {
		return ""
	}
	return a.Lines[i]
}

func dataURI(c *schema.Certificate, name string) string {
	for _, r := range c.References {
		if r.Attachment != nil && r.Attachment.Filename == name && name != "" {
			return "data:" + r.Attachment.MIMECode + ";base64," + base64.StdEncoding.EncodeToString(r.Attachment.Content)
		}
	}
	return ""
}

const locode = "unece.un.org:locode:"

// TestEdi3CHAFTAFieldByField walks every leaf of the TradeTrust CHAFTA
// certificate (edi3 / UN/CEFACT CoO JSON) and proves that its value lands in
// the canonical certificate: in its home field (with the stated
// normalisation: LOCODE scheme prefix, HS dots, scheme:value identifiers,
// date-times cut to dates), or carried verbatim as a carried field when the
// dataset has no home for it. Every table row must be used.
func TestEdi3CHAFTAFieldByField(t *testing.T) {
	c, rec := chafta(t)
	cons := &c.Consignment
	// goods index of trade line j of consignment item i
	var offsets []int
	n := 0
	items, _ := rec.tree.(map[string]any)["supplyChainConsignment"].(map[string]any)["includedConsignmentItems"].([]any)
	for _, it := range items {
		offsets = append(offsets, n)
		n += len(it.(map[string]any)["tradeLineItems"].([]any))
	}
	if len(cons.Items) != n || n != 3 {
		t.Fatalf("%d goods items, want %d (3 in the sample)", len(cons.Items), n)
	}
	g := func(ix []int) *schema.GoodsItem { return &cons.Items[offsets[ix[0]]+ix[1]] }
	date10 := func(v string) string { return v[:10] }
	hdr := &c.Header

	table := map[string]leafCheck{
		"iD":                            eq(func(c *schema.Certificate, _ []int) string { return hdr.ID }),
		"issueDateTime":                 eq(func(c *schema.Certificate, _ []int) string { return hdr.IssueDateTime.String() }),
		"name":                          eq(func(c *schema.Certificate, _ []int) string { return hdr.Name }),
		"status":                        eqf(func(c *schema.Certificate, _ []int) string { return hdr.Status }, func(v string) string { return map[string]string{"issued": "70"}[v] }),
		"isPreferential":                eq(func(c *schema.Certificate, _ []int) string { return strconv.FormatBool(hdr.IsPreferential) }),
		"freeTradeAgreement":            eq(func(c *schema.Certificate, _ []int) string { return hdr.Agreement }),
		"issueLocation.iD":              eq(func(c *schema.Certificate, _ []int) string { return locode + hdr.IssueLocation.ID }),
		"issueLocation.name":            eq(func(c *schema.Certificate, _ []int) string { return hdr.IssueLocation.Name }),
		"issuer.iD":                     eq(func(c *schema.Certificate, _ []int) string { return idText(hdr.Issuer.IDs) }),
		"issuer.name":                   eq(func(c *schema.Certificate, _ []int) string { return hdr.Issuer.Name }),
		"issuer.postalAddress.line1":    eq(func(c *schema.Certificate, _ []int) string { return line(hdr.Issuer.Address, 0) }),
		"issuer.postalAddress.line2":    eq(func(c *schema.Certificate, _ []int) string { return line(hdr.Issuer.Address, 1) }),
		"issuer.postalAddress.cityName": eq(func(c *schema.Certificate, _ []int) string { return hdr.Issuer.Address.CityName }),
		"issuer.postalAddress.postcode": eq(func(c *schema.Certificate, _ []int) string { return hdr.Issuer.Address.Postcode }),
		"issuer.postalAddress.countrySubDivisionName": eq(func(c *schema.Certificate, _ []int) string { return hdr.Issuer.Address.CountrySubDivisionName }),
		"issuer.postalAddress.countryCode":            eq(func(c *schema.Certificate, _ []int) string { return hdr.Issuer.Address.CountryCode }),

		"firstSignatoryAuthentication.signature":       eq(func(c *schema.Certificate, _ []int) string { return dataURI(c, c.FirstSignatory.SealImageRef) }),
		"firstSignatoryAuthentication.actualDateTime":  eq(func(c *schema.Certificate, _ []int) string { return c.FirstSignatory.ActualDateTime.String() }),
		"firstSignatoryAuthentication.statement":       eq(func(c *schema.Certificate, _ []int) string { return c.FirstSignatory.Statement }),
		"secondSignatoryAuthentication.signature":      eq(func(c *schema.Certificate, _ []int) string { return dataURI(c, c.SecondSignatory.SealImageRef) }),
		"secondSignatoryAuthentication.actualDateTime": eq(func(c *schema.Certificate, _ []int) string { return c.SecondSignatory.ActualDateTime.String() }),
		"secondSignatoryAuthentication.statement":      eq(func(c *schema.Certificate, _ []int) string { return c.SecondSignatory.Statement }),

		// OpenAttestation wrapper data: no home in an e-CO, carried.
		"$template.type":                    carried,
		"$template.name":                    carried,
		"$template.url":                     carried,
		"issuers[*].name":                   carried,
		"issuers[*].documentStore":          carried,
		"issuers[*].identityProof.type":     carried,
		"issuers[*].identityProof.location": carried,
		"network.chain":                     carried,
		"network.chainId":                   carried,

		"supplyChainConsignment.exportCountry.code":                                    eq(func(c *schema.Certificate, _ []int) string { return hdr.ExportCountry }),
		"supplyChainConsignment.importCountry.code":                                    eq(func(c *schema.Certificate, _ []int) string { return hdr.ImportCountry }),
		"supplyChainConsignment.exporter.iD":                                           eq(func(c *schema.Certificate, _ []int) string { return idText(cons.Exporter.IDs) }),
		"supplyChainConsignment.exporter.name":                                         eq(func(c *schema.Certificate, _ []int) string { return cons.Exporter.Name }),
		"supplyChainConsignment.exporter.postalAddress.line1":                          eq(func(c *schema.Certificate, _ []int) string { return line(cons.Exporter.Address, 0) }),
		"supplyChainConsignment.exporter.postalAddress.cityName":                       eq(func(c *schema.Certificate, _ []int) string { return cons.Exporter.Address.CityName }),
		"supplyChainConsignment.exporter.postalAddress.postcode":                       eq(func(c *schema.Certificate, _ []int) string { return cons.Exporter.Address.Postcode }),
		"supplyChainConsignment.exporter.postalAddress.countrySubDivisionName":         eq(func(c *schema.Certificate, _ []int) string { return cons.Exporter.Address.CountrySubDivisionName }),
		"supplyChainConsignment.exporter.postalAddress.countryCode":                    eq(func(c *schema.Certificate, _ []int) string { return cons.Exporter.Address.CountryCode }),
		"supplyChainConsignment.importer.iD":                                           eq(func(c *schema.Certificate, _ []int) string { return idText(cons.Importer.IDs) }),
		"supplyChainConsignment.importer.name":                                         eq(func(c *schema.Certificate, _ []int) string { return cons.Importer.Name }),
		"supplyChainConsignment.importer.postalAddress.line1":                          eq(func(c *schema.Certificate, _ []int) string { return line(cons.Importer.Address, 0) }),
		"supplyChainConsignment.importer.postalAddress.line2":                          eq(func(c *schema.Certificate, _ []int) string { return line(cons.Importer.Address, 1) }),
		"supplyChainConsignment.importer.postalAddress.cityName":                       eq(func(c *schema.Certificate, _ []int) string { return cons.Importer.Address.CityName }),
		"supplyChainConsignment.importer.postalAddress.postcode":                       eq(func(c *schema.Certificate, _ []int) string { return cons.Importer.Address.Postcode }),
		"supplyChainConsignment.importer.postalAddress.countryCode":                    eq(func(c *schema.Certificate, _ []int) string { return cons.Importer.Address.CountryCode }),
		"supplyChainConsignment.loadingBaseportLocation.iD":                            eq(func(c *schema.Certificate, _ []int) string { return locode + cons.LoadingPort.ID }),
		"supplyChainConsignment.loadingBaseportLocation.name":                          eq(func(c *schema.Certificate, _ []int) string { return cons.LoadingPort.Name }),
		"supplyChainConsignment.unloadingBaseportLocation.iD":                          eq(func(c *schema.Certificate, _ []int) string { return locode + cons.UnloadingPort.ID }),
		"supplyChainConsignment.unloadingBaseportLocation.name":                        eq(func(c *schema.Certificate, _ []int) string { return cons.UnloadingPort.Name }),
		"supplyChainConsignment.mainCarriageTransportMovement.usedTransportMeans.iD":   eq(func(c *schema.Certificate, _ []int) string { return cons.MainCarriage.UsedTransportMeans.ID }),
		"supplyChainConsignment.mainCarriageTransportMovement.usedTransportMeans.name": eq(func(c *schema.Certificate, _ []int) string { return cons.MainCarriage.UsedTransportMeans.Name }),
		// The dataset keeps a departure date; the time of day is carried.
		"supplyChainConsignment.mainCarriageTransportMovement.departureEvent.departureDateTime": both(eqf(func(c *schema.Certificate, _ []int) string { return cons.MainCarriage.DepartureDate.String() }, date10), carried),
		"supplyChainConsignment.mainCarriageTransportMovement.iD":                               eq(func(c *schema.Certificate, _ []int) string { return cons.MainCarriage.JourneyID }),
		// No home for a free-text note on the transport movement: carried.
		"supplyChainConsignment.mainCarriageTransportMovement.information": carried,
		"supplyChainConsignment.iD":                                        eq(func(c *schema.Certificate, _ []int) string { return idText([]schema.Identifier{*cons.ID}) }),
		"supplyChainConsignment.information":                               eq(func(c *schema.Certificate, _ []int) string { return cons.Information }),

		// Consignment items are flattened into goods items; their own id
		// and note have no home: carried.
		"supplyChainConsignment.includedConsignmentItems[*].iD":          carried,
		"supplyChainConsignment.includedConsignmentItems[*].information": carried,
		"supplyChainConsignment.includedConsignmentItems[*].crossBorderRegulatoryProcedure.originCriteriaText": func(c *schema.Certificate, ix []int, _, v string) error {
			for j := range items[ix[0]].(map[string]any)["tradeLineItems"].([]any) {
				if got := g([]int{ix[0], j}).OriginCriteria; !slices.Equal(got, []string{v}) {
					return fmt.Errorf("goods line %d has criteria %q, want [%q]", j, got, v)
				}
			}
			return nil
		},
		"supplyChainConsignment.includedConsignmentItems[*].manufacturer.iD": func(c *schema.Certificate, ix []int, _, v string) error {
			p := cons.Producers[ix[0]]
			if idText(p.IDs) != v {
				return fmt.Errorf("producer id %q", idText(p.IDs))
			}
			for j := range items[ix[0]].(map[string]any)["tradeLineItems"].([]any) {
				if g([]int{ix[0], j}).ProducerRef != p.Ref || p.Ref == "" {
					return fmt.Errorf("goods line %d does not point at producer %q", j, p.Ref)
				}
			}
			return nil
		},
		"supplyChainConsignment.includedConsignmentItems[*].manufacturer.name":                   eq(func(c *schema.Certificate, ix []int) string { return cons.Producers[ix[0]].Name }),
		"supplyChainConsignment.includedConsignmentItems[*].manufacturer.postalAddress.line1":    eq(func(c *schema.Certificate, ix []int) string { return line(cons.Producers[ix[0]].Address, 0) }),
		"supplyChainConsignment.includedConsignmentItems[*].manufacturer.postalAddress.cityName": eq(func(c *schema.Certificate, ix []int) string { return cons.Producers[ix[0]].Address.CityName }),
		"supplyChainConsignment.includedConsignmentItems[*].manufacturer.postalAddress.postcode": eq(func(c *schema.Certificate, ix []int) string { return cons.Producers[ix[0]].Address.Postcode }),
		"supplyChainConsignment.includedConsignmentItems[*].manufacturer.postalAddress.countrySubDivisionName": eq(func(c *schema.Certificate, ix []int) string {
			return cons.Producers[ix[0]].Address.CountrySubDivisionName
		}),
		"supplyChainConsignment.includedConsignmentItems[*].manufacturer.postalAddress.countryCode": eq(func(c *schema.Certificate, ix []int) string { return cons.Producers[ix[0]].Address.CountryCode }),

		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].sequenceNumber":      eq(func(c *schema.Certificate, ix []int) string { return strconv.Itoa(g(ix).SequenceNumber) }),
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].invoiceReference.iD": eq(func(c *schema.Certificate, ix []int) string { return g(ix).InvoiceReferences[0].ID }),
		// The invoice date lands as a date; the time of day is carried.
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].invoiceReference.formattedIssueDateTime": both(eqf(func(c *schema.Certificate, ix []int) string { return g(ix).InvoiceReferences[0].IssueDate.String() }, date10), carried),
		// The invoice file: a referenced invoice document (380) with the same number.
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].invoiceReference.attachedBinaryFile.uRI": func(c *schema.Certificate, ix []int, _, v string) error {
			id := g(ix).InvoiceReferences[0].ID
			for _, r := range c.References {
				if r.TypeCode == "380" && r.ID == id && r.Attachment != nil && r.Attachment.URI == v && r.IssueDate == g(ix).InvoiceReferences[0].IssueDate {
					return nil
				}
			}
			return fmt.Errorf("no referenced invoice %s with that URI", id)
		},
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].tradeProduct.iD":                             eq(func(c *schema.Certificate, ix []int) string { return idText(g(ix).Product.IDs) }),
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].tradeProduct.description":                    eq(func(c *schema.Certificate, ix []int) string { return g(ix).Product.Description }),
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].tradeProduct.harmonisedTariffCode.classCode": eqf(func(c *schema.Certificate, ix []int) string { return g(ix).Product.HSCode }, func(v string) string { return strings.ReplaceAll(v, ".", "") }),
		// The HS class name is a code-list label, not certificate data: carried.
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].tradeProduct.harmonisedTariffCode.className": carried,
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].tradeProduct.originCountry.code":             eq(func(c *schema.Certificate, ix []int) string { return g(ix).Product.OriginCountry }),
		// Packages identified by SSCC with weight and volume: the dataset's
		// Packaging has no id, weight or volume, so these are carried.
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].transportPackages[*].iD":          carried,
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].transportPackages[*].grossVolume": carried,
		"supplyChainConsignment.includedConsignmentItems[*].tradeLineItems[*].transportPackages[*].grossWeight": carried,
	}

	idxRE := regexp.MustCompile(`\[(\d+)\]`)
	used := map[string]bool{}
	leaves := 0
	walkLeaves(rec.tree, "", func(path, v string) {
		leaves++
		pattern := idxRE.ReplaceAllString(path, "[*]")
		var ix []int
		for _, m := range idxRE.FindAllStringSubmatch(path, -1) {
			n, _ := strconv.Atoi(m[1])
			ix = append(ix, n)
		}
		check, ok := table[pattern]
		if !ok {
			t.Errorf("%s = %.60q: no row in the table says where it lands", path, v)
			return
		}
		used[pattern] = true
		if err := check(c, ix, path, v); err != nil {
			t.Errorf("%s = %.60q: %v", path, v, err)
		}
	})
	for p := range table {
		if !used[p] {
			t.Errorf("table row %s matched no leaf of the sample", p)
		}
	}
	if leaves != 123 {
		t.Errorf("%d leaves in the sample, the table was written for 123", leaves)
	}
	t.Logf("%d leaves checked: %d carried verbatim", leaves, len(Carried(c)))
}

// TestEdi3GrossWeightQuantity: a trade line item without a quantity takes
// the summed gross weight of its packages (KGM) with an INFO note; an
// unreadable weight gives a WARNING and no quantity.
func TestEdi3GrossWeightQuantity(t *testing.T) {
	c, rec := chafta(t)
	for i, want := range []string{"900", "900", "930"} {
		if q := c.Consignment.Items[i].Quantity; string(q.Value) != want || q.UnitCode != "KGM" {
			t.Errorf("item %d quantity %+v, want %s KGM", i+1, q, want)
		}
	}
	p, _ := Builtin("edi3-coo")
	_, notes, err := p.MapRecordNotes(rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 3 || notes[0].Level != schema.Info || notes[0].Code != CodeQuantityFromWeight || notes[2].Path != "supplyChainConsignment.includedConsignmentItems[2].quantity" || !strings.Contains(notes[2].Message, "930 KGM") {
		t.Errorf("notes %v", notes)
	}

	for _, tc := range []struct {
		weights []string
		qty     string // quantity of the item, "" for none
		level   schema.Level
	}{
		{[]string{"450 Kg", "1.5 t"}, "1950", schema.Info},
		{[]string{"250g", "0.25 KGM"}, "0.5", schema.Info},
		{[]string{"450 lb"}, "", schema.Warning},
		{[]string{"heavy"}, "", schema.Warning},
	} {
		var pk []string
		for _, w := range tc.weights {
			pk = append(pk, fmt.Sprintf(`{"grossWeight": %q}`, w))
		}
		src := `{"iD": "X-1", "issueDateTime": "2026-03-01T10:00:00Z", "supplyChainConsignment": {"includedConsignmentItems": [{"tradeLineItems": [{"sequenceNumber": 1, "transportPackages": [` + strings.Join(pk, ",") + `]}]}]}}`
		recs, err := p.ReadRecords(strings.NewReader(src), "t.json")
		if err != nil || len(recs) != 1 {
			t.Fatal(err)
		}
		c, notes, err := p.MapRecordNotes(recs[0])
		if err != nil {
			t.Fatal(err)
		}
		q := c.Consignment.Items[0].Quantity
		if string(q.Value) != tc.qty || len(notes) != 1 || notes[0].Level != tc.level {
			t.Errorf("%v: quantity %+v, notes %v", tc.weights, q, notes)
		}
	}
	// A quantity given in the source wins: no note.
	src := `{"iD": "X-1", "issueDateTime": "2026-03-01T10:00:00Z", "supplyChainConsignment": {"includedConsignmentItems": [{"tradeLineItems": [{"sequenceNumber": 1, "quantity": {"value": "12", "unitCode": "C62"}, "transportPackages": [{"grossWeight": "5 kg"}]}]}]}}`
	recs, _ := p.ReadRecords(strings.NewReader(src), "t.json")
	c2, notes, err := p.MapRecordNotes(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	if q := c2.Consignment.Items[0].Quantity; string(q.Value) != "12" || q.UnitCode != "C62" || len(notes) != 0 {
		t.Errorf("given quantity: %+v %v", q, notes)
	}
}
