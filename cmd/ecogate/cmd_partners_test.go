package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/internal/devsite"
)

// TestPartnersCheckConnects: `partners check --config` reaches each partner
// as a delivery would (TCP, TLS with the node's client certificate, GET
// /eco/v1/profile, the profile's JWS against the partner's anchors) and
// names the step that failed and why; exit 1 when one fails.
func TestPartnersCheckConnects(t *testing.T) {
	sites := serveSites(t) // IN and VN running
	in, vn := sites[0], sites[1]
	inPKI := filepath.Join(in.Dir, "pki")

	// A fake IN node serving a profile over IN's TLS certificate: signed
	// by the wrong key, or naming another country.
	fake := func(country string, keyDir string) string {
		key, chain, err := certs.LoadKeyPair(filepath.Join(keyDir, "receipt-key.pem"), filepath.Join(keyDir, "receipt-cert.pem"), "", "")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(gateway.Profile{Country: country, Name: "fake", Issued: time.Now()})
		tok, err := certs.SignJWS(body, key, chain)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/eco/v1/profile" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/jose")
			w.Write(tok)
		}))
		cert, err := tls.LoadX509KeyPair(filepath.Join(inPKI, "tls-server-cert.pem"), filepath.Join(inPKI, "tls-server-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	// A listener that accepts and never answers.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	// A client certificate IN does not know.
	strangerPKI := filepath.Join(t.TempDir(), "stranger")
	if _, err := certs.InitDevPKI(strangerPKI, certs.PKIOptions{Name: "stranger"}); err != nil {
		t.Fatal(err)
	}

	rel := "../in/pki"
	for _, tc := range []struct {
		name       string
		addr       string // IN's endpoint as VN's registry has it
		clientCAs  string
		clientCert string // tls.clientCert/Key dir of VN's config ("" = its own)
		timeout    string
		code       int
		want       string
	}{
		{"ok", in.PartnerAddr, rel + "/root-cert.pem", "", "5s", exitOK, "IN  OK  https://" + in.PartnerAddr + "/eco/v1: profile of IN (India (test)) signed by"},
		{"nothing listens", freeAddr(t), rel + "/root-cert.pem", "", "5s", exitFail, "/eco/v1: connect: dial tcp"},
		{"server not chained to clientCAs", in.PartnerAddr, "pki/root-cert.pem", "", "5s", exitFail, "/eco/v1: tls: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"client certificate unknown there", in.PartnerAddr, rel + "/root-cert.pem", strangerPKI, "5s", exitFail, "is our TLS CA in its registry?"},
		{"profile signed by another key", fake("IN", filepath.Join(vn.Dir, "pki")), rel + "/root-cert.pem", "", "5s", exitFail, "/eco/v1: signature: verify JWS"},
		{"profile of another node", fake("SG", inPKI), rel + "/root-cert.pem", "", "5s", exitFail, `/eco/v1: content: the profile is "SG"'s, not IN's`},
		{"no answer", mute.Addr().String(), rel + "/root-cert.pem", "", "300ms", exitFail, "no answer within 300ms (--timeout)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := fmt.Sprintf(`partners:
  - country: IN
    name: India (test)
    endpoint: https://%s/eco/v1
    tls: {clientCAs: [%s]}
    documentSigning: {anchors: [%s/root-cert.pem], crls: [%s/root-crl.pem]}
    agreements: [AIFTA]
`, tc.addr, tc.clientCAs, rel, rel)
			if err := os.WriteFile(filepath.Join(vn.Dir, "alt-partners.yaml"), []byte(reg), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := os.ReadFile(vn.ConfigPath())
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(cfg), "partners: partners.yaml", "partners: alt-partners.yaml", 1)
			if tc.clientCert != "" {
				s = strings.Replace(s, "clientCert: pki/tls-client-cert.pem", "clientCert: "+tc.clientCert+"/tls-client-cert.pem", 1)
				s = strings.Replace(s, "clientKey: pki/tls-client-key.pem", "clientKey: "+tc.clientCert+"/tls-client-key.pem", 1)
			}
			alt := filepath.Join(vn.Dir, "alt.yaml")
			if err := os.WriteFile(alt, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			start := time.Now()
			code := runPartners(context.Background(), []string{"check", "--config", alt, "--timeout", tc.timeout}, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant %q", code, tc.code, out.String(), errb.String(), tc.want)
			}
			if time.Since(start) > 4*time.Second {
				t.Errorf("check took %s", time.Since(start))
			}
		})
	}

	// --offline and --partners only: the files, no connection.
	for _, args := range [][]string{{"--config", vn.ConfigPath(), "--offline"}, {"--partners", filepath.Join(vn.Dir, "partners.yaml")}} {
		var out bytes.Buffer
		if code := runPartners(context.Background(), append([]string{"check"}, args...), &out, &bytes.Buffer{}); code != exitOK ||
			!strings.Contains(out.String(), "endpoints: not contacted") {
			t.Errorf("%v: exit %d\n%s", args, code, out.String())
		}
	}
}

// TestPartnersInit: `partners init --config` writes a registry that loads,
// names this node on loopback with the files `pki init` wrote, and is not
// overwritten without --force.
func TestPartnersInit(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ecogate.yaml")
	if err := os.WriteFile(cfg, []byte(devsite.ExampleConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := runPartners(context.Background(), []string{"init", "--config", cfg}, &out, &errb); code != exitUsage ||
		!strings.Contains(errb.String(), "run \"ecogate pki init "+filepath.Join(dir, "pki")+"\" first") {
		t.Fatalf("without a PKI: exit %d %q", code, errb.String())
	}
	if code := runPKI(context.Background(), []string{"init", filepath.Join(dir, "pki")}, &bytes.Buffer{}, &errb); code != exitOK {
		t.Fatal(errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := runPartners(context.Background(), []string{"init", "--config", cfg}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "partners.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"country: IN", "endpoint: https://127.0.0.1:8443/eco/v1", "clientCAs: [pki/root-cert.pem]",
		"crls: [pki/root-crl.pem, pki/intermediate-crl.pem]", "Replace it with your partners"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("registry lacks %q:\n%s", w, b)
		}
	}
	out.Reset()
	if code := runPartners(context.Background(), []string{"check", "--config", cfg, "--offline"}, &out, &errb); code != exitOK {
		t.Fatalf("check of the scaffold: exit %d\n%s%s", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := runPartners(context.Background(), []string{"init", "--config", cfg}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "exists; nothing was changed") {
		t.Fatalf("second init: exit %d %q", code, errb.String())
	}
	if code := runPartners(context.Background(), []string{"init", "--config", cfg, "--force"}, &out, &errb); code != exitOK {
		t.Fatalf("init --force: exit %d %q", code, errb.String())
	}
}
