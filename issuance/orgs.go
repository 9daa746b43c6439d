package issuance

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NewPerson is what a registration or an addition gives of a person.
type NewPerson struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (n NewPerson) check(what string) error {
	var p problems
	if id := normID(n.ID); id == "" || len(id) > 254 || strings.ContainsAny(id, " \x00/") {
		p.add(what+".id", "%q is not a usable login (no spaces or slashes, at most 254 characters)", n.ID)
	}
	if strings.TrimSpace(n.Name) == "" || len(n.Name) > 200 {
		p.add(what+".name", "enter the person's name (at most 200 characters)")
	}
	if a, err := mail.ParseAddress(n.Email); err != nil || a.Address != n.Email {
		p.add(what+".email", "%q is not a plain e-mail address", n.Email)
	}
	return p.err(what)
}

func (s *Service) newPerson(n NewPerson, role Role, org string, status PersonStatus) *Person {
	now := s.now()
	return &Person{ID: normID(n.ID), Name: strings.TrimSpace(n.Name), Email: n.Email, Role: role, Org: org,
		Status: status, Registered: now, Updated: now}
}

// insertPerson stores p unless its id is taken.
func insertPerson(tx Tx, p *Person) error {
	if _, err := tx.Person(p.ID); err == nil {
		return fmt.Errorf("%w: the login %s is taken", ErrConflict, p.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	return tx.PutPerson(p)
}

// registryRecord checks the IEC and the administrator of an exporter to
// register and looks the IEC up in the trade registry.
func (s *Service) registryRecord(ctx context.Context, iec string, admin NewPerson) (*RegistryRecord, error) {
	if err := ValidIEC(iec); err != nil {
		return nil, fmt.Errorf("register exporter: %w: %v", ErrInvalid, err)
	}
	if err := admin.check("admin"); err != nil {
		return nil, fmt.Errorf("register exporter %s: %w", iec, err)
	}
	if s.cfg.Registry == nil {
		return nil, fmt.Errorf("register exporter %s: %w: no trade registry is configured", iec, ErrNotAvailable)
	}
	rec, err := s.cfg.Registry.Lookup(ctx, iec)
	if err != nil {
		return nil, fmt.Errorf("register exporter %s: %w", iec, err)
	}
	return rec, nil
}

// RegisterExporter creates an exporter from the trade registry's record of
// iec, with admin as its administrator (active). Operator only (the
// DGFT-synced self-registration with a DSC comes with the portal).
func (s *Service) RegisterExporter(ctx context.Context, a Actor, iec string, admin NewPerson) (*Exporter, error) {
	if a.Role != RoleOperator || !slices.Contains(s.cfg.Operators, normID(a.ID)) {
		// Refused (and audited) before the trade registry is asked: only
		// an operator makes the node call it.
		return nil, s.do(ctx, a, "register exporter", iec, func(_ Tx, p *principal) error {
			return need(p, "register an exporter", RoleOperator)
		})
	}
	rec, err := s.registryRecord(ctx, iec, admin)
	if err != nil {
		return nil, err
	}
	var out *Exporter
	err = s.do(ctx, a, "register exporter", iec, func(tx Tx, p *principal) error {
		if err := need(p, "register an exporter", RoleOperator); err != nil {
			return err
		}
		if _, err := tx.Exporter(iec); err == nil {
			return fmt.Errorf("%w: exporter %s is registered", ErrConflict, iec)
		}
		now := s.now()
		e := &Exporter{IEC: iec, Admin: normID(admin.ID), Created: now}
		applyRecord(e, rec, now)
		if err := insertPerson(tx, s.newPerson(admin, RoleExporterAdmin, iec, PersonActive)); err != nil {
			return err
		}
		if err := tx.PutExporter(e); err != nil {
			return err
		}
		out = e
		return s.audit(tx, p.String(), "exporter.register", iec, map[string]string{"admin": e.Admin, "name": e.Name})
	})
	return out, err
}

// applyRecord copies the registry's record onto e, keeping the branch
// GSTINs entered here for branches the registry still lists.
func applyRecord(e *Exporter, rec *RegistryRecord, now time.Time) {
	local := map[string]string{}
	for _, b := range e.Branches {
		local[b.ID] = b.GSTIN
	}
	e.Name, e.Address, e.GSTIN, e.Email, e.Mobile = rec.Name, rec.Address, rec.GSTIN, rec.Email, rec.Mobile
	e.Branches = make([]Branch, len(rec.Branches))
	for i, b := range rec.Branches {
		if g := local[b.ID]; g != "" && b.GSTIN == "" {
			b.GSTIN = g
		}
		e.Branches[i] = b
	}
	e.Fetched = now
}

// RefreshExporter fetches the registry's record again (a change made at
// DGFT flows in). Operator, or the exporter's administrator.
func (s *Service) RefreshExporter(ctx context.Context, a Actor, iec string) (*Exporter, error) {
	if s.cfg.Registry == nil {
		return nil, fmt.Errorf("refresh exporter %s: %w: no trade registry is configured", iec, ErrNotAvailable)
	}
	rec, err := s.cfg.Registry.Lookup(ctx, iec)
	if err != nil {
		return nil, fmt.Errorf("refresh exporter %s: %w", iec, err)
	}
	var out *Exporter
	err = s.do(ctx, a, "refresh exporter", iec, func(tx Tx, p *principal) error {
		if err := need(p, "refresh an exporter", RoleOperator, RoleExporterAdmin); err != nil {
			return err
		}
		if p.actor.Role == RoleExporterAdmin && p.org != iec {
			return forbidden("%s administers IEC %s, not %s", p.actor.ID, p.org, iec)
		}
		e, err := tx.Exporter(iec)
		if err != nil {
			return err
		}
		applyRecord(e, rec, s.now())
		if err := tx.PutExporter(e); err != nil {
			return err
		}
		out = e
		return s.audit(tx, p.String(), "exporter.refresh", iec, nil)
	})
	return out, err
}

// SetBranchGSTIN enters the GSTIN of one of the exporter's branches, the
// one detail not fetched from the registry. Exporter administrator.
func (s *Service) SetBranchGSTIN(ctx context.Context, a Actor, iec, branch, gstin string) error {
	if err := ValidGSTIN(gstin); err != nil {
		return fmt.Errorf("set branch GSTIN: %w: %v", ErrInvalid, err)
	}
	return s.do(ctx, a, "set branch GSTIN", iec, func(tx Tx, p *principal) error {
		if err := s.ownExporter(p, iec); err != nil {
			return err
		}
		e, err := tx.Exporter(iec)
		if err != nil {
			return err
		}
		for i := range e.Branches {
			if e.Branches[i].ID == branch {
				e.Branches[i].GSTIN = gstin
				if err := tx.PutExporter(e); err != nil {
					return err
				}
				return s.audit(tx, p.String(), "exporter.branch-gstin", iec, map[string]string{"branch": branch, "gstin": gstin})
			}
		}
		return fmt.Errorf("branch %q: %w at exporter %s", branch, ErrNotFound, iec)
	})
}

// ownExporter refuses anyone but the administrator of iec.
func (s *Service) ownExporter(p *principal, iec string) error {
	if err := need(p, "manage an exporter", RoleExporterAdmin); err != nil {
		return err
	}
	if p.org != iec {
		return forbidden("%s administers IEC %s, not %s", p.actor.ID, p.org, iec)
	}
	return nil
}

// AddApplicant adds an applicant (active) under the administrator's IEC.
func (s *Service) AddApplicant(ctx context.Context, a Actor, iec string, n NewPerson) (*Person, error) {
	if err := n.check("applicant"); err != nil {
		return nil, fmt.Errorf("add applicant: %w", err)
	}
	var out *Person
	err := s.do(ctx, a, "add applicant", iec, func(tx Tx, p *principal) error {
		if err := s.ownExporter(p, iec); err != nil {
			return err
		}
		np := s.newPerson(n, RoleApplicant, iec, PersonActive)
		np.ApprovedBy = p.actor.ID
		if err := insertPerson(tx, np); err != nil {
			return err
		}
		out = np
		return s.audit(tx, p.String(), "applicant.add", iec, map[string]string{"applicant": np.ID})
	})
	return out, err
}

// RemoveApplicant deactivates an applicant of the administrator's IEC
// (the account and its history are kept).
func (s *Service) RemoveApplicant(ctx context.Context, a Actor, iec, id string) error {
	id = normID(id)
	return s.do(ctx, a, "remove applicant", iec, func(tx Tx, p *principal) error {
		if err := s.ownExporter(p, iec); err != nil {
			return err
		}
		ap, err := tx.Person(id)
		if err != nil {
			return err
		}
		if ap.Role != RoleApplicant || ap.Org != iec {
			return forbidden("%s is not an applicant of IEC %s", id, iec)
		}
		ap.Status, ap.Updated = PersonInactive, s.now()
		if err := tx.PutPerson(ap); err != nil {
			return err
		}
		return s.audit(tx, p.String(), "applicant.remove", iec, map[string]string{"applicant": id})
	})
}

// AgencyRegistration is an agency administrator's registration request.
type AgencyRegistration struct {
	Agency string    `json:"agency"`
	Name   string    `json:"name"`
	Series string    `json:"series"`
	Admin  NewPerson `json:"admin"`
	// AuthorisationLetterSHA256 is the hex SHA-256 of the authorisation
	// letter (the attachment itself is stored with the attachments).
	AuthorisationLetterSHA256 string `json:"authorisationLetterSha256"`
}

// validCode checks an agency id, series or office code: 1 to 16 upper-case
// letters or digits.
func validCode(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := strconv.ParseUint(s[:16], 16, 64)
	return err == nil && strings.Trim(s, "0123456789abcdef") == ""
}

// RegisterAgency records an agency administrator's registration (no
// session yet: the request is public). The agency and its administrator
// stay pending until the node operator approves them.
func (s *Service) RegisterAgency(ctx context.Context, r AgencyRegistration) (*Agency, error) {
	var p problems
	if !validCode(r.Agency) {
		p.add("agency", "%q is not an agency id (1 to 16 upper-case letters or digits)", r.Agency)
	}
	if !validCode(r.Series) {
		p.add("series", "%q is not a certificate series prefix (1 to 16 upper-case letters or digits)", r.Series)
	}
	if strings.TrimSpace(r.Name) == "" {
		p.add("name", "enter the agency's name")
	}
	if !isHex64(r.AuthorisationLetterSHA256) {
		p.add("authorisationLetterSha256", "attach the authorisation letter (its SHA-256, 64 lower-case hex digits)")
	}
	if err := p.err("agency registration"); err != nil {
		return nil, err
	}
	if err := r.Admin.check("admin"); err != nil {
		return nil, err
	}
	var out *Agency
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Agency(r.Agency); err == nil {
			return fmt.Errorf("%w: agency %s is registered", ErrConflict, r.Agency)
		}
		admin := s.newPerson(r.Admin, RoleAgencyAdmin, r.Agency, PersonPending)
		if err := insertPerson(tx, admin); err != nil {
			return err
		}
		ag := &Agency{ID: r.Agency, Name: strings.TrimSpace(r.Name), Series: r.Series, Admin: admin.ID,
			Status: AgencyPending, AuthorisationLetterSHA256: r.AuthorisationLetterSHA256, Created: s.now()}
		if err := tx.PutAgency(ag); err != nil {
			return err
		}
		out = ag
		return s.audit(tx, "registration:"+admin.ID, "agency.register", ag.ID, map[string]string{"admin": admin.ID, "letterSha256": ag.AuthorisationLetterSHA256})
	})
	if err != nil {
		return nil, fmt.Errorf("register agency %s: %w", r.Agency, err)
	}
	return out, nil
}

