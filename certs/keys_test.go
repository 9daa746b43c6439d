package certs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ecogate/ecogate/internal/testenv"
)

// TestLoadKeyPair loads the dev signer from PEM/PKCS#8 and from PKCS#12
// files made by openssl (modern AES and legacy 3DES encryption).
func TestLoadKeyPair(t *testing.T) {
	p := testPKI(t)
	key, chain, err := LoadKeyPair(filepath.Join(pkiDir, FileSignerECDSAKey), filepath.Join(pkiDir, FileSignerECDSACert), filepath.Join(pkiDir, FileChain), "")
	if err != nil {
		t.Fatal(err)
	}
	if !publicKeysEqual(key.Public(), p.SignerECDSA.Cert.PublicKey) || len(chain) != 2 || !chain[1].Equal(p.Intermediate.Cert) {
		t.Fatalf("wrong key pair or chain")
	}
	if _, _, err := LoadKeyPair(filepath.Join(pkiDir, FileSignerECDSAKey), filepath.Join(pkiDir, FileSignerRSACert), "", ""); err == nil {
		t.Errorf("mismatched key and certificate accepted")
	}
	openssl := testenv.Program(t, "openssl")
	for _, tc := range []struct {
		name  string
		extra []string
	}{{"aes", nil}, {"legacy", []string{"-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"}}} {
		t.Run(tc.name, func(t *testing.T) {
			p12 := filepath.Join(t.TempDir(), "signer.p12")
			args := append([]string{"pkcs12", "-export", "-inkey", filepath.Join(pkiDir, FileSignerRSAKey), "-in", filepath.Join(pkiDir, FileSignerRSACert),
				"-certfile", filepath.Join(pkiDir, FileChain), "-out", p12, "-passout", "pass:s3cret"}, tc.extra...)
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl pkcs12: %v %s", err, out)
			}
			key, chain, err := LoadKeyPair(p12, "", "", "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			if !publicKeysEqual(key.Public(), p.SignerRSA.Cert.PublicKey) || len(chain) != 2 {
				t.Fatalf("PKCS#12: wrong key or chain (%d certs)", len(chain))
			}
			if _, _, err := LoadKeyPair(p12, "", "", "wrong"); err == nil {
				t.Errorf("wrong password accepted")
			}
			if _, err := os.Stat(p12); err != nil {
				t.Fatal(err)
			}
		})
	}
}
