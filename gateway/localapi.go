package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// SubmitError is a refused submission: Status is the HTTP status the local
// API answers with.
type SubmitError struct {
	Status       int
	Code         string
	Msg          string
	Findings     schema.Findings `json:"findings,omitempty"`
	Verification certs.Report    `json:"verification,omitempty"`
}

func (e *SubmitError) Error() string { return e.Msg }

// CodeNotOwnCountry is the problem code of a submission refused because
// the e-CO's export or issuing country is not this node's.
const CodeNotOwnCountry = "not-own-country"

// Submit takes a canonical e-CO for sending: it validates it, signs it
// with the issuing authority's key when it is not signed yet (a signed one
// must verify against this node's own anchors), and queues one message
// per recipient (the given countries, or the certificate's import country)
// in the durable outbox. It returns once the messages are fsynced.
func (n *Node) Submit(ctx context.Context, doc []byte, to []string) (*SubmitResult, error) {
	if int64(len(doc)) > n.maxDoc {
		return nil, &SubmitError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Msg: fmt.Sprintf("the document is larger than %d bytes", n.maxDoc)}
	}
	// One strict parse serves everything: finding out whether the
	// document is signed, decoding the certificate from the tree, and
	// signing that same tree (certs.Signer.SignParsed) without a second
	// parse.
	parsed, perr := certs.ParseForSigning(doc, certs.Limits{MaxBytes: int(n.maxDoc), MaxDepth: n.opt.MaxDepth})
	if perr != nil {
		return nil, n.unreadable(doc, perr)
	}
	signed := false
	for _, c := range parsed.Root().ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == certs.NSDSig {
			signed = true
		}
	}
	cert, fs, err := n.decodeSubmitted(ctx, doc, parsed, signed)
	if err != nil {
		return nil, err
	}
	content := doc
	if !signed {
		if n.opt.Signer == nil {
			return nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Msg: "the document is unsigned and this node has no document-signing key (signing.key)"}
		}
		if ps, ok := n.opt.Signer.(ParsedSigner); ok {
			content, err = ps.SignParsed(ctx, parsed)
		} else {
			content, err = n.opt.Signer.Sign(ctx, doc)
		}
		if err != nil {
			return nil, fmt.Errorf("sign %s: %w", cert.Header.ID, err)
		}
	}
	kind := KindOf(cert)
	res := &SubmitResult{Certificate: cert.Ref(), Kind: kind, Signed: !signed, Findings: fs}
	msgs, err := n.outMessages(cert, kind, content, to, res)
	if err != nil {
		return nil, err
	}
	if err := n.enqueueSubmitted(ctx, cert, kind, content, msgs); err != nil {
		return nil, err
	}
	n.log.Info("queued", "certificate", cert.Ref().String(), "kind", kind, "messages", len(msgs), "signedHere", !signed)
	n.Kick()
	return res, nil
}

// decodeSubmitted reads the certificate of a submitted document (checking
// the signature of one that comes signed against the node's own anchors)
// and refuses what the node must not send: an unreadable or invalid e-CO,
// another country's e-CO, one with SEVERE findings. It returns the
// validator's lesser findings.
func (n *Node) decodeSubmitted(ctx context.Context, doc []byte, parsed *certs.Parsed, signed bool) (*schema.Certificate, schema.Findings, error) {
	var cert *schema.Certificate
	var fs schema.Findings
	if signed {
		if n.opt.OwnTrust == nil {
			return nil, nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Msg: "the document is already signed but this node has no own document-signing anchors (signing.trust) to check it; submit it unsigned"}
		}
		var ver *Verification
		var err error
		if pv, ok := n.opt.Verifier.(ParsedVerifier); ok {
			ver, err = pv.VerifyParsed(ctx, n.opt.OwnTrust, parsed)
		} else {
			ver, err = n.opt.Verifier.Verify(ctx, n.opt.OwnTrust, doc)
		}
		if err != nil {
			return nil, nil, err
		}
		if !ver.Valid {
			first := ver.Report.First()
			return nil, nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Verification: ver.Report,
				Msg: fmt.Sprintf("the document's signature does not verify against this node's own anchors: %s: %s: %s", first.Check, first.Reason, first.Detail)}
		}
		cert, fs = schema.DecodeElement(ver.Element, n.decode)
		ver.Release()
	} else {
		cert, fs = schema.DecodeElement(parsed.Root(), n.decode)
	}
	if fs != nil || cert == nil {
		for _, f := range fs {
			if f.Code == schema.CodeNotXML || f.Code == schema.CodeDoctype || f.Code == schema.CodeTooDeep || f.Code == schema.CodeTooLarge {
				return nil, nil, &SubmitError{Status: http.StatusBadRequest, Code: CodeInvalid, Findings: fs, Msg: "the document is not readable XML: " + f.Message}
			}
		}
		return nil, nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Findings: fs, Msg: "the document is not a valid e-CO (see findings)"}
	}
	// A node speaks only for its own country: it neither signs nor queues
	// an e-CO that another country exports or issues (partners refuse it).
	if cfs := countryFindings(cert, n.country); cfs != nil {
		return nil, nil, &SubmitError{Status: http.StatusBadRequest, Code: CodeNotOwnCountry, Findings: cfs,
			Msg: fmt.Sprintf("%s: %s; not signed or queued: this node sends only e-COs that %s exports and issues (correct the document, or send it from the node of the country that issues it)", cfs[0].Code, cfs[0].Message, n.country)}
	}
	if n.opt.Validator != nil {
		fs = n.opt.Validator.Validate(ctx, cert)
		if fs.HasSevere() {
			return nil, nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Findings: fs, Msg: "the e-CO has SEVERE findings; correct them and submit again"}
		}
	}
	return cert, fs, nil
}