// ApproveAgency activates a pending agency and its administrator. Operator.
func (s *Service) ApproveAgency(ctx context.Context, a Actor, agency string) error {
	return s.do(ctx, a, "approve agency", agency, func(tx Tx, p *principal) error {
		if err := need(p, "approve an agency", RoleOperator); err != nil {
			return err
		}
		ag, err := tx.Agency(agency)
		if err != nil {
			return err
		}
		if ag.Status != AgencyPending {
			return fmt.Errorf("%w: agency %s is %s", ErrState, agency, ag.Status)
		}
		admin, err := tx.Person(ag.Admin)
		if err != nil {
			return err
		}
		now := s.now()
		ag.Status, ag.Approved = AgencyActive, now
		admin.Status, admin.ApprovedBy, admin.Updated = PersonActive, p.actor.ID, now
		if err := tx.PutAgency(ag); err != nil {
			return err
		}
		if err := tx.PutPerson(admin); err != nil {
			return err
		}
		return s.audit(tx, p.String(), "agency.approve", agency, map[string]string{"admin": admin.ID})
	})
}

// agencyAdmin refuses anyone but the administrator of an active agency.
func agencyAdmin(tx Tx, p *principal, agency string) (*Agency, error) {
	if err := need(p, "manage an agency", RoleAgencyAdmin); err != nil {
		return nil, err
	}
	if p.org != agency {
		return nil, forbidden("%s administers agency %s, not %s", p.actor.ID, p.org, agency)
	}
	ag, err := tx.Agency(agency)
	if err != nil {
		return nil, err
	}
	if ag.Status != AgencyActive {
		return nil, forbidden("agency %s is %s", agency, ag.Status)
	}
	return ag, nil
}

