package customs

import (
	"context"
	"testing"

	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// TestViewKeyedByVerifiedPartner: a check view is keyed by the partner the
// message was verified to come from, never by the document's export
// country: a certificate from IN that claims SG's export answers checks
// that name IN (as IN's) and none that name SG, whether its view was
// stored eagerly (StoreView) or built lazily from the inbox.
func TestViewKeyedByVerifiedPartner(t *testing.T) {
	claimsSG := func(t *testing.T) *schema.Certificate {
		c := testCert(t, certNo)
		c.Header.ExportCountry = "SG"
		return c
	}
	tests := []struct {
		name  string
		store func(t *testing.T, e *env)
	}{
		{name: "eager view (receive pipeline)", store: func(t *testing.T, e *env) {
			if err := e.svc.StoreView(context.Background(), "in", claimsSG(t), validReport); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "lazy view (inbox)", store: func(t *testing.T, e *env) {
			doc, err := schema.EncodeXML(claimsSG(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.db.Inbox().Accept(context.Background(), store.InRecord{ID: "m1", From: "IN", CertNumber: certNo, Version: 1, Kind: "issue",
				Content: doc, Outcome: store.StateDelivered, StatusChanges: []store.StatusChange{{Country: "IN", Number: certNo, Version: 1, Status: store.CertIssued}}}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.store(t, e)
			sg := baseReq(item(1, "020230", "1", "KGM"))
			sg.ExportCountry = "SG"
			if status, res, body := e.check(sg); status != 200 || res.Verdict != NotFound {
				t.Fatalf("check naming SG: %d %s, want NOT_FOUND: %s", status, res.Verdict, body)
			}
			status, res, body := e.check(baseReq(item(1, "020230", "1", "KGM")))
			if status != 200 || res.Verdict != Authentic || res.Certificate == nil || res.Certificate.ExportCountry != "IN" {
				t.Fatalf("check naming IN: %d %s, want AUTHENTIC as IN's: %s", status, res.Verdict, body)
			}
		})
	}
	t.Run("no verified partner", func(t *testing.T) {
		e := newEnv(t)
		if err := e.svc.StoreView(context.Background(), " ", testCert(t, certNo), validReport); err == nil {
			t.Fatal("StoreView without a partner stored a view")
		}
		if _, res, body := e.check(baseReq(item(1, "020230", "1", "KGM"))); res.Verdict != NotFound {
			t.Fatalf("check: %s", body)
		}
	})
}
