package issuance

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHTTPRegistry: the HTTP adapter of the trade registry reads a record
// by IEC, sends the bearer token, maps 404 to ErrNotFound, and refuses
// answers that are not strict JSON, are about another IEC, carry a bad
// GSTIN or are too large; a malformed IEC is refused before any request.
func TestHTTPRegistry(t *testing.T) {
	const good = `{"iec":"AAACE1234F","name":"Alpha Exports","address":"Mumbai","gstin":"27AAACE1234F1Z6","branches":[{"id":"b1","address":"Pune","gstin":"27AAACE1234F1Z6"}]}`
	answers := map[string]struct {
		status int
		body   string
	}{
		"AAACE1234F": {200, good},
		"AAACX9876K": {404, `{"error":"unknown"}`},
		"AAACD1111A": {200, `{"iec":"AAACD1111A","iec":"AAACE1234F","name":"x","address":"y","gstin":"27AAACE1234F1Z6"}`},
		"AAACD2222B": {200, `{"iec":"AAACE1234F","name":"x","address":"y","gstin":"27AAACE1234F1Z6"}`},
		"AAACD3333C": {200, `{"iec":"AAACD3333C","name":"x","address":"y","gstin":"not-a-gstin"}`},
		"AAACD4444D": {200, `{"iec":"AAACD4444D","name":"x","address":"y","gstin":"27AAACE1234F1Z6","colour":"red"}`},
		"AAACD5555E": {500, `oops`},
		"AAACD6666F": {200, `{"iec":"AAACD6666F","name":"` + strings.Repeat("x", maxRegistryAnswer) + `"}`},
	}
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		if r.Header.Get("Authorization") != "Bearer s3cret-registry-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		a, ok := answers[strings.TrimPrefix(r.URL.Path, "/iec/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	}))
	defer srv.Close()
	reg := &HTTPRegistry{BaseURL: srv.URL + "/iec/", Token: "s3cret-registry-token"}
	ctx := context.Background()

	rec, err := reg.Lookup(ctx, "AAACE1234F")
	if err != nil || rec.Name != "Alpha Exports" || len(rec.Branches) != 1 {
		t.Fatalf("good record: %+v %v", rec, err)
	}
	for _, tc := range []struct{ iec, want string }{
		{"AAACX9876K", "not found"},
		{"AAACD1111A", "twice"},
		{"AAACD2222B", "answered for"},
		{"AAACD3333C", "GSTIN"},
		{"AAACD4444D", "colour"},
		{"AAACD5555E", "HTTP 500"},
		{"AAACD6666F", "larger than"},
	} {
		_, err := reg.Lookup(ctx, tc.iec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("IEC %s: error %v, want it to mention %q", tc.iec, err, tc.want)
		}
		if strings.Contains(errString(err), "s3cret") {
			t.Errorf("IEC %s: the error shows the token: %v", tc.iec, err)
		}
	}
	if _, err := reg.Lookup(ctx, "AAACX9876K"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("404 is not ErrNotFound: %v", err)
	}
	before := requests
	if _, err := reg.Lookup(ctx, "../../x"); err == nil {
		t.Fatal("a malformed IEC was looked up")
	}
	if requests != before {
		t.Fatal("a malformed IEC reached the registry")
	}
	if _, err := (&HTTPRegistry{BaseURL: srv.URL + "/iec"}).Lookup(ctx, "AAACE1234F"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("without the token: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