func checkOffice(o *Office) error {
	var p problems
	if !validCode(o.ID) {
		p.add("id", "%q is not an office id (1 to 16 upper-case letters or digits)", o.ID)
	}
	if !validCode(o.Code) {
		p.add("code", "%q is not an office code for certificate numbers (1 to 16 upper-case letters or digits)", o.Code)
	}
	if strings.TrimSpace(o.Name) == "" {
		p.add("name", "enter the office's name")
	}
	if strings.TrimSpace(o.Address) == "" {
		p.add("address", "enter the office's address")
	}
	if len(o.Currency) != 3 || strings.ToUpper(o.Currency) != o.Currency {
		p.add("currency", "%q is not an ISO 4217 currency code", o.Currency)
	}
	for k, v := range o.Fees {
		if !k.valid() {
			p.add("fees", "%q is not an application kind (%v)", k, Kinds)
		}
		if v < 0 || v > maxAmount {
			p.add("fees."+string(k), "must be between 0 and %d (minor units)", maxAmount)
		}
	}
	if msg := validGatewayParam(o.MerchantID); msg != "" {
		p.add("merchantId", "%s", msg)
	}
	if msg := validGatewayParam(o.ChecksumKey); msg != "" {
		p.add("checksumKey", "%s", msg)
	}
	return p.err("office " + o.ID)
}