// outMessages makes one outbound message per recipient (the import
// country when to is empty), each a known partner exchanging under the
// certificate's agreement, and lists them in res.
func (n *Node) outMessages(cert *schema.Certificate, kind string, content []byte, to []string, res *SubmitResult) ([]store.OutMessage, error) {
	if len(to) == 0 {
		to = []string{cert.Header.ImportCountry}
	}
	now := n.clock.Now().UTC()
	var msgs []store.OutMessage
	seen := map[string]bool{}
	for _, c := range to {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		if c == n.country {
			return nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Msg: "a certificate cannot be sent to this node's own country " + c}
		}
		p := n.opt.Partners.Lookup(c)
		if p == nil {
			return nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeNotFound, Msg: "no partner " + c + " in the registry; add it to the partners file"}
		}
		if cert.Header.Agreement != "" && !p.HasAgreement(cert.Header.Agreement) {
			return nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid,
				Msg: fmt.Sprintf("partner %s does not exchange under %s (agreements: %s)", c, cert.Header.Agreement, strings.Join(p.Agreements, ", "))}
		}
		id := n.ids.New()
		msgs = append(msgs, store.OutMessage{ID: id, Partner: c, CertNumber: cert.Header.ID, Version: cert.Header.Version,
			Kind: kind, Content: content, Created: now, Pull: p.Pull, Exclusive: true})
		res.Messages = append(res.Messages, SubmittedMessage{ID: id, To: c, Pull: p.Pull, Tracking: n.trackingURL(id)})
	}
	if len(msgs) == 0 {
		return nil, &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Msg: "no recipient: give one with to=CC or set the certificate's import country"}
	}
	return msgs, nil
}

// enqueueSubmitted makes a submission durable as one act: the messages,
// the certificate's entries in the register of issued certificates and
// the audit entries are written together (one transaction), so a crash
// never leaves a queued certificate unregistered, and a refused
// submission (409) leaves the register as it was. Then it counts the
// messages and runs the OnSubmitted hook.
func (n *Node) enqueueSubmitted(ctx context.Context, cert *schema.Certificate, kind string, content []byte, msgs []store.OutMessage) error {
	var register []store.IssuedCert
	if n.opt.RegisterEntries != nil {
		var err error
		if register, err = n.opt.RegisterEntries(kind, cert); err != nil {
			return fmt.Errorf("register entry of %s: %w", cert.Ref(), err)
		}
	}
	hash := ContentHash(content)
	entries := make([]store.Entry, len(msgs))
	for i, m := range msgs {
		entries[i] = auditEntry("local", "send", m.ID, map[string]string{"partner": m.Partner, "certificate": cert.Ref().String(), "kind": kind, "sha256": hash})
	}
	if err := n.enqueueAudited(ctx, register, entries, msgs); err != nil {
		var dup *store.AlreadySentError
		if errors.As(err, &dup) {
			hint := "to change the certificate, send a replacement with a higher version"
			if !dup.State.Settled() {
				hint = "it is still being delivered; follow it at " + n.trackingURL(dup.ID) + " (a suspended message is resent with 'ecogate outbox retry " + dup.ID + "')"
			}
			return &SubmitError{Status: http.StatusConflict, Code: CodeAlreadySent, Msg: fmt.Sprintf("%s was already sent: %s; %s", cert.Ref(), dup.Error(), hint)}
		}
		return err
	}
	for _, m := range msgs {
		n.m.enqueued.WithLabelValues(m.Partner).Inc()
	}
	if n.opt.OnSubmitted != nil {
		if err := n.opt.OnSubmitted(ctx, kind, cert, content); err != nil {
			n.log.Error("queued but the submitted hook failed", "certificate", cert.Ref().String(), "err", err)
			return fmt.Errorf("%s is queued (messages %s) but the submitted hook failed: %w", cert.Ref(), messageIDs(msgs), err)
		}
	}
	return nil
}

