package conformance_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/conformance"
)

// brokenNode is a TLS front of a real ecogate node that checks client
// certificates itself and forwards to the node, except that it breaks the
// rule one assertion checks, for the requests of that assertion only (the
// kit names the assertion in a header), so that each assertion is shown
// to fail on a node that gets its rule wrong.
type brokenNode struct {
	t       *testing.T
	kit     *conformance.Kit
	node    *node
	id      string // the assertion to break
	mode    string
	fwd     *http.Client
	receipt certs.KeyCert
	mu      sync.Mutex
	faked   map[string]bool
	seen    int
}

// modes: how each assertion's rule is broken.
var breakModes = map[string]string{
	"ECO-TRANS-01": "skip-client-check", "ECO-TRANS-02": "skip-client-check", "ECO-TRANS-03": "skip-client-check",
	"ECO-TRANS-04": "tls10", "ECO-TRK-02": "skip-client-check",
	"ECO-DEL-01": "resign", "ECO-DEL-05": "bad-receipt-signature", "ECO-TRK-01": "track-found",
	"ECO-PRO-01": "profile-country", "ECO-PRO-02": "profile-no-signing", "ECO-VAL-01": "validate-failed",
	"ECO-VAL-02": "validate-delivered", "ECO-PULL-01": "refuse", "ECO-PULL-02": "ack-ok", "ECO-PULL-03": "refuse-ack",
	"ECO-VQ-01": "refuse", "ECO-VQ-02": "query-fix", "ECO-VQ-03": "refuse", "ECO-DEC-02": "refuse", "ECO-SIG-01": "refuse",
	"ECO-DEL-04": "refuse-second", "ECO-DEL-06": "refuse-second", "ECO-PRO-03": "profile-tls",
	// every other assertion: "accept" (a refusal replaced by a signed Delivered receipt, and tracking saying Delivered)
}

func modeOf(id string) string {
	if m, ok := breakModes[id]; ok {
		return m
	}
	return "accept"
}

func startBroken(t *testing.T, kit *conformance.Kit, n *node, id string) string {
	b := &brokenNode{t: t, kit: kit, node: n, id: id, mode: modeOf(id), faked: map[string]bool{}}
	kc, err := loadKeyCert(filepath.Join(n.dir, "pki", "receipt-key.pem"), filepath.Join(n.dir, "pki", "receipt-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b.receipt = kc
	b.fwd = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, //nolint:gosec // test front of a loopback node
		Certificates: []tls.Certificate{{PrivateKey: kit.TLSClient.Key, Certificate: [][]byte{kit.TLSClient.Cert.Raw}}}}}}
	srv := httptest.NewUnstartedServer(b)
	server, err := tls.LoadX509KeyPair(filepath.Join(n.dir, "pki", "tls-server-cert.pem"), filepath.Join(n.dir, "pki", "tls-server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	if b.mode == "tls10" {
		srv.TLS.MinVersion = tls.VersionTLS10
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/eco/v1"
}

func loadKeyCert(keyFile, certFile string) (certs.KeyCert, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return certs.KeyCert{}, err
	}
	k, err := certs.ParsePrivateKey(kb)
	if err != nil {
		return certs.KeyCert{}, err
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return certs.KeyCert{}, err
	}
	cs, err := certs.ParseCertificates(cb)
	if err != nil {
		return certs.KeyCert{}, err
	}
	return certs.KeyCert{Key: k, Cert: cs[0]}, nil
}