// PutOffice adds an office to the administrator's agency, or updates one
// of its offices. The payment gateway's merchant id and checksum key are
// refused when blank or containing spaces.
func (s *Service) PutOffice(ctx context.Context, a Actor, o Office) (*Office, error) {
	if err := checkOffice(&o); err != nil {
		return nil, err
	}
	var out *Office
	err := s.do(ctx, a, "put office", o.Agency+"/"+o.ID, func(tx Tx, p *principal) error {
		if _, err := agencyAdmin(tx, p, o.Agency); err != nil {
			return err
		}
		now := s.now()
		action := "office.add"
		if old, err := tx.Office(o.ID); err == nil {
			if old.Agency != o.Agency {
				return forbidden("office %s belongs to agency %s", o.ID, old.Agency)
			}
			o.Created, action = old.Created, "office.update"
		} else if !errors.Is(err, ErrNotFound) {
			return err
		} else {
			o.Created = now
		}
		o.Updated = now
		if err := tx.PutOffice(&o); err != nil {
			return err
		}
		out = &o
		return s.audit(tx, p.String(), action, o.ID, map[string]string{"agency": o.Agency, "eWallet": strconv.FormatBool(o.EWallet), "merchantId": o.MerchantID})
	})
	return out, err
}

// OfficerRegistration is an officer's registration request (public).
type OfficerRegistration struct {
	Agency  string    `json:"agency"`
	Office  string    `json:"office"`
	Officer NewPerson `json:"officer"`
}

