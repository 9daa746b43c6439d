package issuance_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/schema"
)

type keyMap map[string]crypto.Signer

func (m keyMap) Key(_ context.Context, id string) (crypto.Signer, error) {
	if k := m[id]; k != nil {
		return k, nil
	}
	return nil, errors.New("no key held")
}

// leaf issues an ECDSA certificate under ca with the given subject and key
// usage.
func leaf(t *testing.T, ca certs.KeyCert, subj pkix.Name, usage x509.KeyUsage) certs.KeyCert {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subj, NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC), KeyUsage: usage}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, k.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return certs.KeyCert{Key: k, Cert: c}
}

func chainPEM(kc certs.KeyCert, ca certs.KeyCert) []byte {
	return append(certs.CertPEM(kc.Cert), certs.CertPEM(ca.Cert)...)
}

// signingWorld is the world of service_test.go with DSC anchors for
// officers and exporters, node-held keys, and registered DSCs for both
// officers and the applicant.
type signingWorld struct {
	*world
	pki, other *certs.DevPKI
	trust      *certs.TrustSet
	keys       keyMap
	dsc        map[string]certs.KeyCert
}

func newSigningWorld(t *testing.T, exporterTrust bool) *signingWorld {
	t.Helper()
	w := newWorld(t)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	pki, err := certs.NewDevPKI(certs.PKIOptions{Name: "IN DSC", Now: now})
	w.must(err)
	other, err := certs.NewDevPKI(certs.PKIOptions{Name: "elsewhere", Now: now})
	w.must(err)
	sw := &signingWorld{world: w, pki: pki, other: other, trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert}},
		keys: keyMap{}, dsc: map[string]certs.KeyCert{}}
	reg, err := issuance.NewFileRegistry(w.reg)
	w.must(err)
	cfg := issuance.Config{Country: "IN", Store: w.db.Issuance(), Registry: reg, Operators: []string{operator.ID},
		Node: w.node, HeldKeys: sw.keys, OfficerTrust: sw.trust, Clock: func() time.Time { return w.clock }}
	if exporterTrust {
		cfg.ExporterTrust = sw.trust
	}
	w.svc, err = issuance.New(cfg)
	w.must(err)
	for _, o := range []issuance.Actor{officer, officer2} {
		kc := leaf(t, pki.Intermediate, pkix.Name{CommonName: o.ID}, x509.KeyUsageDigitalSignature)
		sw.dsc[o.ID], sw.keys[o.ID] = kc, kc.Key
		_, err := w.svc.RegisterDSC(context.Background(), o, chainPEM(kc, pki.Intermediate))
		w.must(err)
	}
	return sw
}

