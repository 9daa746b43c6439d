package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/ecogate/ecogate/issuance"
)

// Authenticator derives the actor of a request from its credential (never
// from its body). It returns an error wrapping issuance.ErrUnauthenticated
// for a missing or bad credential. The portal's browser sessions (with
// CSRF) will implement it too.
type Authenticator interface {
	Authenticate(r *http.Request) (issuance.Actor, error)
}

// TokenAuth authenticates "Authorization: Bearer TOKEN": the node's local
// API token stands for the node operator; any other token is an API token
// of a person or an API client (issuance.Service.Authenticate).
type TokenAuth struct {
	Service *issuance.Service
	// LocalToken is the local API's token ("" when the local API has
	// none); Operator is the operator id it stands for.
	LocalToken string
	Operator   string
	// OpenOperator makes a request without credential the operator: the
	// local API's rule when it has no token, which the configuration
	// allows on loopback only.
	OpenOperator bool
}

// Authenticate implements Authenticator.
func (t *TokenAuth) Authenticate(r *http.Request) (issuance.Actor, error) {
	tok, ok := bearer(r)
	if !ok {
		// Without a local token (loopback only), no credential, or an empty
		// "Bearer" (a script's unset $ECOGATE_LOCAL_TOKEN), is the operator.
		if h := strings.TrimSpace(r.Header.Get("Authorization")); t.OpenOperator && t.Operator != "" && (h == "" || strings.EqualFold(h, "bearer")) {
			return issuance.Actor{ID: t.Operator, Role: issuance.RoleOperator}, nil
		}
		return issuance.Actor{}, fmt.Errorf("%w: send Authorization: Bearer TOKEN (an API token, or an access token from POST /api/v1/issuance/oauth/token)", issuance.ErrUnauthenticated)
	}
	if t.LocalToken != "" {
		got, want := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(t.LocalToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			if t.Operator == "" {
				return issuance.Actor{}, fmt.Errorf("%w: no operator id is configured (issuance.operators)", issuance.ErrUnauthenticated)
			}
			return issuance.Actor{ID: t.Operator, Role: issuance.RoleOperator}, nil
		}
	}
	a, _, err := t.Service.Authenticate(r.Context(), tok)
	return a, err
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(p):])
	return tok, tok != ""
}
