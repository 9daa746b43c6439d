package issuance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/uuid/v5"

	"github.com/ecogate/ecogate/schema"
)

// UNCL 1225 message functions of the e-CO an application kind produces.
const (
	FunctionOriginal  = "9" // original
	FunctionReplace   = "5" // replacement (in-lieu)
	FunctionDuplicate = "7" // duplicate (certified true copy)
)

// FunctionOf is the UNCL 1225 message function of a kind's e-CO.
func FunctionOf(k Kind) string {
	switch k {
	case KindDuplicate:
		return FunctionDuplicate
	case KindInLieu:
		return FunctionReplace
	}
	return FunctionOriginal
}

// ecoNamespace makes the e-CO's UUID (UUIDv5 of country, number and
// version): the same certificate always gets the same UUID, so the
// document handed out for external signing can be rebuilt and compared.
var ecoNamespace = uuid.Must(uuid.FromString("6f1d6c3a-4e0b-5b7e-9a51-0c2d9e3f7a10"))

// ECOParts is what the e-CO needs besides the application: the exporter,
// the issuing agency and office, the signing officer (nil for the
// provisional e-CO checked at submission) and, for a duplicate or in-lieu
// application, the certificate it concerns.
type ECOParts struct {
	Exporter *Exporter
	Agency   *Agency
	Office   *Office
	Officer  *Person
	// Concerned is the application that issued the certificate a
	// duplicate or in-lieu application concerns.
	Concerned *Application
	// Submitted is when the exporter signed the declaration (the
	// application's submission time); IssuedAt when issuing when zero.
	Submitted time.Time
}

// Declaration and certification statements printed on the e-CO.
const (
	declarationStatement   = "The undersigned hereby declares that the above details and statement are correct, that all the goods were produced in India and that they comply with the origin requirements specified for these goods in the agreement."
	certificationStatement = "It is hereby certified, on the basis of control carried out, that the declaration by the exporter is correct."
	provisionalOfficer     = "(the issuing officer)"
)

