package issuance

import (
	"context"
	"fmt"
	"strings"
)

// ExporterRegistration is the answer to an exporter administrator's
// self-registration: the exporter as the trade registry describes it and
// whether the administrator may act yet.
type ExporterRegistration struct {
	Exporter *Exporter `json:"exporter"`
	Admin    string    `json:"admin"`
	// Status is active when the registry confirmed the administrator (the
	// e-mail given is the one the registry holds for the IEC), pending
	// when the node operator must confirm (ConfirmExporter).
	Status PersonStatus `json:"status"`
	// ConfirmedBy is "registry" or empty (pending).
	ConfirmedBy string `json:"confirmedBy,omitempty"`
}

// SelfRegisterExporter is an exporter administrator's own registration by
// IEC (public: no session yet). The exporter's details are fetched from
// the trade registry and cannot be given here. When the administrator's
// e-mail is the one the registry holds for the IEC, the registry has
// confirmed them and the account is active at once; otherwise it stays
// pending until the node operator confirms it (ConfirmExporter).
func (s *Service) SelfRegisterExporter(ctx context.Context, iec string, admin NewPerson) (*ExporterRegistration, error) {
	rec, err := s.registryRecord(ctx, iec, admin)
	if err != nil {
		return nil, err
	}
	var out *ExporterRegistration
	err = s.cfg.Store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Exporter(iec); err == nil {
			return fmt.Errorf("%w: exporter %s is registered (its administrator adds applicants)", ErrConflict, iec)
		}
		now := s.now()
		status, by := PersonPending, ""
		if rec.Email != "" && strings.EqualFold(strings.TrimSpace(rec.Email), strings.TrimSpace(admin.Email)) {
			status, by = PersonActive, "registry"
		}
		p := s.newPerson(admin, RoleExporterAdmin, iec, status)
		if by != "" {
			p.ApprovedBy = "registry"
		}
		if err := insertPerson(tx, p); err != nil {
			return err
		}
		e := &Exporter{IEC: iec, Admin: p.ID, Created: now}
		applyRecord(e, rec, now)
		if err := tx.PutExporter(e); err != nil {
			return err
		}
		out = &ExporterRegistration{Exporter: e, Admin: p.ID, Status: status, ConfirmedBy: by}
		return s.audit(tx, "registration:"+p.ID, "exporter.self-register", iec, map[string]string{"admin": p.ID, "name": e.Name, "status": string(status), "confirmedBy": by})
	})
	if err != nil {
		return nil, fmt.Errorf("register exporter %s: %w", iec, err)
	}
	return out, nil
}

// ConfirmExporter activates the pending administrator of a self-registered
// exporter. Operator only.
func (s *Service) ConfirmExporter(ctx context.Context, a Actor, iec string) error {
	return s.do(ctx, a, "confirm exporter", iec, func(tx Tx, p *principal) error {
		if err := need(p, "confirm an exporter", RoleOperator); err != nil {
			return err
		}
		e, err := tx.Exporter(iec)
		if err != nil {
			return err
		}
		admin, err := tx.Person(e.Admin)
		if err != nil {
			return err
		}
		if admin.Status != PersonPending {
			return fmt.Errorf("%w: the administrator %s of %s is %s, not pending", ErrState, admin.ID, iec, admin.Status)
		}
		admin.Status, admin.ApprovedBy, admin.Updated = PersonActive, p.actor.ID, s.now()
		if err := tx.PutPerson(admin); err != nil {
			return err
		}
		return s.audit(tx, p.String(), "exporter.confirm", iec, map[string]string{"admin": admin.ID})
	})
}
