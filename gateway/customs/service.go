package customs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/ids"
	"github.com/ecogate/ecogate/internal/strictjson"
	"github.com/ecogate/ecogate/openapi"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// Store is the customs face's durable state (satisfied by *store.Customs).
type Store interface {
	Client(ctx context.Context, id string) (*store.CustomsClient, error)
	// ClientByCert is the active client bound to a client certificate
	// (hex SHA-256 of its DER bytes), or store.ErrNotFound.
	ClientByCert(ctx context.Context, fingerprint string) (*store.CustomsClient, error)
	// PutView stores a view and the signer chain it refers to by its
	// SHA-256 (chain: none, or one).
	PutView(ctx context.Context, country, number string, basedOn uint64, view []byte, chain ...[]byte) error
	// Chain is the signer chain whose hex SHA-256 a view refers to.
	Chain(ctx context.Context, sha256Hex string) ([]byte, error)
	Snapshot(country, number string, versionOf func(view []byte) int, dst *store.Snapshot) (bool, error)
	Decide(ctx context.Context, d store.Decision, msg *store.OutMessage) (*store.Decision, error)
	Decisions(ctx context.Context, country, number string) ([]store.Decision, error)
}

// Inbox is the part of the inbox the lazy view build reads (satisfied by
// *store.Inbox).
type Inbox interface {
	ByCertificate(ctx context.Context, country, number string) ([]store.InRecord, error)
	Get(ctx context.Context, id string) (*store.InRecord, error)
}

// DocumentSigner signs XML documents with the node's document-signing key
// (an enveloped XML-DSig; gateway.CertsSigner satisfies it).
type DocumentSigner interface {
	Sign(ctx context.Context, doc []byte) ([]byte, error)
}

// Options configure a Service.
type Options struct {
	// Country is this node's country (the importing side of checks).
	Country string
	Store   Store
	// Inbox lets the first check of a certificate build its view from the
	// stored message (nil: only views stored eagerly are found).
	Inbox Inbox
	// Tokens issues access tokens at /oauth/token; TokenVerifier checks
	// them (its Audience should be Audience).
	Tokens        *certs.TokenIssuer
	TokenVerifier *certs.TokenVerifier
	// ClientCRLs gives the CRLs that verified client certificates (mutual
	// TLS, mtls.go) are checked against now; nil or empty: none. The
	// listener verifies the certificates against the client CAs.
	ClientCRLs func() []*x509.RevocationList
	// Audience is the aud claim of the tokens; "ecogate-customs" when empty.
	Audience string
	// Signer signs decisions (M6) before they go to the issuer; without it
	// decisions are recorded but not sent.
	Signer DocumentSigner
	// Query asks issuing nodes about certificates not stored here (nil: a
	// certificate not stored is NOT_FOUND).
	Query *QueryClient
	// PullPartner reports whether a partner fetches its messages (pull
	// mode); nil means push for every partner.
	PullPartner func(country string) bool
	// SignerTrust gives a partner's document-signing trust as loaded now;
	// with it a check re-evaluates the stored signer chain against the
	// CRLs of the moment (REVOKED, UNTRUSTED). Nil: the report made at
	// receipt is the only judgment.
	SignerTrust TrustSource
	// CodeLists answer Rec 20 questions; nil means the built-in lists.
	CodeLists *schema.CodeLists
	// Clock gives the time; time.Now when nil.
	Clock func() time.Time
	// Logger receives structured logs; discarded when nil.
	Logger *slog.Logger
	// NewID makes outbound message ids; UUIDv7 when nil.
	NewID func(time.Time) string
	// MaxBody caps request bodies; 1 MiB when zero.
	MaxBody int64
	// Audit, when set, records decisions and refused token requests
	// (*store.Audit satisfies it).
	Audit AuditLog
	// Metrics, when set, registers ecogate_customs_checks_total{verdict}
	// and ecogate_customs_decisions_total{outcome}.
	Metrics prometheus.Registerer
}

