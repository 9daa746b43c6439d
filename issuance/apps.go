package issuance

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NewApplication starts an application.
type NewApplication struct {
	IEC      string  `json:"iec"`
	Kind     Kind    `json:"kind"`
	Concerns CertRef `json:"concerns,omitzero"`
	Content  Content `json:"content"`
}

// canSee refuses a principal who may not see app: exporter roles see their
// IEC's applications, officers those of the offices they are mapped to,
// agency administrators their agency's, the operator none (it runs the
// node, not the review).
func canSee(p *principal, app *Application) error {
	switch p.actor.Role {
	case RoleExporterAdmin, RoleApplicant:
		if app.IEC == p.org {
			return nil
		}
		return forbidden("application %s belongs to IEC %s, not to %s's IEC %s", app.ID, app.IEC, p.actor.ID, p.org)
	case RoleOfficer:
		if app.Content.Agency == p.org && p.person.mappedTo(app.Content.Office) {
			return nil
		}
		return forbidden("application %s is filed at office %s, where %s does not work", app.ID, app.Content.Office, p.actor.ID)
	case RoleAgencyAdmin:
		if app.Content.Agency == p.org {
			return nil
		}
		return forbidden("application %s is filed with agency %s, not %s", app.ID, app.Content.Agency, p.org)
	}
	return forbidden("a %s may not see applications", p.actor.Role)
}

// checkConcerns checks what a duplicate or in-lieu application points at:
// a certificate issued here to the same IEC. Back-to-back points at a
// proof of origin issued by another party.
func (s *Service) checkConcerns(tx Tx, iec string, k Kind, ref CertRef) error {
	switch k {
	case KindOriginal:
		if ref != (CertRef{}) {
			return invalid("an original application concerns no other certificate")
		}
		return nil
	case KindBackToBack:
		if ref.Number == "" || ref.Country == "" || ref.Country == s.cfg.Country || !s.cfg.CodeLists.Country(ref.Country) {
			return invalid("a back-to-back application names the original proof of origin: its number and the issuing party's country (not %s)", s.cfg.Country)
		}
		return nil
	}
	if ref.Country != "" && ref.Country != s.cfg.Country {
		return invalid("a %s application concerns a certificate issued here (%s)", k, s.cfg.Country)
	}
	orig, err := tx.ApplicationByCertificate(ref.Number)
	if errors.Is(err, ErrNotFound) {
		return invalid("certificate %q was not issued here", ref.Number)
	}
	if err != nil {
		return err
	}
	if orig.IEC != iec {
		return forbidden("certificate %s was issued to another exporter", ref.Number)
	}
	return nil
}

// CreateApplication starts a draft under the actor's IEC.
func (s *Service) CreateApplication(ctx context.Context, a Actor, n NewApplication) (*Application, error) {
	if n.Kind == "" {
		n.Kind = KindOriginal
	}
	if !n.Kind.valid() {
		return nil, fmt.Errorf("create application: %w: kind %q is not one of %v", ErrInvalid, n.Kind, Kinds)
	}
	if err := checkDraft(&n.Content); err != nil {
		return nil, fmt.Errorf("create application: %w", err)
	}
	var out *Application
	err := s.do(ctx, a, "create application", n.IEC, func(tx Tx, p *principal) error {
		if err := need(p, "create an application", exporterRoles...); err != nil {
			return err
		}
		if p.org != n.IEC {
			return forbidden("%s files for IEC %s, not %s", p.actor.ID, p.org, n.IEC)
		}
		if err := s.checkConcerns(tx, n.IEC, n.Kind, n.Concerns); err != nil {
			return err
		}
		seq, err := tx.NextSeq("application")
		if err != nil {
			return err
		}
		now := s.now()
		app := &Application{ID: fmt.Sprintf("APP%09d", seq), Kind: n.Kind, Concerns: n.Concerns, IEC: n.IEC,
			CreatedBy: p.actor.ID, State: StateDraft, Content: n.Content, Created: now, Updated: now, History: []Event{}}
		if err := tx.PutApplication(app); err != nil {
			return err
		}
		out = app
		return s.audit(tx, p.String(), "application.create", app.ID, map[string]string{"iec": app.IEC, "kind": string(app.Kind)})
	})
	return out, err
}

