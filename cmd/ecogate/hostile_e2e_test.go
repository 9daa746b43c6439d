package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/schema"
)

// runBin runs the binary to completion and returns its exit code, stdout
// and stderr.
func runBin(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errorsAs(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("%s %v: %v", bin, args, err)
	return 0, "", ""
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}

// twoSites writes the development sites of two nodes, IN and VN, on free
// ports in a temporary folder.
func twoSites(t *testing.T) (in, vn devsite.Site) {
	t.Helper()
	dir := t.TempDir()
	sites := []devsite.Site{
		{Country: "IN", Name: "India (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "vn")},
	}
	if err := devsite.Write(sites, devsite.Retry{Attempts: 3, InitialInterval: time.Second, MaxInterval: time.Second, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return sites[0], sites[1]
}

// startServe starts `ecogate serve --config` for a site as a child process
// and waits until its local API is ready; the process is interrupted (and
// must exit 0) when the test ends.
func startServe(t *testing.T, bin string, s devsite.Site) {
	t.Helper()
	startServeAt(t, bin, s, http.DefaultClient, "http://"+s.LocalAddr)
}

// startServeAt is startServe for a local API reached at base with client.
func startServeAt(t *testing.T, bin string, s devsite.Site, client *http.Client, base string) {
	t.Helper()
	logf, err := os.Create(filepath.Join(s.Dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", s.ConfigPath())
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		defer logf.Close()
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				log, _ := os.ReadFile(logf.Name())
				t.Errorf("serve %s exited: %v\n%s", s.Country, err, log)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("serve %s did not stop on interrupt", s.Country)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("serve %s exited before it was ready: %v\n%s", s.Country, err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", s.Country, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readCertPEM(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHostilePartnerEndToEnd runs two real nodes (`ecogate serve` as child
// processes of a freshly built binary), IN and VN. IN's own node refuses
// to send an e-CO that claims Singapore's export (`ecogate send`: exit 1,
// HTTP 400 with the reason). A hostile IN then bypasses its node: it signs
// that e-CO with its own document key (`ecogate sign`) and posts it with
// its own TLS client certificate straight to VN's partner API. VN answers
// with a signed FailedDelivery receipt whose reason code is
// ECO-GW-EXPORT-COUNTRY, stores nothing as accepted, and VN's customs
// check does not answer AUTHENTIC for it, neither as SG's nor as IN's.
func TestHostilePartnerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two nodes")
	}
	bin := buildEcogate(t)
	in, vn := twoSites(t)
	code, out, errs := runBin(t, bin, "customs-clients", "add", "--config", vn.ConfigPath(), "--scopes", customs.ScopeCheck, "VNACCS")
	m := regexp.MustCompile(`client_id:\s+(\S+)\nclient_secret:\s+(\S+)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("customs-clients add: %d %s %s", code, out, errs)
	}
	clientID, secret := m[1], m[2]
	startServe(t, bin, in)
	startServe(t, bin, vn)

	// The e-CO: IN's sample, but claiming Singapore as export country and
	// issuing body.
	const number = "SG-FAKE-2026-0001"
	c, err := samplecert.Certificate(number, 1, "SG", "VN")
	if err != nil {
		t.Fatal(err)
	}
	x, err := schema.EncodeXML(c)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	unsigned := filepath.Join(work, "sg.xml")
	if err := os.WriteFile(unsigned, x, 0o644); err != nil {
		t.Fatal(err)
	}

	// 1. IN's own node refuses to sign or queue it.
	code, out, errs = runBin(t, bin, "send", unsigned, "--to", "VN", "--config", in.ConfigPath())
	if code != exitFail || !strings.Contains(errs, "refused (HTTP 400)") || !strings.Contains(errs, gateway.CodeGWExportCountry) || !strings.Contains(errs, `"SG"`) {
		t.Fatalf("ecogate send of SG's e-CO at IN: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}

	// 2. The hostile partner bypasses its node: its own document key...
	pki := filepath.Join(in.Dir, "pki")
	signed := filepath.Join(work, "sg-signed.xml")
	if code, _, errs := runBin(t, bin, "sign", "--key", filepath.Join(pki, "signer-ecdsa-key.pem"), "--cert", filepath.Join(pki, "signer-ecdsa-cert.pem"),
		"--chain", filepath.Join(pki, "chain.pem"), "-o", signed, unsigned); code != 0 {
		t.Fatalf("ecogate sign: %d %s", code, errs)
	}
	doc, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	// ...and its own TLS client certificate, straight to VN's partner API.
	clientCert, err := tls.LoadX509KeyPair(filepath.Join(pki, "tls-client-cert.pem"), filepath.Join(pki, "tls-client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	vnRoot := readCertPEM(t, filepath.Join(vn.Dir, "pki", "root-cert.pem"))
	roots := x509.NewCertPool()
	roots.AddCert(vnRoot)
	hostile := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12}}}
	const msgID = "hostile-sg-1"
	env, _ := json.Marshal(gateway.Envelope{MessageID: msgID, From: "IN", To: "VN", CertificateNumber: number, Version: 1, Content: doc})
	resp, err := hostile.Post("https://"+vn.PartnerAddr+"/eco/v1/envelopes", "application/json", bytes.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("VN answered %d: %s", resp.StatusCode, tok)
	}
	// The receipt is signed by VN (its receipt key chains to VN's root).
	payload, _, err := certs.VerifyJWS(bytes.TrimSpace(tok), &certs.TrustSet{AnchorCerts: []*x509.Certificate{vnRoot}}, time.Now())
	if err != nil {
		t.Fatalf("receipt: %v", err)
	}
	var rc gateway.Receipt
	if err := json.Unmarshal(payload, &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Outcome != gateway.FailedDelivery || len(rc.Findings) == 0 || rc.Findings[0].Code != gateway.CodeGWExportCountry ||
		rc.Findings[0].Level != schema.Severe || !strings.Contains(rc.Error, gateway.CodeGWExportCountry) || rc.Sender != "IN" {
		t.Fatalf("receipt %s %+v (%s), want FailedDelivery with %s", rc.Outcome, rc.Findings, rc.Error, gateway.CodeGWExportCountry)
	}

	// VN's local API: stored as failed, with no certificate recorded.
	resp, err = http.Get("http://" + vn.LocalAddr + "/api/v1/inbound/" + msgID)
	if err != nil {
		t.Fatal(err)
	}
	var ib struct {
		Tracking gateway.Tracking `json:"tracking"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ib)
	resp.Body.Close()
	if ib.Tracking.TrackingInfo != gateway.FailedDelivery || ib.Tracking.CertificateNumber != "" {
		t.Fatalf("VN's inbound record: %d %+v", resp.StatusCode, ib.Tracking)
	}
	for _, cc := range []string{"SG", "IN"} {
		resp, err := http.Get("http://" + vn.LocalAddr + "/api/v1/certificates/" + cc + "/" + number)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("VN knows certificate %s/%s: %d %s", cc, number, resp.StatusCode, b)
		}
	}

	// 3. VN's customs check does not answer AUTHENTIC for it.
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	req, _ := http.NewRequest("POST", "https://"+vn.CustomsAddr+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tk)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tk.AccessToken == "" {
		t.Fatalf("customs token: %d", resp.StatusCode)
	}
	for _, cc := range []string{"SG", "IN"} {
		body := `{"exportCountry":"` + cc + `","certificateNumber":"` + number + `","items":[{"sequenceNumber":1,"hsCode":"020230","quantity":{"value":"1","unitCode":"KGM"}}]}`
		req, _ := http.NewRequestWithContext(context.Background(), "POST", "https://"+vn.CustomsAddr+"/customs/v1/checks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var res struct {
			Verdict string `json:"verdict"`
		}
		if err := json.Unmarshal(b, &res); err != nil || res.Verdict == "" {
			t.Fatalf("check as %s: %d %s", cc, resp.StatusCode, b)
		}
		if res.Verdict == customs.Authentic {
			t.Fatalf("VN's customs answers AUTHENTIC for the hostile e-CO as %s's: %s", cc, b)
		}
		t.Logf("customs check as %s's: %s", cc, res.Verdict)
	}
}
