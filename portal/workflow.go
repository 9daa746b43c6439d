package portal

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/issuance"
)

// The workflow pages: exporters file, pay, answer and reissue; officers
// review, return, reject, approve and sign. Every action is one call of
// the issuance service with the signed-in actor (Options.Service), which
// checks the role, the organisation and the state; the handlers only read
// forms and show results.

// appForm is the data of the application form.
type appForm struct {
	App      *issuance.Application // nil for a new application
	Content  issuance.Content
	Problems map[string][]string
	Findings []issuance.Finding // after "recalculate"
	Checked  bool               // after "validate": Problems is the whole answer
}

// appView is the data of an application's page.
type appView struct {
	App         *issuance.Application
	Findings    []issuance.Finding
	Attachments []*issuance.Attachment
	Officer     bool
	Exporter    bool
	CanSign     bool // the node holds a signer (Options.HeldSigning)
	External    bool // external signing (USB token) is offered
}

func (s *Server) workflowRoutes(r chi.Router) {
	exp := []issuance.Role{issuance.RoleExporterAdmin, issuance.RoleApplicant}
	r.Get("/exporter/applications/new", s.need(s.handleNewForm, exp...))
	r.Post("/exporter/applications/new", s.need(s.post(s.handleFormPost), exp...))
	r.Get("/exporter/applications/{id}", s.need(s.handleAppView, exp...))
	r.Get("/exporter/applications/{id}/edit", s.need(s.handleEditForm, exp...))
	r.Post("/exporter/applications/{id}/edit", s.need(s.post(s.handleFormPost), exp...))
	r.Post("/exporter/applications/{id}/submit", s.need(s.post(s.handleSubmit), exp...))
	r.Get("/exporter/applications/{id}/pay", s.need(s.handlePay, exp...))
	r.Post("/exporter/applications/{id}/answer", s.need(s.post(s.handleAnswer), exp...))
	r.Post("/exporter/applications/{id}/withdraw", s.need(s.post(s.handleWithdraw), exp...))
	r.Post("/exporter/applications/{id}/attachments", s.need(s.handleAttach, exp...))
	r.Post("/exporter/applications/{id}/reissue", s.need(s.post(s.handleReissue), exp...))
	r.Get("/officer/applications/{id}", s.need(s.handleAppView, issuance.RoleOfficer))
	r.Post("/officer/applications/{id}/{action}", s.need(s.post(s.handleOfficerAction), issuance.RoleOfficer))
	r.Get("/officer/applications/{id}/document.xml", s.need(s.handleDocToSign, issuance.RoleOfficer))
	r.Post("/officer/applications/{id}/signed", s.need(s.handleSignedUpload, issuance.RoleOfficer))
	r.Get("/applications/{id}/attachments/{sha}", s.need(s.handleAttachment, issuance.RoleExporterAdmin, issuance.RoleApplicant, issuance.RoleOfficer, issuance.RoleAgencyAdmin))
}

// post checks the form's CSRF token (the session's) before h; a missing
// or wrong token is 403 and h does not run.
func (s *Server) post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if !checkCSRF(r, sessionOf(r).CSRF) {
			s.log.Warn("portal: form refused: CSRF token missing or wrong", "user", sessionOf(r).User.Name, "path", r.URL.Path)
			s.render(w, r, http.StatusForbidden, "message", "Not allowed", nil, "The form expired or did not come from this site. Open the page again.")
			return
		}
		h(w, r)
	}
}

func actorOf(r *http.Request) issuance.Actor { return sessionOf(r).actor() }

// orgOf is the signed-in exporter's IEC (from the service's dashboard).
func (s *Server) orgOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	d, ok := s.dashboard(w, r)
	if !ok {
		return "", false
	}
	return d.Org, true
}

