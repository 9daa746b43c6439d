package portal

import (
	"fmt"

	"github.com/ecogate/ecogate/issuance"
)

// More template functions for the workflow pages (added to funcs before
// any template is parsed).
func init() {
	funcs["amt"] = func(minor int64) string { return amount(minor, true) }
	funcs["amt0"] = func(minor int64) string { return amount(minor, false) }
	funcs["probs"] = func(m map[string][]string, format string, args ...any) []string {
		return m[fmt.Sprintf(format, args...)]
	}
	// rows pads a line's materials with one empty row to fill in.
	funcs["rows"] = func(ms []issuance.Material) []issuance.Material {
		return append(append([]issuance.Material(nil), ms...), issuance.Material{})
	}
	funcs["cs"] = func(g issuance.GoodsLine) issuance.CostSheet {
		if g.CostSheet == nil {
			return issuance.CostSheet{Basis: issuance.BasisFOB}
		}
		return *g.CostSheet
	}
	funcs["finding"] = func(fs []issuance.Finding, i int) *issuance.Finding {
		for k := range fs {
			if fs[k].Line == i+1 {
				return &fs[k]
			}
		}
		return nil
	}
	funcs["dict"] = func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	}
	funcs["list"] = func(s ...string) []string { return s }
	funcs["add"] = func(a, b int) int { return a + b }
	funcs["csfield"] = func(cs issuance.CostSheet, k string) int64 {
		for _, x := range costSheetFields(&cs) {
			if x.k == k {
				return *x.v
			}
		}
		return 0
	}
	funcs["editable"] = func(st issuance.State) bool { return st == issuance.StateDraft || st == issuance.StateReturned }
	funcs["open"] = func(st issuance.State) bool { return !st.Final() }
}
