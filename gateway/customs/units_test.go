package customs

import (
	"encoding/csv"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/schema"

	"github.com/ecogate/ecogate/internal/testenv"
)

// TestToNano converts declared quantities exactly, rounds sub-nano
// remainders up, and refuses malformed values.
func TestToNano(t *testing.T) {
	tests := []struct {
		v, unit string
		want    int64
		err     string
	}{
		{"1", "KGM", 1e9, ""},
		{"0.5", "TNE", 500e9, ""},
		{"1250.50", "GRM", 1_250_500_000, ""},
		{"1", "LBR", 453_592_370, ""},
		{"2204.62", "LBR", 999_998_810_750, ""},
		{"250000", "MLT", 250e6, ""},
		{"2", "DZN", 24e9, ""},
		{"1", "MGM", 1000, ""},
		{"0.0000000001", "KGM", 1, ""}, // rounded up
		{"-1", "KGM", 0, "negative"},
		{"1e3", "KGM", 0, "not a decimal"},
		{"1.", "KGM", 0, "not a decimal"},
		{".5", "KGM", 0, "not a decimal"},
		{"", "KGM", 0, "empty"},
		{"99999999999", "TNE", 0, "too large"},
	}
	for _, tc := range tests {
		d, err := unitBase(tc.unit, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := toNano(tc.v, d.factor)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: error %v, want %q", tc.v, tc.unit, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %s = %d, %v; want %d", tc.v, tc.unit, got, err, tc.want)
		}
	}
}

// TestFromNano prints quantities back in a unit.
func TestFromNano(t *testing.T) {
	for _, tc := range []struct {
		n, f int64
		want string
	}{
		{600e9, 1e9, "600"}, {1_500_000_000, 1e6, "1500"}, {453_592_370, 453_592_370, "1"},
		{1, 1e9, "0.000000001"}, {9_000_000_000_000_000_000 / 1000, 1000, "9000000000000"}, {9_000_000_000_000_000_000, 1000, "9000000000000000"}, {0, 1e9, "0"},
	} {
		if got := fromNano(tc.n, tc.f); got != tc.want {
			t.Errorf("fromNano(%d, %d) = %s, want %s", tc.n, tc.f, got, tc.want)
		}
	}
}

// TestUnitRefusals: units Rec 20 gives no conversion to are refused with
// the reason; unknown and deleted codes too.
func TestUnitRefusals(t *testing.T) {
	cl := loadRec20(t)
	for _, tc := range []struct{ from, to, want string }{
		{"KGM", "LTR", "KGM is a unit of mass and LTR a unit of volume"},
		{"H87", "C62", "Rec 20 defines no conversion"},
		{"PR", "C62", "Rec 20 defines no conversion"},
		{"SET", "C62", "Rec 20 defines no conversion"},
		{"MTR", "MTQ", "MTR is a unit of length and MTQ a unit of volume"},
	} {
		df, err1 := unitBase(tc.from, cl)
		dt, err2 := unitBase(tc.to, cl)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if df.base == dt.base {
			t.Errorf("%s and %s convert", tc.from, tc.to)
			continue
		}
		if err := convertError(tc.from, tc.to, df, dt); !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
	if cl != nil {
		if _, err := unitBase("XYZ", cl); err == nil || !strings.Contains(err.Error(), "not a UN/ECE Rec 20 code") {
			t.Errorf("XYZ: %v", err)
		}
	}
}

func loadRec20(t *testing.T) *schema.CodeLists {
	cl, err := schema.LoadCodeLists("../../../shared/codelists")
	if err != nil {
		t.Logf("full code lists not available (%v): built-in lists", err)
		return nil
	}
	return cl
}

// TestUnitTableMatchesRec20 checks every factor of the conversion table
// against the ConversionFactor column of the Rec 20 file (skipped when the
// shared code lists are not present).
func TestUnitTableMatchesRec20(t *testing.T) {
	f, err := os.Open(testenv.Shared(t, "codelists", "unece-rec20-units.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	factor := map[string]string{}
	for _, r := range rows[1:] {
		factor[r[1]] = r[6]
	}
	for code, d := range units {
		raw, ok := factor[code]
		if !ok {
			t.Errorf("%s is not in Rec 20", code)
			continue
		}
		want, ok := parseRec20Factor(raw, d.base)
		if !ok {
			t.Errorf("%s: cannot read Rec 20 factor %q", code, raw)
			continue
		}
		got := new(big.Rat).SetFrac64(d.factor, nano)
		// Rec 20 expresses volumes in m³ and masses in kg; LTR etc. are
		// stated in m³ already.
		if got.Cmp(want) != 0 {
			t.Errorf("%s: table factor %s, Rec 20 %q = %s", code, got.FloatString(9), raw, want.FloatString(9))
		}
	}
}

// parseRec20Factor reads factors such as "10⁻³ kg", "0,453 592 37 kg",
// "1,016 047 x 10³ kg", "m³", "12".
func parseRec20Factor(s, base string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	for _, u := range []string{" kg", " m³", " m", "kg", "m³", "m"} {
		if strings.HasSuffix(s, u) {
			s = strings.TrimSpace(strings.TrimSuffix(s, u))
			break
		}
	}
	if s == "" {
		return big.NewRat(1, 1), true
	}
	mant, exp := s, ""
	if i := strings.Index(s, "10"); i >= 0 && (i == 0 || strings.Contains(s, "x")) {
		if strings.Contains(s, "x") {
			parts := strings.SplitN(s, "x", 2)
			mant, exp = strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		} else {
			mant, exp = "1", s
		}
	}
	mant = strings.ReplaceAll(strings.ReplaceAll(mant, " ", ""), ",", ".")
	r, ok := new(big.Rat).SetString(mant)
	if !ok {
		return nil, false
	}
	if exp != "" {
		sup := map[rune]rune{'⁰': '0', '¹': '1', '²': '2', '³': '3', '⁴': '4', '⁵': '5', '⁶': '6', '⁷': '7', '⁸': '8', '⁹': '9', '⁻': '-'}
		e := strings.TrimPrefix(exp, "10")
		var b strings.Builder
		for _, c := range e {
			b.WriteRune(sup[c])
		}
		n, ok := new(big.Int).SetString(b.String(), 10)
		if !ok {
			return nil, false
		}
		p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), new(big.Int).Abs(n), nil))
		if n.Sign() < 0 {
			p.Inv(p)
		}
		r.Mul(r, p)
	}
	return r, true
}
