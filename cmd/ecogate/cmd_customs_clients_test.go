package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/store"
)

// TestCustomsClientsCommand adds a client (secret printed once, only its
// hash stored), lists it, revokes it, and refuses bad usage.
func TestCustomsClientsCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "node.db")
	code, out, errs := opsRunCmd(t, runCustomsClients, "add", "--data", data, "--scopes", "customs:check,customs:read", "VN customs VNACCS")
	if code != exitOK {
		t.Fatalf("add: %d %s", code, errs)
	}
	m := regexp.MustCompile(`client_id:\s+(\S+)\nclient_secret:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("add output: %s", out)
	}
	id, secret := m[1], m[2]
	code, out, _ = opsRunCmd(t, runCustomsClients, "list", "--data", data)
	if code != exitOK || !strings.Contains(out, id) || !strings.Contains(out, "customs:check,customs:read") || !strings.Contains(out, "active") || strings.Contains(out, secret) {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, out, _ = opsRunCmd(t, runCustomsClients, "revoke", id, "--data", data); code != exitOK || !strings.Contains(out, "revoked "+id) {
		t.Fatalf("revoke: %d %s", code, out)
	}
	if code, _, _ = opsRunCmd(t, runCustomsClients, "revoke", "cc-nobody", "--data", data); code != exitFail {
		t.Fatalf("revoke unknown: %d", code)
	}
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cl, err := db.Customs().Client(context.Background(), id)
	if err != nil || cl.SecretHash != customs.HashSecret(secret) || cl.Revoked.IsZero() || cl.Name != "VN customs VNACCS" {
		t.Fatalf("stored client %+v %v", cl, err)
	}
	entries, err := db.Audit().Entries(context.Background(), 0, 0)
	if err != nil || len(entries) != 2 || entries[0].Action != "customs-client.add" || entries[1].Action != "customs-client.revoke" {
		t.Fatalf("audit %+v %v", entries, err)
	}
	db.Close()
	for _, args := range [][]string{
		{"add", "--data", data, "X"},
		{"add", "--data", data, "--scopes", "customs:everything", "X"},
		{"list"},
		{"remove", "--data", data, "x"},
	} {
		if code, _, _ := opsRunCmd(t, runCustomsClients, args...); code != exitUsage {
			t.Errorf("%v: %d, want usage error", args, code)
		}
	}
}

// TestCustomsClientWithServe: a client added with the command to the data
// file of a node that never ran (found through --config) gets a token from
// `ecogate serve` over the customs listener, and calls the customs API; a
// revoked one does not.
func TestCustomsClientWithServe(t *testing.T) {
	dir := t.TempDir()
	sites := []devsite.Site{
		{Country: "VN", Name: "Viet Nam (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "vn")},
		{Country: "IN", Name: "India (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "in")},
	}
	if err := devsite.Write(sites, devsite.Retry{Attempts: 3, InitialInterval: time.Second, MaxInterval: time.Second, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	vn := sites[0]
	add := func() (string, string) {
		code, out, errs := opsRunCmd(t, runCustomsClients, "add", "--config", vn.ConfigPath(), "--scopes", "customs:check", "VNACCS")
		m := regexp.MustCompile(`client_id:\s+(\S+)\nclient_secret:\s+(\S+)`).FindStringSubmatch(out)
		if code != exitOK || m == nil {
			t.Fatalf("add: %d %s %s", code, out, errs)
		}
		return m[1], m[2]
	}
	id, secret := add()
	revoked, revokedSecret := add()
	if code, _, errs := opsRunCmd(t, runCustomsClients, "revoke", "--config", vn.ConfigPath(), revoked); code != exitOK {
		t.Fatalf("revoke: %s", errs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() { done <- runServe(ctx, []string{"--config", vn.ConfigPath()}, &bytes.Buffer{}, &errb) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d: %s", code, errb.String())
		}
	})
	root, err := os.ReadFile(filepath.Join(vn.Dir, "pki", "root-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(root)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	token := func(id, secret string) (int, string) {
		req, _ := http.NewRequest("POST", "https://"+vn.CustomsAddr+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tr)
		return resp.StatusCode, tr.AccessToken
	}
	var status int
	var tok string
	deadline := time.Now().Add(20 * time.Second)
	for status, tok = token(id, secret); status == 0 && time.Now().Before(deadline); status, tok = token(id, secret) {
		time.Sleep(50 * time.Millisecond) // the node is starting
	}
	if status != http.StatusOK || tok == "" {
		t.Fatalf("token: %d %s", status, tok)
	}
	req, _ := http.NewRequest("POST", "https://"+vn.CustomsAddr+"/customs/v1/checks", strings.NewReader(
		`{"exportCountry":"IN","certificateNumber":"IN-NONE-1","items":[{"sequenceNumber":1,"hsCode":"020230","quantity":{"value":"1","unitCode":"KGM"}}]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// IN is not running: the issuer cannot be asked, so the check says so
	// (never NOT_FOUND for an infrastructure failure).
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"verdict":"UNAVAILABLE"`) {
		t.Fatalf("check: %d %s", resp.StatusCode, b)
	}
	if status, _ := token(revoked, revokedSecret); status != http.StatusUnauthorized {
		t.Fatalf("revoked client got a token: %d", status)
	}

	// While the node runs, --config goes through its local API: a client
	// added now gets a token at once, and stops getting them once revoked.
	live, liveSecret := add()
	if status, _ := token(live, liveSecret); status != http.StatusOK {
		t.Fatalf("client added on the running node: token %d", status)
	}
	code, out, errs := opsRunCmd(t, runCustomsClients, "list", "--node", "http://"+vn.LocalAddr)
	if code != exitOK || !strings.Contains(out, live) || !strings.Contains(out, revoked+"  ") || strings.Contains(out, liveSecret) {
		t.Fatalf("list on the running node: %d\n%s%s", code, out, errs)
	}
	if code, _, errs := opsRunCmd(t, runCustomsClients, "revoke", "--config", vn.ConfigPath(), live); code != exitOK {
		t.Fatalf("revoke on the running node: %s", errs)
	}
	if status, _ := token(live, liveSecret); status != http.StatusUnauthorized {
		t.Fatalf("client revoked on the running node still gets a token: %d", status)
	}
	if code, _, errs := opsRunCmd(t, runCustomsClients, "revoke", "--config", vn.ConfigPath(), "cc-none"); code != exitFail || !strings.Contains(errs, "no customs client") {
		t.Fatalf("revoke unknown on the running node: %d %s", code, errs)
	}
	if code, _, errs := opsRunCmd(t, runCustomsClients, "add", "--config", vn.ConfigPath(), "--scopes", "customs:everything", "X"); code != exitUsage || !strings.Contains(errs, "unknown scope") {
		t.Fatalf("bad scope: %d %s", code, errs)
	}
}
