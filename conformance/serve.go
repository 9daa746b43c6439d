package conformance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/strictjson"
	"github.com/ecogate/ecogate/openapi"
	"github.com/ecogate/ecogate/schema"
)

// ServeOptions configure the reference partner (Serve).
type ServeOptions struct {
	// NodeTrust holds the anchors (and CRLs) of the node under test: its
	// TLS client CA and its document-signing anchors.
	NodeTrust *certs.TrustSet
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnResult, when set, gets every checked message.
	OnResult func(Result)
}

// Referee is the kit as a reference partner node: it takes what another
// implementation sends to POST /eco/v1/envelopes, checks it against the
// same rules the assertions check (mutual TLS under the node's anchors,
// strict JSON matching the contract, the signature profile and trust, the
// export country), answers with a receipt signed by the kit's receipt key,
// and keeps one Result per message.
type Referee struct {
	kit      *Kit
	opt      ServeOptions
	contract *openapi.Contract
	mu       sync.Mutex
	results  []Result
	receipts map[string]kept
}

// kept is a message the reference partner answered: its receipt, the hash
// of its content and the verdict, for a duplicate of it.
type kept struct {
	tok    []byte
	hash   string
	status Status
	reason string
}

// NewReferee makes the reference partner of kit.
func NewReferee(kit *Kit, opt ServeOptions) (*Referee, error) {
	if opt.NodeTrust == nil || len(opt.NodeTrust.AnchorCerts) == 0 {
		return nil, fmt.Errorf("conformance serve: the node's anchors are required (--node-trust FILE)")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c, err := openapi.NewContract("partner.json", openapi.Partner)
	if err != nil {
		return nil, err
	}
	return &Referee{kit: kit, opt: opt, contract: c, receipts: map[string]kept{}}, nil
}

// TLSConfig is the server configuration: the kit's TLS server certificate,
// TLS 1.2+, client certificates chaining to the node's anchors.
func (rf *Referee) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	for _, c := range rf.opt.NodeTrust.AnchorCerts {
		pool.AddCert(c)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		Certificates: []tls.Certificate{{PrivateKey: rf.kit.TLSServer.Key, Certificate: [][]byte{rf.kit.TLSServer.Cert.Raw}, Leaf: rf.kit.TLSServer.Cert}}}
}

// Results returns what was checked so far, as a report.
func (rf *Referee) Results() *Report {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	rep := &Report{Target: "reference partner " + rf.kit.Country, KitCountry: rf.kit.Country, Results: append([]Result(nil), rf.results...)}
	for _, r := range rep.Results {
		if r.Status == Pass {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	return rep
}

// ServeHTTP implements the reference partner's API.
func (rf *Referee) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/eco/v1/envelopes":
		rf.envelope(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/eco/v1/profile":
		p := map[string]any{"country": rf.kit.Country, "name": rf.kit.Name + " (reference partner)", "issued": rf.opt.Now().UTC(),
			"signingCertificates": [][]byte{rf.kit.Signer.Cert.Raw, rf.kit.Intermediate.Cert.Raw}, "receiptCertificates": [][]byte{rf.kit.Receipt.Cert.Raw, rf.kit.Root.Cert.Raw}}
		tok, _ := certs.SignJWS(mustJSON(p), rf.kit.Receipt.Key, []*x509.Certificate{rf.kit.Receipt.Cert, rf.kit.Root.Cert})
		w.Header().Set("Content-Type", "application/jose")
		_, _ = w.Write(tok)
	case r.Method == http.MethodGet && r.URL.Path == "/eco/v1/openapi.json":
		openapi.Handler(openapi.Partner).ServeHTTP(w, r)
	default:
		problem(w, http.StatusNotFound, "not-found", "the reference partner serves POST /eco/v1/envelopes and GET /eco/v1/profile")
	}
}

func problem(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "error": msg, "code": code})
}

