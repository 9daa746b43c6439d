package issuance

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ecogate/ecogate/schema"
)

// Origin determination: arithmetic the officer sees beside the criterion
// the exporter claimed, never a decision. Regional value content (RVC) by
// the build-down (indirect) and build-up (direct) formulas of RCEP
// Art. 3.5 and ATIGA Art. 29:
//
//	build-down: (FOB - VNM) / FOB x 100
//	build-up:   (VOM + labour + overheads + profit + other costs) / FOB x 100
//
// and change of tariff classification (CTC) at chapter (CC, 2 digits),
// heading (CTH, 4) or subheading (CTSH, 6): every non-originating
// material's HS code must differ from the product's at that level.

// Level is a CTC level.
type Level string

// CTC levels.
const (
	CC   Level = "CC"   // change of chapter: 2 digits
	CTH  Level = "CTH"  // change of tariff heading: 4 digits
	CTSH Level = "CTSH" // change of tariff subheading: 6 digits
)

// Levels lists the CTC levels from the coarsest.
var Levels = []Level{CC, CTH, CTSH}

// Digits is the number of HS digits the level compares.
func (l Level) Digits() int {
	switch l {
	case CC:
		return 2
	case CTH:
		return 4
	case CTSH:
		return 6
	}
	return 0
}

// OriginRule is a rule of origin for a product: an RVC threshold
// (percent; 0 for none) and a CTC level ("" for none); Both says both are
// required (AIFTA: RVC 35% and CTSH), else either suffices.
type OriginRule struct {
	RVC    int    `json:"rvc,omitempty"`
	CTC    Level  `json:"ctc,omitempty"`
	Both   bool   `json:"both,omitempty"`
	Source string `json:"source"`
}

func (r OriginRule) String() string {
	var parts []string
	if r.RVC > 0 {
		parts = append(parts, fmt.Sprintf("RVC %d%%", r.RVC))
	}
	if r.CTC != "" {
		parts = append(parts, string(r.CTC))
	}
	sep := " or "
	if r.Both {
		sep = " and "
	}
	return strings.Join(parts, sep)
}

// GeneralRules are the agreements' general rules (the rule for a product
// that no product-specific rule covers), by profile name.
var GeneralRules = map[string]OriginRule{
	// RCEP Art. 3.4 and Annex 3A: most lines read "RVC40 or CTH".
	"RCEP": {RVC: 40, CTC: CTH, Source: "RCEP Art. 3.4, Annex 3A (RVC40 or CTH)"},
	// ATIGA Art. 28(2): RVC not less than 40% or a change at the 4-digit level.
	"ATIGA":   {RVC: 40, CTC: CTH, Source: "ATIGA Art. 28(2) general rule (RVC40 or CTH)"},
	"AANZFTA": {RVC: 40, CTC: CTH, Source: "AANZFTA Ch. 3 Art. 3.3 general rule (RVC40 or CTH)"},
	"AKFTA":   {RVC: 40, CTC: CTH, Source: "AKFTA Annex 3 Rule 4 general rule (RVC40 or CTH)"},
	"ACFTA":   {RVC: 40, CTC: CTH, Source: "ACFTA Rules of Origin Rule 4 (RVC40 or CTH)"},
	// AIFTA Rule 4: RVC not less than 35% and CTSH.
	"AIFTA": {RVC: 35, CTC: CTSH, Both: true, Source: "AIFTA Rules of Origin Rule 4 (RVC35 and CTSH)"},
}

// ProductRule overrides the general rule of an agreement for the products
// whose HS code starts with HS (2, 4 or 6 digits); the longest prefix wins.
type ProductRule struct {
	Agreement string     `json:"agreement" yaml:"agreement"`
	HS        string     `json:"hs" yaml:"hs"`
	Rule      OriginRule `json:"rule" yaml:"rule"`
}

// RuleFor returns the rule for a product of hs under agreement (a profile
// name): the product-specific rule with the longest matching prefix, else
// the general rule; false when the agreement has neither.
func RuleFor(agreement, hs string, psr []ProductRule) (OriginRule, bool) {
	best, bestLen := OriginRule{}, -1
	for _, r := range psr {
		if strings.EqualFold(r.Agreement, agreement) && strings.HasPrefix(hs, r.HS) && len(r.HS) > bestLen {
			best, bestLen = r.Rule, len(r.HS)
		}
	}
	if bestLen >= 0 {
		return best, true
	}
	r, ok := GeneralRules[strings.ToUpper(agreement)]
	return r, ok
}

// Percent is a percentage in hundredths, rounded down (4012 is 40.12%).
// Rounding down never shows a product as meeting a threshold it misses.
type Percent int64

