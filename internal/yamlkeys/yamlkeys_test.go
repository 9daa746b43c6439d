package yamlkeys

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type dur time.Duration

func (d *dur) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	*d = dur(v)
	return err
}

type sample struct {
	Node struct {
		Country    string   `yaml:"country"`
		PublicURL  string   `yaml:"publicURL"`
		Agreements []string `yaml:"agreements"`
	} `yaml:"node"`
	Items []struct {
		Name string `yaml:"name"`
		TLS  struct {
			CAs []string `yaml:"clientCAs"`
		} `yaml:"tls"`
	} `yaml:"items"`
	Wait   dur               `yaml:"wait"`
	Labels map[string]string `yaml:"labels"`
	Plain  int
	//lint:ignore U1000 an unexported field, which the key listing must skip
	hidden int
	Skip   string `yaml:"-"`
}

func decodeStrict(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string // substrings of the error; nil: no error
	}{
		{"valid", "node:\n  country: IN\nitems:\n  - name: a\nwait: 5s\nplain: 3\n", nil},
		{"unknown top", "node:\n  country: IN\nbogus: 1\n",
			[]string{`line 3: unknown key "bogus" in the top level; the keys allowed there are: node, items, wait, labels, plain`}},
		{"unknown nested", "node:\n  country: IN\n  colour: red\n",
			[]string{`line 3: unknown key "colour" in node; the keys allowed there are: country, publicURL, agreements`}},
		{"case hint", "node:\n  publicurl: x\n", []string{`unknown key "publicurl" in node (did you mean "publicURL"?`}},
		{"in list", "items:\n  - name: a\n  - name: b\n    tls:\n      cas: [x]\n",
			[]string{`line 5: unknown key "cas" in items[1].tls; the keys allowed there are: clientCAs`}},
		{"two problems", "node:\n  x: 1\ny: 2\n", []string{`line 2: unknown key "x" in node`, `line 3: unknown key "y" in the top level`}},
		{"scalar for mapping", "node: IN\n", []string{`line 1: node must be a mapping with the keys country, publicURL, agreements, not "IN"`}},
		{"mapping for list", "items:\n  name: a\n", []string{"line 2: items must be a list"}},
		{"skipped field is unknown", "skip: 1\n", []string{`unknown key "skip"`}},
		{"bad scalar type", "plain: abc\n", []string{"line 1: cannot unmarshal !!str `abc` into int"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sample
			err := Explain([]byte(tc.in), &s, decodeStrict([]byte(tc.in), &s))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "struct {") || strings.Contains(err.Error(), "yamlkeys.") {
				t.Errorf("error shows a Go type: %q", err)
			}
		})
	}
}

func TestExplainKeepsOtherErrors(t *testing.T) {
	orig := errors.New("yaml: line 1: did not find expected key")
	if got := Explain([]byte("a: [\n"), &sample{}, orig); got != orig {
		t.Errorf("syntax error changed: %v", got)
	}
	if Explain([]byte("x: 1"), &sample{}, nil) != nil {
		t.Error("nil error explained into something")
	}
}

func TestExplainManyProblemsBounded(t *testing.T) {
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	var s sample
	err := Explain([]byte(b.String()), &s, decodeStrict([]byte(b.String()), &s))
	if err == nil || !strings.Contains(err.Error(), "and 20 more") {
		t.Fatalf("got %v", err)
	}
}

func FuzzExplain(f *testing.F) {
	f.Add("node:\n  country: IN\nbogus: 1\n")
	f.Add("items:\n  - tls: {cas: [1]}\n")
	f.Add("a: &x {b: 1}\nnode: *x\n")
	f.Fuzz(func(t *testing.T, in string) {
		var s sample
		err := decodeStrict([]byte(in), &s)
		got := Explain([]byte(in), &s, err)
		if (err == nil) != (got == nil) {
			t.Fatalf("decode error %v, explained %v", err, got)
		}
	})
}
