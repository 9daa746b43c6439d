package issuance

import (
	"fmt"
	"strings"
	"time"

	"github.com/ecogate/ecogate/schema"
)

// Kind is the kind of an application.
type Kind string

// The kinds. Duplicate, in-lieu and back-to-back applications point at the
// certificate they concern (Application.Concerns).
const (
	KindOriginal   Kind = "original"
	KindDuplicate  Kind = "duplicate"    // certified true copy of a certificate issued here
	KindInLieu     Kind = "in-lieu"      // replacement of a certificate issued here
	KindBackToBack Kind = "back-to-back" // based on a proof of origin issued by another party
)

// Kinds lists every kind.
var Kinds = []Kind{KindOriginal, KindDuplicate, KindInLieu, KindBackToBack}

func (k Kind) valid() bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// CertRef names a certificate: Country is empty (or this node's country)
// for a certificate issued here, the issuing party's country for
// back-to-back.
type CertRef struct {
	Country string `json:"country,omitempty"`
	Number  string `json:"number"`
	// IssueDate (YYYY-MM-DD) is the original proof's issue date, which a
	// back-to-back e-CO carries.
	IssueDate string `json:"issueDate,omitempty"`
}

// Party is a consignee (or producer).
type Party struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Country string `json:"country"`
}

// Transport is the means of transport and route.
type Transport struct {
	Mode          string `json:"mode"` // UN/ECE Rec 19 code, e.g. "1" sea, "4" air
	Vessel        string `json:"vessel,omitempty"`
	PortLoading   string `json:"portLoading,omitempty"`
	PortDischarge string `json:"portDischarge,omitempty"`
	DepartureDate string `json:"departureDate,omitempty"` // YYYY-MM-DD
}

// Material is one raw material of a product: its HS code (at least 6
// digits for CTSH), country of origin and value in minor units.
type Material struct {
	HS            string `json:"hs"`
	Description   string `json:"description,omitempty"`
	OriginCountry string `json:"originCountry"`
	Value         int64  `json:"value"`
}

// Basis is the price a cost sheet starts from.
type Basis string

// Cost-sheet bases.
const (
	BasisFOB     Basis = "FOB"
	BasisExWorks Basis = "EXW"
)

// CostSheet is the exporter's cost sheet for one product, in minor units
// per the same quantity as the line.
type CostSheet struct {
	Basis                   Basis `json:"basis"`
	Price                   int64 `json:"price"`
	OriginatingMaterials    int64 `json:"originatingMaterials"`
	NonOriginatingMaterials int64 `json:"nonOriginatingMaterials"`
	Labour                  int64 `json:"labour"`
	Overheads               int64 `json:"overheads"`
	Profit                  int64 `json:"profit"`
	Other                   int64 `json:"other,omitempty"`
}

// GoodsLine is one product on the application.
type GoodsLine struct {
	HS          string `json:"hs"` // ITC-HS, 8 digits
	Description string `json:"description"`
	Quantity    string `json:"quantity"` // decimal, e.g. "1250.5"
	Unit        string `json:"unit"`     // UN/ECE Rec 20, e.g. KGM
	Packages    int    `json:"packages,omitempty"`
	PackageType string `json:"packageType,omitempty"` // UN/ECE Rec 21
	Marks       string `json:"marks,omitempty"`
	FOB         int64  `json:"fob"`
	// Criterion is the origin criterion the exporter claims, as the
	// agreement writes it ("WO", "CTH", "RVC 40%", ...).
	Criterion string     `json:"criterion"`
	Materials []Material `json:"materials,omitempty"`
	CostSheet *CostSheet `json:"costSheet,omitempty"`
}

// Declaration is the exporter's declaration on submission.
type Declaration struct {
	Place       string `json:"place"`
	Name        string `json:"name"`
	Designation string `json:"designation"`
}

// Content is what the exporter writes: everything of an application that
// SaveDraft may change.
type Content struct {
	Agreement        string      `json:"agreement"`
	Agency           string      `json:"agency"`
	Office           string      `json:"office"`
	ImportingCountry string      `json:"importingCountry"`
	InvoiceNumber    string      `json:"invoiceNumber"`
	InvoiceDate      string      `json:"invoiceDate"` // YYYY-MM-DD
	Currency         string      `json:"currency"`
	Consignee        Party       `json:"consignee"`
	Transport        Transport   `json:"transport"`
	Goods            []GoodsLine `json:"goods"`
	Declaration      Declaration `json:"declaration"`
	Remarks          string      `json:"remarks,omitempty"`
}

