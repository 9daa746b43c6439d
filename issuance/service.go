package issuance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
)

// Config is what a Service needs.
type Config struct {
	// Country is this node's ISO 3166-1 alpha-2 code (e.g. "IN").
	Country string
	// Store holds the state (required).
	Store Store
	// Registry gives exporters' details by IEC (required to register
	// exporters).
	Registry Registry
	// Operators are the ids of the node operators.
	Operators []string
	// Signer signs certificates at issue; Node registers and queues them.
	// Issue fails with ErrNotAvailable while either is nil.
	Signer Signer
	Node   Node
	// OfficerTrust holds the issuing authority's anchors and CRLs for
	// officers' document-signing certificates (DSCs). When set, an officer
	// needs a valid registered DSC to approve and to issue, and every
	// signed certificate is signed under it.
	OfficerTrust certs.TrustStore
	// ExporterTrust holds the anchors and CRLs for exporters' DSCs (whose
	// subject carries the IEC). When set, Submit requires the exporter's
	// signed declaration of the content submitted.
	ExporterTrust certs.TrustStore
	// HeldKeys gives the keys the node holds for officers and exporters
	// (PEM, PKCS#12 or an HSM through crypto.Signer): the held-key signing
	// path. When Signer is nil and HeldKeys is set, issuing signs the e-CO
	// with certs.Signer under the officer's registered DSC.
	HeldKeys OfficerKeys
	// Payments is the payment gateway path; nil: not available.
	Payments PaymentGateway
	// PaymentWindow is how old a payment callback may be (its time
	// against the clock) before it is refused as a replay; 15 minutes
	// when 0.
	PaymentWindow time.Duration
	// Events hears every move of an application in its transaction
	// (webhooks, notifications); nil: nobody.
	Events EventSink
	// MaxAttachmentBytes caps one attachment; 5 MiB when 0.
	MaxAttachmentBytes int64
	// ProductRules override the agreements' general rules of origin.
	ProductRules []ProductRule
	// CodeLists checks codes; the built-in lists when nil.
	CodeLists *schema.CodeLists
	// Clock gives the time; time.Now when nil.
	Clock func() time.Time
	// Location is the time zone of the numbering year; UTC when nil.
	Location *time.Location
}

// Service is the issuance workflow. Its methods map one to one onto the
// HTTP API to come; each takes the Actor who asks and checks it.
type Service struct {
	cfg Config
	// dscs caches parsed DSC chains (by leaf SHA-256) and CRL signature
	// checks (see dsc.go).
	dscs dscCache
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("issuance: Config.Store is required")
	}
	if !schema.DefaultCodeLists().Country(cfg.Country) {
		return nil, fmt.Errorf("issuance: Config.Country %q is not an ISO 3166-1 alpha-2 code", cfg.Country)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.PaymentWindow <= 0 {
		cfg.PaymentWindow = 15 * time.Minute
	}
	if cfg.MaxAttachmentBytes <= 0 {
		cfg.MaxAttachmentBytes = 5 << 20
	}
	if cfg.CodeLists == nil {
		cfg.CodeLists = schema.DefaultCodeLists()
	}
	ops := make([]string, len(cfg.Operators))
	for i, o := range cfg.Operators {
		ops[i] = normID(o)
	}
	cfg.Operators = ops
	if cfg.Signer == nil && cfg.HeldKeys != nil {
		cfg.Signer = &KeySigner{Keys: cfg.HeldKeys}
	}
	return &Service{cfg: cfg}, nil
}

func (s *Service) now() time.Time { return s.cfg.Clock().UTC() }

// principal is a checked actor: the stored person (nil for the operator)
// and the organisation they act for.
type principal struct {
	actor  Actor
	person *Person
	org    string
}

func (p *principal) String() string { return p.actor.String() }

// resolve checks the actor against the stored person: it must exist, hold
// the role the session claims, and be active.
func (s *Service) resolve(tx Tx, a Actor) (*principal, error) {
	a.ID = normID(a.ID)
	if a.ID == "" {
		return nil, forbidden("not signed in")
	}
	if a.Role == RoleOperator {
		if !slices.Contains(s.cfg.Operators, a.ID) {
			return nil, forbidden("%s is not a node operator", a.ID)
		}
		return &principal{actor: a}, nil
	}
	p, err := tx.Person(a.ID)
	if errors.Is(err, ErrNotFound) {
		return nil, forbidden("%s is not a registered user", a.ID)
	}
	if err != nil {
		return nil, err
	}
	if p.Role != a.Role {
		return nil, forbidden("%s is a %s, not a %s", a.ID, p.Role, a.Role)
	}
	if p.Status != PersonActive {
		return nil, forbidden("the account %s is %s", a.ID, p.Status)
	}
	return &principal{actor: a, person: p, org: p.Org}, nil
}

// need refuses a principal whose role is not among roles.
func need(p *principal, what string, roles ...Role) error {
	if slices.Contains(roles, p.actor.Role) {
		return nil
	}
	return forbidden("a %s may not %s (only %s)", p.actor.Role, what, joinRoles(roles))
}

// do runs fn for actor in one write transaction. A refusal (ErrForbidden)
// is audited in a transaction of its own, since fn's is rolled back.
func (s *Service) do(ctx context.Context, a Actor, what, subject string, fn func(Tx, *principal) error) error {
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		p, err := s.resolve(tx, a)
		if err != nil {
			return err
		}
		return fn(tx, p)
	})
	if errors.Is(err, ErrForbidden) {
		s.auditRefusal(ctx, a, what, subject, err)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, subject, err)
	}
	return nil
}

// view runs fn for actor in a read-only transaction; refusals are audited.
func (s *Service) view(ctx context.Context, a Actor, what, subject string, fn func(Tx, *principal) error) error {
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		p, err := s.resolve(tx, a)
		if err != nil {
			return err
		}
		return fn(tx, p)
	})
	if errors.Is(err, ErrForbidden) {
		s.auditRefusal(ctx, a, what, subject, err)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, subject, err)
	}
	return nil
}

func (s *Service) auditRefusal(ctx context.Context, a Actor, what, subject string, reason error) {
	actor := a.String()
	if a.ID == "" {
		actor = "anonymous"
	}
	if subject == "" {
		subject = "-"
	}
	_ = s.cfg.Store.Update(ctx, func(tx Tx) error {
		return tx.Audit(AuditEntry{Time: s.now(), Actor: actor, Action: "issuance.refused", Subject: subject,
			Details: map[string]string{"action": what, "reason": reason.Error()}})
	})
}

func (s *Service) audit(tx Tx, actor, action, subject string, details map[string]string) error {
	return tx.Audit(AuditEntry{Time: s.now(), Actor: actor, Action: "issuance." + action, Subject: subject, Details: details})
}
