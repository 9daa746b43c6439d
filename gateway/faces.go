package gateway

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// This file wires the customs face (package gateway/customs) and the
// public verification face (package gateway/verify) into a node built from
// a configuration. The Node itself knows neither: they reach it through
// Options hooks (Handlers, OnAccepted, RegisterEntries, PartnerRoutes,
// LocalRoutes), and Instance serves their listeners.

// TokenAudience is the aud claim of the customs API's access tokens.
const TokenAudience = "ecogate-customs"

// TokenIssuerName is the iss claim of the customs API's access tokens
// issued by the node of country.
func TokenIssuerName(country string) string {
	return "urn:ecogate:" + strings.ToLower(country) + ":customs"
}

// issuerDirectory finds partner nodes for verification queries in the
// partner registry: their partner API endpoint, and their receipt trust
// (document-signing anchors and TLS CAs, with CRLs) for the signed answers.
type issuerDirectory struct{ dir PartnerDirectory }

// IssuerNode implements customs.IssuerDirectory.
func (d issuerDirectory) IssuerNode(country string) (customs.IssuerNode, bool) {
	p := d.dir.Lookup(strings.ToUpper(country))
	if p == nil || p.Endpoint == "" {
		return customs.IssuerNode{}, false
	}
	return customs.IssuerNode{Endpoint: p.Endpoint, Trust: p.ReceiptTrust()}, true
}

// partnerTransport sends a request to a partner's node with the mutual-TLS
// client the delivery workers use for it (the node's client certificate,
// the partner's TLS CAs as roots, reloaded with the registry). The partner
// is the one whose endpoint has the request's scheme and host.
type partnerTransport struct{ n *Node }

// RoundTrip implements http.RoundTripper.
func (t partnerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, p := range t.n.opt.Partners.All() {
		u, err := url.Parse(p.Endpoint)
		if err != nil || !strings.EqualFold(u.Scheme, req.URL.Scheme) || !strings.EqualFold(u.Host, req.URL.Host) {
			continue
		}
		tr := t.n.clientFor(p).Transport
		if tr == nil {
			tr = http.DefaultTransport
		}
		return tr.RoundTrip(req)
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, fmt.Errorf("no partner in the registry has its endpoint at %s://%s", req.URL.Scheme, req.URL.Host)
}

// DecisionHandler is the InboundHandler of message kind "decision" (M6):
// an importing customs' signed decision on a certificate this node issued
// is verified against the sending partner's document-signing trust and
// recorded in issued (customs.ApplyDecision), where the local API shows it
// with the certificate. A bad signature, a decision about a certificate
// this node did not issue, or one whose import country is not the sender
// gets a failed receipt; a store error gets none (the sender retries).
func DecisionHandler(issued customs.DecisionSink, now func() time.Time) InboundHandler {
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, p *Partner, env *Envelope) (*InboundResult, error) {
		o, rep, _, err := customs.ApplyDecision(ctx, issued, p.DocumentTrust, p.Country, env.MessageID, env.Content, now().UTC())
		switch {
		case err == nil:
			res := &InboundResult{Outcome: Delivered, Report: rep, CertificateNumber: o.CertificateNumber}
			if rec, err := issued.Get(ctx, o.CertificateNumber); err == nil {
				res.Version = rec.Version
			}
			return res, nil
		case o != nil && (errors.Is(err, customs.ErrNotOurs) || !strings.EqualFold(o.ImportCountry, p.Country)):
			return &InboundResult{Outcome: FailedDelivery, Report: rep, Error: err.Error(), CertificateNumber: o.CertificateNumber}, nil
		case o == nil && rep != nil:
			out := FailedDelivery
			if rep.Valid() {
				out = DeliveredNotReadable // signed and trusted, but not an ImportOutcome
			}
			return &InboundResult{Outcome: out, Report: rep, Error: err.Error()}, nil
		default:
			return nil, err
		}
	}
}

// faces are the customs and public faces of an Instance and how to serve
// them.
type faces struct {
	customs    *customs.Service
	verify     *verify.Service
	customsTLS *tls.Config
	publicTLS  *tls.Config
	localTLS   *tls.Config // the local API's, when local.tlsCert is set
	// certs are the faces' certificates for the expiry watch
	// (customs.tokenCert, customs.clientCAs, verify.tlsCert).
	certs []WatchedCertificate
	// clientCRLs are customs.clientCRLs, for the CRL staleness watch (nil
	// when there are none).
	clientCRLs *crlFiles
}

// facesConfig is what openFaces needs from Config.Open.
type facesConfig struct {
	cfg      *Config
	st       *Engine
	dir      PartnerDirectory
	receipts *JWSSigner
	signer   DocumentSigner
	lists    *schema.CodeLists
	server   *tls.Certificate
	log      *slog.Logger
}

