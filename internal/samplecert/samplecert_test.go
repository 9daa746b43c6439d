package samplecert

import (
	"regexp"
	"testing"

	"github.com/ecogate/ecogate/schema"
)

// TestCertificate: the caller's number, version and countries are set, the
// issuing body moves with the export country, the UUID is stable and
// well-formed, and the XML decodes again without findings.
func TestCertificate(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, tt := range []struct{ number, from, to string }{
		{"IN-AI-1", "IN", "VN"},
		{"SG-AI-2", "SG", "TH"},
		{"", "", ""},
	} {
		c, err := Certificate(tt.number, 2, tt.from, tt.to)
		if err != nil {
			t.Fatal(err)
		}
		if tt.number != "" && (c.Header.ID != tt.number || c.Header.ExportCountry != tt.from || c.Header.ImportCountry != tt.to) {
			t.Fatalf("%+v", c.Header)
		}
		if tt.from != "" && c.Header.Issuer.Address != nil && c.Header.Issuer.Address.CountryCode != tt.from {
			t.Fatalf("issuer country %q, want %q", c.Header.Issuer.Address.CountryCode, tt.from)
		}
		if c.Header.Version != 2 || !uuid.MatchString(c.Header.UUID) {
			t.Fatalf("version %d uuid %q", c.Header.Version, c.Header.UUID)
		}
		again, _ := Certificate(tt.number, 2, tt.from, tt.to)
		if again.Header.UUID != c.Header.UUID {
			t.Fatal("UUID not stable")
		}
		b, err := XML(tt.number, 2, tt.from, tt.to)
		if err != nil {
			t.Fatal(err)
		}
		if d, fs := schema.DecodeXML(b, schema.DecodeOptions{}); fs != nil || d.Header.UUID != c.Header.UUID {
			t.Fatalf("decode: %v", fs)
		}
	}
}
