package qrsign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
)

var testNow = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func devPKI(t testing.TB) *certs.DevPKI {
	t.Helper()
	p, err := certs.NewDevPKI(certs.PKIOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func samplePayload() Payload {
	return Payload{Country: "IN", Number: "EIC/MUM/2026/000123", Version: 1, IssueDate: "2026-03-04",
		Exporter: "Alpha Exports Private Limited, Mumbai", Importer: "Saigon Trading Joint Stock Company",
		HS: []string{"85044010", "850440", "39269099", "7326.90.99"}, URL: "https://eco.dgft.example.in/verify/q/AbCdEfGhIjKlMnOpQrStUv"}
}

func TestSignVerify(t *testing.T) {
	p := devPKI(t)
	s, err := NewSigner(p.QR.Key, p.QR.Cert)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(samplePayload())
	if err != nil {
		t.Fatal(err)
	}
	trust := &certs.TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert, p.QR.Cert}, ExtraIntermediates: []*x509.Certificate{p.Intermediate.Cert}}
	v := &Verifier{Certs: []*x509.Certificate{p.QR.Cert}, Trust: trust}
	res, err := v.Verify(Content("https://x/verify/q/t", tok), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if res.Payload.Number != "EIC/MUM/2026/000123" || strings.Join(res.Payload.HS, ",") != "850440,392690,732690" {
		t.Fatalf("payload %+v", res.Payload)
	}

	other := devPKI(t)
	parts := strings.Split(tok, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[10] == 'A' {
			b[10] = 'B'
		} else {
			b[10] = 'A'
		}
		return string(b)
	}
	otherSigner, _ := NewSigner(other.QR.Key, other.QR.Cert)
	otherTok, _ := otherSigner.Sign(samplePayload())
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"c":"IN","n":"X","v":1,"d":"2026-03-04","e":"A","i":"B","h":["850440"],"u":"https://x","z":1}`))
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + KeyID(p.QR.Cert) + `"}`))
	hsHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + KeyID(p.QR.Cert) + `"}`))
	for _, c := range []struct {
		name, tok string
		v         *Verifier
		at        time.Time
		want      string
	}{
		{"payload changed", parts[0] + "." + flip(parts[1]) + "." + parts[2], v, testNow, ""},
		{"signature changed", parts[0] + "." + parts[1] + "." + flip(parts[2]), v, testNow, "signature"},
		{"unknown key", otherTok, v, testNow, "not among"},
		{"other country's anchors", otherTok, &Verifier{Certs: []*x509.Certificate{other.QR.Cert}, Trust: trust}, testNow, "does not chain"},
		{"expired", tok, v, testNow.AddDate(3, 0, 0), "does not chain"},
		{"alg none", noneHdr + "." + parts[1] + ".", v, testNow, "alg"},
		{"alg HS256", hsHdr + "." + parts[1] + "." + parts[2], v, testNow, "alg"},
		{"extra field", parts[0] + "." + body + "." + parts[2], v, testNow, "signature"},
		{"not a JWS", "hello", v, testNow, "compact JWS"},
		{"too big", strings.Repeat("a", MaxToken+1), v, testNow, "larger"},
		{"no anchors", tok, &Verifier{Certs: []*x509.Certificate{p.QR.Cert}, Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{p.QR.Cert}}}, testNow, "no CA"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.v.Verify(c.tok, c.at)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error with %q", err, c.want)
			}
		})
	}

	// revoked QR certificate
	crl, err := certs.IssueCRL(p.Intermediate, []*x509.Certificate{p.QR.Cert}, testNow.Add(-time.Minute), testNow.AddDate(0, 0, 30), 2)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(pemBody(t, crl))
	if err != nil {
		t.Fatal(err)
	}
	rv := &Verifier{Certs: v.Certs, Trust: &certs.TrustSet{AnchorCerts: trust.AnchorCerts, ExtraIntermediates: trust.ExtraIntermediates, RevocationLists: []*x509.RevocationList{rl}}}
	if _, err := rv.Verify(tok, testNow); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked: %v", err)
	}
}