// hooks sets the node options that connect the faces to the node. The
// hooks read f's fields only once the node runs (after openFaces).
func (f *faces) hooks(o *Options, fc facesConfig) {
	issued := fc.st.Issued
	country := strings.ToUpper(fc.cfg.Node.Country)
	log := fc.log.With("component", "customs")
	o.Handlers = map[string]InboundHandler{customs.KindDecision: DecisionHandler(issued, nil)}
	o.OnAccepted = func(ctx context.Context, from, messageID string, c *schema.Certificate, report certs.Report, chain []*x509.Certificate) {
		if err := f.customs.StoreView(ctx, from, c, report, chain...); err != nil {
			// Not fatal: the first check builds the view from the inbox.
			log.Warn("customs check view not stored", "certificate", c.Ref().String(), "message", messageID, "err", err)
		}
	}
	if viewsWithInbox(o.Inbox, fc.st) {
		// The views live in the inbox's store: stored in the transaction
		// that accepts the message.
		o.CheckView = func(from string, c *schema.Certificate, report certs.Report, chain []*x509.Certificate) ([]byte, []byte, error) {
			return f.customs.EncodeView(from, c, report, chain...)
		}
	}
	o.RegisterEntries = func(_ string, c *schema.Certificate) ([]store.IssuedCert, error) {
		return customs.IssuedRecords(c)
	}
	partnerCountry := func(r *http.Request) string {
		if p := PartnerOf(r); p != nil {
			return p.Country
		}
		return ""
	}
	o.PartnerRoutes = func(r chi.Router) {
		r.Method(http.MethodPost, "/verification-queries", customs.QueryHandler(country, issued, fc.receipts, nil, partnerCountry, log))
	}
	o.LocalRoutes = func(_, api chi.Router) {
		api.Handle("/issued/{number}", customs.IssuedRoutesWithLinks(issued, f.verify.QRLink))
		clients := customs.ClientRoutes(fc.st.Customs, fc.st.Audit, nil)
		api.Handle("/customs-clients", clients)
		api.Handle("/customs-clients/*", clients)
	}
}

