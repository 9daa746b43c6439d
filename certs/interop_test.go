package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/ecogate/ecogate/internal/testenv"
)

// xmlsecVerify runs `xmlsec1 --verify` on doc, trusting only the given
// PEM certificates, at the test clock. It returns whether xmlsec1 said OK.
func xmlsecVerify(t *testing.T, doc []byte, trusted ...string) (bool, string) {
	t.Helper()
	bin := testenv.Program(t, "xmlsec1")
	dir := t.TempDir()
	in := filepath.Join(dir, "doc.xml")
	if err := os.WriteFile(in, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--verify", "--enabled-key-data", "x509", "--verification-time", testNow.Format("2006-01-02 15:04:05")}
	for _, tr := range trusted {
		args = append(args, "--trusted-pem", tr)
	}
	out, err := exec.Command(bin, append(args, in)...).CombinedOutput()
	return err == nil && bytes.Contains(out, []byte("OK")), string(out)
}

// xmlsecTemplate is an in-profile signature template for xmlsec1 --sign.
func xmlsecTemplate(doc []byte, method string) []byte {
	tmpl := `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
		`<ds:CanonicalizationMethod Algorithm="` + AlgExcC14N + `"/><ds:SignatureMethod Algorithm="` + method + `"/>` +
		`<ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="` + AlgEnveloped + `"/><ds:Transform Algorithm="` + AlgExcC14N + `"/></ds:Transforms>` +
		`<ds:DigestMethod Algorithm="` + AlgSHA256 + `"/><ds:DigestValue/></ds:Reference></ds:SignedInfo>` +
		`<ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>`
	return bytes.Replace(doc, []byte("</CertificateOfOrigin>"), []byte(tmpl+"\n</CertificateOfOrigin>"), 1)
}

func TestInteropXmlsecVerifiesEcogate(t *testing.T) {
	p := testPKI(t)
	other, err := NewDevPKI(PKIOptions{Now: testNow.Add(-24 * time.Hour), Name: "stranger"})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(pkiDir, FileRootCert)
	for _, tc := range []struct {
		name string
		kc   KeyCert
	}{{"rsa", p.SignerRSA}, {"ecdsa", p.SignerECDSA}} {
		t.Run(tc.name, func(t *testing.T) {
			signed := mustSign(t, tc.kc, p, ecoDoc(20))
			if ok, out := xmlsecVerify(t, signed, root); !ok {
				t.Fatalf("xmlsec1 rejects the ecogate signature:\n%s", out)
			}
			// The same document signed by a key under another root must
			// fail: xmlsec1 is really checking the chain, not just the key.
			strange := mustSign(t, KeyCert{other.SignerECDSA.Key, other.SignerECDSA.Cert}, other, ecoDoc(20))
			if ok, _ := xmlsecVerify(t, strange, root); ok {
				t.Fatalf("xmlsec1 accepted a signer outside the trusted root; the oracle is not restricted")
			}
			tampered := bytes.Replace(signed, []byte("620520"), []byte("620521"), 1)
			if ok, _ := xmlsecVerify(t, tampered, root); ok {
				t.Fatalf("xmlsec1 accepted a tampered document")
			}
		})
	}
}

func TestInteropEcogateVerifiesXmlsec(t *testing.T) {
	p := testPKI(t)
	bin := testenv.Program(t, "xmlsec1")
	for _, tc := range []struct {
		name, key, cert, method string
	}{
		{"rsa", FileSignerRSAKey, FileSignerRSACert, AlgRSASHA256},
		{"ecdsa", FileSignerECDSAKey, FileSignerECDSACert, AlgECDSASHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tmpl := filepath.Join(dir, "tmpl.xml")
			out := filepath.Join(dir, "signed.xml")
			if err := os.WriteFile(tmpl, xmlsecTemplate(ecoDoc(20), tc.method), 0o644); err != nil {
				t.Fatal(err)
			}
			keyArg := strings.Join([]string{filepath.Join(pkiDir, tc.key), filepath.Join(pkiDir, tc.cert), filepath.Join(pkiDir, FileIntermediateCert)}, ",")
			if b, err := exec.Command(bin, "--sign", "--privkey-pem", keyArg, "--output", out, tmpl).CombinedOutput(); err != nil {
				t.Fatalf("xmlsec1 --sign: %v\n%s", err, b)
			}
			signed, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			v := &Verifier{Trust: trustFor(t, p), At: testNow}
			res, err := v.Verify(signed)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Valid {
				t.Fatalf("ecogate rejects the xmlsec1 signature: %+v", res.Report)
			}
			if !res.Signer.Equal(map[string]*x509.Certificate{"rsa": p.SignerRSA.Cert, "ecdsa": p.SignerECDSA.Cert}[tc.name]) {
				t.Errorf("wrong signer %s", res.Signer.Subject)
			}
			res, _ = v.Verify(bytes.Replace(signed, []byte("620520"), []byte("620521"), 1))
			if res.Valid || res.Report.First().Reason != "integrity.digest" {
				t.Errorf("tampered xmlsec1 document: %+v", res.Report)
			}
		})
	}
}

// TestECDSARawNotDER proves the ECDSA fix: goxmldsig writes the
// SignatureValue as ASN.1 DER, which xmlsec1 rejects and ecogate refuses
// with integrity.ecdsa-der; ecogate writes raw r||s (64 bytes for P-256),
// which both accept.
func TestECDSARawNotDER(t *testing.T) {
	p := testPKI(t)
	root := filepath.Join(pkiDir, FileRootCert)

	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(ecoDoc(3)); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(p.SignerECDSA.Key, [][]byte{p.SignerECDSA.Cert.Raw, p.Intermediate.Cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.ECDSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	signedEl, err := ctx.SignEnveloped(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	doc.SetRoot(signedEl)
	goxml, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	sv := signedEl.FindElement(".//SignatureValue")
	raw, _ := base64.StdEncoding.DecodeString(sv.Text())
	if len(raw) == 64 || raw[0] != 0x30 {
		t.Fatalf("expected goxmldsig to write DER (0x30...), got %d bytes %x", len(raw), raw[:2])
	}
	v := &Verifier{Trust: trustFor(t, p), At: testNow}
	res, err := v.Verify(goxml)
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid || res.Report.First().Reason != "integrity.ecdsa-der" {
		t.Errorf("goxmldsig DER signature: want integrity.ecdsa-der, got %+v", res.Report)
	}
	if ok, _ := xmlsecVerify(t, goxml, root); ok {
		t.Errorf("xmlsec1 accepted a DER ECDSA SignatureValue; the premise of the fix is wrong")
	}

	ours := mustSign(t, p.SignerECDSA, p, ecoDoc(3))
	od := etree.NewDocument()
	if err := od.ReadFromBytes(ours); err != nil {
		t.Fatal(err)
	}
	raw, _ = base64.StdEncoding.DecodeString(od.FindElement("//SignatureValue").Text())
	if len(raw) != 64 {
		t.Errorf("ecogate ECDSA P-256 SignatureValue is %d bytes, want 64 (raw r||s)", len(raw))
	}
	if ok, out := xmlsecVerify(t, ours, root); !ok {
		t.Errorf("xmlsec1 rejects ecogate's raw ECDSA signature:\n%s", out)
	}
}
