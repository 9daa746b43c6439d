package issuance

import (
	"context"
	"errors"
)

// This file holds the checks and read models the portal's pages need
// beyond the API's: a dry-run validation of a draft (the problems shown
// beside the fields) and an agency's people for its administrator.

// Validate runs the checks Submit makes (completeness, the future e-CO
// against the agreement profile, the signed declaration when required)
// without submitting: it returns every problem found, by field, or none.
// Exporter roles of the application's IEC only.
func (s *Service) Validate(ctx context.Context, a Actor, id string) ([]FieldError, error) {
	var out []FieldError
	err := s.view(ctx, a, "validate application", id, func(tx Tx, p *principal) error {
		app, err := exporterApp(tx, p, id)
		if err != nil {
			return err
		}
		collect := func(err error) error {
			var ve *ValidationError
			var fe *FindingsError
			switch {
			case errors.As(err, &ve):
				out = append(out, ve.Problems...)
			case errors.As(err, &fe):
				out = append(out, fe.Problems...)
			case errors.Is(err, ErrInvalid):
				out = append(out, FieldError{Field: "application", Problem: err.Error()})
			default:
				return err
			}
			return nil
		}
		if err := checkComplete(app, s.cfg.CodeLists); err != nil {
			return collect(err)
		}
		if err := s.checkSubmission(tx, app); err != nil {
			return collect(err)
		}
		return nil
	})
	return out, err
}

// AgencyPeople lists the people of the actor's agency (agency
// administrators only): the officers to approve, map and (de)activate.
func (s *Service) AgencyPeople(ctx context.Context, a Actor) ([]*Person, error) {
	var out []*Person
	err := s.view(ctx, a, "list the agency's people", a.ID, func(tx Tx, p *principal) error {
		if err := need(p, "list an agency's people", RoleAgencyAdmin); err != nil {
			return err
		}
		var err error
		out, err = tx.People(p.org)
		return err
	})
	return out, err
}
