package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"strings"
	"time"

	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/store"
)

// Mailer sends one e-mail.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// SMSSender sends one text message (a hook for an SMS provider).
type SMSSender interface {
	SendSMS(ctx context.Context, to, text string) error
}

// Deliverer delivers the issuance's outbox messages in-process; the
// node's delivery loop calls Deliver for the kinds KindWebhook, KindMail
// and KindSMS (gateway.Options.LocalKinds) and retries it on error.
type Deliverer struct {
	Service *issuance.Service
	HTTP    *http.Client
	Mailer  Mailer
	SMS     SMSSender
	Clock   func() time.Time
	Logger  *slog.Logger
}

// Deliver makes one attempt of rec.
func (d *Deliverer) Deliver(ctx context.Context, rec *store.OutRecord) error {
	switch rec.Kind {
	case KindWebhook:
		return d.webhook(ctx, rec.Content)
	case KindMail:
		if d.Mailer == nil {
			return nil // no mail configured: nothing to send
		}
		var m Mail
		if err := json.Unmarshal(rec.Content, &m); err != nil {
			return fmt.Errorf("decode mail: %w", err)
		}
		return d.Mailer.Send(ctx, m)
	case KindSMS:
		if d.SMS == nil {
			return nil
		}
		var s SMS
		if err := json.Unmarshal(rec.Content, &s); err != nil {
			return fmt.Errorf("decode sms: %w", err)
		}
		return d.SMS.SendSMS(ctx, s.To, s.Text)
	}
	return fmt.Errorf("kind %q is not an issuance message", rec.Kind)
}

func (d *Deliverer) now() time.Time {
	if d.Clock != nil {
		return d.Clock()
	}
	return time.Now()
}

// webhook POSTs the event to the client's current URL, signed with its
// current key. A revoked client, or one without a webhook any more, is
// settled without a call.
func (d *Deliverer) webhook(ctx context.Context, body []byte) error {
	var ev WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return fmt.Errorf("decode webhook: %w", err)
	}
	c, err := d.Service.LookupAPIClient(ctx, ev.Client)
	if errors.Is(err, issuance.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !c.Revoked.IsZero() || c.WebhookURL == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ecogate-Event-Id", ev.ID)
	req.Header.Set(SignatureHeader, SignWebhook(c.WebhookKey, d.now(), body))
	hc := d.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("webhook to client %s: %w", c.ID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook to client %s: HTTP %d", c.ID, resp.StatusCode)
	}
	return nil
}

// SMTPMailer sends over SMTP (STARTTLS when the server offers it; PLAIN
// authentication when Username is set, which net/smtp allows only over
// TLS or to localhost).
type SMTPMailer struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
	// Timeout bounds one delivery; 30 s when 0.
	Timeout time.Duration
	// TLS is the STARTTLS configuration (ServerName defaults to the host).
	TLS *tls.Config
}

// Send implements Mailer.
func (m *SMTPMailer) Send(ctx context.Context, mail Mail) error {
	msg, err := compose(m.From, mail, time.Now())
	if err != nil {
		return err
	}
	timeout := m.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("smtp address %q: %w", m.Addr, err)
	}
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", m.Addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", m.Addr, err)
	}
	defer c.Close()
	if err := c.Hello("ecogate"); err != nil {
		return fmt.Errorf("smtp %s: %w", m.Addr, err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := m.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp %s: starttls: %w", m.Addr, err)
		}
	}
	if m.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return fmt.Errorf("smtp %s: auth: %w", m.Addr, err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("smtp %s: MAIL FROM: %w", m.Addr, err)
	}
	for _, to := range mail.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp %s: RCPT TO %s: %w", m.Addr, to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp %s: DATA: %w", m.Addr, err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp %s: %w", m.Addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp %s: %w", m.Addr, err)
	}
	return c.Quit()
}

// compose writes an RFC 5322 message; header values with a line break are
// refused (header injection).
func compose(from string, m Mail, now time.Time) ([]byte, error) {
	if len(m.To) == 0 {
		return nil, errors.New("mail has no recipient")
	}
	for _, v := range append([]string{from, m.Subject}, m.To...) {
		if strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("a mail header contains a line break")
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
		from, strings.Join(m.To, ", "), mime.QEncoding.Encode("utf-8", m.Subject), now.Format(time.RFC1123Z))
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes(), nil
}

// DirMailer writes each mail as a .eml file into Dir (the demo's
// mailbox).
type DirMailer struct {
	Dir  string
	From string
}

// Send implements Mailer.
func (m *DirMailer) Send(_ context.Context, mail Mail) error {
	now := time.Now()
	msg, err := compose(m.From, mail, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(m.Dir, now.UTC().Format("20060102T150405")+"-*.eml")
	if err != nil {
		return err
	}
	if _, err := f.Write(msg); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LogSMS is an SMSSender that only logs (the hook for a provider).
type LogSMS struct{ Logger *slog.Logger }

// SendSMS implements SMSSender.
func (l LogSMS) SendSMS(_ context.Context, to, text string) error {
	if l.Logger != nil {
		l.Logger.Info("sms", "to", to, "text", text)
	}
	return nil
}
