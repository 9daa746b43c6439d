package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBOMSignVerifyValidate: a document starting with a UTF-8 byte-order
// mark is signed (the mark kept), verified VALID by `ecogate verify`, and
// read by `ecogate validate` (its findings are about content, not about
// the mark).
func TestBOMSignVerifyValidate(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if code, _, stderr := runCmd(t, "pki", "init", pki); code != exitOK {
		t.Fatalf("pki init: %d %s", code, stderr)
	}
	in := filepath.Join(dir, "bom.xml")
	if err := os.WriteFile(in, []byte("\xEF\xBB\xBF"+sampleECO), 0o644); err != nil {
		t.Fatal(err)
	}
	code, signed, stderr := runCmd(t, "sign", "--key", filepath.Join(pki, "signer-ecdsa-key.pem"),
		"--cert", filepath.Join(pki, "signer-ecdsa-cert.pem"), "--chain", filepath.Join(pki, "chain.pem"), in)
	if code != exitOK {
		t.Fatalf("sign: %d %s", code, stderr)
	}
	if !strings.HasPrefix(signed, "\xEF\xBB\xBF") {
		t.Errorf("sign dropped the byte-order mark")
	}
	sf := filepath.Join(dir, "bom-signed.xml")
	if err := os.WriteFile(sf, []byte(signed), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCmd(t, "verify", "--trust", pki, sf); code != exitOK || !strings.Contains(out, "VALID") {
		t.Fatalf("verify: %d\n%s%s", code, out, stderr)
	}
	_, out, _ := runCmd(t, "validate", sf)
	if strings.Contains(out, "ECO-SCHEMA-NOT-XML") || strings.Contains(out, "unreadable") && !strings.Contains(out, "0 unreadable") {
		t.Errorf("validate refused the byte-order mark:\n%s", out)
	}
}
