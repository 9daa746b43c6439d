package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/internal/strictjson"
	"github.com/ecogate/ecogate/issuance"
)

// Prefix is where Routes is mounted on the local API.
const Prefix = "/api/v1/issuance"

// Options configure a Handler.
type Options struct {
	Service *issuance.Service
	Auth    Authenticator
	// DevGateway, when set, serves the development payment gateway at
	// /dev-gateway/pay.
	DevGateway *DevGateway
	// MaxAttachmentBytes is the attachment cap (the Service's; 5 MiB when 0).
	MaxAttachmentBytes int64
	Logger             *slog.Logger
}

// Handler serves the issuance API.
type Handler struct {
	opt Options
	log *slog.Logger
}

// New returns a Handler.
func New(opt Options) *Handler {
	if opt.MaxAttachmentBytes <= 0 {
		opt.MaxAttachmentBytes = 5 << 20
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{opt: opt, log: log}
}

// maxJSON caps a JSON body.
const maxJSON = 1 << 20

// Routes returns the API, to mount at Prefix. Public (no credential):
// the registrations, the OAuth2 token endpoint, the payment callback (its
// HMAC is its authentication) and the development gateway. Everything
// else needs a credential (Options.Auth).
func (h *Handler) Routes() chi.Router {
	r := chi.NewRouter()
	r.Post("/agencies/register", h.registerAgency)
	r.Post("/officers/register", h.registerOfficer)
	r.Post("/oauth/token", h.token)
	r.Post("/payments/callback", h.paymentCallback)
	h.publicRoutes(r)
	if h.opt.DevGateway != nil {
		r.Get("/dev-gateway/pay", h.opt.DevGateway.page)
		r.Post("/dev-gateway/pay", h.opt.DevGateway.pay)
	}
	r.Group(func(r chi.Router) {
		r.Use(h.authenticate)
		r.Get("/me", h.me)
		r.Post("/tokens", h.issueToken)
		r.Delete("/tokens/current", h.revokeToken)

		r.Post("/exporters", h.registerExporter)
		r.Post("/exporters/{iec}/refresh", h.refreshExporter)
		r.Put("/exporters/{iec}/branches/{branch}", h.branchGSTIN)
		r.Post("/exporters/{iec}/applicants", h.addApplicant)
		r.Delete("/exporters/{iec}/applicants/{id}", h.removeApplicant)
		r.Post("/exporters/{iec}/clients", h.createClient)
		r.Delete("/exporters/{iec}/clients/{id}", h.revokeClient)

		r.Post("/agencies/{agency}/approve", h.approveAgency)
		r.Put("/agencies/{agency}/offices/{office}", h.putOffice)
		r.Post("/officers/{id}/approve", h.approveOfficer)
		r.Put("/officers/{id}/offices", h.mapOfficer)
		r.Post("/officers/{id}/activate", h.setOfficerActive(true))
		r.Post("/officers/{id}/deactivate", h.setOfficerActive(false))

		r.Post("/applications", h.createApplication)
		r.Get("/applications", h.listApplications)
		r.Get("/applications/{id}", h.application)
		r.Put("/applications/{id}/content", h.saveDraft)
		r.Post("/applications/{id}/submit", h.submit)
		r.Get("/applications/{id}/payment", h.paymentRedirect)
		r.Post("/applications/{id}/issue", h.issue)
		for _, act := range []issuance.Action{issuance.ActWithdraw, issuance.ActReview, issuance.ActReturn,
			issuance.ActAnswer, issuance.ActReject, issuance.ActApprove} {
			r.Post("/applications/{id}/"+string(act), h.transition(act))
		}
		r.Get("/applications/{id}/origin", h.origin)
		r.Post("/applications/{id}/attachments", h.attach)
		r.Get("/applications/{id}/attachments", h.attachments)
		r.Get("/applications/{id}/attachments/{sha}", h.attachment)

		r.Get("/wallets/{iec}/{office}", h.wallet)
		r.Post("/wallets/{iec}/{office}/credit", h.topUp)
		h.moreRoutes(r)
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusNotFound, "not-found", "no such issuance endpoint (see the README's Issuance API section)", "")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "method-not-allowed", "this method is not allowed on this endpoint", "")
	})
	return r
}

type actorKey struct{}

func actorOf(r *http.Request) issuance.Actor {
	a, _ := r.Context().Value(actorKey{}).(issuance.Actor)
	return a
}

