package portal

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// NavLink is one link of the layout's navigation.
type NavLink struct{ Href, Label string }

// View is the data every page template gets.
type View struct {
	Title   string
	Name    string // the node's name
	User    *store.PortalUser
	CSRF    string
	Nav     []NavLink
	Message string
	Data    any
}

// navFor is the navigation of a role ("" for the public).
func navFor(role string) []NavLink {
	home := []NavLink{{"/dashboard", "Dashboard"}}
	switch issuance.Role(role) {
	case issuance.RoleExporterAdmin, issuance.RoleApplicant:
		return append(home, NavLink{"/exporter/applications", "Applications"}, NavLink{"/exporter/applications/new", "New application"}, NavLink{"/verify", "Verify a certificate"})
	case issuance.RoleOfficer:
		return append(home, NavLink{"/officer/queue", "Review queue"}, NavLink{"/verify", "Verify a certificate"})
	case issuance.RoleAgencyAdmin:
		return append(home, NavLink{"/agency/offices", "Offices"}, NavLink{"/agency/people", "People"}, NavLink{"/agency/images", "Stamps and signatures"}, NavLink{"/verify", "Verify a certificate"})
	case issuance.RoleOperator:
		return append(home, NavLink{"/operator", "Node"}, NavLink{"/verify", "Verify a certificate"})
	}
	return []NavLink{{"/verify", "Verify a certificate"}, {"/login", "Log in"}}
}

// render writes page name in the layout. The page is rendered into a
// buffer first, so a template error never sends half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any, msg string) {
	v := View{Title: title, Name: s.opt.Name, Data: data, Message: msg, Nav: navFor("")}
	if sess := sessionOf(r); sess != nil {
		v.User, v.CSRF, v.Nav = sess.User, sess.CSRF, navFor(sess.User.Role)
	} else if sess := s.current(r); sess != nil {
		v.User, v.CSRF, v.Nav = sess.User, sess.CSRF, navFor(sess.User.Role)
	}
	if d, ok := data.(loginData); ok {
		v.CSRF = d.CSRF
	}
	t := s.pages[name]
	var buf bytes.Buffer
	if t == nil {
		s.log.Error("portal: no template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.log.Error("portal: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderVerify renders the public verification page in the layout
// (verify.Options.Render).
func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, status int, p verify.Page) error {
	s.render(w, r, status, "verify", "Verify a certificate of origin", p, "")
	return nil
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	if s.current(r) != nil {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "home", "Certificates of origin", struct{ Register bool }{s.opt.Service != nil}, "")
}

type loginData struct {
	CSRF string
	User string
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.loginForm(w, r, http.StatusOK, "", "")
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request, status int, user, msg string) {
	pre := randomID()
	s.setCookie(w, preCookie, pre, 1800)
	s.render(w, r, status, "login", "Log in", loginData{CSRF: s.preToken(pre), User: user}, msg)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	c, err := r.Cookie(preCookie)
	if err != nil || !checkCSRF(r, s.preToken(c.Value)) {
		s.log.Warn("portal: login refused: CSRF token missing or wrong")
		s.render(w, r, http.StatusForbidden, "message", "Not allowed", nil, "The form expired or did not come from this site. Open the login page again.")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("user"))
	pw := r.PostFormValue("password")
	now := s.now()
	if !s.logins.Allow("addr\x00"+s.opt.ClientAddr(r), now) || !s.logins.Allow("user\x00"+strings.ToLower(name), now) {
		w.Header().Set("Retry-After", "60")
		s.log.Warn("portal: login rate-limited", "user", name)
		s.loginForm(w, r, http.StatusTooManyRequests, name, "Too many login attempts. Wait a minute and try again.")
		return
	}
	u, err := s.opt.Store.User(r.Context(), name)
	hash := dummyHash()
	if err == nil {
		hash = u.Hash
	}
	ok, herr := CheckPassword(hash, pw)
	if err != nil || herr != nil || !ok || u.Disabled {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("portal: login store", "err", err)
		}
		s.log.Info("portal: login failed", "user", name)
		s.loginForm(w, r, http.StatusUnauthorized, name, "The user name or the password is not right.")
		return
	}
	id := randomID()
	if err := s.opt.Store.PutSession(r.Context(), id, &store.PortalSession{User: u.Name, CSRF: randomID(), Created: now.UTC(), Expires: now.Add(s.opt.SessionTTL).UTC()}); err != nil {
		s.log.Error("portal: session store", "err", err)
		s.render(w, r, http.StatusServiceUnavailable, "message", "Try again", nil, "The session could not be saved; try again later.")
		return
	}
	s.log.Info("portal: login", "user", u.Name, "role", u.Role)
	s.setCookie(w, preCookie, "", -1)
	s.setCookie(w, sessionCookie, id, int(s.opt.SessionTTL.Seconds()))
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	sess := s.current(r)
	if sess == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if !checkCSRF(r, sess.CSRF) {
		s.log.Warn("portal: logout refused: CSRF token missing or wrong", "user", sess.User.Name)
		s.render(w, r, http.StatusForbidden, "message", "Not allowed", nil, "The form expired or did not come from this site.")
		return
	}
	if err := s.opt.Store.DeleteSession(r.Context(), sess.ID); err != nil {
		s.log.Error("portal: logout", "err", err)
	}
	s.log.Info("portal: logout", "user", sess.User.Name)
	s.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// dashboard asks the issuance service for the signed-in user's dashboard;
// an error is shown (403 for a refusal).
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) (*issuance.Dashboard, bool) {
	d, err := s.opt.Issuance.PortalDashboard(r.Context(), sessionOf(r).actor())
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return d, true
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, issuance.ErrForbidden):
		s.render(w, r, http.StatusForbidden, "message", "Not allowed", nil, err.Error())
	case errors.Is(err, issuance.ErrNotFound):
		s.render(w, r, http.StatusNotFound, "message", "Not found", nil, err.Error())
	case errors.Is(err, issuance.ErrState):
		s.render(w, r, http.StatusConflict, "message", "Not available", nil, err.Error())
	default:
		s.log.Error("portal", "path", r.URL.Path, "err", err)
		s.render(w, r, http.StatusInternalServerError, "message", "Error", nil, "Something went wrong; try again later.")
	}
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	if d, ok := s.dashboard(w, r); ok {
		s.render(w, r, http.StatusOK, "dashboard", "Dashboard", &dashboardView{Dashboard: d, Notices: noticesOf(d.Recent)}, "")
	}
}

func (s *Server) handleApplications(w http.ResponseWriter, r *http.Request) {
	if d, ok := s.dashboard(w, r); ok {
		s.render(w, r, http.StatusOK, "applications", "Applications", d, "")
	}
}

func (s *Server) handleQueue(w http.ResponseWriter, r *http.Request) {
	if d, ok := s.dashboard(w, r); ok {
		s.render(w, r, http.StatusOK, "queue", "Review queue", d, "")
	}
}

func (s *Server) handlePDF(w http.ResponseWriter, r *http.Request) {
	f, err := s.opt.Issuance.CertificateFacts(r.Context(), sessionOf(r).actor(), chi.URLParam(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pdf, err := s.CertificatePDF(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeName(f.Application.Certificate)+`.pdf"`)
	_, _ = w.Write(pdf)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
