package customs

import (
	"fmt"
	"math/big"
	"math/bits"
	"strconv"

	"github.com/ecogate/ecogate/schema"
)

// Quantities are compared in fixed point: int64 counts of 10⁻⁹ of a base
// unit (nano base units). Every factor in the table below is an exact
// multiple of 10⁻⁹, so converting a declared quantity is exact up to nine
// decimal places; a quantity with more decimals is rounded up (the
// declaration then uses slightly more, never less). The largest quantity is
// about 9.2 × 10⁹ base units (9.2 million tonnes, 9.2 billion pieces).
const nano = 1_000_000_000

// unitDef is one Rec 20 unit that converts: its base unit and how many
// nano base units one unit is.
type unitDef struct {
	base   string
	factor int64 // nano base units per unit
	dim    string
}

// units is the conversion table. Factors are the ConversionFactor column
// of UN/ECE Recommendation 20 (Annex II/III, file
// ../shared/codelists/unece-rec20-units.csv, uncefact/vocab-codes commit
// afbf662), written as the factor to the base unit of the dimension:
// kilogram for mass, cubic metre for volume, metre for length, "one"
// (C62) for counts. TestUnitTableMatchesRec20 checks each factor against
// that file when it is present.
//
// Units of count that Rec 20 gives no factor to (H87 piece, NAR number of
// articles, SET, DPC, DPR, TPR, ...) do not convert: they compare only with
// themselves. PR (pair) carries a factor of 2 in Rec 20, but whether a
// declared "piece" is one shoe or one pair is exactly the ambiguity a
// customs check must not resolve by guessing, so PR is kept apart as
// well (it compares only with PR).
var units = map[string]unitDef{
	// mass, base KGM (kilogram)
	"KGM": {"KGM", 1 * nano, "mass"},              // kg
	"GRM": {"KGM", 1_000_000, "mass"},             // 10⁻³ kg
	"MGM": {"KGM", 1_000, "mass"},                 // 10⁻⁶ kg
	"TNE": {"KGM", 1_000 * nano, "mass"},          // 10³ kg
	"KTN": {"KGM", 1_000_000 * nano, "mass"},      // 10⁶ kg
	"LBR": {"KGM", 453_592_370, "mass"},           // 0,453 592 37 kg
	"ONZ": {"KGM", 28_349_520, "mass"},            // 2,834 952 x 10⁻² kg
	"LTN": {"KGM", 1_016_047 * 1_000_000, "mass"}, // 1,016 047 x 10³ kg
	"STN": {"KGM", 907_184_700_000, "mass"},       // 0,907184 7 x 10³ kg
	// volume, base MTQ (cubic metre)
	"MTQ": {"MTQ", 1 * nano, "volume"},    // m³
	"LTR": {"MTQ", 1_000_000, "volume"},   // 10⁻³ m³
	"DMQ": {"MTQ", 1_000_000, "volume"},   // 10⁻³ m³
	"MLT": {"MTQ", 1_000, "volume"},       // 10⁻⁶ m³
	"CMQ": {"MTQ", 1_000, "volume"},       // 10⁻⁶ m³
	"CLT": {"MTQ", 10_000, "volume"},      // 10⁻⁵ m³
	"DLT": {"MTQ", 100_000, "volume"},     // 10⁻⁴ m³
	"HLT": {"MTQ", 100_000_000, "volume"}, // 10⁻¹ m³
	"GLL": {"MTQ", 3_785_412, "volume"},   // 3,785 412 x 10⁻³ m³ (US gallon)
	"GLI": {"MTQ", 4_546_092, "volume"},   // 4,546 092 x 10⁻³ m³ (UK gallon)
	// length, base MTR (metre)
	"MTR": {"MTR", 1 * nano, "length"},     // m
	"CMT": {"MTR", 10_000_000, "length"},   // 10⁻² m
	"MMT": {"MTR", 1_000_000, "length"},    // 10⁻³ m
	"DMT": {"MTR", 100_000_000, "length"},  // 10⁻¹ m
	"KMT": {"MTR", 1_000 * nano, "length"}, // 10³ m
	"INH": {"MTR", 25_400_000, "length"},   // 25,4 x 10⁻³ m
	"FOT": {"MTR", 304_800_000, "length"},  // 0,304 8 m
	"YRD": {"MTR", 914_400_000, "length"},  // 0,914 4 m
	// count, base C62 (one)
	"C62": {"C62", 1 * nano, "count"},     // 1
	"DZN": {"C62", 12 * nano, "count"},    // 12
	"GRO": {"C62", 144 * nano, "count"},   // 144
	"MIL": {"C62", 1_000 * nano, "count"}, // 10³
}

