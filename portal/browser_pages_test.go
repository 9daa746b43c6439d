package portal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserRegisterAndImages runs the new pages in headless Chromium:
// an exporter registers by IEC from the start page and logs in with the
// password it chose; the agency administrator uploads an office stamp
// with an opaque background (kept, with a visible warning), then one with
// the background removed, and an officer's signature.
func TestBrowserRegisterAndImages(t *testing.T) {
	l := newLive(t)
	s := &story{t: t, portal: l.base, ctx: browser(t)}
	ctx := s.ctx

	// Registration.
	s.run("start page", chromedp.Navigate(s.portal+"/"))
	s.want("start page", "Register your firm")
	s.run("registration form", chromedp.Click(`a[href="/register"]`), chromedp.WaitVisible("#register-form"))
	const pw = "my own long password"
	s.until("register", "your account is active",
		chromedp.SendKeys("#iec", lvNewIEC), chromedp.SendKeys("#name", "Meera Nair"), chromedp.SendKeys("#email", "owner@beta.example"),
		chromedp.SendKeys("#user", "beta"), chromedp.SendKeys("#password", pw), chromedp.SendKeys("#password2", pw),
		chromedp.Click("#register-form button"))
	s.want("registered", "Beta Spices LLP", "Your login is beta")
	shot(t, ctx, "exporter-registered")
	s.run("login as the new exporter", chromedp.Click(`#reg-status a[href="/login"]`), chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#user", "beta"), chromedp.SendKeys("#password", pw), chromedp.Click("button[type=submit]"), chromedp.WaitVisible("form.logout"))
	s.want("new exporter's dashboard", "Meera Nair", lvNewIEC)
	s.logout()

	// A second registration of the same IEC is refused with the reason.
	s.until("register again", "Not registered",
		chromedp.Navigate(s.portal+"/register"), chromedp.SendKeys("#iec", lvNewIEC), chromedp.SendKeys("#name", "Someone Else"),
		chromedp.SendKeys("#email", "x@beta.example"), chromedp.SendKeys("#user", "beta2"), chromedp.SendKeys("#password", pw),
		chromedp.SendKeys("#password2", pw), chromedp.Click("#register-form button"))
	s.want("refused", "is registered")

	// Stamp and signature images.
	dir := t.TempDir()
	opaque, clear := filepath.Join(dir, "stamp-opaque.png"), filepath.Join(dir, "stamp.png")
	if err := os.WriteFile(opaque, pngOf(t, false), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clear, pngOf(t, true), 0o600); err != nil {
		t.Fatal(err)
	}
	s.login("eic-admin")
	s.run("images page", chromedp.Click(`a[href="/agency/images"]`), chromedp.WaitVisible("#stamp-table"))
	s.want("images page", "EIC Mumbai (MUM)", "Officer One ("+lvOfficer+")")
	stamp := `form[action="/agency/images/stamp/MUM"]`
	s.until("opaque stamp", "Warning: the background is not removed",
		chromedp.SetUploadFiles(stamp+` input[type=file]`, []string{opaque}), chromedp.Click(stamp+" button"))
	s.want("opaque stamp kept", "Image uploaded for MUM.")
	warn, err := chromedp.Run(ctx, chromedp.Text("#stamp-table .warning"))
	if err != nil || !strings.Contains(warn, "corner pixel at (0,0) is opaque") {
		t.Errorf("the stamp's row shows no warning: %q %v", warn, err)
	}
	shot(t, ctx, "agency-stamp-warning")
	s.until("transparent stamp", "Its background is removed",
		chromedp.SetUploadFiles(stamp+` input[type=file]`, []string{clear}), chromedp.Click(stamp+" button"))
	if strings.Contains(s.text, "Warning") {
		t.Errorf("a transparent stamp was warned about:\n%s", s.text)
	}
	w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector('#stamp-table img').naturalWidth`))
	if err != nil || w != 40 {
		t.Errorf("the stored stamp does not show on the page (width %d, %v)", w, err)
	}
	sig := `form[action="/agency/images/signature/` + lvOfficer + `"]`
	s.until("signature", "Image uploaded for "+lvOfficer, chromedp.SetUploadFiles(sig+` input[type=file]`, []string{clear}), chromedp.Click(sig+" button"))
}
