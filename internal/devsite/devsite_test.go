package devsite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/partners"
)

// TestWrite: two sites get a PKI, a configuration naming their addresses
// and a partner registry that partners.Load accepts, with the other site
// and the given retry policy.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	sites := []Site{
		{Country: "IN", Name: "India", PartnerAddr: "127.0.0.1:1", LocalAddr: "127.0.0.1:2", Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam", PartnerAddr: "127.0.0.1:3", LocalAddr: "127.0.0.1:4", Dir: filepath.Join(dir, "vn")},
	}
	retry := Retry{Attempts: 4, InitialInterval: time.Second, MaxInterval: 2 * time.Second, MaxAge: time.Hour}
	if err := Write(sites, retry); err != nil {
		t.Fatal(err)
	}
	for i, s := range sites {
		if s.CustomsAddr == "" || s.PublicAddr == "" {
			t.Fatalf("site %s: free addresses not set: %+v", s.Country, s)
		}
		cfg, err := os.ReadFile(s.ConfigPath())
		if err != nil || !strings.Contains(string(cfg), "country: "+s.Country) || !strings.Contains(string(cfg), s.PublicAddr) {
			t.Fatalf("site %s config: %v\n%s", s.Country, err, cfg)
		}
		reg, err := partners.Load(filepath.Join(s.Dir, "partners.yaml"))
		if err != nil {
			t.Fatalf("site %s registry: %v", s.Country, err)
		}
		ps := reg.Partners()
		other := sites[1-i]
		if len(ps) != 1 || ps[0].Country != other.Country || ps[0].Retry.Attempts != 4 || ps[0].Retry.MaxAge != time.Hour {
			t.Fatalf("site %s partners: %+v", s.Country, ps)
		}
	}
	if ex := ExampleConfig(); !strings.Contains(ex, "country: IN") || strings.Contains(ex, "%!") {
		t.Fatalf("example config:\n%s", ex)
	}
}
