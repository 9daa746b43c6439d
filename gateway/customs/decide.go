package customs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// KindDecision is the outbox and inbox kind of a customs decision message
// (M6, an enveloped-signed schema.Outcome).
const KindDecision = "decision"

// ItemDecisionRequest is the decision on one goods item.
type ItemDecisionRequest struct {
	SequenceNumber  int    `json:"sequenceNumber"`
	PreferenceGiven *bool  `json:"preferenceGiven"`
	Reason          string `json:"reason,omitempty"`
	// UtilisedQuantity is required when preference is given; in any unit
	// that converts to the item's.
	UtilisedQuantity *Quantity `json:"utilisedQuantity,omitempty"`
}

// DecisionRequest is the body of POST /customs/v1/decisions.
type DecisionRequest struct {
	ExportCountry     string                `json:"exportCountry"`
	CertificateNumber string                `json:"certificateNumber"`
	DeclarationRef    string                `json:"declarationRef"`
	Items             []ItemDecisionRequest `json:"items"`
}

// DecisionItemResult is what a recorded decision did to one item.
type DecisionItemResult struct {
	SequenceNumber  int       `json:"sequenceNumber"`
	PreferenceGiven bool      `json:"preferenceGiven"`
	Reason          string    `json:"reason,omitempty"`
	Utilised        *Quantity `json:"utilised,omitempty"`
	Remaining       *Quantity `json:"remaining"`
}

// DecisionResult is the answer of POST /customs/v1/decisions.
type DecisionResult struct {
	ExportCountry     string               `json:"exportCountry"`
	CertificateNumber string               `json:"certificateNumber"`
	DeclarationRef    string               `json:"declarationRef"`
	Decided           time.Time            `json:"decided"`
	Items             []DecisionItemResult `json:"items"`
	// MessageID is the outbound message carrying the decision to the
	// issuer ("" when this node has no signer and did not send it).
	MessageID string `json:"messageId,omitempty"`
	// Repeated is true when the same decision was recorded before.
	Repeated bool `json:"repeated,omitempty"`
}

// handleDecision is POST /customs/v1/decisions.
func (s *Service) handleDecision(w http.ResponseWriter, r *http.Request) {
	var req DecisionRequest
	if fe := s.decodeBody(w, r, &req); fe != nil {
		writeFieldError(w, fe)
		return
	}
	res, status, err := s.Decide(r.Context(), ClientOf(r.Context()), &req)
	if err != nil {
		var fe *fieldError
		var qe *store.QuantityError
		switch {
		case errors.As(err, &fe):
			s.decisions.WithLabelValues("refused").Inc()
			writeFieldError(w, fe)
		case errors.As(err, &qe):
			s.decisions.WithLabelValues("quantity_exceeded").Inc()
			writeJSON(w, http.StatusConflict, problem{Error: "quantity_exceeded",
				Message: "the utilised quantity is more than what remains of some items; nothing was recorded", Items: res})
		case status != 0 && status < 500:
			s.decisions.WithLabelValues("refused").Inc()
			writeProblem(w, status, http.StatusText(status), err.Error())
		case status != 0:
			s.decisions.WithLabelValues("error").Inc()
			writeProblem(w, status, http.StatusText(status), err.Error())
		default:
			s.decisions.WithLabelValues("error").Inc()
			s.log.Error("customs decision failed", "certificate", req.ExportCountry+"/"+req.CertificateNumber, "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the decision could not be recorded; nothing was recorded, send it again")
		}
		return
	}
	writeJSON(w, status, res)
}