// SaveDraft replaces the content of a draft (or of a returned application
// being answered). Only sizes are checked: a draft saves at any point.
func (s *Service) SaveDraft(ctx context.Context, a Actor, id string, c Content) (*Application, error) {
	if err := checkDraft(&c); err != nil {
		return nil, fmt.Errorf("save draft %s: %w", id, err)
	}
	var out *Application
	err := s.do(ctx, a, "save draft", id, func(tx Tx, p *principal) error {
		app, err := tx.Application(id)
		if err != nil {
			return err
		}
		if err := canSee(p, app); err != nil {
			return err
		}
		if err := need(p, "edit an application", exporterRoles...); err != nil {
			return err
		}
		if app.State != StateDraft && app.State != StateReturned {
			return fmt.Errorf("%w: application %s is %s; only a draft or a returned application can be edited", ErrState, id, app.State)
		}
		app.Content, app.Updated = c, s.now()
		if err := tx.PutApplication(app); err != nil {
			return err
		}
		out = app
		return s.audit(tx, p.String(), "application.save", id, nil)
	})
	return out, err
}

// move makes one transition of the table on application id: it checks
// that the actor may see the application, that the table allows the move
// for the actor's role (with its reason), runs extra (in the same
// transaction), records the event and the audit entry.
func (s *Service) move(ctx context.Context, a Actor, id string, act Action, reason string,
	extra func(tx Tx, p *principal, app *Application) error) (*Application, error) {
	var out *Application
	err := s.do(ctx, a, string(act), id, func(tx Tx, p *principal) error {
		var err error
		out, err = s.moveIn(tx, p, id, act, reason, extra)
		return err
	})
	return out, err
}

// moveIn is move inside the transaction tx, for the checked principal p.
func (s *Service) moveIn(tx Tx, p *principal, id string, act Action, reason string,
	extra func(tx Tx, p *principal, app *Application) error) (*Application, error) {
	app, err := tx.Application(id)
	if err != nil {
		return nil, err
	}
	if err := canSee(p, app); err != nil {
		return nil, err
	}
	to, err := Next(app.State, act, p.actor.Role, reason)
	if err != nil {
		return nil, err
	}
	from := app.State
	if extra != nil {
		if err := extra(tx, p, app); err != nil {
			return nil, err
		}
	}
	now := s.now()
	app.State, app.Updated = to, now
	ev := Event{At: now, Actor: p.actor.ID, Action: act, From: from, To: to, Reason: reason}
	app.History = append(app.History, ev)
	if err := tx.PutApplication(app); err != nil {
		return nil, err
	}
	// The webhooks and notifications of the move commit with it (the
	// sink takes no deadline from here: it only writes in tx).
	if err := s.changed(context.Background(), tx, app, ev); err != nil {
		return nil, err
	}
	d := map[string]string{"from": string(from), "to": string(to)}
	if reason != "" {
		d["reason"] = reason
	}
	if app.Certificate != "" {
		d["certificate"] = app.Certificate
	}
	return app, s.audit(tx, p.String(), "application."+string(act), id, d)
}

// Payment says how a submission pays its fee.
type Payment string

// Payment methods.
const (
	PayWallet  Payment = "wallet"  // from the exporter's e-wallet at the office
	PayGateway Payment = "gateway" // through the office's payment gateway (payment.go)
)

// Submit checks the application complete and submits it, charging the
// office's fee for its kind (draft -> submitted).
func (s *Service) Submit(ctx context.Context, a Actor, id string, pay Payment) (*Application, error) {
	return s.move(ctx, a, id, ActSubmit, "", func(tx Tx, p *principal, app *Application) error {
		if err := checkComplete(app, s.cfg.CodeLists); err != nil {
			return err
		}
		if err := s.checkConcerns(tx, app.IEC, app.Kind, app.Concerns); err != nil {
			return err
		}
		if err := s.checkSubmission(tx, app); err != nil {
			return err
		}
		office, err := s.activeOffice(tx, app)
		if err != nil {
			return err
		}
		fee := office.Fees[app.Kind]
		app.Fee, app.Submitted = fee, s.now()
		if fee == 0 {
			app.PaidVia = "none"
			return nil
		}
		switch pay {
		case PayWallet:
			if !office.EWallet {
				return invalid("office %s does not take e-wallet payments; pay through the payment gateway", office.ID)
			}
			app.PaidVia = string(PayWallet)
			return tx.AddMovement(&Movement{IEC: app.IEC, Office: office.ID, Amount: -fee, Reason: "fee for application " + app.ID,
				Application: app.ID, Actor: p.actor.ID, At: s.now()})
		case PayGateway:
			if s.cfg.Payments == nil {
				return fmt.Errorf("%w: no payment gateway is configured; pay from the e-wallet", ErrNotAvailable)
			}
			app.PaidVia = PaidGatewayPending // the gateway's callback settles it (payment.go)
			return nil
		}
		return invalid("payment %q is not %s or %s", pay, PayWallet, PayGateway)
	})
}

