package main

import (
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLocalAPIOverTLS runs `ecogate serve` with local.tlsCert and
// local.tlsKey: the local API answers only over TLS; the operator commands
// given --config reach it (they trust exactly the configured certificate),
// and with --node https://... they need the CA in $ECOGATE_LOCAL_CA.
func TestLocalAPIOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a node")
	}
	bin := buildEcogate(t)
	in, _ := twoSites(t)
	b, err := os.ReadFile(in.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(strings.Replace(string(b), `  tlsCert: ""`, `  tlsCert: pki/tls-server-cert.pem`, 1), `  tlsKey: ""`, `  tlsKey: pki/tls-server-key.pem`, 1)
	if conf == string(b) {
		t.Fatal("the development configuration has no local.tlsCert to set")
	}
	if err := os.WriteFile(in.ConfigPath(), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	// Only one of the two is refused with the key to fix.
	half := strings.Replace(conf, `  tlsKey: pki/tls-server-key.pem`, `  tlsKey: ""`, 1)
	halfPath := filepath.Join(in.Dir, "half.yaml")
	if err := os.WriteFile(halfPath, []byte(half), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runBin(t, bin, "serve", "--config", halfPath); code == 0 || !strings.Contains(errs, "give both local.tlsCert and local.tlsKey") {
		t.Fatalf("serve with local.tlsCert alone: %d %s", code, errs)
	}

	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	startServeAt(t, bin, in, insecure, "https://"+in.LocalAddr)
	// Plain HTTP gets no answer from the API.
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + in.LocalAddr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the local API answered over plain HTTP")
		}
	}
	// --config: through the API (the data file is locked by the node, so
	// success means the API answered).
	if code, out, errs := runBin(t, bin, "outbox", "list", "--config", in.ConfigPath()); code != 0 {
		t.Fatalf("outbox list --config: %d %s %s", code, out, errs)
	}
	if code, out, errs := runBin(t, bin, "customs-clients", "list", "--config", in.ConfigPath()); code != 0 {
		t.Fatalf("customs-clients list --config: %d %s %s", code, out, errs)
	}
	// The operator's commands need the certificate, not the key (which
	// may be readable by the node's user alone).
	noKey := strings.Replace(conf, `  tlsKey: pki/tls-server-key.pem`, `  tlsKey: pki/not-readable-here.pem`, 1)
	noKeyPath := filepath.Join(in.Dir, "nokey.yaml")
	if err := os.WriteFile(noKeyPath, []byte(noKey), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runBin(t, bin, "outbox", "list", "--config", noKeyPath); code != 0 {
		t.Fatalf("outbox list --config without the key: %d %s %s", code, out, errs)
	}
	// A configuration naming another certificate than the node serves: a
	// clear error, not the stopped-node path (the file is locked).
	other := strings.Replace(strings.Replace(conf, `  tlsCert: pki/tls-server-cert.pem`, `  tlsCert: pki/tls-client-cert.pem`, 1),
		`  tlsKey: pki/tls-server-key.pem`, `  tlsKey: pki/tls-client-key.pem`, 1)
	otherPath := filepath.Join(in.Dir, "other.yaml")
	if err := os.WriteFile(otherPath, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runBin(t, bin, "outbox", "list", "--config", otherPath); code == 0 || !strings.Contains(errs, "not the one in local.tlsCert") {
		t.Fatalf("outbox list with another local.tlsCert: %d %s %s", code, out, errs)
	}
	// --node https://...: the development CA is no system root.
	node := "https://" + in.LocalAddr
	run := func(env ...string) (int, string) {
		c := exec.Command(bin, "outbox", "list", "--node", node)
		c.Env = append(os.Environ(), env...)
		out, err := c.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run("ECOGATE_LOCAL_CA="); code == 0 || !strings.Contains(out, "certificate") {
		t.Fatalf("--node https without the CA: %d %s", code, out)
	}
	if code, out := run("ECOGATE_LOCAL_CA=" + filepath.Join(in.Dir, "pki", "root-cert.pem")); code != 0 {
		t.Fatalf("--node https with $ECOGATE_LOCAL_CA: %d %s", code, out)
	}
	if code, out := run("ECOGATE_LOCAL_CA=" + filepath.Join(in.Dir, "nothing.pem")); code == 0 || !strings.Contains(out, "ECOGATE_LOCAL_CA") {
		t.Fatalf("--node https with a missing CA file: %d %s", code, out)
	}
}
