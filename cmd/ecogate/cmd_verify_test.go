package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/certs"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

const sampleECO = `<?xml version="1.0" encoding="UTF-8"?>
<CertificateOfOrigin xmlns="urn:ecogate:eco:1">
  <ExchangedDocument><ID>VN-2026-1</ID></ExchangedDocument>
  <SupplyChainConsignment>
    <IncludedConsignmentItem><SequenceNumeric>1</SequenceNumeric><HSCode>620520</HSCode></IncludedConsignmentItem>
  </SupplyChainConsignment>
</CertificateOfOrigin>
`

// TestPKISignVerifyCommands drives pki init, sign, verify (table and
// JSON), pki revoke and verify --partners end to end.
func TestPKISignVerifyCommands(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if code, _, stderr := runCmd(t, "pki", "init", pki); code != exitOK {
		t.Fatalf("pki init: %d %s", code, stderr)
	}
	for _, f := range []string{"root-cert.pem", "signer-rsa-key.pem", "signer-rsa-cert.pem", "signer-ecdsa-key.pem", "signer-ecdsa-cert.pem",
		"receipt-key.pem", "receipt-cert.pem", "tls-server-key.pem", "tls-server-cert.pem", "tls-client-key.pem", "tls-client-cert.pem",
		"intermediate-cert.pem", "chain.pem", "root-crl.pem", "intermediate-crl.pem", "README.md"} {
		if _, err := os.Stat(filepath.Join(pki, f)); err != nil {
			t.Errorf("pki init did not write %s", f)
		}
	}
	if code, _, stderr := runCmd(t, "pki", "init", pki); code != exitUsage || !strings.Contains(stderr, "--force") {
		t.Errorf("pki init on a non-empty dir: %d %s", code, stderr)
	}
	in := filepath.Join(dir, "eco.xml")
	if err := os.WriteFile(in, []byte(sampleECO), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"rsa", "ecdsa"} {
		t.Run(alg, func(t *testing.T) {
			code, signed, stderr := runCmd(t, "sign", "--key", filepath.Join(pki, "signer-"+alg+"-key.pem"),
				"--cert", filepath.Join(pki, "signer-"+alg+"-cert.pem"), "--chain", filepath.Join(pki, "chain.pem"), in)
			if code != exitOK {
				t.Fatalf("sign: %d %s", code, stderr)
			}
			sf := filepath.Join(dir, alg+"-signed.xml")
			if err := os.WriteFile(sf, []byte(signed), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := runCmd(t, "verify", "--trust", pki, sf)
			if code != exitOK || !strings.Contains(out, "VALID") {
				t.Fatalf("verify: %d\n%s%s", code, out, stderr)
			}
			code, out, _ = runCmd(t, "verify", sf, "--trust", pki, "--json")
			var j struct {
				Valid  bool          `json:"valid"`
				Report []certs.Entry `json:"report"`
			}
			if err := json.Unmarshal([]byte(out), &j); err != nil || code != exitOK || !j.Valid || len(j.Report) != 4 {
				t.Fatalf("verify --json: %d %v\n%s", code, err, out)
			}
			tampered := filepath.Join(dir, alg+"-tampered.xml")
			os.WriteFile(tampered, []byte(strings.Replace(signed, "620520", "930100", 1)), 0o644)
			if code, out, _ := runCmd(t, "verify", "--trust", pki, tampered); code != exitFail || !strings.Contains(out, "integrity.digest") {
				t.Errorf("tampered: %d\n%s", code, out)
			}
		})
	}
	sf := filepath.Join(dir, "ecdsa-signed.xml")

	// Partners file, relative paths, --from.
	pf := filepath.Join(pki, "partners.yaml")
	os.WriteFile(pf, []byte("partners:\n  - country: VN\n    name: VCCI\n    documentSigning:\n      anchors: [root-cert.pem]\n      crls: [root-crl.pem, intermediate-crl.pem]\n  - country: KR\n    name: KCCI\n    documentSigning:\n      anchors: [tls-client-cert.pem]\n"), 0o644)
	if code, out, stderr := runCmd(t, "verify", "--partners", pf, "--from", "VN", sf); code != exitOK {
		t.Errorf("verify --partners --from VN: %d %s%s", code, out, stderr)
	}
	if code, out, _ := runCmd(t, "verify", "--partners", pf, "--from", "KR", sf); code != exitFail || !strings.Contains(out, "trust.unknown-authority") {
		t.Errorf("verify --from KR: %d %s", code, out)
	}
	if code, _, stderr := runCmd(t, "verify", "--partners", pf, sf); code != exitUsage || !strings.Contains(stderr, "--from") {
		t.Errorf("verify --partners without --from: %d %s", code, stderr)
	}

	// Policy time in the past: certificates not yet valid.
	if code, out, _ := runCmd(t, "verify", "--trust", pki, "--at", "2020-01-01", sf); code != exitFail || !strings.Contains(out, "trust.") {
		t.Errorf("--at 2020: %d %s", code, out)
	}
	// Usage errors.
	for _, args := range [][]string{{"verify", sf}, {"verify", "--trust", pki}, {"verify", "--trust", pki, "--partners", pf, sf},
		{"sign", in}, {"verify", "--trust", filepath.Join(dir, "nope"), sf}, {"verify", "--trust", pki, "--at", "yesterday", sf}} {
		if code, _, _ := runCmd(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	// Revoke the signer: verify now fails on revocation.
	if code, _, stderr := runCmd(t, "pki", "revoke", pki, filepath.Join(pki, "signer-ecdsa-cert.pem")); code != exitOK {
		t.Fatalf("pki revoke: %d %s", code, stderr)
	}
	if code, out, _ := runCmd(t, "verify", "--trust", pki, sf); code != exitFail || !strings.Contains(out, "revocation.revoked") {
		t.Errorf("after revoke: %d %s", code, out)
	}
}
