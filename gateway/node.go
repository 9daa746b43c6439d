package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/ids"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// Options configure a Node. Outbox, Inbox, Audit, Partners, Verifier,
// Receipts and ReceiptVerifier are required.
type Options struct {
	// Country is this node's ISO 3166-1 alpha-2 code; Name is for people.
	Country string
	Name    string
	// PublicURL is the base URL of this node's partner API as partners see
	// it (https://host:port/eco/v1); it appears in the profile and in
	// tracking links.
	PublicURL string
	// LocalURL is the base URL of the local API (http://127.0.0.1:8080), for
	// tracking links printed to local users.
	LocalURL string
	// Agreements are advertised in the profile.
	Agreements []string

	Outbox   Outbox
	Inbox    Inbox
	Audit    AuditLog
	Partners PartnerDirectory

	// Verifier checks signatures of inbound documents (and of documents
	// handed to the local API already signed, against OwnTrust).
	Verifier DocumentVerifier
	// OwnTrust holds this node's own document-signing anchors; documents
	// submitted already signed must chain to them. Nil refuses signed
	// submissions.
	OwnTrust certs.TrustStore
	// Signer signs documents submitted unsigned; nil refuses them.
	Signer DocumentSigner
	// Validator validates decoded certificates; nil skips validation beyond
	// the strict decoder.
	Validator Validator
	// Receipts signs receipts and the profile; ReceiptVerifier checks the
	// partners' receipts.
	Receipts        ReceiptSigner
	ReceiptVerifier ReceiptVerifier

	// ClientCertificate is presented when pushing to partners (mutual TLS).
	ClientCertificate *tls.Certificate
	// ServerCertificate is the partner API's TLS certificate (for TLSConfig
	// and the profile).
	ServerCertificate *tls.Certificate
	// HTTPClient, if set, returns the client used to reach a partner
	// (tests); by default one mutual-TLS client per partner is built.
	HTTPClient func(p *Partner) *http.Client

	// Clock gives the time; time.Now when nil.
	Clock Clock
	// Logger receives structured logs; discarded when nil.
	Logger *slog.Logger
	// Registry receives the node's metrics; a new one when nil.
	Registry *prometheus.Registry

	// MaxDocumentBytes caps an e-CO (4 MiB when zero); the envelope limit
	// follows from it (base64 plus 64 KiB of header).
	MaxDocumentBytes int64
	// MaxDepth caps XML element nesting (32 when zero).
	MaxDepth int

	// Workers is the number of concurrent deliveries (16 when zero).
	Workers int
	// PollInterval is how often the delivery loop looks for due messages
	// when nothing wakes it (200 ms when zero).
	PollInterval time.Duration
	// Timeout bounds one delivery request (30 s when zero).
	Timeout time.Duration
	// Lease is how long a claimed message stays with this node before it is
	// due again if the node dies mid-delivery (Timeout + 30 s when zero).
	Lease time.Duration

	// PullFrom lists partners that keep our messages for us to fetch (they
	// have us in pull mode); Serve pulls from them every PullInterval
	// (30 s when zero).
	PullFrom     []string
	PullInterval time.Duration

	// Handlers take inbound messages of other kinds than e-COs, by
	// envelope kind: for example "decision", the importing customs'
	// outcome (M6). A handler must verify the content against the
	// partner's DocumentTrust and read only the verified element.
	Handlers map[string]InboundHandler
	// OnAccepted, if set, is called after an inbound e-CO was stored as
	// accepted (for example to build the customs check view), with the
	// verification report and the signer chain it accepted (signer first).
	OnAccepted func(ctx context.Context, from, messageID string, c *schema.Certificate, report certs.Report, chain []*x509.Certificate)
	// CheckView, if set, gives the customs check view (stored form) of an
	// inbound e-CO about to be stored as accepted; the inbox stores it in
	// the transaction that accepts the message (store.InRecord.CheckView:
	// one commit before the receipt goes out instead of two), so set it
	// only when the views live in the inbox's store. OnAccepted is then
	// not called for that message: it is the fallback for a view not
	// built here. It also gives the signer chain the view refers to by its
	// SHA-256 (store.InRecord.ViewChain; nil without one).
	CheckView func(from string, c *schema.Certificate, report certs.Report, chain []*x509.Certificate) (view, viewChain []byte, err error)
	// RegisterEntries, if set, gives the entries of the register of
	// issued certificates for an e-CO this node signed or checked (the
	// certificate, and the one it replaces marked replaced): Submit writes
	// them in the same transaction as the messages and their audit
	// entries, so a queued certificate is always registered and a refused
	// or failed submission registers nothing. Its error refuses the
	// submission before anything is written.
	RegisterEntries func(kind string, c *schema.Certificate) ([]store.IssuedCert, error)
	// OnSubmitted, if set, is called for an e-CO this node signed or
	// checked, once its messages (and register entries) are committed; its
	// error is the submission's error, though the messages stay queued.
	// Anything that must be stored with the submission belongs in
	// RegisterEntries instead.
	OnSubmitted func(ctx context.Context, kind string, c *schema.Certificate, signed []byte) error
	// PartnerRoutes mounts more routes on the partner API under /eco/v1,
	// behind the client-certificate check (PartnerOf names the caller).
	PartnerRoutes func(r chi.Router)
	// LocalToken, when set, is the bearer token every local API request
	// but /healthz and /readyz must carry (compared in constant time).
	LocalToken string
	// LocalRoutes mounts more routes on the local API: on its root (e.g.
	// /customs/v1) or under /api/v1 (api).
	LocalRoutes func(root, api chi.Router)
	// SelfAuthPrefixes are local API path prefixes whose handlers
	// authenticate every request themselves (the issuance API): the local
	// token check lets them through.
	SelfAuthPrefixes []string
	// LocalKinds delivers outbox messages of these kinds (e.g. the
	// issuance's "webhook" and "mail") in-process instead of to a partner:
	// nil error settles the message as delivered, an error retries it by
	// LocalRetry (suspended when spent), like a partner delivery.
	LocalKinds map[string]LocalDeliverer
	// LocalRetry is the retry policy of LocalKinds; partners.DefaultRetryPolicy's
	// fields where zero.
	LocalRetry partners.RetryPolicy

	// Certificates, if set, lists the node's own certificates besides
	// ServerCertificate and ClientCertificate (signing, receipts, customs
	// token, ...), for ecogate_certificate_expiry_timestamp_seconds and the
	// expiry warnings; it is called at every scrape and check. The
	// partners' certificates come from Partners.
	Certificates func() []WatchedCertificate
	// CertificateWarning is how long before its expiry a certificate is
	// logged (WARN, once a day by Clock; an expired one ERROR);
	// DefaultCertificateWarning (30 days) when zero.
	CertificateWarning time.Duration
	// CertificateCheckInterval is how often Serve looks for certificates
	// and CRLs to log; DefaultCertificateCheckInterval (an hour) when zero.
	CertificateCheckInterval time.Duration
	// CRLs, if set, lists the node's own CRLs (signing.trust,
	// customs.clientCRLs, issuance.officerAnchors, ...), for
	// ecogate_crl_next_update_timestamp_seconds and the staleness
	// warnings; it is called at every scrape and check. The partners'
	// CRLs come from Partners.
	CRLs func() []WatchedCRL
	// CRLWarning is how long before its NextUpdate a CRL is logged (WARN,
	// once a day by Clock; a stale one ERROR), or half the CRL's validity
	// when that is shorter; DefaultCRLWarning (two days) when zero.
	CRLWarning time.Duration
}

