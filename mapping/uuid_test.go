package mapping

import (
	"crypto/sha1"
	"os"
	"testing"
)

// TestHashLeavesMatchesWalkLeaves: the buffer-reusing hashLeaves feeds the
// hash exactly the bytes walkLeaves gives, so content UUIDs never change.
func TestHashLeavesMatchesWalkLeaves(t *testing.T) {
	for _, f := range []string{"testdata/india-ecoo/aifta-issued.json", "testdata/india-ecoo/nonpref-application.json", "testdata/example/record.json"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := decodeJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, node := range []any{tree, []any{tree, nil, "x", []any{}}, nil} {
			want := sha1.New()
			walkLeaves(node, "", func(path, v string) {
				want.Write([]byte(path))
				want.Write([]byte{0})
				want.Write([]byte(v))
				want.Write([]byte{0})
			})
			got := sha1.New()
			hashLeaves(got, node, nil)
			if string(got.Sum(nil)) != string(want.Sum(nil)) {
				t.Errorf("%s: hashLeaves differs from walkLeaves", f)
			}
		}
	}
}