// Event is one move in an application's history.
type Event struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action Action    `json:"action"`
	From   State     `json:"from"`
	To     State     `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Application is one application for a certificate.
type Application struct {
	ID        string  `json:"id"`
	Kind      Kind    `json:"kind"`
	Concerns  CertRef `json:"concerns,omitzero"`
	IEC       string  `json:"iec"`
	CreatedBy string  `json:"createdBy"`
	State     State   `json:"state"`
	Content   Content `json:"content"`
	// Query is the open query of a returned application.
	Query string `json:"query,omitempty"`
	// Fee is what submission charged (minor units) and PaidVia how.
	Fee     int64  `json:"fee"`
	PaidVia string `json:"paidVia,omitempty"`
	// Reviewer is the officer who took the application up.
	Reviewer string `json:"reviewer,omitempty"`
	// Certificate is the number given at issue.
	Certificate string    `json:"certificate,omitempty"`
	History     []Event   `json:"history"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	Submitted   time.Time `json:"submitted,omitzero"`
	Issued      time.Time `json:"issued,omitzero"`
}

// Limits of a draft: a draft saves at any point, but not without bounds.
const (
	maxGoods     = 500
	maxMaterials = 200
	maxText      = 2000
	// maxAmount bounds every amount (10^15 minor units) so that the
	// origin arithmetic (x 100, x 10^4) cannot overflow int64.
	maxAmount = int64(1e15)
)

// checkDraft checks only what a draft must respect at any point: sizes,
// non-negative amounts. Incomplete content is fine.
func checkDraft(c *Content) error {
	var p problems
	text := func(field, v string) {
		if len(v) > maxText {
			p.add(field, "is longer than %d characters", maxText)
		}
	}
	amount := func(field string, v int64) {
		if v < 0 || v > maxAmount {
			p.add(field, "must be between 0 and %d (minor units)", maxAmount)
		}
	}
	for _, f := range []struct{ n, v string }{
		{"agreement", c.Agreement}, {"agency", c.Agency}, {"office", c.Office}, {"invoiceNumber", c.InvoiceNumber},
		{"consignee.name", c.Consignee.Name}, {"consignee.address", c.Consignee.Address}, {"remarks", c.Remarks},
		{"transport.vessel", c.Transport.Vessel}, {"declaration.place", c.Declaration.Place},
		{"declaration.name", c.Declaration.Name}, {"declaration.designation", c.Declaration.Designation},
	} {
		text(f.n, f.v)
	}
	if len(c.Goods) > maxGoods {
		p.add("goods", "has %d lines; at most %d", len(c.Goods), maxGoods)
	}
	for i, g := range c.Goods {
		f := fmt.Sprintf("goods[%d]", i)
		text(f+".description", g.Description)
		text(f+".marks", g.Marks)
		amount(f+".fob", g.FOB)
		if g.Packages < 0 {
			p.add(f+".packages", "must not be negative")
		}
		if len(g.Materials) > maxMaterials {
			p.add(f+".materials", "has %d materials; at most %d", len(g.Materials), maxMaterials)
		}
		for j, m := range g.Materials {
			amount(fmt.Sprintf("%s.materials[%d].value", f, j), m.Value)
		}
		if cs := g.CostSheet; cs != nil {
			for _, a := range []struct {
				n string
				v int64
			}{{"price", cs.Price}, {"originatingMaterials", cs.OriginatingMaterials}, {"nonOriginatingMaterials", cs.NonOriginatingMaterials},
				{"labour", cs.Labour}, {"overheads", cs.Overheads}, {"profit", cs.Profit}, {"other", cs.Other}} {
				amount(f+".costSheet."+a.n, a.v)
			}
		}
	}
	return p.err("draft")
}