func (h *Handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := h.opt.Auth.Authenticate(r)
		if err != nil {
			if !errors.Is(err, issuance.ErrUnauthenticated) {
				h.fail(w, r, err)
				return
			}
			h.log.Warn("issuance API request refused: no valid credential", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Bearer realm="ecogate-issuance"`)
			writeProblem(w, http.StatusUnauthorized, "unauthenticated", err.Error(), "")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, a)))
	})
}

// Problem is an error answer.
type Problem struct {
	Status   int                   `json:"status"`
	Code     string                `json:"code"`
	Error    string                `json:"error"`
	Field    string                `json:"field,omitempty"`
	Problems []issuance.FieldError `json:"problems,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, code, msg, field string) {
	writeProblemDoc(w, Problem{Status: status, Code: code, Error: msg, Field: field})
}

func writeProblemDoc(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// fail answers err with its status: 400 (naming the field), 401, 402,
// 403, 404, 409, 501, else 500 (logged, not shown).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *strictjson.Error
	var ve *issuance.ValidationError
	switch {
	case errors.As(err, &se):
		writeProblem(w, http.StatusBadRequest, "invalid", "the body is refused: "+se.Error(), se.Field)
	case errors.As(err, &ve):
		p := Problem{Status: http.StatusBadRequest, Code: "invalid", Error: err.Error(), Problems: ve.Problems}
		if len(ve.Problems) > 0 {
			p.Field = ve.Problems[0].Field
		}
		writeProblemDoc(w, p)
	case errors.Is(err, issuance.ErrUnauthenticated):
		writeProblem(w, http.StatusUnauthorized, "unauthenticated", err.Error(), "")
	case errors.Is(err, issuance.ErrForbidden):
		writeProblem(w, http.StatusForbidden, "forbidden", err.Error(), "")
	case errors.Is(err, issuance.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not-found", err.Error(), "")
	case errors.Is(err, issuance.ErrInsufficientFunds):
		writeProblem(w, http.StatusPaymentRequired, "insufficient-funds", err.Error(), "")
	case errors.Is(err, issuance.ErrState):
		writeProblem(w, http.StatusConflict, "state", err.Error(), "")
	case errors.Is(err, issuance.ErrConflict):
		writeProblem(w, http.StatusConflict, "conflict", err.Error(), "")
	case errors.Is(err, issuance.ErrInvalid):
		writeProblem(w, http.StatusBadRequest, "invalid", err.Error(), "")
	case errors.Is(err, issuance.ErrNotAvailable):
		writeProblem(w, http.StatusNotImplemented, "not-available", err.Error(), "")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the request was cancelled or timed out; try again", "")
	default:
		h.log.Error("issuance API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal", "the node could not complete the request; it is logged", "")
	}
}

// decode reads a JSON body strictly into v; it answers the refusal itself
// and returns false.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSON))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "body-too-large", fmt.Sprintf("the body is larger than %d bytes", maxJSON), "body")
		} else {
			writeProblem(w, http.StatusBadRequest, "invalid", "the body could not be read: "+err.Error(), "body")
		}
		return false
	}
	if err := strictjson.Unmarshal(b, v); err != nil {
		h.fail(w, r, err)
		return false
	}
	return true
}

func (h *Handler) svc() *issuance.Service { return h.opt.Service }

// answer writes v (status 200, or 201 for created) or the error.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

func (h *Handler) registerAgency(w http.ResponseWriter, r *http.Request) {
	var req issuance.AgencyRegistration
	if h.decode(w, r, &req) {
		ag, err := h.svc().RegisterAgency(r.Context(), req)
		h.answer(w, r, http.StatusCreated, ag, err)
	}
}

func (h *Handler) registerOfficer(w http.ResponseWriter, r *http.Request) {
	var req issuance.OfficerRegistration
	if h.decode(w, r, &req) {
		p, err := h.svc().RegisterOfficer(r.Context(), req)
		h.answer(w, r, http.StatusCreated, p, err)
	}
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	a := actorOf(r)
	writeJSON(w, http.StatusOK, map[string]string{"id": a.ID, "role": string(a.Role)})
}

type tokenRequest struct {
	Person string `json:"person"`
	TTL    string `json:"ttl,omitempty"` // Go duration, e.g. "720h"
}

