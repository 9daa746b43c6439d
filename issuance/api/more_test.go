package api_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/issuance"
)

func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestExporterSelfRegistrationRefusals: POST /exporters/register (public)
// refuses an IEC already registered (409), of the wrong form (400) or
// unknown to the registry (404). (The confirmations: issuance's
// TestSelfRegisterExporter and the demo.)
func TestExporterSelfRegistrationRefusals(t *testing.T) {
	w := newWorld(t) // registers iecA and iecB through the operator
	// already registered by the operator: 409
	w.mustCall("", "POST", "/exporters/register", map[string]any{"iec": iecA, "admin": person("x@alpha.example")}, 409, nil)
	w.mustCall("", "POST", "/exporters/register", map[string]any{"iec": "AAACE12", "admin": person("x@alpha.example")}, 400, nil)
	w.mustCall("", "POST", "/exporters/register", map[string]any{"iec": "AAACQ5555Z", "admin": person("x@q.example")}, 404, nil) // not in the registry
}

// TestSignatureAndStampImages: the agency administrator uploads an
// officer's signature image and an office's stamp image; PNG and JPEG are
// sniffed and decoded, anything else, an oversized file or a giant image
// is refused; other agencies and exporters may not upload or read them;
// CertificateImages gives them to the certificate PDF.
func TestSignatureAndStampImages(t *testing.T) {
	w := newWorld(t)
	ag, of, ex := w.tok(agAdmin), w.tok(officer), w.tok(expAdmin)
	good := pngOf(t, 200, 80)
	var img issuance.Image
	w.mustCall(ag, "PUT", "/officers/"+officer+"/signature-image", good, 200, &img)
	if img.ContentType != "image/png" || img.Width != 200 || img.Height != 80 || img.Owner != officer {
		t.Fatalf("image %+v", img)
	}
	w.mustCall(ag, "PUT", "/agencies/EIC/offices/MUM/stamp-image", good, 200, nil)
	for _, tc := range []struct {
		name, tok, path string
		body            []byte
		want            int
	}{
		{"a PDF", ag, "/officers/" + officer + "/signature-image", []byte("%PDF-1.4\n"), 400},
		{"text", ag, "/agencies/EIC/offices/MUM/stamp-image", []byte("hello"), 400},
		{"a PNG header only", ag, "/agencies/EIC/offices/MUM/stamp-image", good[:20], 400},
		{"too large", ag, "/agencies/EIC/offices/MUM/stamp-image", append(append([]byte{}, good...), make([]byte, issuance.MaxImageBytes)...), 413},
		{"too many pixels", ag, "/agencies/EIC/offices/MUM/stamp-image", pngOf(t, issuance.MaxImageSide+1, 1), 400},
		{"exporter uploads", ex, "/officers/" + officer + "/signature-image", good, 403},
		{"officer uploads another's", of, "/officers/" + officer2 + "/signature-image", good, 403},
		{"empty", ag, "/officers/" + officer + "/signature-image", nil, 400},
	} {
		if got := w.call(tc.tok, "PUT", tc.path, tc.body, nil); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := w.call(of, "GET", "/officers/"+officer+"/signature-image", nil, nil); got != 200 {
		t.Errorf("officer reads own signature: %d", got)
	}
	if got := w.call(ex, "GET", "/agencies/EIC/offices/MUM/stamp-image", nil, nil); got != 403 {
		t.Errorf("exporter reads the stamp: %d", got)
	}
	sig, stamp, err := w.svc.CertificateImages(t.Context(), officer, "MUM")
	if err != nil || !bytes.Equal(sig, good) || !bytes.Equal(stamp, good) {
		t.Fatalf("certificate images: %d %d %v", len(sig), len(stamp), err)
	}
	if n := len(w.audits("issuance.image.signature")); n != 1 {
		t.Errorf("%d signature uploads audited, want 1", n)
	}
	if len(img.SHA256) != 64 || strings.ToLower(img.SHA256) != img.SHA256 {
		t.Errorf("sha256 %q", img.SHA256)
	}
}
