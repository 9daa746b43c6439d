package schema

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeXMLLimitsAndBOM: the XML decoder accepts a leading byte-order
// mark and refuses hostile documents at the limits of internal/xmlguard
// with a finding that names the limit.
func TestDecodeXMLLimitsAndBOM(t *testing.T) {
	valid, err := os.ReadFile(filepath.Join("testdata", "valid", "rcep.xml"))
	if err != nil {
		t.Fatal(err)
	}
	attrs := func(n int, f string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, f, i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		code string // "" = decoded without findings
		msg  string
	}{
		{"valid", valid, "", ""},
		{"valid with BOM", append([]byte("\xEF\xBB\xBF"), valid...), "", ""},
		{"BOM not at the start", append(append([]byte{}, valid...), "\xEF\xBB\xBF"...), CodeNotXML, ""},
		{"100k attributes on one element", []byte(`<CertificateOfOrigin xmlns="urn:ecogate:eco:1"` + attrs(100000, ` a%d=""`) + `/>`), CodeLimit, "256"},
		{"65 namespace declarations", []byte(`<CertificateOfOrigin xmlns="urn:ecogate:eco:1"` + attrs(65, ` xmlns:p%d="urn:x"`) + `/>`), CodeLimit, "64"},
		{"too deep", []byte(`<CertificateOfOrigin xmlns="urn:ecogate:eco:1">` + strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40) + `</CertificateOfOrigin>`), CodeTooDeep, ""},
		{"doctype", []byte(`<!DOCTYPE x><CertificateOfOrigin xmlns="urn:ecogate:eco:1"/>`), CodeDoctype, ""},
		// Namespaces are resolved through the scope: a child redeclaring
		// the default namespace away is reported, one keeping it is not.
		{"child in another namespace", bytes.Replace(valid, []byte("<ExchangedDocument>"), []byte(`<ExchangedDocument xmlns="urn:other">`), 1), CodeNamespace, ""},
		{"child redeclaring the same namespace", bytes.Replace(valid, []byte("<ExchangedDocument>"), []byte(`<ExchangedDocument xmlns="urn:ecogate:eco:1">`), 1), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, fs := DecodeXML(tc.doc, DecodeOptions{})
			if tc.code == "" {
				if len(fs) != 0 {
					t.Fatalf("findings: %v", fs)
				}
				return
			}
			if len(fs) == 0 || fs[0].Code != tc.code || !strings.Contains(fs[0].Message, tc.msg) {
				t.Fatalf("got %v, want %s mentioning %q", fs, tc.code, tc.msg)
			}
		})
	}
}
