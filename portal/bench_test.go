package portal_test

import (
	"net/http"
	"testing"
)

// BenchmarkDashboardRender is one signed-in dashboard page, server side
// (session lookup in bbolt, issuance read model, template render).
func BenchmarkDashboardRender(b *testing.B) {
	w := newWorld(b)
	c := w.login("alpha-admin")
	for b.Loop() {
		if resp, _ := c.do("GET", "/dashboard", nil, nil); resp.StatusCode != http.StatusOK {
			b.Fatal(resp.StatusCode)
		}
	}
}
