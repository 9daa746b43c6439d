package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/internal/strictjson"
	"github.com/ecogate/ecogate/openapi"
	"github.com/ecogate/ecogate/store"
)

type ctxKey int

const partnerKey ctxKey = 1

// PartnerHandler returns the partner API (mount it on the mutual-TLS
// listener; TLSConfig gives the server configuration):
//
//	POST /eco/v1/envelopes             deliver a message; answers a signed receipt (application/jose)
//	GET  /eco/v1/envelopes/{id}        tracking of a message the caller sent us
//	GET  /eco/v1/inbox                 pull mode: envelopes waiting for the caller
//	POST /eco/v1/inbox/{id}/ack        pull mode: the caller's signed receipt for one of them
//	POST /eco/v1/validate              check a signed document without storing it
//	GET  /eco/v1/profile               this node's signed profile (application/jose)
//	GET  /eco/v1/openapi.json          the partner API's OpenAPI 3.1 document (package openapi)
//
// Options.PartnerRoutes adds more (a node built by Config.Open: POST
// /eco/v1/verification-queries). Every route needs a verified client certificate that maps to a
// registered partner; otherwise 403.
func (n *Node) PartnerHandler() http.Handler {
	r := chi.NewRouter()
	r.Route("/eco/v1", func(r chi.Router) {
		r.Use(n.requirePartner)
		r.Post("/envelopes", n.handleEnvelope)
		r.Get("/envelopes/{id}", n.handleTrack)
		r.Get("/inbox", n.handleInbox)
		r.Post("/inbox/{id}/ack", n.handleAck)
		r.Post("/validate", n.handleValidate)
		r.Get("/profile", n.handleProfile)
		r.Method(http.MethodGet, "/openapi.json", openapi.Handler(openapi.Partner))
		if n.opt.PartnerRoutes != nil {
			n.opt.PartnerRoutes(r)
		}
	})
	return r
}

// requirePartner maps the verified client certificate to a partner.
func (n *Node) requirePartner(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			n.refuse(r, "", CodeNoClientCert, "no verified client certificate")
			writeProblem(w, http.StatusForbidden, CodeNoClientCert, "a client certificate issued by a registered partner's TLS CA is required")
			return
		}
		var p *Partner
		var why error
		for _, ch := range r.TLS.VerifiedChains {
			var err error
			if p, err = matchClientCert(n.opt.Partners, ch); p != nil {
				break
			}
			if why == nil {
				why = err
			}
		}
		if p == nil {
			leaf := r.TLS.VerifiedChains[0][0]
			code, msg := refusalOf(why)
			detail := "client certificate " + leaf.Subject.String() + " maps to no registered partner"
			if code != CodeUnknownPartner {
				detail = why.Error()
			}
			n.refuse(r, "", code, detail)
			writeProblem(w, http.StatusForbidden, code, msg)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), partnerKey, p)))
	})
}

func partnerOf(r *http.Request) *Partner { p, _ := r.Context().Value(partnerKey).(*Partner); return p }

// PartnerOf returns the partner whose client certificate made a request to
// the partner API (nil outside it), for routes mounted with
// Options.PartnerRoutes.
func PartnerOf(r *http.Request) *Partner { return partnerOf(r) }

// refuse logs and audits a refused request.
func (n *Node) refuse(r *http.Request, partner, code, detail string) {
	label := partner
	if label == "" {
		label = "unknown"
	}
	n.m.receive.WithLabelValues(label, "refused-"+code).Inc()
	n.log.Warn("partner request refused", "code", code, "partner", partner, "remote", r.RemoteAddr, "path", r.URL.Path, "detail", detail)
	n.audit(r.Context(), "partner:"+label, "refuse", r.Method+" "+r.URL.Path, map[string]string{"code": code, "detail": detail, "remote": r.RemoteAddr})
}

func writeProblem(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Status: status, Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJOSE(w http.ResponseWriter, status int, token []byte) {
	w.Header().Set("Content-Type", "application/jose")
	w.WriteHeader(status)
	_, _ = w.Write(token)
}

// readBody reads a size-capped body; a body over limit gives errTooLarge.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errTooLarge
	}
	return b, err
}

var errTooLarge = errors.New("body too large")

