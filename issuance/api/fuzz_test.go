package api_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/issuance/api"
)

// FuzzPaymentCallback: whatever body reaches POST /payments/callback, the
// answer is 200 only for a notice whose checksum verifies under the
// office's key, else a 400 naming the problem or a 403; never a 5xx, never
// a payment recorded for a forged notice.
func FuzzPaymentCallback(f *testing.F) {
	w := newWorld(f)
	a := w.draft(w.tok(appl))
	w.mustCall(w.tok(appl), "POST", "/applications/"+a.ID+"/submit", map[string]string{"payment": "gateway"}, 200, nil)
	good := issuance.PaymentNotice{Txn: "T1", Application: a.ID, Merchant: "EICMUM", Amount: 50000, Status: "success", Time: w.now().Format(time.RFC3339)}
	good.Checksum = issuance.PaymentChecksum(good, "k3y-MUM")
	b, _ := json.Marshal(good)
	f.Add(b)
	forged := good
	forged.Amount = 1
	b, _ = json.Marshal(forged)
	f.Add(b)
	f.Add([]byte(`{"txn":"x"}`))
	f.Add([]byte(`{"txn":"a|b","application":"` + a.ID + `","merchant":"EICMUM","amount":50000,"status":"success","time":"` + good.Time + `","checksum":"00"}`))
	f.Add([]byte(`{"txn":"T1","txn":"T2"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w.t = t // the world's helpers report to this input's test
		var p api.Problem
		got := w.call("", "POST", "/payments/callback", body, &p)
		switch got {
		case 200:
			var n issuance.PaymentNotice
			if err := json.Unmarshal(body, &n); err != nil {
				t.Fatalf("accepted a body that is not a notice: %q", body)
			}
			if strings.ToLower(n.Checksum) != issuance.PaymentChecksum(n, "k3y-MUM") {
				t.Fatalf("accepted a notice whose checksum does not verify: %q", body)
			}
		case 400:
			if p.Code != "invalid" || p.Error == "" {
				t.Fatalf("400 without a reason: %+v", p)
			}
		case 403:
		default:
			t.Fatalf("status %d for %q: %+v", got, body, p)
		}
	})
}

// FuzzVerifyWebhook: a signature header is accepted only when it carries
// the HMAC of the body under the key for a time within the tolerance;
// any other header is refused, and parsing never panics.
func FuzzVerifyWebhook(f *testing.F) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	const key = "whk_test_key"
	f.Add(api.SignWebhook(key, now, []byte(`{"a":1}`)), []byte(`{"a":1}`))
	f.Add(api.SignWebhook(key, now.Add(-time.Hour), []byte(`{}`)), []byte(`{}`))
	f.Add("t=,v1=", []byte(nil))
	f.Add("t=+1764579600,v1=00", []byte("x"))
	f.Add("v1=abc,t=1764579600,t=1", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := api.VerifyWebhook(key, header, body, now, 5*time.Minute)
		if err != nil {
			return
		}
		if api.VerifyWebhook("another key", header, body, now, 5*time.Minute) == nil {
			t.Fatalf("accepted under two keys: %q", header)
		}
		var ts string
		for _, part := range strings.Split(header, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				ts = v
			}
		}
		sec, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil {
			t.Fatalf("accepted a header without a time: %q", header)
		}
		at := time.Unix(sec, 0)
		if d := now.Sub(at); d > 5*time.Minute || d < -5*time.Minute {
			t.Fatalf("accepted a time outside the tolerance: %q", header)
		}
		want := api.SignWebhook(key, at, body)
		if !strings.Contains(strings.ToLower(header), want[strings.Index(want, "v1="):]) {
			t.Fatalf("accepted %q, the signature is %q", header, want)
		}
	})
}
