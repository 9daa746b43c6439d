package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/qrsign"
)

func TestVerifyQR(t *testing.T) {
	dir := t.TempDir()
	p, err := certs.InitDevPKI(filepath.Join(dir, "pki"), certs.PKIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := qrsign.NewSigner(p.QR.Key, p.QR.Cert)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(qrsign.Payload{Country: "IN", Number: "EIC/1", Version: 1, IssueDate: "2026-03-04", Exporter: "Alpha", Importer: "Beta", HS: []string{"85044010"}, URL: "https://h/verify/q/t"})
	if err != nil {
		t.Fatal(err)
	}
	content := qrsign.Content("https://h/verify/q/t", tok)
	sym, _ := qrsign.Encode(content)
	var png bytes.Buffer
	if err := sym.PNG(&png, 4); err != nil {
		t.Fatal(err)
	}
	pngPath, txtPath := filepath.Join(dir, "qr.png"), filepath.Join(dir, "qr.txt")
	os.WriteFile(pngPath, png.Bytes(), 0o644)
	os.WriteFile(txtPath, []byte(content+"\n"), 0o644)
	other, _ := certs.InitDevPKI(filepath.Join(dir, "other"), certs.PKIOptions{})
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"argument", []string{"--trust", p.Dir, content}, 0, "VALID: signed QR payload of certificate EIC/1"},
		{"file", []string{"--trust", p.Dir, txtPath}, 0, "importer: Beta"},
		{"image", []string{"--trust", p.Dir, pngPath}, 0, "HS codes: 850440"},
		{"json", []string{"--trust", p.Dir, "--json", tok}, 0, `"valid": true`},
		{"tampered", []string{"--trust", p.Dir, tok[:len(tok)-4] + "AAAA"}, 1, "INVALID"},
		{"other issuer's trust", []string{"--trust", other.Dir, tok}, 1, "not among"},
		{"other issuer's trust with the QR cert", []string{"--trust", other.Dir, "--qr-cert", filepath.Join(p.Dir, certs.FileQRCert), tok}, 1, "does not chain"},
		{"no trust", []string{tok}, 2, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runVerifyQR(context.Background(), c.args, &out, &errb)
			if code != c.code || !strings.Contains(out.String(), c.want) {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.code, out.String(), errb.String())
			}
		})
	}
}
