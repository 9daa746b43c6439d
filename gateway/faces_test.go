package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// faceNode is a node built from its configuration file, serving all four
// listeners on loopback.
type faceNode struct {
	site devsite.Site
	inst *Instance
	// customs is an HTTPS client that trusts the node's TLS root.
	customs *http.Client
}

func (f *faceNode) customsURL() string { return "https://" + f.site.CustomsAddr }
func (f *faceNode) localURL() string   { return "http://" + f.site.LocalAddr }
func (f *faceNode) publicURL() string  { return "http://" + f.site.PublicAddr }

// faceNodes lays out IN and VN with the customs API and the public page
// enabled, and runs both from their configuration files.
func faceNodes(t *testing.T) (in, vn *faceNode) {
	t.Helper()
	return faceNodesWith(t, nil)
}

// faceNodesOn is faceNodes with each configuration changed by tweak
// (e.g. the storage engine) before it is opened.
func faceNodesOn(t *testing.T, tweak func(*Config)) (in, vn *faceNode) {
	return faceNodesWith(t, func(_ int, _ devsite.Site, c *Config) {
		if tweak != nil {
			tweak(c)
		}
	})
}

// faceNodesWith is faceNodes with a hook that may change each node's
// configuration (index 0 is IN) before it opens.
func faceNodesWith(t *testing.T, hook func(i int, s devsite.Site, c *Config)) (in, vn *faceNode) {
	t.Helper()
	dir := t.TempDir()
	var lns []net.Listener
	addr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		return ln.Addr().String()
	}
	sites := []devsite.Site{
		{Country: "IN", Name: "India (dev)", PartnerAddr: addr(), LocalAddr: addr(), CustomsAddr: addr(), PublicAddr: addr(), Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam (dev)", PartnerAddr: addr(), LocalAddr: addr(), CustomsAddr: addr(), PublicAddr: addr(), Dir: filepath.Join(dir, "vn")},
	}
	if err := devsite.Write(sites, devRetry); err != nil {
		t.Fatal(err)
	}
	var nodes []*faceNode
	for i, s := range sites {
		c, err := LoadConfig(s.ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen.Customs != s.CustomsAddr || c.Listen.Public != s.PublicAddr || c.Verify.PublicURL != "http://"+s.PublicAddr {
			t.Fatalf("dev config: customs %q public %q publicURL %q", c.Listen.Customs, c.Listen.Public, c.Verify.PublicURL)
		}
		c.Delivery.PollInterval = Duration(50 * time.Millisecond)
		if hook != nil {
			hook(i, s, c)
		}
		inst, err := c.Open(testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		ls := Listeners{Partner: lns[4*i], Local: lns[4*i+1], Customs: lns[4*i+2], Public: lns[4*i+3]}
		go func() { done <- inst.ServeListeners(ctx, ls) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			inst.Close()
		})
		root, err := os.ReadFile(filepath.Join(s.Dir, "pki", "root-cert.pem"))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(root)
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		nodes = append(nodes, &faceNode{site: s, inst: inst, customs: hc})
	}
	return nodes[0], nodes[1]
}

// addClient registers a customs client at the node and returns id and secret.
func (f *faceNode) addClient(t *testing.T, scopes ...string) (string, string) {
	t.Helper()
	id, secret, hash := customs.NewClientCredentials()
	if err := f.inst.Engine.Customs.AddClient(context.Background(), store.CustomsClient{ID: id, Name: "test", SecretHash: hash, Scopes: scopes}); err != nil {
		t.Fatal(err)
	}
	return id, secret
}

// token gets an access token over the customs listener.
func (f *faceNode) token(t *testing.T, id, secret string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", f.customsURL()+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	status, body := do(t, f.customs, req)
	if status != http.StatusOK {
		t.Fatalf("token: %d %s", status, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.TokenType != "Bearer" || tr.ExpiresIn != 300 || strings.Count(tr.AccessToken, ".") != 2 {
		t.Fatalf("token answer %s (%v)", body, err)
	}
	return tr.AccessToken
}

// call sends a JSON body with a bearer token to the customs listener.
func (f *faceNode) call(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.customsURL()+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, f.customs, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func checkReq(number, hs, qty string) customs.CheckRequest {
	return customs.CheckRequest{ExportCountry: "IN", CertificateNumber: number, IssueDate: "2026-06-03", DeclarationRef: "VN-DEC-" + number,
		Items: []customs.DeclaredItem{{SequenceNumber: 1, HSCode: hs, Quantity: &customs.Quantity{Value: qty, UnitCode: "KGM"}}}}
}

// TestCustomsEndToEnd runs two nodes from their configuration files: IN
// issues an e-CO to VN; VN's customs gets a token over HTTPS, checks the
// certificate (AUTHENTIC, then MISMATCH), records a decision whose signed
// message reaches IN, where IN's local API shows it with the certificate
// and IN's public page answers for its QR link. A certificate only IN has
// is answered by a verification query from VN to IN.
func TestCustomsEndToEnd(t *testing.T) {
	in, vn := faceNodes(t)
	customsEndToEnd(t, in, vn)
}

// customsEndToEnd is TestCustomsEndToEnd on the given nodes (either engine).
func customsEndToEnd(t *testing.T, in, vn *faceNode) {
	ctx := context.Background()
	hc := &http.Client{Timeout: 10 * time.Second}
	number := "IN-AI-TEST-000001"

	// IN issues; VN receives.
	resp, body := post(t, hc, in.localURL()+"/api/v1/outbound", "application/xml", sample(t, 1))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	var sub SubmitResult
	_ = json.Unmarshal(body, &sub)
	waitFor(t, 20*time.Second, "delivered", func() bool {
		rec, err := in.inst.Engine.Outbox.Get(ctx, sub.Messages[0].ID)
		return err == nil && rec.State == store.StateDelivered
	})

	// The same number and version with other content is refused (409), and
	// the register keeps what was sent: a refused submission registers
	// nothing.
	before, err := in.inst.Engine.Issued.Get(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := samplecert.Certificate(number, 1, "IN", "VN")
	if err != nil {
		t.Fatal(err)
	}
	changed.Consignment.Exporter.Name = "SOMEONE ELSE"
	doc, err := schema.EncodeXML(changed)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := post(t, hc, in.localURL()+"/api/v1/outbound", "application/xml", doc); resp.StatusCode != http.StatusConflict {
		t.Fatalf("changed resubmission: %d %s", resp.StatusCode, body)
	}
	if after, err := in.inst.Engine.Issued.Get(ctx, number); err != nil || string(after.Data) != string(before.Data) || strings.Contains(string(after.Data), "SOMEONE ELSE") {
		t.Fatalf("register changed by a refused submission: %v\n%s\n%s", err, before.Data, after.Data)
	}

	// The receive pipeline stored the check view, before any check (on
	// bbolt in the transaction that accepted the message:
	// TestCheckViewInAcceptTx).
	snap := new(store.Snapshot)
	if ok, err := vn.inst.Engine.Customs.Snapshot("IN", number, func([]byte) int { return 1 }, snap); err != nil || !ok || snap.Stale {
		t.Fatalf("no check view stored on receipt: %v (stale %v)", err, snap.Stale)
	}
	id, secret := vn.addClient(t, customs.Scopes()...)
	tok := vn.token(t, id, secret)

	// Checks over the real customs listener.
	for _, tc := range []struct {
		name    string
		req     customs.CheckRequest
		verdict string
		diff    string
		source  string
	}{
		{"authentic", checkReq(number, "0202.30", "1000"), customs.Authentic, "", "stored"},
		{"quantity too high", checkReq(number, "020230", "60000"), customs.Mismatch, customs.DiffQuantity, ""},
		{"wrong HS code", checkReq(number, "090111", "10"), customs.Mismatch, customs.DiffHS, ""},
		{"unknown everywhere", checkReq("IN-NOWHERE-1", "020230", "10"), customs.NotFound, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := vn.call(t, "POST", "/customs/v1/checks", tok, tc.req)
			var res customs.CheckResult
			if err := json.Unmarshal(body, &res); err != nil || status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			if res.Verdict != tc.verdict {
				t.Fatalf("verdict %s, want %s: %s", res.Verdict, tc.verdict, body)
			}
			if tc.diff != "" && !strings.Contains(string(body), tc.diff) {
				t.Fatalf("no %s in %s", tc.diff, body)
			}
			if tc.source != "" && (res.Verification == nil || res.Verification.Source != tc.source) {
				t.Fatalf("verification source: %s", body)
			}
		})
	}

	// The decision travels back to IN.
	yes := true
	dec := customs.DecisionRequest{ExportCountry: "IN", CertificateNumber: number, DeclarationRef: "VN-DEC-42",
		Items: []customs.ItemDecisionRequest{{SequenceNumber: 1, PreferenceGiven: &yes, UtilisedQuantity: &customs.Quantity{Value: "1000", UnitCode: "KGM"}}}}
	status, body := vn.call(t, "POST", "/customs/v1/decisions", tok, dec)
	var dr customs.DecisionResult
	if err := json.Unmarshal(body, &dr); err != nil || status != http.StatusCreated || dr.MessageID == "" ||
		dr.Items[0].Remaining == nil || dr.Items[0].Remaining.Value != "53000" {
		t.Fatalf("decision: %d %s", status, body)
	}
	var iv customs.IssuedView
	waitFor(t, 20*time.Second, "decision at IN", func() bool {
		resp, err := hc.Get(in.localURL() + "/api/v1/issued/" + number)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		iv = customs.IssuedView{}
		return json.NewDecoder(resp.Body).Decode(&iv) == nil && len(iv.Decisions) == 1
	})
	if d := iv.Decisions[0]; d.From != "VN" || d.MessageID != dr.MessageID || !strings.Contains(string(d.Outcome), `"customsDeclarationRef":"VN-DEC-42"`) ||
		!strings.Contains(string(d.Outcome), `"1000"`) {
		t.Fatalf("decision at IN: %+v %s", d, d.Outcome)
	}
	if iv.Certificate == nil || iv.Certificate.Token == "" || iv.QRLink != in.publicURL()+"/verify/q/"+iv.Certificate.Token {
		t.Fatalf("issued view: %+v", iv)
	}
	// The certificate view at VN shows the utilisation.
	status, body = vn.call(t, "GET", "/customs/v1/certificates/IN/"+number, tok, nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"utilised":{"value":"1000","unitCode":"KGM"}`) {
		t.Fatalf("certificate at VN: %d %s", status, body)
	}

	// IN's public page answers for the QR link (anyone: no client
	// certificate, no token).
	req, _ := http.NewRequest("GET", iv.QRLink, nil)
	req.Header.Set("Accept", "application/json")
	status, body = do(t, hc, req)
	if status != http.StatusOK || !strings.Contains(string(body), `"found":true`) || !strings.Contains(string(body), `"number":"`+number+`"`) {
		t.Fatalf("public page: %d %s", status, body)
	}

	// A certificate only IN has (issued for VN, not delivered): asked of
	// IN over mutual TLS, answered from its signed answer.
	only, err := samplecert.Certificate("IN-AI-ONLY-1", 1, "IN", "VN")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := customs.RegisterIssued(ctx, in.inst.Engine.Issued, only); err != nil {
		t.Fatal(err)
	}
	status, body = vn.call(t, "POST", "/customs/v1/checks", tok, checkReq("IN-AI-ONLY-1", "020230", "10"))
	var res customs.CheckResult
	_ = json.Unmarshal(body, &res)
	if status != http.StatusOK || res.Verdict != customs.Authentic || res.Verification == nil || res.Verification.Source != "issuer-query" {
		t.Fatalf("queried check: %d %s", status, body)
	}
	if ans, _, err := vn.inst.Engine.Customs.QueryAnswer(ctx, "IN", "IN-AI-ONLY-1"); err != nil || strings.Count(string(ans), ".") != 2 {
		t.Fatalf("signed answer not cached: %v", err)
	}
}

// TestCustomsListenerAuth: the real customs listener refuses calls
// without a token (401), with a bad token (401), with a token lacking the
// scope (403), and token requests with a wrong secret (401); it speaks TLS
// only.
func TestCustomsListenerAuth(t *testing.T) {
	_, vn := faceNodes(t)
	cid, csecret := vn.addClient(t, customs.ScopeCheck)
	checkOnly := vn.token(t, cid, csecret)
	dec := customs.DecisionRequest{ExportCountry: "IN", CertificateNumber: "X", DeclarationRef: "D"}
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"no token", "POST", "/customs/v1/checks", "", checkReq("X", "020230", "1"), 401, "invalid_token"},
		{"garbage token", "POST", "/customs/v1/checks", "not.a.token", checkReq("X", "020230", "1"), 401, "invalid_token"},
		{"wrong scope: decide", "POST", "/customs/v1/decisions", checkOnly, dec, 403, "insufficient_scope"},
		{"wrong scope: read", "GET", "/customs/v1/certificates/IN/X", checkOnly, nil, 403, "insufficient_scope"},
		{"right scope", "POST", "/customs/v1/checks", checkOnly, checkReq("X", "020230", "1"), 200, "NOT_FOUND"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := vn.call(t, tc.method, tc.path, tc.token, tc.body)
			if status != tc.status || !strings.Contains(string(body), tc.code) {
				t.Fatalf("%d %s, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	id, _ := vn.addClient(t, customs.ScopeCheck)
	req, _ := http.NewRequest("POST", vn.customsURL()+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, "wrong-secret")
	if status, body := do(t, vn.customs, req); status != 401 || !strings.Contains(string(body), "invalid_client") {
		t.Fatalf("wrong secret: %d %s", status, body)
	}
	// Plain HTTP is not served on the customs listener.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Post("http://"+vn.site.CustomsAddr+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the customs listener: %d", resp.StatusCode)
		}
	}
	// TLS 1.1 is refused.
	conn, err := tls.Dial("tcp", vn.site.CustomsAddr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake accepted")
	}
}

// TestFaceConfigErrors: every new key is checked and its problem names it.
func TestFaceConfigErrors(t *testing.T) {
	const base = "node: {country: IN, name: x}\nlisten: {partner: '127.0.0.1:8443', local: '127.0.0.1:8080'}\n" +
		"tls: {cert: c, key: k, clientCert: cc, clientKey: ck}\nreceipts: {key: r}\ndata: d\npartners: p\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"customs address", "listen: {partner: ':1', customs: 'nope'}", `listen.customs: "nope" is not HOST:PORT`},
		{"public address", "listen: {partner: ':1', public: '8081'}", `listen.public: "8081" is not HOST:PORT`},
		{"same address twice", "listen: {partner: '127.0.0.1:8443', customs: '127.0.0.1:8443'}", "listen.customs: \"127.0.0.1:8443\" is already the address of listen.partner"},
		{"negative token TTL", "customs: {tokenTTL: -5m}", "customs.tokenTTL: must not be negative"},
		{"token TTL too long", "customs: {tokenTTL: 48h}", "customs.tokenTTL: 48h0m0s is longer than the most allowed, 24h0m0s"},
		{"token TTL not a duration", "customs: {tokenTTL: forever}", "not a duration"},
		{"negative query timeout", "customs: {queryTimeout: -1s}", "customs.queryTimeout: must not be negative"},
		{"query timeout too long", "customs: {queryTimeout: 5m}", "customs.queryTimeout: 5m0s is longer"},
		{"negative query cache TTL", "customs: {queryCacheTTL: -1m}", "customs.queryCacheTTL: must not be negative"},
		{"token cert without key", "customs: {tokenCert: t.pem}", "customs.tokenKey: required when customs.tokenCert"},
		{"unknown customs key", "customs: {tokenTtl: 5m}", "unknown key \"tokenTtl\" in customs"},
		{"public URL relative", "verify: {publicURL: '/verify'}", "verify.publicURL: \"/verify\" is not an absolute http(s) URL"},
		{"public URL scheme", "verify: {publicURL: 'ftp://x'}", "verify.publicURL"},
		{"negative rate", "verify: {rate: -1}", "verify.rate: must not be negative"},
		{"negative burst", "verify: {burst: -1}", "verify.burst: must not be negative"},
		{"negative misses", "verify: {missesBeforeChallenge: -1}", "verify.missesBeforeChallenge: must not be negative"},
		{"negative miss window", "verify: {missWindow: -1h}", "verify.missWindow: must not be negative"},
		{"bad header", "verify: {clientAddrHeader: 'X Forwarded'}", "verify.clientAddrHeader: \"X Forwarded\" is not an HTTP header name"},
		{"tls cert without key", "verify: {tlsCert: c.pem}", "verify.tlsCert: give both"},
		{"negative delivery timeout", "delivery: {timeout: -1s}", "delivery.timeout: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := base + tc.yaml
			if strings.HasPrefix(tc.yaml, "listen:") {
				y = strings.Replace(base, "listen: {partner: '127.0.0.1:8443', local: '127.0.0.1:8080'}\n", "", 1) + tc.yaml
			}
			_, err := ParseConfig([]byte(y), "/etc/ecogate")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
	// A valid configuration with every new key parses and keeps its values.
	c, err := ParseConfig([]byte(base+"customs: {tokenTTL: 10m, queryTimeout: 3s, queryCacheTTL: 1m}\n"+
		"verify: {publicURL: 'https://verify.example.in', rate: 2, burst: 5, missesBeforeChallenge: 4, missWindow: 30m, clientAddrHeader: X-Forwarded-For}\n"), "/etc/ecogate")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Customs.TokenTTL) != 10*time.Minute || time.Duration(c.Customs.QueryTimeout) != 3*time.Second || c.Verify.Burst != 5 {
		t.Fatalf("parsed %+v %+v", c.Customs, c.Verify)
	}

	// Keys that name files are read at Open; an unreadable one names its key.
	sites, _ := devSites(t, devRetry)
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		want string
	}{
		{"token key missing", func(c *Config) { c.Customs.TokenKey = filepath.Join(t.TempDir(), "none.pem") }, "customs.tokenKey"},
		{"token key not a key", func(c *Config) { c.Customs.TokenKey = c.Partners }, "customs.tokenKey"},
		{"public TLS cert missing", func(c *Config) {
			c.Verify.TLSCert, c.Verify.TLSKey = filepath.Join(t.TempDir(), "c.pem"), filepath.Join(t.TempDir(), "k.pem")
		}, "verify.tlsCert/verify.tlsKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(sites[0].ConfigPath())
			if err != nil {
				t.Fatal(err)
			}
			tc.set(c)
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
	// A token key of its own signs the tokens.
	c, err = LoadConfig(sites[0].ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	c.Customs.TokenKey = filepath.Join(sites[0].Dir, "pki", "signer-ecdsa-key.pem")
	inst, err := c.Open(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	inst.Close()
}
