package portal

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/ecogate/ecogate/issuance"
)

// The application form: plain HTML fields named after the application's
// JSON paths ("consignee.name", "goods.0.hs", "goods.0.materials.1.value",
// "goods.0.cs.price"), so that a problem the service reports for
// "goods[0].hs" is shown beside that field. Amounts are typed in major
// units with at most two decimals ("1234.50") and kept in minor units.

// maxFormLines bounds the goods lines and the materials per line read
// from one form (the service has its own, larger, limits).
const maxFormLines = 100

// ParseAmount reads a non-negative amount in major units with at most two
// decimals ("", "12", "12.5", "1234.50") as minor units; "" is 0.
func ParseAmount(s string) (int64, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if s == "" {
		return 0, nil
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 13 || !digits(whole) || dot && (len(frac) == 0 || len(frac) > 2 || !digits(frac)) {
		return 0, fmt.Errorf("%q is not an amount such as 1234.50 (digits, at most two decimals)", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// amount formats minor units as major units with two decimals ("" for 0
// when blank is set).
func amount(minor int64, blank bool) string {
	if minor == 0 && blank {
		return ""
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

// costSheetField is one amount of a cost sheet and its form key
// ("goods.0.cs.KEY").
type costSheetField struct {
	k string
	v *int64
}

// costSheetFields lists cs's amounts by form key.
func costSheetFields(cs *issuance.CostSheet) []costSheetField {
	return []costSheetField{{"price", &cs.Price}, {"originatingMaterials", &cs.OriginatingMaterials}, {"nonOriginatingMaterials", &cs.NonOriginatingMaterials},
		{"labour", &cs.Labour}, {"overheads", &cs.Overheads}, {"profit", &cs.Profit}, {"other", &cs.Other}}
}

// formProblems collects the problems of reading a form, by field.
type formProblems map[string][]string

func (p formProblems) add(field, msg string) { p[field] = append(p[field], msg) }

// ParseContent reads the application form into Content. Problems of form
// (an amount that is not a number) come back by field; the content's rules
// are the service's.
func ParseContent(f url.Values) (issuance.Content, map[string][]string) {
	probs := formProblems{}
	g := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	money := func(k, field string) int64 {
		v, err := ParseAmount(f.Get(k))
		if err != nil {
			probs.add(field, err.Error())
		}
		return v
	}
	c := issuance.Content{Agreement: g("agreement"), Agency: g("agency"), Office: g("office"), ImportingCountry: strings.ToUpper(g("importingCountry")),
		InvoiceNumber: g("invoiceNumber"), InvoiceDate: g("invoiceDate"), Currency: strings.ToUpper(g("currency")),
		Consignee:   issuance.Party{Name: g("consignee.name"), Address: g("consignee.address"), Country: strings.ToUpper(g("consignee.country"))},
		Transport:   issuance.Transport{Mode: g("transport.mode"), Vessel: g("transport.vessel"), PortLoading: g("transport.portLoading"), PortDischarge: g("transport.portDischarge"), DepartureDate: g("transport.departureDate")},
		Declaration: issuance.Declaration{Place: g("declaration.place"), Name: g("declaration.name"), Designation: g("declaration.designation")},
		Remarks:     g("remarks")}
	for i := 0; i < maxFormLines; i++ {
		p := fmt.Sprintf("goods.%d.", i)
		if _, ok := f[p+"hs"]; !ok {
			break
		}
		field := fmt.Sprintf("goods[%d]", i)
		line := issuance.GoodsLine{HS: g(p + "hs"), Description: g(p + "description"), Quantity: g(p + "quantity"), Unit: strings.ToUpper(g(p + "unit")),
			PackageType: strings.ToUpper(g(p + "packageType")), Marks: g(p + "marks"), Criterion: g(p + "criterion"),
			FOB: money(p+"fob", field+".fob")}
		if s := g(p + "packages"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				probs.add(field+".packages", fmt.Sprintf("%q is not a number of packages", s))
			}
			line.Packages = n
		}
		for j := 0; j < maxFormLines; j++ {
			mp := fmt.Sprintf("%smaterials.%d.", p, j)
			if _, ok := f[mp+"hs"]; !ok {
				break
			}
			v, verr := ParseAmount(f.Get(mp + "value"))
			m := issuance.Material{HS: g(mp + "hs"), Description: g(mp + "description"), OriginCountry: strings.ToUpper(g(mp + "originCountry")), Value: v}
			if m == (issuance.Material{}) && verr == nil {
				continue // an empty row of the form
			}
			if verr != nil {
				// keyed by the row's place once empty rows are dropped: the
				// form is shown again from the parsed content
				probs.add(fmt.Sprintf("%s.materials[%d].value", field, len(line.Materials)), verr.Error())
			}
			line.Materials = append(line.Materials, m)
		}
		cs := issuance.CostSheet{Basis: issuance.Basis(g(p + "cs.basis"))}
		filled := false
		for _, x := range costSheetFields(&cs) {
			*x.v = money(p+"cs."+x.k, field+".costSheet."+x.k)
			filled = filled || *x.v != 0
		}
		if filled {
			if cs.Basis == "" {
				cs.Basis = issuance.BasisFOB
			}
			line.CostSheet = &cs
		}
		c.Goods = append(c.Goods, line)
	}
	return c, probs
}
