package portal

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"codeberg.org/go-pdf/fpdf"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/qrsign"
)

// FormTitle is the title of an agreement's certificate form.
func FormTitle(agreement string) (title, form string) {
	switch strings.ToUpper(agreement) {
	case "RCEP":
		return "REGIONAL COMPREHENSIVE ECONOMIC PARTNERSHIP AGREEMENT CERTIFICATE OF ORIGIN", "Form RCEP"
	case "ATIGA":
		return "ASEAN TRADE IN GOODS AGREEMENT / ASEAN INDUSTRIAL COOPERATION SCHEME CERTIFICATE OF ORIGIN", "Form D"
	case "AIFTA":
		return "ASEAN-INDIA FREE TRADE AREA PREFERENTIAL TARIFF CERTIFICATE OF ORIGIN", "Form AI"
	case "AKFTA":
		return "ASEAN-KOREA FREE TRADE AREA PREFERENTIAL TARIFF CERTIFICATE OF ORIGIN", "Form AK"
	}
	return "CERTIFICATE OF ORIGIN", strings.ToUpper(agreement)
}

// PDFData is everything the certificate PDF prints.
type PDFData struct {
	Facts *issuance.CertificateFacts
	// QRContent is the text of the QR code (qrsign.Content); empty prints
	// no QR code.
	QRContent string
	// Stamp and Signature are optional PNG or JPEG images.
	Stamp, Signature []byte
}

// CertificatePDF builds the PDF of an issued certificate: the QR code
// carries the register's verification link and, when Options.QR is set,
// the signed payload.
func (s *Server) CertificatePDF(ctx context.Context, f *issuance.CertificateFacts) ([]byte, error) {
	d := PDFData{Facts: f}
	app := f.Application
	if s.verify != nil && s.opt.Verify.Register != nil {
		rec, err := s.opt.Verify.Register.Get(ctx, app.Certificate)
		if err != nil {
			return nil, fmt.Errorf("certificate %s in the register: %w", app.Certificate, err)
		}
		link := s.verify.QRLink(rec.Token)
		d.QRContent = link
		if s.opt.QR != nil {
			var hs []string
			for _, g := range app.Content.Goods {
				hs = append(hs, g.HS)
			}
			tok, err := s.opt.QR.Sign(qrsign.Payload{Country: rec.Country, Number: app.Certificate, Version: max(rec.Version, 1),
				IssueDate: app.Issued.UTC().Format("2006-01-02"), Exporter: f.Exporter.Name, Importer: app.Content.Consignee.Name, HS: hs, URL: link})
			if err != nil {
				return nil, err
			}
			d.QRContent = qrsign.Content(link, tok)
		}
	}
	if s.opt.Images != nil {
		d.Stamp, _ = s.opt.Images.Stamp(ctx, app.Content.Office)
		if f.Officer != nil {
			d.Signature, _ = s.opt.Images.Signature(ctx, f.Officer.ID)
		}
	}
	return RenderPDF(d)
}

