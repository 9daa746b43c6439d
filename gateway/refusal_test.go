package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// envelopeFor builds an envelope from IN to VN around content.
func envelopeFor(id string, i int, content []byte) *Envelope {
	return &Envelope{MessageID: id, From: "IN", To: "VN", CertificateNumber: sampleNumber(i), Version: 1, Content: content}
}

func sampleNumber(i int) string {
	b := []byte("IN-AI-TEST-000000")
	for k := len(b) - 1; i > 0 && k >= 0; k-- {
		b[k] = byte('0' + i%10)
		i /= 10
	}
	return string(b)
}

// noneAccepted fails if the receiver stored any message as accepted.
func noneAccepted(t *testing.T, d *DevNode) {
	t.Helper()
	for _, s := range []store.State{store.StateDelivered, store.StateDeliveredWithWarnings} {
		recs, err := d.DB.Inbox().List(context.Background(), s, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 0 {
			t.Fatalf("%d messages stored as %s", len(recs), s)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRefusals sends bad input to VN's partner API over real mutual TLS.
func TestRefusals(t *testing.T) {
	in, vn, xx := identities(t)
	logs := &syncBuffer{}
	p := newPair(t, fastRetry, func(o *Options) { o.MaxDocumentBytes = 64 << 10 }, func(o *Options) {
		o.MaxDocumentBytes = 64 << 10
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	good := partnerClient(in, vn.PKI.Root.Cert)
	url := p.vn.PartnerURL

	t.Run("no client certificate is refused in the TLS handshake", func(t *testing.T) {
		c := partnerClient(nil, vn.PKI.Root.Cert)
		b, _ := json.Marshal(envelopeFor("id-nocert", 1, signedSample(t, in, 1)))
		resp, err := c.Post(url+"/envelopes", "application/json", bytes.NewReader(b))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("accepted a connection without client certificate: %d", resp.StatusCode)
		}
	})
	t.Run("unknown client certificate is refused in the TLS handshake", func(t *testing.T) {
		c := partnerClient(xx, vn.PKI.Root.Cert)
		b, _ := json.Marshal(envelopeFor("id-unknown", 1, signedSample(t, in, 1)))
		resp, err := c.Post(url+"/envelopes", "application/json", bytes.NewReader(b))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("accepted a stranger's client certificate: %d", resp.StatusCode)
		}
	})
	t.Run("sender that does not match the certificate: 403", func(t *testing.T) {
		env := envelopeFor("id-mismatch", 1, signedSample(t, in, 1))
		env.From = "TH"
		resp, body := postEnvelope(t, good, url, env)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), CodeSenderMismatch) {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	t.Run("body over the limit: 413", func(t *testing.T) {
		big := bytes.Repeat([]byte("A"), 200<<10)
		resp, body := postEnvelope(t, good, url, envelopeFor("id-big", 1, big))
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		// A body without a declared length is cut off at the limit too.
		req, _ := http.NewRequest(http.MethodPost, url+"/envelopes", struct{ *bytes.Reader }{bytes.NewReader(append([]byte(`{"messageId":"x","content":"`), big...))})
		resp2, err := good.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked: got %d", resp2.StatusCode)
		}
	})
	t.Run("envelope that is not JSON: 400", func(t *testing.T) {
		resp, body := post(t, good, url+"/envelopes", "application/json", []byte("{nope"))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	t.Run("envelope that is not strict JSON: 400 naming the field, nothing recorded", func(t *testing.T) {
		// Issue 10, item 6: each of these was delivered before (the last
		// "from" won, trailing data was ignored, bad UTF-8 became U+FFFD).
		okBody, _ := json.Marshal(envelopeFor("id-strict", 6, signedSample(t, in, 6)))
		withHead := func(head string) []byte { return append([]byte(`{`+head), okBody[1:]...) }
		for _, tc := range []struct {
			name string
			body []byte
			want string
		}{
			{"from twice", withHead(`"from":"SG",`), "from: appears twice"},
			{"messageId twice", withHead(`"messageId":"id-other",`), "messageId: appears twice"},
			{"case variant", withHead(`"From":"SG",`), "From: unknown field"},
			{"unknown field", withHead(`"priority":"high",`), "priority: unknown field"},
			{"trailing data", append(append([]byte{}, okBody...), []byte(` {"from":"SG"}`)...), "trailing data"},
			{"invalid UTF-8", withHead("\"documentType\":\"86\xff\","), "UTF-8"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := post(t, good, url+"/envelopes", "application/json", tc.body)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), CodeBadEnvelope) || !strings.Contains(string(body), tc.want) {
					t.Fatalf("got %d %s; want 400 with %q", resp.StatusCode, body, tc.want)
				}
				if _, err := p.vn.DB.Inbox().Get(context.Background(), "id-strict"); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("a refused envelope was recorded: %v", err)
				}
				// The same body on /validate is refused the same way.
				resp, body = post(t, good, url+"/validate", "application/json", tc.body)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
					t.Fatalf("validate: got %d %s", resp.StatusCode, body)
				}
			})
		}
		noneAccepted(t, p.vn)
	})
	t.Run("unreadable XML: a NotReadable receipt, nothing accepted", func(t *testing.T) {
		for i, doc := range []string{"<not xml", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`} {
			resp, body := postEnvelope(t, good, url, envelopeFor("id-unreadable-"+string(rune('a'+i)), 1, []byte(doc)))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
			if rc := receiptOf(t, body); rc.Outcome != DeliveredNotReadable || len(rc.Findings) == 0 {
				t.Fatalf("receipt %+v", rc)
			}
		}
		noneAccepted(t, p.vn)
	})
	t.Run("bad signature: a FailedDelivery receipt, nothing accepted", func(t *testing.T) {
		doc := signedSample(t, in, 2)
		doc = bytes.Replace(doc, []byte("IN-AI-TEST-000002"), []byte("IN-AI-TEST-000009"), 1)
		resp, body := postEnvelope(t, good, url, envelopeFor("id-badsig", 9, doc))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		rc := receiptOf(t, body)
		if rc.Outcome != FailedDelivery || rc.Verification.Get(certs.CheckIntegrity).Status != certs.StatusInvalid {
			t.Fatalf("receipt %+v", rc)
		}
		noneAccepted(t, p.vn)
	})
	t.Run("signer that does not chain to the sender's anchors: FailedDelivery", func(t *testing.T) {
		resp, body := postEnvelope(t, good, url, envelopeFor("id-stranger-signer", 3, signedSample(t, xx, 3)))
		rc := receiptOf(t, body)
		if resp.StatusCode != http.StatusOK || rc.Outcome != FailedDelivery || rc.Verification.Get(certs.CheckTrust).Status != certs.StatusInvalid {
			t.Fatalf("got %d %+v", resp.StatusCode, rc)
		}
		noneAccepted(t, p.vn)
	})
	t.Run("envelope header that disagrees with the signed document: FailedDelivery", func(t *testing.T) {
		env := envelopeFor("id-header", 4, signedSample(t, in, 4))
		env.CertificateNumber = "SOMETHING-ELSE"
		_, body := postEnvelope(t, good, url, env)
		if rc := receiptOf(t, body); rc.Outcome != FailedDelivery {
			t.Fatalf("receipt %+v", rc)
		}
		noneAccepted(t, p.vn)
	})
	t.Run("envelope addressed to another country: FailedDelivery", func(t *testing.T) {
		env := envelopeFor("id-to", 5, signedSample(t, in, 5))
		env.To = "TH"
		_, body := postEnvelope(t, good, url, env)
		if rc := receiptOf(t, body); rc.Outcome != FailedDelivery {
			t.Fatalf("receipt %+v", rc)
		}
		noneAccepted(t, p.vn)
	})
	t.Run("duplicate gets the original receipt and creates nothing", func(t *testing.T) {
		doc := signedSample(t, in, 6)
		resp, first := postEnvelope(t, good, url, envelopeFor("id-dup", 6, doc))
		if resp.StatusCode != http.StatusOK || receiptOf(t, first).Outcome != Delivered {
			t.Fatalf("first: %d %s", resp.StatusCode, first)
		}
		_, again := postEnvelope(t, good, url, envelopeFor("id-dup", 6, doc))
		if !bytes.Equal(first, again) {
			t.Fatalf("duplicate got another receipt:\n%s\n%s", first, again)
		}
		// Same certificate number and version and content under a new id: the original receipt too.
		_, other := postEnvelope(t, good, url, envelopeFor("id-dup-2", 6, doc))
		if !bytes.Equal(first, other) {
			t.Fatalf("same certificate under a new id got another receipt")
		}
		recs, _ := p.vn.DB.Inbox().List(context.Background(), store.StateDelivered, 0)
		if len(recs) != 1 {
			t.Fatalf("%d records stored, want 1", len(recs))
		}
		if v := metricValue(t, p.vn.Node.Registry(), "ecogate_receive_total", map[string]string{"outcome": "duplicate"}); v != 2 {
			t.Fatalf("duplicates counted %v, want 2", v)
		}
	})
	t.Run("same id with other content: 409, refused and audited", func(t *testing.T) {
		resp, body := postEnvelope(t, good, url, envelopeFor("id-dup", 7, signedSample(t, in, 7)))
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), CodeConflict) {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		// The same certificate number and version with other content under a new id: refused as well.
		c, err := samplecert.Certificate(sampleNumber(6), 1, "IN", "VN")
		if err != nil {
			t.Fatal(err)
		}
		c.Header.Remarks = "changed after issue"
		x, err := schema.EncodeXML(c)
		if err != nil {
			t.Fatal(err)
		}
		signer := &CertsSigner{Key: in.PKI.SignerECDSA.Key, Certs: []*x509.Certificate{in.PKI.SignerECDSA.Cert, in.PKI.Intermediate.Cert}}
		doc2, err := signer.Sign(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		resp, body = postEnvelope(t, good, url, envelopeFor("id-dup-3", 6, doc2))
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		ents, err := p.vn.DB.Audit().Entries(context.Background(), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, e := range ents {
			if e.Action == "refuse" && e.Details["code"] == CodeConflict {
				found++
			}
		}
		if found != 2 {
			t.Fatalf("%d conflict refusals audited, want 2", found)
		}
	})
	t.Run("a verified certificate of no registered partner: 403", func(t *testing.T) {
		// A chain the TLS layer accepted (say, a CA two partners share, or
		// one removed by a reload) but that maps to no partner.
		h := p.vn.Node.PartnerHandler()
		req := httptest.NewRequest(http.MethodGet, "/eco/v1/profile", nil)
		req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{xx.PKI.TLSClient.Cert, xx.PKI.Root.Cert}}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), CodeUnknownPartner) {
			t.Fatalf("got %d %s", w.Code, w.Body)
		}
		req.TLS = nil
		w = httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), CodeNoClientCert) {
			t.Fatalf("no TLS: got %d %s", w.Code, w.Body)
		}
	})
	// Every refusal is logged: the TLS ones by the server, the others by the node.
	for _, want := range []string{"TLS handshake error", "code=" + CodeSenderMismatch, "code=" + CodeTooLarge, "code=" + CodeConflict, "code=" + CodeUnknownPartner} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if err := p.vn.DB.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := p.vn.DB.Audit().Verify(context.Background()); err != nil || n == 0 {
		t.Fatalf("audit chain: %d entries, %v", n, err)
	}
}

// TestTrackValidateProfile covers tracking, validation without storing and
// the signed profile.
func TestTrackValidateProfile(t *testing.T) {
	in, vn, _ := identities(t)
	p := newPair(t, fastRetry, nil, nil)
	c := partnerClient(in, vn.PKI.Root.Cert)
	url := p.vn.PartnerURL

	doc := signedSample(t, in, 1)
	resp, body := post(t, c, url+"/validate", "application/xml", doc)
	var rep ValidationReport
	if err := json.Unmarshal(body, &rep); err != nil || resp.StatusCode != 200 {
		t.Fatalf("validate: %d %s", resp.StatusCode, body)
	}
	if rep.Outcome != Delivered || rep.CertificateNumber != sampleNumber(1) {
		t.Fatalf("report %+v", rep)
	}
	_, body = post(t, c, url+"/validate", "application/xml", signedSample(t, vn, 1))
	_ = json.Unmarshal(body, &rep)
	if rep.Outcome != FailedDelivery {
		t.Fatalf("validate of a document signed by another authority: %+v", rep)
	}
	noneAccepted(t, p.vn)

	// Tracking: unknown, then delivered.
	get := func(path string) (int, []byte) {
		resp, err := c.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if code, b := get("/envelopes/nope"); code != 404 || !strings.Contains(string(b), string(EnvelopeNotExists)) {
		t.Fatalf("unknown: %d %s", code, b)
	}
	postEnvelope(t, c, url, envelopeFor("track-1", 1, doc))
	code, b := get("/envelopes/track-1")
	var tr Tracking
	_ = json.Unmarshal(b, &tr)
	if code != 200 || tr.TrackingInfo != Delivered || tr.Receipt == "" {
		t.Fatalf("tracking: %d %s", code, b)
	}

	// Profile: a JWS signed by VN's receipt key.
	code, b = get("/profile")
	if code != 200 {
		t.Fatalf("profile: %d %s", code, b)
	}
	payload, err := (&JWSVerifier{}).VerifyJWS(b, p.dirIN.Lookup("VN").ReceiptTrust(), p.in.Node.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var pr Profile
	if err := json.Unmarshal(payload, &pr); err != nil || pr.Country != "VN" || len(pr.ReceiptCertificates) == 0 || len(pr.SigningCertificates) == 0 {
		t.Fatalf("profile %s (%v)", payload, err)
	}
}