func (h *Handler) issueToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if !h.decode(w, r, &req) {
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "invalid", fmt.Sprintf("ttl %q is not a duration such as 720h", req.TTL), "ttl")
			return
		}
		ttl = d
	}
	tok, c, err := h.svc().IssueToken(r.Context(), actorOf(r), req.Person, ttl)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "person": c.Person, "role": c.Role, "expires": c.Expires})
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	tok, ok := bearer(r)
	if !ok {
		writeProblem(w, http.StatusBadRequest, "invalid", "send the token to revoke as the bearer token", "")
		return
	}
	h.answer(w, r, http.StatusOK, map[string]string{"revoked": "current"}, h.svc().RevokeToken(r.Context(), tok))
}

type registerExporterRequest struct {
	IEC   string             `json:"iec"`
	Admin issuance.NewPerson `json:"admin"`
}

func (h *Handler) registerExporter(w http.ResponseWriter, r *http.Request) {
	var req registerExporterRequest
	if h.decode(w, r, &req) {
		e, err := h.svc().RegisterExporter(r.Context(), actorOf(r), req.IEC, req.Admin)
		h.answer(w, r, http.StatusCreated, e, err)
	}
}

func (h *Handler) refreshExporter(w http.ResponseWriter, r *http.Request) {
	e, err := h.svc().RefreshExporter(r.Context(), actorOf(r), chi.URLParam(r, "iec"))
	h.answer(w, r, http.StatusOK, e, err)
}

func (h *Handler) branchGSTIN(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GSTIN string `json:"gstin"`
	}
	if h.decode(w, r, &req) {
		err := h.svc().SetBranchGSTIN(r.Context(), actorOf(r), chi.URLParam(r, "iec"), chi.URLParam(r, "branch"), req.GSTIN)
		h.answer(w, r, http.StatusOK, map[string]string{"branch": chi.URLParam(r, "branch"), "gstin": req.GSTIN}, err)
	}
}

func (h *Handler) addApplicant(w http.ResponseWriter, r *http.Request) {
	var req issuance.NewPerson
	if h.decode(w, r, &req) {
		p, err := h.svc().AddApplicant(r.Context(), actorOf(r), chi.URLParam(r, "iec"), req)
		h.answer(w, r, http.StatusCreated, p, err)
	}
}

func (h *Handler) removeApplicant(w http.ResponseWriter, r *http.Request) {
	err := h.svc().RemoveApplicant(r.Context(), actorOf(r), chi.URLParam(r, "iec"), chi.URLParam(r, "id"))
	h.answer(w, r, http.StatusOK, map[string]string{"removed": chi.URLParam(r, "id")}, err)
}

func (h *Handler) createClient(w http.ResponseWriter, r *http.Request) {
	var req issuance.NewAPIClient
	if h.decode(w, r, &req) {
		cs, err := h.svc().CreateAPIClient(r.Context(), actorOf(r), chi.URLParam(r, "iec"), req)
		if err == nil {
			w.Header().Set("Cache-Control", "no-store")
		}
		h.answer(w, r, http.StatusCreated, cs, err)
	}
}

func (h *Handler) revokeClient(w http.ResponseWriter, r *http.Request) {
	err := h.svc().RevokeAPIClient(r.Context(), actorOf(r), chi.URLParam(r, "iec"), chi.URLParam(r, "id"))
	h.answer(w, r, http.StatusOK, map[string]string{"revoked": chi.URLParam(r, "id")}, err)
}

func (h *Handler) approveAgency(w http.ResponseWriter, r *http.Request) {
	err := h.svc().ApproveAgency(r.Context(), actorOf(r), chi.URLParam(r, "agency"))
	h.answer(w, r, http.StatusOK, map[string]string{"agency": chi.URLParam(r, "agency"), "status": string(issuance.AgencyActive)}, err)
}

// officeRequest is an office as the API takes it (id and agency come from
// the path).
type officeRequest struct {
	Code        string                  `json:"code"`
	Name        string                  `json:"name"`
	Address     string                  `json:"address"`
	Currency    string                  `json:"currency"`
	Fees        map[issuance.Kind]int64 `json:"fees"`
	EWallet     bool                    `json:"eWallet"`
	MerchantID  string                  `json:"merchantId"`
	ChecksumKey string                  `json:"checksumKey"`
}

func (h *Handler) putOffice(w http.ResponseWriter, r *http.Request) {
	var req officeRequest
	if !h.decode(w, r, &req) {
		return
	}
	o, err := h.svc().PutOffice(r.Context(), actorOf(r), issuance.Office{ID: chi.URLParam(r, "office"), Agency: chi.URLParam(r, "agency"),
		Code: req.Code, Name: req.Name, Address: req.Address, Currency: req.Currency, Fees: req.Fees, EWallet: req.EWallet,
		MerchantID: req.MerchantID, ChecksumKey: req.ChecksumKey})
	if o != nil {
		c := *o
		c.ChecksumKey = "" // a secret: never echoed
		o = &c
	}
	h.answer(w, r, http.StatusOK, o, err)
}

