package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecogate/ecogate/internal/ids"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// Outbox message kinds of the issuance, delivered in-process (Deliverer).
const (
	KindWebhook = "webhook"
	KindMail    = "mail"
	KindSMS     = "sms"
)

// WebhookEvent is the body of a webhook: one change of an application of
// the client's IEC.
type WebhookEvent struct {
	ID          string          `json:"id"`
	Client      string          `json:"client"`
	Type        string          `json:"type"` // "application." + action
	Application string          `json:"application"`
	IEC         string          `json:"iec"`
	State       issuance.State  `json:"state"`
	From        issuance.State  `json:"from"`
	Action      issuance.Action `json:"action"`
	Reason      string          `json:"reason,omitempty"`
	Certificate string          `json:"certificate,omitempty"`
	PaidVia     string          `json:"paidVia,omitempty"`
	At          time.Time       `json:"at"`
}

// Mail is one e-mail notification.
type Mail struct {
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

// SMS is one text message.
type SMS struct {
	To   string `json:"to"`
	Text string `json:"text"`
}

// Sink is the issuance.EventSink that queues, in the transaction of each
// application move, a webhook per API client of the application's IEC
// (every change) and e-mail (and SMS) notifications on submission, query,
// approval, issue and rejection. It needs the bbolt store's transaction
// (store.IssuanceTx).
type Sink struct {
	// IDs makes message ids.
	IDs *ids.Generator
	// SMS queues text messages too (to the exporter's registered mobile).
	SMS bool
}

// enqueuer is the store transaction's EnqueueMessages.
type enqueuer interface {
	EnqueueMessages(msgs ...store.OutMessage) error
}

// notified lists the actions that send e-mail.
var notified = []issuance.Action{issuance.ActSubmit, issuance.ActAnswer, issuance.ActReturn, issuance.ActApprove, issuance.ActIssue, issuance.ActReject}

// Changed implements issuance.EventSink.
func (s *Sink) Changed(_ context.Context, tx issuance.Tx, app *issuance.Application, ev issuance.Event) error {
	q, ok := tx.(enqueuer)
	if !ok {
		return errors.New("the store cannot queue messages in the issuance's transaction")
	}
	var msgs []store.OutMessage
	clients, err := issuance.WebhookClients(tx, app.IEC)
	if err != nil {
		return err
	}
	for _, c := range clients {
		id := s.IDs.New()
		b, err := json.Marshal(WebhookEvent{ID: id, Client: c.ID, Type: "application." + string(ev.Action), Application: app.ID, IEC: app.IEC,
			State: app.State, From: ev.From, Action: ev.Action, Reason: ev.Reason, Certificate: app.Certificate, PaidVia: app.PaidVia, At: ev.At})
		if err != nil {
			return err
		}
		msgs = append(msgs, store.OutMessage{ID: id, Partner: KindWebhook, CertNumber: c.ID + "/" + app.ID, Kind: KindWebhook, Content: b, Created: ev.At})
	}
	if slices.Contains(notified, ev.Action) {
		m, sms, err := mailFor(tx, app, ev)
		if err != nil {
			return err
		}
		if len(m.To) > 0 {
			b, _ := json.Marshal(m)
			msgs = append(msgs, store.OutMessage{ID: s.IDs.New(), Partner: KindMail, CertNumber: app.ID, Kind: KindMail, Content: b, Created: ev.At})
		}
		if s.SMS && sms.To != "" {
			b, _ := json.Marshal(sms)
			msgs = append(msgs, store.OutMessage{ID: s.IDs.New(), Partner: KindSMS, CertNumber: app.ID, Kind: KindSMS, Content: b, Created: ev.At})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return q.EnqueueMessages(msgs...)
}

// mailFor words the notification of ev: to the officers of the office on
// a submission (or an answer), else to the applicant who filed it and the
// exporter's registered address.
func mailFor(tx issuance.Tx, app *issuance.Application, ev issuance.Event) (Mail, SMS, error) {
	var to []string
	add := func(addr string) {
		if addr != "" && !slices.Contains(to, addr) {
			to = append(to, addr)
		}
	}
	var sms SMS
	switch ev.Action {
	case issuance.ActSubmit, issuance.ActAnswer:
		people, err := tx.People(app.Content.Agency)
		if err != nil {
			return Mail{}, sms, err
		}
		for _, p := range people {
			if p.Role == issuance.RoleOfficer && p.Status == issuance.PersonActive && slices.Contains(p.Offices, app.Content.Office) {
				add(p.Email)
			}
		}
	default:
		if p, err := tx.Person(app.CreatedBy); err == nil && p.Status == issuance.PersonActive {
			add(p.Email)
		}
		if e, err := tx.Exporter(app.IEC); err == nil {
			add(e.Email)
			sms.To = e.Mobile
		}
	}
	what := map[issuance.Action]string{
		issuance.ActSubmit: "submitted", issuance.ActAnswer: "answered and resubmitted", issuance.ActReturn: "returned with a query",
		issuance.ActApprove: "approved", issuance.ActIssue: "issued", issuance.ActReject: "rejected",
	}[ev.Action]
	subj := fmt.Sprintf("Application %s %s", app.ID, what)
	var b strings.Builder
	fmt.Fprintf(&b, "Application %s (IEC %s, office %s, invoice %s) was %s by %s at %s.\n", app.ID, app.IEC, app.Content.Office,
		app.Content.InvoiceNumber, what, ev.Actor, ev.At.Format(time.RFC1123))
	if ev.Reason != "" {
		fmt.Fprintf(&b, "\n%s\n", ev.Reason)
	}
	if app.Certificate != "" {
		fmt.Fprintf(&b, "\nCertificate number: %s\n", app.Certificate)
	}
	sms.Text = subj
	return Mail{To: to, Subject: subj, Body: b.String()}, sms, nil
}

// SignatureHeader is the webhook's signature header: "t=UNIX,v1=HEX",
// HEX being HMAC-SHA256 under the client's webhook key of "UNIX." + body.
const SignatureHeader = "Ecogate-Signature"

// SignWebhook returns the SignatureHeader value of body at t.
func SignWebhook(key string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a SignatureHeader value (what a receiver does):
// the HMAC in constant time, and the time within tolerance of now.
func VerifyWebhook(key, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("malformed signature header")
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature time %s is outside the tolerance", t.UTC().Format(time.RFC3339))
	}
	want := SignWebhook(key, t, body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+strings.ToLower(sig))) {
		return errors.New("the signature does not verify")
	}
	return nil
}
