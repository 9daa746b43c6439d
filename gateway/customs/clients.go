package customs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/internal/strictjson"
	"github.com/ecogate/ecogate/store"
)

// ClientAdmin manages the customs API's OAuth2 clients (satisfied by
// *store.Customs).
type ClientAdmin interface {
	AddClient(ctx context.Context, cl store.CustomsClient) error
	Clients(ctx context.Context) ([]store.CustomsClient, error)
	RevokeClient(ctx context.Context, id string) error
	RenewClientCert(ctx context.Context, id string, next store.ClientCert) (*store.CustomsClient, error)
	FinishClientRenewal(ctx context.Context, id, next string) (*store.CustomsClient, error)
}

// ClientInfo is a client as the administration API shows it: never the
// secret or its hash. A client bound to a client certificate shows its
// SHA-256, subject and expiry.
type ClientInfo struct {
	ID           string    `json:"clientId"`
	Name         string    `json:"name"`
	Scopes       []string  `json:"scopes"`
	CertSHA256   string    `json:"certSHA256,omitempty"`
	CertSubject  string    `json:"certSubject,omitempty"`
	CertNotAfter time.Time `json:"certNotAfter,omitzero"`
	// NextCertSHA256, NextCertSubject and NextCertNotAfter show the next
	// certificate of a renewal in progress (RenewCertClient), which
	// authenticates as the client beside the current one.
	NextCertSHA256   string    `json:"nextCertSHA256,omitempty"`
	NextCertSubject  string    `json:"nextCertSubject,omitempty"`
	NextCertNotAfter time.Time `json:"nextCertNotAfter,omitzero"`
	Created          time.Time `json:"created"`
	Revoked          time.Time `json:"revoked,omitzero"`
}

// NewClient is the answer to adding a client: its credentials, the secret
// shown this once (none for a client bound to a certificate).
type NewClient struct {
	ClientInfo
	Secret string `json:"clientSecret,omitempty"`
}

// AddClientRequest is the body of POST /customs-clients. With Certificate
// (PEM) the client authenticates with that client certificate (mutual
// TLS) and gets no secret.
type AddClientRequest struct {
	Name        string   `json:"name"`
	Scopes      []string `json:"scopes"`
	Certificate string   `json:"certificate,omitempty"`
}

// CheckScopes returns the scopes without duplicates, or an error naming an
// unknown one.
func CheckScopes(scopes []string) ([]string, error) {
	var out []string
	for _, s := range scopes {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !slices.Contains(Scopes(), s) {
			return nil, errors.New("unknown scope " + s + "; use " + strings.Join(Scopes(), ", "))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("give at least one scope: " + strings.Join(Scopes(), ", "))
	}
	return out, nil
}

// ErrBadClientRequest marks an AddClient refusal for a bad name or scope.
var ErrBadClientRequest = errors.New("bad client request")

// AddClient registers a new client with a fresh id and secret and writes
// the audit entry (actor, e.g. "operator:alice" or "local"), created at
// now. A bad name or
// scope is an error wrapping ErrBadClientRequest. When the client is
// stored but its audit entry fails, AddClient returns the client and the
// error together: the secret must still be shown, as it exists nowhere
// else.
func AddClient(ctx context.Context, admin ClientAdmin, audit AuditLog, actor, name string, scopes []string, now time.Time) (*NewClient, error) {
	return addClient(ctx, admin, audit, actor, name, scopes, nil, now)
}

// addClient is AddClient, or AddCertClient when cert is set.
func addClient(ctx context.Context, admin ClientAdmin, audit AuditLog, actor, name string, scopes []string, cert *x509.Certificate, now time.Time) (*NewClient, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, fmt.Errorf("%w: give the client a name (the declaration system it is for)", ErrBadClientRequest)
	}
	sc, err := CheckScopes(scopes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadClientRequest, err)
	}
	cl := store.CustomsClient{Name: name, Scopes: sc, Created: now.UTC()}
	var secret string
	if cert == nil {
		cl.ID, secret, cl.SecretHash = NewClientCredentials()
	} else {
		cl.ID, _, _ = NewClientCredentials()
		cl.CertSHA256, cl.CertSubject, cl.CertNotAfter = CertFingerprint(cert), certSubject(cert), cert.NotAfter.UTC()
	}
	if err := admin.AddClient(ctx, cl); err != nil {
		return nil, err
	}
	nc := &NewClient{ClientInfo: InfoOf(cl), Secret: secret}
	if err := appendAudit(ctx, audit, actor, "customs-client.add", cl.ID,
		certDetails(cl, map[string]string{"name": name, "scopes": strings.Join(sc, " ")})); err != nil {
		return nc, fmt.Errorf("the client %s was added but its audit entry failed: %w", cl.ID, err)
	}
	return nc, nil
}

// RevokeClient revokes a client and writes the audit entry.
func RevokeClient(ctx context.Context, admin ClientAdmin, audit AuditLog, actor, id string) error {
	if err := admin.RevokeClient(ctx, id); err != nil {
		return err
	}
	if err := appendAudit(ctx, audit, actor, "customs-client.revoke", id, nil); err != nil {
		return errors.New("the client " + id + " was revoked but its audit entry failed: " + err.Error())
	}
	return nil
}