// BuildECO builds the canonical e-CO of certificate c (its number, kind,
// issue time and the application's content) with parts. It fails when a
// part it needs is missing; the result is validated by the caller.
func BuildECO(c *Certificate, parts ECOParts) (*schema.Certificate, error) {
	if parts.Exporter == nil || parts.Agency == nil || parts.Office == nil {
		return nil, errors.New("build e-CO: the exporter, the agency and the office are required")
	}
	ct := &c.Content
	prof := schema.ProfileByName(ct.Agreement)
	if prof == nil {
		return nil, fmt.Errorf("build e-CO: agreement %q has no profile", ct.Agreement)
	}
	issued := c.IssuedAt.UTC()
	version := 1
	h := schema.Header{
		ID:             c.Number,
		UUID:           uuid.NewV5(ecoNamespace, c.Country+"/"+c.Number+"/"+strconv.Itoa(version)).String(),
		Version:        version,
		TypeCode:       "861",
		FunctionCode:   FunctionOf(c.Kind),
		Agreement:      prof.Agreements[0],
		IsPreferential: prof.Preferential,
		IssueDateTime:  schema.DateTime{Time: issued},
		IssueLocation:  &schema.Location{Name: parts.Office.Name},
		ExportCountry:  c.Country,
		ImportCountry:  ct.ImportingCountry,
		LanguageCode:   "en",
		Status:         "70",
		Remarks:        ct.Remarks,
		Issuer: schema.Party{
			IDs:     []schema.Identifier{{Value: parts.Agency.ID + "/" + parts.Office.ID, SchemeID: "agency/office"}},
			Name:    parts.Agency.Name + ", " + parts.Office.Name,
			Address: &schema.Address{Lines: []string{parts.Office.Address}, CountryCode: c.Country},
		},
	}
	if prof.Preferential {
		h.TypeCode = "864"
	}
	if len(prof.DocumentTypes) > 0 && !contains(prof.DocumentTypes, h.TypeCode) {
		h.TypeCode = prof.DocumentTypes[0]
	}
	var flags schema.Flags
	eco := &schema.Certificate{Header: h}
	switch c.Kind {
	case KindDuplicate:
		flags.CertifiedTrueCopy = true
		ref := schema.ReferencedDocument{TypeCode: h.TypeCode, RelationshipTypeCode: "AAG", ID: c.Concerns.Number,
			Information: "certified true copy of certificate " + c.Concerns.Number}
		if o := parts.Concerned; o != nil {
			ref.IssueDate = schema.DateOf(o.Issued.UTC())
		}
		eco.References = append(eco.References, ref)
	case KindInLieu:
		rp := &schema.Replacement{CertificateNumber: c.Concerns.Number, Version: 1, Reason: "issued in lieu of certificate " + c.Concerns.Number}
		if o := parts.Concerned; o != nil {
			rp.IssueDate = schema.DateOf(o.Issued.UTC())
		}
		eco.Replaces = rp
	case KindBackToBack:
		flags.BackToBack = true
		op := schema.OriginalProof{Number: c.Concerns.Number, IssuingCountry: c.Concerns.Country}
		if d, err := schema.ParseDate(c.Concerns.IssueDate); err == nil {
			op.IssueDate = d
		}
		eco.OriginalProofs = []schema.OriginalProof{op}
	}
	if flags.Any() {
		eco.Header.Flags = &flags
	}
	e := parts.Exporter
	k := &eco.Consignment
	k.Exporter = schema.Party{Name: e.Name, Address: &schema.Address{Lines: []string{e.Address}, CountryCode: c.Country},
		IDs: []schema.Identifier{{Value: e.IEC, SchemeID: "IEC"}}}
	if e.GSTIN != "" {
		k.Exporter.IDs = append(k.Exporter.IDs, schema.Identifier{Value: e.GSTIN, SchemeID: "GSTIN"})
	}
	k.Importer = schema.Party{Name: ct.Consignee.Name, Address: &schema.Address{Lines: []string{ct.Consignee.Address}, CountryCode: ct.Consignee.Country}}
	tr := &schema.TransportMovement{ModeCode: ct.Transport.Mode}
	if d, err := schema.ParseDate(ct.Transport.DepartureDate); err == nil && ct.Transport.DepartureDate != "" {
		tr.DepartureDate = d
	}
	if ct.Transport.Vessel != "" {
		tr.UsedTransportMeans = &schema.TransportMeans{Name: ct.Transport.Vessel}
	}
	k.MainCarriage = tr
	if ct.Transport.PortLoading != "" {
		k.LoadingPort = &schema.Location{ID: ct.Transport.PortLoading}
	}
	if ct.Transport.PortDischarge != "" {
		k.UnloadingPort = &schema.Location{ID: ct.Transport.PortDischarge}
	}
	inv := schema.InvoiceReference{ID: ct.InvoiceNumber}
	if d, err := schema.ParseDate(ct.InvoiceDate); err == nil {
		inv.IssueDate = d
	}
	for i := range ct.Goods {
		g := &ct.Goods[i]
		hs := schema.NormalizeHS(g.HS)
		it := schema.GoodsItem{SequenceNumber: i + 1, MarksAndNumbers: g.Marks,
			Product:           schema.TradeProduct{Description: g.Description, HSCode: first(hs, 6), HSEdition: "HS2022", NationalTariffCode: hs},
			Quantity:          schema.Measure{Value: schema.Decimal(g.Quantity), UnitCode: g.Unit},
			FOBValue:          &schema.Amount{Value: schema.Decimal(minorToDecimal(g.FOB, ct.Currency)), Currency: ct.Currency},
			InvoiceReferences: []schema.InvoiceReference{inv}}
		if prof.OriginCountryParty {
			it.Product.OriginCountry = c.Country
		}
		if g.Packages > 0 {
			it.Packages = []schema.Packaging{{Quantity: schema.Decimal(strconv.Itoa(g.Packages)), TypeCode: g.PackageType, Marks: g.Marks}}
		}
		if crit := strings.TrimSpace(g.Criterion); crit != "" {
			it.OriginCriteria = []string{crit}
			if oc, err := schema.ParseOriginCriterion(crit); err == nil {
				needs, inline := false, false
				for _, p := range oc.Parts {
					needs = needs || prof.NeedsPercent(p.Code)
					inline = inline || p.Percent != ""
				}
				if needs && !inline && g.CostSheet != nil {
					if r, err := ComputeRVC(*g.CostSheet, 0); err == nil && r.BuildDown >= 0 {
						it.RVCPercent = schema.Decimal(strconv.Itoa(int(r.BuildDown / 100)))
					}
				}
			}
		}
		k.Items = append(k.Items, it)
	}
	signedAt := parts.Submitted
	if signedAt.IsZero() {
		signedAt = issued
	}
	d := ct.Declaration
	eco.FirstSignatory = schema.Authentication{ActualDateTime: schema.DateTime{Time: signedAt.UTC()}, Statement: declarationStatement,
		Signatory: schema.Signatory{Name: d.Name, Position: d.Designation}}
	if d.Place != "" {
		eco.FirstSignatory.Place = &schema.Location{Name: d.Place}
	}
	officer := provisionalOfficer
	if parts.Officer != nil {
		officer = parts.Officer.Name
	}
	eco.SecondSignatory = &schema.Authentication{ActualDateTime: schema.DateTime{Time: issued}, Statement: certificationStatement,
		Signatory: schema.Signatory{Name: officer, Position: "Authorised officer, " + parts.Agency.Name},
		Place:     &schema.Location{Name: parts.Office.Name}}
	return eco, nil
}