// open builds the customs service and the public page for node n.
func (f *faces) open(n *Node, fc facesConfig) error {
	c := fc.cfg
	var tokenKey crypto.Signer = fc.receipts.Key
	if c.Customs.TokenKey != "" {
		k, chain, err := loadTokenKey(c.Customs.TokenKey, c.Customs.TokenCert, os.Getenv(c.Customs.TokenPasswordEnv))
		if err != nil {
			return fmt.Errorf("customs.tokenKey/customs.tokenCert: %w", err)
		}
		tokenKey = k
		f.certs = append(f.certs, WatchCertificates("customs.tokenCert", "", chain...)...)
	}
	kid, err := keyID(tokenKey.Public())
	if err != nil {
		return fmt.Errorf("customs.tokenKey: %w", err)
	}
	iss := TokenIssuerName(c.Node.Country)
	qc := &customs.QueryClient{
		HTTP:    &http.Client{Transport: partnerTransport{n}},
		Issuers: issuerDirectory{fc.dir},
		Cache:   fc.st.Customs,
		Timeout: time.Duration(c.Customs.QueryTimeout),
		TTL:     time.Duration(c.Customs.QueryCacheTTL),
	}
	crls, err := newCRLFiles("customs.clientCRLs", c.Customs.ClientCRLs, time.Duration(c.Registry.PollInterval), fc.log.With("component", "customs"))
	if err != nil {
		return err
	}
	o := customs.Options{
		Country:       c.Node.Country,
		Store:         fc.st.Customs,
		Inbox:         fc.st.CustomsInbox,
		Tokens:        &certs.TokenIssuer{Key: tokenKey, KeyID: kid, Issuer: iss, TTL: time.Duration(c.Customs.TokenTTL)},
		TokenVerifier: &certs.TokenVerifier{Key: tokenKey.Public(), Issuer: iss, Audience: TokenAudience, Skew: 30 * time.Second},
		Audience:      TokenAudience,
		Query:         qc,
		PullPartner: func(country string) bool {
			p := fc.dir.Lookup(country)
			return p != nil && p.Pull
		},
		// Checks re-evaluate the stored signer chain against the partner's
		// document-signing trust and CRLs as the registry holds them now.
		SignerTrust: func(country string) certs.TrustStore {
			if p := fc.dir.Lookup(country); p != nil {
				return p.DocumentTrust
			}
			return nil
		},
		CodeLists: fc.lists,
		Logger:    fc.log.With("component", "customs"),
		Audit:     fc.st.Audit,
		Metrics:   n.Registry(),
	}
	if crls != nil {
		o.ClientCRLs = crls.get
		f.clientCRLs = crls
	}
	if fc.signer != nil {
		o.Signer = fc.signer // decisions are signed with the document-signing key; without one they are recorded only
	}
	if f.customs, err = customs.New(o); err != nil {
		return err
	}
	vo := verify.Options{
		Country:               c.Node.Country,
		Issuer:                c.Node.Name,
		Register:              fc.st.Issued,
		BaseURL:               c.Verify.PublicURL,
		Rate:                  c.Verify.Rate,
		Burst:                 c.Verify.Burst,
		MissesBeforeChallenge: c.Verify.MissesBeforeChallenge,
		MissWindow:            time.Duration(c.Verify.MissWindow),
		Logger:                fc.log.With("component", "verify"),
	}
	if vo.BaseURL == "" && c.Listen.Public != "" {
		scheme := "http"
		if c.Verify.TLSCert != "" {
			scheme = "https"
		}
		vo.BaseURL = scheme + "://" + loopbackIfWildcard(c.Listen.Public)
		if host, _, _ := net.SplitHostPort(c.Listen.Public); !isLoopback(host) {
			fc.log.Warn("verify.publicURL is empty: QR links point at "+vo.BaseURL+"; set it to the URL the public reaches the page at",
				"listen.public", c.Listen.Public)
		}
	}
	if h := c.Verify.ClientAddrHeader; h != "" {
		vo.ClientAddr = forwardedAddr(h)
	}
	if f.verify, err = verify.New(vo); err != nil {
		return err
	}
	if c.Listen.Customs != "" {
		f.customsTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*fc.server}}
		var cas []*x509.Certificate
		if f.customsTLS.ClientCAs, cas, err = loadClientCAs(c.Customs.ClientCAs); err != nil {
			return err
		}
		f.certs = append(f.certs, WatchCertificates("customs.clientCAs", "", cas...)...)
		if f.customsTLS.ClientCAs != nil {
			// Asked for and verified when given: OAuth2 clients keep
			// connecting without one (customs/mtls.go).
			f.customsTLS.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	if c.Local.TLSCert != "" {
		pc, err := loadTLS("local.tlsCert/local.tlsKey", c.Local.TLSCert, c.Local.TLSKey)
		if err != nil {
			return err
		}
		f.localTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*pc}}
		f.certs = append(f.certs, WatchCertificates("local.tlsCert", "", tlsChain(pc)...)...)
	}
	if c.Verify.TLSCert != "" {
		pc, err := loadTLS("verify.tlsCert/verify.tlsKey", c.Verify.TLSCert, c.Verify.TLSKey)
		if err != nil {
			return err
		}
		f.publicTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*pc}}
		f.certs = append(f.certs, WatchCertificates("verify.tlsCert", "", tlsChain(pc)...)...)
	}
	return nil
}

// loadTokenKey loads the token-signing key: a PEM/PKCS#8 key alone (the
// node verifies its own tokens with the public key, no certificate is
// needed), or with certFile (which must match it), or a PKCS#12 file; it
// returns the certificate chain of the last two (nil for a key alone).
func loadTokenKey(keyFile, certFile, password string) (crypto.Signer, []*x509.Certificate, error) {
	ext := strings.ToLower(filepath.Ext(keyFile))
	if certFile != "" || ext == ".p12" || ext == ".pfx" {
		return certs.LoadKeyPair(keyFile, certFile, "", password)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read key: %w", err)
	}
	k, err := certs.ParsePrivateKey(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return k, nil, nil
}

// keyID is the token key's kid: the first 16 hex digits of the SHA-256 of
// its SubjectPublicKeyInfo.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:8]), nil
}

// loopbackIfWildcard turns a listen address on every interface into one
// on 127.0.0.1 (for links printed to local users).
func loopbackIfWildcard(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// isLoopback reports whether host names the loopback interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// forwardedAddr returns the client address from header h set by a trusted
// reverse proxy (the last, proxy-added entry of a list such as
// X-Forwarded-For), or the connection's address when it is missing.
func forwardedAddr(h string) func(*http.Request) string {
	return func(r *http.Request) string {
		if v := r.Header.Values(h); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a := strings.TrimSpace(last); a != "" {
				return a
			}
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
}

// viewsWithInbox reports whether the customs check views live in the
// inbox's store (the same bbolt file or PostgreSQL database), so that
// accepting a message can store its view in the same transaction.
func viewsWithInbox(in Inbox, st *Engine) bool {
	switch in := in.(type) {
	case *store.Inbox:
		return st.DB != nil && in.DB() == st.DB
	case *store.PGInbox:
		return st.PG != nil && in.PG() == st.PG
	}
	return false
}
