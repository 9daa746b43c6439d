package portal_test

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
)

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		bad  string
	}{
		{"", 0, ""}, {"  ", 0, ""}, {"12", 1200, ""}, {"12.5", 1250, ""}, {"1234.50", 123450, ""}, {"1,234.05", 123405, ""},
		{"0.01", 1, ""}, {"9999999999999.99", 999999999999999, ""},
		{"-1", 0, "not an amount"}, {"1.", 0, "not an amount"}, {".5", 0, "not an amount"}, {"1.234", 0, "not an amount"},
		{"1e3", 0, "not an amount"}, {"12 345", 0, "not an amount"}, {"١٢", 0, "not an amount"}, {"99999999999999", 0, "not an amount"},
		{"+5", 0, "not an amount"},
	} {
		got, err := portal.ParseAmount(c.in)
		if c.bad == "" && (err != nil || got != c.want) || c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)) {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d (error %q)", c.in, got, err, c.want, c.bad)
		}
	}
}

// fullForm is a complete form of two goods lines, the second with two
// materials (and an empty material row) and a cost sheet.
func fullForm() url.Values {
	return url.Values{
		"agreement": {"AIFTA"}, "agency": {" EIC "}, "office": {"MUM"}, "importingCountry": {"vn"}, "invoiceNumber": {"INV-1"},
		"invoiceDate": {"2026-03-01"}, "currency": {"inr"}, "consignee.name": {"Saigon Imports"}, "consignee.address": {"1 Le Loi"},
		"consignee.country": {"vn"}, "transport.mode": {"1"}, "transport.vessel": {"MV Ganga"}, "transport.portLoading": {"INNSA"},
		"transport.portDischarge": {"VNSGN"}, "transport.departureDate": {"2026-03-06"}, "declaration.place": {"Mumbai"},
		"declaration.name": {"Asha Rao"}, "declaration.designation": {"Director"}, "remarks": {"two containers"},
		"goods.0.hs": {"02023000"}, "goods.0.description": {"Frozen meat"}, "goods.0.quantity": {"1000"}, "goods.0.unit": {"kgm"},
		"goods.0.packages": {"50"}, "goods.0.packageType": {"ct"}, "goods.0.marks": {"A/1-50"}, "goods.0.fob": {"10000.00"}, "goods.0.criterion": {"WO"},
		"goods.1.hs": {"85044010"}, "goods.1.description": {"Converters"}, "goods.1.quantity": {"1200"}, "goods.1.unit": {"NAR"},
		"goods.1.fob": {"45600"}, "goods.1.criterion": {"RVC 35%"},
		"goods.1.materials.0.hs": {"854110"}, "goods.1.materials.0.description": {"Diodes"}, "goods.1.materials.0.originCountry": {"cn"}, "goods.1.materials.0.value": {"20000"},
		"goods.1.materials.1.hs": {""}, "goods.1.materials.1.description": {""}, "goods.1.materials.1.originCountry": {""}, "goods.1.materials.1.value": {""},
		"goods.1.materials.2.hs": {"854140"}, "goods.1.materials.2.value": {"1.5"},
		"goods.1.cs.price": {"45600"}, "goods.1.cs.nonOriginatingMaterials": {"20000"}, "goods.1.cs.labour": {"5000.25"},
	}
}

