package customs

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeCheckRequest: whatever the strict decoder (internal/strictjson)
// accepts, encoding/json accepts too, with the same value; so the strict
// door is never more lenient than encoding/json.
func FuzzDecodeCheckRequest(f *testing.F) {
	for _, s := range []string{
		`{"exportCountry":"IN","certificateNumber":"X","items":[{"hsCode":"020230","quantity":{"value":"1","unitCode":"KGM"}}]}`,
		`{"exportCountry":"IN","certificateNumber":"X","importer":{"name":"A \u00e9 <b>","id":"1"},"items":[]}`,
		`{"exportCountry":"IN","itemz":[]}`, `{"items":"x"}`, `{} {}`, `{"items":[{"sequenceNumber":1.5}]}`,
		`{"exportCountry":"I\ud800N"}`, `{"exportCountry":"IN","exportCountry":"VN","items":[]}`, `{"importer":{"name":"a"},"importer":null}`, `{"items":[{"quantity":{"value":"1"}}],"items":[{"hsCode":"x"}]}`, `{"exportCountry":null}`, `[]`, `{"a":1,}`, "{\"exportCountry\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	s := &Service{opt: Options{MaxBody: 1 << 20}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast CheckRequest
		w := httptest.NewRecorder()
		fe := s.decodeBody(w, httptest.NewRequest("POST", "/", bytes.NewReader(b)), &fast)
		if fe != nil {
			return
		}
		var std CheckRequest
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&std); err != nil || dec.More() {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("fast path decoded %q as %+v, encoding/json as %+v", b, fast, std)
		}
	})
}

// FuzzParseView: the stored-view parser never panics on damaged bytes.
func FuzzParseView(f *testing.F) {
	v, err := ViewOf(testCert(f, certNo), validReport, nil, time.Unix(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	b, _ := v.Encode()
	f.Add(b)
	j, _ := json.Marshal(v)
	f.Add(append([]byte{0, 0, 0, 1}, j...))
	f.Add([]byte{0, 0, 0, 1, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, fr, err := parseView(b)
		if err == nil && (v == nil || fr == nil) {
			t.Fatal("no view and no error")
		}
	})
}

// FuzzToNano: a quantity that converts is exactly value × factor rounded
// up to 10⁻⁹, and anything else is an error, never a panic.
func FuzzToNano(f *testing.F) {
	for _, s := range []string{"1", "0.5", "1250.50", "99999999999", "0.0000000001", "-1", "1e3", "", ".", "1.", "00012.3400"} {
		f.Add(s, int64(453_592_370))
	}
	f.Fuzz(func(t *testing.T, v string, factor int64) {
		if factor <= 0 || factor > 1_000_000*nano {
			return
		}
		n, err := toNano(v, factor)
		if err != nil {
			return
		}
		r, ok := new(big.Rat).SetString(v)
		if !ok || r.Sign() < 0 {
			t.Fatalf("%q accepted but not a non-negative decimal", v)
		}
		r.Mul(r, new(big.Rat).SetInt64(factor))
		q := new(big.Int).Quo(r.Num(), r.Denom())
		if new(big.Rat).SetInt(q).Cmp(r) != 0 {
			q.Add(q, big.NewInt(1))
		}
		if !q.IsInt64() || q.Int64() != n {
			t.Fatalf("toNano(%q, %d) = %d, want %s", v, factor, n, q)
		}
	})
}
