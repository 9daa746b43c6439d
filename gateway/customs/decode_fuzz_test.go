package customs

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
)

// FuzzDecodeCheckRequest: whatever the fast decoder (goccy/go-json)
// accepts, encoding/json accepts too, with the same value; so the fast
// path is never more lenient than the documented one.
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
