package partners

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRegenerateTestdata rewrites the certificates that
// testdata/partners.yaml names. It runs only with ECOGATE_REGEN_TESTDATA=1.
func TestRegenerateTestdata(t *testing.T) {
	if os.Getenv("ECOGATE_REGEN_TESTDATA") != "1" {
		t.Skip("set ECOGATE_REGEN_TESTDATA=1 to regenerate partners/testdata certificates")
	}
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2046, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, cc := range []string{"sg", "la"} {
		tls := makeCA(t, cc+" partner TLS client CA (test)", from, to, nil)
		sign := makeCA(t, cc+" document signing root (test)", from, to, nil)
		dir := filepath.Join("testdata", cc)
		writeFile(t, dir, "tls-ca.pem", certPEM(tls.cert))
		writeFile(t, dir, "signing-root.pem", certPEM(sign.cert))
		writeFile(t, dir, "signing.crl", makeCRL(t, sign, from, to))
		leaf := makeLeaf(t, tls, cc+" node client (test)", to, x509.ExtKeyUsageClientAuth)
		writeFile(t, dir, "client.pem", certPEM(leaf))
	}
}
