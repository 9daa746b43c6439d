package openapi

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestSecuritySchemes: each document declares the security schemes its
// operations name, and no operation names one that is not declared; the
// customs API offers bearer tokens or mutual TLS on every operation that
// does not opt out (the token endpoint, the document itself), and the
// partner document compiles as before.
func TestSecuritySchemes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		doc         []byte
		wantSchemes map[string]string // scheme -> type
		wantDefault [][]string        // the top-level requirement alternatives
		open        []Operation       // operations with "security": []
	}{
		{"customs.json", Customs, map[string]string{"bearer": "http", "mutualTLS": "mutualTLS"}, [][]string{{"bearer"}, {"mutualTLS"}},
			[]Operation{{"/oauth/token", "POST"}, {"/customs/v1/openapi.json", "GET"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewContract(tc.name, tc.doc); err != nil {
				t.Fatal(err)
			}
			var d struct {
				Security   []map[string][]string `json:"security"`
				Components struct {
					SecuritySchemes map[string]struct {
						Type string `json:"type"`
					} `json:"securitySchemes"`
				} `json:"components"`
				Paths map[string]map[string]struct {
					Security *[]map[string][]string `json:"security"`
				} `json:"paths"`
			}
			if err := json.Unmarshal(tc.doc, &d); err != nil {
				t.Fatal(err)
			}
			for name, typ := range tc.wantSchemes {
				if got := d.Components.SecuritySchemes[name].Type; got != typ {
					t.Errorf("scheme %s has type %q, want %q", name, got, typ)
				}
			}
			var alts [][]string
			for _, req := range d.Security {
				var names []string
				for n := range req {
					if _, ok := d.Components.SecuritySchemes[n]; !ok {
						t.Errorf("the top-level security names %s, which is not declared", n)
					}
					names = append(names, n)
				}
				sort.Strings(names)
				alts = append(alts, names)
			}
			if !slices.EqualFunc(alts, tc.wantDefault, slices.Equal) {
				t.Errorf("top-level security %v, want %v", alts, tc.wantDefault)
			}
			for path, ops := range d.Paths {
				for method, op := range ops {
					if op.Security == nil {
						continue
					}
					if len(*op.Security) == 0 && !slices.Contains(tc.open, Operation{path, strings.ToUpper(method)}) {
						t.Errorf("%s %s opts out of authentication", method, path)
					}
					for _, req := range *op.Security {
						for n := range req {
							if _, ok := d.Components.SecuritySchemes[n]; !ok {
								t.Errorf("%s %s names scheme %s, which is not declared", method, path, n)
							}
						}
					}
				}
			}
		})
	}
	if _, err := NewContract("partner.json", Partner); err != nil {
		t.Fatal(err)
	}
}