// TestRegisterDSC: a DSC must chain to the configured anchors, carry a
// signing key usage, be unrevoked, and (an exporter's) carry the IEC.
func TestRegisterDSC(t *testing.T) {
	sw := newSigningWorld(t, true)
	ctx := context.Background()
	revoked := leaf(t, sw.pki.Intermediate, pkix.Name{CommonName: "revoked"}, x509.KeyUsageDigitalSignature)
	crl, err := certs.IssueCRL(sw.pki.Intermediate, []*x509.Certificate{revoked.Cert}, sw.clock.Add(-time.Hour), sw.clock.Add(30*24*time.Hour), 2)
	sw.must(err)
	parsed, err := parseCRL(crl)
	sw.must(err)
	sw.trust.RevocationLists = []*x509.RevocationList{parsed}
	for _, tc := range []struct {
		name string
		who  issuance.Actor
		pem  []byte
		ok   bool
	}{
		{"officer, valid", officer, chainPEM(leaf(t, sw.pki.Intermediate, pkix.Name{CommonName: "o"}, x509.KeyUsageContentCommitment), sw.pki.Intermediate), true},
		{"officer, another authority", officer, chainPEM(leaf(t, sw.other.Intermediate, pkix.Name{CommonName: "o"}, x509.KeyUsageDigitalSignature), sw.other.Intermediate), false},
		{"officer, no signing usage", officer, chainPEM(leaf(t, sw.pki.Intermediate, pkix.Name{CommonName: "o"}, x509.KeyUsageKeyEncipherment), sw.pki.Intermediate), false},
		{"officer, revoked", officer, chainPEM(revoked, sw.pki.Intermediate), false},
		{"officer, not a certificate", officer, []byte("hello"), false},
		{"applicant, IEC in subject", appl, chainPEM(leaf(t, sw.pki.Intermediate, pkix.Name{CommonName: "A Kumar", SerialNumber: "IEC:" + iecA}, x509.KeyUsageDigitalSignature), sw.pki.Intermediate), true},
		{"applicant, no IEC", appl, chainPEM(leaf(t, sw.pki.Intermediate, pkix.Name{CommonName: "A Kumar"}, x509.KeyUsageDigitalSignature), sw.pki.Intermediate), false},
		{"applicant, another IEC", appl, chainPEM(leaf(t, sw.pki.Intermediate, pkix.Name{CommonName: "A Kumar", SerialNumber: iecB}, x509.KeyUsageDigitalSignature), sw.pki.Intermediate), false},
		{"agency administrator", agAdmin, chainPEM(leaf(t, sw.pki.Intermediate, pkix.Name{CommonName: "x"}, x509.KeyUsageDigitalSignature), sw.pki.Intermediate), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sw.svc.RegisterDSC(ctx, tc.who, tc.pem)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestApproveNeedsDSC: an officer without a registered DSC cannot approve.
func TestApproveNeedsDSC(t *testing.T) {
	sw := newSigningWorld(t, false)
	ctx := context.Background()
	third := issuance.Actor{ID: "third@eic.example", Role: issuance.RoleOfficer}
	_, err := sw.svc.RegisterOfficer(ctx, issuance.OfficerRegistration{Agency: "EIC", Office: "MUM", Officer: np(third.ID)})
	sw.must(err)
	sw.must(sw.svc.ApproveOfficer(ctx, agAdmin, third.ID))
	a := sw.driveTo(issuance.StateUnderReview)
	if _, err := sw.svc.Approve(ctx, third, a.ID, ""); !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("approve without a DSC: %v", err)
	}
	if _, err := sw.svc.Approve(ctx, officer, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	// The officer's DSC revoked after registration: no approval.
	b := sw.driveTo(issuance.StateUnderReview)
	cur := sw.dsc[officer.ID]
	_, err = sw.svc.RegisterDSC(ctx, officer, chainPEM(cur, sw.pki.Intermediate))
	sw.must(err)
	crl, err := certs.IssueCRL(sw.pki.Intermediate, []*x509.Certificate{cur.Cert}, sw.clock.Add(-time.Hour), sw.clock.Add(30*24*time.Hour), 3)
	sw.must(err)
	parsed, err := parseCRL(crl)
	sw.must(err)
	sw.trust.RevocationLists = []*x509.RevocationList{parsed}
	if _, err := sw.svc.Approve(ctx, officer, b.ID, ""); !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("approve with a revoked DSC: %v", err)
	}
	if sw.state(b.ID) != issuance.StateUnderReview {
		t.Fatal("state changed")
	}
}

// TestExternalSigning: the officer downloads the e-CO, signs it outside
// (as `ecogate sign` does) and uploads it. A different document and a
// document signed by another officer's key are refused with a reason and
// change nothing; the right one issues under the reserved number.
func TestExternalSigning(t *testing.T) {
	sw := newSigningWorld(t, false)
	ctx := context.Background()
	a := sw.driveTo(issuance.StateApproved)
	doc, err := sw.svc.DocumentToSign(ctx, officer, a.ID)
	sw.must(err)
	again, err := sw.svc.DocumentToSign(ctx, officer, a.ID)
	sw.must(err)
	if !bytes.Equal(doc, again) || !bytes.Contains(doc, []byte("EIC-MUM-2026-000001")) {
		t.Fatalf("document to sign changed or unnumbered:\n%s", doc)
	}
	sign := func(kc certs.KeyCert, d []byte) []byte {
		s := certs.Signer{Key: kc.Key, Chain: []*x509.Certificate{kc.Cert, sw.pki.Intermediate.Cert}}
		out, err := s.Sign(d)
		sw.must(err)
		return out
	}
	changed := bytes.Replace(doc, []byte("Saigon Imports"), []byte("Saigon Importz"), 1)
	stranger := leaf(t, sw.other.Intermediate, pkix.Name{CommonName: officer.ID}, x509.KeyUsageDigitalSignature)
	for _, tc := range []struct {
		name   string
		upload []byte
		is     error
	}{
		{"another document", sign(sw.dsc[officer.ID], changed), issuance.ErrInvalid},
		{"another officer's key", sign(sw.dsc[officer2.ID], doc), issuance.ErrForbidden},
		{"a key of another authority", func() []byte {
			s := certs.Signer{Key: stranger.Key, Chain: []*x509.Certificate{stranger.Cert, sw.other.Intermediate.Cert}}
			out, err := s.Sign(doc)
			sw.must(err)
			return out
		}(), issuance.ErrInvalid},
		{"unsigned", doc, issuance.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := sw.svc.IssueSigned(ctx, officer, a.ID, tc.upload)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err %v, want %v", err, tc.is)
			}
			if sw.state(a.ID) != issuance.StateApproved || len(sw.node.got) != 0 {
				t.Fatalf("changed: state %s node %v", sw.state(a.ID), sw.node.got)
			}
			if e := sw.lastAudit(); e.Action != "issuance.refused" {
				t.Fatalf("refusal not audited: %+v", e)
			}
		})
	}
	app, cert, err := sw.svc.IssueSigned(ctx, officer, a.ID, sign(sw.dsc[officer.ID], doc))
	sw.must(err)
	if app.State != issuance.StateIssued || cert.Number != "EIC-MUM-2026-000001" || len(sw.node.got) != 1 {
		t.Fatalf("issued %s %s %v", app.State, cert.Number, sw.node.got)
	}
	// The next application gets the next number: no gap, no reuse.
	b := sw.driveTo(issuance.StateApproved)
	_, c2, err := sw.svc.Issue(ctx, officer, b.ID)
	sw.must(err)
	if c2.Number != "EIC-MUM-2026-000002" {
		t.Fatalf("next number %s", c2.Number)
	}
}

