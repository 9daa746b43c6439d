package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/issuance"
)

// maxSigned caps an uploaded signed document or DSC chain.
const maxSigned = 4 << 20

// publicRoutes are the endpoints of this file that take no credential:
// the exporter administrator's self-registration.
func (h *Handler) publicRoutes(r chi.Router) {
	r.Post("/exporters/register", h.selfRegisterExporter)
}

// moreRoutes are the endpoints of this file behind the credential check:
// exporter confirmation, DSC registration, approve-and-issue and external
// signing, the exporter's declaration, signature and stamp images, the
// e-wallet migration.
func (h *Handler) moreRoutes(r chi.Router) {
	r.Post("/exporters/{iec}/confirm", h.confirmExporter)
	r.Post("/me/dsc", h.registerDSC)
	r.Post("/applications/{id}/approve-and-issue", h.approveAndIssue)
	r.Get("/applications/{id}/document-to-sign", h.documentToSign)
	r.Post("/applications/{id}/signed", h.issueSigned)
	r.Get("/applications/{id}/declaration", h.declarationToSign)
	r.Post("/applications/{id}/declaration", h.signDeclaration)
	r.Post("/applications/{id}/declaration/held", h.signDeclarationHeld)
	r.Put("/officers/{id}/signature-image", h.putSignatureImage)
	r.Get("/officers/{id}/signature-image", h.image(issuance.ImageSignature, "id"))
	r.Put("/agencies/{agency}/offices/{office}/stamp-image", h.putStampImage)
	r.Get("/agencies/{agency}/offices/{office}/stamp-image", h.image(issuance.ImageStamp, "office"))
	r.Post("/wallets/migrate", h.migrateWallets)
}

// readBody reads a raw body of at most limit bytes; it answers the
// refusal itself and returns false.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, what string) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "invalid", "the body could not be read: "+err.Error(), "body")
		return nil, false
	}
	if int64(len(b)) > limit {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body-too-large", fmt.Sprintf("the %s is larger than %d bytes", what, limit), "body")
		return nil, false
	}
	if len(b) == 0 {
		writeProblem(w, http.StatusBadRequest, "invalid", "the body is empty: send the "+what, "body")
		return nil, false
	}
	return b, true
}

func (h *Handler) selfRegisterExporter(w http.ResponseWriter, r *http.Request) {
	var req registerExporterRequest
	if h.decode(w, r, &req) {
		reg, err := h.svc().SelfRegisterExporter(r.Context(), req.IEC, req.Admin)
		h.answer(w, r, http.StatusCreated, reg, err)
	}
}

func (h *Handler) confirmExporter(w http.ResponseWriter, r *http.Request) {
	iec := chi.URLParam(r, "iec")
	err := h.svc().ConfirmExporter(r.Context(), actorOf(r), iec)
	h.answer(w, r, http.StatusOK, map[string]string{"iec": iec, "status": string(issuance.PersonActive)}, err)
}

func (h *Handler) registerDSC(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, maxSigned, "DSC chain (PEM)")
	if !ok {
		return
	}
	d, err := h.svc().RegisterDSC(r.Context(), actorOf(r), b)
	h.answer(w, r, http.StatusCreated, d, err)
}

// IssueAnswer is the answer to an issue: the application and its
// certificate.
type IssueAnswer struct {
	Application *issuance.Application `json:"application"`
	Certificate *issuance.Certificate `json:"certificate"`
}

func (h *Handler) approveAndIssue(w http.ResponseWriter, r *http.Request) {
	var req reasonRequest
	if r.ContentLength != 0 && !h.decode(w, r, &req) {
		return
	}
	app, cert, err := h.svc().ApproveAndIssue(r.Context(), actorOf(r), chi.URLParam(r, "id"), req.Reason)
	h.answer(w, r, http.StatusOK, IssueAnswer{Application: app, Certificate: cert}, err)
}

