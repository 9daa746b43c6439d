package gateway

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/store"
)

// TestReceiptPayloadStrict: a partner's signed receipt is decoded as
// strictly as any body at the doors: a duplicate key (last one wins in
// encoding/json), an unknown member or data after the object is refused
// even under a valid signature.
func TestReceiptPayloadStrict(t *testing.T) {
	_, vn, _ := identities(t)
	p := newPair(t, fastRetry, nil, nil)
	partner := p.in.Node.opt.Partners.Lookup("VN")
	hash := ContentHash([]byte("x"))
	rec := &store.OutRecord{ID: "m-1", ContentHash: hash}
	base := `"messageId":"m-1","issuer":"VN","sender":"IN","contentSha256":"` + hash + `","received":"2026-12-05T12:00:00Z"`
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"good", `{` + base + `,"outcome":"Delivered"}`, ""},
		{"duplicate outcome", `{` + base + `,"outcome":"FailedDelivery","outcome":"Delivered"}`, "twice"},
		{"unknown member", `{` + base + `,"outcome":"Delivered","bonus":1}`, "bonus"},
		{"trailing data", `{` + base + `,"outcome":"Delivered"} {}`, "receipt payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := certs.SignJWS([]byte(tc.payload), vn.PKI.Receipt.Key, []*x509.Certificate{vn.PKI.Receipt.Cert})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.in.Node.checkReceipt(partner, rec, tok)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("a good receipt refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
