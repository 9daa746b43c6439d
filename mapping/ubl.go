package mapping

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/ecogate/ecogate/schema"
)

// OASIS UBL 2.1 namespaces.
const (
	UBLNamespace = "urn:oasis:names:specification:ubl:schema:xsd:CertificateOfOrigin-2"
	UBLCAC       = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
	UBLCBC       = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
)

// ToUBL writes c as an OASIS UBL 2.1 CertificateOfOrigin document, for
// partners that exchange UBL. Elements follow the UBL 2.1 sequence:
//
//	cbc:UBLVersionID, cbc:CustomizationID, cbc:ID, cbc:UUID, cbc:IssueDate,
//	cbc:IssueTime, cbc:Description (form name), cbc:Note (remarks),
//	cbc:VersionID, cac:ExporterParty, cac:ImporterParty,
//	cac:CertificateOfOriginApplication (ReferenceID, CertificateType
//	(agreement), OriginalJobID, cac:Shipment with one cac:GoodsItem per goods
//	item and a cac:ShipmentStage for the main carriage, cac:EndorserParty for
//	the exporter's declaration, cac:PreparationParty, cac:IssuerParty,
//	cac:IssuingCountry, cac:SupportingDocumentReference per referenced
//	document), cac:IssuerEndorsement (the certification).
//
// Carried fields (see Carried) are ecogate's and are not written.
func ToUBL(c *schema.Certificate) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("CertificateOfOrigin")
	root.CreateAttr("xmlns", UBLNamespace)
	root.CreateAttr("xmlns:cac", UBLCAC)
	root.CreateAttr("xmlns:cbc", UBLCBC)
	h := &c.Header

	cbc(root, "UBLVersionID", "2.1")
	cbc(root, "CustomizationID", schema.Namespace)
	cbc(root, "ID", h.ID)
	cbc(root, "UUID", h.UUID)
	if !h.IssueDateTime.IsZero() {
		cbc(root, "IssueDate", h.IssueDateTime.Format("2006-01-02"))
		cbc(root, "IssueTime", h.IssueDateTime.Format("15:04:05Z07:00"))
	}
	cbc(root, "Description", h.Name)
	cbc(root, "Note", h.Remarks)
	if h.Version > 0 {
		cbc(root, "VersionID", strconv.Itoa(h.Version))
	}
	ublParty(root, "ExporterParty", &c.Consignment.Exporter)
	ublParty(root, "ImporterParty", &c.Consignment.Importer)

	app := root.CreateElement("cac:CertificateOfOriginApplication")
	cbcAlways(app, "ReferenceID", h.ID)
	ct := h.Agreement
	if ct == "" {
		ct = "NONPREF"
	}
	cbcAlways(app, "CertificateType", ct)
	cbc(app, "ApplicationStatusCode", h.Status)
	cbcAlways(app, "OriginalJobID", h.ID)
	if c.Replaces != nil {
		cbc(app, "PreviousJobID", c.Replaces.CertificateNumber)
	}
	ublShipment(app, c)
	// The exporter's declaration (Form D box 11, Form RCEP box 15).
	ep := app.CreateElement("cac:EndorserParty")
	cbc(ep, "RoleCode", "exporter")
	cbc(ep, "SequenceNumeric", "1")
	ublPartyBody(ep.CreateElement("cac:Party"), &c.Consignment.Exporter)
	ublSignatory(ep, &c.FirstSignatory)
	ublPartyBody(app.CreateElement("cac:PreparationParty"), &c.Consignment.Exporter)
	ublPartyBody(app.CreateElement("cac:IssuerParty"), &h.Issuer)
	ic := app.CreateElement("cac:IssuingCountry")
	cbcAlways(ic, "IdentificationCode", h.ExportCountry)
	for _, r := range c.References {
		if _, ok := carriedOf(r); ok {
			continue
		}
		dr := app.CreateElement("cac:SupportingDocumentReference")
		cbcAlways(dr, "ID", r.ID)
		if !r.IssueDate.IsZero() {
			cbc(dr, "IssueDate", r.IssueDate.String())
		}
		cbc(dr, "DocumentTypeCode", r.TypeCode)
		cbc(dr, "DocumentDescription", r.Information)
		if a := r.Attachment; a != nil {
			at := dr.CreateElement("cac:Attachment")
			if len(a.Content) > 0 {
				b := cbc(at, "EmbeddedDocumentBinaryObject", base64.StdEncoding.EncodeToString(a.Content))
				mime := a.MIMECode
				if mime == "" {
					mime = "application/octet-stream"
				}
				b.CreateAttr("mimeCode", mime)
				if a.Filename != "" {
					b.CreateAttr("filename", a.Filename)
				}
			}
			if a.URI != "" || (len(a.Content) == 0 && a.Filename != "") {
				er := at.CreateElement("cac:ExternalReference")
				cbc(er, "URI", a.URI)
				cbc(er, "MimeCode", a.MIMECode)
				cbc(er, "FileName", a.Filename)
			}
		}
	}

	// The certification (Form D box 12, Form RCEP box 16).
	ie := root.CreateElement("cac:IssuerEndorsement")
	cbcAlways(ie, "DocumentID", h.ID)
	status := map[string]string{"70": "issued", "40": "withdrawn", "41": "rejected"}[h.Status]
	if status == "" {
		status = "pending"
	}
	cbcAlways(ie, "ApprovalStatus", status)
	if c.SecondSignatory != nil {
		cbc(ie, "Remarks", c.SecondSignatory.Statement)
	}
	iep := ie.CreateElement("cac:EndorserParty")
	cbc(iep, "RoleCode", "issuer")
	cbc(iep, "SequenceNumeric", "1")
	ublPartyBody(iep.CreateElement("cac:Party"), &h.Issuer)
	sig := c.SecondSignatory
	if sig == nil {
		sig = &schema.Authentication{}
	}
	ublSignatory(iep, sig)

	doc.Indent(2)
	return doc.WriteToBytes()
}