func (rf *Referee) envelope(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	res := Result{ID: "ECO-SERVE", Group: "serve", Title: "message received from the node under test", Rule: "design §5-§7",
		Exchanges: []Exchange{{Identity: "node under test", Request: "POST /eco/v1/envelopes\n" + excerpt(body, 600)}}}
	var fails []string
	fail := func(format string, a ...any) { fails = append(fails, fmt.Sprintf(format, a...)) }
	defer func() {
		res.Status = Pass
		if len(fails) > 0 {
			res.Status, res.Reason = Fail, strings.Join(fails, "; ")
		}
		rf.mu.Lock()
		rf.results = append(rf.results, res)
		rf.mu.Unlock()
		if rf.opt.OnResult != nil {
			rf.opt.OnResult(res)
		}
	}()
	if err != nil {
		fail("body: %v", err)
		problem(w, http.StatusRequestEntityTooLarge, "body-too-large", err.Error())
		return
	}
	if err := rf.contract.Validate("/components/schemas/Envelope", body); err != nil {
		fail("the envelope: %v", err)
	}
	var env Envelope
	if err := strictjson.Unmarshal(body, &env); err != nil {
		fail("the envelope is not strict JSON: %v", err)
		problem(w, http.StatusBadRequest, "bad-envelope", err.Error())
		return
	}
	res.ID = "ECO-SERVE " + env.MessageID
	if !strings.EqualFold(env.To, rf.kit.Country) {
		fail("the envelope is addressed to %q, the reference partner is %s", env.To, rf.kit.Country)
	}
	outcome, why := "Delivered", ""
	rf.mu.Lock()
	old, seen := rf.receipts[env.MessageID]
	rf.mu.Unlock()
	if seen {
		if old.hash != sha256hex(env.Content) {
			fail("message id %s was used before with other content (design §5: same id, different content is refused)", env.MessageID)
			problem(w, http.StatusConflict, "conflict", "message id "+env.MessageID+" was received before with other content")
			return
		}
		// a duplicate gets the original receipt, and the original's verdict
		if old.status == Fail {
			fail("a duplicate of a message that failed: %s", old.reason)
		}
		res.Exchanges[0].Status, res.Exchanges[0].Answer = 200, "the original receipt (duplicate)"
		w.Header().Set("Content-Type", "application/jose")
		_, _ = w.Write(old.tok)
		return
	}
	v := &certs.Verifier{Trust: rf.opt.NodeTrust, At: rf.opt.Now()}
	vr, err := v.Verify(env.Content)
	switch {
	case err != nil:
		fail("verify the content: %v", err)
	case !vr.Valid:
		f := vr.Report.First()
		fail("the content's signature does not pass the profile: %s %s: %s", f.Check, f.Reason, f.Detail)
	default:
		if env.Kind == "" || env.Kind == "issue" || env.Kind == "withdraw" || env.Kind == "replace" {
			c, fs := schema.DecodeElement(vr.Element, schema.DecodeOptions{})
			if c == nil {
				fail("the signed content is not a readable e-CO: %v", fs)
			} else {
				if !strings.EqualFold(c.Header.ExportCountry, env.From) {
					fail("export country %s is not the sender %s (a node speaks only for its own country)", c.Header.ExportCountry, env.From)
				}
				if c.Header.ID != env.CertificateNumber || c.Header.Version != env.Version {
					fail("the envelope names %s v%d, the signed document %s v%d", env.CertificateNumber, env.Version, c.Header.ID, c.Header.Version)
				}
			}
		}
	}
	if len(fails) > 0 {
		outcome, why = "FailedDelivery", strings.Join(fails, "; ")
	}
	rc := Receipt{MessageID: env.MessageID, Issuer: rf.kit.Country, Sender: env.From, Outcome: outcome, CertificateNumber: env.CertificateNumber,
		Version: env.Version, ContentSHA256: sha256hex(env.Content), Received: rf.opt.Now().UTC().Format(time.RFC3339), Error: why}
	tok, err := certs.SignJWS(mustJSON(rc), rf.kit.Receipt.Key, []*x509.Certificate{rf.kit.Receipt.Cert, rf.kit.Root.Cert})
	if err != nil {
		problem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	rf.mu.Lock()
	rf.receipts[env.MessageID] = kept{tok: tok, hash: rc.ContentSHA256, status: map[bool]Status{true: Fail, false: Pass}[len(fails) > 0], reason: why}
	rf.mu.Unlock()
	res.Exchanges[0].Status, res.Exchanges[0].Answer = 200, string(mustJSON(rc))
	w.Header().Set("Content-Type", "application/jose")
	_, _ = w.Write(tok)
}

// Serve runs the reference partner on ln until ctx ends.
func (rf *Referee) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: rf, TLSConfig: rf.TLSConfig(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.ServeTLS(ln, "", "")
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}
