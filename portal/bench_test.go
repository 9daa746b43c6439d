package portal_test

import (
	"net/http"
	"strings"
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

// BenchmarkApplicationFormRender is the exporter's empty application form
// (session, the issuance service's agencies and offices, template), over
// loopback HTTP, on the real issuance service.
func BenchmarkApplicationFormRender(b *testing.B) {
	l := newLive(b)
	c := l.login("alpha")
	for b.Loop() {
		if resp, _ := c.do("GET", "/exporter/applications/new", nil, nil); resp.StatusCode != http.StatusOK {
			b.Fatal(resp.StatusCode)
		}
	}
}

// BenchmarkReviewPageRender is the officer's review page of an application
// under review with two goods lines (application, origin findings,
// attachments, history), over loopback HTTP, on the real issuance service.
func BenchmarkReviewPageRender(b *testing.B) {
	l := newLive(b)
	id := l.underReview()
	c := l.login("officer")
	for b.Loop() {
		if resp, body := c.do("GET", "/officer/applications/"+id, nil, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, id) {
			b.Fatal(resp.StatusCode, body)
		}
	}
}

// BenchmarkLiveDashboardRender is the exporter's dashboard on the real
// issuance service (read model over bbolt) with one application.
func BenchmarkLiveDashboardRender(b *testing.B) {
	l := newLive(b)
	l.underReview()
	c := l.login("alpha")
	for b.Loop() {
		if resp, _ := c.do("GET", "/dashboard", nil, nil); resp.StatusCode != http.StatusOK {
			b.Fatal(resp.StatusCode)
		}
	}
}