func (p Percent) String() string { return fmt.Sprintf("%d.%02d%%", p/100, p%100) }

// RVCResult is the regional value content of one product, from its cost
// sheet.
type RVCResult struct {
	Basis Basis `json:"basis"`
	// Price is the FOB (or ex-works) price the percentages divide by.
	Price int64 `json:"price"`
	// VNM is the value of non-originating materials; VOM the value of
	// originating materials plus labour, overheads, profit and other
	// costs (the build-up numerator).
	VNM       int64   `json:"vnm"`
	VOM       int64   `json:"vom"`
	BuildDown Percent `json:"buildDown"`
	BuildUp   Percent `json:"buildUp"`
	Threshold int     `json:"threshold"`
	// BuildDownMeets and BuildUpMeets compare exactly (no rounding):
	// (FOB - VNM) x 100 >= threshold x FOB.
	BuildDownMeets bool `json:"buildDownMeets"`
	BuildUpMeets   bool `json:"buildUpMeets"`
}

// ComputeRVC computes both formulas for a cost sheet against threshold
// (percent). It fails on a zero price.
func ComputeRVC(cs CostSheet, threshold int) (RVCResult, error) {
	if cs.Price <= 0 {
		return RVCResult{}, fmt.Errorf("the cost sheet's price is %d; RVC needs a price above 0", cs.Price)
	}
	r := RVCResult{Basis: cs.Basis, Price: cs.Price, VNM: cs.NonOriginatingMaterials, Threshold: threshold}
	if r.Basis == "" {
		r.Basis = BasisFOB
	}
	r.VOM = cs.OriginatingMaterials + cs.Labour + cs.Overheads + cs.Profit + cs.Other
	down := cs.Price - cs.NonOriginatingMaterials
	r.BuildDown = percentOf(down, cs.Price)
	r.BuildUp = percentOf(r.VOM, cs.Price)
	t := int64(threshold)
	r.BuildDownMeets = down*100 >= t*cs.Price
	r.BuildUpMeets = r.VOM*100 >= t*cs.Price
	return r, nil
}

// percentOf is num/den in hundredths of a percent, rounded toward minus
// infinity. Amounts are bounded by maxAmount, so num x 10^4 fits.
func percentOf(num, den int64) Percent {
	v := num * 10000
	q := v / den
	if v%den != 0 && (v < 0) != (den < 0) {
		q--
	}
	return Percent(q)
}

// CTCResult is the change-of-tariff-classification test at one level.
type CTCResult struct {
	Level Level `json:"level"`
	// Met is true when every non-originating material's code differs from
	// the product's at this level.
	Met bool `json:"met"`
	// Offending are the non-originating materials' codes that do not
	// change at this level.
	Offending []string `json:"offending,omitempty"`
}

// ComputeCTC tests the non-originating materials' HS codes against the
// product's at every level. Materials' codes must have 6 digits or more
// (checkComplete sees to it); a shorter one is offending at the levels it
// cannot show a change for.
func ComputeCTC(productHS string, nonOriginating []string) []CTCResult {
	p := schema.NormalizeHS(productHS)
	out := make([]CTCResult, 0, len(Levels))
	for _, l := range Levels {
		n := l.Digits()
		r := CTCResult{Level: l, Met: true}
		for _, m := range nonOriginating {
			m = schema.NormalizeHS(m)
			if len(m) < n || len(p) < n || m[:n] == p[:n] {
				r.Met = false
				r.Offending = append(r.Offending, m)
			}
		}
		out = append(out, r)
	}
	return out
}

// Support says whether the arithmetic is consistent with the claimed
// criterion. It informs the officer; it decides nothing.
type Support string

// Support values.
const (
	Consistent   Support = "consistent"   // the figures bear the claim out
	Inconsistent Support = "inconsistent" // the figures do not bear the claim out
	NotComputed  Support = "not-computed" // the claim is not one arithmetic can check (SP, DMI, ...) or data is missing
)

// Finding is the origin arithmetic for one product, shown beside the
// criterion the exporter claimed.
type Finding struct {
	Line      int         `json:"line"`
	HS        string      `json:"hs"`
	Claimed   string      `json:"claimed"`
	Rule      OriginRule  `json:"rule"`
	RuleKnown bool        `json:"ruleKnown"`
	RVC       *RVCResult  `json:"rvc,omitempty"`
	CTC       []CTCResult `json:"ctc"`
	// NonOriginating are the materials counted as non-originating (origin
	// outside the agreement's parties).
	NonOriginating []string `json:"nonOriginating,omitempty"`
	Support        Support  `json:"support"`
	Notes          []string `json:"notes,omitempty"`
}

