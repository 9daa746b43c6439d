package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/store"
)

// TestCustomsCheckAfterSignerRevoked runs two nodes from their
// configuration files: IN issues an e-CO to VN, VN's customs check says
// AUTHENTIC; IN revokes its document signer (its intermediate CA's CRL,
// which VN's registry lists), VN reloads its partner registry, and the
// same check answers REVOKED with the revocation in the signer report,
// while the stored report of the receipt stays as it was.
func TestCustomsCheckAfterSignerRevoked(t *testing.T) {
	in, vn := faceNodes(t)
	ctx := context.Background()
	hc := &http.Client{Timeout: 10 * time.Second}
	number := "IN-AI-TEST-000003"
	resp, body := post(t, hc, in.localURL()+"/api/v1/outbound", "application/xml", sample(t, 3))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	var sub SubmitResult
	_ = json.Unmarshal(body, &sub)
	waitFor(t, 20*time.Second, "delivered", func() bool {
		rec, err := in.inst.DB.Outbox().Get(ctx, sub.Messages[0].ID)
		return err == nil && rec.State == store.StateDelivered
	})
	id, secret := vn.addClient(t, customs.ScopeCheck)
	tok := vn.token(t, id, secret)
	check := func() customs.CheckResult {
		t.Helper()
		status, body := vn.call(t, "POST", "/customs/v1/checks", tok, checkReq(number, "020230", "10"))
		var res customs.CheckResult
		if err := json.Unmarshal(body, &res); err != nil || status != http.StatusOK {
			t.Fatalf("check: %d %s", status, body)
		}
		return res
	}
	if res := check(); res.Verdict != customs.Authentic || res.Signer == nil || !res.Signer.Valid {
		t.Fatalf("before revocation: %+v", res)
	}

	revokeInSite(t, in.site, certs.FileSignerECDSACert)
	if res := check(); res.Verdict != customs.Authentic {
		t.Fatalf("the new CRL counts before VN reloads its registry: %s", res.Verdict)
	}
	if err := vn.inst.Watcher.Reload(); err != nil {
		t.Fatal(err)
	}
	res := check()
	if res.Verdict != customs.Revoked || res.Signer == nil || res.Signer.Valid ||
		res.Signer.Report.Get(certs.CheckRevocation).Reason != "revocation.revoked" || !strings.Contains(res.Message, "revoked") {
		t.Fatalf("after revocation and reload: %+v", res)
	}
	if res.Verification == nil || !res.Verification.Valid || res.Verification.Report.Get(certs.CheckRevocation).Status != certs.StatusValid {
		t.Fatalf("the stored report (history) changed: %+v", res.Verification)
	}
}
