package issuance

import (
	"fmt"
	"slices"
	"strings"
)

// State is where an application stands. The whole state machine of an
// application is in this file: the states, the actions, and the
// transition table that says which role may make each move.
type State string

// The states.
const (
	StateDraft       State = "draft"        // being written; saved at any point
	StateSubmitted   State = "submitted"    // signed and paid; awaiting an officer
	StateUnderReview State = "under-review" // an officer has taken it up
	StateReturned    State = "returned"     // sent back to the exporter with a query
	StateApproved    State = "approved"     // approved by an officer; to be signed and numbered
	StateIssued      State = "issued"       // numbered, signed and handed to the node (final)
	StateRejected    State = "rejected"     // refused with a reason (final)
	StateWithdrawn   State = "withdrawn"    // withdrawn by the exporter (final)
)

// States lists every state.
var States = []State{StateDraft, StateSubmitted, StateUnderReview, StateReturned,
	StateApproved, StateIssued, StateRejected, StateWithdrawn}

// Final reports whether no move leaves s.
func (s State) Final() bool {
	return s == StateIssued || s == StateRejected || s == StateWithdrawn
}

// Action is a move on an application.
type Action string

// The actions.
const (
	ActSubmit   Action = "submit"   // exporter: draft -> submitted (validates, charges the fee)
	ActWithdraw Action = "withdraw" // exporter: any open state -> withdrawn
	ActReview   Action = "review"   // officer: submitted -> under review
	ActReturn   Action = "return"   // officer: under review -> returned, with a query
	ActAnswer   Action = "answer"   // exporter: returned -> submitted, with the answer
	ActReject   Action = "reject"   // officer: submitted or under review -> rejected, with a reason
	ActApprove  Action = "approve"  // officer: under review -> approved
	ActIssue    Action = "issue"    // officer: approved -> issued (number, sign, register, queue)
)

// Actions lists every action.
var Actions = []Action{ActSubmit, ActWithdraw, ActReview, ActReturn, ActAnswer, ActReject, ActApprove, ActIssue}

// Transition is one allowed move: from a state, by an action, to a state,
// by one of the roles; Reason says a non-blank reason (the query, the
// answer, the grounds for rejection) is required.
type Transition struct {
	From   State
	Action Action
	To     State
	Roles  []Role
	Reason bool
}

var (
	exporterRoles = []Role{RoleExporterAdmin, RoleApplicant}
	officerRoles  = []Role{RoleOfficer}
)

// Transitions is the transition table. No other move exists.
var Transitions = []Transition{
	{StateDraft, ActSubmit, StateSubmitted, exporterRoles, false},
	{StateDraft, ActWithdraw, StateWithdrawn, exporterRoles, false},
	{StateSubmitted, ActReview, StateUnderReview, officerRoles, false},
	{StateSubmitted, ActReject, StateRejected, officerRoles, true},
	{StateSubmitted, ActWithdraw, StateWithdrawn, exporterRoles, false},
	{StateUnderReview, ActReturn, StateReturned, officerRoles, true},
	{StateUnderReview, ActReject, StateRejected, officerRoles, true},
	{StateUnderReview, ActApprove, StateApproved, officerRoles, false},
	{StateUnderReview, ActWithdraw, StateWithdrawn, exporterRoles, false},
	{StateReturned, ActAnswer, StateSubmitted, exporterRoles, true},
	{StateReturned, ActWithdraw, StateWithdrawn, exporterRoles, false},
	{StateApproved, ActIssue, StateIssued, officerRoles, false},
}

// Lookup returns the transition for action from state, if any.
func Lookup(from State, a Action) (Transition, bool) {
	for _, t := range Transitions {
		if t.From == from && t.Action == a {
			return t, true
		}
	}
	return Transition{}, false
}

// RoleMay reports whether the table lets role make action from some state.
func RoleMay(role Role, a Action) bool {
	for _, t := range Transitions {
		if t.Action == a && slices.Contains(t.Roles, role) {
			return true
		}
	}
	return false
}

// Next checks a move and returns the state it leads to: ErrForbidden when the
// role may not make it (from any state, or from this one), ErrState when
// the table has no such move from this state, ErrInvalid when a required reason is blank.
func Next(from State, a Action, role Role, reason string) (State, error) {
	if !RoleMay(role, a) {
		return from, forbidden("a %s may never %s an application", role, a)
	}
	t, ok := Lookup(from, a)
	if !ok {
		var can []string
		for _, t := range Transitions {
			if t.From == from {
				can = append(can, string(t.Action))
			}
		}
		if len(can) == 0 {
			return from, fmt.Errorf("%w: cannot %s an application that is %s (no further move)", ErrState, a, from)
		}
		return from, fmt.Errorf("%w: cannot %s an application that is %s (possible: %s)", ErrState, a, from, strings.Join(can, ", "))
	}
	if !slices.Contains(t.Roles, role) {
		return from, forbidden("a %s may not %s an application (only %s)", role, a, joinRoles(t.Roles))
	}
	if t.Reason && strings.TrimSpace(reason) == "" {
		return from, invalid("%s needs a reason: say what the exporter must fix or why", a)
	}
	return t.To, nil
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}
