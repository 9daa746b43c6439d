package issuance

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzFileRegistry: any registry file is either refused with an error or
// gives records whose IECs and GSTINs are valid; it never panics.
func FuzzFileRegistry(f *testing.F) {
	f.Add([]byte("exporters:\n  - iec: AAACE1234F\n    name: A\n    address: B\n    gstin: 27AAACE1234F1Z6\n"))
	f.Add([]byte("exporters: [{iec: '0123456789', gstin: x}]"))
	f.Add([]byte("{\"exporters\": []}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "r.yaml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := NewFileRegistry(p)
		if err != nil {
			return
		}
		for iec, rec := range r.records {
			if ValidIEC(iec) != nil || ValidGSTIN(rec.GSTIN) != nil {
				t.Fatalf("accepted %q / %q", iec, rec.GSTIN)
			}
		}
	})
}