// activeOffice returns the application's office, refusing one that does
// not exist, belongs to another agency, or whose agency is not active.
func (s *Service) activeOffice(tx Tx, app *Application) (*Office, error) {
	ag, err := tx.Agency(app.Content.Agency)
	if errors.Is(err, ErrNotFound) {
		return nil, invalid("agency %q is not registered", app.Content.Agency)
	} else if err != nil {
		return nil, err
	}
	if ag.Status != AgencyActive {
		return nil, invalid("agency %s is not active", ag.ID)
	}
	o, err := tx.Office(app.Content.Office)
	if errors.Is(err, ErrNotFound) || err == nil && o.Agency != ag.ID {
		return nil, invalid("office %q is not an office of agency %s", app.Content.Office, ag.ID)
	}
	return o, err
}

// Withdraw withdraws an open application (exporter). A fee already paid is
// not refunded here (the agency decides; see TopUp).
func (s *Service) Withdraw(ctx context.Context, a Actor, id, reason string) (*Application, error) {
	return s.move(ctx, a, id, ActWithdraw, reason, nil)
}

// Review takes a submitted application up (officer of its office).
func (s *Service) Review(ctx context.Context, a Actor, id string) (*Application, error) {
	return s.move(ctx, a, id, ActReview, "", func(_ Tx, p *principal, app *Application) error {
		if app.PaidVia == PaidGatewayPending {
			return fmt.Errorf("%w: the fee of application %s is not paid yet (the payment gateway has not confirmed it)", ErrState, app.ID)
		}
		app.Reviewer = p.actor.ID
		return nil
	})
}

// Return sends an application under review back with a query (officer).
func (s *Service) Return(ctx context.Context, a Actor, id, query string) (*Application, error) {
	return s.move(ctx, a, id, ActReturn, query, func(_ Tx, _ *principal, app *Application) error {
		app.Query = query
		return nil
	})
}

// Answer resubmits a returned application with the exporter's answer
// (the content is changed with SaveDraft first). No fee is charged again.
func (s *Service) Answer(ctx context.Context, a Actor, id, answer string) (*Application, error) {
	return s.move(ctx, a, id, ActAnswer, answer, func(tx Tx, _ *principal, app *Application) error {
		if err := checkComplete(app, s.cfg.CodeLists); err != nil {
			return err
		}
		if err := s.checkSubmission(tx, app); err != nil {
			return err
		}
		app.Query = ""
		return nil
	})
}

// Reject refuses an application with a reason (officer).
func (s *Service) Reject(ctx context.Context, a Actor, id, reason string) (*Application, error) {
	return s.move(ctx, a, id, ActReject, reason, nil)
}

// Approve approves an application under review (officer). Signing,
// numbering and handing to the node happen at Issue.
func (s *Service) Approve(ctx context.Context, a Actor, id, note string) (*Application, error) {
	return s.move(ctx, a, id, ActApprove, note, s.checkApprover)
}