// RegisterOfficer records an officer's registration request, pending the
// agency administrator's approval.
func (s *Service) RegisterOfficer(ctx context.Context, r OfficerRegistration) (*Person, error) {
	if err := r.Officer.check("officer"); err != nil {
		return nil, err
	}
	var out *Person
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		ag, err := tx.Agency(r.Agency)
		if err != nil {
			return err
		}
		if ag.Status != AgencyActive {
			return fmt.Errorf("%w: agency %s is not active yet", ErrState, r.Agency)
		}
		o, err := tx.Office(r.Office)
		if err != nil {
			return err
		}
		if o.Agency != r.Agency {
			return invalid("office %s is not an office of agency %s", r.Office, r.Agency)
		}
		np := s.newPerson(r.Officer, RoleOfficer, r.Agency, PersonPending)
		np.Offices = []string{r.Office}
		if err := insertPerson(tx, np); err != nil {
			return err
		}
		out = np
		return s.audit(tx, "registration:"+np.ID, "officer.register", np.ID, map[string]string{"agency": r.Agency, "office": r.Office})
	})
	if err != nil {
		return nil, fmt.Errorf("register officer %s: %w", r.Officer.ID, err)
	}
	return out, nil
}

// officerOf returns an officer of the administrator's agency.
func officerOf(tx Tx, p *principal, id string) (*Person, error) {
	if _, err := agencyAdmin(tx, p, p.org); err != nil {
		return nil, err
	}
	o, err := tx.Person(normID(id))
	if err != nil {
		return nil, err
	}
	if o.Role != RoleOfficer || o.Org != p.org {
		return nil, forbidden("%s is not an officer of agency %s", id, p.org)
	}
	return o, nil
}

// ApproveOfficer activates a pending officer of the administrator's
// agency.
func (s *Service) ApproveOfficer(ctx context.Context, a Actor, officer string) error {
	return s.do(ctx, a, "approve officer", officer, func(tx Tx, p *principal) error {
		o, err := officerOf(tx, p, officer)
		if err != nil {
			return err
		}
		if o.Status != PersonPending {
			return fmt.Errorf("%w: officer %s is %s", ErrState, o.ID, o.Status)
		}
		o.Status, o.ApprovedBy, o.Updated = PersonActive, p.actor.ID, s.now()
		if err := tx.PutPerson(o); err != nil {
			return err
		}
		return s.audit(tx, p.String(), "officer.approve", o.ID, nil)
	})
}

// MapOfficer sets the offices (of the administrator's agency) an officer
// works at.
func (s *Service) MapOfficer(ctx context.Context, a Actor, officer string, offices []string) error {
	return s.do(ctx, a, "map officer", officer, func(tx Tx, p *principal) error {
		o, err := officerOf(tx, p, officer)
		if err != nil {
			return err
		}
		for _, id := range offices {
			of, err := tx.Office(id)
			if err != nil {
				return err
			}
			if of.Agency != p.org {
				return forbidden("office %s is not an office of agency %s", id, p.org)
			}
		}
		o.Offices, o.Updated = append([]string(nil), offices...), s.now()
		if err := tx.PutPerson(o); err != nil {
			return err
		}
		return s.audit(tx, p.String(), "officer.map", o.ID, map[string]string{"offices": strings.Join(offices, ",")})
	})
}

// SetOfficerActive activates or deactivates an approved officer of the
// administrator's agency.
func (s *Service) SetOfficerActive(ctx context.Context, a Actor, officer string, active bool) error {
	return s.do(ctx, a, "set officer active", officer, func(tx Tx, p *principal) error {
		o, err := officerOf(tx, p, officer)
		if err != nil {
			return err
		}
		if o.Status == PersonPending {
			return fmt.Errorf("%w: officer %s is not approved yet", ErrState, o.ID)
		}
		o.Status = PersonInactive
		if active {
			o.Status = PersonActive
		}
		o.Updated = s.now()
		if err := tx.PutPerson(o); err != nil {
			return err
		}
		return s.audit(tx, p.String(), "officer.active", o.ID, map[string]string{"active": strconv.FormatBool(active)})
	})
}