func (s *Server) handleNewForm(w http.ResponseWriter, r *http.Request) {
	c := issuance.Content{Currency: "INR", Transport: issuance.Transport{Mode: "1"}, Goods: []issuance.GoodsLine{{}}}
	s.render(w, r, http.StatusOK, "appform", "New application", &appForm{Content: c}, "")
}

func (s *Server) handleEditForm(w http.ResponseWriter, r *http.Request) {
	app, err := s.opt.Service.Application(r.Context(), actorOf(r), chi.URLParam(r, "id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "appform", "Application "+app.ID, &appForm{App: app, Content: app.Content}, "")
}

// handleFormPost saves the form as a draft (creating it the first time),
// then does what the button asked: add a goods line or a material row,
// recalculate the origin arithmetic (the service's), or validate as
// Submit would.
func (s *Server) handleFormPost(w http.ResponseWriter, r *http.Request) {
	c, probs := ParseContent(r.PostForm)
	action := r.PostFormValue("action")
	switch {
	case action == "add-line":
		c.Goods = append(c.Goods, issuance.GoodsLine{})
	case strings.HasPrefix(action, "remove-line:"):
		if i, err := strconv.Atoi(strings.TrimPrefix(action, "remove-line:")); err == nil && i >= 0 && i < len(c.Goods) {
			c.Goods = append(c.Goods[:i], c.Goods[i+1:]...)
		}
	}
	id := chi.URLParam(r, "id")
	form := &appForm{Content: c, Problems: probs}
	title := "New application"
	var app *issuance.Application
	var err error
	if id == "" {
		iec, ok := s.orgOf(w, r)
		if !ok {
			return
		}
		app, err = s.opt.Service.CreateApplication(r.Context(), actorOf(r), issuance.NewApplication{IEC: iec, Content: c})
	} else {
		app, err = s.opt.Service.SaveDraft(r.Context(), actorOf(r), id, c)
	}
	if err != nil {
		if !s.formError(w, r, form, title, err) {
			return
		}
		return
	}
	form.App, title = app, "Application "+app.ID
	msg := "Draft " + app.ID + " saved."
	switch action {
	case "recalc":
		if form.Findings, err = s.opt.Service.Origin(r.Context(), actorOf(r), app.ID); err != nil {
			s.fail(w, r, err)
			return
		}
		msg = "Draft saved; the origin arithmetic is recalculated below."
	case "validate":
		fes, err := s.opt.Service.Validate(r.Context(), actorOf(r), app.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, fe := range fes {
			form.Problems[fe.Field] = append(form.Problems[fe.Field], fe.Problem)
		}
		form.Checked = true
		msg = "Draft saved. No problem found: you may submit it."
		if len(fes) > 0 {
			msg = fmt.Sprintf("Draft saved. %d problem(s) to fix before submitting; each is shown beside its field.", len(fes))
		}
	}
	if id == "" && action == "save" {
		http.Redirect(w, r, "/exporter/applications/"+app.ID+"/edit", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "appform", title, form, msg)
}

// formError shows the service's refusal of a form: field problems beside
// their fields (422), anything else as a message page.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, form *appForm, title string, err error) bool {
	var ve *issuance.ValidationError
	var fe *issuance.FindingsError
	var list []issuance.FieldError
	switch {
	case errors.As(err, &ve):
		list = ve.Problems
	case errors.As(err, &fe):
		list = fe.Problems
	default:
		s.fail(w, r, err)
		return false
	}
	for _, p := range list {
		form.Problems[p.Field] = append(form.Problems[p.Field], p.Problem)
	}
	s.render(w, r, http.StatusUnprocessableEntity, "appform", title, form, "Not saved: fix the problems shown beside the fields.")
	return false
}

func (s *Server) handleAppView(w http.ResponseWriter, r *http.Request) {
	s.showApp(w, r, http.StatusOK, chi.URLParam(r, "id"), "")
}

func (s *Server) showApp(w http.ResponseWriter, r *http.Request, status int, id, msg string) {
	ctx, a := r.Context(), actorOf(r)
	app, err := s.opt.Service.Application(ctx, a, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &appView{App: app, Officer: a.Role == issuance.RoleOfficer, Exporter: a.Role != issuance.RoleOfficer,
		CanSign: s.opt.HeldSigning, External: s.opt.ExternalSigning}
	if v.Findings, err = s.opt.Service.Origin(ctx, a, id); err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Attachments, err = s.opt.Service.Attachments(ctx, a, id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "appview", "Application "+app.ID, v, msg)
}

// done shows the application again after an action, with msg, or the
// service's refusal.
func (s *Server) done(w http.ResponseWriter, r *http.Request, id string, err error, msg string) {
	if err != nil {
		var ve *issuance.ValidationError
		var fe *issuance.FindingsError
		if errors.As(err, &ve) || errors.As(err, &fe) || errors.Is(err, issuance.ErrInvalid) || errors.Is(err, issuance.ErrState) || errors.Is(err, issuance.ErrNotAvailable) {
			s.showApp(w, r, http.StatusUnprocessableEntity, id, "Not done: "+err.Error())
			return
		}
		s.fail(w, r, err)
		return
	}
	s.showApp(w, r, http.StatusOK, id, msg)
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	pay := issuance.Payment(r.PostFormValue("payment"))
	app, err := s.opt.Service.Submit(r.Context(), actorOf(r), id, pay)
	if err == nil && app.PaidVia == issuance.PaidGatewayPending {
		// a link, not a redirect: CSP form-action 'self' stops a form's
		// redirect to the gateway's origin
		s.showApp(w, r, http.StatusOK, id, "Submitted: pay the fee online (the link below) to send it to the office.")
		return
	}
	s.done(w, r, id, err, "Submitted: the office will review it.")
}

// handlePay sends the exporter to the payment gateway's page.
func (s *Server) handlePay(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	u, err := s.opt.Service.PaymentRedirect(r.Context(), actorOf(r), id)
	if err != nil {
		s.done(w, r, id, err, "")
		return
	}
	if pu, perr := url.Parse(u); perr != nil || pu.Scheme != "https" && pu.Scheme != "http" {
		s.done(w, r, id, fmt.Errorf("%w: the payment gateway gave no usable address", issuance.ErrNotAvailable), "")
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (s *Server) handleAnswer(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	_, err := s.opt.Service.Answer(r.Context(), actorOf(r), id, r.PostFormValue("answer"))
	s.done(w, r, id, err, "Answer sent: the application is back with the office.")
}

func (s *Server) handleWithdraw(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	_, err := s.opt.Service.Withdraw(r.Context(), actorOf(r), id, r.PostFormValue("reason"))
	s.done(w, r, id, err, "Withdrawn.")
}

// handleReissue starts a duplicate or in-lieu application from an issued
// one (its content copied; the service checks the certificate is the
// exporter's).
func (s *Server) handleReissue(w http.ResponseWriter, r *http.Request) {
	ctx, a, id := r.Context(), actorOf(r), chi.URLParam(r, "id")
	orig, err := s.opt.Service.Application(ctx, a, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if orig.Certificate == "" {
		s.done(w, r, id, fmt.Errorf("%w: application %s has no certificate to reissue", issuance.ErrState, id), "")
		return
	}
	app, err := s.opt.Service.CreateApplication(ctx, a, issuance.NewApplication{IEC: orig.IEC, Kind: issuance.Kind(r.PostFormValue("kind")),
		Concerns: issuance.CertRef{Number: orig.Certificate}, Content: orig.Content})
	if err != nil {
		s.done(w, r, id, err, "")
		return
	}
	http.Redirect(w, r, "/exporter/applications/"+app.ID+"/edit", http.StatusSeeOther)
}

// handleAttach stores an uploaded file (multipart form) as an attachment.
func (s *Server) handleAttach(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	r.Body = http.MaxBytesReader(w, r.Body, 6<<20)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		s.done(w, r, id, fmt.Errorf("%w: the upload could not be read (at most 5 MiB)", issuance.ErrInvalid), "")
		return
	}
	if !checkCSRF(r, sessionOf(r).CSRF) {
		s.render(w, r, http.StatusForbidden, "message", "Not allowed", nil, "The form expired or did not come from this site. Open the page again.")
		return
	}
	f, h, err := r.FormFile("file")
	if err != nil {
		s.done(w, r, id, fmt.Errorf("%w: choose a file to attach", issuance.ErrInvalid), "")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 6<<20))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, err = s.opt.Service.Attach(r.Context(), actorOf(r), id, issuance.AttachmentKind(r.PostFormValue("kind")), h.Filename, data)
	s.done(w, r, id, err, "Attached "+h.Filename+".")
}

func (s *Server) handleAttachment(w http.ResponseWriter, r *http.Request) {
	at, data, err := s.opt.Service.AttachmentData(r.Context(), actorOf(r), chi.URLParam(r, "id"), chi.URLParam(r, "sha"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", at.ContentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeName(at.Name)+`"`)
	_, _ = w.Write(data)
}

// handleOfficerAction: take up, return with a query, reject with a
// reason, approve, approve and sign with the node-held key.
func (s *Server) handleOfficerAction(w http.ResponseWriter, r *http.Request) {
	ctx, a, id := r.Context(), actorOf(r), chi.URLParam(r, "id")
	reason := r.PostFormValue("reason")
	var err error
	msg := ""
	switch chi.URLParam(r, "action") {
	case "review":
		_, err = s.opt.Service.Review(ctx, a, id)
		msg = "You have taken the application up."
	case "return":
		_, err = s.opt.Service.Return(ctx, a, id, reason)
		msg = "Returned to the exporter with your query."
	case "reject":
		_, err = s.opt.Service.Reject(ctx, a, id, reason)
		msg = "Rejected."
	case "approve":
		_, err = s.opt.Service.Approve(ctx, a, id, reason)
		msg = "Approved: download the document, sign it with your token and upload it."
	case "approve-sign":
		var app *issuance.Application
		app, _, err = s.opt.Service.ApproveAndIssue(ctx, a, id, reason)
		if err == nil {
			msg = "Approved and signed: certificate " + app.Certificate + " is issued and handed to the node."
		}
	default:
		s.render(w, r, http.StatusNotFound, "message", "Not found", nil, "There is no such action.")
		return
	}
	s.done(w, r, id, err, msg)
}

// handleDocToSign hands out the e-CO to sign externally (USB token).
func (s *Server) handleDocToSign(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	doc, err := s.opt.Service.DocumentToSign(r.Context(), actorOf(r), id)
	if err != nil {
		s.done(w, r, id, err, "")
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Disposition", `attachment; filename="`+safeName(id)+`-to-sign.xml"`)
	_, _ = w.Write(doc)
}

// handleSignedUpload issues with the document the officer signed.
func (s *Server) handleSignedUpload(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	r.Body = http.MaxBytesReader(w, r.Body, 6<<20)
	if err := r.ParseMultipartForm(1 << 20); err != nil || !checkCSRF(r, sessionOf(r).CSRF) {
		s.render(w, r, http.StatusForbidden, "message", "Not allowed", nil, "The form expired or did not come from this site. Open the page again.")
		return
	}
	f, _, err := r.FormFile("signed")
	if err != nil {
		s.done(w, r, id, fmt.Errorf("%w: choose the signed document", issuance.ErrInvalid), "")
		return
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, 5<<20))
	app, _, err := s.opt.Service.IssueSigned(r.Context(), actorOf(r), id, data)
	msg := ""
	if err == nil {
		msg = "Signed and issued: certificate " + app.Certificate + "."
	}
	s.done(w, r, id, err, msg)
}
