package strictjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type qty struct {
	Value    string `json:"value"`
	UnitCode string `json:"unitCode"`
}

type item struct {
	Seq      int  `json:"sequenceNumber"`
	Quantity *qty `json:"quantity,omitempty"`
}

type envelope struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Version int    `json:"version"`
	Content []byte `json:"content"`
	Items   []item `json:"items,omitempty"`
}

// TestUnmarshal: what the doors accept and what they refuse, with the
// field and the reason.
func TestUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name, body  string
		field, frag string // want an *Error naming field, with frag in its reason
	}{
		{"plain", `{"from":"SG","to":"IN","version":1,"content":"PGE+"}`, "", ""},
		{"spaces around", " \n{\"from\":\"SG\"}\n\t", "", ""},
		{"escapes", `{"from":"S\u0047"}`, "", ""},
		{"duplicate key", `{"from":"SG","from":"IN"}`, "from", "twice"},
		{"duplicate nested", `{"items":[{"sequenceNumber":1,"sequenceNumber":2}]}`, "items[0].sequenceNumber", "twice"},
		{"duplicate by escape", `{"from":"SG","fr\u006fm":"IN"}`, "from", "twice"},
		{"case-variant name", `{"from":"SG","From":"IN"}`, "From", "unknown field"},
		{"unknown field", `{"from":"SG","fromm":"IN"}`, "fromm", "unknown field"},
		{"unknown nested", `{"items":[{"sequenceNumber":1,"quantity":{"value":"1","unit":"KGM"}}]}`, "items[0].quantity.unit", "unknown field"},
		{"trailing object", `{"from":"SG"} {"from":"IN"}`, "body", "trailing data"},
		{"trailing garbage", `{"from":"SG"}x`, "body", "trailing data"},
		{"invalid UTF-8", "{\"from\":\"S\xffG\"}", "body", "UTF-8"},
		{"invalid UTF-8 in a name", "{\"fr\xc3om\":\"SG\"}", "body", "UTF-8"},
		{"lone surrogate", `{"from":"\ud800"}`, "from", "surrogate"},
		{"wrong type", `{"version":"1"}`, "version", "must be a number, not a string"},
		{"wrong nested type", `{"items":[{"sequenceNumber":true}]}`, "items[0].sequenceNumber", "must be a number"},
		{"fraction into int", `{"version":1.5}`, "version", "invalid value"},
		{"bad base64", `{"content":"!!"}`, "content", "invalid value"},
		{"not an object", `[]`, "body", "must be an object"},
		{"empty", ``, "body", "not valid JSON"},
		{"truncated", `{"from":"SG"`, "body", "not valid JSON"},
		{"trailing comma", `{"from":"SG",}`, "body", "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env envelope
			err := Unmarshal([]byte(tc.body), &env)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v (decoded %+v)", err, env)
			}
			if e.Field != tc.field || !strings.Contains(e.Reason, tc.frag) {
				t.Fatalf("got field %q reason %q; want field %q and %q", e.Field, e.Reason, tc.field, tc.frag)
			}
		})
	}
}

// TestSameValueAsEncodingJSON: an accepted body decodes to what
// encoding/json makes of it.
func TestSameValueAsEncodingJSON(t *testing.T) {
	body := `{"from":"SG","to":"IN","version":3,"content":"PGE+PC9hPg==","items":[{"sequenceNumber":1,"quantity":{"value":"1.5","unitCode":"KGM"}},{"sequenceNumber":2}]}`
	var a, b envelope
	if err := Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("strict %s, encoding/json %s", ja, jb)
	}
}

// FuzzUnmarshal: whatever the strict decoder accepts, encoding/json
// accepts too with the same value (it is never more lenient), and a
// refusal is always an *Error.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"from":"SG"}`, `{"from":"SG","from":"IN"}`, `{} {}`, "{\"from\":\"\xff\"}",
		`{"items":[{"quantity":{"value":"1"}}]}`, `{"version":1e2}`, `{"content":"PGE+"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var strict envelope
		err := Unmarshal(b, &strict)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Field == "" || e.Reason == "" {
				t.Fatalf("refusal of %q is not a complete *Error: %#v", b, err)
			}
			return
		}
		var std envelope
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&std); err != nil || dec.More() {
			t.Fatalf("strict accepted %q, encoding/json refuses it: %v", b, err)
		}
		js, _ := json.Marshal(strict)
		jd, _ := json.Marshal(std)
		if string(js) != string(jd) {
			t.Fatalf("%q: strict %s, encoding/json %s", b, js, jd)
		}
	})
}

// BenchmarkUnmarshal: a customs check request, strict decoder against
// encoding/json (which checks none of this).
func BenchmarkUnmarshal(b *testing.B) {
	body := []byte(`{"exportCountry":"IN","certificateNumber":"IN-B-1234","issueDate":"2026-06-03","declarationRef":"VN-DEC-1",` +
		`"items":[{"sequenceNumber":2,"quantity":{"value":"10","unitCode":"KGM"}},{"sequenceNumber":1,"quantity":{"value":"100","unitCode":"KGM"}}]}`)
	type req struct {
		ExportCountry     string `json:"exportCountry"`
		CertificateNumber string `json:"certificateNumber"`
		IssueDate         string `json:"issueDate"`
		DeclarationRef    string `json:"declarationRef"`
		Items             []item `json:"items"`
	}
	b.Run("strict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r req
			if err := Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r req
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
