package portal_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/portal"
)

// pngOf is a 40x20 PNG: transparent background with an opaque mark in
// the middle when transparent, else an opaque white background.
func pngOf(t testing.TB, transparent bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	for y := range 20 {
		for x := range 40 {
			c := color.NRGBA{255, 255, 255, 255}
			if transparent {
				c = color.NRGBA{}
			}
			if x > 10 && x < 30 && y > 5 && y < 15 {
				c = color.NRGBA{0, 0, 160, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegOf(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCheckBackground(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 4, 4))
	var gb bytes.Buffer
	_ = png.Encode(&gb, gray)
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.NRGBA{}, color.NRGBA{0, 0, 0, 255}})
	pal.SetColorIndex(1, 1, 1)
	var pb bytes.Buffer
	_ = png.Encode(&pb, pal)
	half := image.NewNRGBA(image.Rect(0, 0, 4, 4)) // one opaque corner
	half.Set(3, 3, color.NRGBA{0, 0, 0, 255})
	var hb bytes.Buffer
	_ = png.Encode(&hb, half)
	for _, c := range []struct {
		name string
		data []byte
		ok   bool
		note string
	}{
		{"transparent PNG", pngOf(t, true), true, ""},
		{"paletted PNG with a transparent entry", pb.Bytes(), true, ""},
		{"opaque PNG", pngOf(t, false), false, "corner pixel at (0,0) is opaque"},
		{"one opaque corner", hb.Bytes(), false, "(3,3) is opaque"},
		{"grey PNG, no alpha", gb.Bytes(), false, "is opaque"},
		{"JPEG", jpegOf(t), false, "jpeg image has no transparency"},
		{"not an image", []byte("hello"), false, "does not decode"},
	} {
		got := portal.CheckBackground(c.data)
		if got.Transparent != c.ok || !strings.Contains(got.Note, c.note) {
			t.Errorf("%s: %+v, want transparent=%v and a note with %q", c.name, got, c.ok, c.note)
		}
	}
}

// upload posts one file as multipart form field "image" (with the
// session's CSRF token unless csrf is "-").
func (c *client) upload(path, csrf string, data []byte) (*http.Response, string) {
	c.w.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if csrf != "-" {
		_ = mw.WriteField("csrf", csrf)
	}
	fw, _ := mw.CreateFormFile("image", "image.bin")
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", c.w.base+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestImagesPage(t *testing.T) {
	l := newLive(t)
	c := l.login("eic-admin")
	resp, page := c.do("GET", "/agency/images", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "EIC Mumbai (MUM)") || !strings.Contains(page, "Officer One ("+lvOfficer+")") {
		t.Fatalf("images page: %d\n%s", resp.StatusCode, page)
	}
	csrf := csrfOf(t, page)
	for _, s := range []struct {
		name, path string
		data       []byte
		csrf       string
		status     int
		want, not  string
	}{
		{"transparent stamp", "/agency/images/stamp/MUM", pngOf(t, true), csrf, 200, "Image uploaded for MUM. Its background is removed", "Warning"},
		{"page says removed", "", nil, "", 200, "background removed", ""},
		{"opaque stamp: warned, kept", "/agency/images/stamp/MUM", pngOf(t, false), csrf, 200, "Warning: the background is not removed", ""},
		{"JPEG signature: warned", "/agency/images/signature/" + url.PathEscape(lvOfficer), jpegOf(t), csrf, 200, "has no transparency", ""},
		{"text file refused", "/agency/images/stamp/MUM", []byte("not an image at all"), csrf, 422, "Not uploaded: ", ""},
		{"unknown office refused", "/agency/images/stamp/DEL", pngOf(t, true), csrf, 422, "Not uploaded: ", ""},
		{"unknown kind", "/agency/images/logo/MUM", pngOf(t, true), csrf, 404, "no such image kind", ""},
		{"no CSRF token", "/agency/images/stamp/MUM", pngOf(t, true), "-", 403, "did not come from this site", ""},
		{"wrong CSRF token", "/agency/images/stamp/MUM", pngOf(t, true), "x" + csrf, 403, "did not come from this site", ""},
	} {
		var resp *http.Response
		var body string
		if s.path == "" {
			resp, body = c.do("GET", "/agency/images", nil, nil)
		} else {
			resp, body = c.upload(s.path, s.csrf, s.data)
		}
		if resp.StatusCode != s.status || !strings.Contains(body, s.want) || s.not != "" && strings.Contains(body, s.not) {
			t.Errorf("%s: %d, want %d with %q (without %q):\n%s", s.name, resp.StatusCode, s.status, s.want, s.not, body)
		}
	}
	// the stored stamp is the last accepted one (opaque), served as PNG
	resp, body := c.do("GET", "/agency/images/stamp/MUM", nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || body != string(pngOf(t, false)) {
		t.Errorf("stored stamp: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp, _ := c.do("GET", "/agency/images/stamp/DEL", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing stamp: %d", resp.StatusCode)
	}
	// other roles
	ex := l.login("alpha")
	if resp, _ := ex.do("GET", "/agency/images", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("exporter opened the images page: %d", resp.StatusCode)
	}
	if resp, _ := ex.upload("/agency/images/stamp/MUM", "x", pngOf(t, true)); resp.StatusCode != http.StatusForbidden {
		t.Errorf("exporter uploaded: %d", resp.StatusCode)
	}
}

func TestRegisterPage(t *testing.T) {
	l := newLive(t)
	form := func(iec, email, user, pw, pw2 string) url.Values {
		return url.Values{"iec": {iec}, "name": {"Meera Nair"}, "email": {email}, "user": {user}, "password": {pw}, "password2": {pw2}}
	}
	const pw = "a long enough passphrase"
	for _, c := range []struct {
		name   string
		form   url.Values
		csrf   bool
		status int
		want   string
	}{
		{"no CSRF token", form(lvNewIEC, "owner@beta.example", "beta", pw, pw), false, 403, "did not come from this site"},
		{"passwords differ", form(lvNewIEC, "owner@beta.example", "beta", pw, pw+"x"), true, 422, "The two passwords differ"},
		{"short password", form(lvNewIEC, "owner@beta.example", "beta", "short", "short"), true, 422, "at least 12 characters"},
		{"user name taken", form(lvNewIEC, "owner@beta.example", "alpha", pw, pw), true, 422, "is taken"},
		{"user name with a space", form(lvNewIEC, "owner@beta.example", "be ta", pw, pw), true, 422, "without spaces"},
		{"missing field", form("", "owner@beta.example", "beta", pw, pw), true, 422, "Give the IEC"},
		{"bad IEC", form("12", "owner@beta.example", "beta", pw, pw), true, 422, "Not registered: "},
		{"IEC not in the registry", form("CCCCE9999Z", "owner@beta.example", "beta", pw, pw), true, 422, "Not registered: "},
		{"IEC already registered", form(lvIEC, "x@alpha.example", "beta", pw, pw), true, 422, "is registered"},
		{"registered, confirmed by the registry", form(lvNewIEC, "owner@beta.example", "beta", pw, pw), true, 200, "your account is active"},
		{"the same IEC again", form(lvNewIEC, "other@beta.example", "beta2", pw, pw), true, 422, "is registered"},
	} {
		cl := l.client()
		_, page := cl.do("GET", "/register", nil, nil)
		if c.csrf {
			c.form.Set("csrf", csrfOf(t, page))
		}
		resp, body := cl.do("POST", "/register", c.form, nil)
		if resp.StatusCode != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, want %d with %q:\n%s", c.name, resp.StatusCode, c.status, c.want, body)
		}
	}
	// the new login works and acts as the new exporter's administrator
	c := l.client()
	_, page := c.do("GET", "/login", nil, nil)
	if resp, body := c.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "user": {"beta"}, "password": {pw}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login beta: %d\n%s", resp.StatusCode, body)
	}
	if resp, page := c.do("GET", "/dashboard", nil, nil); resp.StatusCode != 200 || !strings.Contains(page, "Meera Nair") || !strings.Contains(page, lvNewIEC) {
		t.Errorf("new exporter's dashboard: %d\n%s", resp.StatusCode, page)
	}
	// an e-mail other than the registry's leaves the account pending
	l2 := newLive(t)
	cl := l2.client()
	_, page = cl.do("GET", "/register", nil, nil)
	f := form(lvNewIEC, "clerk@beta.example", "beta", pw, pw)
	f.Set("csrf", csrfOf(t, page))
	if resp, body := cl.do("POST", "/register", f, nil); resp.StatusCode != 200 || !strings.Contains(body, "waits for the node operator") {
		t.Errorf("pending registration: %d\n%s", resp.StatusCode, body)
	}
}

// TestDashboardNotifications: the exporter's dashboard lists the moves of
// its applications, newest first, a query marked for attention.
func TestDashboardNotifications(t *testing.T) {
	l := newLive(t)
	c := l.login("alpha")
	if _, page := c.do("GET", "/dashboard", nil, nil); strings.Contains(page, "Notifications") {
		t.Errorf("notifications without applications:\n%s", page)
	}
	id := l.underReview()
	l.clock.add(time.Minute)
	if _, err := l.svc.Return(t.Context(), lvOfficerA, id, "Attach the packing list"); err != nil {
		t.Fatal(err)
	}
	_, page := c.do("GET", "/dashboard", nil, nil)
	i := strings.Index(page, `id="notice-list"`)
	if i < 0 {
		t.Fatalf("no notifications:\n%s", page)
	}
	list := page[i:]
	ret := strings.Index(list, "returned with a query by "+lvOfficer+`: “Attach the packing list”`)
	rev := strings.Index(list, "taken up for review by "+lvOfficer)
	sub := strings.Index(list, "submitted by "+lvAdmin)
	if ret < 0 || rev < 0 || sub < 0 || !(ret < rev && rev < sub) {
		t.Errorf("notifications not all there or not newest first (%d %d %d):\n%s", ret, rev, sub, list)
	}
	if !strings.Contains(list, `<li class="warning">`) || !strings.Contains(list, `href="/exporter/applications/`+id+`"`) {
		t.Errorf("the query is not marked or not linked:\n%s", list)
	}
	// the officer's dashboard has none
	if _, page := l.login("officer").do("GET", "/dashboard", nil, nil); strings.Contains(page, "notice-list") {
		t.Error("an officer's dashboard lists notifications")
	}
}
