package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/issuance"
)

// The agency administrator's pages: offices (fees, e-wallet switch,
// merchant id and checksum key), e-wallet credits, and the agency's
// people (approve officers, map them to offices, activate, deactivate).

type officesView struct {
	Offices []*issuance.Office
	Edit    *issuance.Office
	Kinds   []issuance.Kind
}

type peopleView struct {
	People  []*issuance.Person
	Offices []*issuance.Office
}

func (s *Server) adminRoutes(r chi.Router) {
	r.Post("/agency/offices", s.need(s.post(s.handlePutOffice), issuance.RoleAgencyAdmin))
	r.Post("/agency/wallets", s.need(s.post(s.handleTopUp), issuance.RoleAgencyAdmin))
	r.Get("/agency/people", s.need(s.handlePeople, issuance.RoleAgencyAdmin))
	r.Post("/agency/people/{id}/{action}", s.need(s.post(s.handlePersonAction), issuance.RoleAgencyAdmin))
}

func (s *Server) officesPage(w http.ResponseWriter, r *http.Request, status int, edit *issuance.Office, msg string) {
	d, ok := s.dashboard(w, r)
	if !ok {
		return
	}
	if edit == nil {
		edit = &issuance.Office{Agency: d.Org, Currency: "INR", Fees: map[issuance.Kind]int64{}}
		if id := r.URL.Query().Get("edit"); id != "" {
			for _, o := range d.Offices {
				if o.ID == id {
					edit = o
				}
			}
		}
	}
	s.render(w, r, status, "offices", "Offices", &officesView{Offices: d.Offices, Edit: edit, Kinds: issuance.Kinds}, msg)
}

func (s *Server) handleOffices(w http.ResponseWriter, r *http.Request) {
	s.officesPage(w, r, http.StatusOK, nil, "")
}

func (s *Server) handlePutOffice(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	g := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	d, ok := s.dashboard(w, r)
	if !ok {
		return
	}
	o := issuance.Office{ID: g("id"), Agency: d.Org, Code: g("code"), Name: g("name"), Address: g("address"), Currency: strings.ToUpper(g("currency")),
		EWallet: f.Get("eWallet") == "on", MerchantID: g("merchantId"), ChecksumKey: g("checksumKey"), Fees: map[issuance.Kind]int64{}}
	for _, k := range issuance.Kinds {
		v, err := ParseAmount(f.Get("fee." + string(k)))
		if err != nil {
			s.officesPage(w, r, http.StatusUnprocessableEntity, &o, "Fee for "+string(k)+": "+err.Error())
			return
		}
		if v > 0 {
			o.Fees[k] = v
		}
	}
	if _, err := s.opt.Service.PutOffice(r.Context(), actorOf(r), o); err != nil {
		if isUserError(err) {
			s.officesPage(w, r, http.StatusUnprocessableEntity, &o, "Not saved: "+err.Error())
			return
		}
		s.fail(w, r, err)
		return
	}
	s.officesPage(w, r, http.StatusOK, nil, "Office "+o.ID+" saved.")
}

func (s *Server) handleTopUp(w http.ResponseWriter, r *http.Request) {
	amt, err := ParseAmount(r.PostFormValue("amount"))
	msg := ""
	if err == nil {
		_, err = s.opt.Service.TopUp(r.Context(), actorOf(r), strings.TrimSpace(r.PostFormValue("iec")), r.PostFormValue("office"), amt, r.PostFormValue("reason"))
	}
	if err != nil && !isUserError(err) {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		msg = "Not credited: " + err.Error()
	} else {
		msg = "E-wallet credited."
	}
	s.officesPage(w, r, http.StatusOK, nil, msg)
}

func isUserError(err error) bool {
	return errors.Is(err, issuance.ErrInvalid) || errors.Is(err, issuance.ErrState) || errors.Is(err, issuance.ErrNotFound)
}

func (s *Server) peoplePage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d, ok := s.dashboard(w, r)
	if !ok {
		return
	}
	ps, err := s.opt.Service.AgencyPeople(r.Context(), actorOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "people", "People", &peopleView{People: ps, Offices: d.Offices}, msg)
}

func (s *Server) handlePeople(w http.ResponseWriter, r *http.Request) {
	s.peoplePage(w, r, http.StatusOK, "")
}

func (s *Server) handlePersonAction(w http.ResponseWriter, r *http.Request) {
	ctx, a, id := r.Context(), actorOf(r), chi.URLParam(r, "id")
	var err error
	switch chi.URLParam(r, "action") {
	case "approve":
		err = s.opt.Service.ApproveOfficer(ctx, a, id)
	case "activate":
		err = s.opt.Service.SetOfficerActive(ctx, a, id, true)
	case "deactivate":
		err = s.opt.Service.SetOfficerActive(ctx, a, id, false)
	case "map":
		err = s.opt.Service.MapOfficer(ctx, a, id, r.PostForm["office"])
	default:
		s.render(w, r, http.StatusNotFound, "message", "Not found", nil, "There is no such action.")
		return
	}
	if err != nil && !isUserError(err) {
		s.fail(w, r, err)
		return
	}
	msg := "Done."
	if err != nil {
		msg = "Not done: " + err.Error()
	}
	s.peoplePage(w, r, http.StatusOK, msg)
}