// Determine computes a finding per goods line of c. exporting is this
// node's country (its materials are originating); psr overrides the
// general rules.
func Determine(c *Content, exporting string, psr []ProductRule) []Finding {
	prof := schema.ProfileByName(c.Agreement)
	out := make([]Finding, 0, len(c.Goods))
	for i, g := range c.Goods {
		f := Finding{Line: i + 1, HS: schema.NormalizeHS(g.HS), Claimed: g.Criterion}
		agr := c.Agreement
		if prof != nil {
			agr = prof.Name
		}
		f.Rule, f.RuleKnown = RuleFor(agr, f.HS, psr)
		if !f.RuleKnown {
			f.Notes = append(f.Notes, fmt.Sprintf("no rule of origin is configured for %q; figures are shown without a threshold", c.Agreement))
		}
		var sumNOM, sumOM int64
		for _, m := range g.Materials {
			if m.OriginCountry == exporting || prof != nil && prof.IsParty(m.OriginCountry) {
				sumOM += m.Value
				continue
			}
			f.NonOriginating = append(f.NonOriginating, m.HS)
			sumNOM += m.Value
		}
		f.CTC = ComputeCTC(f.HS, f.NonOriginating)
		if g.CostSheet != nil {
			r, err := ComputeRVC(*g.CostSheet, f.Rule.RVC)
			if err != nil {
				f.Notes = append(f.Notes, err.Error())
			} else {
				f.RVC = &r
				if r.Basis == BasisExWorks {
					f.Notes = append(f.Notes, "computed on the ex-works price; the agreements' formulas use FOB")
				}
				if len(g.Materials) > 0 && sumNOM != r.VNM {
					f.Notes = append(f.Notes, fmt.Sprintf("the cost sheet's non-originating materials (%d) differ from the raw materials from non-parties (%d)", r.VNM, sumNOM))
				}
				if len(g.Materials) > 0 && sumOM != g.CostSheet.OriginatingMaterials {
					f.Notes = append(f.Notes, fmt.Sprintf("the cost sheet's originating materials (%d) differ from the raw materials from parties (%d)", g.CostSheet.OriginatingMaterials, sumOM))
				}
			}
		}
		f.Support = support(&f, g.Criterion)
		out = append(out, f)
	}
	return out
}

// support compares the claim with the figures. Every part of a combined
// claim ("CTSH + RVC 35%") must be borne out.
func support(f *Finding, claimed string) Support {
	oc, err := schema.ParseOriginCriterion(claimed)
	if err != nil {
		f.Notes = append(f.Notes, "the claimed criterion cannot be read: "+err.Error())
		return NotComputed
	}
	res := Consistent
	for _, p := range oc.Parts {
		var s Support
		switch p.Code {
		case "WO", "PE":
			// Wholly obtained / produced entirely from originating
			// materials: no non-originating material may appear.
			s = Inconsistent
			if len(f.NonOriginating) == 0 {
				s = Consistent
			}
		case "CC", "CTH", "CTSH":
			s = ctcSupport(f, Level(p.Code))
		case "CTC":
			if f.Rule.CTC == "" {
				f.Notes = append(f.Notes, "CTC is claimed but the rule names no CTC level")
				s = NotComputed
			} else {
				s = ctcSupport(f, f.Rule.CTC)
			}
		case "RVC":
			t := f.Rule.RVC
			if p.Percent != "" {
				if v, err := strconv.ParseFloat(p.Percent, 64); err == nil && int(v) > t {
					t = int(v)
					f.Notes = append(f.Notes, fmt.Sprintf("checked against the claimed %s%%", p.Percent))
				}
			}
			switch {
			case f.RVC == nil:
				f.Notes = append(f.Notes, "RVC is claimed but there is no usable cost sheet")
				s = NotComputed
			case t == 0:
				s = NotComputed
			default:
				r, _ := ComputeRVC(CostSheet{Price: f.RVC.Price, NonOriginatingMaterials: f.RVC.VNM, OriginatingMaterials: f.RVC.VOM}, t)
				s = Inconsistent
				if r.BuildDownMeets || r.BuildUpMeets {
					s = Consistent
				}
			}
		default:
			s = NotComputed
		}
		res = worse(res, s)
	}
	return res
}

func ctcSupport(f *Finding, l Level) Support {
	i := slices.IndexFunc(f.CTC, func(c CTCResult) bool { return c.Level == l })
	if i >= 0 && f.CTC[i].Met {
		return Consistent
	}
	return Inconsistent
}

// worse keeps the weaker of two supports: inconsistent over not computed
// over consistent.
func worse(a, b Support) Support {
	rank := map[Support]int{Consistent: 0, NotComputed: 1, Inconsistent: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
