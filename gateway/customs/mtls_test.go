package customs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/store"
)

// mtlsPKI is a customs administration's own CA with client certificates,
// and a CA the node does not trust.
type mtlsPKI struct {
	ca, otherCA                                 certs.KeyCert
	registered, unregistered, revoked, stranger tls.Certificate
	readOnly, serverAuthOnly                    tls.Certificate
	crl                                         *x509.RevocationList
}

var (
	mtlsOnce sync.Once
	mtlsVal  *mtlsPKI
	mtlsErr  error
)

func issueTestCert(cn string, parent *certs.KeyCert, isCA bool, eku ...x509.ExtKeyUsage) (certs.KeyCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certs.KeyCert{}, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	if err != nil {
		return certs.KeyCert{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: sn, Subject: pkix.Name{CommonName: cn, Organization: []string{"VN customs (test)"}},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku, BasicConstraintsValid: true, IsCA: isCA}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	pc, pk := tmpl, crypto.Signer(key)
	if parent != nil {
		pc, pk = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pc, key.Public(), pk)
	if err != nil {
		return certs.KeyCert{}, err
	}
	c, err := x509.ParseCertificate(der)
	return certs.KeyCert{Key: key, Cert: c}, err
}

func tlsCert(kc certs.KeyCert) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{kc.Cert.Raw}, PrivateKey: kc.Key, Leaf: kc.Cert}
}

