package issuance

import (
	"slices"
	"testing"
)

// Worked examples written from the agreements' rules (RCEP Art. 3.5,
// ATIGA Art. 29, AIFTA Rule 4; standards.md b2): values in minor units.
func TestComputeRVC(t *testing.T) {
	cases := []struct {
		name               string
		cs                 CostSheet
		threshold          int
		down, up           Percent
		downMeets, upMeets bool
	}{
		// FOB 1000, VNM 600: build-down (1000-600)/1000 = 40.00%, exactly
		// the threshold: meets. VOM 200 + labour 100 + overheads 50 +
		// profit 50 = 400: build-up 40.00%.
		{"RCEP at the threshold", CostSheet{Price: 1000, NonOriginatingMaterials: 600, OriginatingMaterials: 200, Labour: 100, Overheads: 50, Profit: 50}, 40, 4000, 4000, true, true},
		// VNM 601: 39.90% by build-down, misses; build-up still 40%.
		{"one unit over", CostSheet{Price: 1000, NonOriginatingMaterials: 601, OriginatingMaterials: 200, Labour: 100, Overheads: 50, Profit: 50}, 40, 3990, 4000, false, true},
		// FOB 3, VNM 1: 66.666..% shows 66.66 (rounded down), meets.
		{"rounding down", CostSheet{Price: 3, NonOriginatingMaterials: 1, OriginatingMaterials: 1}, 40, 6666, 3333, true, false},
		// AIFTA 35%: FOB 200000, VNM 130001: 34.99%: misses by build-down.
		{"AIFTA 35 just missed", CostSheet{Price: 200000, NonOriginatingMaterials: 130001, OriginatingMaterials: 69999}, 35, 3499, 3499, false, false},
		// Everything non-originating.
		{"zero RVC", CostSheet{Price: 500, NonOriginatingMaterials: 500}, 40, 0, 0, false, false},
		// VNM above FOB (a wrong cost sheet): negative, shown as such.
		{"VNM above FOB", CostSheet{Price: 100, NonOriginatingMaterials: 150}, 40, -5000, 0, false, false},
	}
	for _, c := range cases {
		r, err := ComputeRVC(c.cs, c.threshold)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.BuildDown != c.down || r.BuildUp != c.up || r.BuildDownMeets != c.downMeets || r.BuildUpMeets != c.upMeets {
			t.Errorf("%s: down %s (%v) up %s (%v), want %s (%v) %s (%v)", c.name, r.BuildDown, r.BuildDownMeets, r.BuildUp, r.BuildUpMeets, c.down, c.downMeets, c.up, c.upMeets)
		}
	}
	if _, err := ComputeRVC(CostSheet{Price: 0}, 40); err == nil {
		t.Error("zero price accepted")
	}
	if got := Percent(4012).String(); got != "40.12%" {
		t.Errorf("Percent: %s", got)
	}
}

func TestComputeCTC(t *testing.T) {
	cases := []struct {
		name    string
		product string
		nom     []string
		met     map[Level]bool
	}{
		// Fan 8414.51 from a motor 8501.10 (other chapter): every level changes.
		{"change of chapter", "84145110", []string{"850110"}, map[Level]bool{CC: true, CTH: true, CTSH: true}},
		// Fan 8414.51 from parts of fans 8414.90: same heading, other subheading.
		{"subheading only", "84145110", []string{"841490"}, map[Level]bool{CC: false, CTH: false, CTSH: true}},
		// Pump 8413.70 from compressor parts 8414.90: same chapter.
		{"heading, not chapter", "84137010", []string{"841490"}, map[Level]bool{CC: false, CTH: true, CTSH: true}},
		// One offending material spoils the level for all.
		{"one offends", "61091000", []string{"520512", "610990"}, map[Level]bool{CC: false, CTH: false, CTSH: true}},
		// No non-originating material: every level met.
		{"none", "61091000", nil, map[Level]bool{CC: true, CTH: true, CTSH: true}},
		// Dots in codes are ignored.
		{"dotted", "8414.51.10", []string{"8414.51"}, map[Level]bool{CC: false, CTH: false, CTSH: false}},
	}
	for _, c := range cases {
		for _, r := range ComputeCTC(c.product, c.nom) {
			if r.Met != c.met[r.Level] {
				t.Errorf("%s: %s met %v, want %v (offending %v)", c.name, r.Level, r.Met, c.met[r.Level], r.Offending)
			}
		}
	}
}

