package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testLocalToken = "0123456789abcdef0123456789abcdef-local"

// TestLocalAPIAuthConfig: a local API beyond loopback without a token is
// refused at start, naming the key to set (issue 10, item 8).
func TestLocalAPIAuthConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("good-token", testLocalToken+"\n")
	write("short-token", "secret\n")
	const base = "node: {country: IN, name: x}\ntls: {cert: c, key: k, clientCert: cc, clientKey: ck}\nreceipts: {key: r}\ndata: d\npartners: p\n"
	for _, tc := range []struct {
		name, yaml, want string // want "" : accepted
		token            string
	}{
		{"loopback, no token", "listen: {partner: ':1', local: '127.0.0.1:8080'}", "", ""},
		{"loopback v6, no token", "listen: {partner: ':1', local: '[::1]:8080'}", "", ""},
		{"localhost, no token", "listen: {partner: ':1', local: 'localhost:8080'}", "", ""},
		{"default, no token", "listen: {partner: ':1'}", "", ""},
		{"wildcard, no token", "listen: {partner: ':1', local: '0.0.0.0:8080'}", `listen.local: "0.0.0.0:8080" listens beyond loopback`, ""},
		{"empty host, no token", "listen: {partner: ':1', local: ':8080'}", "set local.tokenFile", ""},
		{"v6 wildcard, no token", "listen: {partner: ':1', local: '[::]:8080'}", "set local.tokenFile", ""},
		{"LAN address, no token", "listen: {partner: ':1', local: '10.1.2.3:8080'}", "set local.tokenFile", ""},
		{"host name, no token", "listen: {partner: ':1', local: 'node.example:8080'}", "set local.tokenFile", ""},
		{"wildcard, token file", "listen: {partner: ':1', local: '0.0.0.0:8080'}\nlocal: {tokenFile: good-token}", "", testLocalToken},
		{"wildcard, token", "listen: {partner: ':1', local: '0.0.0.0:8080'}\nlocal: {token: '" + testLocalToken + "'}", "", testLocalToken},
		{"loopback, token", "listen: {partner: ':1'}\nlocal: {token: '" + testLocalToken + "'}", "", testLocalToken},
		{"short token file", "listen: {partner: ':1', local: '0.0.0.0:8080'}\nlocal: {tokenFile: short-token}", "local.tokenFile: the token in", ""},
		{"short token", "listen: {partner: ':1'}\nlocal: {token: secret}", "local.token: shorter than 32", ""},
		{"missing token file", "listen: {partner: ':1', local: '0.0.0.0:8080'}\nlocal: {tokenFile: nope}", "local.tokenFile: cannot be read", ""},
		{"both", "listen: {partner: ':1'}\nlocal: {token: '" + testLocalToken + "', tokenFile: good-token}", "not both", ""},
		{"unknown key", "local: {tokenfile: good-token}", `unknown key "tokenfile" in local (did you mean "tokenFile"?`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(base+tc.yaml), dir)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want it to mention %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.LocalToken() != tc.token {
				t.Fatalf("token %q, want %q", c.LocalToken(), tc.token)
			}
		})
	}
}

// fakeListener has an address but is never served.
type fakeListener struct{ addr net.Addr }

func (l fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr            { return l.addr }

// TestLocalAPIBeyondLoopbackNeedsToken: Node.Serve itself refuses a local
// listener beyond loopback when no token is set (whatever built it).
func TestLocalAPIBeyondLoopbackNeedsToken(t *testing.T) {
	p := newPair(t, fastRetry, nil, nil)
	ln := fakeListener{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}}
	err := p.in.Node.Serve(context.Background(), nil, ln)
	if err == nil || !strings.Contains(err.Error(), "local.tokenFile") {
		t.Fatalf("Serve on %s without a token: %v", ln.Addr(), err)
	}
}

// TestLocalAPIToken: with a token, every local API request but the health
// probes needs it; a wrong or missing one is 401 and the token is never
// logged.
func TestLocalAPIToken(t *testing.T) {
	logs := &syncBuffer{}
	p := newPair(t, fastRetry, func(o *Options) {
		o.LocalToken = testLocalToken
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}, nil)
	base := p.in.LocalURL
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no token", "GET", "/api/v1/outbound", "", 401},
		{"wrong token", "GET", "/api/v1/outbound", "Bearer " + strings.Repeat("x", len(testLocalToken)), 401},
		{"prefix of the token", "GET", "/api/v1/outbound", "Bearer " + testLocalToken[:20], 401},
		{"token with more", "GET", "/api/v1/outbound", "Bearer " + testLocalToken + "x", 401},
		{"not bearer", "GET", "/api/v1/outbound", "Basic " + testLocalToken, 401},
		{"customs clients without token", "POST", "/api/v1/customs-clients", "", 401},
		{"submit without token", "POST", "/api/v1/outbound", "", 401},
		{"metrics without token", "GET", "/metrics", "", 401},
		{"right token", "GET", "/api/v1/outbound", "Bearer " + testLocalToken, 200},
		{"scheme in lower case", "GET", "/api/v1/outbound", "bearer " + testLocalToken, 200},
		{"metrics with token", "GET", "/metrics", "Bearer " + testLocalToken, 200},
		{"healthz is open", "GET", "/healthz", "", 200},
		{"readyz is open", "GET", "/readyz", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(`{"name":"x","scopes":["customs:decide"]}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without WWW-Authenticate: %v", resp.Header)
			}
		})
	}
	if strings.Contains(logs.String(), testLocalToken[:20]) {
		t.Fatal("the log shows the token")
	}
	if !strings.Contains(logs.String(), "missing or wrong bearer token") {
		t.Fatal("refusals are not logged")
	}
}
