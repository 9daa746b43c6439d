package schema

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(pattern)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkDecoded asserts the decoder contract and, for an accepted document,
// that the value survives XML -> Go -> XML and Go -> JSON -> Go unchanged:
// encoding is a fixed point after one decode.
func checkDecoded(t *testing.T, c *Certificate, fs Findings) {
	t.Helper()
	if c == nil {
		if !fs.HasSevere() {
			t.Fatalf("nil certificate without a SEVERE finding: %v", fs)
		}
		for _, f := range fs {
			if f.Area != AreaSchema || f.Code == "" || f.Message == "" || f.Code == CodeInternal {
				t.Fatalf("bad finding %v", f)
			}
		}
		return
	}
	if len(fs) != 0 {
		t.Fatalf("certificate returned with findings %v", fs)
	}
	x1, err := EncodeXML(c)
	if err != nil {
		t.Fatalf("accepted value does not encode: %v", err)
	}
	c2, fs2 := DecodeXML(x1, DecodeOptions{})
	if c2 == nil {
		t.Fatalf("re-decoding the encoded value failed: %v\n%s", fs2, x1)
	}
	x2, err := EncodeXML(c2)
	if err != nil || !bytes.Equal(x1, x2) {
		t.Fatalf("XML round trip not stable (%v):\n%s", err, firstDiff(x1, x2))
	}
	j1, err := EncodeJSON(c2)
	if err != nil {
		t.Fatal(err)
	}
	c3, fs3 := DecodeJSON(j1, DecodeOptions{})
	if c3 == nil {
		t.Fatalf("JSON form of an accepted value is refused: %v\n%s", fs3, j1)
	}
	x3, err := EncodeXML(c3)
	if err != nil || !bytes.Equal(x1, x3) {
		t.Fatalf("XML -> JSON -> XML not stable (%v):\n%s", err, firstDiff(x1, x3))
	}
}

// FuzzDecodeXML: the XML decoder never panics, returns a certificate only
// without findings, and what it accepts survives the round trips.
func FuzzDecodeXML(f *testing.F) {
	addSeeds(f, filepath.Join("testdata", "valid", "*.xml"))
	addSeeds(f, filepath.Join("testdata", "bad-xml", "*.xml"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, fs := DecodeXML(b, DecodeOptions{MaxBytes: 1 << 20})
		checkDecoded(t, c, fs)
	})
}

// FuzzDecodeJSON: the JSON decoder never panics, returns a certificate
// only without findings, and what it accepts survives the round trips
// (including into XML, so JSON input can always be signed as XML).
func FuzzDecodeJSON(f *testing.F) {
	addSeeds(f, filepath.Join("testdata", "valid", "*.json"))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"exchangedDocument":{"iD":1}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, fs := DecodeJSON(b, DecodeOptions{MaxBytes: 1 << 20})
		if c != nil {
			j1, err := EncodeJSON(c)
			if err != nil {
				t.Fatal(err)
			}
			c2, fs2 := DecodeJSON(j1, DecodeOptions{})
			if c2 == nil {
				t.Fatalf("re-decoding the JSON form failed: %v\n%s", fs2, j1)
			}
			if j2, _ := EncodeJSON(c2); !bytes.Equal(j1, j2) {
				t.Fatalf("JSON round trip not stable:\n%s", firstDiff(j1, j2))
			}
		}
		checkDecoded(t, c, fs)
	})
}
