package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/issuance"
	issapi "github.com/ecogate/ecogate/issuance/api"
	"github.com/ecogate/ecogate/store"
)

// The demo's issuance parties at IN. The README's "Issuance API" block
// uses the other exporter of the registry file (AAACE1234F) and agency EIC
// on the same node, so the two never collide.
const (
	demoOperator = "operator@in.example"
	demoIEC      = "AABCB5678M"
	demoExporter = "admin@bharat.example"
	demoAgency   = "ICC"
	demoOffice   = "KOL"
	demoAgAdmin  = "admin@icc.example"
	demoOfficer  = "officer@icc.example"
	// demoFee is the office's fee for an original (paise).
	demoFee = 25_000
)

// demoRegistry is the development trade registry of IN (the DGFT records
// by IEC).
const demoRegistry = `# development trade registry (issuance.registry): exporters by IEC
exporters:
  - iec: AAACE1234F
    name: Alpha Exports Pvt Ltd
    address: 12 Marine Drive, Mumbai 400002
    gstin: 27AAACE1234F1Z6
    email: admin@alpha.example
  - iec: AABCB5678M
    name: Bharat Spices Ltd
    address: 4 Strand Road, Kolkata 700001
    gstin: 19AABCB5678M1Z2
    email: admin@bharat.example
    branches:
      - {id: KOL-2, address: 'Plot 7, Howrah Industrial Estate'}
`

