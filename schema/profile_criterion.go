package schema

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CriterionPart is one element of an origin-criterion line: a code such as
// "CTSH" or "RVC", with the percentage written beside it, if any.
type CriterionPart struct {
	Code string
	// Percent is the percentage written in the line ("40" in "RVC 40%"),
	// "" when none; a bare "40%" is read as RVC 40.
	Percent string
}

// OriginCriterion is one parsed origin-criterion line.
type OriginCriterion struct {
	Raw   string
	Parts []CriterionPart
}

// Has reports whether the line contains the code.
func (o OriginCriterion) Has(code string) bool {
	for _, p := range o.Parts {
		if p.Code == code {
			return true
		}
	}
	return false
}

// String writes the line in a canonical form, e.g. "CTSH + RVC 35%".
func (o OriginCriterion) String() string {
	parts := make([]string, len(o.Parts))
	for i, p := range o.Parts {
		parts[i] = p.Code
		if p.Percent != "" {
			parts[i] += " " + p.Percent + "%"
		}
	}
	return strings.Join(parts, " + ")
}

const maxCriterionLen = 64

var (
	reCritPercent = regexp.MustCompile(`^([0-9]{1,3}(?:\.[0-9]+)?) ?%$`)
	reCritCodePct = regexp.MustCompile(`^([A-Z][A-Z-]*) ?([0-9]{1,3}(?:\.[0-9]+)?) ?%?$`)
	reCritCode    = regexp.MustCompile(`^[A-Z0-9](?:[A-Z0-9.-]| [A-Z0-9])*$`)
)

// ParseOriginCriterion reads one origin-criterion line as written on the
// forms (standards.md Q3 and b2): a code ("WO", "CTSH", "2.6.6A",
// "SPECIFIC PROCESSES"), a code with a percentage ("RVC 40%", "RVC40",
// "PC 25%"), a bare percentage ("40%", read as RVC 40), or a combination
// joined by "+" ("CTSH + 35%", "RVC 35% + CTSH"). Letters are compared in
// upper case and runs of spaces count as one. It checks the form only;
// whether a code is allowed is the profile's business.
func ParseOriginCriterion(s string) (OriginCriterion, error) {
	oc := OriginCriterion{Raw: s}
	if len(s) > maxCriterionLen {
		return oc, fmt.Errorf("the origin criterion is %d characters long; write a code such as WO, CTSH or RVC 40%% (at most %d characters)", len(s), maxCriterionLen)
	}
	norm := strings.Join(strings.Fields(strings.ToUpper(s)), " ")
	if norm == "" {
		return oc, fmt.Errorf("the origin criterion is empty; write a code such as WO, CTSH or RVC 40%%")
	}
	for _, part := range strings.Split(norm, "+") {
		part = strings.TrimSpace(part)
		if part == "" {
			return oc, fmt.Errorf("origin criterion %q has an empty part around '+'", s)
		}
		var cp CriterionPart
		switch {
		case reCritPercent.MatchString(part):
			cp = CriterionPart{Code: "RVC", Percent: reCritPercent.FindStringSubmatch(part)[1]}
		case reCritCodePct.MatchString(part):
			m := reCritCodePct.FindStringSubmatch(part)
			cp = CriterionPart{Code: m[1], Percent: m[2]}
		case reCritCode.MatchString(part):
			cp = CriterionPart{Code: part}
		default:
			return oc, fmt.Errorf("origin criterion %q: %q is not a code (letters, digits, '.', '-') or a percentage such as 40%%", s, part)
		}
		if cp.Percent != "" {
			v, err := strconv.ParseFloat(cp.Percent, 64)
			if err != nil || v > 100 {
				return oc, fmt.Errorf("origin criterion %q: %s%% is not a percentage from 0 to 100", s, cp.Percent)
			}
		}
		oc.Parts = append(oc.Parts, cp)
	}
	return oc, nil
}
