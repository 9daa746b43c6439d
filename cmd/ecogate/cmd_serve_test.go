package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/samplecert"
)

// freeAddr returns a loopback address that is free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveSites lays out IN and VN and runs `ecogate serve` for each.
func serveSites(t *testing.T) []devsite.Site {
	t.Helper()
	dir := t.TempDir()
	sites := []devsite.Site{
		{Country: "IN", Name: "India (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "vn")},
	}
	if err := devsite.Write(sites, devsite.Retry{Attempts: 5, InitialInterval: time.Second, MaxInterval: 2 * time.Second, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		var errb bytes.Buffer
		go func() { done <- runServe(ctx, []string{"--config", s.ConfigPath()}, &bytes.Buffer{}, &errb) }()
		t.Cleanup(func() {
			cancel()
			if code := <-done; code != exitOK {
				t.Errorf("serve %s exited %d: %s", s.Country, code, errb.String())
			}
		})
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get("http://" + s.LocalAddr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready: %v", s.Country, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return sites
}

// TestServeAndSend runs two nodes with `ecogate serve` and sends an e-CO
// with `ecogate send --wait`.
func TestServeAndSend(t *testing.T) {
	sites := serveSites(t)
	doc, err := samplecert.XML("IN-AI-SEND-1", 1, "IN", "VN")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "eco.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := runSend(context.Background(), []string{f, "--to", "VN", "--config", sites[0].ConfigPath(), "--wait", "30s"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("send exit %d: %s %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"queued IN/IN-AI-SEND-1/v1 (issue, signed by this node)", "to VN: Delivered after 1 attempt(s)", "tracking http://"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("send output lacks %q:\n%s", want, out.String())
		}
	}
	// A refusal: an unknown partner.
	out.Reset()
	errb.Reset()
	if code := runSend(context.Background(), []string{f, "--to", "JP", "--node", "http://" + sites[0].LocalAddr}, &out, &errb); code != exitFail {
		t.Fatalf("send to an unknown partner: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "no partner JP") {
		t.Fatalf("stderr: %s", errb.String())
	}
	// A refusal: the e-CO claims another country's export; the node neither
	// signs nor queues it, and says why.
	sg, err := samplecert.XML("SG-AI-SEND-1", 1, "SG", "VN")
	if err != nil {
		t.Fatal(err)
	}
	fsg := filepath.Join(t.TempDir(), "sg.xml")
	if err := os.WriteFile(fsg, sg, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := runSend(context.Background(), []string{fsg, "--to", "VN", "--config", sites[0].ConfigPath()}, &out, &errb); code != exitFail {
		t.Fatalf("send of another country's e-CO: exit %d: %s %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"refused (HTTP 400): " + gateway.CodeGWExportCountry, `export country "SG" is not IN`, "not signed or queued"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("send stderr lacks %q:\n%s", want, errb.String())
		}
	}
	// No node listening.
	if code := runSend(context.Background(), []string{f, "--node", "http://" + freeAddr(t)}, &out, &errb); code != exitUsage {
		t.Fatalf("send to no node: exit %d", code)
	}
}

// TestServeRefusals: a bad configuration names the key; a damaged data
// file stops the node with the reason.
func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("node: {country: IN, name: x}\nlisten: {partner: ':8443'}\n"), 0o644)
	var errb bytes.Buffer
	if code := runServe(context.Background(), []string{"--config", bad}, &bytes.Buffer{}, &errb); code != exitUsage || !strings.Contains(errb.String(), "tls.cert: required") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	site := devsite.Site{Country: "IN", Name: "India", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "in")}
	other := devsite.Site{Country: "VN", Name: "Viet Nam", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "vn")}
	if err := devsite.Write([]devsite.Site{site, other}, devsite.Retry{Attempts: 3, InitialInterval: time.Second, MaxInterval: time.Second, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(site.Dir, "data"), 0o700)
	os.WriteFile(filepath.Join(site.Dir, "data", "ecogate.db"), bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600)
	errb.Reset()
	if code := runServe(context.Background(), []string{"--config", site.ConfigPath()}, &bytes.Buffer{}, &errb); code != exitUsage || !strings.Contains(errb.String(), "refuses to start") {
		t.Fatalf("damaged data file: exit %d: %s", code, errb.String())
	}
	var out bytes.Buffer
	if code := runServe(context.Background(), []string{"--example-config"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "listen:") {
		t.Fatalf("example config: %d", code)
	}
	if _, err := gateway.ParseConfig(out.Bytes(), dir); err != nil {
		t.Fatalf("the example configuration does not parse: %v", err)
	}
}