func first(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// zeroDecimal are the ISO 4217 currencies without minor units that an
// agreement party uses.
var zeroDecimal = map[string]bool{"JPY": true, "KRW": true, "VND": true, "IDR": false, "CLP": true, "ISK": true, "PYG": true, "UGX": true, "XAF": true, "XOF": true}

// minorToDecimal writes an amount in minor units as a decimal of its
// currency (two decimals but for the currencies without minor units).
func minorToDecimal(v int64, currency string) string {
	if zeroDecimal[currency] {
		return strconv.FormatInt(v, 10)
	}
	neg := v < 0
	if neg {
		v = -v
	}
	s := fmt.Sprintf("%d.%02d", v/100, v%100)
	if neg {
		s = "-" + s
	}
	return s
}

// FindingsError is a submission refused because the future e-CO has
// SEVERE findings under the agreement profile. Findings are the graded
// findings (as `ecogate validate` gives them); Problems the SEVERE ones by
// field of the application (or of the e-CO where no application field
// corresponds). It wraps ErrInvalid.
type FindingsError struct {
	Application string          `json:"application"`
	Findings    schema.Findings `json:"findings"`
	Problems    []FieldError    `json:"problems"`
}

func (e *FindingsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "application %s: the e-CO would have %d SEVERE finding(s): ", e.Application, len(e.Problems))
	writeProblems(&b, e.Problems)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FindingsError) Unwrap() error { return ErrInvalid }