func (h *Handler) approveOfficer(w http.ResponseWriter, r *http.Request) {
	err := h.svc().ApproveOfficer(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	h.answer(w, r, http.StatusOK, map[string]string{"officer": chi.URLParam(r, "id"), "status": string(issuance.PersonActive)}, err)
}

func (h *Handler) mapOfficer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Offices []string `json:"offices"`
	}
	if h.decode(w, r, &req) {
		err := h.svc().MapOfficer(r.Context(), actorOf(r), chi.URLParam(r, "id"), req.Offices)
		h.answer(w, r, http.StatusOK, map[string]any{"officer": chi.URLParam(r, "id"), "offices": req.Offices}, err)
	}
}

func (h *Handler) setOfficerActive(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h.svc().SetOfficerActive(r.Context(), actorOf(r), chi.URLParam(r, "id"), active)
		h.answer(w, r, http.StatusOK, map[string]any{"officer": chi.URLParam(r, "id"), "active": active}, err)
	}
}

func (h *Handler) createApplication(w http.ResponseWriter, r *http.Request) {
	var req issuance.NewApplication
	if h.decode(w, r, &req) {
		a, err := h.svc().CreateApplication(r.Context(), actorOf(r), req)
		h.answer(w, r, http.StatusCreated, a, err)
	}
}

func (h *Handler) listApplications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st := issuance.State(q.Get("state"))
	if st != "" && !validState(st) {
		writeProblem(w, http.StatusBadRequest, "invalid", fmt.Sprintf("state %q is not one of %v", st, issuance.States), "state")
		return
	}
	list, err := h.svc().Applications(r.Context(), actorOf(r), issuance.Query{Office: q.Get("office"), State: st})
	if list == nil {
		list = []*issuance.Application{}
	}
	h.answer(w, r, http.StatusOK, list, err)
}

func validState(s issuance.State) bool {
	for _, x := range issuance.States {
		if x == s {
			return true
		}
	}
	return false
}

