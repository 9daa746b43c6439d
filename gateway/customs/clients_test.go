package customs

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/store"
)

type memClients struct{ added []store.CustomsClient }

func (m *memClients) AddClient(_ context.Context, cl store.CustomsClient) error {
	m.added = append(m.added, cl)
	return nil
}
func (m *memClients) Clients(context.Context) ([]store.CustomsClient, error) { return m.added, nil }
func (m *memClients) RevokeClient(context.Context, string) error             { return store.ErrNotFound }
func (m *memClients) RenewClientCert(context.Context, string, store.ClientCert) (*store.CustomsClient, error) {
	return nil, store.ErrNotFound
}
func (m *memClients) FinishClientRenewal(context.Context, string, string) (*store.CustomsClient, error) {
	return nil, store.ErrNotFound
}

type failingAudit struct{}

func (failingAudit) Append(context.Context, store.Entry) (store.Entry, error) {
	return store.Entry{}, errors.New("disk full (test)")
}

// TestAddClient: bad requests store nothing; a client whose audit entry
// fails is still returned with its secret (it is stored, and the secret
// exists nowhere else).
func TestAddClient(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, client string
		scopes       []string
		audit        AuditLog
		wantStored   bool
		wantBad      bool
		wantErr      bool
	}{
		{"ok", "VNACCS", []string{ScopeCheck}, nil, true, false, false},
		{"no name", " ", []string{ScopeCheck}, nil, false, true, true},
		{"unknown scope", "VNACCS", []string{"customs:all"}, nil, false, true, true},
		{"no scope", "VNACCS", []string{" "}, nil, false, true, true},
		{"audit fails", "VNACCS", []string{ScopeCheck, ScopeCheck}, failingAudit{}, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &memClients{}
			nc, err := AddClient(context.Background(), m, tc.audit, "test", tc.client, tc.scopes, now)
			if (err != nil) != tc.wantErr || errors.Is(err, ErrBadClientRequest) != tc.wantBad {
				t.Fatalf("err = %v", err)
			}
			if stored := len(m.added) == 1; stored != tc.wantStored || (nc != nil) != tc.wantStored {
				t.Fatalf("stored %v, returned %v", m.added, nc)
			}
			if nc != nil {
				if nc.Secret == "" || HashSecret(nc.Secret) != m.added[0].SecretHash || !nc.Created.Equal(now) || len(nc.Scopes) != 1 {
					t.Fatalf("returned client %+v, stored %+v", nc, m.added[0])
				}
			}
		})
	}
}

// TestClientRoutesStrictJSON: POST /customs-clients (local API) refuses a
// body with a field twice ("scopes" read one way by one reader and another
// way by the next), data after the object, invalid UTF-8 or an unknown
// field, and stores no client (issue 10, item 6).
func TestClientRoutesStrictJSON(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"scopes twice", `{"name":"VNACCS","scopes":["customs:check"],"scopes":["customs:decide"]}`, "twice"},
		{"trailing", `{"name":"VNACCS","scopes":["customs:check"]}{"scopes":["customs:decide"]}`, "trailing data"},
		{"invalid UTF-8", "{\"name\":\"VN\xffACCS\",\"scopes\":[\"customs:check\"]}", "UTF-8"},
		{"unknown field", `{"name":"VNACCS","scopes":["customs:check"],"admin":true}`, "admin: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &memClients{}
			w := httptest.NewRecorder()
			ClientRoutes(m, nil, nil).ServeHTTP(w, httptest.NewRequest("POST", "/customs-clients", strings.NewReader(tc.body)))
			if w.Code != 400 || !strings.Contains(w.Body.String(), tc.want) || len(m.added) != 0 {
				t.Fatalf("got %d %s (stored %d)", w.Code, w.Body, len(m.added))
			}
		})
	}
	m := &memClients{}
	w := httptest.NewRecorder()
	ClientRoutes(m, nil, nil).ServeHTTP(w, httptest.NewRequest("POST", "/customs-clients", strings.NewReader(`{"name":"VNACCS","scopes":["customs:check"]}`)))
	if w.Code != 201 || len(m.added) != 1 {
		t.Fatalf("well-formed: %d %s", w.Code, w.Body)
	}
}
