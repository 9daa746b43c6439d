package issuance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Credential is a bearer token's record: who it authenticates. Only the
// token's SHA-256 is stored (Hash); the token is shown once.
type Credential struct {
	Hash    string    `json:"hash"`
	Person  string    `json:"person"`
	Role    Role      `json:"role"`
	Client  string    `json:"client,omitempty"` // an API client's token
	By      string    `json:"by"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// APIClient is an exporter's own system, connected by OAuth2 client
// credentials and scoped to one IEC: it acts as an applicant of that IEC
// (a Person with the client's id), and receives webhooks at WebhookURL
// signed with WebhookKey on every change of the IEC's applications.
type APIClient struct {
	ID         string    `json:"id"`
	IEC        string    `json:"iec"`
	Name       string    `json:"name"`
	SecretHash string    `json:"secretHash"`
	WebhookURL string    `json:"webhookUrl,omitempty"`
	WebhookKey string    `json:"webhookKey,omitempty"`
	By         string    `json:"by"`
	Created    time.Time `json:"created"`
	Revoked    time.Time `json:"revoked,omitzero"`
}

// ErrUnauthenticated means a credential is missing, unknown, expired or
// revoked (HTTP 401).
var ErrUnauthenticated = errors.New("not authenticated")

// TokenHash is the stored form of a bearer token or client secret: hex
// SHA-256 (the tokens are 256 random bits, not passwords).
func TokenHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

func random(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("issuance: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// Token TTLs.
const (
	MaxTokenTTL     = 90 * 24 * time.Hour
	DefaultTokenTTL = 30 * 24 * time.Hour
	ClientTokenTTL  = time.Hour
)

// IssueToken gives an API token to a registered person (operator only,
// until the portal's sign-in exists). The token is returned once.
func (s *Service) IssueToken(ctx context.Context, a Actor, person string, ttl time.Duration) (string, *Credential, error) {
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < time.Minute || ttl > MaxTokenTTL {
		return "", nil, fmt.Errorf("issue token: %w: ttl must be between 1m and %s", ErrInvalid, MaxTokenTTL)
	}
	tok := random("ecg_", 32)
	var out *Credential
	err := s.do(ctx, a, "issue token", normID(person), func(tx Tx, p *principal) error {
		if err := need(p, "issue API tokens", RoleOperator); err != nil {
			return err
		}
		x, err := ext(tx)
		if err != nil {
			return err
		}
		who, err := tx.Person(normID(person))
		if err != nil {
			return err
		}
		if who.Status != PersonActive {
			return fmt.Errorf("%w: %s is %s", ErrState, who.ID, who.Status)
		}
		now := s.now()
		c := &Credential{Hash: TokenHash(tok), Person: who.ID, Role: who.Role, By: p.actor.ID, Created: now, Expires: now.Add(ttl)}
		if err := x.PutCredential(c); err != nil {
			return err
		}
		out = c
		return s.audit(tx, p.String(), "token.issue", who.ID, map[string]string{"role": string(who.Role), "expires": c.Expires.Format(time.RFC3339)})
	})
	if err != nil {
		return "", nil, err
	}
	return tok, out, nil
}

// Authenticate returns the actor a bearer token stands for; ErrUnauthenticated
// when it is unknown or expired. The Service checks the person again on
// every call (active, same role).
func (s *Service) Authenticate(ctx context.Context, tok string) (Actor, *Credential, error) {
	var c *Credential
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		x, err := ext(tx)
		if err != nil {
			return err
		}
		c, err = x.Credential(TokenHash(tok))
		return err
	})
	if errors.Is(err, ErrNotFound) || err == nil && !s.now().Before(c.Expires) {
		return Actor{}, nil, fmt.Errorf("%w: the token is unknown, expired or revoked", ErrUnauthenticated)
	}
	if err != nil {
		return Actor{}, nil, err
	}
	return Actor{ID: c.Person, Role: c.Role}, c, nil
}

// RevokeToken removes a token (its holder signs out, or the operator
// revokes it).
func (s *Service) RevokeToken(ctx context.Context, tok string) error {
	return s.cfg.Store.Update(ctx, func(tx Tx) error {
		x, err := ext(tx)
		if err != nil {
			return err
		}
		c, err := x.Credential(TokenHash(tok))
		if err != nil {
			return err
		}
		if err := x.DeleteCredential(c.Hash); err != nil {
			return err
		}
		return s.audit(tx, string(c.Role)+":"+c.Person, "token.revoke", c.Person, nil)
	})
}

// NewAPIClient is an exporter administrator's request for an API client.
type NewAPIClient struct {
	Name       string `json:"name"`
	Email      string `json:"email"`
	WebhookURL string `json:"webhookUrl,omitempty"`
}

// ClientSecrets is what creating an API client returns once: the client
// secret (for POST /oauth/token) and the webhook signing key.
type ClientSecrets struct {
	Client     *APIClient `json:"client"`
	Secret     string     `json:"clientSecret"`
	WebhookKey string     `json:"webhookKey,omitempty"`
}

func checkWebhookURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || len(raw) > 2000 {
		return fmt.Sprintf("%q is not an absolute URL", raw)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loop := host == "localhost" || ip != nil && ip.IsLoopback()
	if u.Scheme != "https" && !(u.Scheme == "http" && loop) {
		return "webhooks go over https (http only to loopback, for development)"
	}
	return ""
}

// CreateAPIClient connects an exporter's own system to the API, scoped to
// the administrator's IEC. Exporter administrator.
func (s *Service) CreateAPIClient(ctx context.Context, a Actor, iec string, n NewAPIClient) (*ClientSecrets, error) {
	var p problems
	if strings.TrimSpace(n.Name) == "" || len(n.Name) > 200 {
		p.add("name", "name the system (at most 200 characters)")
	}
	if msg := checkWebhookURL(n.WebhookURL); msg != "" {
		p.add("webhookUrl", "%s", msg)
	}
	if err := p.err("API client"); err != nil {
		return nil, err
	}
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	id := "client-" + hex.EncodeToString(idb[:])
	if err := (NewPerson{ID: id, Name: n.Name, Email: n.Email}).check("client"); err != nil {
		return nil, err
	}
	secret := random("", 32)
	out := &ClientSecrets{Secret: secret}
	if n.WebhookURL != "" {
		out.WebhookKey = random("whk_", 32)
	}
	err := s.do(ctx, a, "create API client", iec, func(tx Tx, p *principal) error {
		if err := s.ownExporter(p, iec); err != nil {
			return err
		}
		x, err := ext(tx)
		if err != nil {
			return err
		}
		np := s.newPerson(NewPerson{ID: id, Name: n.Name, Email: n.Email}, RoleApplicant, iec, PersonActive)
		np.ApprovedBy = p.actor.ID
		if err := insertPerson(tx, np); err != nil {
			return err
		}
		c := &APIClient{ID: id, IEC: iec, Name: np.Name, SecretHash: TokenHash(secret), WebhookURL: n.WebhookURL,
			WebhookKey: out.WebhookKey, By: p.actor.ID, Created: s.now()}
		if err := x.PutAPIClient(c); err != nil {
			return err
		}
		out.Client = c
		return s.audit(tx, p.String(), "client.create", iec, map[string]string{"client": id, "webhookUrl": n.WebhookURL})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeAPIClient revokes an API client of the administrator's IEC: its
// tokens stop working and it receives no more webhooks.
func (s *Service) RevokeAPIClient(ctx context.Context, a Actor, iec, id string) error {
	return s.do(ctx, a, "revoke API client", iec, func(tx Tx, p *principal) error {
		if err := s.ownExporter(p, iec); err != nil {
			return err
		}
		x, err := ext(tx)
		if err != nil {
			return err
		}
		c, err := x.APIClient(id)
		if err != nil {
			return err
		}
		if c.IEC != iec {
			return forbidden("client %s is not a client of IEC %s", id, iec)
		}
		now := s.now()
		c.Revoked = now
		if err := x.PutAPIClient(c); err != nil {
			return err
		}
		if per, err := tx.Person(c.ID); err == nil {
			per.Status, per.Updated = PersonInactive, now
			if err := tx.PutPerson(per); err != nil {
				return err
			}
		}
		return s.audit(tx, p.String(), "client.revoke", iec, map[string]string{"client": id})
	})
}

// ClientToken is the OAuth2 client-credentials grant: a valid client id
// and secret of a client not revoked give an access token (an applicant
// of the client's IEC) for ClientTokenTTL. A refusal is audited.
func (s *Service) ClientToken(ctx context.Context, id, secret string) (string, *Credential, error) {
	tok := random("ecc_", 32)
	var out *Credential
	var refused bool
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		refused = false
		x, err := ext(tx)
		if err != nil {
			return err
		}
		c, err := x.APIClient(id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if c == nil || subtle.ConstantTimeCompare([]byte(TokenHash(secret)), []byte(c.SecretHash)) != 1 || !c.Revoked.IsZero() {
			refused = true
			return fmt.Errorf("%w: unknown client, wrong secret or revoked client", ErrUnauthenticated)
		}
		now := s.now()
		out = &Credential{Hash: TokenHash(tok), Person: c.ID, Role: RoleApplicant, Client: c.ID, By: "oauth", Created: now, Expires: now.Add(ClientTokenTTL)}
		return x.PutCredential(out)
	})
	if refused {
		_ = s.cfg.Store.Update(ctx, func(tx Tx) error {
			return tx.Audit(AuditEntry{Time: s.now(), Actor: "client:" + clipID(id), Action: "issuance.token-refused", Subject: clipID(id)})
		})
	}
	if err != nil {
		return "", nil, err
	}
	return tok, out, nil
}

// WebhookClients lists the API clients of an IEC that receive webhooks
// (not revoked, with a webhook URL), for an EventSink inside tx.
func WebhookClients(tx Tx, iec string) ([]*APIClient, error) {
	x, err := ext(tx)
	if err != nil {
		return nil, nil //nolint:nilerr // no such storage: no clients
	}
	all, err := x.APIClients(iec)
	if err != nil {
		return nil, err
	}
	var out []*APIClient
	for _, c := range all {
		if c.Revoked.IsZero() && c.WebhookURL != "" {
			out = append(out, c)
		}
	}
	return out, nil
}

// LookupAPIClient reads an API client (for the webhook deliverer).
func (s *Service) LookupAPIClient(ctx context.Context, id string) (*APIClient, error) {
	var c *APIClient
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		x, err := ext(tx)
		if err != nil {
			return err
		}
		c, err = x.APIClient(id)
		return err
	})
	return c, err
}
