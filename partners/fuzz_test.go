package partners

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary YAML to the registry parser. Every file name
// resolves to the example's SG CA, so valid-looking inputs reach the
// certificate code. It must never panic, and an accepted registry must
// satisfy the invariants Load promises.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "partners.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join("testdata", "sg", "tls-ca.pem"))
	if err != nil {
		f.Fatal(err)
	}
	crl, _ := os.ReadFile(filepath.Join("testdata", "sg", "signing.crl"))
	f.Add(example)
	f.Add([]byte("partners: []"))
	f.Add([]byte("partners:\n  - {country: SG, name: x, delivery: pull, tls: {clientCAs: [a]}, documentSigning: {anchors: [a]}, agreements: [RCEP], retry: {maxAge: 3d}}\n"))
	f.Add([]byte("partners: &a [*a]"))
	cfg := loadConfig{clock: time.Now, readFile: func(p string) ([]byte, error) {
		if filepath.Ext(p) == ".crl" {
			return crl, nil
		}
		return ca, nil
	}}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parse(data, "/nonexistent", cfg)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range r.Partners() {
			if !countryRE.MatchString(p.Country) || seen[p.Country] || len(p.Anchors) == 0 || len(p.ClientCAs) == 0 || p.Retry.Validate() != nil {
				t.Fatalf("accepted an invalid partner: %+v", p)
			}
			if p.Delivery == Push && (p.Endpoint == nil || p.Endpoint.Scheme != "https") {
				t.Fatalf("push partner without https endpoint: %+v", p)
			}
			seen[p.Country] = true
		}
	})
}
