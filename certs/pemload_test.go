package certs

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pemMaterial returns the PEM forms the loader tests mix: two
// certificates, a CRL (PEM and DER) and a private key.
func pemMaterial(t *testing.T) (root, inter, crl, crlDER, key []byte) {
	t.Helper()
	p := testPKI(t)
	crl, err := IssueCRL(p.Root, nil, testNow, testNow.Add(time.Hour), 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(crl)
	key, err = KeyPEM(p.Root.Key)
	if err != nil {
		t.Fatal(err)
	}
	return CertPEM(p.Root.Cert), CertPEM(p.Intermediate.Cert), crl, b.Bytes, key
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestParseCertificates: PEM blocks and one DER certificate load; any
// other block is refused naming its number and type; empty, malformed and
// garbage inputs get an error that says what was expected.
func TestParseCertificates(t *testing.T) {
	root, inter, crl, _, key := pemMaterial(t)
	p := testPKI(t)
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr string
	}{
		{"one PEM certificate", root, 1, ""},
		{"two PEM certificates", cat(root, inter), 2, ""},
		{"text around the blocks", cat([]byte("subject=root\n"), root), 1, ""},
		{"one DER certificate", p.Root.Cert.Raw, 1, ""},
		{"a key after a certificate", cat(root, key), 0, `PEM block 2 is "PRIVATE KEY" where a CERTIFICATE was expected`},
		{"a CRL in a certificate file", crl, 0, `PEM block 1 is "X509 CRL" where a CERTIFICATE was expected`},
		{"a damaged certificate block", cat(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 1, 2, 3}})), 0, "PEM block 2 (CERTIFICATE)"},
		{"empty", nil, 0, "no certificate found"},
		{"malformed PEM", []byte("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"), 0, "malformed PEM"},
		{"garbage", []byte("hello"), 0, "neither PEM nor DER: expected a CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCertificates(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d certificates, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

// TestParseCRLs: PEM and DER CRLs load, a certificate where a CRL is
// expected is refused by block number.
func TestParseCRLs(t *testing.T) {
	root, _, crl, crlDER, _ := pemMaterial(t)
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr string
	}{
		{"PEM CRL", crl, 1, ""},
		{"two PEM CRLs", cat(crl, crl), 2, ""},
		{"DER CRL", crlDER, 1, ""},
		{"a certificate after a CRL", cat(crl, root), 0, `PEM block 2 is "CERTIFICATE" where an X509 CRL was expected`},
		{"empty", []byte("\n"), 0, "no CRL found"},
		{"garbage", []byte{0x30, 1, 2}, 0, "neither PEM nor DER: expected an X509 CRL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCRLs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d CRLs, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

// TestParseTrust: certificates and CRLs mix, keys are skipped (the pki
// init folder keeps them beside the certificates), other blocks refused.
func TestParseTrust(t *testing.T) {
	root, inter, crl, crlDER, key := pemMaterial(t)
	for _, tt := range []struct {
		name        string
		in          []byte
		certs, crls int
		wantErr     string
	}{
		{"certificates and a CRL", cat(root, crl, inter), 2, 1, ""},
		{"a key file alone", key, 0, 0, ""},
		{"DER CRL", crlDER, 0, 1, ""},
		{"a public key block", cat(root, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})), 0, 0, `PEM block 2 is "PUBLIC KEY" where a CERTIFICATE or an X509 CRL was expected`},
		{"empty", nil, 0, 0, "neither a certificate nor a CRL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs, ls, err := ParseTrust(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(cs) != tt.certs || len(ls) != tt.crls {
				t.Fatalf("got %d certificates, %d CRLs, %v; want %d, %d", len(cs), len(ls), err, tt.certs, tt.crls)
			}
		})
	}
}

// TestLoadCertificatesNamesFile: the file loaders put the path in front of
// the parser's error, and AddFile refuses a foreign block the same way.
func TestLoadCertificatesNamesFile(t *testing.T) {
	root, _, crl, _, _ := pemMaterial(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "anchors.pem")
	if err := os.WriteFile(bad, crl, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCertificates(bad); err == nil || !strings.HasPrefix(err.Error(), bad+": PEM block 1") {
		t.Fatalf("LoadCertificates: %v", err)
	}
	good := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(good, root, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCRLs(good); err == nil || !strings.HasPrefix(err.Error(), good+": PEM block 1") {
		t.Fatalf("LoadCRLs: %v", err)
	}
	if _, err := LoadCertificates(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing file: %v", err)
	}
	odd := filepath.Join(dir, "odd.pem")
	if err := os.WriteFile(odd, pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: []byte{1}}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&TrustSet{}).AddFile(odd); err == nil || !strings.Contains(err.Error(), "odd.pem: PEM block 1") {
		t.Fatalf("AddFile: %v", err)
	}
}

// FuzzParseTrust: the loader never panics and never returns material
// together with an error.
func FuzzParseTrust(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, ls, err := ParseTrust(data)
		if err != nil && (cs != nil || ls != nil) {
			t.Fatal("material returned with an error")
		}
		if c, err := ParseCertificates(data); err == nil && len(c) == 0 {
			t.Fatal("no certificate and no error")
		}
		if l, err := ParseCRLs(data); err == nil && len(l) == 0 {
			t.Fatal("no CRL and no error")
		}
	})
}
