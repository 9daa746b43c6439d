package portal

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// Console is the node as its operator's console reads it (implemented by
// package gateway, whose node runs the exchange): partners and their
// certificates, a probe, the outbox with resend, the inbox, the customs
// clients and the audit chain.
type Console interface {
	Partners(ctx context.Context) ([]PartnerInfo, error)
	// Probe checks a partner as a delivery would reach it
	// (gateway.ProbePartner).
	Probe(ctx context.Context, country string) (ProbeInfo, error)
	Outbox(ctx context.Context, f store.Filter) ([]store.OutRecord, error)
	// Resend resends a suspended or failed message (same id); who is the
	// operator, for the audit trail.
	Resend(ctx context.Context, id, who string) error
	Inbox(ctx context.Context, limit int) ([]store.InRecord, error)
	CustomsClients(ctx context.Context) ([]store.CustomsClient, error)
	// VerifyAudit walks the audit chain and returns the entries checked,
	// or the first broken link.
	VerifyAudit(ctx context.Context) (int, error)
}

// PartnerInfo is one partner as the console lists it.
type PartnerInfo struct {
	Country, Name, Endpoint, Mode string
	Agreements                    []string
	Certs                         []CertExpiry
}

// CertExpiry is one certificate of a partner and when it expires.
type CertExpiry struct {
	Use, Subject string
	NotAfter     time.Time
	DaysLeft     int
}

// ProbeInfo is the outcome of a probe.
type ProbeInfo struct {
	Country string
	OK      bool
	Step    string // the step that failed
	Detail  string
	Elapsed time.Duration
}

type consoleView struct {
	Partners []PartnerInfo
	Probe    *ProbeInfo
	Outbox   []store.OutRecord
	Filter   store.Filter
	States   []store.State
	Inbox    []store.InRecord
	Customs  []store.CustomsClient
	Audit    string
	AuditOK  bool
}

func (s *Server) consoleRoutes(r chi.Router) {
	r.Get("/operator", s.need(s.handleOperator, issuance.RoleOperator))
	r.Post("/operator/partners/{country}/probe", s.need(s.post(s.handleProbe), issuance.RoleOperator))
	r.Post("/operator/outbox/{id}/resend", s.need(s.post(s.handleResend), issuance.RoleOperator))
	r.Post("/operator/audit/verify", s.need(s.post(s.handleAuditVerify), issuance.RoleOperator))
}

// operatorOK checks the signed-in operator against the issuance service
// (the node's configured operators), as every other page does.
func (s *Server) operatorOK(w http.ResponseWriter, r *http.Request) bool {
	_, ok := s.dashboard(w, r)
	return ok
}

func (s *Server) consolePage(w http.ResponseWriter, r *http.Request, v *consoleView, msg string) {
	if !s.operatorOK(w, r) {
		return
	}
	if s.opt.Console == nil {
		s.render(w, r, http.StatusOK, "operator", "Node", v, "The node console is not wired on this portal.")
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	v.Filter = store.Filter{State: store.State(q.Get("state")), Partner: q.Get("partner"), Limit: 200}
	v.States = store.States()
	var err error
	if v.Partners, err = s.opt.Console.Partners(ctx); err == nil {
		if v.Outbox, err = s.opt.Console.Outbox(ctx, v.Filter); err == nil {
			if v.Inbox, err = s.opt.Console.Inbox(ctx, 100); err == nil {
				v.Customs, err = s.opt.Console.CustomsClients(ctx)
			}
		}
	}
	if err != nil {
		msg = "Not everything could be read: " + err.Error()
	}
	s.render(w, r, http.StatusOK, "operator", "Node", v, msg)
}

func (s *Server) handleOperator(w http.ResponseWriter, r *http.Request) {
	s.consolePage(w, r, &consoleView{}, "")
}

func (s *Server) handleProbe(w http.ResponseWriter, r *http.Request) {
	if s.opt.Console == nil || !s.operatorOK(w, r) {
		s.consolePage(w, r, &consoleView{}, "")
		return
	}
	p, err := s.opt.Console.Probe(r.Context(), chi.URLParam(r, "country"))
	if err != nil {
		s.consolePage(w, r, &consoleView{}, "Probe: "+err.Error())
		return
	}
	msg := "Partner " + p.Country + " answered as a delivery needs (" + p.Elapsed.Round(time.Millisecond).String() + ")."
	if !p.OK {
		msg = "Partner " + p.Country + " failed at step " + p.Step + ": " + p.Detail
	}
	s.consolePage(w, r, &consoleView{Probe: &p}, msg)
}

func (s *Server) handleResend(w http.ResponseWriter, r *http.Request) {
	if s.opt.Console == nil || !s.operatorOK(w, r) {
		s.consolePage(w, r, &consoleView{}, "")
		return
	}
	id := chi.URLParam(r, "id")
	msg := "Message " + id + " is queued again."
	if err := s.opt.Console.Resend(r.Context(), id, sessionOf(r).User.Person); err != nil {
		msg = "Not resent: " + err.Error()
	}
	s.consolePage(w, r, &consoleView{}, msg)
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	if s.opt.Console == nil || !s.operatorOK(w, r) {
		s.consolePage(w, r, &consoleView{}, "")
		return
	}
	v := &consoleView{}
	n, err := s.opt.Console.VerifyAudit(r.Context())
	if err != nil {
		v.Audit = "The audit chain is BROKEN: " + err.Error()
	} else {
		v.Audit, v.AuditOK = "The audit chain is intact: "+strconv.Itoa(n)+" entries checked.", true
	}
	s.consolePage(w, r, v, v.Audit)
}
