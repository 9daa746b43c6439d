package mapping

import (
	"fmt"
	"strings"
)

// MappingError says why one value of one source record could not be mapped:
// which record, which source field, which rule of the profile, and what went
// wrong (the message says what to fix).
type MappingError struct {
	// Record names the source record: its position (index, CSV lines) and
	// its key when known, e.g. `record 3 (key WBC208899, lines 8-10)`.
	Record string
	// SourceField is the concrete source path, e.g. products[1].itchsCode,
	// or "" when the rule read no field (a constant).
	SourceField string
	// Rule names the profile rule: its name, position and target, e.g.
	// `rules[5].rules[2] "HS code" (line 48, to tradeProduct)`.
	Rule string
	// Err is the cause.
	Err error
}

func (e *MappingError) Error() string {
	var b strings.Builder
	b.WriteString(e.Record)
	if e.SourceField != "" {
		fmt.Fprintf(&b, ": field %s", e.SourceField)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, ": rule %s", e.Rule)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the cause.
func (e *MappingError) Unwrap() error { return e.Err }

// Errors is every mapping error of one record. A record with any error is
// not mapped at all (all or nothing).
type Errors []*MappingError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the individual errors, for errors.As and errors.Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// ProfileError is a profile that cannot be loaded: it names the profile,
// the rule (with its line in the YAML) and what to change.
type ProfileError struct {
	Profile string
	Rule    string // "" for a profile-level problem
	Err     error
}

func (e *ProfileError) Error() string {
	if e.Rule == "" {
		return fmt.Sprintf("profile %s: %v", e.Profile, e.Err)
	}
	return fmt.Sprintf("profile %s: rule %s: %v", e.Profile, e.Rule, e.Err)
}

// Unwrap returns the cause.
func (e *ProfileError) Unwrap() error { return e.Err }