func (n *Node) handleEnvelope(w http.ResponseWriter, r *http.Request) {
	p := partnerOf(r)
	start := time.Now()
	body, err := readBody(w, r, n.maxEnvelope)
	if errors.Is(err, errTooLarge) {
		n.refuse(r, p.Country, CodeTooLarge, fmt.Sprintf("envelope over %d bytes", n.maxEnvelope))
		writeProblem(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the envelope is larger than %d bytes (documents up to %d bytes)", n.maxEnvelope, n.maxDoc))
		return
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, CodeBadEnvelope, "read body: "+err.Error())
		return
	}
	var env Envelope
	if err := strictjson.Unmarshal(body, &env); err != nil {
		n.refuse(r, p.Country, CodeBadEnvelope, err.Error())
		writeProblem(w, http.StatusBadRequest, CodeBadEnvelope, "the envelope is refused (strict JSON): "+err.Error())
		return
	}
	if !strings.EqualFold(env.From, p.Country) {
		n.refuse(r, p.Country, CodeSenderMismatch, fmt.Sprintf("envelope from %q but client certificate of %s", env.From, p.Country))
		writeProblem(w, http.StatusForbidden, CodeSenderMismatch, fmt.Sprintf("the envelope says it is from %q but the client certificate belongs to %s", env.From, p.Country))
		return
	}
	if int64(len(env.Content)) > n.maxDoc {
		n.refuse(r, p.Country, CodeTooLarge, fmt.Sprintf("document of %d bytes", len(env.Content)))
		writeProblem(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the document is larger than %d bytes", n.maxDoc))
		return
	}
	res, err := n.Receive(r.Context(), p, &env)
	n.m.receiveDur.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		writeJOSE(w, http.StatusOK, res.Token)
	case errors.Is(err, errBadEnvelope):
		n.m.receive.WithLabelValues(p.Country, "bad-envelope").Inc()
		writeProblem(w, http.StatusBadRequest, CodeBadEnvelope, err.Error())
	case errors.Is(err, store.ErrConflict):
		n.m.receive.WithLabelValues(p.Country, "conflict").Inc()
		n.refuse(r, p.Country, CodeConflict, err.Error())
		writeProblem(w, http.StatusConflict, CodeConflict, "message id "+env.MessageID+" (or its certificate number and version) was already received with other content; send new content under a new message id")
	default:
		n.m.receive.WithLabelValues(p.Country, "error").Inc()
		n.log.Error("receive failed; no receipt sent, the sender will retry", "partner", p.Country, "id", env.MessageID, "err", err)
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, "the message could not be stored now; retry later with the same message id")
	}
}

func (n *Node) handleTrack(w http.ResponseWriter, r *http.Request) {
	p := partnerOf(r)
	id := chi.URLParam(r, "id")
	rec, err := n.opt.Inbox.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.From != p.Country) {
		writeJSON(w, http.StatusNotFound, Tracking{MessageID: id, TrackingInfo: EnvelopeNotExists})
		return
	}
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, "tracking unavailable: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, inTracking(rec))
}

func inTracking(rec *store.InRecord) Tracking {
	t := Tracking{MessageID: rec.ID, From: rec.From, CertificateNumber: rec.CertNumber, Version: rec.Version,
		Kind: rec.Kind, Received: rec.Received, Receipt: string(rec.Receipt), TrackingInfo: PendingDelivery}
	if rec.Outcome != "" {
		t.TrackingInfo = OutcomeOf(rec.Outcome)
	}
	return t
}

