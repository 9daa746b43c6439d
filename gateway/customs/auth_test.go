package customs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestTokenEndpoint covers the client-credentials grant and its RFC 6749
// errors.
func TestTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	id, secret := e.addClient(ScopeCheck, ScopeRead)
	tests := []struct {
		name   string
		form   url.Values
		basic  string
		status int
		errc   string
		scope  string
	}{
		{"form credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}, "", 200, "", ScopeCheck + " " + ScopeRead},
		{"basic credentials, narrower scope", url.Values{"grant_type": {"client_credentials"}, "scope": {ScopeRead}}, id + ":" + secret, 200, "", ScopeRead},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {"x" + secret}}, "", 401, "invalid_client", ""},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"cc-nobody"}, "client_secret": {secret}}, "", 401, "invalid_client", ""},
		{"no credentials", url.Values{"grant_type": {"client_credentials"}}, "", 401, "invalid_client", ""},
		{"scope not granted", url.Values{"grant_type": {"client_credentials"}, "scope": {ScopeDecide}}, id + ":" + secret, 400, "invalid_scope", ""},
		{"password grant", url.Values{"grant_type": {"password"}}, id + ":" + secret, 400, "unsupported_grant_type", ""},
		{"no grant", url.Values{}, id + ":" + secret, 400, "invalid_request", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.postForm("/oauth/token", tc.form, tc.basic)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			if tc.errc != "" {
				if m["error"] != tc.errc {
					t.Fatalf("error %v, want %s", m["error"], tc.errc)
				}
				return
			}
			if m["token_type"] != "Bearer" || m["scope"] != tc.scope || m["access_token"] == "" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("token answer %s", body)
			}
		})
	}
}

// TestBearerAuth: no, unknown, expired and revoked tokens are 401 with
// WWW-Authenticate; a scope that does not cover the call is 403.
func TestBearerAuth(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)
	body := baseReq(item(1, "020230", "1", "KGM"))
	checkTok := e.token(ScopeCheck)
	readTok := e.token(ScopeRead)

	// A token signed by another key.
	other := *e.svc.opt.Tokens
	other.Key = e.pki.TLSClient.Key
	forged, _, err := other.Issue("cc-x", []string{"ecogate-customs"}, ScopeCheck)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tok    string
		path   string
		status int
		www    string
	}{
		{"valid", checkTok, "/customs/v1/checks", 200, ""},
		{"missing", "", "/customs/v1/checks", 401, "Bearer"},
		{"garbage", "not.a.jwt", "/customs/v1/checks", 401, `error="invalid_token"`},
		{"forged", string(forged), "/customs/v1/checks", 401, `error="invalid_token"`},
		{"wrong scope for check", readTok, "/customs/v1/checks", 403, `error="insufficient_scope"`},
		{"wrong scope for decision", checkTok, "/customs/v1/decisions", 403, `error="insufficient_scope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.call("POST", tc.path, tc.tok, body)
			if resp.StatusCode != tc.status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.www) {
				t.Fatalf("got %d %q: %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		e.clock.Add(6 * time.Minute)
		resp, b := e.call("POST", "/customs/v1/checks", checkTok, body)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("expired token: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		id, secret := e.addClient(ScopeCheck)
		resp, b := e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, id+":"+secret)
		if resp.StatusCode != 200 {
			t.Fatalf("token: %d %s", resp.StatusCode, b)
		}
		var tr tokenResponse
		_ = json.Unmarshal(b, &tr)
		if resp, b := e.call("POST", "/customs/v1/checks", tr.AccessToken, body); resp.StatusCode != 200 {
			t.Fatalf("before revocation: %d %s", resp.StatusCode, b)
		}
		if err := e.db.Customs().RevokeClient(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(recheckEvery + time.Second) // remembered tokens are rechecked
		if resp, b := e.call("POST", "/customs/v1/checks", tr.AccessToken, body); resp.StatusCode != 401 {
			t.Fatalf("after revocation: %d %s", resp.StatusCode, b)
		}
		if resp, _ = e.postForm("/oauth/token", url.Values{"grant_type": {"client_credentials"}}, id+":"+secret); resp.StatusCode != 401 {
			t.Fatalf("revoked client got a token: %d", resp.StatusCode)
		}
	})
}

// TestChecksDirectRoute: the direct path for checks answers as the router
// does (the same bytes but checkedAt, same refusals), and requests of
// another method or shape still reach the router.
func TestChecksDirectRoute(t *testing.T) {
	e := newEnv(t)
	e.storeView(testCert(t, certNo), validReport)
	h := e.svc.Routes()
	mux := h.(*routes).Mux
	body, _ := json.Marshal(baseReq(item(1, "020230", "1", "KGM")))
	tests := []struct {
		name, method, path, tok string
		body                    []byte
		status                  int
	}{
		{"check", "POST", "/customs/v1/checks", e.token(ScopeCheck), body, 200},
		{"bad body", "POST", "/customs/v1/checks", e.token(ScopeCheck), []byte(`{"exportCountry":1}`), 400},
		{"no token", "POST", "/customs/v1/checks", "", body, 401},
		{"bad token", "POST", "/customs/v1/checks", "x.y.z", body, 401},
		{"wrong scope", "POST", "/customs/v1/checks", e.token(ScopeRead), body, 403},
		{"GET", "GET", "/customs/v1/checks", e.token(ScopeCheck), nil, 405},
		{"trailing slash", "POST", "/customs/v1/checks/", e.token(ScopeCheck), body, 404},
		{"escaped path", "POST", "/customs/v1/check%73", e.token(ScopeCheck), body, 404},
	}
	norm := func(b []byte) string {
		s := string(b)
		if i := strings.Index(s, `"checkedAt"`); i >= 0 {
			s = s[:i]
		}
		return s
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]*httptest.ResponseRecorder
			for i, hh := range []http.Handler{h, mux} {
				req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
				if tc.tok != "" {
					req.Header.Set("Authorization", "Bearer "+tc.tok)
				}
				got[i] = httptest.NewRecorder()
				hh.ServeHTTP(got[i], req)
			}
			d, r := got[0], got[1]
			if d.Code != tc.status || r.Code != tc.status {
				t.Fatalf("status direct %d, router %d, want %d: %s", d.Code, r.Code, tc.status, d.Body)
			}
			if norm(d.Body.Bytes()) != norm(r.Body.Bytes()) || d.Header().Get("WWW-Authenticate") != r.Header().Get("WWW-Authenticate") ||
				d.Header().Get("Content-Type") != r.Header().Get("Content-Type") {
				t.Fatalf("direct %v %s\nrouter %v %s", d.Header(), d.Body, r.Header(), r.Body)
			}
		})
	}
}