// cbc adds a basic component when the value is not empty.
func cbc(parent *etree.Element, name, value string) *etree.Element {
	if value == "" {
		return nil
	}
	return cbcAlways(parent, name, value)
}

func cbcAlways(parent *etree.Element, name, value string) *etree.Element {
	e := parent.CreateElement("cbc:" + name)
	e.SetText(value)
	return e
}

func ublParty(parent *etree.Element, name string, p *schema.Party) {
	ublPartyBody(parent.CreateElement("cac:"+name), p)
}

// ublPartyBody fills a UBL Party: PartyIdentification*, PartyName,
// PostalAddress, Contact.
func ublPartyBody(e *etree.Element, p *schema.Party) {
	for _, id := range p.IDs {
		pi := e.CreateElement("cac:PartyIdentification")
		x := cbcAlways(pi, "ID", id.Value)
		if id.SchemeID != "" {
			x.CreateAttr("schemeID", id.SchemeID)
		}
	}
	if p.Name != "" {
		cbcAlways(e.CreateElement("cac:PartyName"), "Name", p.Name)
	}
	if a := p.Address; a != nil {
		pa := e.CreateElement("cac:PostalAddress")
		cbc(pa, "CityName", a.CityName)
		cbc(pa, "PostalZone", a.Postcode)
		cbc(pa, "CountrySubentity", a.CountrySubDivisionName)
		for _, l := range a.Lines {
			cbcAlways(pa.CreateElement("cac:AddressLine"), "Line", l)
		}
		if a.CountryCode != "" {
			cbcAlways(pa.CreateElement("cac:Country"), "IdentificationCode", a.CountryCode)
		}
	}
	if ct := p.Contact; ct != nil {
		ce := e.CreateElement("cac:Contact")
		cbc(ce, "Name", ct.PersonName)
		cbc(ce, "Telephone", ct.Phone)
		cbc(ce, "ElectronicMail", ct.Email)
	}
}