// handleInbox lists the pull-mode messages waiting for the caller.
func (n *Node) handleInbox(w http.ResponseWriter, r *http.Request) {
	p := partnerOf(r)
	recs, err := n.opt.Outbox.Waiting(r.Context(), p.Country, 100)
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	out := InboxList{Envelopes: []Envelope{}}
	for _, rec := range recs {
		out.Envelopes = append(out.Envelopes, n.envelopeOf(&rec))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleAck takes a pulling partner's signed receipt for a message.
func (n *Node) handleAck(w http.ResponseWriter, r *http.Request) {
	p := partnerOf(r)
	id := chi.URLParam(r, "id")
	body, err := readBody(w, r, 1<<20)
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, CodeTooLarge, "the receipt is larger than 1 MiB")
		return
	}
	token := bytes.TrimSpace(body)
	rec, err := n.opt.Outbox.Get(r.Context(), id)
	if err != nil || rec.Partner != p.Country {
		writeProblem(w, http.StatusNotFound, CodeNotFound, "no message "+id+" for "+p.Country)
		return
	}
	rc, err := n.checkReceipt(p, rec, token)
	if err != nil {
		n.refuse(r, p.Country, CodeInvalid, "ack of "+id+": "+err.Error())
		writeProblem(w, http.StatusUnprocessableEntity, CodeInvalid, "the receipt does not verify: "+err.Error())
		return
	}
	if err := n.opt.Outbox.Ack(r.Context(), p.Country, id, rc.Outcome.State(), token); err != nil {
		if errors.Is(err, store.ErrState) {
			writeProblem(w, http.StatusConflict, CodeConflict, err.Error())
			return
		}
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	n.m.deliveries.WithLabelValues(p.Country, string(rc.Outcome)).Inc()
	n.audit(r.Context(), "partner:"+p.Country, "receipt", id, map[string]string{"outcome": string(rc.Outcome), "mode": "pull", "certificate": rec.CertNumber})
	writeJSON(w, http.StatusOK, Tracking{MessageID: id, TrackingInfo: rc.Outcome, To: p.Country})
}

func (n *Node) handleValidate(w http.ResponseWriter, r *http.Request) {
	p := partnerOf(r)
	body, err := readBody(w, r, n.maxDoc)
	if errors.Is(err, errTooLarge) {
		writeProblem(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the document is larger than %d bytes", n.maxDoc))
		return
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, CodeBadEnvelope, err.Error())
		return
	}
	// A JSON envelope is accepted too (decoded as strictly as on
	// /envelopes): validate its content.
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		var env Envelope
		if err := strictjson.Unmarshal(t, &env); err != nil {
			n.refuse(r, p.Country, CodeBadEnvelope, err.Error())
			writeProblem(w, http.StatusBadRequest, CodeBadEnvelope, "the envelope is refused (strict JSON): "+err.Error())
			return
		}
		if len(env.Content) == 0 {
			writeProblem(w, http.StatusBadRequest, CodeBadEnvelope, "content: missing: put the signed XML (base64) in content, or post the XML itself")
			return
		}
		body = env.Content
	}
	ev, err := n.evaluate(r.Context(), p, body)
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	rep := ValidationReport{Outcome: ev.outcome, Verification: ev.report, Findings: ev.findings, Error: ev.errText}
	if ev.cert != nil {
		rep.CertificateNumber, rep.Version = ev.cert.Header.ID, ev.cert.Header.Version
	}
	writeJSON(w, http.StatusOK, rep)
}

func (n *Node) handleProfile(w http.ResponseWriter, _ *http.Request) {
	tok, err := n.SignedProfile()
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	writeJOSE(w, http.StatusOK, tok)
}

// Profile returns this node's profile.
func (n *Node) Profile() Profile {
	pr := Profile{Country: n.country, Name: n.opt.Name, Endpoint: n.opt.PublicURL, Agreements: n.opt.Agreements, Issued: n.clock.Now().UTC()}
	if n.opt.Signer != nil {
		for _, c := range n.opt.Signer.Chain() {
			pr.SigningCertificates = append(pr.SigningCertificates, c.Raw)
		}
	}
	for _, c := range n.opt.Receipts.Chain() {
		pr.ReceiptCertificates = append(pr.ReceiptCertificates, c.Raw)
	}
	if n.opt.ServerCertificate != nil {
		pr.TLSCertificates = append(pr.TLSCertificates, n.opt.ServerCertificate.Certificate...)
	}
	return pr
}

// SignedProfile returns the profile as a compact JWS signed with the
// receipt key.
func (n *Node) SignedProfile() ([]byte, error) {
	b, err := json.Marshal(n.Profile())
	if err != nil {
		return nil, err
	}
	return n.opt.Receipts.SignJWS(b)
}

// envelopeOf builds the envelope of an outbound record (with Content).
func (n *Node) envelopeOf(rec *store.OutRecord) Envelope {
	return Envelope{MessageID: rec.ID, From: n.country, To: rec.Partner, CertificateNumber: rec.CertNumber,
		Version: rec.Version, Kind: rec.Kind, Created: rec.Created, Content: rec.Content}
}

// decodeJWSPayload returns the payload of a compact JWS without verifying
// it (for display only).
func decodeJWSPayload(tok []byte) ([]byte, error) {
	parts := strings.Split(string(tok), ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}