// Decide validates and records a decision, and queues it to the issuer. On
// a *store.QuantityError the first result is the list of short items
// ([]DecisionItemResult, with what remains).
func (s *Service) Decide(ctx context.Context, client string, req *DecisionRequest) (any, int, error) {
	req.ExportCountry = strings.ToUpper(strings.TrimSpace(req.ExportCountry))
	req.CertificateNumber = strings.TrimSpace(req.CertificateNumber)
	req.DeclarationRef = strings.TrimSpace(req.DeclarationRef)
	switch {
	case len(req.ExportCountry) != 2 || !isUpperAlpha(req.ExportCountry):
		return nil, 0, badField("exportCountry", "must be an ISO 3166-1 alpha-2 code, e.g. VN")
	case req.CertificateNumber == "" || len(req.CertificateNumber) > 64 || strings.ContainsAny(req.CertificateNumber, "\x00/"):
		return nil, 0, badField("certificateNumber", "must have 1 to 64 characters and no '/'")
	case req.DeclarationRef == "" || len(req.DeclarationRef) > 128 || strings.ContainsRune(req.DeclarationRef, 0):
		return nil, 0, badField("declarationRef", "is required (1 to 128 characters): the customs declaration this decision is about")
	case len(req.Items) == 0:
		return nil, 0, badField("items", "at least one item decision is required")
	}
	f, err := s.lookup(ctx, req.ExportCountry, req.CertificateNumber, "", nil)
	if err != nil {
		return nil, http.StatusServiceUnavailable, fmt.Errorf("the certificate cannot be read now; nothing was recorded: %w", err)
	}
	if f == nil {
		return nil, http.StatusNotFound, fmt.Errorf("certificate %s from %s is not known here; check it first", req.CertificateNumber, req.ExportCountry)
	}
	v := f.view
	now := s.now().UTC()
	d := store.Decision{Country: v.Country, Number: v.Number, Version: v.Version, DeclarationRef: req.DeclarationRef, ClientID: client, Decided: now}
	out := &schema.Outcome{CertificateNumber: v.Number, ExportCountry: v.Country, ImportCountry: s.opt.Country,
		DecisionDateTime: schema.DateTime{Time: now}, DeclarationRef: req.DeclarationRef}
	seen := map[int]bool{}
	anyGiven := false
	for i, it := range req.Items {
		fld := fmt.Sprintf("items[%d]", i)
		ci := v.item(it.SequenceNumber)
		switch {
		case ci == nil:
			return nil, 0, badField(fld+".sequenceNumber", "the certificate has no goods item %d", it.SequenceNumber)
		case seen[it.SequenceNumber]:
			return nil, 0, badField(fld+".sequenceNumber", "item %d is decided twice", it.SequenceNumber)
		case it.PreferenceGiven == nil:
			return nil, 0, badField(fld+".preferenceGiven", "is required (true or false)")
		case !*it.PreferenceGiven && strings.TrimSpace(it.Reason) == "":
			return nil, 0, badField(fld+".reason", "is required when preference is not given")
		case *it.PreferenceGiven && it.UtilisedQuantity == nil:
			return nil, 0, badField(fld+".utilisedQuantity", "is required when preference is given")
		}
		seen[it.SequenceNumber] = true
		di := store.DecisionItem{Seq: ci.Seq, PreferenceGiven: *it.PreferenceGiven, Reason: strings.TrimSpace(it.Reason), Limit: ci.Qty}
		od := schema.ItemDecision{SequenceNumber: ci.Seq, PreferenceGiven: *it.PreferenceGiven, Reason: di.Reason}
		if q := it.UtilisedQuantity; q != nil {
			u, err := unitBase(q.UnitCode, s.opt.CodeLists)
			if err != nil {
				return nil, 0, badField(fld+".utilisedQuantity.unitCode", "%v", err)
			}
			if u.base != ci.Base {
				return nil, 0, badField(fld+".utilisedQuantity.unitCode", "%v", convertError(q.UnitCode, ci.Unit, u, mustUnit(ci.Unit, s.opt.CodeLists)))
			}
			n, err := toNano(q.Value, u.factor)
			if err != nil {
				return nil, 0, badField(fld+".utilisedQuantity.value", "%v", err)
			}
			di.Use = n
			di.Value, di.Unit = fromNano(n, mustUnit(ci.Unit, s.opt.CodeLists).factor), ci.Unit
			od.UtilisedQuantity = &schema.Measure{Value: schema.Decimal(di.Value), UnitCode: ci.Unit}
		}
		anyGiven = anyGiven || di.PreferenceGiven
		d.Items = append(d.Items, di)
		out.Items = append(out.Items, od)
	}
	if anyGiven {
		switch {
		case !v.Valid:
			return nil, http.StatusConflict, errors.New("preference cannot be given: the certificate did not verify (UNTRUSTED)")
		case f.status == string(store.CertWithdrawn):
			return nil, http.StatusConflict, errors.New("preference cannot be given: the issuer withdrew the certificate")
		case f.status == string(store.CertReplaced):
			return nil, http.StatusConflict, fmt.Errorf("preference cannot be given: the certificate was replaced by %s", f.replacedBy)
		case v.ValidUntil != "" && now.Format(time.DateOnly) > v.ValidUntil:
			return nil, http.StatusConflict, fmt.Errorf("preference cannot be given: the certificate expired on %s", v.ValidUntil)
		}
	}
	d.Fingerprint = fingerprint(&d)
	var msg *store.OutMessage
	if s.opt.Signer != nil {
		doc, err := schema.EncodeOutcomeXML(out)
		if err != nil {
			return nil, 0, fmt.Errorf("encode decision: %w", err)
		}
		signed, err := s.opt.Signer.Sign(ctx, doc)
		if err != nil {
			return nil, 0, fmt.Errorf("sign decision: %w", err)
		}
		pull := s.opt.PullPartner != nil && s.opt.PullPartner(v.Country)
		msg = &store.OutMessage{ID: s.opt.NewID(now), Partner: v.Country, CertNumber: v.Number, Version: v.Version,
			Kind: KindDecision, Content: signed, Created: now, Pull: pull}
	}
	stored, err := s.opt.Store.Decide(ctx, d, msg)
	status := http.StatusCreated
	switch {
	case errors.Is(err, store.ErrDuplicate):
		status = http.StatusOK
	case errors.Is(err, store.ErrConflict):
		return nil, http.StatusConflict, fmt.Errorf("declaration %s already has a different decision on this certificate; a decision is final", req.DeclarationRef)
	case err != nil:
		var qe *store.QuantityError
		if errors.As(err, &qe) {
			var short []DecisionItemResult
			for _, si := range qe.Items {
				ci := v.item(si.Seq)
				fct := mustUnit(ci.Unit, s.opt.CodeLists).factor
				short = append(short, DecisionItemResult{SequenceNumber: si.Seq, PreferenceGiven: true,
					Utilised: &Quantity{fromNano(si.Requested, fct), ci.Unit}, Remaining: &Quantity{fromNano(si.Remaining, fct), ci.Unit}})
			}
			return short, http.StatusConflict, err
		}
		return nil, 0, err
	}
	s.log.Info("customs decision recorded", "certificate", v.Country+"/"+v.Number, "declaration", req.DeclarationRef,
		"client", client, "messageId", stored.MessageID, "repeated", status == http.StatusOK)
	if status == http.StatusOK {
		s.decisions.WithLabelValues("repeated").Inc()
	} else {
		s.decisions.WithLabelValues("recorded").Inc()
		details := map[string]string{"declaration": req.DeclarationRef, "messageId": stored.MessageID}
		for _, it := range stored.Items {
			k := "item" + fmt.Sprint(it.Seq)
			if it.PreferenceGiven {
				details[k] = "given " + it.Value + " " + it.Unit
			} else {
				details[k] = "denied: " + it.Reason
			}
		}
		s.audit(ctx, "customs:"+client, "customs.decision", v.Country+"/"+v.Number, details)
	}
	return decisionResult(stored, v, s.opt.CodeLists, status == http.StatusOK), status, nil
}

