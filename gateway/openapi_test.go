package gateway

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/openapi"
)

// routesOf walks a chi router: every method and path it serves.
func routesOf(t *testing.T, h http.Handler, prefix string) []openapi.Operation {
	t.Helper()
	var ops []openapi.Operation
	err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.ReplaceAll(route, "/*/", "/")
		ops = append(ops, openapi.Operation{Path: strings.TrimPrefix(route, prefix), Method: method})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestOpenAPIMatchesRoutes keeps the published documents true: every
// route the node's partner API and customs API serve is in its OpenAPI
// document, and every operation of the document is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	dir := t.TempDir()
	sites := []devsite.Site{{Country: "IN", Name: "India", PartnerAddr: "127.0.0.1:1", LocalAddr: "127.0.0.1:2", Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam", PartnerAddr: "127.0.0.1:3", LocalAddr: "127.0.0.1:4", Dir: filepath.Join(dir, "vn")}}
	if err := devsite.Write(sites, devsite.Retry{Attempts: 1, InitialInterval: 1e9, MaxInterval: 1e9, MaxAge: 3600e9}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(sites[0].ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	inst, err := cfg.Open(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	for _, tc := range []struct {
		name, prefix string
		doc          []byte
		h            http.Handler
	}{
		{"partner.json", "/eco/v1", openapi.Partner, inst.Node.PartnerHandler()},
		{"customs.json", "", openapi.Customs, inst.Customs.Routes()},
	} {
		c, err := openapi.NewContract(tc.name, tc.doc)
		if err != nil {
			t.Fatal(err)
		}
		documented := c.Operations()
		served := routesOf(t, tc.h, tc.prefix)
		if len(served) < 4 {
			t.Fatalf("%s: walked only %v", tc.name, served)
		}
		for _, op := range served {
			if !slices.Contains(documented, op) {
				t.Errorf("%s: the node serves %s %s, which the document does not describe", tc.name, op.Method, op.Path)
			}
		}
		for _, op := range documented {
			if !slices.Contains(served, op) {
				t.Errorf("%s: the document describes %s %s, which the node does not serve", tc.name, op.Method, op.Path)
			}
		}
	}
	// the customs document is served without a token
	rec := httptest.NewRecorder()
	inst.Customs.Routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/customs/v1/openapi.json", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"openapi": "3.1.0"`) {
		t.Errorf("GET /customs/v1/openapi.json: %d %.80s", rec.Code, rec.Body.String())
	}
}
