package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/portal"
)

func TestPassword(t *testing.T) {
	h, err := portal.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %s", h)
	}
	for _, c := range []struct {
		hash, pw string
		ok       bool
		err      bool
	}{
		{h, password, true, false}, {h, password + "x", false, false}, {h, "", false, false},
		{"$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$a2V5", password, false, true},
		{"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$a2V5", password, false, true},
		{"plain", password, false, true},
	} {
		ok, err := portal.CheckPassword(c.hash, c.pw)
		if ok != c.ok || (err != nil) != c.err {
			t.Errorf("CheckPassword(%.20s, %q) = %v, %v", c.hash, c.pw, ok, err)
		}
	}
	if _, err := portal.HashPassword("short"); err == nil {
		t.Fatal("short password accepted")
	}
}

func TestLoginLogoutSession(t *testing.T) {
	w := newWorld(t)
	c := w.login("alpha-admin")
	resp, page := c.do("GET", "/dashboard", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "E-wallet balance per office") || !strings.Contains(page, "INR 1234.50") {
		t.Fatalf("dashboard %d:\n%s", resp.StatusCode, page)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
		t.Errorf("CSP allows script from elsewhere than the portal's static files, or unsafe: %s", csp)
	}
	old := c.cookies["__Host-ecogate-session"]
	if old == "" {
		t.Fatal("no session cookie")
	}
	// logout without or with a wrong token is refused
	for _, tok := range []string{"", "wrong"} {
		if resp, _ := c.do("POST", "/logout", url.Values{"csrf": {tok}}, nil); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("logout with csrf %q: %d", tok, resp.StatusCode)
		}
	}
	resp, _ = c.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, page)}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	// the old cookie no longer opens anything
	replay := w.client()
	replay.cookies["__Host-ecogate-session"] = old
	if resp, _ := replay.do("GET", "/dashboard", nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("session after logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSessionCookieAndExpiry(t *testing.T) {
	w := newWorld(t)
	c := w.client()
	_, page := c.do("GET", "/login", nil, nil)
	req, _ := http.NewRequest("POST", w.base+"/login", strings.NewReader(url.Values{"csrf": {csrfOf(t, page)}, "user": {"officer1"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "__Host-ecogate-pre", Value: c.cookies["__Host-ecogate-pre"]})
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-ecogate-session" {
			sc = ck
		}
	}
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.MaxAge != 8*3600 || sc.Path != "/" {
		t.Fatalf("session cookie %+v", sc)
	}
	s := w.client()
	s.cookies[sc.Name] = sc.Value
	if resp, _ := s.do("GET", "/officer/queue", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("queue: %d", resp.StatusCode)
	}
	w.clock.add(8*3600e9 + 1)
	if resp, _ := s.do("GET", "/officer/queue", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("expired session: %d", resp.StatusCode)
	}
}

func TestLoginCSRFAndFailures(t *testing.T) {
	w := newWorld(t)
	c := w.client()
	_, page := c.do("GET", "/login", nil, nil)
	tok := csrfOf(t, page)
	for _, tc := range []struct {
		name string
		form url.Values
		hdr  map[string]string
		drop bool
		want int
	}{
		{"no token", url.Values{"user": {"alpha-admin"}, "password": {password}}, nil, false, http.StatusForbidden},
		{"wrong token", url.Values{"csrf": {"x" + tok[1:]}, "user": {"alpha-admin"}, "password": {password}}, nil, false, http.StatusForbidden},
		{"token without its cookie", url.Values{"csrf": {tok}, "user": {"alpha-admin"}, "password": {password}}, nil, true, http.StatusForbidden},
		{"cross-origin", url.Values{"csrf": {tok}, "user": {"alpha-admin"}, "password": {password}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, false, http.StatusForbidden},
		{"wrong password", url.Values{"csrf": {tok}, "user": {"alpha-admin"}, "password": {"not the password"}}, nil, false, http.StatusUnauthorized},
		{"unknown user", url.Values{"csrf": {tok}, "user": {"nobody"}, "password": {password}}, nil, false, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := w.client()
			if !tc.drop {
				cc.cookies["__Host-ecogate-pre"] = c.cookies["__Host-ecogate-pre"]
			}
			resp, body := cc.do("POST", "/login", tc.form, tc.hdr)
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d\n%s", resp.StatusCode, tc.want, body)
			}
			if _, ok := cc.cookies["__Host-ecogate-session"]; ok {
				t.Fatal("a session was given")
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	w := newWorld(t)
	c := w.client()
	codes := []int{}
	for i := 0; i < 7; i++ {
		_, page := c.do("GET", "/login", nil, nil)
		resp, _ := c.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "user": {"alpha-admin"}, "password": {"wrong password!"}}, nil)
		codes = append(codes, resp.StatusCode)
	}
	if codes[4] != http.StatusUnauthorized || codes[5] != http.StatusTooManyRequests || codes[6] != http.StatusTooManyRequests {
		t.Fatalf("codes %v", codes)
	}
	// even the right password is refused until the bucket refills
	_, page := c.do("GET", "/login", nil, nil)
	if resp, _ := c.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "user": {"alpha-admin"}, "password": {password}}, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: %d", resp.StatusCode)
	}
	w.clock.add(60e9)
	w.login("alpha-admin")
}

func TestRolesRefusedElsewhere(t *testing.T) {
	w := newWorld(t)
	pages := map[string][]string{
		"/exporter/applications": {"exporter-admin", "applicant"},
		"/officer/queue":         {"officer"},
		"/agency/offices":        {"agency-admin"},
		"/operator":              {"operator"},
		"/dashboard":             {"exporter-admin", "applicant", "agency-admin", "officer", "operator"},
	}
	for _, u := range users {
		w.clock.add(60e9) // the login rate limit is per address: all come from 127.0.0.1
		c := w.login(u.name)
		for path, roles := range pages {
			want := http.StatusForbidden
			for _, r := range roles {
				if r == u.role {
					want = http.StatusOK
				}
			}
			if resp, body := c.do("GET", path, nil, nil); resp.StatusCode != want {
				t.Errorf("%s on %s: %d, want %d\n%s", u.role, path, resp.StatusCode, want, body)
			}
		}
	}
	// not signed in: the login page
	if resp, _ := w.client().do("GET", "/officer/queue", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("anonymous: %d", resp.StatusCode)
	}
	w.clock.add(60e9)
	// the PDF: the exporter yes, the agency administrator refused by the service
	if resp, _ := w.login("alpha-admin").do("GET", "/applications/app-1/certificate.pdf", nil, nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("exporter PDF: %d", resp.StatusCode)
	}
	if resp, _ := w.login("eic-admin").do("GET", "/applications/app-1/certificate.pdf", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("agency admin PDF: %d", resp.StatusCode)
	}
	if resp, _ := w.login("operator").do("GET", "/applications/app-1/certificate.pdf", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator PDF: %d", resp.StatusCode)
	}
}