func ublSignatory(parent *etree.Element, a *schema.Authentication) {
	sc := parent.CreateElement("cac:SignatoryContact")
	cbc(sc, "Name", a.Signatory.Name)
	var notes []string
	if a.Signatory.Position != "" {
		notes = append(notes, a.Signatory.Position)
	}
	if a.Place != nil && a.Place.Name != "" {
		notes = append(notes, "place: "+a.Place.Name)
	}
	if !a.ActualDateTime.IsZero() {
		notes = append(notes, "signed: "+a.ActualDateTime.String())
	}
	cbc(sc, "Note", strings.Join(notes, "; "))
}

func ublShipment(app *etree.Element, c *schema.Certificate) {
	cons := &c.Consignment
	sh := app.CreateElement("cac:Shipment")
	id := c.Header.ID
	if cons.ID != nil && cons.ID.Value != "" {
		id = cons.ID.Value
	}
	x := cbcAlways(sh, "ID", id)
	if cons.ID != nil && cons.ID.SchemeID != "" {
		x.CreateAttr("schemeID", cons.ID.SchemeID)
	}
	cbc(sh, "Information", cons.Information)
	producers := map[string]*schema.Party{}
	for i := range cons.Producers {
		producers[cons.Producers[i].Ref] = &cons.Producers[i]
	}
	for i := range cons.Items {
		it := &cons.Items[i]
		g := sh.CreateElement("cac:GoodsItem")
		cbcAlways(g, "ID", strconv.Itoa(it.SequenceNumber))
		cbc(g, "Description", it.Product.Description)
		if f := it.FOBValue; f != nil && f.Value != "" {
			cbc(g, "FreeOnBoardValueAmount", string(f.Value)).CreateAttr("currencyID", f.Currency)
		}
		if w := it.GrossWeight; w != nil && w.Value != "" {
			cbc(g, "GrossWeightMeasure", string(w.Value)).CreateAttr("unitCode", w.UnitCode)
		}
		if it.Quantity.Value != "" {
			q := cbc(g, "Quantity", string(it.Quantity.Value))
			if it.Quantity.UnitCode != "" {
				q.CreateAttr("unitCode", it.Quantity.UnitCode)
			}
		}
		crit := strings.Join(it.OriginCriteria, " + ")
		if it.RVCPercent != "" {
			crit += " " + string(it.RVCPercent) + "%"
		}
		cbc(g, "PreferenceCriterionCode", strings.TrimSpace(crit))
		item := g.CreateElement("cac:Item")
		cbc(item, "Description", it.Product.Description)
		if it.MarksAndNumbers != "" {
			cbc(item, "AdditionalInformation", "marks and numbers: "+it.MarksAndNumbers)
		}
		for k, pid := range it.Product.IDs {
			// UBL has one standard identification; further ids are additional.
			name := "cac:StandardItemIdentification"
			if k > 0 {
				name = "cac:AdditionalItemIdentification"
			}
			si := item.CreateElement(name)
			e := cbcAlways(si, "ID", pid.Value)
			if pid.SchemeID != "" {
				e.CreateAttr("schemeID", pid.SchemeID)
			}
		}
		if it.Product.OriginCountry != "" {
			cbcAlways(item.CreateElement("cac:OriginCountry"), "IdentificationCode", it.Product.OriginCountry)
		}
		if it.Product.HSCode != "" {
			cc := item.CreateElement("cac:CommodityClassification")
			e := cbcAlways(cc, "ItemClassificationCode", it.Product.HSCode)
			e.CreateAttr("listID", "HS")
			if it.Product.HSEdition != "" {
				e.CreateAttr("listVersionID", it.Product.HSEdition)
			}
		}
		if it.Product.NationalTariffCode != "" {
			cc := item.CreateElement("cac:CommodityClassification")
			cbcAlways(cc, "ItemClassificationCode", it.Product.NationalTariffCode).CreateAttr("listID", "national")
		}
		if p, ok := producers[it.ProducerRef]; ok && it.ProducerRef != "" {
			ublParty(item, "ManufacturerParty", p)
		}
		for _, ir := range it.InvoiceReferences {
			// UBL's GoodsItem has no invoice reference of its own: the
			// invoice is named on the shipment document reference.
			dr := g.CreateElement("cac:ShipmentDocumentReference")
			cbcAlways(dr, "ID", ir.ID)
			if !ir.IssueDate.IsZero() {
				cbc(dr, "IssueDate", ir.IssueDate.String())
			}
			cbc(dr, "DocumentTypeCode", "380")
			break
		}
		for _, pk := range it.Packages {
			cp := g.CreateElement("cac:ContainingPackage")
			cbc(cp, "Quantity", string(pk.Quantity))
			cbc(cp, "PackagingTypeCode", pk.TypeCode)
		}
		reorderGoodsItem(g)
	}
	if mc := cons.MainCarriage; mc != nil || cons.LoadingPort != nil || cons.UnloadingPort != nil {
		st := sh.CreateElement("cac:ShipmentStage")
		if mc != nil {
			cbc(st, "TransportModeCode", mc.ModeCode)
			if mc.JourneyID != "" || mc.UsedTransportMeans != nil {
				tm := st.CreateElement("cac:TransportMeans")
				cbc(tm, "JourneyID", mc.JourneyID)
				if u := mc.UsedTransportMeans; u != nil {
					switch mc.ModeCode {
					case "4":
						at := tm.CreateElement("cac:AirTransport")
						cbcAlways(at, "AircraftID", firstNonEmpty(u.ID, u.Name))
					default:
						mt := tm.CreateElement("cac:MaritimeTransport")
						cbc(mt, "VesselID", u.ID)
						cbc(mt, "VesselName", u.Name)
					}
				}
			}
		}
		ublLocation(st, "LoadingPortLocation", cons.LoadingPort)
		ublLocation(st, "UnloadingPortLocation", cons.UnloadingPort)
		if mc != nil && !mc.DepartureDate.IsZero() {
			ev := st.CreateElement("cac:ActualDepartureTransportEvent")
			cbcAlways(ev, "OccurrenceDate", mc.DepartureDate.String())
		}
	}
	if c.Header.ImportCountry != "" {
		d := sh.CreateElement("cac:Delivery")
		da := d.CreateElement("cac:DeliveryAddress")
		cbcAlways(da.CreateElement("cac:Country"), "IdentificationCode", c.Header.ImportCountry)
	}
	if c.Header.ExportCountry != "" {
		cbcAlways(sh.CreateElement("cac:ExportCountry"), "IdentificationCode", c.Header.ExportCountry)
	}
}

// goodsItemOrder is the UBL 2.1 sequence of the GoodsItem children written here.
var goodsItemOrder = []string{"cbc:ID", "cbc:Description", "cbc:FreeOnBoardValueAmount", "cbc:GrossWeightMeasure", "cbc:Quantity", "cbc:PreferenceCriterionCode", "cac:Item", "cac:ContainingPackage", "cac:ShipmentDocumentReference"}

func reorderGoodsItem(g *etree.Element) {
	kids := g.ChildElements()
	for _, k := range kids {
		g.RemoveChild(k)
	}
	for _, name := range goodsItemOrder {
		for _, k := range kids {
			if k.FullTag() == name {
				g.AddChild(k)
			}
		}
	}
}

func ublLocation(parent *etree.Element, name string, l *schema.Location) {
	if l == nil || (l.ID == "" && l.Name == "") {
		return
	}
	e := parent.CreateElement("cac:" + name)
	if l.ID != "" {
		cbcAlways(e, "ID", l.ID).CreateAttr("schemeID", "UN/LOCODE")
	}
	cbc(e, "Name", l.Name)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