// unreadable words the refusal of a document the strict parser refused:
// with the schema decoder's findings when it refuses the document too (as
// a Submit that decoded first answered), else with the parser's reason.
func (n *Node) unreadable(doc []byte, perr error) error {
	if _, fs := schema.DecodeXML(doc, n.decode); fs != nil {
		for _, f := range fs {
			if f.Code == schema.CodeNotXML || f.Code == schema.CodeDoctype || f.Code == schema.CodeTooDeep || f.Code == schema.CodeTooLarge {
				return &SubmitError{Status: http.StatusBadRequest, Code: CodeInvalid, Findings: fs, Msg: "the document is not readable XML: " + f.Message}
			}
		}
		return &SubmitError{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Findings: fs, Msg: "the document is not a valid e-CO (see findings)"}
	}
	return &SubmitError{Status: http.StatusBadRequest, Code: CodeInvalid, Msg: "the document is not readable XML: " + perr.Error()}
}

func messageIDs(msgs []store.OutMessage) string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return strings.Join(ids, ", ")
}

func (n *Node) trackingURL(id string) string {
	if n.opt.LocalURL != "" {
		return strings.TrimRight(n.opt.LocalURL, "/") + "/api/v1/outbound/" + id
	}
	return "/api/v1/outbound/" + id
}

// LocalHandler returns the local API, for the operator's systems. With
// Options.LocalToken every request but /healthz and /readyz must carry
// "Authorization: Bearer TOKEN" (else 401); without it the API has no
// authentication, which LoadConfig allows on loopback only:
//
//	POST /api/v1/outbound?to=VN,JP        submit an e-CO (XML body); 202 with the queued messages
//	GET  /api/v1/outbound?state=&partner=&limit=   list outbound messages
//	GET  /api/v1/outbound/{id}            tracking of one outbound message (state, attempts, receipt)
//	POST /api/v1/outbound/{id}/retry      resend a suspended or failed message (same id)
//	GET  /api/v1/inbound?outcome=&limit=  list received messages
//	GET  /api/v1/inbound/{id}             one received message with its receipt
//	GET  /api/v1/certificates/{country}/{number}  status of a received certificate's versions
//	GET  /api/v1/store/backup             a consistent copy of the bbolt data file (bbolt engine)
//	GET  /metrics, /healthz, /readyz
func (n *Node) LocalHandler() http.Handler {
	r := chi.NewRouter()
	root := r
	r.Handle("/metrics", promhttp.HandlerFor(n.m.reg, promhttp.HandlerOpts{Registry: n.m.reg}))
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", n.handleReady)
	r.Route("/api/v1", func(r chi.Router) {
		r.Post("/outbound", n.handleSubmit)
		r.Get("/outbound", n.handleListOutbound)
		r.Get("/outbound/{id}", n.handleOutbound)
		r.Post("/outbound/{id}/retry", n.handleRetry)
		r.Get("/inbound", n.handleListInbound)
		r.Get("/inbound/{id}", n.handleInbound)
		r.Get("/certificates/{country}/{number}", n.handleCertStatus)
		if n.opt.LocalRoutes != nil {
			n.opt.LocalRoutes(root, r)
		}
	})
	if n.opt.LocalToken == "" {
		return r
	}
	return n.requireLocalToken(r)
}