// Issue numbers, signs and hands an approved application's certificate to
// the node, in the one transaction that moves it to issued: a failure at
// any step leaves none of it (and no gap in the numbering). It signs with
// Config.Signer (the held-key path); see DocumentToSign and IssueSigned
// for the external path.
func (s *Service) Issue(ctx context.Context, a Actor, id string) (*Application, *Certificate, error) {
	if s.cfg.Signer == nil || s.cfg.Node == nil {
		return nil, nil, fmt.Errorf("issue %s: %w: no signer or node is configured", id, ErrNotAvailable)
	}
	var cert *Certificate
	app, err := s.move(ctx, a, id, ActIssue, "", func(tx Tx, p *principal, app *Application) error {
		var err error
		cert, err = s.issueIn(ctx, tx, p, app, nil)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return app, cert, nil
}

// SeriesKey names the numbering series of an agency's office in a year.
func SeriesKey(agency, office string, year int) string {
	return "cert/" + agency + "/" + office + "/" + strconv.Itoa(year)
}

// CertificateNumber formats a certificate number: the agency's series, the
// office code, the year and the sequence (six digits at least), e.g.
// EIC-MUM-2026-000001.
func CertificateNumber(series, officeCode string, year int, seq uint64) string {
	return fmt.Sprintf("%s-%s-%d-%06d", series, officeCode, year, seq)
}

// Application returns one application the actor may see.
func (s *Service) Application(ctx context.Context, a Actor, id string) (*Application, error) {
	var out *Application
	err := s.view(ctx, a, "read application", id, func(tx Tx, p *principal) error {
		app, err := tx.Application(id)
		if err != nil {
			return err
		}
		if err := canSee(p, app); err != nil {
			return err
		}
		out = app
		return nil
	})
	return out, err
}

// Applications lists the applications the actor may see: exporter roles
// their IEC's, officers those of one office they work at (q.Office).
func (s *Service) Applications(ctx context.Context, a Actor, q Query) ([]*Application, error) {
	var out []*Application
	err := s.view(ctx, a, "list applications", q.IEC+q.Office, func(tx Tx, p *principal) error {
		switch p.actor.Role {
		case RoleExporterAdmin, RoleApplicant:
			q.IEC, q.Office = p.org, ""
		case RoleOfficer:
			if q.Office == "" || !p.person.mappedTo(q.Office) {
				return forbidden("%s does not work at office %q", p.actor.ID, q.Office)
			}
			q.IEC = ""
		default:
			return forbidden("a %s may not list applications", p.actor.Role)
		}
		var err error
		out, err = tx.Applications(q)
		return err
	})
	return out, err
}

// Origin returns the origin arithmetic of an application, one finding per
// product, for the officer (and the exporter) to see beside the claims.
func (s *Service) Origin(ctx context.Context, a Actor, id string) ([]Finding, error) {
	app, err := s.Application(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return Determine(&app.Content, s.cfg.Country, s.cfg.ProductRules), nil
}

// TopUp credits an exporter's e-wallet at an office with a payment the
// agency received (agency administrator of the office's agency). The
// reason (the receipt) is required.
func (s *Service) TopUp(ctx context.Context, a Actor, iec, office string, amount int64, reason string) (*Movement, error) {
	if amount <= 0 || amount > maxAmount {
		return nil, fmt.Errorf("top up: %w: the amount must be between 1 and %d (minor units)", ErrInvalid, maxAmount)
	}
	if strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("top up: %w: say what the credit is for (the receipt)", ErrInvalid)
	}
	var out *Movement
	err := s.do(ctx, a, "top up", iec+"/"+office, func(tx Tx, p *principal) error {
		o, err := tx.Office(office)
		if err != nil {
			return err
		}
		if _, err := agencyAdmin(tx, p, o.Agency); err != nil {
			return err
		}
		if !o.EWallet {
			return invalid("office %s has no e-wallet; turn it on first", office)
		}
		if _, err := tx.Exporter(iec); err != nil {
			return err
		}
		m := &Movement{IEC: iec, Office: office, Amount: amount, Reason: reason, Actor: p.actor.ID, At: s.now()}
		if err := tx.AddMovement(m); err != nil {
			return err
		}
		out = m
		return s.audit(tx, p.String(), "wallet.credit", iec+"/"+office, map[string]string{"amount": strconv.FormatInt(amount, 10), "reason": reason})
	})
	return out, err
}

// Wallet returns an e-wallet's balance and movements: to the exporter's
// people, and to the administrator of the office's agency.
func (s *Service) Wallet(ctx context.Context, a Actor, iec, office string) (int64, []Movement, error) {
	var bal int64
	var ms []Movement
	err := s.view(ctx, a, "read wallet", iec+"/"+office, func(tx Tx, p *principal) error {
		switch p.actor.Role {
		case RoleExporterAdmin, RoleApplicant:
			if p.org != iec {
				return forbidden("%s acts for IEC %s, not %s", p.actor.ID, p.org, iec)
			}
		case RoleAgencyAdmin:
			o, err := tx.Office(office)
			if err != nil {
				return err
			}
			if o.Agency != p.org {
				return forbidden("office %s is not an office of agency %s", office, p.org)
			}
		default:
			return forbidden("a %s may not read e-wallets", p.actor.Role)
		}
		var err error
		if bal, err = tx.Balance(iec, office); err != nil {
			return err
		}
		ms, err = tx.Movements(iec, office)
		return err
	})
	return bal, ms, err
}
