package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/internal/ids"
	"github.com/ecogate/ecogate/issuance"
	issapi "github.com/ecogate/ecogate/issuance/api"
	"github.com/ecogate/ecogate/store"
)

// IssuanceConfig is the "issuance:" section: the domestic issuance
// workflow's API (package issuance/api), served on the local API under
// /api/v1/issuance when enabled.
//
// Authentication: the issuance routes authenticate every request
// themselves (a person's API token, an API client's access token, or the
// local token, which stands for the first operator) and are therefore let
// through the local token check; only the registrations, the OAuth2 token
// endpoint, the payment callback (HMAC-checked) and the development
// gateway take no credential. Without local.token (loopback only) a
// request without credential is the operator, as the rest of the local
// API is open there.
type IssuanceConfig struct {
	Enabled bool `yaml:"enabled"`
	// Operators are the node operators' ids (the first is the one the
	// local token stands for).
	Operators []string `yaml:"operators"`
	// Registry is the trade registry file (issuance.FileRegistry).
	Registry string `yaml:"registry"`
	// DevGateway serves the development payment gateway (never in
	// production: it signs with the offices' keys).
	DevGateway bool `yaml:"devGateway"`
	Mail       struct {
		// SMTP is the server's host:port; Dir writes mail as .eml files
		// instead (the demo). Neither: no mail.
		SMTP        string `yaml:"smtp"`
		From        string `yaml:"from"`
		Username    string `yaml:"username"`
		PasswordEnv string `yaml:"passwordEnv"`
		Dir         string `yaml:"dir"`
	} `yaml:"mail"`
	// SMS queues text messages to the exporter's mobile, sent through the
	// SMS hook (logged until a provider is plugged in).
	SMS bool `yaml:"sms"`
	// NodeSigning signs issued certificates with the node's
	// document-signing key (signing.key) when an officer approves and
	// signs (the held-key path; portalwire.go).
	NodeSigning bool `yaml:"nodeSigning"`
}

// checkIssuance validates the section and resolves its paths.
func checkIssuance(c *Config, abs func(string) string, bad func(key, format string, a ...any)) {
	ic := &c.Issuance
	ic.Registry = abs(ic.Registry)
	ic.Mail.Dir = abs(ic.Mail.Dir)
	if !ic.Enabled {
		return
	}
	if len(ic.Operators) == 0 {
		bad("issuance.operators", "name at least one node operator (the id the local token stands for)")
	}
	if ic.Mail.SMTP != "" && ic.Mail.Dir != "" {
		bad("issuance.mail.dir", "give issuance.mail.smtp or issuance.mail.dir, not both")
	}
	if (ic.Mail.SMTP != "" || ic.Mail.Dir != "") && !strings.Contains(ic.Mail.From, "@") {
		bad("issuance.mail.from", "give the sender address of the notifications")
	}
}

// openIssuance builds the issuance service and its API and hooks them on
// the node's options: routes on the local API, the outbox kinds delivered
// in-process.
func openIssuance(o *Options, c *Config, db *store.DB, log *slog.Logger) (*issuance.Service, *lateNode, error) {
	ic := c.Issuance
	log = log.With("component", "issuance")
	cfg := issuance.Config{Country: c.Node.Country, Store: db.Issuance(), Operators: ic.Operators,
		Events: &issapi.Sink{IDs: ids.New(nil), SMS: ic.SMS}}
	late := &lateNode{}
	cfg.Node = late
	if ic.NodeSigning && o.Signer != nil {
		cfg.Signer = nodeKeySigner{o.Signer}
	}
	if ic.Registry != "" {
		r, err := issuance.NewFileRegistry(ic.Registry)
		if err != nil {
			return nil, nil, fmt.Errorf("issuance.registry: %w", err)
		}
		cfg.Registry = r
	}
	base := strings.TrimRight(o.LocalURL, "/") + issapi.Prefix
	var dev *issapi.DevGateway
	if ic.DevGateway {
		dev = &issapi.DevGateway{BaseURL: base, CallbackURL: base + "/payments/callback", Store: db.Issuance(),
			HTTP: &http.Client{Timeout: 30 * time.Second}}
		cfg.Payments = dev
		log.Warn("the development payment gateway is on (issuance.devGateway): never on a production node")
	}
	svc, err := issuance.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	d := &issapi.Deliverer{Service: svc, Logger: log}
	switch {
	case ic.Mail.SMTP != "":
		d.Mailer = &issapi.SMTPMailer{Addr: ic.Mail.SMTP, From: ic.Mail.From, Username: ic.Mail.Username, Password: os.Getenv(ic.Mail.PasswordEnv)}
	case ic.Mail.Dir != "":
		d.Mailer = &issapi.DirMailer{Dir: ic.Mail.Dir, From: ic.Mail.From}
	}
	if ic.SMS {
		d.SMS = issapi.LogSMS{Logger: log}
	}
	op := ""
	if len(ic.Operators) > 0 {
		op = strings.ToLower(strings.TrimSpace(ic.Operators[0]))
	}
	h := issapi.New(issapi.Options{Service: svc, DevGateway: dev, Logger: log,
		Auth: &issapi.TokenAuth{Service: svc, LocalToken: o.LocalToken, Operator: op, OpenOperator: o.LocalToken == ""}})
	if o.LocalKinds == nil {
		o.LocalKinds = map[string]LocalDeliverer{}
	}
	for _, k := range []string{issapi.KindWebhook, issapi.KindMail, issapi.KindSMS} {
		o.LocalKinds[k] = d.Deliver
	}
	prev := o.LocalRoutes
	o.LocalRoutes = func(root, api chi.Router) {
		if prev != nil {
			prev(root, api)
		}
		api.Mount("/issuance", h.Routes())
	}
	o.SelfAuthPrefixes = append(o.SelfAuthPrefixes, issapi.Prefix+"/")
	return svc, late, nil
}
