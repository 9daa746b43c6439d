package customs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/strictjson"
)

// fastSeeds are bodies the fast decoder must take (fast: true) or leave to
// internal/strictjson (fast: false).
var fastSeeds = []struct {
	body string
	fast bool
}{
	{`{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"020230","quantity":{"value":"1","unitCode":"KGM"}}]}`, true},
	{" \r\n\t{ \"exportCountry\" : \"IN\" , \"certificateNumber\":\"X\",\"issueDate\":\"2026-11-20\",\"declarationRef\":\"D1\",\"importer\":{\"name\":\"Ä é <b>\",\"id\":\"1\"},\"items\":[ {\"sequenceNumber\":12,\"hsCode\":\"0202.30\",\"quantity\":{\"unitCode\":\"KGM\",\"value\":\"1.5\"}} , {\"sequenceNumber\":0} ] } \n", true},
	{`{"items":[]}`, true},
	{`{}`, true},
	{`{"importer":{}}`, true},
	{`{"items":[{"quantity":{}}]}`, true},
	{`{"exportCountry":"IN","certificateNumber":"X","importer":{"name":"A \u00e9 <b>","id":"1"},"items":[]}`, false}, // escape
	{`{"exportCountry":"IN","itemz":[]}`, false},
	{`{"items":"x"}`, false},
	{`{} {}`, false},
	{`{}x`, false},
	{`{"items":[{"sequenceNumber":1.5}]}`, false},
	{`{"items":[{"sequenceNumber":1e2}]}`, false},
	{`{"items":[{"sequenceNumber":-1}]}`, false},
	{`{"items":[{"sequenceNumber":01}]}`, false},
	{`{"items":[{"sequenceNumber":1234567890}]}`, false},
	{`{"exportCountry":"I\ud800N"}`, false},
	{`{"exportCountry":"IN","exportCountry":"VN","items":[]}`, false},
	{`{"importer":{"name":"a"},"importer":null}`, false},
	{`{"importer":{"name":"a","name":"b"}}`, false},
	{`{"items":[{"hsCode":"1","hsCode":"2"}]}`, false},
	{`{"items":[{"quantity":{"value":"1","value":"2"}}]}`, false},
	{`{"items":[{"quantity":{"value":"1"}}],"items":[{"hsCode":"x"}]}`, false},
	{`{"exportCountry":null}`, false},
	{`{"ExportCountry":"IN"}`, false},
	{`[]`, false},
	{`{"a":1,}`, false},
	{`{"items":[{},]}`, false},
	{`{"items":[{}`, false},
	{`{"exportCountry":"IN"`, false},
	{"{\"exportCountry\":\"\xff\"}", false},
	{"{\"exportCountry\":\"a\tb\"}", false},
	{"\xef\xbb\xbf{}", false},
	{``, false},
}

// TestDecodeCheckFast: the fast decoder takes the common shape and leaves
// every other body (each strictness rule: duplicates, unknown names,
// trailing data, invalid UTF-8, wrong types) to strictjson; whatever it
// takes, strictjson decodes to the same value.
func TestDecodeCheckFast(t *testing.T) {
	for _, tc := range fastSeeds {
		var fast CheckRequest
		got := decodeCheckFast([]byte(tc.body), &fast)
		if got != tc.fast {
			t.Errorf("decodeCheckFast(%q) = %v, want %v", tc.body, got, tc.fast)
		}
		if got {
			assertStrictSame(t, []byte(tc.body), &fast)
		} else if !reflect.DeepEqual(fast, CheckRequest{}) {
			t.Errorf("decodeCheckFast(%q) declined but wrote %+v", tc.body, fast)
		}
	}
}

func assertStrictSame(t *testing.T, b []byte, fast *CheckRequest) {
	t.Helper()
	var strict CheckRequest
	if err := strictjson.Unmarshal(b, &strict); err != nil {
		t.Fatalf("fast decoder accepted %q, strictjson refuses it: %v", b, err)
	}
	if !reflect.DeepEqual(*fast, strict) {
		t.Fatalf("fast decoder read %q as %+v, strictjson as %+v", b, *fast, strict)
	}
}

// FuzzDecodeCheckFast: whatever the fast decoder accepts, strictjson
// accepts too, with the same value (so it is never more lenient), both
// with the parts allocated and in a check's pooled memory (reused, as
// handleCheck reuses it).
func FuzzDecodeCheckFast(f *testing.F) {
	for _, tc := range fastSeeds {
		f.Add([]byte(tc.body))
	}
	m := new(checkMem)
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast CheckRequest
		if decodeCheckFast(b, &fast) {
			assertStrictSame(t, b, &fast)
		}
		var pooled CheckRequest
		ok := decodeCheckFastIn(b, &pooled, m)
		if ok != decodeCheckFast(b, new(CheckRequest)) {
			t.Fatalf("pooled decoding accepts %v, allocated %v", ok, !ok)
		}
		if ok {
			assertStrictSame(t, b, &pooled)
		}
		m.release()
		m = checkPool.Get().(*checkMem)
	})
}

// BenchmarkDecodeCheck compares the fast decoder with strictjson on a
// typical two-line check request.
func BenchmarkDecodeCheck(b *testing.B) {
	body := []byte(`{"exportCountry":"IN","certificateNumber":"IN-B-77","issueDate":"2026-11-20","importer":{"name":"Acme Imports GmbH","id":"DE123"},"items":[{"sequenceNumber":2,"hsCode":"090111","quantity":{"value":"10","unitCode":"KGM"}},{"sequenceNumber":1,"hsCode":"020230","quantity":{"value":"100","unitCode":"KGM"}}]}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r CheckRequest
			if !decodeCheckFast(body, &r) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("strictjson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r CheckRequest
			if err := strictjson.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzNormName: the ASCII fast path of normName gives what the rune loop
// gives, and normNameIs compares with it.
func FuzzNormName(f *testing.F) {
	for _, s := range []string{"", "Acme Imports GmbH", "ACME  IMPORTS-GMBH.", " a\tb ", "Äcme é", "ss ß", strings.Repeat("x", 200), "a\x00b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := normName(s), normNameRunes(s); got != want {
			t.Fatalf("normName(%q) = %q, want %q", s, got, want)
		}
		want := normNameRunes(s)
		if !normNameIs(s, want) {
			t.Fatalf("normNameIs(%q, %q) = false", s, want)
		}
		if normNameIs(s, want+"X") {
			t.Fatalf("normNameIs(%q, %q) = true", s, want+"X")
		}
	})
}

// decodeCheckFast is decodeCheckFastIn without working memory.
func decodeCheckFast(data []byte, out *CheckRequest) bool {
	return decodeCheckFastIn(data, out, nil)
}