// checkComplete checks an application for submission: every field the
// certificate needs, in its proper form. cl gives the code lists.
func checkComplete(a *Application, cl *schema.CodeLists) error {
	if err := checkDraft(&a.Content); err != nil {
		return err
	}
	c := &a.Content
	var p problems
	prof := schema.ProfileByName(c.Agreement)
	if prof == nil {
		p.add("agreement", "%q is not an agreement this node knows (%s)", c.Agreement, strings.Join(schema.ProfileNames(), ", "))
	}
	if c.Agency == "" {
		p.add("agency", "choose the issuing agency")
	}
	if c.Office == "" {
		p.add("office", "choose the issuing office")
	}
	if !cl.Country(c.ImportingCountry) {
		p.add("importingCountry", "%q is not an ISO 3166-1 alpha-2 country code", c.ImportingCountry)
	} else if prof != nil && prof.Parties != nil && !prof.IsParty(c.ImportingCountry) {
		p.add("importingCountry", "%s is not a party to %s", c.ImportingCountry, prof.Name)
	}
	if strings.TrimSpace(c.InvoiceNumber) == "" {
		p.add("invoiceNumber", "enter the invoice number")
	}
	if _, err := time.Parse(time.DateOnly, c.InvoiceDate); err != nil {
		p.add("invoiceDate", "%q is not a date YYYY-MM-DD", c.InvoiceDate)
	}
	if cl.Currency(c.Currency) != schema.CodeValid {
		p.add("currency", "%q is not an ISO 4217 currency code", c.Currency)
	}
	if strings.TrimSpace(c.Consignee.Name) == "" {
		p.add("consignee.name", "enter the consignee's name")
	}
	if strings.TrimSpace(c.Consignee.Address) == "" {
		p.add("consignee.address", "enter the consignee's address")
	}
	if !cl.Country(c.Consignee.Country) {
		p.add("consignee.country", "%q is not an ISO 3166-1 alpha-2 country code", c.Consignee.Country)
	}
	if !cl.TransportMode(c.Transport.Mode) {
		p.add("transport.mode", "%q is not a UN/ECE Rec 19 transport mode code (1 sea, 2 rail, 3 road, 4 air, ...)", c.Transport.Mode)
	}
	if d := c.Transport.DepartureDate; d != "" {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			p.add("transport.departureDate", "%q is not a date YYYY-MM-DD", d)
		}
	}
	if len(c.Goods) == 0 {
		p.add("goods", "add at least one product")
	}
	for i := range c.Goods {
		checkLine(&p, fmt.Sprintf("goods[%d]", i), &c.Goods[i], prof, cl)
	}
	for _, f := range []struct{ n, v string }{{"declaration.place", c.Declaration.Place}, {"declaration.name", c.Declaration.Name}, {"declaration.designation", c.Declaration.Designation}} {
		if strings.TrimSpace(f.v) == "" {
			p.add(f.n, "the declaration needs the place, the name and the designation of the signatory")
		}
	}
	return p.err("application " + a.ID)
}

func checkLine(p *problems, f string, g *GoodsLine, prof *schema.Profile, cl *schema.CodeLists) {
	if err := validHS8(g.HS); err != "" {
		p.add(f+".hs", "%s", err)
	}
	if strings.TrimSpace(g.Description) == "" {
		p.add(f+".description", "describe the goods")
	}
	if !positiveDecimal(g.Quantity) {
		p.add(f+".quantity", "%q is not a positive decimal number (e.g. 1250 or 1250.5)", g.Quantity)
	}
	switch st, full := cl.Unit(g.Unit); {
	case st == schema.CodeValid || st == schema.CodeDeprecated:
	case st == schema.CodeDeleted:
		p.add(f+".unit", "%q was deleted from UN/ECE Rec 20; use its replacement", g.Unit)
	case full:
		p.add(f+".unit", "%q is not a UN/ECE Rec 20 unit code", g.Unit)
	default:
		p.add(f+".unit", "%q is not among the common UN/ECE Rec 20 units (KGM, NAR, PCE, MTR, LTR, ...); configure the full Rec 20 table to use it", g.Unit)
	}
	if g.PackageType != "" {
		if st, _ := cl.Package(g.PackageType); st != schema.CodeValid {
			p.add(f+".packageType", "%q is not a known UN/ECE Rec 21 package type", g.PackageType)
		}
	}
	if g.FOB <= 0 {
		p.add(f+".fob", "enter the FOB value (minor units, more than 0)")
	}
	for j, m := range g.Materials {
		mf := fmt.Sprintf("%s.materials[%d]", f, j)
		if hs := schema.NormalizeHS(m.HS); len(hs) < 6 || !allDigits(hs) || !schema.HSChapter(hs[:2]) {
			p.add(mf+".hs", "%q is not an HS code of at least 6 digits", m.HS)
		}
		if !cl.Country(m.OriginCountry) {
			p.add(mf+".originCountry", "%q is not an ISO 3166-1 alpha-2 country code", m.OriginCountry)
		}
	}
	if prof == nil || !prof.Preferential {
		return
	}
	oc, err := schema.ParseOriginCriterion(g.Criterion)
	if err != nil || strings.TrimSpace(g.Criterion) == "" {
		p.add(f+".criterion", "%q is not an origin criterion; %s accepts %s", g.Criterion, prof.Name, strings.Join(prof.Criteria[0], ", "))
		return
	}
	if oc.Has("RVC") && g.CostSheet == nil {
		p.add(f+".costSheet", "a product claiming RVC needs its cost sheet")
	}
}

// validHS8 returns "" for an 8-digit ITC-HS code with a real HS chapter,
// else what is wrong.
func validHS8(hs string) string {
	n := schema.NormalizeHS(hs)
	if len(n) != 8 || !allDigits(n) {
		return fmt.Sprintf("%q is not an 8-digit ITC-HS code", hs)
	}
	if !schema.HSChapter(n[:2]) {
		return fmt.Sprintf("%q: chapter %s is not an HS chapter", hs, n[:2])
	}
	return ""
}

func positiveDecimal(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	intPart, frac, dot := strings.Cut(s, ".")
	if !allDigits(intPart) || dot && !allDigits(frac) {
		return false
	}
	return strings.Trim(intPart+frac, "0") != ""
}