// InboundHandler handles an inbound message of a kind given in
// Options.Handlers. It returns the receipt's outcome; an error means the
// message could not be handled now (no receipt: the sender retries).
type InboundHandler func(ctx context.Context, p *Partner, env *Envelope) (*InboundResult, error)

// InboundResult is what an InboundHandler decided.
type InboundResult struct {
	Outcome  Outcome
	Report   certs.Report
	Findings schema.Findings
	// Error says, for people, why the message was not accepted.
	Error string
	// CertificateNumber and Version, read from the verified document, go
	// into the receipt.
	CertificateNumber string
	Version           int
}

// Node is one ecogate node: the partner API, the local API, and the
// delivery workers. Create it with New; it is safe for concurrent use.
type Node struct {
	opt     Options
	country string
	clock   Clock
	log     *slog.Logger
	m       *metrics
	ids     *ids.Generator
	decode  schema.DecodeOptions

	maxDoc      int64
	maxEnvelope int64

	kick     chan struct{}
	inflight atomic.Int64
	running  atomic.Bool

	clientsMu sync.Mutex
	clients   map[string]clientEntry

	ownCerts []WatchedCertificate // ServerCertificate's and ClientCertificate's chains
	expiry   *certWatch
	crlStale *crlWatch
}

type clientEntry struct {
	p *Partner
	c *http.Client
}