func TestParseContent(t *testing.T) {
	c, probs := portal.ParseContent(fullForm())
	if len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	want := issuance.Content{Agreement: "AIFTA", Agency: "EIC", Office: "MUM", ImportingCountry: "VN", InvoiceNumber: "INV-1", InvoiceDate: "2026-03-01",
		Currency: "INR", Consignee: issuance.Party{Name: "Saigon Imports", Address: "1 Le Loi", Country: "VN"},
		Transport:   issuance.Transport{Mode: "1", Vessel: "MV Ganga", PortLoading: "INNSA", PortDischarge: "VNSGN", DepartureDate: "2026-03-06"},
		Declaration: issuance.Declaration{Place: "Mumbai", Name: "Asha Rao", Designation: "Director"}, Remarks: "two containers",
		Goods: []issuance.GoodsLine{
			{HS: "02023000", Description: "Frozen meat", Quantity: "1000", Unit: "KGM", Packages: 50, PackageType: "CT", Marks: "A/1-50", FOB: 1_000_000, Criterion: "WO"},
			{HS: "85044010", Description: "Converters", Quantity: "1200", Unit: "NAR", FOB: 4_560_000, Criterion: "RVC 35%",
				Materials: []issuance.Material{{HS: "854110", Description: "Diodes", OriginCountry: "CN", Value: 2_000_000}, {HS: "854140", Value: 150}},
				CostSheet: &issuance.CostSheet{Basis: issuance.BasisFOB, Price: 4_560_000, NonOriginatingMaterials: 2_000_000, Labour: 500_025}},
		}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("content\n got %+v\nwant %+v", c, want)
	}

	for _, tc := range []struct {
		name   string
		edit   func(url.Values)
		fields []string // the problems' fields
		check  func(issuance.Content) string
	}{
		{"bad FOB", func(f url.Values) { f.Set("goods.0.fob", "ten") }, []string{"goods[0].fob"}, nil},
		{"negative FOB", func(f url.Values) { f.Set("goods.1.fob", "-5") }, []string{"goods[1].fob"}, nil},
		// the problem is keyed by the row's place once the empty row is dropped
		// (the form is shown again from the parsed content)
		{"bad material value after an empty row", func(f url.Values) { f.Set("goods.1.materials.2.value", "1.234") }, []string{"goods[1].materials[1].value"}, nil},
		{"bad value on an otherwise empty row is kept", func(f url.Values) { f.Set("goods.1.materials.1.value", "x") }, []string{"goods[1].materials[1].value"}, func(c issuance.Content) string {
			if len(c.Goods[1].Materials) != 3 {
				return fmt.Sprintf("%d materials, want the row with the bad value kept", len(c.Goods[1].Materials))
			}
			return ""
		}},
		{"bad cost sheet", func(f url.Values) { f.Set("goods.1.cs.profit", "x") }, []string{"goods[1].costSheet.profit"}, nil},
		{"bad packages", func(f url.Values) { f.Set("goods.0.packages", "fifty") }, []string{"goods[0].packages"}, nil},
		{"negative packages", func(f url.Values) { f.Set("goods.0.packages", "-1") }, []string{"goods[0].packages"}, nil},
		{"two problems on one line", func(f url.Values) { f.Set("goods.0.fob", "x"); f.Set("goods.0.packages", "y") }, []string{"goods[0].fob", "goods[0].packages"}, nil},
		{"a gap ends the goods lines", func(f url.Values) { f.Del("goods.0.hs") }, nil, func(c issuance.Content) string {
			if len(c.Goods) != 0 {
				return fmt.Sprintf("%d lines read after a missing goods.0.hs", len(c.Goods))
			}
			return ""
		}},
		{"no cost sheet when all zero", func(f url.Values) {
			for _, k := range []string{"price", "nonOriginatingMaterials", "labour"} {
				f.Set("goods.1.cs."+k, "")
			}
		}, nil, func(c issuance.Content) string {
			if c.Goods[1].CostSheet != nil {
				return "a cost sheet of zeros was kept"
			}
			return ""
		}},
		{"basis kept", func(f url.Values) { f.Set("goods.1.cs.basis", "ex-works") }, nil, func(c issuance.Content) string {
			if c.Goods[1].CostSheet.Basis != "ex-works" {
				return "basis " + string(c.Goods[1].CostSheet.Basis)
			}
			return ""
		}},
		{"empty form", func(f url.Values) {
			for k := range f {
				delete(f, k)
			}
		}, nil, func(c issuance.Content) string {
			if !reflect.DeepEqual(c, issuance.Content{}) {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{"lines capped", func(f url.Values) {
			for i := range 150 {
				f.Set("goods."+strconv.Itoa(i)+".hs", "0101")
			}
		}, nil, func(c issuance.Content) string {
			if len(c.Goods) != 100 {
				return fmt.Sprintf("%d lines, want 100", len(c.Goods))
			}
			return ""
		}},
	} {
		f := fullForm()
		tc.edit(f)
		c, probs := portal.ParseContent(f)
		var got []string
		for k := range probs {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.fields) {
			t.Errorf("%s: problems %v, want fields %v", tc.name, probs, tc.fields)
		}
		for k, msgs := range probs {
			if len(msgs) == 0 || msgs[0] == "" {
				t.Errorf("%s: %s has no message", tc.name, k)
			}
		}
		if tc.check != nil {
			if msg := tc.check(c); msg != "" {
				t.Errorf("%s: %s", tc.name, msg)
			}
		}
	}
}

// FuzzParseContent: any form parses without panic; amounts and package
// counts are never negative unless a problem names the field; at most 100
// goods lines and 100 materials per line; every problem names a goods
// field; and a parsed amount formats back to the same amount.
func FuzzParseContent(f *testing.F) {
	f.Add(fullForm().Encode())
	f.Add("goods.0.hs=1&goods.0.fob=1.5&goods.0.packages=-3&goods.0.materials.0.hs=&goods.0.materials.0.value=x")
	f.Add("goods.0.hs=&goods.1.hs=&goods.0.cs.price=9999999999999.99&goods.0.cs.basis=%00")
	f.Add("agreement=%FF%FE&goods.0.hs=1&goods.0.fob=1%2C0%2C0")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		c, probs := portal.ParseContent(form)
		for k := range probs {
			if !strings.HasPrefix(k, "goods[") {
				t.Errorf("problem field %q", k)
			}
		}
		if len(c.Goods) > 100 {
			t.Fatalf("%d goods lines", len(c.Goods))
		}
		for i, g := range c.Goods {
			field := "goods[" + strconv.Itoa(i) + "]"
			if g.FOB < 0 || g.Packages < 0 && probs[field+".packages"] == nil || len(g.Materials) > 100 {
				t.Errorf("line %d: %+v", i, g)
			}
			if g.FOB > 0 {
				if back, err := portal.ParseAmount(fmt.Sprintf("%d.%02d", g.FOB/100, g.FOB%100)); err != nil || back != g.FOB {
					t.Errorf("line %d: FOB %d formats back as %d (%v)", i, g.FOB, back, err)
				}
			}
			for j, m := range g.Materials {
				if m.Value < 0 || m == (issuance.Material{}) && probs[fmt.Sprintf("%s.materials[%d].value", field, j)] == nil {
					t.Errorf("line %d: material %+v", i, m)
				}
			}
			if cs := g.CostSheet; cs != nil && (cs.Basis == "" || cs.Price < 0 || cs.Labour < 0 || cs.Other < 0) {
				t.Errorf("line %d: cost sheet %+v", i, cs)
			}
		}
	})
}
