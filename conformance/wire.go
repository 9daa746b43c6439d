package conformance

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// The kit's own copies of the wire types of design §7 (it never imports
// the node's): only the fields it checks.

// Envelope is the JSON envelope of POST /envelopes.
type Envelope struct {
	MessageID         string    `json:"messageId"`
	From              string    `json:"from"`
	To                string    `json:"to"`
	DocumentType      string    `json:"documentType,omitempty"`
	DocumentStatus    string    `json:"documentStatus,omitempty"`
	MessageFunction   string    `json:"messageFunction,omitempty"`
	CertificateNumber string    `json:"certificateNumber"`
	Version           int       `json:"version"`
	Kind              string    `json:"kind,omitempty"`
	Created           time.Time `json:"created,omitzero"`
	Content           []byte    `json:"content"`
}

// Receipt is the payload of a receipt JWS.
type Receipt struct {
	MessageID         string `json:"messageId"`
	Issuer            string `json:"issuer"`
	Sender            string `json:"sender"`
	Outcome           string `json:"outcome"`
	CertificateNumber string `json:"certificateNumber,omitempty"`
	Version           int    `json:"version,omitempty"`
	ContentSHA256     string `json:"contentSha256"`
	Received          string `json:"received"`
	Error             string `json:"error,omitempty"`
}

// Tracking is the answer of GET /envelopes/{id}.
type Tracking struct {
	MessageID    string `json:"messageId"`
	TrackingInfo string `json:"trackingInfo"`
	Receipt      string `json:"receipt,omitempty"`
}

// Profile is the payload of the signed profile.
type Profile struct {
	Country             string   `json:"country"`
	Name                string   `json:"name"`
	SigningCertificates [][]byte `json:"signingCertificates"`
	ReceiptCertificates [][]byte `json:"receiptCertificates"`
	TLSCertificates     [][]byte `json:"tlsCertificates"`
}

// QueryAnswer is the payload of a verification-query answer.
type QueryAnswer struct {
	Issuer            string `json:"issuer"`
	CertificateNumber string `json:"certificateNumber"`
	Found             bool   `json:"found"`
	Status            string `json:"status,omitempty"`
}

// ValidationReport is the answer of POST /validate.
type ValidationReport struct {
	Outcome string `json:"outcome"`
}

// accepted reports whether an outcome means stored as accepted.
func accepted(outcome string) bool {
	return outcome == "Delivered" || outcome == "DeliveredWithWarnings"
}

// Identity names the TLS client the kit presents.
type Identity string

// The kit's TLS identities.
const (
	IDGood    Identity = "registered client certificate"
	IDNone    Identity = "no client certificate"
	IDUnknown Identity = "client certificate of an unknown CA"
	IDExpired Identity = "expired client certificate"
	IDTLS11   Identity = "registered client certificate over TLS 1.1"
)

// HeaderAssertion names the assertion a request belongs to (for the
// node's logs, and for the kit's own broken-node tests).
const HeaderAssertion = "X-Eco-Conformance-Assertion"

func (k *Kit) tlsConfig(id Identity, serverCA *x509.CertPool) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if serverCA != nil {
		tc.RootCAs = serverCA
	} else {
		// The node's server certificate is checked against its profile
		// (ECO-PRO-*), not against a CA the kit does not know.
		tc.InsecureSkipVerify = true //nolint:gosec
	}
	cert := func(kc certs.KeyCert, chain ...*x509.Certificate) []tls.Certificate {
		c := tls.Certificate{PrivateKey: kc.Key, Leaf: kc.Cert, Certificate: [][]byte{kc.Cert.Raw}}
		for _, x := range chain {
			c.Certificate = append(c.Certificate, x.Raw)
		}
		return []tls.Certificate{c}
	}
	switch id {
	case IDGood:
		tc.Certificates = cert(k.TLSClient)
	case IDUnknown:
		tc.Certificates = cert(k.TLSClientUnknown, k.OtherRoot.Cert)
	case IDExpired:
		tc.Certificates = cert(k.TLSClientExpired)
	case IDTLS11:
		tc.Certificates = cert(k.TLSClient)
		tc.MinVersion, tc.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	}
	return tc
}

// Exchange is one request the kit sent and the answer it got.
type Exchange struct {
	Identity Identity `json:"identity"`
	Request  string   `json:"request"`
	Status   int      `json:"status,omitempty"`
	Answer   string   `json:"answer,omitempty"`
	// Error is the transport error when no HTTP answer came.
	Error string `json:"error,omitempty"`
}

// Answer is an HTTP answer (or a transport error).
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
	Err         error
	// PeerCertificates is the TLS server's chain, leaf first.
	PeerCertificates []*x509.Certificate
}

func excerpt(b []byte, n int) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(s) > n {
		return s[:n] + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return s
}

// jwsPayload returns the decoded payload of a compact JWS (unverified).
func jwsPayload(tok []byte) ([]byte, error) {
	parts := strings.Split(strings.TrimSpace(string(tok)), ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS (three base64url parts)")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

// client returns the HTTP client of an identity.
func (s *session) client(id Identity) *http.Client {
	if c := s.clients[id]; c != nil {
		return c
	}
	tr := &http.Transport{TLSClientConfig: s.kit.tlsConfig(id, s.opt.NodeCA), ForceAttemptHTTP2: false,
		DisableKeepAlives: id != IDGood, MaxIdleConnsPerHost: 4, TLSHandshakeTimeout: s.opt.Timeout}
	c := &http.Client{Transport: tr, Timeout: s.opt.Timeout}
	s.clients[id] = c
	return c
}

// do sends one request for the current assertion, records it, and checks
// the answer against the OpenAPI contract (a mismatch is recorded as the
// assertion's contract error).
func (s *session) do(t *T, id Identity, method, tmpl, path, ctype string, body []byte) Answer {
	url := strings.TrimRight(s.opt.Target, "/") + path
	req, err := http.NewRequestWithContext(s.ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return Answer{Err: err}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set(HeaderAssertion, t.ID)
	ex := Exchange{Identity: id, Request: method + " " + url}
	if len(body) > 0 {
		ex.Request += "\n" + excerpt(body, 600)
	}
	resp, err := s.client(id).Do(req)
	if err != nil {
		ex.Error = err.Error()
		t.exchanges = append(t.exchanges, ex)
		return Answer{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	a := Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b, Err: err}
	if resp.TLS != nil {
		a.PeerCertificates = resp.TLS.PeerCertificates
	}
	ex.Status, ex.Answer = resp.StatusCode, excerpt(b, 800)
	t.exchanges = append(t.exchanges, ex)
	if tmpl != "" && err == nil {
		if cerr := s.contract.Check(opOf(method, tmpl), resp.StatusCode, a.ContentType, b); cerr != nil && t.contractErr == nil {
			t.contractErr = fmt.Errorf("%s %s answered %d outside the published contract (openapi/partner.json): %v", method, tmpl, resp.StatusCode, cerr)
		}
	}
	return a
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