// New checks the options and returns a Node. It starts nothing: serve the
// handlers and run RunDelivery (or use Serve).
func New(opt Options) (*Node, error) {
	var missing []string
	for _, c := range []struct {
		name string
		nil  bool
	}{
		{"Country", opt.Country == ""}, {"Outbox", opt.Outbox == nil}, {"Inbox", opt.Inbox == nil},
		{"Audit", opt.Audit == nil}, {"Partners", opt.Partners == nil}, {"Verifier", opt.Verifier == nil},
		{"Receipts", opt.Receipts == nil}, {"ReceiptVerifier", opt.ReceiptVerifier == nil},
	} {
		if c.nil {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("gateway: options missing: %s", strings.Join(missing, ", "))
	}
	if opt.Clock == nil {
		opt.Clock = ClockFunc(time.Now)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Registry == nil {
		opt.Registry = prometheus.NewRegistry()
	}
	if opt.MaxDocumentBytes <= 0 {
		opt.MaxDocumentBytes = certs.DefaultMaxBytes
	}
	if opt.Workers <= 0 {
		opt.Workers = 16
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 200 * time.Millisecond
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.PullInterval <= 0 {
		opt.PullInterval = 30 * time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = opt.Timeout + 30*time.Second
	}
	if opt.CertificateWarning <= 0 {
		opt.CertificateWarning = DefaultCertificateWarning
	}
	if opt.CRLWarning <= 0 {
		opt.CRLWarning = DefaultCRLWarning
	}
	if opt.CertificateCheckInterval <= 0 {
		opt.CertificateCheckInterval = DefaultCertificateCheckInterval
	}
	opt.Country = strings.ToUpper(opt.Country)
	n := &Node{
		opt:         opt,
		country:     opt.Country,
		clock:       opt.Clock,
		log:         opt.Logger.With("node", opt.Country),
		decode:      schema.DecodeOptions{MaxBytes: opt.MaxDocumentBytes, MaxDepth: opt.MaxDepth},
		maxDoc:      opt.MaxDocumentBytes,
		maxEnvelope: opt.MaxDocumentBytes*4/3 + 64<<10,
		kick:        make(chan struct{}, 1),
		clients:     map[string]clientEntry{},
	}
	n.ids = ids.New(n.clock.Now)
	n.ownCerts = append(WatchCertificates("tls.cert", "", tlsChain(opt.ServerCertificate)...),
		WatchCertificates("tls.clientCert", "", tlsChain(opt.ClientCertificate)...)...)
	n.expiry = &certWatch{n: n, window: opt.CertificateWarning}
	n.crlStale = &crlWatch{n: n, window: opt.CRLWarning}
	n.m = newMetrics(opt.Registry, opt.Outbox)
	opt.Registry.MustRegister(newCertCollector(n), newCRLCollector(n))
	return n, nil
}

// Country returns the node's country code.
func (n *Node) Country() string { return n.country }

// Registry returns the node's metrics registry.
func (n *Node) Registry() *prometheus.Registry { return n.m.reg }

// TLSConfig returns the partner API's server TLS configuration: TLS 1.2 or
// newer, HTTP/2 or HTTP/1.1 by ALPN, the server certificate, and a client certificate required and
// verified against the current partners' TLS CAs (read at every handshake,
// so a registry reload takes effect without a restart).
func (n *Node) TLSConfig() (*tls.Config, error) {
	if n.opt.ServerCertificate == nil {
		return nil, errors.New("gateway: no server certificate configured (tls.cert, tls.key)")
	}
	base := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*n.opt.ServerCertificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		// HTTP/2 (then HTTP/1.1): the configuration GetConfigForClient
		// returns is the one the handshake uses, so ALPN must be here.
		NextProtos: []string{"h2", "http/1.1"},
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			c.ClientCAs = n.opt.Partners.ClientCAs()
			return c, nil
		},
	}, nil
}

// clientFor returns the mutual-TLS HTTP client for a partner.
func (n *Node) clientFor(p *Partner) *http.Client {
	if n.opt.HTTPClient != nil {
		return n.opt.HTTPClient(p)
	}
	n.clientsMu.Lock()
	defer n.clientsMu.Unlock()
	if e, ok := n.clients[p.Country]; ok && e.p == p {
		return e.c
	}
	if e, ok := n.clients[p.Country]; ok {
		e.c.CloseIdleConnections()
	}
	roots := x509.NewCertPool()
	for _, c := range p.TLSCAs {
		roots.AddCert(c)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, VerifyConnection: n.verifyPartnerServer(p)}
	if n.opt.ClientCertificate != nil {
		tc.Certificates = []tls.Certificate{*n.opt.ClientCertificate}
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        n.opt.Workers * 2,
		MaxIdleConnsPerHost: n.opt.Workers,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	c := &http.Client{Transport: tr, Timeout: n.opt.Timeout}
	n.clients[p.Country] = clientEntry{p, c}
	return c
}

// audit appends an audit entry; a failure is logged (the decision it
// records has already been made durable elsewhere).
func (n *Node) audit(ctx context.Context, actor, action, subject string, details map[string]string) {
	if _, err := n.opt.Audit.Append(context.WithoutCancel(ctx), store.Entry{Actor: actor, Action: action, Subject: subject, Details: details}); err != nil {
		n.log.Error("audit append failed", "action", action, "subject", subject, "err", err)
	}
}

// Kick wakes the delivery loop (after an enqueue or a manual retry).
func (n *Node) Kick() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Serve runs the partner API (mutual TLS) on partnerLn, the local API on
// localLn, the delivery loop and the certificate expiry and CRL staleness watch until ctx ends, then shuts down gracefully.
// Either listener may be nil.
func (n *Node) Serve(ctx context.Context, partnerLn, localLn net.Listener) error {
	if localLn != nil && n.opt.LocalToken == "" && !IsLoopbackAddr(localLn.Addr().String()) {
		return fmt.Errorf("listen.local: %s listens beyond loopback and the local API has no authentication: set local.tokenFile (or local.token), or listen on 127.0.0.1", localLn.Addr())
	}
	errc := make(chan error, 3)
	var servers []*http.Server
	errLog := slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)
	if partnerLn != nil {
		tc, err := n.TLSConfig()
		if err != nil {
			return err
		}
		s := &http.Server{Handler: n.PartnerHandler(), TLSConfig: tc, ErrorLog: errLog,
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
		servers = append(servers, s)
		go func() { errc <- s.ServeTLS(partnerLn, "", "") }()
		n.log.Info("partner API listening (mutual TLS)", "addr", partnerLn.Addr().String())
	}
	if localLn != nil {
		s := &http.Server{Handler: n.LocalHandler(), ErrorLog: errLog, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		go func() { errc <- s.Serve(localLn) }()
		n.log.Info("local API listening", "addr", localLn.Addr().String(), "bearerToken", n.opt.LocalToken != "")
	}
	dctx, dcancel := context.WithCancel(ctx)
	ddone := make(chan struct{})
	pdone := make(chan struct{})
	cdone := make(chan struct{})
	go func() { n.RunDelivery(dctx); close(ddone) }()
	go func() { n.runPull(dctx, n.opt.PullFrom, n.opt.PullInterval); close(pdone) }()
	go func() { n.runCertWatch(dctx); close(cdone) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	dcancel()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	<-ddone
	<-pdone
	<-cdone
	return err
}