// InfoOf is the shown form of a stored client.
func InfoOf(c store.CustomsClient) ClientInfo {
	return ClientInfo{ID: c.ID, Name: c.Name, Scopes: c.Scopes, CertSHA256: c.CertSHA256, CertSubject: c.CertSubject,
		CertNotAfter: c.CertNotAfter, NextCertSHA256: c.NextCertSHA256, NextCertSubject: c.NextCertSubject,
		NextCertNotAfter: c.NextCertNotAfter, Created: c.Created, Revoked: c.Revoked}
}

// ClientRoutes (clock now, time.Now when nil) is the administration of the customs API's clients, for
// the node's local API (authenticated there by the local token, which is
// required whenever the local API listens beyond loopback):
//
//	GET  /customs-clients              the clients (no secrets)
//	POST /customs-clients              {"name": ..., "scopes": [...]}: 201 with the secret, shown once;
//	                                   with "certificate": PEM, a client of that client certificate (no secret)
//	POST /customs-clients/{id}/revoke  revoke: no new tokens; its tokens stop working
//	POST /customs-clients/{id}/renew   {"certificate": PEM}: bind the renewal of a certificate client's
//	                                   certificate beside the current one; {"finish": true} (with or
//	                                   without a certificate) ends the old binding now (RenewCertClient)
func ClientRoutes(admin ClientAdmin, audit AuditLog, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	r := chi.NewRouter()
	r.Get("/customs-clients", func(w http.ResponseWriter, r *http.Request) {
		cl, err := admin.Clients(r.Context())
		if err != nil {
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		out := make([]ClientInfo, 0, len(cl))
		for _, c := range cl {
			out = append(out, InfoOf(c))
		}
		writeJSON(w, http.StatusOK, out)
	})
	r.Post("/customs-clients", func(w http.ResponseWriter, r *http.Request) {
		var req AddClientRequest
		if !readAdminJSON(w, r, &req, `{"name": "...", "scopes": ["customs:check", ...]}`) {
			return
		}
		var err error
		var nc *NewClient
		if req.Certificate != "" {
			var cert *x509.Certificate
			if cert, err = ParseClientCert([]byte(req.Certificate)); err != nil {
				writeProblem(w, http.StatusBadRequest, "invalid_request", "certificate: "+err.Error())
				return
			}
			nc, err = AddCertClient(r.Context(), admin, audit, "local", req.Name, req.Scopes, cert, now())
		} else {
			nc, err = AddClient(r.Context(), admin, audit, "local", req.Name, req.Scopes, now())
		}
		switch {
		case nc != nil && err != nil:
			writeJSON(w, http.StatusCreated, struct {
				*NewClient
				Warning string `json:"warning"`
			}{nc, err.Error()})
		case errors.Is(err, ErrBadClientRequest):
			writeProblem(w, http.StatusBadRequest, "invalid_request", err.Error())
		case errors.Is(err, store.ErrConflict):
			writeProblem(w, http.StatusConflict, "conflict", err.Error())
		case err != nil:
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		default:
			writeJSON(w, http.StatusCreated, nc)
		}
	})
	r.Post("/customs-clients/{id}/renew", func(w http.ResponseWriter, r *http.Request) {
		var req RenewClientRequest
		if !readAdminJSON(w, r, &req, `{"certificate": "PEM", "finish": false}`) {
			return
		}
		var err error
		var cert *x509.Certificate
		if req.Certificate != "" {
			if cert, err = ParseClientCert([]byte(req.Certificate)); err != nil {
				writeProblem(w, http.StatusBadRequest, "invalid_request", "certificate: "+err.Error())
				return
			}
		}
		id := chi.URLParam(r, "id")
		info, err := RenewCertClient(r.Context(), admin, audit, "local", id, cert, req.Finish, now())
		switch {
		case info != nil && err != nil:
			writeJSON(w, http.StatusOK, struct {
				*ClientInfo
				Warning string `json:"warning"`
			}{info, err.Error()})
		case errors.Is(err, ErrBadClientRequest), errors.Is(err, store.ErrInvalid):
			writeProblem(w, http.StatusBadRequest, "invalid_request", err.Error())
		case errors.Is(err, store.ErrNotFound):
			writeProblem(w, http.StatusNotFound, "not_found", "no customs client "+id)
		case errors.Is(err, store.ErrConflict):
			writeProblem(w, http.StatusConflict, "conflict", err.Error())
		case err != nil:
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		default:
			writeJSON(w, http.StatusOK, info)
		}
	})
	r.Post("/customs-clients/{id}/revoke", func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		err := RevokeClient(r.Context(), admin, audit, "local", id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeProblem(w, http.StatusNotFound, "not_found", "no customs client "+id)
		case err != nil:
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		default:
			writeJSON(w, http.StatusOK, map[string]string{"clientId": id, "state": "revoked"})
		}
	})
	return r
}

// readAdminJSON reads the strict JSON body of an administration request
// into v (at most 64 KiB); on failure it answers 400 with the expected
// shape and returns false.
func readAdminJSON(w http.ResponseWriter, r *http.Request, v any, shape string) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err == nil {
		err = strictjson.Unmarshal(body, v)
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "invalid_request", "the body must be "+shape+": "+err.Error())
		return false
	}
	return true
}
