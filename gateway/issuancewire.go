package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/ids"
	"github.com/ecogate/ecogate/issuance"
	issapi "github.com/ecogate/ecogate/issuance/api"
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
	// Registry is the trade registry file (issuance.FileRegistry), for
	// the demo and tests.
	Registry string `yaml:"registry"`
	// RegistryURL is a real trade registry's lookup endpoint
	// (issuance.HTTPRegistry: GET RegistryURL/{IEC} answers the record
	// as JSON); RegistryTokenEnv names the environment variable holding
	// its bearer token, if it needs one. Not with registry.
	RegistryURL      string `yaml:"registryURL"`
	RegistryTokenEnv string `yaml:"registryTokenEnv"`
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
	// OfficerAnchors are the issuing authority's anchor certificates and
	// CRLs (PEM or DER files) that officers' document-signing
	// certificates must chain to. When set, an officer needs a valid
	// registered DSC to approve and issue, and external signing is on.
	OfficerAnchors []string `yaml:"officerAnchors"`
	// HeldKeys is the directory of the officers' keys the node holds
	// (issuance.DirKeys: PERSON-ID.pem): the held-key signing path of
	// approve-and-issue. Empty: officers sign externally.
	HeldKeys string `yaml:"heldKeys"`
	// NodeSigning signs issued certificates with the node's
	// document-signing key (signing.key) when no held keys are configured
	// (the portal's "approve and sign"; portalwire.go).
	NodeSigning bool `yaml:"nodeSigning"`
}

// checkIssuance validates the section and resolves its paths.
func checkIssuance(c *Config, abs func(string) string, bad func(key, format string, a ...any)) {
	ic := &c.Issuance
	ic.Registry = abs(ic.Registry)
	ic.Mail.Dir = abs(ic.Mail.Dir)
	ic.HeldKeys = abs(ic.HeldKeys)
	for i, f := range ic.OfficerAnchors {
		ic.OfficerAnchors[i] = abs(f)
	}
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
	if ic.Registry != "" && ic.RegistryURL != "" {
		bad("issuance.registryURL", "give either registry (a file) or registryURL (the trade registry's endpoint), not both")
	}
	if ic.RegistryURL != "" {
		if u, err := url.Parse(ic.RegistryURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("issuance.registryURL", "must be an http(s) URL such as https://registry.example/iec")
		}
	}
	if ic.RegistryTokenEnv != "" && os.Getenv(ic.RegistryTokenEnv) == "" {
		bad("issuance.registryTokenEnv", "the environment variable %s is empty or unset", ic.RegistryTokenEnv)
	}
	if ic.HeldKeys != "" && len(ic.OfficerAnchors) == 0 {
		bad("issuance.heldKeys", "held keys sign under the officers' registered DSCs: give issuance.officerAnchors too")
	}
}

// openIssuance builds the issuance service and its API and hooks them on
// the node's options: routes on the local API, the outbox kinds delivered
// in-process. The returned bind hands the node (once built) to the
// service, which registers and queues what it issues through it.
func openIssuance(o *Options, c *Config, st issuance.Store, log *slog.Logger) (*issuance.Service, func(*Node) error, error) {
	ic := c.Issuance
	log = log.With("component", "issuance")
	cfg := issuance.Config{Country: c.Node.Country, Store: st, Operators: ic.Operators,
		Events: &issapi.Sink{IDs: ids.New(nil), SMS: ic.SMS}}
	late := &lateIssuanceNode{}
	cfg.Node = late
	if ic.Registry != "" {
		r, err := issuance.NewFileRegistry(ic.Registry)
		if err != nil {
			return nil, nil, fmt.Errorf("issuance.registry: %w", err)
		}
		cfg.Registry = r
	}
	if ic.RegistryURL != "" {
		cfg.Registry = &issuance.HTTPRegistry{BaseURL: ic.RegistryURL, Token: os.Getenv(ic.RegistryTokenEnv)}
	}
	if len(ic.OfficerAnchors) > 0 {
		ts := &certs.TrustSet{}
		for _, f := range ic.OfficerAnchors {
			if err := ts.AddFile(f); err != nil {
				return nil, nil, fmt.Errorf("issuance.officerAnchors: %w", err)
			}
		}
		if len(ts.AnchorCerts) == 0 {
			return nil, nil, fmt.Errorf("issuance.officerAnchors: no certificate among %v", ic.OfficerAnchors)
		}
		cfg.OfficerTrust = ts
		// The officers' anchors are watched for expiry like the node's own.
		anchors, prevCerts := WatchCertificates("issuance.officerAnchors", "", ts.AnchorCerts...), o.Certificates
		o.Certificates = func() []WatchedCertificate {
			var out []WatchedCertificate
			if prevCerts != nil {
				out = prevCerts()
			}
			return append(out, anchors...)
		}
		if len(ts.RevocationLists) > 0 { // for the CRL staleness watch
			crls, prev := WatchCRLs("issuance.officerAnchors", ts.RevocationLists...), o.CRLs
			o.CRLs = func() []WatchedCRL {
				var out []WatchedCRL
				if prev != nil {
					out = prev()
				}
				return append(out, crls...)
			}
		}
	}
	if ic.HeldKeys != "" {
		if st, err := os.Stat(ic.HeldKeys); err != nil || !st.IsDir() {
			return nil, nil, fmt.Errorf("issuance.heldKeys: %s is not a directory", ic.HeldKeys)
		}
		cfg.HeldKeys = &issuance.DirKeys{Dir: ic.HeldKeys}
	} else if ic.NodeSigning && o.Signer != nil {
		cfg.Signer = nodeKeySigner{o.Signer}
	}
	base := strings.TrimRight(o.LocalURL, "/") + issapi.Prefix
	var dev *issapi.DevGateway
	if ic.DevGateway {
		dev = &issapi.DevGateway{BaseURL: base, CallbackURL: base + "/payments/callback", Store: st,
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
	bind := func(n *Node) error {
		in, err := n.Issuance()
		if err != nil {
			return err
		}
		late.set(in)
		return nil
	}
	return svc, bind, nil
}

// lateIssuanceNode is the service's issuance.Node before the node exists
// (the service's routes are among the node's options): bound once built.
type lateIssuanceNode struct {
	mu sync.RWMutex
	in *IssuanceNode
}

func (l *lateIssuanceNode) set(in *IssuanceNode) {
	l.mu.Lock()
	l.in = in
	l.mu.Unlock()
}

// RegisterAndQueue implements issuance.Node.
func (l *lateIssuanceNode) RegisterAndQueue(ctx context.Context, tx issuance.Tx, c *issuance.Certificate, signed []byte) error {
	l.mu.RLock()
	in := l.in
	l.mu.RUnlock()
	if in == nil {
		return fmt.Errorf("%w: the node is not started yet", issuance.ErrNotAvailable)
	}
	return in.RegisterAndQueue(ctx, tx, c, signed)
}