func decisionResult(d *store.Decision, v *View, cl *schema.CodeLists, repeated bool) *DecisionResult {
	res := &DecisionResult{ExportCountry: d.Country, CertificateNumber: d.Number, DeclarationRef: d.DeclarationRef,
		Decided: d.Decided, MessageID: d.MessageID, Repeated: repeated}
	for _, it := range d.Items {
		ci := v.item(it.Seq)
		unit := it.Unit
		fct := int64(nano)
		if ci != nil {
			unit, fct = ci.Unit, mustUnit(ci.Unit, cl).factor
		}
		r := DecisionItemResult{SequenceNumber: it.Seq, PreferenceGiven: it.PreferenceGiven, Reason: it.Reason}
		if it.Use > 0 || it.PreferenceGiven {
			r.Utilised = &Quantity{fromNano(it.Use, fct), unit}
		}
		if rem, ok := d.Remaining[it.Seq]; ok {
			r.Remaining = &Quantity{fromNano(rem, fct), unit}
		}
		res.Items = append(res.Items, r)
	}
	return res
}

// fingerprint identifies a decision's content for idempotent repeats.
func fingerprint(d *store.Decision) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", d.Country, d.Number, d.DeclarationRef)
	for _, it := range d.Items {
		fmt.Fprintf(h, "%d\x00%t\x00%s\x00%d\x00", it.Seq, it.PreferenceGiven, it.Reason, it.Use)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// handleCertificate is GET /customs/v1/certificates/{country}/{number}:
// the stored certificate (its check view, status, utilisation, decisions,
// verification report, and the e-CO itself as JSON), or with
// ?format=xml the exact signed bytes as received.
func (s *Service) handleCertificate(w http.ResponseWriter, r *http.Request) {
	country, number := strings.ToUpper(chi.URLParam(r, "country")), chi.URLParam(r, "number")
	if r.URL.Query().Get("format") == "xml" || strings.Contains(r.Header.Get("Accept"), "application/xml") {
		msg, err := s.latestMessage(r.Context(), country, number)
		if err != nil || msg == nil {
			writeProblem(w, http.StatusNotFound, "not_found", "no stored e-CO "+number+" from "+country)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(msg.Content)
		return
	}
	f, err := s.lookup(r.Context(), country, number, "", nil)
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	if f == nil {
		writeProblem(w, http.StatusNotFound, "not_found", "no certificate "+number+" from "+country+" is known here or to its issuer")
		return
	}
	v := f.view
	type itemOut struct {
		SequenceNumber int      `json:"sequenceNumber"`
		HSCode         string   `json:"hsCode"`
		Description    string   `json:"description,omitempty"`
		Certified      Quantity `json:"certified"`
		Utilised       Quantity `json:"utilised"`
		Remaining      Quantity `json:"remaining"`
	}
	out := struct {
		Certificate  CertSummary         `json:"certificate"`
		Items        []itemOut           `json:"items"`
		Verification *VerificationInfo   `json:"verification"`
		Decisions    []store.Decision    `json:"decisions,omitempty"`
		Document     *schema.Certificate `json:"document,omitempty"`
	}{
		Certificate: CertSummary{ExportCountry: v.Country, Number: v.Number, Version: v.Version, IssueDate: v.IssueDate,
			ValidUntil: v.ValidUntil, Agreement: v.Agreement, Exporter: v.Exporter, Importer: v.Importer, Issuer: v.Issuer,
			Status: f.status, ReplacedBy: f.replacedBy},
		Verification: &VerificationInfo{Source: v.Source, Valid: v.Valid, Report: v.Report},
	}
	if f.frag != nil {
		out.Verification.raw = f.frag.verification
	}
	for _, it := range v.Items {
		fct := mustUnit(it.Unit, s.opt.CodeLists).factor
		out.Items = append(out.Items, itemOut{SequenceNumber: it.Seq, HSCode: it.HS, Description: it.Description,
			Certified: Quantity{it.Value, it.Unit}, Utilised: Quantity{fromNano(f.used[it.Seq], fct), it.Unit},
			Remaining: Quantity{fromNano(max(it.Qty-f.used[it.Seq], 0), fct), it.Unit}})
	}
	if out.Decisions, err = s.opt.Store.Decisions(r.Context(), country, number); err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	}
	if msg, err := s.latestMessage(r.Context(), country, number); err == nil && msg != nil {
		if c, _ := schema.DecodeXML(msg.Content, schema.DecodeOptions{}); c != nil {
			out.Document = c
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// latestMessage returns the last accepted e-CO message about a certificate
// with its content, or nil.
func (s *Service) latestMessage(ctx context.Context, country, number string) (*store.InRecord, error) {
	if s.opt.Inbox == nil {
		return nil, nil
	}
	recs, err := s.opt.Inbox.ByCertificate(ctx, country, number)
	if err != nil {
		return nil, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Kind != KindDecision && (r.Outcome == store.StateDelivered || r.Outcome == store.StateDeliveredWithWarnings) {
			return s.opt.Inbox.Get(ctx, r.ID)
		}
	}
	return nil, nil
}

// DecisionSink records decisions received on certificates this node issued
// (satisfied by *store.Issued).
type DecisionSink interface {
	Get(ctx context.Context, number string) (*store.IssuedCert, error)
	AddDecision(ctx context.Context, d store.ReceivedDecision) (dup bool, err error)
	Decisions(ctx context.Context, number string) ([]store.ReceivedDecision, error)
}

// ErrNotOurs means a decision is about a certificate this node did not
// issue.
var ErrNotOurs = errors.New("the decision is about a certificate this node did not issue")

// ApplyDecision is the issuing side of M6. Hook: the receive pipeline,
// for an inbound message of kind "decision" (an enveloped-signed
// ImportOutcome) from partner from, instead of the e-CO evaluation. It
// verifies the signature against the partner's document-signing trust
// (certs.Verifier: profile, chain, validity, CRL), reads the outcome only
// from the verified element, checks that it comes from the importing
// country and is about a certificate this node issued (ErrNotOurs
// otherwise), and records it (a repeated message id is a no-op: dup). An
// invalid signature returns the report and an error; the pipeline answers
// with a failed receipt.
func ApplyDecision(ctx context.Context, sink DecisionSink, trust certs.TrustStore, from, messageID string, content []byte, now time.Time) (*schema.Outcome, certs.Report, bool, error) {
	ver := &certs.Verifier{Trust: trust, Now: func() time.Time { return now }}
	res, err := ver.Verify(content)
	if err != nil {
		return nil, nil, false, fmt.Errorf("verify decision %s from %s: %w", messageID, from, err)
	}
	if !res.Valid || res.Element == nil {
		first := res.Report.First()
		return nil, res.Report, false, fmt.Errorf("decision %s from %s: signature check %s failed: %s", messageID, from, first.Check, first.Reason)
	}
	o, fs, err := outcomeOf(res.Element)
	res.Release() // the outcome is decoded: the tree is not read again
	if err != nil {
		return nil, res.Report, false, err
	}
	if o == nil {
		return nil, res.Report, false, fmt.Errorf("decision %s from %s is not a readable ImportOutcome: %v", messageID, from, fs)
	}
	if !strings.EqualFold(o.ImportCountry, from) {
		return o, res.Report, false, fmt.Errorf("decision %s: import country %s is not the sending partner %s", messageID, o.ImportCountry, from)
	}
	if _, err := sink.Get(ctx, o.CertificateNumber); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return o, res.Report, false, fmt.Errorf("decision %s on %s: %w", messageID, o.CertificateNumber, ErrNotOurs)
		}
		return o, res.Report, false, err
	}
	j, err := json.Marshal(o)
	if err != nil {
		return o, res.Report, false, err
	}
	h := sha256.Sum256(content)
	dup, err := sink.AddDecision(ctx, store.ReceivedDecision{MessageID: messageID, From: strings.ToUpper(from), Number: o.CertificateNumber,
		Received: now, Outcome: j, ContentSHA256: hex.EncodeToString(h[:])})
	return o, res.Report, dup, err
}

// IssuedView is a certificate this node issued with the decisions
// importing customs sent about it.
type IssuedView struct {
	Certificate *store.IssuedCert        `json:"certificate"`
	Decisions   []store.ReceivedDecision `json:"decisions"`
	// QRLink is the public verification link printed as QR code on the
	// certificate (IssuedRoutesWithLinks only).
	QRLink string `json:"qrLink,omitempty"`
}

// IssuedRoutes serves GET /issued/{number}: a certificate this node issued
// (status, QR token, core data) with the customs decisions received about
// it. Mount it in the local API (e.g. under /api/v1).
func IssuedRoutes(sink DecisionSink) http.Handler { return IssuedRoutesWithLinks(sink, nil) }

// IssuedRoutesWithLinks is IssuedRoutes whose answers also carry the QR
// link of the public verification page, qrLink(token) (for example
// (*verify.Service).QRLink); nil leaves it out.
func IssuedRoutesWithLinks(sink DecisionSink, qrLink func(token string) string) http.Handler {
	r := chi.NewRouter()
	r.Get("/issued/{number}", func(w http.ResponseWriter, r *http.Request) {
		n := chi.URLParam(r, "number")
		c, err := sink.Get(r.Context(), n)
		if errors.Is(err, store.ErrNotFound) {
			writeProblem(w, http.StatusNotFound, "not_found", "this node issued no certificate "+n)
			return
		} else if err != nil {
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		ds, err := sink.Decisions(r.Context(), n)
		if err != nil {
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		if ds == nil {
			ds = []store.ReceivedDecision{}
		}
		v := IssuedView{Certificate: c, Decisions: ds}
		if qrLink != nil && c.Token != "" {
			v.QRLink = qrLink(c.Token)
		}
		writeJSON(w, http.StatusOK, v)
	})
	return r
}

// outcomeOf decodes an ImportOutcome from a verified element (the
// signature already removed by the verifier: schema.DecodeOutcomeXML
// tolerates an enveloped signature only on CertificateOfOrigin).
func outcomeOf(el *etree.Element) (*schema.Outcome, schema.Findings, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, nil, err
	}
	o, fs := schema.DecodeOutcomeXML(b, schema.DecodeOptions{})
	return o, fs, nil
}