func writeXML(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (h *Handler) documentToSign(w http.ResponseWriter, r *http.Request) {
	b, err := h.svc().DocumentToSign(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeXML(w, b)
}

func (h *Handler) issueSigned(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, maxSigned, "signed e-CO")
	if !ok {
		return
	}
	app, cert, err := h.svc().IssueSigned(r.Context(), actorOf(r), chi.URLParam(r, "id"), b)
	h.answer(w, r, http.StatusOK, IssueAnswer{Application: app, Certificate: cert}, err)
}

func (h *Handler) declarationToSign(w http.ResponseWriter, r *http.Request) {
	b, err := h.svc().DeclarationToSign(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeXML(w, b)
}

func (h *Handler) signDeclaration(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, maxSigned, "signed declaration")
	if !ok {
		return
	}
	id := chi.URLParam(r, "id")
	err := h.svc().SignDeclaration(r.Context(), actorOf(r), id, b)
	h.answer(w, r, http.StatusOK, map[string]string{"application": id, "declaration": "signed"}, err)
}

func (h *Handler) signDeclarationHeld(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	err := h.svc().SignDeclarationHeld(r.Context(), actorOf(r), id)
	h.answer(w, r, http.StatusOK, map[string]string{"application": id, "declaration": "signed"}, err)
}

func (h *Handler) putSignatureImage(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, issuance.MaxImageBytes, "image")
	if !ok {
		return
	}
	img, err := h.svc().PutSignatureImage(r.Context(), actorOf(r), chi.URLParam(r, "id"), b)
	h.answer(w, r, http.StatusOK, img, err)
}

func (h *Handler) putStampImage(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r, issuance.MaxImageBytes, "image")
	if !ok {
		return
	}
	img, err := h.svc().PutStampImage(r.Context(), actorOf(r), chi.URLParam(r, "agency"), chi.URLParam(r, "office"), b)
	h.answer(w, r, http.StatusOK, img, err)
}

// image serves a signature image (by officer) or a stamp image (by
// office; the agency in the path is checked by the domain's reader
// rights, the office id being unique on the node).
func (h *Handler) image(kind issuance.ImageKind, param string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		img, data, err := h.svc().ImageOf(r.Context(), actorOf(r), kind, chi.URLParam(r, param))
		h.writeImage(w, r, img, data, err)
	}
}

func (h *Handler) writeImage(w http.ResponseWriter, r *http.Request, img *issuance.Image, data []byte, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", img.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// maxMigrateBatch caps the balances of one migration request.
const maxMigrateBatch = 1000

// MigrateRequest is a batch of migrated e-wallet balances.
type MigrateRequest struct {
	Balances []issuance.MigratedBalance `json:"balances"`
}

// MigrateResult is the outcome of one balance of a batch, in order:
// status migrated, already, zero or failed (with the error and its code).
type MigrateResult struct {
	IEC      string             `json:"iec"`
	Office   string             `json:"office"`
	Status   string             `json:"status"`
	Code     string             `json:"code,omitempty"`
	Error    string             `json:"error,omitempty"`
	Movement *issuance.Movement `json:"movement,omitempty"`
}

// migrateWallets migrates a batch of opening balances, each in its own
// transaction: a refused balance is reported and does not stop the rest.
func (h *Handler) migrateWallets(w http.ResponseWriter, r *http.Request) {
	var req MigrateRequest
	if !h.decode(w, r, &req) {
		return
	}
	if len(req.Balances) > maxMigrateBatch {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body-too-large", fmt.Sprintf("%d balances; send at most %d a request", len(req.Balances), maxMigrateBatch), "balances")
		return
	}
	out := make([]MigrateResult, 0, len(req.Balances))
	for _, b := range req.Balances {
		st, mv, err := h.svc().MigrateBalance(r.Context(), actorOf(r), b)
		res := MigrateResult{IEC: b.IEC, Office: b.Office, Status: st, Movement: mv}
		if err != nil {
			if errors.Is(err, issuance.ErrForbidden) {
				h.fail(w, r, err)
				return
			}
			res.Status, res.Code, res.Error = "failed", errCode(err), err.Error()
		}
		out = append(out, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

// errCode is the problem code of a domain error.
func errCode(err error) string {
	switch {
	case errors.Is(err, issuance.ErrNotFound):
		return "not-found"
	case errors.Is(err, issuance.ErrConflict):
		return "conflict"
	case errors.Is(err, issuance.ErrInvalid):
		return "invalid"
	case errors.Is(err, issuance.ErrState):
		return "state"
	}
	return "internal"
}