func (h *Handler) application(w http.ResponseWriter, r *http.Request) {
	a, err := h.svc().Application(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	h.answer(w, r, http.StatusOK, a, err)
}

func (h *Handler) saveDraft(w http.ResponseWriter, r *http.Request) {
	var c issuance.Content
	if h.decode(w, r, &c) {
		a, err := h.svc().SaveDraft(r.Context(), actorOf(r), chi.URLParam(r, "id"), c)
		h.answer(w, r, http.StatusOK, a, err)
	}
}

type submitRequest struct {
	Payment issuance.Payment `json:"payment"`
}

// SubmitAnswer is the answer to a submission: the application and, for a
// gateway payment, where to send the exporter to pay.
type SubmitAnswer struct {
	Application *issuance.Application `json:"application"`
	PaymentURL  string                `json:"paymentUrl,omitempty"`
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	var req submitRequest
	if !h.decode(w, r, &req) {
		return
	}
	a, err := h.svc().Submit(r.Context(), actorOf(r), chi.URLParam(r, "id"), req.Payment)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ans := SubmitAnswer{Application: a}
	if a.PaidVia == issuance.PaidGatewayPending {
		if ans.PaymentURL, err = h.svc().PaymentRedirect(r.Context(), actorOf(r), a.ID); err != nil {
			h.log.Error("payment redirect failed after submission", "application", a.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, ans)
}

func (h *Handler) paymentRedirect(w http.ResponseWriter, r *http.Request) {
	u, err := h.svc().PaymentRedirect(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("redirect") == "1" {
		http.Redirect(w, r, u, http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"paymentUrl": u})
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

func (h *Handler) transition(act issuance.Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req reasonRequest
		if r.ContentLength != 0 && !h.decode(w, r, &req) {
			return
		}
		s, ctx, a, id := h.svc(), r.Context(), actorOf(r), chi.URLParam(r, "id")
		var app *issuance.Application
		var err error
		switch act {
		case issuance.ActWithdraw:
			app, err = s.Withdraw(ctx, a, id, req.Reason)
		case issuance.ActReview:
			app, err = s.Review(ctx, a, id)
		case issuance.ActReturn:
			app, err = s.Return(ctx, a, id, req.Reason)
		case issuance.ActAnswer:
			app, err = s.Answer(ctx, a, id, req.Reason)
		case issuance.ActReject:
			app, err = s.Reject(ctx, a, id, req.Reason)
		case issuance.ActApprove:
			app, err = s.Approve(ctx, a, id, req.Reason)
		}
		h.answer(w, r, http.StatusOK, app, err)
	}
}

func (h *Handler) issue(w http.ResponseWriter, r *http.Request) {
	app, cert, err := h.svc().Issue(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	h.answer(w, r, http.StatusOK, map[string]any{"application": app, "certificate": cert}, err)
}

func (h *Handler) origin(w http.ResponseWriter, r *http.Request) {
	f, err := h.svc().Origin(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	h.answer(w, r, http.StatusOK, f, err)
}

func (h *Handler) attach(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data, err := io.ReadAll(io.LimitReader(r.Body, h.opt.MaxAttachmentBytes+1))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "invalid", "the body could not be read: "+err.Error(), "body")
		return
	}
	if int64(len(data)) > h.opt.MaxAttachmentBytes {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body-too-large", fmt.Sprintf("the attachment is larger than %d bytes", h.opt.MaxAttachmentBytes), "body")
		return
	}
	at, err := h.svc().Attach(r.Context(), actorOf(r), chi.URLParam(r, "id"), issuance.AttachmentKind(q.Get("kind")), q.Get("name"), data)
	h.answer(w, r, http.StatusCreated, at, err)
}

func (h *Handler) attachments(w http.ResponseWriter, r *http.Request) {
	list, err := h.svc().Attachments(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	h.answer(w, r, http.StatusOK, list, err)
}

func (h *Handler) attachment(w http.ResponseWriter, r *http.Request) {
	at, data, err := h.svc().AttachmentData(r.Context(), actorOf(r), chi.URLParam(r, "id"), chi.URLParam(r, "sha"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", at.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// WalletAnswer is an e-wallet's balance and movements.
type WalletAnswer struct {
	IEC       string              `json:"iec"`
	Office    string              `json:"office"`
	Balance   int64               `json:"balance"`
	Movements []issuance.Movement `json:"movements"`
}

func (h *Handler) wallet(w http.ResponseWriter, r *http.Request) {
	iec, office := chi.URLParam(r, "iec"), chi.URLParam(r, "office")
	bal, ms, err := h.svc().Wallet(r.Context(), actorOf(r), iec, office)
	if ms == nil {
		ms = []issuance.Movement{}
	}
	h.answer(w, r, http.StatusOK, WalletAnswer{IEC: iec, Office: office, Balance: bal, Movements: ms}, err)
}

func (h *Handler) topUp(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Amount int64  `json:"amount"`
		Reason string `json:"reason"`
	}
	if h.decode(w, r, &req) {
		m, err := h.svc().TopUp(r.Context(), actorOf(r), chi.URLParam(r, "iec"), chi.URLParam(r, "office"), req.Amount, req.Reason)
		h.answer(w, r, http.StatusCreated, m, err)
	}
}

func (h *Handler) paymentCallback(w http.ResponseWriter, r *http.Request) {
	var n issuance.PaymentNotice
	if !h.decode(w, r, &n) {
		return
	}
	app, err := h.svc().PaymentCallback(r.Context(), n)
	if err != nil {
		h.log.Warn("payment callback refused", "txn", clip(n.Txn), "application", clip(n.Application), "err", err)
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"application": app.ID, "paidVia": app.PaidVia, "txn": n.Txn})
}

// token is the OAuth2 client-credentials grant (RFC 6749 section 4.4),
// with the errors of section 5.2.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	oauthErr := func(status int, code, desc string) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="ecogate-issuance"`)
		}
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			oauthErr(http.StatusBadRequest, "invalid_request", "parameter "+clip(k)+" is repeated")
			return
		}
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "use grant_type=client_credentials")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" || secret == "" {
		oauthErr(http.StatusUnauthorized, "invalid_client", "client authentication is missing: HTTP Basic or client_id and client_secret")
		return
	}
	tok, c, err := h.svc().ClientToken(r.Context(), id, secret)
	if errors.Is(err, issuance.ErrUnauthenticated) {
		oauthErr(http.StatusUnauthorized, "invalid_client", "unknown client, wrong secret or revoked client")
		return
	}
	if err != nil {
		h.log.Error("client token failed", "err", err)
		oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "try again")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer",
		"expires_in": int(c.Expires.Sub(c.Created).Seconds()), "scope": "applications"})
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
