package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/internal/ratelimit"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/qrsign"
	"github.com/ecogate/ecogate/store"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Store keeps logins and sessions (implemented by store.Portal).
type Store interface {
	User(ctx context.Context, name string) (*store.PortalUser, error)
	PutUser(ctx context.Context, u *store.PortalUser) error
	Session(ctx context.Context, id string) (*store.PortalSession, error)
	PutSession(ctx context.Context, id string, s *store.PortalSession) error
	DeleteSession(ctx context.Context, id string) error
}

// Issuance is the issuance service as the portal reads it (implemented
// by *issuance.Service, which checks every actor).
type Issuance interface {
	PortalDashboard(ctx context.Context, a issuance.Actor) (*issuance.Dashboard, error)
	CertificateFacts(ctx context.Context, a issuance.Actor, id string) (*issuance.CertificateFacts, error)
}

// Images gives the optional images printed on a certificate: an office's
// stamp and an officer's signature (PNG or JPEG bytes; nil, nil when there
// is none, and the PDF prints a labelled empty box).
type Images interface {
	Stamp(ctx context.Context, office string) ([]byte, error)
	Signature(ctx context.Context, officer string) ([]byte, error)
}

// Options configure the portal.
type Options struct {
	// Name is the node's name shown in the header.
	Name     string
	Store    Store
	Issuance Issuance
	// Verify configures the public verification page served at /verify
	// (Render is set by the portal).
	Verify verify.Options
	// QR signs the payload of the certificate PDF's QR code; nil prints
	// the verification link only.
	QR     *qrsign.Signer
	Images Images
	// Service, when set, drives the workflow pages (filing, paying,
	// reviewing, signing, administering); without it only the
	// dashboards, the PDF and /verify are served.
	Service *issuance.Service
	// HeldSigning offers "approve and sign" with the node-held key;
	// ExternalSigning the download / upload path for a USB token.
	HeldSigning, ExternalSigning bool
	// Console is the node operator's console (partners, outbox, inbox,
	// audit chain); nil: the operator page says it is not wired.
	Console Console
	// SessionTTL is a session's lifetime (default 8h).
	SessionTTL time.Duration
	// LoginRate is the sustained login attempts per second per client
	// address and per user name (default 0.1), LoginBurst the bucket
	// (default 5).
	LoginRate  float64
	LoginBurst int
	// Key keys the login form's CSRF tokens; random when nil.
	Key        []byte
	ClientAddr func(*http.Request) string
	Clock      func() time.Time
	Logger     *slog.Logger
}

// Server is the portal. Safe for concurrent use.
type Server struct {
	opt    Options
	now    func() time.Time
	log    *slog.Logger
	pages  map[string]*template.Template
	verify *verify.Service
	logins *ratelimit.Table
	// registering serialises self-registrations, so that two cannot both
	// find a user name free and one overwrite the other's login.
	registering sync.Mutex
	// backgrounds remembers the images page's background checks.
	backgrounds backgroundCache
}

const (
	sessionCookie = "__Host-ecogate-session"
	preCookie     = "__Host-ecogate-pre"
)

// New returns the portal.
func New(opt Options) (*Server, error) {
	if opt.Issuance == nil && opt.Service != nil {
		opt.Issuance = opt.Service
	}
	if opt.Store == nil || opt.Issuance == nil {
		return nil, errors.New("portal: Options.Store and Options.Issuance are required")
	}
	dummyHash() // made now, so that the first unknown user's login costs what the others do
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 8 * time.Hour
	}
	if opt.LoginRate <= 0 {
		opt.LoginRate = 0.1
	}
	if opt.LoginBurst <= 0 {
		opt.LoginBurst = 5
	}
	if opt.Key == nil {
		opt.Key = make([]byte, 32)
		if _, err := rand.Read(opt.Key); err != nil {
			return nil, err
		}
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.ClientAddr == nil {
		opt.ClientAddr = ratelimit.RemoteHost
	}
	s := &Server{opt: opt, now: opt.Clock, log: opt.Logger, logins: ratelimit.New(opt.LoginRate, opt.LoginBurst, 100_000)}
	if err := s.parse(); err != nil {
		return nil, err
	}
	vo := opt.Verify
	if vo.Clock == nil {
		vo.Clock = opt.Clock
	}
	if vo.ClientAddr == nil {
		vo.ClientAddr = opt.ClientAddr
	}
	if vo.Logger == nil {
		vo.Logger = opt.Logger
	}
	vo.Render = s.renderVerify
	if vo.Register != nil {
		v, err := verify.New(vo)
		if err != nil {
			return nil, fmt.Errorf("portal: %w", err)
		}
		s.verify = v
	}
	return s, nil
}

