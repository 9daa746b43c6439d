package issuance

import (
	"context"
	"fmt"
	"slices"
)

// This file holds the read models the web portal shows (package portal):
// a person's dashboard and the facts of an issued certificate for its PDF.
// They check the actor like every Service method; the portal adds no rule.

// StateCount is how many applications are in a state.
type StateCount struct {
	State State
	Count int
}

// WalletBalance is an exporter's e-wallet balance at one office.
type WalletBalance struct {
	Office   string
	Name     string
	Currency string
	Balance  int64 // minor units
}

// Dashboard is what a person's start page shows, by role: exporters their
// IEC's applications by state and their e-wallet balances per office (the
// offices they filed at or hold a balance at), officers the applications
// waiting at their offices, agency administrators their offices, the
// operator nothing yet.
type Dashboard struct {
	Actor   Actor
	Person  *Person // nil for the operator
	Org     string
	ByState []StateCount
	Wallets []WalletBalance
	Queue   []*Application // officers: submitted or under review at their offices
	Recent  []*Application // exporters: their IEC's applications, newest first (at most 20)
	Offices []*Office      // agency administrators and officers
}

// PortalDashboard returns the dashboard of actor a.
func (s *Service) PortalDashboard(ctx context.Context, a Actor) (*Dashboard, error) {
	d := &Dashboard{Actor: a}
	err := s.view(ctx, a, "see the dashboard", a.ID, func(tx Tx, p *principal) error {
		d.Person, d.Org = p.person, p.org
		count := func(apps []*Application) {
			n := map[State]int{}
			for _, ap := range apps {
				n[ap.State]++
			}
			for _, st := range States {
				if n[st] > 0 {
					d.ByState = append(d.ByState, StateCount{st, n[st]})
				}
			}
		}
		switch p.actor.Role {
		case RoleExporterAdmin, RoleApplicant:
			apps, err := tx.Applications(Query{IEC: p.org})
			if err != nil {
				return err
			}
			count(apps)
			var offices []string
			for i := len(apps) - 1; i >= 0; i-- {
				if len(d.Recent) < 20 {
					d.Recent = append(d.Recent, apps[i])
				}
				if o := apps[i].Content.Office; o != "" && !slices.Contains(offices, o) {
					offices = append(offices, o)
				}
			}
			slices.Sort(offices)
			for _, o := range offices {
				off, err := tx.Office(o)
				if err != nil {
					continue // an office named on a draft that does not exist
				}
				bal, err := tx.Balance(p.org, o)
				if err != nil {
					return err
				}
				d.Wallets = append(d.Wallets, WalletBalance{Office: o, Name: off.Name, Currency: off.Currency, Balance: bal})
			}
		case RoleOfficer:
			var all []*Application
			for _, o := range p.person.Offices {
				if off, err := tx.Office(o); err == nil {
					d.Offices = append(d.Offices, off)
				}
				apps, err := tx.Applications(Query{Office: o})
				if err != nil {
					return err
				}
				for _, ap := range apps {
					if ap.Content.Agency != p.org {
						continue
					}
					all = append(all, ap)
					if ap.State == StateSubmitted || ap.State == StateUnderReview {
						d.Queue = append(d.Queue, ap)
					}
				}
			}
			count(all)
		case RoleAgencyAdmin:
			offs, err := tx.Offices(p.org)
			if err != nil {
				return err
			}
			d.Offices = offs
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// CertificateFacts are the facts an issued certificate's PDF shows.
type CertificateFacts struct {
	Application *Application
	Exporter    *Exporter
	Agency      *Agency
	Office      *Office
	Officer     *Person // nil when the officer is no longer on record
}

// CertificateFacts returns the facts of the certificate issued for
// application id, to whoever may see the application.
func (s *Service) CertificateFacts(ctx context.Context, a Actor, id string) (*CertificateFacts, error) {
	f := &CertificateFacts{}
	err := s.view(ctx, a, "see the certificate of", id, func(tx Tx, p *principal) error {
		app, err := tx.Application(id)
		if err != nil {
			return err
		}
		if err := canSee(p, app); err != nil {
			return err
		}
		if app.State != StateIssued || app.Certificate == "" {
			return fmt.Errorf("application %s is %s, no certificate yet: %w", id, app.State, ErrState)
		}
		f.Application = app
		if f.Exporter, err = tx.Exporter(app.IEC); err != nil {
			return err
		}
		if f.Agency, err = tx.Agency(app.Content.Agency); err != nil {
			return err
		}
		if f.Office, err = tx.Office(app.Content.Office); err != nil {
			return err
		}
		if app.Reviewer != "" {
			f.Officer, _ = tx.Person(app.Reviewer)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}