// ecoFields maps e-CO paths (as the findings give them) to the
// application's fields; "[]" stands for the goods line index.
var ecoFields = []struct{ eco, app string }{
	{"supplyChainConsignment.includedConsignmentItems[].tradeProduct.hsCode", "goods[].hs"},
	{"supplyChainConsignment.includedConsignmentItems[].tradeProduct.nationalTariffCode", "goods[].hs"},
	{"supplyChainConsignment.includedConsignmentItems[].tradeProduct.description", "goods[].description"},
	{"supplyChainConsignment.includedConsignmentItems[].tradeProduct.originCountry", "goods[].criterion"},
	{"supplyChainConsignment.includedConsignmentItems[].originCriteria", "goods[].criterion"},
	{"supplyChainConsignment.includedConsignmentItems[].rvcPercent", "goods[].costSheet"},
	{"supplyChainConsignment.includedConsignmentItems[].quantity", "goods[].quantity"},
	{"supplyChainConsignment.includedConsignmentItems[].fobValue", "goods[].fob"},
	{"supplyChainConsignment.includedConsignmentItems[].packages", "goods[].packages"},
	{"supplyChainConsignment.includedConsignmentItems[].invoiceReferences", "invoiceNumber"},
	{"supplyChainConsignment.consignee", "consignee"},
	{"supplyChainConsignment.consignor", "exporter"},
	{"supplyChainConsignment.mainCarriageTransportMovement", "transport"},
	{"supplyChainConsignment.loadingBaseportLocation", "transport.portLoading"},
	{"supplyChainConsignment.unloadingBaseportLocation", "transport.portDischarge"},
	{"exchangedDocument.importCountry", "importingCountry"},
	{"exchangedDocument.freeTradeAgreement", "agreement"},
	{"exchangedDocument.isPreferential", "agreement"},
	{"exchangedDocument.issuer", "office"},
	{"firstSignatoryAuthentication", "declaration"},
	{"originalProofs", "concerns"},
	{"replaces", "concerns"},
}

// appField names the application field of an e-CO finding path.
func appField(path string) string {
	line := ""
	norm := path
	const items = "supplyChainConsignment.includedConsignmentItems["
	if strings.HasPrefix(path, items) {
		if end := strings.IndexByte(path[len(items):], ']'); end >= 0 {
			line = path[len(items) : len(items)+end]
			norm = items + path[len(items)+end:]
		}
	}
	for _, m := range ecoFields {
		if norm == m.eco || strings.HasPrefix(norm, m.eco+".") || strings.HasPrefix(norm, m.eco+"[") {
			return strings.Replace(m.app, "[]", "["+line+"]", 1)
		}
	}
	if path == "" {
		return "application"
	}
	return "e-CO " + path
}

// validateECO validates the e-CO against its agreement profile and
// returns a *FindingsError when a finding is SEVERE, with the findings.
func (s *Service) validateECO(app string, eco *schema.Certificate) (schema.Findings, error) {
	fs := schema.Validate(eco, schema.ValidateOptions{CodeLists: s.cfg.CodeLists, Now: s.cfg.Clock})
	if !fs.HasSevere() {
		return fs, nil
	}
	e := &FindingsError{Application: app, Findings: fs}
	for _, f := range fs {
		if f.Level == schema.Severe {
			e.Problems = append(e.Problems, FieldError{Field: appField(f.Path), Problem: f.Code + ": " + f.Message})
		}
	}
	return fs, e
}

// ecoParts reads what the e-CO of app needs in tx.
func (s *Service) ecoParts(tx Tx, app *Application, officer *Person) (ECOParts, error) {
	var parts ECOParts
	office, err := s.activeOffice(tx, app)
	if err != nil {
		return parts, err
	}
	ag, err := tx.Agency(office.Agency)
	if err != nil {
		return parts, err
	}
	exp, err := tx.Exporter(app.IEC)
	if err != nil {
		return parts, err
	}
	parts = ECOParts{Exporter: exp, Agency: ag, Office: office, Officer: officer, Submitted: app.Submitted}
	if app.Kind == KindDuplicate || app.Kind == KindInLieu {
		if parts.Concerned, err = tx.ApplicationByCertificate(app.Concerns.Number); err != nil {
			return parts, err
		}
	}
	return parts, nil
}

// provisionalECO is the future e-CO of app as submission checks it: a
// provisional number, issued now, the officer not yet known.
func (s *Service) provisionalECO(tx Tx, app *Application) (*schema.Certificate, error) {
	parts, err := s.ecoParts(tx, app, nil)
	if err != nil {
		return nil, err
	}
	if parts.Submitted.IsZero() {
		parts.Submitted = s.now()
	}
	c := &Certificate{Number: "PROVISIONAL-" + app.ID, Country: s.cfg.Country, Kind: app.Kind, Concerns: app.Concerns,
		Application: app.ID, IEC: app.IEC, IssuedAt: s.now(), Content: app.Content}
	return BuildECO(c, parts)
}
