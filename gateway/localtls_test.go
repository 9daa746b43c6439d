package gateway

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/certs"
)

// TestLocalTLSClient: the local API's clients accept exactly the
// certificate in local.tlsCert (at the loopback address, whatever its
// names), and no other, even one from the same CA.
func TestLocalTLSClient(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.InitDevPKI(dir, certs.PKIOptions{}); err != nil {
		t.Fatal(err)
	}
	file := func(n string) string { return filepath.Join(dir, n) }
	var c Config
	if tc, err := c.LocalTLSClient(); tc != nil || err != nil || !strings.HasPrefix(c.LocalURL(), "http://") {
		t.Fatalf("without local.tlsCert: %v %v %s", tc, err, c.LocalURL())
	}
	c.Listen.Local = "127.0.0.1:8080"
	c.Local.TLSCert, c.Local.TLSKey = file(certs.FileTLSServerCert), file(certs.FileTLSServerKey)
	if u := c.LocalURL(); u != "https://127.0.0.1:8080" {
		t.Fatalf("LocalURL %s", u)
	}
	tc, err := c.LocalTLSClient()
	if err != nil {
		t.Fatal(err)
	}
	serve := func(certFile, keyFile string) string {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		s.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		s.StartTLS()
		t.Cleanup(s.Close)
		return s.URL
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	for _, tcase := range []struct {
		name, cert, key string
		ok              bool
	}{
		{"the configured certificate", file(certs.FileTLSServerCert), file(certs.FileTLSServerKey), true},
		{"another certificate of the same CA", file(certs.FileTLSClientCert), file(certs.FileTLSClientKey), false},
	} {
		resp, err := client.Get(serve(tcase.cert, tcase.key))
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tcase.ok || (err != nil && !strings.Contains(err.Error(), "not the one in local.tlsCert")) {
			t.Fatalf("%s: %v", tcase.name, err)
		}
	}
}