var funcs = template.FuncMap{
	"money": func(minor int64, cur string) string {
		sign := ""
		if minor < 0 {
			sign, minor = "-", -minor
		}
		return fmt.Sprintf("%s%s %d.%02d", sign, cur, minor/100, minor%100)
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	},
}

func (s *Server) parse() error {
	s.pages = map[string]*template.Template{}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("portal template %s: %w", n, err)
		}
		s.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return nil
}

// Handler serves the portal.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.headers)
	static, _ := fs.Sub(assets, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", http.FileServerFS(static)))
	r.Get("/", s.handleHome)
	r.Get("/login", s.handleLoginForm)
	r.Post("/login", s.handleLogin)
	r.Post("/logout", s.handleLogout)
	r.Get("/dashboard", s.need(s.handleDashboard, roleAny...))
	r.Get("/exporter/applications", s.need(s.handleApplications, issuance.RoleExporterAdmin, issuance.RoleApplicant))
	r.Get("/officer/queue", s.need(s.handleQueue, issuance.RoleOfficer))
	r.Get("/agency/offices", s.need(s.handleOffices, issuance.RoleAgencyAdmin))
	r.Get("/applications/{id}/certificate.pdf", s.need(s.handlePDF, issuance.RoleExporterAdmin, issuance.RoleApplicant, issuance.RoleOfficer, issuance.RoleAgencyAdmin))
	if s.opt.Service != nil {
		r.Get("/register", s.handleRegisterForm)
		r.Post("/register", s.handleRegister)
		s.workflowRoutes(r)
		s.imageRoutes(r)
		s.adminRoutes(r)
	}
	s.consoleRoutes(r)
	if s.verify != nil {
		vr := s.verify.Routes()
		r.Handle("/verify", vr)
		r.Handle("/verify/*", vr)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusNotFound, "message", "Not found", nil, "There is no page at this address.")
	})
	return http.NewCrossOriginProtection().Handler(r)
}

var roleAny = []issuance.Role{issuance.RoleExporterAdmin, issuance.RoleApplicant, issuance.RoleAgencyAdmin, issuance.RoleOfficer, issuance.RoleOperator}

func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// --- sessions ---------------------------------------------------------

// session is the signed-in user of a request.
type session struct {
	ID   string
	User *store.PortalUser
	CSRF string
}

func (s *session) actor() issuance.Actor {
	return issuance.Actor{ID: s.User.Person, Role: issuance.Role(s.User.Role)}
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// current returns the request's session, or nil.
func (s *Server) current(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) != 43 {
		return nil
	}
	st, err := s.opt.Store.Session(r.Context(), c.Value)
	if err != nil || !s.now().Before(st.Expires) {
		return nil
	}
	u, err := s.opt.Store.User(r.Context(), st.User)
	if err != nil || u.Disabled {
		return nil
	}
	return &session{ID: c.Value, User: u, CSRF: st.CSRF}
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

type ctxKey struct{}

// need serves h only to a signed-in user of one of roles; others get the
// login page (not signed in) or 403.
func (s *Server) need(h http.HandlerFunc, roles ...issuance.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.current(r)
		if sess == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		ok := false
		for _, ro := range roles {
			if string(ro) == sess.User.Role {
				ok = true
			}
		}
		if !ok {
			s.log.Warn("portal: page refused to role", "user", sess.User.Name, "role", sess.User.Role, "path", r.URL.Path)
			s.render(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)), http.StatusForbidden, "message", "Not allowed", nil,
				"Your role ("+sess.User.Role+") may not open this page.")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	}
}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(ctxKey{}).(*session)
	return s
}

// checkCSRF compares the form's token with want in constant time.
func checkCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return want != "" && got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Server) preToken(pre string) string {
	m := hmac.New(sha256.New, s.opt.Key)
	m.Write([]byte("login\x00" + pre))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