// AuditLog is the append-only audit log (satisfied by *store.Audit).
type AuditLog interface {
	Append(ctx context.Context, e store.Entry) (store.Entry, error)
}

// Service is the customs face: the token endpoint, the check, lookup and
// decision API. It is safe for concurrent use.
type Service struct {
	opt   Options
	now   func() time.Time
	log   *slog.Logger
	auth  *authenticator
	certs *certAuthenticator

	checks    map[string]prometheus.Counter // by verdict, resolved once (read-only)
	decisions *prometheus.CounterVec
	signers   signerCache
}

// audit appends an audit entry when an audit log is configured.
func (s *Service) audit(ctx context.Context, actor, action, subject string, details map[string]string) {
	if s.opt.Audit == nil {
		return
	}
	if _, err := s.opt.Audit.Append(ctx, store.Entry{Actor: actor, Action: action, Subject: subject, Details: details}); err != nil {
		s.log.Error("customs: audit entry failed", "action", action, "subject", subject, "err", err)
	}
}

// New checks the options and returns the service.
func New(opt Options) (*Service, error) {
	if opt.Store == nil {
		return nil, errors.New("customs: Options.Store is required")
	}
	if opt.Country == "" {
		return nil, errors.New("customs: Options.Country is required")
	}
	if opt.TokenVerifier == nil {
		return nil, errors.New("customs: Options.TokenVerifier is required (bearer tokens protect the API)")
	}
	if opt.Audience == "" {
		opt.Audience = "ecogate-customs"
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.NewID == nil {
		gen := ids.New(opt.Clock)
		opt.NewID = func(time.Time) string { return gen.New() }
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = 1 << 20
	}
	s := &Service{opt: opt, now: opt.Clock, log: opt.Logger}
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecogate_customs_checks_total",
		Help: "Customs checks answered, by verdict (BAD_REQUEST for refused requests)."}, []string{"verdict"})
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecogate_customs_decisions_total",
		Help: "Customs decisions, by outcome (recorded, repeated, quantity_exceeded, refused, error)."}, []string{"outcome"})
	if opt.Metrics != nil {
		if err := opt.Metrics.Register(checks); err != nil {
			return nil, fmt.Errorf("customs: register metrics: %w", err)
		}
		if err := opt.Metrics.Register(decisions); err != nil {
			return nil, fmt.Errorf("customs: register metrics: %w", err)
		}
	}
	s.checks = map[string]prometheus.Counter{}
	for _, v := range []string{Authentic, Mismatch, NotFound, Withdrawn, Replaced, Expired, Untrusted, Revoked, Timeout, Unavailable, "BAD_REQUEST"} {
		s.checks[v] = checks.WithLabelValues(v)
	}
	s.decisions = decisions
	s.auth = &authenticator{store: opt.Store, verifier: opt.TokenVerifier, now: opt.Clock, cache: map[string]tokenEntry{}}
	s.certs = &certAuthenticator{store: opt.Store, crls: opt.ClientCRLs, now: opt.Clock, cache: map[[32]byte]certEntry{}}
	return s, nil
}

// Routes returns the handler of the customs face: POST /oauth/token and
// /customs/v1/... (GET /customs/v1/openapi.json, the API's OpenAPI 3.1
// document, needs no token). Mount it at the root of the customs listener.
//
// POST /customs/v1/checks, the busy call, is served without the router
// and without copying the request for the authenticated client (same
// token check, answers and metrics); the router keeps the route too, for
// the route listing and requests of another shape.
func (s *Service) Routes() http.Handler {
	r := chi.NewRouter()
	r.Post("/oauth/token", s.handleToken)
	r.Route("/customs/v1", func(r chi.Router) {
		r.With(s.require(ScopeCheck)).Post("/checks", s.handleCheck)
		r.With(s.require(ScopeRead)).Get("/certificates/{country}/{number}", s.handleCertificate)
		r.With(s.require(ScopeDecide)).Post("/decisions", s.handleDecision)
		r.Method(http.MethodGet, "/openapi.json", openapi.Handler(openapi.Customs))
	})
	return &routes{Mux: r, s: s}
}

