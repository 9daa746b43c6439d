package portal_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ecogate/ecogate/internal/testenv"
	"github.com/ecogate/ecogate/qrsign"
)

// browser starts headless Chromium (Debian's chromium; .ci/run installs
// it) with a fresh profile and no outside network use.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testenv.Program(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true)}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// shot writes a screenshot into $ECOGATE_SCREENSHOTS (or the test's
// temporary folder).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("ECOGATE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	// FullScreenshot with a quality below 100 answers JPEG.
	if err := os.WriteFile(filepath.Join(dir, name+".jpg"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowser(t *testing.T) {
	w := newWorld(t)
	ctx := browser(t)
	var text, loc string
	run := func(what string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, acts...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var err error
		if text, err = chromedp.Run(ctx, chromedp.Text("main")); err != nil {
			t.Fatalf("%s: text: %v", what, err)
		}
		if loc, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
			t.Fatalf("%s: location: %v", what, err)
		}
	}
	run("home", chromedp.Navigate(w.base+"/"))
	shot(t, ctx, "home")
	run("login page", chromedp.Navigate(w.base+"/login"))
	shot(t, ctx, "login")
	run("login", chromedp.SendKeys("#user", "alpha-admin"), chromedp.SendKeys("#password", password),
		chromedp.Click("button[type=submit]"), chromedp.WaitVisible("#wallets"))
	shot(t, ctx, "exporter-dashboard")
	if !strings.HasSuffix(loc, "/dashboard") || !strings.Contains(text, "INR 1234.50") || !strings.Contains(text, "issued") {
		t.Fatalf("dashboard at %s:\n%s", loc, text)
	}
	run("applications", chromedp.Navigate(w.base+"/exporter/applications"))
	shot(t, ctx, "exporter-applications")
	if !strings.Contains(text, "EIC/MUM/2026/000042 (PDF)") {
		t.Fatalf("applications:\n%s", text)
	}
	run("other role's page", chromedp.Navigate(w.base+"/officer/queue"))
	if !strings.Contains(text, "may not open this page") {
		t.Fatalf("officer page as exporter:\n%s", text)
	}
	run("logout", chromedp.Navigate(w.base+"/dashboard"), chromedp.Click("form.logout button"),
		chromedp.WaitVisible("#password"), chromedp.Navigate(w.base+"/dashboard"))
	if !strings.HasSuffix(loc, "/login") {
		t.Fatalf("after logout /dashboard went to %s", loc)
	}

	// The public page: a known number, then misses until the captcha.
	run("verify", chromedp.Navigate(w.base+"/verify?country=IN&number=EIC/MUM/2026/000042"))
	shot(t, ctx, "verify-found")
	if !strings.Contains(text, "Valid: issued and not withdrawn") || !strings.Contains(text, "Alpha Exports Pvt Ltd") {
		t.Fatalf("verify:\n%s", text)
	}
	for i := 0; i < 3; i++ {
		run("miss", chromedp.Navigate(w.base+"/verify?country=IN&number=NOPE-"+string(rune('A'+i))))
	}
	run("captcha", chromedp.Navigate(w.base+"/verify?country=IN&number=NOPE-Z"), chromedp.WaitVisible("#answer"))
	shot(t, ctx, "verify-captcha")
	if !strings.Contains(text, "answer the question") {
		t.Fatalf("no captcha after misses:\n%s", text)
	}

	// The PDF: its text holds every box's facts, its image the QR code,
	// which decodes to the signed payload that verifies offline.
	c := w.login("alpha-admin")
	resp, pdf := c.do("GET", "/applications/app-1/certificate.pdf", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("pdf: %d", resp.StatusCode)
	}
	dir := t.TempDir()
	pdfPath := filepath.Join(dir, "cert.pdf")
	if err := os.WriteFile(pdfPath, []byte(pdf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testenv.Program(t, "pdftotext"), "-layout", pdfPath, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	txt := strings.Join(strings.Fields(string(out)), " ")
	for _, want := range []string{"1. Goods consigned from", "Alpha Exports Pvt Ltd", "12 Marine Drive, Mumbai", "0123456789",
		"2. Goods consigned to", "Saigon Trading JSC", "3. Means of transport", "MV Ganga Star", "INNSA", "VNSGN", "2026-03-06",
		"4. For official use", "Shipment in two containers", "ASEAN-INDIA FREE TRADE AREA", "Form AI", "Reference No. EIC/MUM/2026/000042",
		"85044010", "39269099", "RVC 40%", "CTH", "Static converters for telecom", "Plastic cable clips", "SGT/01-40", "1200 NAR", "850.5 KGM",
		"INV-2026-77", "2026-02-27", "12. Declaration by the exporter", "Asha Rao", "Director", "13. Certification", "Export Inspection Council",
		"EIC Mumbai", "Officer One", "office stamp", "signature"} {
		if !strings.Contains(txt, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	// The decoder is picky about module size: the payload (and so the QR
	// version) changes from run to run, so several resolutions are tried.
	var content string
	for _, dpi := range []string{"300", "400", "200", "600"} {
		if out, err := exec.Command(testenv.Program(t, "pdftoppm"), "-r", dpi, "-png", "-singlefile", pdfPath, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		img, err := os.ReadFile(filepath.Join(dir, "page.png"))
		if err != nil {
			t.Fatal(err)
		}
		if content, err = qrsign.DecodePNG(img); err == nil {
			break
		} else if dpi == "600" {
			t.Fatalf("QR on the page image (300, 400, 200 and 600 dpi): %v", err)
		}
	}
	if !strings.HasPrefix(content, w.base+"/verify/q/AbCdEfGhIjKlMnOpQrStUv#") {
		t.Fatalf("QR content %q", content)
	}
	res, err := w.qrVerifier().Verify(content, w.clock.now())
	if err != nil {
		t.Fatalf("offline check: %v", err)
	}
	if p := res.Payload; p.Number != "EIC/MUM/2026/000042" || p.Importer != "Saigon Trading JSC" || strings.Join(p.HS, ",") != "850440,392690" || p.IssueDate != "2026-03-04" {
		t.Fatalf("payload %+v", p)
	}
	// the public page checks the same payload (and a tampered one fails)
	tok := qrsign.TokenOf(content)
	run("verify signed QR", chromedp.Navigate(w.base+"/verify/s/"+tok))
	shot(t, ctx, "verify-qr")
	if !strings.Contains(text, "signed payload is authentic") || !strings.Contains(text, "Valid: issued") {
		t.Fatalf("verify/s:\n%s", text)
	}
	bad := tok[:len(tok)-5] + "AAAAA"
	run("verify tampered QR", chromedp.Navigate(w.base+"/verify/s/"+bad))
	if !strings.Contains(text, "does not verify") {
		t.Fatalf("tampered verify/s:\n%s", text)
	}
}
