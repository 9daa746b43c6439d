package conformance

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/openapi"
)

// fuzzKit is one kit PKI for all fuzz targets (made once: RSA keys are slow).
var fuzzKit = sync.OnceValues(func() (*Kit, error) { return newKitPKI("AQ", "fuzz kit", time.Now()) })

func fuzzSession(t testing.TB) (*session, *Kit) {
	k, err := fuzzKit()
	if err != nil {
		t.Fatal(err)
	}
	c, err := openapi.NewContract("partner.json", openapi.Partner)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{ctx: context.Background(), kit: k, opt: Options{Now: time.Now}, contract: c, node: "IN",
		receiptTrust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{k.Receipt.Cert}}, profile: &Profile{Country: "IN"}}
	return s, k
}

func signed(t testing.TB, k *Kit, payload []byte) []byte {
	tok, err := certs.SignJWS(payload, k.Receipt.Key, []*x509.Certificate{k.Receipt.Cert})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// FuzzJWSPayload: any bytes give a payload or an error, never a panic; a
// well-formed compact JWS gives back exactly its payload.
func FuzzJWSPayload(f *testing.F) {
	for _, s := range []string{"", "a.b.c", "..", "a.b", "a.b.c.d", "e30.eyJ4IjoxfQ.sig", " \n x.%%%.y \n"} {
		f.Add([]byte(s), []byte(`{"x":1}`))
	}
	f.Fuzz(func(t *testing.T, tok, payload []byte) {
		_, _ = jwsPayload(tok)
		built := []byte("eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln")
		got, err := jwsPayload(built)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("jwsPayload(%q) = %q, %v; want the payload back", built, got, err)
		}
	})
}

// FuzzCheckProfile: the signed profile a node answers is read strictly:
// any body gives a profile or an error, never a panic, and a profile is
// only returned when its JWS verifies under its own receipt certificate.
func FuzzCheckProfile(f *testing.F) {
	s, k := fuzzSession(f)
	good := signed(f, k, mustJSON(map[string]any{"country": "IN", "name": "n", "receiptCertificates": [][]byte{k.Receipt.Cert.Raw}}))
	f.Add(good)
	f.Add([]byte("not a jws"))
	f.Add(signed(f, k, []byte(`{"country":"IN","receiptCertificates":["AAAA"]}`)))
	f.Add(signed(f, k, []byte(`{"country":"IN","receiptCertificates":[]}`)))
	f.Add(signed(f, k, []byte(`[1,2,3]`)))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, trust, err := s.checkProfile(Answer{Status: http.StatusOK, ContentType: "application/jose", Body: body})
		if err != nil {
			if p != nil || trust != nil {
				t.Fatal("an error with a profile")
			}
			return
		}
		if _, _, verr := certs.VerifyJWS(body, trust, time.Now()); verr != nil {
			t.Fatalf("a profile was returned whose JWS does not verify: %v", verr)
		}
	})
}

// FuzzVerifyReceipt: a receipt token from the node under test is
// accepted only when it verifies under the receipt key and is bound to the
// envelope sent.
func FuzzVerifyReceipt(f *testing.F) {
	s, k := fuzzSession(f)
	env := Envelope{MessageID: "m-1", From: "AQ", To: "IN", CertificateNumber: "AQ-1", Version: 1, Content: []byte("<x/>")}
	good := mustJSON(Receipt{MessageID: "m-1", Issuer: "IN", Sender: "AQ", Outcome: "Delivered", ContentSHA256: sha256hex(env.Content), Received: "2026-01-01T00:00:00Z"})
	f.Add(signed(f, k, good))
	f.Add(signed(f, k, []byte(`{"messageId":"m-2"}`)))
	f.Add(signed(f, k, []byte(`null`)))
	f.Add([]byte("a.b.c"))
	f.Fuzz(func(t *testing.T, tok []byte) {
		rc, err := s.verifyReceipt(&T{ID: "fuzz"}, tok, env)
		if err != nil {
			return
		}
		if rc.MessageID != env.MessageID || rc.ContentSHA256 != sha256hex(env.Content) {
			t.Fatalf("a receipt not bound to the envelope was accepted: %+v", rc)
		}
	})
}

// FuzzRefereeEnvelope: whatever a node under test posts to the reference
// partner, it answers (never panics), records exactly one result, and a
// 200 answer is a receipt signed by the kit's receipt key whose outcome is
// Delivered only when the result is PASS.
func FuzzRefereeEnvelope(f *testing.F) {
	_, k := fuzzSession(f)
	rf, err := NewReferee(k, ServeOptions{NodeTrust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{k.Root.Cert}}})
	if err != nil {
		f.Fatal(err)
	}
	doc, err := k.signedECO("IN-F-1", 1, "AQ", time.Now(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mustJSON(Envelope{MessageID: "f-1", From: "IN", To: "AQ", CertificateNumber: "IN-F-1", Version: 1, Content: doc}))
	f.Add([]byte(`{"messageId":"x","messageId":"y"}`))
	f.Add([]byte(`{"messageId":"x","from":"IN","to":"AQ","certificateNumber":"n","version":1,"content":"PHgvPg=="}`))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte(`[]`))
	trust := &certs.TrustSet{AnchorCerts: []*x509.Certificate{k.Receipt.Cert}}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := len(rf.Results().Results)
		rec := httptest.NewRecorder()
		rf.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/eco/v1/envelopes", bytes.NewReader(body)))
		res := rf.Results().Results
		if rec.Code != http.StatusOK {
			if len(res) != before+1 || res[len(res)-1].Status != Fail {
				t.Fatalf("answered %d without one FAIL result", rec.Code)
			}
			return
		}
		payload, _, err := certs.VerifyJWS(bytes.TrimSpace(rec.Body.Bytes()), trust, time.Now())
		if err != nil {
			t.Fatalf("a 200 answer that is not a receipt signed by the kit: %v", err)
		}
		var rc Receipt
		if err := json.Unmarshal(payload, &rc); err != nil {
			t.Fatal(err)
		}
		if len(res) != before+1 {
			t.Fatalf("%d results recorded for one message", len(res)-before)
		}
		if last := res[len(res)-1]; (rc.Outcome == "Delivered") != (last.Status == Pass) {
			t.Fatalf("receipt outcome %s with result %s (%s)", rc.Outcome, last.Status, last.Reason)
		}
	})
}