// checksPath is the route of a check.
const checksPath = "/customs/v1/checks"

// routes is the customs router with the direct path for checks. It is a
// chi.Routes (the embedded router) so that its routes can be walked.
type routes struct {
	*chi.Mux
	s *Service
}

// ServeHTTP serves a check directly and everything else by the router.
func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == checksPath && r.URL.RawPath == "" {
		if _, ok := rt.s.authorize(w, r, ScopeCheck); ok {
			rt.s.handleCheck(w, r)
		}
		return
	}
	rt.Mux.ServeHTTP(w, r)
}

// fieldError is a 400 answer naming the field and what is wrong.
type fieldError struct {
	Field string `json:"field"`
	Msg   string `json:"message"`
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Msg }

func badField(field, format string, a ...any) *fieldError {
	return &fieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// problem is the error body of the customs API.
type problem struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Items lists per-item problems (quantity exceeded).
	Items any `json:"items,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	writeRaw(w, status, b)
}

// hdrJSON and hdrNoStore are shared, never modified header values (Set
// replaces a value, Add appends to a full slice and so copies it).
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
)

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeProblem(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, problem{Error: code, Message: msg})
}

func writeFieldError(w http.ResponseWriter, fe *fieldError) {
	writeJSON(w, http.StatusBadRequest, problem{Error: "invalid_request", Message: fe.Field + ": " + fe.Msg, Field: fe.Field})
}

// decodeBody reads a JSON body strictly with the node's one strict
// decoder (internal/strictjson): exactly one JSON object, valid UTF-8, no
// field twice, no unknown field, every value of its documented type;
// otherwise a fieldError naming the field.
func (s *Service) decodeBody(w http.ResponseWriter, r *http.Request, v any) *fieldError {
	return s.decodeBodyIn(w, r, v, nil)
}

// decodeBodyIn is decodeBody with the parts of a check request in m (nil:
// allocated).
func (s *Service) decodeBodyIn(w http.ResponseWriter, r *http.Request, v any, m *checkMem) *fieldError {
	bp := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if bp.Cap() <= 64<<10 {
			bp.Reset()
			bodyPool.Put(bp)
		}
	}()
	bp.Reset()
	over, err := readBody(bp, r.Body, s.opt.MaxBody)
	if over {
		tooLarge(w)
		return badField("body", "larger than %d bytes", s.opt.MaxBody)
	}
	if err != nil {
		return badField("body", "cannot be read: %v", err)
	}
	if cr, ok := v.(*CheckRequest); ok && decodeCheckFastIn(bp.Bytes(), cr, m) {
		return nil // the common shape, decoded without reflection
	}
	if err := strictjson.Unmarshal(bp.Bytes(), v); err != nil {
		return strictError(err)
	}
	return nil
}

// strictError is the fieldError of a strictjson refusal.
func strictError(err error) *fieldError {
	var se *strictjson.Error
	if errors.As(err, &se) {
		return &fieldError{Field: se.Field, Msg: se.Reason}
	}
	return badField("body", "%v", err)
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads body into bp, as bp.ReadFrom(http.MaxBytesReader(w, body,
// limit)) would but without the reader's allocation: over is true when
// body has more than limit bytes (bp then holds a part of it).
func readBody(bp *bytes.Buffer, body io.Reader, limit int64) (over bool, err error) {
	for {
		bp.Grow(bytes.MinRead)
		b := bp.AvailableBuffer()
		n, err := body.Read(b[:cap(b)])
		bp.Write(b[:n]) // in place: b is bp's free room
		if int64(bp.Len()) > limit {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// tooLarge marks the answer as http.MaxBytesReader does when a body passes
// its limit: the server closes the connection after the answer rather than
// read the rest of the body.
func tooLarge(w http.ResponseWriter) {
	var one [1]byte
	_, _ = http.MaxBytesReader(w, io.NopCloser(strings.NewReader("x")), 0).Read(one[:])
}