// demoEnableIssuance turns the issuance workflow on in IN's configuration
// file before the node opens: the registry file, a folder for the
// officers' node-held keys (the officer's key is the dev PKI's ECDSA
// document signer, whose certificate is the DSC the officer registers),
// the dev PKI's root and CRLs as the officers' DSC anchors, the
// development payment gateway, and mail written to in/mail.
func demoEnableIssuance(site devsite.Site) error {
	if err := os.WriteFile(filepath.Join(site.Dir, "registry.yaml"), []byte(demoRegistry), 0o644); err != nil {
		return err
	}
	keys := filepath.Join(site.Dir, "heldkeys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return err
	}
	k, err := os.ReadFile(filepath.Join(site.Dir, "pki", certs.FileSignerECDSAKey))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(keys, demoOfficer+".pem"), k, 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(site.Dir, "mail"), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(site.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, `
# the domestic issuance workflow (README "Issuance API"), on for the demo
issuance:
  enabled: true
  operators: [%s]
  registry: registry.yaml
  devGateway: true
  mail: {dir: mail, from: ecogate@in.example}
  heldKeys: heldkeys
  officerAnchors: [pki/%s, pki/%s, pki/%s]
`, demoOperator, certs.FileRootCert, certs.FileRootCRL, certs.FileIntermediateCRL)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// demoApplication is the content of one of the demo's applications: two
// goods lines, the second with raw materials and a cost sheet.
func demoApplication(invoice string, qty string) issuance.Content {
	today := time.Now().UTC()
	return issuance.Content{
		Agreement: "AIFTA", Agency: demoAgency, Office: demoOffice, ImportingCountry: "VN",
		InvoiceNumber: invoice, InvoiceDate: today.AddDate(0, 0, -3).Format(time.DateOnly), Currency: "INR",
		Consignee: issuance.Party{Name: "Saigon Spice Traders JSC", Address: "88 Nguyen Hue, District 1, Ho Chi Minh City", Country: "VN"},
		Transport: issuance.Transport{Mode: "1", Vessel: "MV Hooghly", PortLoading: "INCCU", PortDischarge: "VNSGN", DepartureDate: today.Format(time.DateOnly)},
		Goods: []issuance.GoodsLine{
			{HS: "0904.21.10", Description: "Dried chillies, whole", Quantity: qty, Unit: "KGM", Packages: 40, PackageType: "BG",
				Marks: "BSL/SGN/1-40", FOB: 1_200_000, Criterion: "WO"},
			{HS: "0910.91.00", Description: "Curry powder (mixed spices)", Quantity: "400", Unit: "KGM", Packages: 16, PackageType: "BG",
				Marks: "BSL/SGN/41-56", FOB: 800_000, Criterion: "RVC 35% + CTSH",
				Materials: []issuance.Material{
					{HS: "0904.21", Description: "Dried chillies", OriginCountry: "IN", Value: 300_000},
					{HS: "0909.31", Description: "Cumin seeds", OriginCountry: "AF", Value: 200_000},
				},
				CostSheet: &issuance.CostSheet{Basis: issuance.BasisFOB, Price: 800_000, OriginatingMaterials: 300_000,
					NonOriginatingMaterials: 200_000, Labour: 100_000, Overheads: 100_000, Profit: 100_000}},
		},
		Declaration: issuance.Declaration{Place: "Kolkata", Name: "R. Sen", Designation: "Export Manager"},
	}
}

// demoParties are the API clients of the issuance parties demoIssuanceParties
// sets up: the operator (the local API without token), the agency's
// administrator, the officer and the exporter's administrator.
type demoParties struct {
	operator, agency, officer, exporter *issapi.Client
}

// demoIssuanceParties sets up the issuance parties at IN through the API
// (op is the operator's client; pki the dev PKI, whose ECDSA document
// signer is the officer's DSC): the exporter registered by IEC, the agency
// registered and approved with its office (fee, e-wallet), the officer
// registered and approved with the DSC, the e-wallet credited. It tells
// each step on out. The node's issuance crash test reuses it.
func demoIssuanceParties(ctx context.Context, op *issapi.Client, pki string, out io.Writer) (*demoParties, error) {
	token := func(person string) (*issapi.Client, error) {
		var tr struct{ Token string }
		if err := op.Do(ctx, "POST", "/tokens", map[string]string{"person": person}, &tr); err != nil {
			return nil, err
		}
		return op.As(tr.Token), nil
	}
	// The exporter's administrator registers by IEC; the registry holds
	// the same e-mail, so it confirms the account at once.
	var reg issuance.ExporterRegistration
	if err := op.As("").Do(ctx, "POST", "/exporters/register", map[string]any{"iec": demoIEC,
		"admin": issuance.NewPerson{ID: demoExporter, Name: "R. Sen", Email: demoExporter}}, &reg); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  exporter  %s registers IEC %s: %s, %s (GSTIN %s, from the trade registry); account %s (confirmed by the %s)\n",
		demoExporter, demoIEC, reg.Exporter.Name, reg.Exporter.Address, reg.Exporter.GSTIN, reg.Status, reg.ConfirmedBy)

	// The agency: registration with its authorisation letter, approved by
	// the operator; an office with its fee and e-wallet.
	if err := op.Do(ctx, "POST", "/agencies/register", issuance.AgencyRegistration{Agency: demoAgency, Name: "Indian Chamber of Commerce", Series: demoAgency,
		Admin: issuance.NewPerson{ID: demoAgAdmin, Name: "S. Bose", Email: demoAgAdmin}, AuthorisationLetterSHA256: strings.Repeat("5e", 32)}, nil); err != nil {
		return nil, err
	}
	if err := op.Do(ctx, "POST", "/agencies/"+demoAgency+"/approve", nil, nil); err != nil {
		return nil, err
	}
	ag, err := token(demoAgAdmin)
	if err != nil {
		return nil, err
	}
	if err := ag.Do(ctx, "PUT", "/agencies/"+demoAgency+"/offices/"+demoOffice, map[string]any{"code": demoOffice, "name": "ICC Kolkata",
		"address": "4 India Exchange Place, Kolkata", "currency": "INR", "fees": map[string]int64{"original": demoFee}, "eWallet": true,
		"merchantId": "ICCKOL", "checksumKey": "dev-only-" + demoOffice}, nil); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  agency    %s (Indian Chamber of Commerce) registered with its authorisation letter, approved by the operator; office %s: fee %s, e-wallet on\n",
		demoAgency, demoOffice, rupees(demoFee))

	// The officer: registration, approval, the DSC from the dev PKI (the
	// node holds its key).
	if err := op.As("").Do(ctx, "POST", "/officers/register", issuance.OfficerRegistration{Agency: demoAgency, Office: demoOffice,
		Officer: issuance.NewPerson{ID: demoOfficer, Name: "P. Ghosh", Email: demoOfficer}}, nil); err != nil {
		return nil, err
	}
	if err := ag.Do(ctx, "POST", "/officers/"+demoOfficer+"/approve", nil, nil); err != nil {
		return nil, err
	}
	of, err := token(demoOfficer)
	if err != nil {
		return nil, err
	}
	leaf, err := os.ReadFile(filepath.Join(pki, certs.FileSignerECDSACert))
	if err != nil {
		return nil, err
	}
	inter, err := os.ReadFile(filepath.Join(pki, certs.FileIntermediateCert))
	if err != nil {
		return nil, err
	}
	var dsc issuance.DSC
	if err := of.Do(ctx, "POST", "/me/dsc", append(leaf, inter...), &dsc); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  officer   %s registered, approved by %s; DSC %q (serial %s...) registered, key held by the node\n",
		demoOfficer, demoAgAdmin, dsc.Subject, dsc.Serial[:min(8, len(dsc.Serial))])

	// The e-wallet: credited by the agency against a receipt.
	if err := ag.Do(ctx, "POST", "/wallets/"+demoIEC+"/"+demoOffice+"/credit", map[string]any{"amount": 100_000, "reason": "receipt ICC/KOL/R-0091"}, nil); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "  e-wallet  %s at %s credited %s (receipt ICC/KOL/R-0091)\n", demoIEC, demoOffice, rupees(100_000))

	ex, err := token(demoExporter)
	if err != nil {
		return nil, err
	}
	return &demoParties{operator: op, agency: ag, officer: of, exporter: ex}, nil
}

