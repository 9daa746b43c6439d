package customs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/store"
)

// Scopes of the customs API.
const (
	ScopeCheck  = "customs:check"  // POST /customs/v1/checks
	ScopeRead   = "customs:read"   // GET /customs/v1/certificates/...
	ScopeDecide = "customs:decide" // POST /customs/v1/decisions
)

// Scopes lists every scope a client may hold.
func Scopes() []string { return []string{ScopeCheck, ScopeRead, ScopeDecide} }

// NewClientCredentials returns a new client id, a secret (256 random bits,
// base64url; show it once) and the hash to store.
func NewClientCredentials() (id, secret, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("customs: crypto/rand failed: " + err.Error())
	}
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	var ib [8]byte
	if _, err := rand.Read(ib[:]); err != nil {
		panic("customs: crypto/rand failed: " + err.Error())
	}
	return "cc-" + hex.EncodeToString(ib[:]), secret, HashSecret(secret)
}

// HashSecret is the stored form of a client secret: hex SHA-256. A fast
// hash is enough because secrets are 256 random bits, not passwords.
func HashSecret(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// oauthError writes an RFC 6749 section 5.2 error.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="customs", error="`+code+`"`)
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// tokenResponse is the RFC 6749 section 5.1 answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// handleToken is POST /oauth/token (client credentials grant).
func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	if s.opt.Tokens == nil {
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "this node issues no tokens (no token key configured)")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded: "+err.Error())
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing; use client_credentials")
		} else {
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported")
		}
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" || secret == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication is missing: HTTP Basic or client_id and client_secret")
		return
	}
	cl, err := s.opt.Store.Client(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the client store cannot be read; try again")
		return
	}
	if cl == nil || cl.SecretHash == "" || subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(cl.SecretHash)) != 1 || !cl.Revoked.IsZero() {
		s.log.Warn("customs token refused", "client", id)
		s.audit(r.Context(), "customs:"+clip(id, 64), "customs.token-refused", clip(id, 64), nil)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client, wrong secret or revoked client")
		return
	}
	scopes := cl.Scopes
	if want := strings.Fields(r.PostForm.Get("scope")); len(want) > 0 {
		for _, sc := range want {
			if !slices.Contains(cl.Scopes, sc) {
				oauthError(w, http.StatusBadRequest, "invalid_scope", "scope "+sc+" is not granted to this client (granted: "+strings.Join(cl.Scopes, " ")+")")
				return
			}
		}
		scopes = want
	}
	scope := strings.Join(scopes, " ")
	tok, claims, err := s.opt.Tokens.Issue(cl.ID, []string{s.opt.Audience}, scope)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "the token could not be signed")
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: string(tok), TokenType: "Bearer",
		ExpiresIn: int(claims.ExpiresAt.Sub(claims.IssuedAt).Seconds()), Scope: scope})
}

// tokenEntry is a verified token remembered until its expiry or recheck.
type tokenEntry struct {
	client  string
	scopes  []string
	expires time.Time // token expiry
	recheck time.Time // when the client's revocation is checked again
}

// authenticator verifies bearer tokens. Verified tokens are remembered (a
// signature check costs more than the check itself), at most maxTokens,
// and the client's revocation is re-read every recheckEvery.
type authenticator struct {
	store    Store
	verifier *certs.TokenVerifier
	now      func() time.Time

	mu    sync.RWMutex
	cache map[string]tokenEntry
}

const (
	maxTokens    = 10000
	recheckEvery = 10 * time.Second
)

type clientKey struct{}

// ClientOf returns the authenticated client id of a request.
func ClientOf(ctx context.Context) string { s, _ := ctx.Value(clientKey{}).(string); return s }

// errInvalidToken and errRevoked are why a token is refused.
var errInvalidToken = errors.New("the access token is invalid or expired")

func (a *authenticator) check(ctx context.Context, tok string) (tokenEntry, error) {
	now := a.now()
	a.mu.RLock()
	e, ok := a.cache[tok]
	a.mu.RUnlock()
	if ok && now.Before(e.expires) && now.Before(e.recheck) {
		return e, nil
	}
	if !ok || !now.Before(e.expires) {
		claims, err := a.verifier.Verify([]byte(tok))
		if err != nil {
			a.forget(tok)
			return tokenEntry{}, errInvalidToken
		}
		e = tokenEntry{client: claims.Subject, scopes: strings.Fields(claims.Scope), expires: claims.ExpiresAt}
	}
	cl, err := a.store.Client(ctx, e.client)
	if err != nil || !cl.Revoked.IsZero() {
		a.forget(tok)
		return tokenEntry{}, errInvalidToken
	}
	e.recheck = now.Add(recheckEvery)
	a.mu.Lock()
	if len(a.cache) >= maxTokens {
		for k, v := range a.cache {
			if !now.Before(v.expires) || len(a.cache) >= maxTokens {
				delete(a.cache, k)
			}
		}
	}
	a.cache[tok] = e
	a.mu.Unlock()
	return e, nil
}

func (a *authenticator) forget(tok string) {
	a.mu.Lock()
	delete(a.cache, tok)
	a.mu.Unlock()
}

// require is middleware: a verified client certificate bound to an active
// client (mtls.go; 403 otherwise) or, without one, a valid bearer token
// (401 otherwise), whose scope holds scope (403 otherwise); the handler
// finds the client with ClientOf.
func (s *Service) require(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client, ok := s.authorize(w, r, scope)
			if !ok {
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, client)))
		})
	}
}

// hdrBearer is the WWW-Authenticate challenge of a request without a token
// (shared, never modified).
var hdrBearer = []string{`Bearer realm="customs"`}

// authorize authenticates the request: by its verified client
// certificate when it has one (mtls.go: the certificate decides, a token
// beside it is not read), else by its bearer token. It returns the client
// id, or writes the refusal (403 for a refused certificate, 401 without a
// valid token, 403 without scope) and returns false.
func (s *Service) authorize(w http.ResponseWriter, r *http.Request, scope string) (string, bool) {
	e, refused := s.clientFromTLS(r)
	if refused != nil {
		writeCertRefusal(w, refused)
		return "", false
	}
	byCert := e.client != ""
	if !byCert {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header()["Www-Authenticate"] = hdrBearer
			writeProblem(w, http.StatusUnauthorized, "invalid_token", "an access token is required: Authorization: Bearer TOKEN from POST /oauth/token")
			return "", false
		}
		var err error
		if e, err = s.auth.check(r.Context(), tok); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="customs", error="invalid_token", error_description="`+err.Error()+`"`)
			writeProblem(w, http.StatusUnauthorized, "invalid_token", err.Error()+"; get a new one from POST /oauth/token")
			return "", false
		}
	}
	if !slices.Contains(e.scopes, scope) {
		if !byCert { // a bearer challenge means nothing to a certificate client
			w.Header().Set("WWW-Authenticate", `Bearer realm="customs", error="insufficient_scope", scope="`+scope+`"`)
		}
		writeProblem(w, http.StatusForbidden, "insufficient_scope", "this call needs scope "+scope)
		return "", false
	}
	return e.client, true
}

// clip shortens s to at most n bytes (for logs of untrusted input).
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
