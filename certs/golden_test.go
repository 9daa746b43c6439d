package certs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestSampleGolden keeps testdata/eco-20-lines.xml (the benchmark and
// interop sample, about 12 KB) equal to the generator; run with
// ECOGATE_UPDATE=1 to rewrite it.
func TestSampleGolden(t *testing.T) {
	p := filepath.Join("testdata", "eco-20-lines.xml")
	want := ecoDoc(20)
	if os.Getenv("ECOGATE_UPDATE") != "" {
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with ECOGATE_UPDATE=1)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the generator; run with ECOGATE_UPDATE=1", p)
	}
	if len(got) < 10000 || len(got) > 14000 {
		t.Errorf("sample is %d bytes, want about 12 KB", len(got))
	}
}
