package portal

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// The exporter's self-registration (public, no session): the IEC and the
// administrator's name and e-mail go to the issuance service
// (SelfRegisterExporter, which takes the exporter's details from the
// trade registry), then a portal login acting as the administrator is
// created with the password chosen here. The administrator may act at
// once when the registry holds the same e-mail, otherwise after the node
// operator confirms (POST /issuance/v1/exporters/{iec}/confirm).

type registerData struct {
	CSRF              string
	IEC, Name, Email  string
	User              string
	Done              *issuance.ExporterRegistration
	DoneUser, Problem string
}

func (s *Server) registerToken(pre string) string { return s.preToken("register\x00" + pre) }

func (s *Server) handleRegisterForm(w http.ResponseWriter, r *http.Request) {
	s.registerForm(w, r, http.StatusOK, &registerData{}, "")
}

func (s *Server) registerForm(w http.ResponseWriter, r *http.Request, status int, d *registerData, msg string) {
	pre := randomID()
	s.setCookie(w, preCookie, pre, 1800)
	d.CSRF = s.registerToken(pre)
	s.render(w, r, status, "register", "Register your firm", d, msg)
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	c, err := r.Cookie(preCookie)
	if err != nil || !checkCSRF(r, s.registerToken(c.Value)) {
		s.log.Warn("portal: registration refused: CSRF token missing or wrong")
		s.render(w, r, http.StatusForbidden, "message", "Not allowed", nil, "The form expired or did not come from this site. Open the registration page again.")
		return
	}
	g := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	d := &registerData{IEC: strings.ToUpper(g("iec")), Name: g("name"), Email: g("email"), User: g("user")}
	if !s.logins.Allow("addr\x00"+s.opt.ClientAddr(r), s.now()) {
		w.Header().Set("Retry-After", "60")
		s.registerForm(w, r, http.StatusTooManyRequests, d, "Too many attempts from your address. Wait a minute and try again.")
		return
	}
	pw, pw2 := r.PostFormValue("password"), r.PostFormValue("password2")
	var problem string
	switch {
	case d.IEC == "" || d.Name == "" || d.Email == "" || d.User == "":
		problem = "Give the IEC, your name, your e-mail and a user name."
	case len(d.User) > 64 || strings.ContainsAny(d.User, " \t/\x00"):
		problem = "The user name must have at most 64 characters, without spaces or slashes."
	case len(pw) < MinPassword || len(pw) > maxPassword:
		problem = "The password must have at least 12 characters (at most 256)."
	case pw != pw2:
		problem = "The two passwords differ; type the same password twice."
	}
	s.registering.Lock()
	defer s.registering.Unlock()
	if problem == "" {
		if _, err := s.opt.Store.User(r.Context(), d.User); err == nil {
			problem = "The user name " + d.User + " is taken; choose another."
		} else if !errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
	}
	if problem != "" {
		s.registerForm(w, r, http.StatusUnprocessableEntity, d, problem)
		return
	}
	hash, err := HashPassword(pw)
	if err != nil {
		s.registerForm(w, r, http.StatusUnprocessableEntity, d, err.Error())
		return
	}
	reg, err := s.opt.Service.SelfRegisterExporter(r.Context(), d.IEC, issuance.NewPerson{ID: d.Email, Name: d.Name, Email: d.Email})
	if err != nil {
		if isUserError(err) || errors.Is(err, issuance.ErrConflict) {
			s.log.Info("portal: registration refused", "iec", d.IEC, "err", err)
			s.registerForm(w, r, http.StatusUnprocessableEntity, d, "Not registered: "+err.Error())
			return
		}
		s.fail(w, r, err)
		return
	}
	now := s.now().UTC()
	if err := s.opt.Store.PutUser(r.Context(), &store.PortalUser{Name: d.User, Hash: hash, Person: reg.Admin, Role: string(issuance.RoleExporterAdmin), Created: now, Updated: now}); err != nil {
		s.log.Error("portal: registration: login not saved", "iec", d.IEC, "user", d.User, "err", err)
		s.render(w, r, http.StatusServiceUnavailable, "message", "Registered without a login", nil,
			"Your firm is registered, but the login could not be saved. Ask the node operator to create it (ecogate portal add-user).")
		return
	}
	s.log.Info("portal: exporter registered", "iec", d.IEC, "user", d.User, "status", reg.Status)
	s.setCookie(w, preCookie, "", -1)
	d.Done, d.DoneUser = reg, d.User
	s.render(w, r, http.StatusOK, "register", "Registered", d, "")
}