// TestHeldKeySigning: Issue signs the e-CO with the officer's node-held
// key under the registered DSC; the result verifies under the anchors.
func TestHeldKeySigning(t *testing.T) {
	sw := newSigningWorld(t, false)
	// Replace the fake signer by the held-key path.
	reg, err := issuance.NewFileRegistry(sw.reg)
	sw.must(err)
	var signed []byte
	sw.svc, err = issuance.New(issuance.Config{Country: "IN", Store: sw.db.Issuance(), Registry: reg, Operators: []string{operator.ID},
		Node: nodeFunc(func(c *issuance.Certificate, s []byte) { signed = s }), HeldKeys: sw.keys, OfficerTrust: sw.trust, Clock: func() time.Time { return sw.clock }})
	sw.must(err)
	a := sw.driveTo(issuance.StateApproved)
	_, cert, err := sw.svc.Issue(context.Background(), officer, a.ID)
	sw.must(err)
	v := &certs.Verifier{Trust: sw.trust, Now: func() time.Time { return sw.clock }}
	res, err := v.Verify(signed)
	if err != nil || !res.Valid || !res.Signer.Equal(sw.dsc[officer.ID].Cert) {
		t.Fatalf("verify: %v %+v", err, res.Report)
	}
	if cert.ECO.Header.ID != cert.Number || cert.ECO.Header.FunctionCode != issuance.FunctionOriginal ||
		cert.ECO.SecondSignatory.Signatory.Name != "Person "+officer.ID || cert.ECO.Consignment.Exporter.IDs[0].Value != iecA {
		t.Fatalf("e-CO: %+v", cert.ECO.Header)
	}
	if fs := schema.Validate(cert.ECO, schema.ValidateOptions{Now: func() time.Time { return sw.clock }}); fs.HasSevere() {
		t.Fatalf("findings: %v", fs)
	}
}

