package issuance

import (
	"errors"
	"fmt"
	"strings"
)

// Errors that callers (and HTTP handlers) test with errors.Is.
var (
	// ErrForbidden means the actor may not do this: wrong role, inactive,
	// or another organisation's or office's record (HTTP 403). It is
	// always audited.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound means the record does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid means the request is malformed or incomplete; the
	// message says what to fix (HTTP 400/422).
	ErrInvalid = errors.New("invalid request")
	// ErrState means the move is not allowed from the application's (or
	// person's) current state (HTTP 409).
	ErrState = errors.New("not allowed in the current state")
	// ErrConflict means the record already exists (HTTP 409).
	ErrConflict = errors.New("already exists")
	// ErrInsufficientFunds means an e-wallet debit would make the balance
	// negative; nothing was charged (HTTP 402).
	ErrInsufficientFunds = errors.New("insufficient e-wallet balance")
	// ErrNotAvailable means the feature is not available on this node yet
	// (the payment gateway path; HTTP 501).
	ErrNotAvailable = errors.New("not available on this node yet")
)

// FieldError is one problem with one field of a request.
type FieldError struct {
	// Field names the field, e.g. "goods[2].hs".
	Field string `json:"field"`
	// Problem says what is wrong and what to do.
	Problem string `json:"problem"`
}

// ValidationError lists every problem found in a request; it wraps
// ErrInvalid.
type ValidationError struct {
	What     string       `json:"what"`
	Problems []FieldError `json:"problems"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s): ", e.What, len(e.Problems))
	writeProblems(&b, e.Problems)
	return b.String()
}

// writeProblems writes ps to b as "field: problem; field: problem".
func writeProblems(b *strings.Builder, ps []FieldError) {
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Field + ": " + p.Problem)
	}
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// problems collects field problems.
type problems struct{ list []FieldError }

func (p *problems) add(field, format string, args ...any) {
	p.list = append(p.list, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// err returns nil without problems, else a *ValidationError.
func (p *problems) err(what string) error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{What: what, Problems: p.list}
}

func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrForbidden, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
