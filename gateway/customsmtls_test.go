package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/devsite"
)

// customsClientCert issues a TLS client certificate under the root of a
// development PKI (the customs administration's own CA in these tests).
func customsClientCert(t *testing.T, ca *certs.DevPKI, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca.Root.Cert, key.Public(), ca.Root.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
}

// TestCustomsListenerMutualTLS runs VN from its configuration file with
// customs.clientCAs and customs.clientCRLs naming a customs
// administration's CA: a certificate registered through the local API
// checks without a token; an unregistered one is refused naming its
// fingerprint; one of another CA fails the handshake; a bearer token
// still works without a certificate; and a certificate revoked in the CRL
// file is refused once the file changes, with no restart.
func TestCustomsListenerMutualTLS(t *testing.T) {
	pkiDir := filepath.Join(t.TempDir(), "customs-pki")
	ca, err := certs.InitDevPKI(pkiDir, certs.PKIOptions{Name: "VN customs"})
	if err != nil {
		t.Fatal(err)
	}
	_, vn := faceNodesWith(t, func(i int, _ devsite.Site, c *Config) {
		if i == 1 {
			c.Customs.ClientCAs = []string{filepath.Join(pkiDir, certs.FileRootCert)}
			c.Customs.ClientCRLs = []string{filepath.Join(pkiDir, certs.FileRootCRL)}
			c.Registry.PollInterval = Duration(20 * time.Millisecond)
		}
	})
	if vn.inst.faces.customsTLS.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Fatalf("client auth %v", vn.inst.faces.customsTLS.ClientAuth)
	}
	registered, later := tlsPair(ca.TLSClient), customsClientCert(t, ca, "VNACCS second line")
	unregistered := customsClientCert(t, ca, "VNACCS test bench")
	foreign := tlsPair(certs.KeyCert{Cert: mustLoadCert(t, filepath.Join(vn.site.Dir, "pki", certs.FileTLSClientCert)),
		Key: mustLoadKey(t, filepath.Join(vn.site.Dir, "pki", certs.FileTLSClientKey))})

	// Registration through the local API, as ecogate customs-clients add --cert does.
	for _, c := range []tls.Certificate{registered, later} {
		body, _ := json.Marshal(customs.AddClientRequest{Name: "VNACCS", Scopes: []string{customs.ScopeCheck}, Certificate: string(certs.CertPEM(c.Leaf))})
		resp, err := http.Post(vn.localURL()+"/api/v1/customs-clients", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || strings.Contains(string(b), "clientSecret") || !strings.Contains(string(b), customs.CertFingerprint(c.Leaf)) {
			t.Fatalf("register: %d %s", resp.StatusCode, b)
		}
	}
	cid, csecret := vn.addClient(t, customs.ScopeCheck)
	tok := vn.token(t, cid, csecret)
	call := func(cert *tls.Certificate, token string) (int, []byte, error) {
		tc := vn.customs.Transport.(*http.Transport).TLSClientConfig.Clone()
		if cert != nil {
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
		b, _ := json.Marshal(checkReq("X", "020230", "1"))
		req, _ := http.NewRequest("POST", vn.customsURL()+"/customs/v1/checks", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body, nil
	}
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		token  string
		status int
		want   string // in the body; "handshake" for a refused handshake
	}{
		{"registered certificate", &registered, "", 200, "NOT_FOUND"},
		{"unregistered certificate", &unregistered, "", 403, customs.CertFingerprint(unregistered.Leaf)},
		{"certificate of another CA", &foreign, "", 0, "handshake"},
		{"no certificate, token", nil, tok, 200, "NOT_FOUND"},
		{"no certificate, no token", nil, "", 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := call(tc.cert, tc.token)
			if tc.want == "handshake" {
				if err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("handshake not refused: %d %s %v", status, body, err)
				}
				return
			}
			if err != nil || status != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%d %s %v, want %d %q", status, body, err, tc.status, tc.want)
			}
		})
	}
	t.Run("revoked in the CRL file", func(t *testing.T) {
		if _, err := certs.RevokeInDevPKI(pkiDir, later.Leaf, time.Now().Add(-time.Minute), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		// Past the poll interval, the next request reads the new file (an
		// earlier one would remember the certificate as good for 10 s).
		time.Sleep(3 * time.Duration(vn.inst.Config.Registry.PollInterval))
		waitFor(t, 20*time.Second, "the CRL reload", func() bool {
			status, body, err := call(&later, "")
			return err == nil && status == 403 && strings.Contains(string(body), customs.CodeCertRevoked)
		})
		if status, body, err := call(&registered, ""); err != nil || status != 200 {
			t.Fatalf("a certificate the CRL does not name: %d %s %v", status, body, err)
		}
	})
}

func tlsPair(kc certs.KeyCert) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{kc.Cert.Raw}, PrivateKey: kc.Key, Leaf: kc.Cert}
}

func mustLoadCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	cs, err := certs.LoadCertificates(path)
	if err != nil || len(cs) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	return cs[0]
}

func mustLoadKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := certs.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("%s: %T", path, k)
	}
	return ek
}

// TestCustomsMTLSConfig: customs.clientCAs and customs.clientCRLs are
// checked at parse time (they go with listen.customs, CRLs need CAs) and
// at Open (readable, CA certificates, CRLs), each problem naming its key;
// the CRL files are read again only when they change, and a broken new
// file keeps the CRLs read before.
func TestCustomsMTLSConfig(t *testing.T) {
	const base = "node: {country: IN, name: x}\nlisten: {partner: '127.0.0.1:8443', local: '127.0.0.1:8080', customs: '127.0.0.1:8444'}\n" +
		"tls: {cert: c, key: k, clientCert: cc, clientKey: ck}\nreceipts: {key: r}\ndata: d\npartners: p\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"CRLs without CAs", "customs: {clientCRLs: [crl.pem]}", "customs.clientCRLs: CRLs without customs.clientCAs"},
		{"CAs without the listener", "customs: {clientCAs: [ca.pem]}", "customs.clientCAs: the customs API is off"},
		{"empty file name", "customs: {clientCAs: ['']}", "customs.clientCAs[0]: empty file name"},
		{"misspelt key", "customs: {clientCA: [ca.pem]}", `unknown key "clientCA" in customs`},
		{"a mapping", "customs: {clientCAs: {file: ca.pem}}", "give a list of file names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := base + tc.yaml
			if tc.name == "CAs without the listener" {
				y = strings.Replace(y, ", customs: '127.0.0.1:8444'", "", 1)
			}
			_, err := ParseConfig([]byte(y), "/etc/ecogate")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
	c, err := ParseConfig([]byte(base+"customs: {clientCAs: [ca/root.pem, ca/other.pem], clientCRLs: /crl/root.crl}\n"), "/etc/ecogate")
	if err != nil || len(c.Customs.ClientCAs) != 2 || c.Customs.ClientCAs[0] != "/etc/ecogate/ca/root.pem" || len(c.Customs.ClientCRLs) != 1 || c.Customs.ClientCRLs[0] != "/crl/root.crl" {
		t.Fatalf("%v %+v", err, c)
	}

	sites, _ := devSites(t, devRetry)
	pki := filepath.Join(sites[0].Dir, "pki")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		cas, crl []string
		want     string
	}{
		{"CA file missing", []string{filepath.Join(pki, "none.pem")}, nil, "customs.clientCAs[0]"},
		{"a client certificate as CA", []string{filepath.Join(pki, certs.FileTLSClientCert)}, nil, "customs.clientCAs[0]: " + filepath.Join(pki, certs.FileTLSClientCert) + ` holds "CN=`},
		{"CRL file missing", []string{filepath.Join(pki, certs.FileRootCert)}, []string{filepath.Join(pki, "none.crl")}, "customs.clientCRLs[0]"},
		{"CRL file not a CRL", []string{filepath.Join(pki, certs.FileRootCert)}, []string{garbage}, "customs.clientCRLs[0]"},
		{"a certificate as CRL", []string{filepath.Join(pki, certs.FileRootCert)}, []string{filepath.Join(pki, certs.FileRootCert)}, "customs.clientCRLs[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(sites[0].ConfigPath())
			if err != nil {
				t.Fatal(err)
			}
			c.Customs.ClientCAs, c.Customs.ClientCRLs = tc.cas, tc.crl
			inst, err := c.Open(testLogger(t))
			if err == nil {
				inst.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}

	t.Run("CRL reload", func(t *testing.T) {
		dir := t.TempDir()
		ca, err := certs.InitDevPKI(dir, certs.PKIOptions{Name: "reload"})
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, certs.FileRootCRL)
		cf, err := newCRLFiles("customs.clientCRLs", []string{f}, time.Minute, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		cf.now = func() time.Time { return now }
		if l := cf.get(); len(l) != 1 || len(l[0].RevokedCertificateEntries) != 0 {
			t.Fatalf("first read %v", l)
		}
		if _, err := certs.RevokeInDevPKI(dir, ca.TLSClient.Cert, now, time.Hour); err != nil {
			t.Fatal(err)
		}
		if l := cf.get(); len(l[0].RevokedCertificateEntries) != 0 {
			t.Fatal("read again before the poll interval")
		}
		now = now.Add(time.Minute)
		if l := cf.get(); len(l[0].RevokedCertificateEntries) != 1 {
			t.Fatal("the changed file was not read again")
		}
		if err := os.WriteFile(f, []byte("half-writ"), 0o644); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		if l := cf.get(); len(l) != 1 || len(l[0].RevokedCertificateEntries) != 1 {
			t.Fatal("a broken file dropped the revocation")
		}
	})
	if _, err := newCRLFiles("k", nil, 0, nil); err != nil {
		t.Fatal(err)
	}
}
