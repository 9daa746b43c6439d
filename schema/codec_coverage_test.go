package schema

import (
	"reflect"
	"sort"
	"testing"
)

// TestFixturesUseEveryField proves the golden fixtures are complete: every
// field of the dataset (every element and attribute reachable from
// CertificateOfOrigin) holds a value in at least one fixture, so the round
// trip and XSD tests exercise all of them.
func TestFixturesUseEveryField(t *testing.T) {
	used := map[string]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		ti, err := infoOf(v.Type())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ti.all {
			fv := v.Field(f.index)
			key := v.Type().Name() + "." + f.goName
			switch {
			case f.repeated:
				if fv.Len() > 0 {
					used[key] = true
				}
				for i := 0; i < fv.Len(); i++ {
					if f.val == valStruct {
						walk(fv.Index(i))
					}
				}
			case f.pointer:
				if !fv.IsNil() {
					used[key] = true
					walk(fv.Elem())
				}
			case f.val == valStruct:
				used[key] = true
				walk(fv)
			default:
				if !isEmpty(fv, f) {
					used[key] = true
				}
			}
		}
	}
	for name, b := range validFixtures(t) {
		walk(reflect.ValueOf(mustDecodeXML(t, name, b)).Elem())
	}
	var missing []string
	var all func(t reflect.Type, seen map[reflect.Type]bool)
	all = func(typ reflect.Type, seen map[reflect.Type]bool) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		ti, err := infoOf(typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ti.all {
			if !used[typ.Name()+"."+f.goName] {
				missing = append(missing, typ.Name()+"."+f.goName)
			}
			if f.val == valStruct {
				all(f.typ, seen)
			}
		}
	}
	all(reflect.TypeFor[Certificate](), map[reflect.Type]bool{})
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no fixture gives a value to: %v", missing)
	}
}