func parseCRL(b []byte) (*x509.RevocationList, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	return x509.ParseRevocationList(b)
}

type nodeFunc func(c *issuance.Certificate, signed []byte)

func (f nodeFunc) RegisterAndQueue(_ context.Context, _ issuance.Tx, c *issuance.Certificate, signed []byte) error {
	f(c, signed)
	return nil
}

// TestSubmitFindings: submission validates the future e-CO against the
// agreement profile; SEVERE findings stop it, by field.
func TestSubmitFindings(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := content()
	c.Goods[0].Criterion = "CTH" // not an AIFTA criterion
	a, err := w.svc.CreateApplication(ctx, appl, issuance.NewApplication{IEC: iecA, Content: c})
	w.must(err)
	_, err = w.svc.Submit(ctx, appl, a.ID, issuance.PayWallet)
	var fe *issuance.FindingsError
	if !errors.As(err, &fe) || !errors.Is(err, issuance.ErrInvalid) || len(fe.Problems) == 0 || fe.Problems[0].Field != "goods[0].criterion" || !fe.Findings.HasSevere() {
		t.Fatalf("submit: %v", err)
	}
	if w.state(a.ID) != issuance.StateDraft {
		t.Fatal("state changed")
	}
	bal, _, err := w.svc.Wallet(ctx, appl, iecA, "MUM")
	w.must(err)
	if bal != 1_000_000_000 {
		t.Fatalf("charged: %d", bal)
	}
}

// TestDeclarationSigning: with exporters' anchors configured, Submit needs
// the declaration signed by the IEC's DSC, for the current content.
func TestDeclarationSigning(t *testing.T) {
	sw := newSigningWorld(t, true)
	ctx := context.Background()
	kc := leaf(t, sw.pki.Intermediate, pkix.Name{CommonName: "A Kumar", SerialNumber: iecA}, x509.KeyUsageDigitalSignature)
	_, err := sw.svc.RegisterDSC(ctx, appl, chainPEM(kc, sw.pki.Intermediate))
	sw.must(err)
	sw.keys[appl.ID] = kc.Key
	a := sw.draft(appl)
	if _, err := sw.svc.Submit(ctx, appl, a.ID, issuance.PayWallet); !errors.Is(err, issuance.ErrInvalid) {
		t.Fatalf("submit unsigned: %v", err)
	}
	doc, err := sw.svc.DeclarationToSign(ctx, appl, a.ID)
	sw.must(err)
	s := certs.Signer{Key: kc.Key, Chain: []*x509.Certificate{kc.Cert, sw.pki.Intermediate.Cert}}
	signed, err := s.Sign(doc)
	sw.must(err)
	other := certs.Signer{Key: sw.dsc[officer.ID].Key, Chain: []*x509.Certificate{sw.dsc[officer.ID].Cert, sw.pki.Intermediate.Cert}}
	byOther, err := other.Sign(doc)
	sw.must(err)
	if err := sw.svc.SignDeclaration(ctx, appl, a.ID, byOther); !errors.Is(err, issuance.ErrForbidden) {
		t.Fatalf("declaration signed by another key: %v", err)
	}
	sw.must(sw.svc.SignDeclaration(ctx, appl, a.ID, signed))
	// Content changed after signing: sign again.
	c := content()
	c.Remarks = "changed"
	_, err = sw.svc.SaveDraft(ctx, appl, a.ID, c)
	sw.must(err)
	if _, err := sw.svc.Submit(ctx, appl, a.ID, issuance.PayWallet); !errors.Is(err, issuance.ErrInvalid) {
		t.Fatalf("submit after a change: %v", err)
	}
	sw.must(sw.svc.SignDeclarationHeld(ctx, appl, a.ID))
	if _, err := sw.svc.Submit(ctx, appl, a.ID, issuance.PayWallet); err != nil {
		t.Fatal(err)
	}
}
