package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIssuanceOnLocalAPI: with issuance enabled, /api/v1/issuance is
// served on the local API and authenticates each request itself (the
// local token is the operator; no credential is 401), while the rest of
// the local API still needs the local token.
func TestIssuanceOnLocalAPI(t *testing.T) {
	sites, lns := devSites(t, devRetry)
	s := sites[0]
	reg := filepath.Join(s.Dir, "registry.yaml")
	if err := os.WriteFile(reg, []byte("exporters:\n  - {iec: AAACE1234F, name: Alpha, address: Mumbai, gstin: 27AAACE1234F1Z6}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`  token: ""`), []byte("  token: '"+testLocalToken+"'"), 1)
	b = append(b, []byte("\nissuance:\n  enabled: true\n  operators: [op@node.example]\n  registry: registry.yaml\n  devGateway: true\n  mail: {dir: mail, from: ecogate@node.example}\n")...)
	if err := os.WriteFile(s.ConfigPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(s.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	inst, err := c.Open(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Serve(ctx, lns[0], lns[1]) }()
	t.Cleanup(func() {
		cancel()
		<-done
		inst.Close()
	})
	base := "http://" + s.LocalAddr
	do := func(method, path, tok, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String()
	}
	for _, tc := range []struct {
		method, path, tok, body string
		want                    int
	}{
		{"GET", "/api/v1/outbound", "", "", 401},
		{"GET", "/api/v1/issuance/me", "", "", 401},
		{"GET", "/api/v1/issuance/me", "wrong", "", 401},
		{"GET", "/api/v1/issuance/../outbound", "", "", 401},
		{"GET", "/api/v1/issuance/me", testLocalToken, "", 200},
		{"POST", "/api/v1/issuance/exporters", testLocalToken, `{"iec":"AAACE1234F","admin":{"id":"a@alpha.example","name":"A","email":"a@alpha.example"}}`, 201},
		{"POST", "/api/v1/issuance/tokens", testLocalToken, `{"person":"a@alpha.example"}`, 201},
		{"POST", "/api/v1/issuance/agencies/register", "", `{"agency":"EIC"}`, 400},
	} {
		got, body := do(tc.method, tc.path, tc.tok, tc.body)
		if got != tc.want {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, got, tc.want, body)
		}
		if tc.path == "/api/v1/issuance/tokens" && got == 201 {
			var tr struct{ Token string }
			_ = json.Unmarshal([]byte(body), &tr)
			if st, me := do("GET", "/api/v1/issuance/me", tr.Token, ""); st != 200 || !strings.Contains(me, "exporter-admin") {
				t.Errorf("person token: %d %s", st, me)
			}
			if st, _ := do("GET", "/api/v1/outbound", tr.Token, ""); st != 401 {
				t.Errorf("a person's token opened the local API: %d", st)
			}
		}
	}
}

// TestIssuanceConfigErrors: the section's problems name their keys.
func TestIssuanceConfigErrors(t *testing.T) {
	const base = "node: {country: IN, name: x}\nlisten: {partner: ':1'}\ntls: {cert: c, key: k, clientCert: cc, clientKey: ck}\nreceipts: {key: r}\ndata: d\npartners: p\n"
	for _, tc := range []struct{ yaml, want string }{
		{"issuance: {enabled: true}", "issuance.operators"},
		{"issuance: {enabled: true, operators: [op], mail: {smtp: 'x:25', dir: m, from: a@b}}", "issuance.mail.dir"},
		{"issuance: {enabled: true, operators: [op], mail: {smtp: 'x:25'}}", "issuance.mail.from"},
		{"issuance: {enabled: true, operators: [op], smtp: x}", `unknown key "smtp" in issuance`},
		{"issuance: {enabled: true, operators: [op], registry: r.yaml, registryURL: 'https://registry.example/iec'}", "not both"},
		{"issuance: {enabled: true, operators: [op], registryURL: 'ftp://registry.example/iec'}", "issuance.registryURL: must be an http(s) URL"},
		{"issuance: {enabled: true, operators: [op], registryURL: 'https://registry.example/iec', registryTokenEnv: ECOGATE_TEST_UNSET_REGISTRY_TOKEN}", "ECOGATE_TEST_UNSET_REGISTRY_TOKEN is empty or unset"},
	} {
		if _, err := ParseConfig([]byte(base+tc.yaml), t.TempDir()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
