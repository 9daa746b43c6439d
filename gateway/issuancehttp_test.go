package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/issuance"
	issapi "github.com/ecogate/ecogate/issuance/api"
	"github.com/ecogate/ecogate/store"
)

// enableIssuance turns the issuance section on for a dev site: the trade
// registry file, the officer's node-held key (the site's dev PKI ECDSA
// document signer) and the PKI's root and CRLs as officers' anchors.
func enableIssuance(t testing.TB, s devsite.Site, c *Config) {
	t.Helper()
	reg := filepath.Join(s.Dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte("exporters:\n  - {iec: "+isuIEC+", name: Alpha Exports Pvt Ltd, address: '12 Marine Drive, Mumbai', gstin: 27AAACE1234F1Z6, email: admin@exporter.example}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(s.Dir, "heldkeys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(s.Dir, "pki")
	if err := os.WriteFile(filepath.Join(keys, isuOfficer.ID+".pem"), mustRead(t, filepath.Join(pki, certs.FileSignerECDSAKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Issuance = IssuanceConfig{Enabled: true, Operators: []string{isuOperator.ID}, Registry: reg, HeldKeys: keys,
		OfficerAnchors: []string{filepath.Join(pki, certs.FileRootCert), filepath.Join(pki, certs.FileRootCRL), filepath.Join(pki, certs.FileIntermediateCRL)}}
}

// isuHTTP sets up, through the issuance API only, the exporter, the
// agency EIC with office MUM (e-wallet), and an officer with the node-held
// key and its DSC registered; it returns clients for the exporter and the
// officer.
func isuHTTP(t testing.TB, ctx context.Context, base, pkiDir string) (ex, of *issapi.Client) {
	t.Helper()
	op := &issapi.Client{Base: base}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	np := func(id string) issuance.NewPerson { return issuance.NewPerson{ID: id, Name: "Person " + id, Email: id} }
	must(op.Do(ctx, "POST", "/exporters", map[string]any{"iec": isuIEC, "admin": np(isuExporter.ID)}, nil))
	must(op.Do(ctx, "POST", "/agencies/register", issuance.AgencyRegistration{Agency: "EIC", Name: "Export Inspection Council", Series: "EIC",
		Admin: np(isuAgAdmin.ID), AuthorisationLetterSHA256: strings.Repeat("ab", 32)}, nil))
	must(op.Do(ctx, "POST", "/agencies/EIC/approve", nil, nil))
	token := func(person string) *issapi.Client {
		var tr struct{ Token string }
		must(op.Do(ctx, "POST", "/tokens", map[string]string{"person": person}, &tr))
		return op.As(tr.Token)
	}
	ag := token(isuAgAdmin.ID)
	must(ag.Do(ctx, "PUT", "/agencies/EIC/offices/MUM", map[string]any{"code": "MUM", "name": "EIC Mumbai", "address": "Mumbai office",
		"currency": "INR", "fees": map[string]int64{"original": 100}, "eWallet": true, "merchantId": "EICMUM", "checksumKey": "k3y"}, nil))
	must(op.Do(ctx, "POST", "/officers/register", issuance.OfficerRegistration{Agency: "EIC", Office: "MUM", Officer: np(isuOfficer.ID)}, nil))
	must(ag.Do(ctx, "POST", "/officers/"+isuOfficer.ID+"/approve", nil, nil))
	must(ag.Do(ctx, "POST", "/wallets/"+isuIEC+"/MUM/credit", map[string]any{"amount": 1_000_000_000, "reason": "receipt R-1"}, nil))
	of = token(isuOfficer.ID)
	dsc := append(mustRead(t, filepath.Join(pkiDir, certs.FileSignerECDSACert)), mustRead(t, filepath.Join(pkiDir, certs.FileIntermediateCert))...)
	must(of.Do(ctx, "POST", "/me/dsc", dsc, nil))
	return token(isuExporter.ID), of
}

// TestIssueOverHTTPReachesPartner: approve-and-issue through the HTTP API
// with the real held-key signer (the officer's key the node holds under
// issuance.heldKeys, the DSC registered through POST /me/dsc against
// issuance.officerAnchors) puts the certificate in IN's register, queues
// it, delivers it to VN over mutual TLS, and VN's customs answer
// AUTHENTIC; the exporter's own approve-and-issue is refused (403).
func TestIssueOverHTTPReachesPartner(t *testing.T) {
	in, vn := faceNodesWith(t, func(i int, s devsite.Site, c *Config) {
		if i == 0 {
			enableIssuance(t, s, c)
		}
	})
	ctx := context.Background()
	base := "http://" + in.site.LocalAddr + issapi.Prefix
	ex, of := isuHTTP(t, ctx, base, filepath.Join(in.site.Dir, "pki"))

	var app issuance.Application
	if err := ex.Do(ctx, "POST", "/applications", issuance.NewApplication{IEC: isuIEC, Kind: issuance.KindOriginal, Content: isuContent("VN")}, &app); err != nil {
		t.Fatal(err)
	}
	if err := ex.Do(ctx, "POST", "/applications/"+app.ID+"/submit", map[string]string{"payment": "wallet"}, nil); err != nil {
		t.Fatal(err)
	}
	// The exporter may not approve: 403, nothing changes.
	var ce *issapi.CallError
	if err := ex.Do(ctx, "POST", "/applications/"+app.ID+"/approve-and-issue", nil, nil); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Fatalf("exporter approve-and-issue: %v", err)
	}
	if err := of.Do(ctx, "POST", "/applications/"+app.ID+"/review", nil, nil); err != nil {
		t.Fatal(err)
	}
	var ans issapi.IssueAnswer
	if err := of.Do(ctx, "POST", "/applications/"+app.ID+"/approve-and-issue", map[string]string{"reason": "checked"}, &ans); err != nil {
		t.Fatal(err)
	}
	cert := ans.Certificate
	if ans.Application.State != issuance.StateIssued || !strings.HasPrefix(cert.Number, "EIC-MUM-") || !strings.HasSuffix(cert.Number, "-000001") {
		t.Fatalf("issued %s as %q", ans.Application.State, cert.Number)
	}
	rec, err := in.inst.DB.Issued().Get(ctx, cert.Number)
	if err != nil || rec.Status != store.CertIssued {
		t.Fatalf("register: %+v %v", rec, err)
	}
	var msg store.OutRecord
	waitFor(t, 20*time.Second, "delivered to VN", func() bool {
		recs, err := in.inst.DB.Outbox().List(ctx, store.Filter{Partner: "VN"})
		if err != nil || len(recs) != 1 {
			return false
		}
		msg = recs[0]
		return msg.State == store.StateDelivered || msg.State == store.StateDeliveredWithWarnings
	})
	if msg.CertNumber != cert.Number || msg.Kind != KindIssue {
		t.Fatalf("message %+v", msg)
	}
	if _, err := vn.inst.DB.Inbox().Get(ctx, msg.ID); err != nil {
		t.Fatalf("VN inbox: %v", err)
	}
	id2, secret := vn.addClient(t, customs.Scopes()...)
	tok := vn.token(t, id2, secret)
	req := customs.CheckRequest{ExportCountry: "IN", CertificateNumber: cert.Number, IssueDate: cert.IssuedAt.UTC().Format(time.DateOnly),
		DeclarationRef: "VN-DEC-1", Items: []customs.DeclaredItem{{SequenceNumber: 1, HSCode: "020230", Quantity: &customs.Quantity{Value: "1000", UnitCode: "KGM"}}}}
	status, body := vn.call(t, "POST", "/customs/v1/checks", tok, req)
	var res customs.CheckResult
	if err := json.Unmarshal(body, &res); err != nil || status != http.StatusOK || res.Verdict != customs.Authentic {
		t.Fatalf("customs check: %d %s", status, body)
	}
}