// rupees formats minor units (paise) as INR.
func rupees(p int64) string { return fmt.Sprintf("INR %d.%02d", p/100, p%100) }

// demoIssuance tells the issuance story through IN's issuance API only,
// as the people and systems involved would: the operator, the agency's
// administrator, the officer, the exporter. Two applications are filed,
// one is returned with a query and answered, both are approved and signed
// with the officer's node-held key, issued (numbered, registered, queued)
// and delivered to VN, whose customs checks one.
func demoIssuance(ctx context.Context, in, vn *demoNode, cs *demoCustomsResult, out io.Writer) error {
	base := "http://" + in.site.LocalAddr + issapi.Prefix
	op := &issapi.Client{Base: base, HTTP: &http.Client{Timeout: 30 * time.Second}}
	fmt.Fprintf(out, "\nat IN, the domestic issuance workflow (issuance API %s):\n", base)
	pki := filepath.Join(in.site.Dir, "pki")
	parties, err := demoIssuanceParties(ctx, op, pki, out)
	if err != nil {
		return err
	}
	of, ex := parties.officer, parties.exporter

	// The exporter files two applications.
	var ids []string
	for i, qty := range []string{"2000", "1500"} {
		var app issuance.Application
		if err := ex.Do(ctx, "POST", "/applications", issuance.NewApplication{IEC: demoIEC, Kind: issuance.KindOriginal,
			Content: demoApplication(fmt.Sprintf("BSL-INV-%04d", 101+i), qty)}, &app); err != nil {
			return err
		}
		var sub issapi.SubmitAnswer
		if err := ex.Do(ctx, "POST", "/applications/"+app.ID+"/submit", map[string]string{"payment": "wallet"}, &sub); err != nil {
			return err
		}
		ids = append(ids, app.ID)
		fmt.Fprintf(out, "  apply     %s: AIFTA, to VN, invoice %s, 2 goods lines (chillies %s KGM WO; curry powder 400 KGM \"RVC 35%% + CTSH\" with cost sheet); submitted, fee paid from the e-wallet\n",
			app.ID, app.Content.InvoiceNumber, qty)
	}
	var wal issapi.WalletAnswer
	if err := ex.Do(ctx, "GET", "/wallets/"+demoIEC+"/"+demoOffice, nil, &wal); err != nil {
		return err
	}
	fmt.Fprintf(out, "  e-wallet  balance %s after %d movements\n", rupees(wal.Balance), len(wal.Movements))

	// The officer reviews: the origin arithmetic, a query on the first,
	// the exporter's answer.
	for _, id := range ids {
		if err := of.Do(ctx, "POST", "/applications/"+id+"/review", nil, nil); err != nil {
			return err
		}
	}
	var fs []issuance.Finding
	if err := of.Do(ctx, "GET", "/applications/"+ids[0]+"/origin", nil, &fs); err != nil {
		return err
	}
	for _, f := range fs {
		line := fmt.Sprintf("  origin    %s line %d (HS %s) claims %q: %s", ids[0], f.Line, f.HS, f.Claimed, f.Support)
		if f.RVC != nil {
			line += fmt.Sprintf(", RVC build-down %s", f.RVC.BuildDown)
		}
		fmt.Fprintln(out, line)
	}
	query := "Please state the origin of the cumin seeds (line 2) and attach the supplier's invoice."
	if err := of.Do(ctx, "POST", "/applications/"+ids[0]+"/return", map[string]string{"reason": query}, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "  query     %s returned by the officer: %q\n", ids[0], query)
	answer := "The cumin seeds are imported from Afghanistan (non-originating, counted in the cost sheet); supplier invoice attached."
	inv, err := os.ReadFile(filepath.Join(pki, certs.FileRootCert)) // any file is refused: only PDF, PNG or JPEG
	if err != nil {
		return err
	}
	var ce *issapi.CallError
	if err := ex.Do(ctx, "POST", "/applications/"+ids[0]+"/attachments?kind=invoice&name=supplier.pem", inv, nil); !errors.As(err, &ce) {
		return fmt.Errorf("a PEM file was accepted as an attachment: %v", err)
	}
	pdf := []byte("%PDF-1.4\n% supplier invoice (demo)\ntrailer << >>\n%%EOF\n")
	var at issuance.Attachment
	if err := ex.Do(ctx, "POST", "/applications/"+ids[0]+"/attachments?kind=invoice&name=supplier-invoice.pdf", pdf, &at); err != nil {
		return err
	}
	if err := ex.Do(ctx, "POST", "/applications/"+ids[0]+"/answer", map[string]string{"reason": answer}, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "  answer    %s: %q; attachment %s (%s, sha256 %s...; a PEM upload was refused: %d)\n", ids[0], answer, at.Name, at.ContentType, at.SHA256[:12], ce.Status)
	if err := of.Do(ctx, "POST", "/applications/"+ids[0]+"/review", nil, nil); err != nil {
		return err
	}

	// Approve and sign both: approve, sign with the held key, number,
	// register and queue for VN in one transaction each.
	var issued []*issuance.Certificate
	for _, id := range ids {
		var ans issapi.IssueAnswer
		if err := of.Do(ctx, "POST", "/applications/"+id+"/approve-and-issue", map[string]string{"reason": "origin verified"}, &ans); err != nil {
			return err
		}
		issued = append(issued, ans.Certificate)
		fmt.Fprintf(out, "  issue     %s approved and signed by %s: certificate %s (registered at IN, queued for VN in the same transaction)\n",
			id, demoOfficer, ans.Certificate.Number)
	}

	// Delivery to VN.
	deadline := time.Now().Add(time.Minute)
	for _, c := range issued {
		for {
			recs, err := in.inst.DB.Outbox().List(ctx, store.Filter{Partner: "VN"})
			if err != nil {
				return err
			}
			var m *store.OutRecord
			for i := range recs {
				if recs[i].CertNumber == c.Number {
					m = &recs[i]
				}
			}
			if m != nil && (m.State == store.StateDelivered || m.State == store.StateDeliveredWithWarnings) {
				fmt.Fprintf(out, "  deliver   %s -> VN: %s (message %s, receipt signed by VN)\n", c.Number, m.State, m.ID)
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not reach VN within a minute (see %s)", c.Number, filepath.Join(in.site.Dir, "node.log"))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if err := demoWaitMail(ctx, filepath.Join(in.site.Dir, "mail"), 2, out); err != nil {
		return err
	}

	// VN's customs checks the first certificate.
	c := issued[0]
	verdict, err := demoCustomsCheck(ctx, vn, cs, c.Number, c.IssuedAt, "0904.21", "2000")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  at VN     customs checks %s (HS 0904.21, 2000 KGM) -> %s\n", c.Number, verdict)
	if verdict != customs.Authentic {
		return fmt.Errorf("VN's customs answered %s for %s, not AUTHENTIC", verdict, c.Number)
	}
	return nil
}

// demoWaitMail waits for at least n notification e-mails in dir and
// prints how many were written.
func demoWaitMail(ctx context.Context, dir string, n int, out io.Writer) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ents, _ := os.ReadDir(dir)
		if len(ents) >= n || time.Now().After(deadline) {
			fmt.Fprintf(out, "  mail      %d notifications written to %s (submission, query, approval, issue)\n", len(ents), dir)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demoCustomsCheck gets a token for VN's customs client and checks one
// certificate against a one-item declaration; it returns the verdict.
func demoCustomsCheck(ctx context.Context, vn *demoNode, cs *demoCustomsResult, number string, issued time.Time, hs, qty string) (string, error) {
	root, err := os.ReadFile(cs.caFile)
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + vn.site.CustomsAddr
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cs.clientID, cs.secret)
	status, body, err := demoDo(hc, req)
	if err != nil {
		return "", err
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token: HTTP %d: %s", status, body)
	}
	cr := &issapi.Client{Base: base, Token: tr.AccessToken, HTTP: hc}
	var res customs.CheckResult
	if err := cr.Do(ctx, "POST", "/customs/v1/checks", customs.CheckRequest{ExportCountry: "IN", CertificateNumber: number,
		IssueDate: issued.UTC().Format(time.DateOnly), DeclarationRef: "VN-DEC-ISSUED-1",
		Items: []customs.DeclaredItem{{SequenceNumber: 1, HSCode: hs, Quantity: &customs.Quantity{Value: qty, UnitCode: "KGM"}}}}, &res); err != nil {
		return "", err
	}
	return res.Verdict, nil
}