// requireLocalToken lets through requests that carry the local API token
// (compared in constant time, as SHA-256 digests so that the length does
// not show either) and the health probes; others get 401. The token is
// never logged.
func (n *Node) requireLocalToken(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(n.opt.LocalToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		for _, p := range n.opt.SelfAuthPrefixes {
			if strings.HasPrefix(r.URL.Path, p) && !strings.Contains(r.URL.Path, "..") {
				next.ServeHTTP(w, r) // authenticates each request itself
				return
			}
		}
		auth := r.Header.Get("Authorization")
		const prefix = "bearer "
		ok := false
		if len(auth) > len(prefix) && strings.EqualFold(auth[:len(prefix)], prefix) {
			got := sha256.Sum256([]byte(strings.TrimSpace(auth[len(prefix):])))
			ok = subtle.ConstantTimeCompare(got[:], want[:]) == 1
		}
		if !ok {
			n.log.Warn("local API request refused: missing or wrong bearer token", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="ecogate-local"`)
			writeProblem(w, http.StatusUnauthorized, CodeUnauthorized, "the local API needs the node's local token: send Authorization: Bearer TOKEN (local.token or local.tokenFile in the node's configuration)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (n *Node) handleReady(w http.ResponseWriter, r *http.Request) {
	var problems []string
	if _, err := n.opt.Outbox.CountByState(r.Context()); err != nil {
		problems = append(problems, "store: "+err.Error())
	}
	if len(n.opt.Partners.All()) == 0 {
		problems = append(problems, "partners: the registry is empty")
	}
	if !n.running.Load() {
		problems = append(problems, "delivery: the delivery loop is not running")
	}
	if len(problems) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "problems": problems})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (n *Node) handleSubmit(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, n.maxDoc)
	if errors.Is(err, errTooLarge) {
		writeProblem(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the document is larger than %d bytes", n.maxDoc))
		return
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, CodeInvalid, err.Error())
		return
	}
	var to []string
	for _, v := range r.URL.Query()["to"] {
		to = append(to, strings.Split(v, ",")...)
	}
	res, err := n.Submit(r.Context(), body, to)
	var se *SubmitError
	switch {
	case errors.As(err, &se):
		writeJSON(w, se.Status, map[string]any{"status": se.Status, "code": se.Code, "error": se.Msg, "findings": se.Findings, "verification": se.Verification})
	case err != nil:
		n.log.Error("submit failed", "err", err)
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusAccepted, res)
	}
}

func outTracking(r *store.OutRecord) Tracking {
	return Tracking{MessageID: r.ID, TrackingInfo: OutcomeOf(r.State), To: r.Partner, CertificateNumber: r.CertNumber,
		Version: r.Version, Kind: r.Kind, State: r.State, Attempts: r.Attempts, NextTry: r.NextTry, LastErr: r.LastErr, Receipt: string(r.Receipt)}
}

func (n *Node) handleListOutbound(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 1000
	}
	recs, err := n.opt.Outbox.List(r.Context(), store.Filter{State: store.State(q.Get("state")), Partner: strings.ToUpper(q.Get("partner")), Limit: limit})
	if err != nil {
		writeProblem(w, http.StatusBadRequest, CodeInvalid, err.Error())
		return
	}
	out := []Tracking{}
	for i := range recs {
		t := outTracking(&recs[i])
		t.Receipt = ""
		out = append(out, t)
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handleOutbound(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	rec, err := n.opt.Outbox.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, Tracking{MessageID: id, TrackingInfo: EnvelopeNotExists})
		return
	}
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, outTracking(rec))
}

func (n *Node) handleRetry(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := n.opt.Outbox.Retry(r.Context(), id); err != nil {
		status := http.StatusServiceUnavailable
		switch {
		case errors.Is(err, store.ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, store.ErrState):
			status = http.StatusConflict
		}
		writeProblem(w, status, CodeInvalid, err.Error())
		return
	}
	n.audit(r.Context(), "local", "retry", id, nil)
	n.Kick()
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "state": string(store.StateQueued)})
}

func (n *Node) handleListInbound(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 1000
	}
	outcome := store.State(q.Get("outcome"))
	if outcome == "" {
		outcome = store.StateDelivered
	}
	recs, err := n.opt.Inbox.List(r.Context(), outcome, limit)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, CodeInvalid, err.Error())
		return
	}
	out := []Tracking{}
	for i := range recs {
		t := inTracking(&recs[i])
		t.Receipt = ""
		out = append(out, t)
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handleInbound(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	rec, err := n.opt.Inbox.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, Tracking{MessageID: id, TrackingInfo: EnvelopeNotExists})
		return
	}
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tracking": inTracking(rec), "content": rec.Content})
}

func (n *Node) handleCertStatus(w http.ResponseWriter, r *http.Request) {
	sts, err := n.opt.Inbox.CertStatuses(r.Context(), strings.ToUpper(chi.URLParam(r, "country")), chi.URLParam(r, "number"))
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	if len(sts) == 0 {
		writeProblem(w, http.StatusNotFound, CodeNotFound, "no certificate "+chi.URLParam(r, "number")+" received from "+chi.URLParam(r, "country"))
		return
	}
	writeJSON(w, http.StatusOK, sts)
}