func (b *brokenNode) problem(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"status":%d,"error":%q,"code":"broken"}`, status, msg)
}

func (b *brokenNode) jose(w http.ResponseWriter, payload any) {
	pb, _ := json.Marshal(payload)
	tok, err := certs.SignJWS(pb, b.receipt.Key, []*x509.Certificate{b.receipt.Cert})
	if err != nil {
		b.t.Error(err)
	}
	w.Header().Set("Content-Type", "application/jose")
	_, _ = w.Write(tok)
}

func (b *brokenNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mine := r.Header.Get(conformance.HeaderAssertion) == b.id
	// the client certificate check a node makes (unless broken)
	if !(mine && b.mode == "skip-client-check") {
		roots := x509.NewCertPool()
		roots.AddCert(b.kit.Root.Cert)
		if len(r.TLS.PeerCertificates) == 0 {
			b.problem(w, 403, "no client certificate")
			return
		}
		if _, err := r.TLS.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			b.problem(w, 403, err.Error())
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/eco/v1")
	// tracking of a message this front faked as accepted
	if r.Method == "GET" && strings.HasPrefix(path, "/envelopes/") {
		id := strings.TrimPrefix(path, "/envelopes/")
		b.mu.Lock()
		faked := b.faked[id]
		b.mu.Unlock()
		if faked || (mine && b.mode == "track-found") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"messageId":%q,"trackingInfo":"Delivered"}`, id)
			return
		}
	}
	if mine {
		b.mu.Lock()
		b.seen++
		nth := b.seen
		b.mu.Unlock()
		switch {
		case b.mode == "refuse", b.mode == "refuse-second" && nth == 2 && r.Method == "POST",
			b.mode == "refuse-ack" && strings.HasSuffix(path, "/ack"):
			b.problem(w, 400, "broken on purpose")
			return
		case b.mode == "ack-ok" && strings.HasSuffix(path, "/ack"):
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"messageId":"x","trackingInfo":"Delivered"}`)
			return
		case b.mode == "validate-failed" && path == "/validate", b.mode == "validate-delivered" && path == "/validate":
			out := map[bool]string{true: "FailedDelivery", false: "Delivered"}[b.mode == "validate-failed"]
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"outcome":%q}`, out)
			return
		case b.mode == "query-fix" && path == "/verification-queries":
			body = []byte(`{"certificateNumber":"FIXED-BY-BROKEN-NODE"}`)
		}
	}
	status, ctype, answer := b.forward(r, body)
	if mine {
		switch b.mode {
		case "accept":
			if r.Method == "POST" && path == "/envelopes" && !b.accepted(status, answer) {
				var env conformance.Envelope
				if err := json.Unmarshal(body, &env); err != nil {
					w.WriteHeader(200)
					return
				}
				b.mu.Lock()
				b.faked[env.MessageID] = true
				b.mu.Unlock()
				b.jose(w, map[string]any{"messageId": env.MessageID, "issuer": "IN", "sender": b.kit.Country, "outcome": "Delivered",
					"contentSha256": sha256hex(env.Content), "received": time.Now().UTC()})
				return
			}
		case "resign", "profile-country", "profile-no-signing", "profile-tls":
			if status == 200 && ctype == "application/jose" {
				var m map[string]any
				_ = json.Unmarshal(payloadOf(answer), &m)
				switch b.mode {
				case "resign":
					m["received"] = time.Now().UTC().Add(time.Duration(b.seen) * time.Second)
				case "profile-country":
					m["country"] = "XY"
				case "profile-no-signing":
					delete(m, "signingCertificates")
				case "profile-tls": // names another TLS server certificate than the one it serves
					m["tlsCertificates"] = [][]byte{b.kit.TLSServer.Cert.Raw}
				}
				b.jose(w, m)
				return
			}
		case "bad-receipt-signature":
			if status == 200 && ctype == "application/jose" {
				answer = bytes.TrimSpace(answer)
				i := bytes.LastIndexByte(answer, '.')
				sig, _ := base64.RawURLEncoding.DecodeString(string(answer[i+1:]))
				sig[len(sig)/2] ^= 0xff
				answer = append(answer[:i+1:i+1], base64.RawURLEncoding.EncodeToString(sig)...)
			}
		}
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (b *brokenNode) accepted(status int, answer []byte) bool {
	if status != 200 {
		return false
	}
	var rc conformance.Receipt
	_ = json.Unmarshal(payloadOf(answer), &rc)
	return rc.Outcome == "Delivered" || rc.Outcome == "DeliveredWithWarnings"
}

func payloadOf(tok []byte) []byte {
	parts := strings.Split(strings.TrimSpace(string(tok)), ".")
	if len(parts) != 3 {
		return nil
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return b
}

func (b *brokenNode) forward(r *http.Request, body []byte) (int, string, []byte) {
	req, _ := http.NewRequest(r.Method, "https://"+b.node.partner+r.URL.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	resp, err := b.fwd.Do(req)
	if err != nil {
		return 502, "text/plain", []byte(err.Error())
	}
	defer resp.Body.Close()
	a, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), a
}

// TestEachAssertionFailsOnABrokenNode runs the whole kit against a node
// that breaks one assertion's rule, for every assertion: exactly that
// assertion must fail (none can pass vacuously), and every other passes.
func TestEachAssertionFailsOnABrokenNode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kit once per assertion")
	}
	kit := newKit(t)
	n := startNode(t, kit)
	for i, a := range conformance.Catalogue() {
		t.Run(a.ID, func(t *testing.T) {
			sendToKit(t, n, kit, fmt.Sprintf("IN-CONF-BRK-%04d", i))
			target := startBroken(t, kit, n, a.ID)
			rep, err := conformance.Run(context.Background(), kit, conformance.Options{Target: target, NodeCountry: "IN"})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, r := range rep.Results {
				if r.Status != conformance.Pass {
					failed = append(failed, r.ID+" "+string(r.Status)+": "+r.Reason)
				}
			}
			if len(failed) != 1 || !strings.HasPrefix(failed[0], a.ID+" FAIL") {
				t.Errorf("broken for %s (mode %s): want exactly %s to fail, got:\n%s", a.ID, modeOf(a.ID), a.ID, strings.Join(failed, "\n"))
			} else {
				t.Logf("%s", failed[0])
			}
		})
	}
}