func testMTLSPKI(t testing.TB) *mtlsPKI {
	mtlsOnce.Do(func() {
		p := &mtlsPKI{}
		defer func() { mtlsVal = p }()
		if p.ca, mtlsErr = issueTestCert("VN customs CA", nil, true); mtlsErr != nil {
			return
		}
		if p.otherCA, mtlsErr = issueTestCert("someone else's CA", nil, true); mtlsErr != nil {
			return
		}
		for _, c := range []struct {
			dst    *tls.Certificate
			cn     string
			parent *certs.KeyCert
			eku    []x509.ExtKeyUsage
		}{
			{&p.registered, "VNACCS", &p.ca, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			{&p.readOnly, "VNACCS reader", &p.ca, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			{&p.unregistered, "VNACCS test bench", &p.ca, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			{&p.revoked, "VNACCS lost laptop", &p.ca, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			{&p.stranger, "VNACCS", &p.otherCA, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			{&p.serverAuthOnly, "a web server", &p.ca, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}},
		} {
			var kc certs.KeyCert
			if kc, mtlsErr = issueTestCert(c.cn, c.parent, false, c.eku...); mtlsErr != nil {
				return
			}
			*c.dst = tlsCert(kc)
		}
		var pemCRL []byte
		pemCRL, mtlsErr = certs.IssueCRL(p.ca, []*x509.Certificate{p.revoked.Leaf},
			time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 7)
		if mtlsErr != nil {
			return
		}
		var crls []*x509.RevocationList
		if crls, mtlsErr = certs.ParseCRLs(pemCRL); mtlsErr == nil {
			p.crl = crls[0]
		}
	})
	if mtlsErr != nil {
		t.Fatal(mtlsErr)
	}
	return mtlsVal
}

// mtlsServer serves e's customs routes over real TLS on a loopback port
// from devsite's free-port helper, asking for client certificates issued
// by ca (verified if given).
func mtlsServer(t *testing.T, e *env, ca *x509.Certificate) string {
	t.Helper()
	addr, err := devsite.FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv := httptest.NewUnstartedServer(e.svc.Routes())
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
		Certificates: []tls.Certificate{tlsCert(e.pki.TLSServer)}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "https://" + addr
}

// mtlsClient is an HTTPS client trusting the node's root, presenting cert
// when given, even to a server that names other CAs.
func mtlsClient(e *env, cert *tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(e.pki.Root.Cert)
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Sent whatever CAs the server names (as curl --cert does; Go's
		// default would send none for a CA the server does not name).
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
}

// TestMutualTLS: a verified client certificate bound to an active client
// authenticates as that client (its scopes, its audit actor); an
// unregistered or CRL-revoked one is refused with a body that says why
// (the fingerprint named), one of a CA not configured fails the handshake,
// and without a certificate the bearer token works as before.
func TestMutualTLS(t *testing.T) {
	p := testMTLSPKI(t)
	var crls atomic.Pointer[[]*x509.RevocationList]
	crls.Store(&[]*x509.RevocationList{p.crl})
	e := newEnv(t, func(o *Options) {
		o.ClientCRLs = func() []*x509.RevocationList { return *crls.Load() }
	})
	e.storeView(testCert(t, certNo), validReport)
	base := mtlsServer(t, e, p.ca.Cert)
	ctx := context.Background()
	full, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "VNACCS", []string{ScopeCheck, ScopeDecide}, p.registered.Leaf, e.clock.Now())
	if err != nil || full.Secret != "" || full.CertSHA256 != CertFingerprint(p.registered.Leaf) {
		t.Fatalf("add cert client: %+v %v", full, err)
	}
	reader, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "VNACCS reader", []string{ScopeRead}, p.readOnly.Leaf, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AddCertClient(ctx, e.db.Customs(), e.db.Audit(), "test", "lost", []string{ScopeCheck}, p.revoked.Leaf, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	cb, _ := json.Marshal(baseReq(item(1, "020230", "1", "KGM")))
	checkBody := string(cb)
	db, _ := json.Marshal(DecisionRequest{ExportCountry: "IN", CertificateNumber: certNo, DeclarationRef: "VN-DEC-MTLS",
		Items: []ItemDecisionRequest{given(1, "1", "KGM")}})
	decision := string(db)
	checkTok := e.token(ScopeCheck)
	for _, tc := range []struct {
		name       string
		cert       *tls.Certificate
		tok        string
		path, body string
		status     int
		want       string // in the body
	}{
		{"registered cert", &p.registered, "", "/customs/v1/checks", checkBody, 200, `"verdict":"AUTHENTIC"`},
		{"registered cert, a bad token is not looked at", &p.registered, "not.a.jwt", "/customs/v1/checks", checkBody, 200, `"verdict":"AUTHENTIC"`},
		{"registered cert, decision", &p.registered, "", "/customs/v1/decisions", decision, 201, `"messageId"`},
		{"registered cert without the scope", &p.readOnly, "", "/customs/v1/checks", checkBody, 403, "insufficient_scope"},
		{"read scope", &p.readOnly, "", "/customs/v1/certificates/IN/" + certNo, "", 200, certNo},
		{"unregistered cert", &p.unregistered, "", "/customs/v1/checks", checkBody, 403, CertFingerprint(p.unregistered.Leaf)},
		{"unregistered cert with a valid token", &p.unregistered, checkTok, "/customs/v1/checks", checkBody, 403, CodeCertNotRegistered},
		{"revoked cert", &p.revoked, "", "/customs/v1/checks", checkBody, 403, CodeCertRevoked},
		{"no cert, valid token", nil, checkTok, "/customs/v1/checks", checkBody, 200, `"verdict":"AUTHENTIC"`},
		{"no cert, no token", nil, "", "/customs/v1/checks", checkBody, 401, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := mtlsCall(t, mtlsClient(e, tc.cert), tc.path, base, tc.tok, tc.body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %s, want %d with %q", resp.StatusCode, b, tc.status, tc.want)
			}
			// A bearer challenge is for token clients only.
			if ch := resp.Header.Get("WWW-Authenticate"); tc.cert != nil && ch != "" {
				t.Errorf("WWW-Authenticate %q sent to a certificate client", ch)
			}
		})
	}
	t.Run("the audit actor of a decision is the certificate's client", func(t *testing.T) {
		ds, err := e.db.Customs().Decisions(ctx, "IN", certNo)
		if err != nil || len(ds) != 1 || ds[0].ClientID != full.ID {
			t.Fatalf("decisions %+v %v, want one by %s", ds, err, full.ID)
		}
	})
	t.Run("checks by certificate are counted", func(t *testing.T) {
		if n := e.counter("ecogate_customs_checks_total", "verdict", Authentic); n != 3 {
			t.Fatalf("AUTHENTIC checks counted: %v, want 3 (2 by certificate, 1 by token)", n)
		}
	})
	t.Run("wrong CA fails the handshake", func(t *testing.T) {
		_, err := mtlsClient(e, &p.stranger).Post(base+"/customs/v1/checks", "application/json", strings.NewReader(checkBody))
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a certificate of another CA got through: %v", err)
		}
	})
	t.Run("revoked client", func(t *testing.T) {
		if err := RevokeClient(ctx, e.db.Customs(), e.db.Audit(), "test", reader.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(recheckEvery + time.Second) // remembered certificates are rechecked
		resp, b := mtlsCall(t, mtlsClient(e, &p.readOnly), "/customs/v1/certificates/IN/"+certNo, base, "", "")
		if resp.StatusCode != 403 || !strings.Contains(string(b), CodeCertNotRegistered) {
			t.Fatalf("revoked client: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("registered after a refusal", func(t *testing.T) {
		cl := mtlsClient(e, &p.unregistered)
		if resp, b := mtlsCall(t, cl, "/customs/v1/checks", base, "", checkBody); resp.StatusCode != 403 {
			t.Fatalf("before: %d %s", resp.StatusCode, b)
		}
		if _, err := AddCertClient(ctx, e.db.Customs(), nil, "test", "bench", []string{ScopeCheck}, p.unregistered.Leaf, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if resp, b := mtlsCall(t, cl, "/customs/v1/checks", base, "", checkBody); resp.StatusCode != 403 {
			t.Fatalf("the refusal is remembered until the recheck: %d %s", resp.StatusCode, b)
		}
		e.clock.Add(recheckEvery + time.Second)
		if resp, b := mtlsCall(t, cl, "/customs/v1/checks", base, "", checkBody); resp.StatusCode != 200 {
			t.Fatalf("after the recheck: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("CRL loaded later", func(t *testing.T) {
		cl := mtlsClient(e, &p.registered)
		if resp, b := mtlsCall(t, cl, "/customs/v1/checks", base, "", checkBody); resp.StatusCode != 200 {
			t.Fatalf("before: %d %s", resp.StatusCode, b)
		}
		pemCRL, err := certs.IssueCRL(p.ca, []*x509.Certificate{p.revoked.Leaf, p.registered.Leaf}, e.clock.Now(), e.clock.Now().Add(24*time.Hour), 8)
		if err != nil {
			t.Fatal(err)
		}
		next, err := certs.ParseCRLs(pemCRL)
		if err != nil {
			t.Fatal(err)
		}
		crls.Store(&next)
		e.clock.Add(recheckEvery + time.Second)
		if resp, b := mtlsCall(t, cl, "/customs/v1/checks", base, "", checkBody); resp.StatusCode != 403 || !strings.Contains(string(b), CodeCertRevoked) {
			t.Fatalf("after the CRL revoked it: %d %s", resp.StatusCode, b)
		}
		e.clock.Add(48 * time.Hour) // past the CRL's next update: fails closed
		if resp, b := mtlsCall(t, mtlsClient(e, &p.unregistered), "/customs/v1/checks", base, "", checkBody); resp.StatusCode != 403 || !strings.Contains(string(b), CodeCertCRLStale) {
			t.Fatalf("stale CRL: %d %s", resp.StatusCode, b)
		}
	})
}

func mtlsCall(t *testing.T, c *http.Client, path, base, tok, body string) (*http.Response, []byte) {
	t.Helper()
	method := http.MethodPost
	if body == "" {
		method = http.MethodGet
	}
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestAddCertClient: what a certificate registration refuses, and the
// conflict of one certificate bound twice.
func TestAddCertClient(t *testing.T) {
	p := testMTLSPKI(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		cert    *x509.Certificate
		at      time.Time
		scopes  []string
		wantErr string
	}{
		{"ok", p.unregistered.Leaf, now, []string{ScopeCheck}, ""},
		{"bound already", p.unregistered.Leaf, now, []string{ScopeCheck}, "already bound"},
		{"CA certificate", p.ca.Cert, now, []string{ScopeCheck}, "CA certificate"},
		{"server certificate", p.serverAuthOnly.Leaf, now, []string{ScopeCheck}, "clientAuth"},
		{"expired", p.revoked.Leaf, time.Date(2037, 1, 1, 0, 0, 0, 0, time.UTC), []string{ScopeCheck}, "expired"},
		{"not yet valid", p.revoked.Leaf, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), []string{ScopeCheck}, "valid only from"},
		{"no certificate", nil, now, []string{ScopeCheck}, "no client certificate"},
		{"unknown scope", p.readOnly.Leaf, now, []string{"customs:all"}, "unknown scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := AddCertClient(context.Background(), e.db.Customs(), nil, "test", "VNACCS", tc.scopes, tc.cert, tc.at)
			if tc.wantErr == "" {
				if err != nil || nc.Secret != "" || nc.CertSHA256 != CertFingerprint(tc.cert) || !strings.Contains(nc.CertSubject, "VNACCS") {
					t.Fatalf("%+v %v", nc, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
	t.Run("no token for a certificate client", func(t *testing.T) {
		cls, _ := e.db.Customs().Clients(context.Background())
		if len(cls) != 1 || cls[0].SecretHash != "" {
			t.Fatalf("clients %+v", cls)
		}
		resp, b := e.postForm("/oauth/token", map[string][]string{"grant_type": {"client_credentials"}}, cls[0].ID+":")
		if resp.StatusCode != 401 {
			t.Fatalf("token for a client without secret: %d %s", resp.StatusCode, b)
		}
	})
}

// TestParseClientCert: one certificate, never a private key.
func TestParseClientCert(t *testing.T) {
	p := testMTLSPKI(t)
	key, err := certs.KeyPEM(p.registered.PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	one := certs.CertPEM(p.registered.Leaf)
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"PEM", one, true},
		{"DER", p.registered.Leaf.Raw, true},
		{"two", append(append([]byte{}, one...), certs.CertPEM(p.ca.Cert)...), false},
		{"with its key", append(append([]byte{}, one...), key...), false},
		{"key only", key, false},
		{"garbage", []byte("hello"), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseClientCert(tc.data)
			if (err == nil) != tc.ok || (tc.ok && !bytes.Equal(c.Raw, p.registered.Leaf.Raw)) {
				t.Fatalf("%v %v", c != nil, err)
			}
		})
	}
}

// TestClientRoutesCertificate: the local API registers a certificate
// client from PEM (no secret in the answer), lists its binding, refuses a
// second binding of the same certificate (409) and a private key (400).
func TestClientRoutesCertificate(t *testing.T) {
	p := testMTLSPKI(t)
	e := newEnv(t)
	h := ClientRoutes(e.db.Customs(), e.db.Audit(), e.clock.Now)
	body, _ := json.Marshal(AddClientRequest{Name: "VNACCS", Scopes: []string{ScopeCheck}, Certificate: string(certs.CertPEM(p.registered.Leaf))})
	key, _ := certs.KeyPEM(p.registered.PrivateKey.(crypto.Signer))
	withKey, _ := json.Marshal(AddClientRequest{Name: "VNACCS", Scopes: []string{ScopeCheck}, Certificate: string(key)})
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"add", body, 201, `"certSHA256":"` + CertFingerprint(p.registered.Leaf) + `"`},
		{"again", body, 409, "already bound"},
		{"a key", withKey, 400, "certificate:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/customs-clients", bytes.NewReader(tc.body)))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) || strings.Contains(w.Body.String(), "clientSecret") {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
		})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/customs-clients", nil))
	var infos []ClientInfo
	if err := json.Unmarshal(w.Body.Bytes(), &infos); err != nil || len(infos) != 1 || infos[0].CertSHA256 == "" || infos[0].CertNotAfter.IsZero() {
		t.Fatalf("list: %s %v", w.Body, err)
	}
	entries, err := e.db.Audit().Entries(context.Background(), 0, 10)
	if err != nil || len(entries) != 1 || entries[0].Details["certSHA256"] != infos[0].CertSHA256 {
		t.Fatalf("audit %+v %v", entries, err)
	}
	if _, err := e.db.Customs().ClientByCert(context.Background(), infos[0].CertSHA256); errors.Is(err, store.ErrNotFound) {
		t.Fatal("the registered certificate is not found")
	}
}

// BenchmarkClientFromTLS is the per-request cost of a registered client
// certificate once its verdict is remembered (the common case: SHA-256 of
// the certificate and a map read), and of a request without one (what the
// bearer-token path pays for mutual TLS).
func BenchmarkClientFromTLS(b *testing.B) {
	p := testMTLSPKI(b)
	e := newEnv(b)
	if _, err := AddCertClient(context.Background(), e.db.Customs(), nil, "bench", "VNACCS", []string{ScopeCheck}, p.registered.Leaf, e.clock.Now()); err != nil {
		b.Fatal(err)
	}
	withCert := httptest.NewRequest("POST", "/customs/v1/checks", nil)
	withCert.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{p.registered.Leaf, p.ca.Cert}}}
	without := httptest.NewRequest("POST", "/customs/v1/checks", nil)
	without.TLS = &tls.ConnectionState{}
	for _, bc := range []struct {
		name   string
		r      *http.Request
		client bool
	}{{"registered", withCert, true}, {"no certificate", without, false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if en, ref := e.svc.clientFromTLS(bc.r); ref != nil || (en.client != "") != bc.client {
					b.Fatal(en, ref)
				}
			}
		})
	}
}

// FuzzParseClientCert: whatever the registration parses is one
// certificate whose fingerprint is the SHA-256 of its DER bytes, and it
// never panics.
func FuzzParseClientCert(f *testing.F) {
	p := testMTLSPKI(f)
	key, _ := certs.KeyPEM(p.registered.PrivateKey.(crypto.Signer))
	for _, s := range [][]byte{certs.CertPEM(p.registered.Leaf), p.registered.Leaf.Raw, key, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseClientCert(b)
		if err != nil {
			return
		}
		if c == nil || len(CertFingerprint(c)) != 64 {
			t.Fatalf("parsed %v", c)
		}
		again, err := x509.ParseCertificate(c.Raw)
		if err != nil || !bytes.Equal(again.Raw, c.Raw) {
			t.Fatalf("the DER of the parsed certificate does not parse again: %v", err)
		}
	})
}