func TestDetermine(t *testing.T) {
	line := func(crit string, mats []Material, cs *CostSheet) GoodsLine {
		return GoodsLine{HS: "84145110", Criterion: crit, Materials: mats, CostSheet: cs, FOB: 1000}
	}
	cn := Material{HS: "850110", OriginCountry: "CN", Value: 300} // RCEP party, not ATIGA or AIFTA
	us := Material{HS: "841490", OriginCountry: "US", Value: 300} // party to none: same heading
	in := Material{HS: "392690", OriginCountry: "IN", Value: 200}
	good := &CostSheet{Price: 1000, NonOriginatingMaterials: 300, OriginatingMaterials: 200, Labour: 200, Overheads: 100, Profit: 100}
	cases := []struct {
		name, agreement string
		g               GoodsLine
		psr             []ProductRule
		want            Support
		rule            string
	}{
		{"RCEP RVC 70%", "RCEP", line("RVC", []Material{us, in}, good), nil, Consistent, "RVC 40% or CTH"},
		// Under RCEP, CN is a party: the motor is originating, so WO... no:
		// WO needs no non-originating material at all; US parts are.
		{"RCEP WO with US parts", "RCEP", line("WO", []Material{us, in}, good), nil, Inconsistent, "RVC 40% or CTH"},
		{"RCEP CTH with same-heading US parts", "RCEP", line("CTH", []Material{us}, good), nil, Inconsistent, "RVC 40% or CTH"},
		{"RCEP CTSH with same-heading US parts", "RCEP", line("CTSH", []Material{us}, good), nil, Consistent, "RVC 40% or CTH"},
		{"RCEP CTC uses the rule's level (CTH)", "RCEP", line("CTC", []Material{us}, good), nil, Inconsistent, "RVC 40% or CTH"},
		{"RCEP CN motor is originating: PE", "RCEP", line("PE", []Material{cn, in}, good), nil, Consistent, "RVC 40% or CTH"},
		{"ATIGA CN motor is not originating: CC", "ATIGA", line("CC", []Material{cn}, good), nil, Consistent, "RVC 40% or CTH"},
		{"AIFTA CTSH + RVC 35%", "AIFTA", line("RVC 35% + CTSH", []Material{cn, in}, good), nil, Consistent, "RVC 35% and CTSH"},
		{"AIFTA RVC low", "AIFTA", line("RVC 35% + CTSH", []Material{cn}, &CostSheet{Price: 1000, NonOriginatingMaterials: 700}), nil, Inconsistent, "RVC 35% and CTSH"},
		{"RVC without cost sheet", "RCEP", line("RVC", nil, nil), nil, NotComputed, "RVC 40% or CTH"},
		{"claimed percent above the rule", "ATIGA", line("RVC 75%", []Material{us, in}, good), nil, Inconsistent, "RVC 40% or CTH"},
		{"specific process", "ATIGA", line("SP", nil, nil), nil, NotComputed, "RVC 40% or CTH"},
		// A product-specific rule for heading 8414 under RCEP: CC only.
		{"PSR override", "RCEP", line("CTC", []Material{cn}, good), []ProductRule{{Agreement: "RCEP", HS: "84", Rule: OriginRule{CTC: CTSH}}, {Agreement: "RCEP", HS: "8414", Rule: OriginRule{CTC: CC}}}, Consistent, "CC"},
	}
	for _, c := range cases {
		ct := &Content{Agreement: c.agreement, Goods: []GoodsLine{c.g}}
		f := Determine(ct, "IN", c.psr)
		if len(f) != 1 {
			t.Fatalf("%s: %d findings", c.name, len(f))
		}
		if f[0].Support != c.want || f[0].Rule.String() != c.rule {
			t.Errorf("%s: %s under %q, want %s under %q (notes %v)", c.name, f[0].Support, f[0].Rule, c.want, c.rule, f[0].Notes)
		}
	}
	// The cost sheet disagreeing with the raw materials is noted.
	ct := &Content{Agreement: "RCEP", Goods: []GoodsLine{line("RVC", []Material{us}, &CostSheet{Price: 1000, NonOriginatingMaterials: 100})}}
	if f := Determine(ct, "IN", nil); len(f[0].Notes) == 0 || !slices.Equal(f[0].NonOriginating, []string{"841490"}) {
		t.Errorf("mismatch not noted: %+v", f[0])
	}
}

func TestNextTable(t *testing.T) {
	for _, s := range States {
		for _, a := range Actions {
			for _, r := range Roles {
				tr, ok := Lookup(s, a)
				got, err := Next(s, a, r, "")
				switch {
				case ok && slices.Contains(tr.Roles, r) && !tr.Reason:
					if err != nil || got != tr.To {
						t.Errorf("%s %s by %s: %s %v", s, a, r, got, err)
					}
				case ok && slices.Contains(tr.Roles, r):
					if !errorsIs(err, ErrInvalid) {
						t.Errorf("%s %s by %s without a reason: %v", s, a, r, err)
					}
				case err == nil:
					t.Errorf("%s %s by %s accepted", s, a, r)
				}
			}
		}
	}
	for _, s := range States {
		if s.Final() {
			for _, tr := range Transitions {
				if tr.From == s {
					t.Errorf("final state %s has a move %s", s, tr.Action)
				}
			}
		}
	}
}

func TestValidIdentifiers(t *testing.T) {
	for _, c := range []struct {
		v  string
		ok bool
	}{{"0123456789", true}, {"AAACE1234F", true}, {"AAACE1234", false}, {"aaace1234f", false}, {"AAAC11234F", false}, {"AAACE1234FF", false}} {
		if err := ValidIEC(c.v); (err == nil) != c.ok {
			t.Errorf("IEC %q: %v", c.v, err)
		}
	}
	for _, c := range []struct {
		v  string
		ok bool
	}{{"27AAPFU0939F1ZV", true}, {"27AAACE1234F1Z6", true}, {"27AAPFU0939F1ZW", false}, {"27AAPFU0939F1YV", false}, {"2XAAPFU0939F1ZV", false}, {"27AAPFU0939F1Z", false}} {
		if err := ValidGSTIN(c.v); (err == nil) != c.ok {
			t.Errorf("GSTIN %q: %v", c.v, err)
		}
	}
	for _, c := range []struct {
		v  string
		ok bool
	}{{"12345678", true}, {"8414.51.10", true}, {"841451", false}, {"77010000", false}, {"9901000x", false}} {
		if (validHS8(c.v) == "") != c.ok {
			t.Errorf("HS %q: %s", c.v, validHS8(c.v))
		}
	}
	for _, c := range []struct {
		v  string
		ok bool
	}{{"1", true}, {"0.5", true}, {"0", false}, {"-1", false}, {"1.", false}, {"", false}, {"1e3", false}} {
		if positiveDecimal(c.v) != c.ok {
			t.Errorf("quantity %q", c.v)
		}
	}
}
