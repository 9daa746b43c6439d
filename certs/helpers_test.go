package certs

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"github.com/beevik/etree"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

var (
	pkiOnce sync.Once
	pkiDir  string
	pkiVal  *DevPKI
	pkiErr  error
)

// testPKI returns a development PKI written once per test binary.
func testPKI(t testing.TB) *DevPKI {
	t.Helper()
	pkiOnce.Do(func() {
		d, err := os.MkdirTemp("", "ecogate-pki-")
		if err != nil {
			pkiErr = err
			return
		}
		pkiDir = filepath.Join(d, "pki")
		pkiVal, pkiErr = InitDevPKI(pkiDir, PKIOptions{Now: testNow.Add(-24 * time.Hour)})
	})
	if pkiErr != nil {
		t.Fatalf("dev PKI: %v", pkiErr)
	}
	return pkiVal
}

// ecoDoc builds an e-CO-shaped document with n goods lines (about 12 KB for
// n = 20), root CertificateOfOrigin in urn:ecogate:eco:1.
func ecoDoc(n int) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<CertificateOfOrigin xmlns="urn:ecogate:eco:1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` + "\n")
	b.WriteString(`  <ExchangedDocument>
    <ID>VN-AK-2026-000123</ID>
    <TypeCode>861</TypeCode>
    <IssueDateTime>2026-11-21T09:30:00+07:00</IssueDateTime>
    <IssuerParty><Name>Vietnam Chamber of Commerce and Industry &amp; Partners</Name><CountryID>VN</CountryID></IssuerParty>
    <AgreementID>AKFTA</AgreementID>
    <Remarks>Issued retroactively: no. Third-party invoicing: yes — invoice by "Pacific Trading" Ltd., Singapore.</Remarks>
  </ExchangedDocument>
  <SupplyChainConsignment>
    <ConsignorParty><Name>Công ty TNHH Dệt May Sài Gòn</Name><PostalAddress><LineOne>12 Nguyễn Huệ</LineOne><CityName>Ho Chi Minh City</CityName><CountryID>VN</CountryID></PostalAddress></ConsignorParty>
    <ConsigneeParty><Name>Hankook Apparel Co., Ltd.</Name><PostalAddress><LineOne>45 Teheran-ro, Gangnam-gu</LineOne><CityName>Seoul</CityName><CountryID>KR</CountryID></PostalAddress></ConsigneeParty>
    <TransportMovement><ModeCode>1</ModeCode><ID>VESSEL HMM ALGECIRAS 0042E</ID><DepartureDate>2026-11-25</DepartureDate><LoadingPort>VNSGN</LoadingPort><UnloadingPort>KRPUS</UnloadingPort></TransportMovement>
`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `    <IncludedConsignmentItem>
      <SequenceNumeric>%d</SequenceNumeric>
      <MarksAndNumbers>HAK/2026/%03d 1-50</MarksAndNumbers>
      <PackageQuantity unitCode="CT">50</PackageQuantity>
      <Description>Men's woven cotton shirts, long sleeve, style %04d &lt;assorted sizes&gt;</Description>
      <HSCode listID="HS2022">620520</HSCode>
      <OriginCriterion>RVC 40%%</OriginCriterion>
      <GrossWeight unitCode="KGM">%d.50</GrossWeight>
      <InvoiceReference><ID>INV-2026-%05d</ID><IssueDate>2026-11-20</IssueDate></InvoiceReference>
    </IncludedConsignmentItem>
`, i, i, 1000+i, 200+i, 4000+i)
	}
	b.WriteString("  </SupplyChainConsignment>\n</CertificateOfOrigin>\n")
	return []byte(b.String())
}

// trustFor returns a TrustSet with the dev root as anchor plus both CRLs.
func trustFor(t testing.TB, p *DevPKI) *TrustSet {
	t.Helper()
	ts, err := DirTrust(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func mustSign(t testing.TB, kc KeyCert, p *DevPKI, doc []byte) []byte {
	t.Helper()
	s := &Signer{Key: kc.Key, Chain: chainOf(kc, p)}
	out, err := s.Sign(doc)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return out
}

func chainOf(kc KeyCert, p *DevPKI) []*x509.Certificate {
	return []*x509.Certificate{kc.Cert, p.Intermediate.Cert}
}

const time24h = 24 * time.Hour

func b64Cert(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }

// elementString serialises the verified element.
func elementString(r *Result) (string, error) {
	if r.Element == nil {
		return "", nil
	}
	d := etree.NewDocument()
	d.SetRoot(r.Element.Copy())
	return d.WriteToString()
}

func newPool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}

func x509VerifyOptions(roots, inter *x509.CertPool) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pkiDir != "" {
		os.RemoveAll(filepath.Dir(pkiDir))
	}
	os.Exit(code)
}