// unitBase returns the base unit and factor of code. A Rec 20 code without
// a conversion is its own base with factor 10⁹ (it compares only with
// itself); ok is false for a code that Rec 20 does not hold or has deleted.
func unitBase(code string, cl *schema.CodeLists) (unitDef, error) {
	if d, ok := units[code]; ok {
		return d, nil
	}
	st, full := cl.Unit(code)
	switch {
	case st == schema.CodeDeleted:
		return unitDef{}, fmt.Errorf("unit %q is deleted from UN/ECE Rec 20; use its replacement", code)
	case st == schema.CodeUnknown && full:
		return unitDef{}, fmt.Errorf("unit %q is not a UN/ECE Rec 20 code", code)
	case st == schema.CodeUnknown && !validCodeForm(code):
		return unitDef{}, fmt.Errorf("unit %q is not a UN/ECE Rec 20 code (2 or 3 upper-case letters or digits)", code)
	}
	return unitDef{base: code, factor: nano, dim: code}, nil
}

func validCodeForm(s string) bool {
	if len(s) < 2 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// convertError says why a quantity cannot be compared with the
// certificate's.
func convertError(from, to string, df, dt unitDef) error {
	why := "UN/ECE Rec 20 defines no conversion between them"
	if df.dim != df.base || dt.dim != dt.base { // at least one converts within a dimension
		if df.dim != dt.dim && units[from].dim != "" && units[to].dim != "" {
			why = fmt.Sprintf("%s is a unit of %s and %s a unit of %s", from, df.dim, to, dt.dim)
		}
	}
	return fmt.Errorf("cannot convert %s to %s, the certificate's unit for this item: %s; declare the quantity in %s", from, to, why, to)
}

// toNano converts a decimal value in a unit with factor f (nano base units
// per unit) to nano base units, rounding up any remainder. It refuses
// negative, malformed and too large values.
func toNano(v string, f int64) (int64, error) {
	if v == "" {
		return 0, fmt.Errorf("value is empty")
	}
	var mant uint64
	scale := 0
	dot := false
	digits := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.' && !dot && i > 0 && i < len(v)-1:
			dot = true
		case c >= '0' && c <= '9':
			if mant > (1<<63-1)/10 {
				return 0, fmt.Errorf("%q is too large", v)
			}
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				scale++
			}
		case c == '-':
			return 0, fmt.Errorf("%q is negative", v)
		default:
			return 0, fmt.Errorf("%q is not a decimal number (digits with an optional '.' and fraction, e.g. 1250.50)", v)
		}
	}
	if digits == 0 || scale > 18 {
		return 0, fmt.Errorf("%q is not a decimal number with at most 18 decimals", v)
	}
	hi, lo := bits.Mul64(mant, uint64(f))
	div := uint64(1)
	for range scale {
		div *= 10
	}
	if hi >= div {
		return 0, fmt.Errorf("%q is too large", v)
	}
	q, r := bits.Div64(hi, lo, div)
	if r != 0 {
		q++
	}
	if q > 1<<63-1 {
		return 0, fmt.Errorf("%q is too large", v)
	}
	return int64(q), nil
}

// fromNano writes n nano base units as a decimal in a unit with factor f,
// with up to 9 decimals and no trailing zeros (rounded down).
func fromNano(n, f int64) string {
	if f <= 0 {
		return "0"
	}
	if n < 0 {
		return "-" + fromNano(-n, f)
	}
	// value = n / f, printed with 9 decimals: q = n * 10⁹ / f.
	hi, lo := bits.Mul64(uint64(n), nano)
	var ip, fp uint64
	if hi < uint64(f) {
		q, _ := bits.Div64(hi, lo, uint64(f))
		ip, fp = q/nano, q%nano
	} else {
		q := new(big.Int).Mul(big.NewInt(n), big.NewInt(nano))
		q.Quo(q, big.NewInt(f))
		r := new(big.Int)
		q.QuoRem(q, big.NewInt(nano), r)
		b := q.Append(nil, 10)
		return string(appendFrac(b, r.Uint64()))
	}
	var buf [40]byte
	b := strconv.AppendUint(buf[:0], ip, 10)
	return string(appendFrac(b, fp))
}

// appendFrac appends ".ddddddddd" for fp (0 <= fp < 10⁹) without trailing
// zeros, or nothing when fp is 0.
func appendFrac(b []byte, fp uint64) []byte {
	if fp == 0 {
		return b
	}
	var d [9]byte
	for i := 8; i >= 0; i-- {
		d[i] = byte('0' + fp%10)
		fp /= 10
	}
	n := 9
	for n > 0 && d[n-1] == '0' {
		n--
	}
	return append(append(b, '.'), d[:n]...)
}