func pemBody(t *testing.T, b []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("-----BEGIN")) {
		return b
	}
	cs, err := certsPEMBlock(b)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestSignRefuses(t *testing.T) {
	p := devPKI(t)
	if _, err := NewSigner(p.SignerRSA.Key, p.SignerRSA.Cert); err == nil {
		t.Fatal("RSA key accepted")
	}
	if _, err := NewSigner(p.QR.Key, p.Receipt.Cert); err == nil {
		t.Fatal("mismatched certificate accepted")
	}
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewSigner(k384, p.QR.Cert); err == nil {
		t.Fatal("P-384 key accepted")
	}
	s, _ := NewSigner(p.QR.Key, p.QR.Cert)
	for name, mut := range map[string]func(*Payload){
		"country": func(p *Payload) { p.Country = "India" },
		"date":    func(p *Payload) { p.IssueDate = "2026-02-30" },
		"no hs":   func(p *Payload) { p.HS = nil },
		"bad hs":  func(p *Payload) { p.HS = []string{"85AB40"} },
		"url":     func(p *Payload) { p.URL = "javascript:alert(1)" },
		"number":  func(p *Payload) { p.Number = "" },
		"version": func(p *Payload) { p.Version = 0 },
	} {
		pl := samplePayload()
		mut(&pl)
		if _, err := s.Sign(pl); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestQRSize measures a typical signed QR content and its QR version; the
// 3 cm print needs a version at most 17 (modules of at least 0.3 mm).
func TestQRSize(t *testing.T) {
	p := devPKI(t)
	s, _ := NewSigner(p.QR.Key, p.QR.Cert)
	pl := samplePayload()
	pl.Exporter = strings.Repeat("Exporter Name ", 10)
	pl.Importer = strings.Repeat("Importer Name ", 10)
	pl.HS = []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10"}
	for i := range pl.HS {
		pl.HS[i] = "8504" + pl.HS[i]
	}
	tok, err := s.Sign(pl)
	if err != nil {
		t.Fatal(err)
	}
	content := Content(pl.URL, tok)
	sym, err := Encode(content)
	if err != nil {
		t.Fatal(err)
	}
	module := 30.0 / float64(sym.Size+8)
	t.Logf("worst-case content %d bytes (JWS %d), QR version %d, %d modules, %.2f mm per module at 3 cm", len(content), len(tok), sym.Version, sym.Size, module)
	if sym.Version > 17 || module < 0.3 {
		t.Fatalf("QR version %d too large for 3 cm", sym.Version)
	}
	var buf bytes.Buffer
	if err := sym.PNG(&buf, 4); err != nil {
		t.Fatal(err)
	}
	got, err := DecodePNG(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got != content {
		t.Fatalf("decoded %q", got)
	}
	if TokenOf(got) != tok {
		t.Fatal("TokenOf lost the JWS")
	}
}

func TestTokenOf(t *testing.T) {
	for in, want := range map[string]string{
		" a.b.c\n":                   "a.b.c",
		"https://h/verify/q/T#a.b.c": "a.b.c",
		"https://h/verify/s/a.b.c":   "a.b.c",
		"http://h/verify/s/x#a.b.c":  "a.b.c",
	} {
		if got := TokenOf(in); got != want {
			t.Errorf("TokenOf(%q) = %q", in, got)
		}
	}
}

func FuzzVerify(f *testing.F) {
	p := devPKI(f)
	s, _ := NewSigner(p.QR.Key, p.QR.Cert)
	tok, _ := s.Sign(samplePayload())
	f.Add(tok)
	f.Add("a.b.c")
	v := &Verifier{Certs: []*x509.Certificate{p.QR.Cert}, Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}, ExtraIntermediates: []*x509.Certificate{p.Intermediate.Cert}}}
	f.Fuzz(func(t *testing.T, in string) {
		res, err := v.Verify(in, testNow)
		if err == nil && res.Payload.Check() != nil {
			t.Fatal("accepted an ill-formed payload")
		}
	})
}

// BenchmarkVerify is the offline QR check (independent of how many
// certificates were issued: it reads no register).
func BenchmarkVerify(b *testing.B) {
	p := devPKI(b)
	s, _ := NewSigner(p.QR.Key, p.QR.Cert)
	tok, _ := s.Sign(samplePayload())
	v := &Verifier{Certs: []*x509.Certificate{p.QR.Cert}, Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}, ExtraIntermediates: []*x509.Certificate{p.Intermediate.Cert}}}
	for b.Loop() {
		if _, err := v.Verify(tok, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodePNGHugeHeader: a small PNG whose header claims a huge picture
// is refused from its header, before any pixel is allocated.
func TestDecodePNGHugeHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR: length 8..11, type 12..15, width 16..19, height 20..23, CRC after the 13 data bytes.
	binary.BigEndian.PutUint32(b[16:], 100000)
	binary.BigEndian.PutUint32(b[20:], 100000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	_, err := DecodePNG(b)
	if err == nil || !strings.Contains(err.Error(), "100000x100000 pixels") {
		t.Fatalf("DecodePNG = %v, want the size refused", err)
	}
}
