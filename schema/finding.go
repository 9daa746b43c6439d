package schema

import "fmt"

// Level grades a finding, as the IPPC ePhyto hub does.
type Level string

// Finding levels. A document with a SEVERE finding is not acceptable.
const (
	Severe  Level = "SEVERE"
	Warning Level = "WARNING"
	Info    Level = "INFO"
)

// Area says which kind of check produced a finding.
type Area string

// Finding areas.
const (
	AreaSchema    Area = "schema"    // the document is not well-formed or does not fit the dataset
	AreaMandatory Area = "mandatory" // a field the profile requires is missing
	AreaCodeList  Area = "codelist"  // a code is not in its code list
	AreaRule      Area = "rule"      // a cross-field or agreement rule is broken
)

// Finding is one graded result of validation.
type Finding struct {
	Area  Area  `json:"area"`
	Level Level `json:"level"`
	// Code is stable across releases, e.g. "ECO-RULE-RVC-FOB"; clients may match on it.
	Code string `json:"code"`
	// Path locates the field, e.g. "supplyChainConsignment.includedConsignmentItems[2].tradeProduct.hsCode".
	Path string `json:"path"`
	// Message says what is wrong and what to do about it.
	Message string `json:"message"`
}

// String formats the finding on one line.
func (f Finding) String() string {
	return fmt.Sprintf("%s %s %s %s: %s", f.Level, f.Code, f.Area, f.Path, f.Message)
}

// Findings is a list of findings.
type Findings []Finding

// HasSevere reports whether any finding is SEVERE.
func (fs Findings) HasSevere() bool {
	for _, f := range fs {
		if f.Level == Severe {
			return true
		}
	}
	return false
}

// Count returns the number of findings at the given level.
func (fs Findings) Count(l Level) int {
	n := 0
	for _, f := range fs {
		if f.Level == l {
			n++
		}
	}
	return n
}