// RenderPDF lays the certificate out as the agreement's form: boxes 1 to
// 13 in their order (exporter, consignee, transport, official use and
// remarks, goods with item number, marks, description, HS code, origin
// criterion, quantity and invoice, the exporter's declaration, the
// certification with stamp, signature and QR code).
func RenderPDF(d PDFData) ([]byte, error) {
	f := d.Facts
	app, c := f.Application, f.Application.Content
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(app.Issued)
	pdf.SetModificationDate(app.Issued)
	pdf.SetTitle("Certificate of origin "+app.Certificate, true)
	pdf.SetAuthor(f.Agency.Name, true)
	pdf.SetMargins(10, 10, 10)
	pdf.SetAutoPageBreak(false, 10)
	pdf.AddPage()
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	box := func(x, y, w, h float64, label, body string) {
		pdf.Rect(x, y, w, h, "D")
		pdf.SetXY(x+1, y+1)
		pdf.SetFont("Helvetica", "B", 7)
		pdf.MultiCell(w-2, 3, tr(label), "", "L", false)
		pdf.SetX(x + 1)
		pdf.SetFont("Helvetica", "", 8.5)
		pdf.MultiCell(w-2, 3.8, tr(body), "", "L", false)
	}
	title, form := FormTitle(c.Agreement)
	exp := f.Exporter
	box(10, 10, 100, 32, "1. Goods consigned from (Exporter's name, address, country)",
		fmt.Sprintf("%s\n%s\nIEC %s  GSTIN %s\n%s", exp.Name, exp.Address, exp.IEC, exp.GSTIN, "INDIA"))
	box(10, 42, 100, 30, "2. Goods consigned to (Consignee's name, address, country)",
		fmt.Sprintf("%s\n%s\n%s", c.Consignee.Name, c.Consignee.Address, c.Consignee.Country))
	tp := c.Transport
	box(10, 72, 100, 34, "3. Means of transport and route (as far as known)",
		fmt.Sprintf("Departure date: %s\nVessel / flight: %s\nPort of loading: %s\nPort of discharge: %s\nMode (UN/ECE Rec 19): %s",
			tp.DepartureDate, tp.Vessel, tp.PortLoading, tp.PortDischarge, tp.Mode))
	pdf.Rect(110, 10, 90, 50, "D")
	pdf.SetXY(111, 11)
	pdf.SetFont("Helvetica", "B", 8)
	pdf.MultiCell(88, 4, tr("Reference No. "+app.Certificate), "", "L", false)
	pdf.SetX(111)
	pdf.SetFont("Helvetica", "B", 9)
	pdf.MultiCell(88, 4.2, tr(title), "", "C", false)
	pdf.SetX(111)
	pdf.SetFont("Helvetica", "", 9)
	pdf.MultiCell(88, 4.2, tr(fmt.Sprintf("(%s)\nIssued in INDIA\nfor %s", form, c.ImportingCountry)), "", "C", false)
	remarks := c.Remarks
	if app.Kind != issuance.KindOriginal && app.Concerns.Number != "" {
		remarks = strings.TrimSpace(fmt.Sprintf("%s of certificate %s. %s", strings.ToUpper(string(app.Kind)), app.Concerns.Number, remarks))
	}
	box(110, 60, 90, 46, "4. For official use / Remarks", remarks)

	// Goods, boxes 5 to 11.
	cols := []struct {
		w     float64
		label string
	}{{10, "5. Item number"}, {24, "6. Marks and numbers on packages"}, {58, "7. Number and kind of packages; description of goods"},
		{20, "8. HS code"}, {22, "9. Origin criterion"}, {28, "10. Gross weight or other quantity, and value (FOB)"}, {28, "11. Number and date of invoices"}}
	y0, gh := 106.0, 84.0
	x := 10.0
	pdf.SetFont("Helvetica", "B", 6.5)
	for _, col := range cols {
		pdf.Rect(x, y0, col.w, gh, "D")
		pdf.SetXY(x+0.5, y0+0.5)
		pdf.MultiCell(col.w-1, 2.8, tr(col.label), "", "L", false)
		x += col.w
	}
	pdf.Line(10, y0+10, 200, y0+10)
	y := y0 + 11
	pdf.SetFont("Helvetica", "", 7.5)
	for i, g := range c.Goods {
		if y > y0+gh-8 {
			pdf.SetXY(12, y)
			pdf.CellFormat(180, 3.5, tr(fmt.Sprintf("... and %d more lines (annex)", len(c.Goods)-i)), "", 0, "L", false, 0, "")
			break
		}
		cells := []string{
			fmt.Sprint(i + 1), g.Marks,
			strings.TrimSpace(fmt.Sprintf("%d %s %s", g.Packages, g.PackageType, g.Description)),
			g.HS, g.Criterion,
			fmt.Sprintf("%s %s\nFOB %s", g.Quantity, g.Unit, money(g.FOB, c.Currency)),
			fmt.Sprintf("%s\n%s", c.InvoiceNumber, c.InvoiceDate),
		}
		x, rowH := 10.0, 0.0
		for k, col := range cols {
			pdf.SetXY(x+0.5, y)
			lines := pdf.SplitText(tr(cells[k]), col.w-1)
			pdf.MultiCell(col.w-1, 3.2, tr(cells[k]), "", "L", false)
			rowH = max(rowH, float64(len(lines))*3.2)
			x += col.w
		}
		y += rowH + 1.5
	}

	decl := c.Declaration
	box(10, 190, 95, 97, "12. Declaration by the exporter",
		fmt.Sprintf("The undersigned hereby declares that the above details and statement are correct; that all the goods were produced in INDIA and that they comply with the origin requirements specified for these goods in the %s for the goods exported to %s.\n\n%s, %s\n%s, %s\n\nPlace and date, name and designation of authorised signatory",
			c.Agreement, c.ImportingCountry, decl.Place, app.Submitted.UTC().Format("2006-01-02"), decl.Name, decl.Designation))
	officer := ""
	if f.Officer != nil {
		officer = f.Officer.Name
	}
	box(105, 190, 95, 97, "13. Certification",
		fmt.Sprintf("It is hereby certified, on the basis of control carried out, that the declaration by the exporter is correct.\n\n%s\n%s, %s\nCertificate No. %s\nDate of issue: %s\nOfficer: %s",
			f.Agency.Name, f.Office.Name, f.Office.Address, app.Certificate, app.Issued.UTC().Format("2006-01-02"), officer))
	image := func(name string, data []byte, x, y, w, h float64, label string) {
		if len(data) > 0 {
			typ := "PNG"
			if http.DetectContentType(data) == "image/jpeg" {
				typ = "JPG"
			}
			opt := fpdf.ImageOptions{ImageType: typ}
			if info := pdf.RegisterImageOptionsReader(name, opt, bytes.NewReader(data)); info != nil && pdf.Ok() {
				pdf.ImageOptions(name, x, y, w, h, false, opt, 0, "")
				return
			}
			pdf.ClearError()
		}
		pdf.SetDrawColor(160, 160, 160)
		pdf.Rect(x, y, w, h, "D")
		pdf.SetDrawColor(0, 0, 0)
		pdf.SetXY(x, y+h/2-2)
		pdf.SetFont("Helvetica", "", 6.5)
		pdf.CellFormat(w, 4, label, "", 0, "C", false, 0, "")
	}
	image("stamp", d.Stamp, 108, 248, 28, 28, "office stamp")
	image("signature", d.Signature, 108, 278, 40, 8, "signature")
	if d.QRContent != "" {
		sym, err := qrsign.Encode(d.QRContent)
		if err != nil {
			return nil, err
		}
		// 30 mm square including the 4-module quiet zone.
		const side = 30.0
		mod := side / float64(sym.Size+8)
		qx, qy := 168.0, 250.0
		pdf.SetFillColor(0, 0, 0)
		for yy := 0; yy < sym.Size; yy++ {
			for xx := 0; xx < sym.Size; xx++ {
				if sym.Dark(xx, yy) {
					pdf.Rect(qx+float64(xx+4)*mod, qy+float64(yy+4)*mod, mod, mod, "F")
				}
			}
		}
		pdf.SetXY(140, 280.5)
		pdf.SetFont("Helvetica", "", 6)
		pdf.CellFormat(58, 3, "Scan to verify (signed QR payload)", "", 0, "R", false, 0, "")
	}
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, fmt.Errorf("certificate PDF: %w", err)
	}
	return out.Bytes(), nil
}

func money(minor int64, cur string) string {
	return funcs["money"].(func(int64, string) string)(minor, cur)
}
