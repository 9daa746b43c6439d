package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// Config is the node configuration file (YAML) that `ecogate serve
// --config FILE` reads. Relative paths resolve against the file's
// directory. ExampleConfig shows every key.
type Config struct {
	Node struct {
		// Country is this node's ISO 3166-1 alpha-2 code (required).
		Country string `yaml:"country"`
		// Name is the node's name for people (required).
		Name string `yaml:"name"`
		// PublicURL is the partner API's base URL as partners reach it.
		PublicURL string `yaml:"publicURL"`
		// Agreements are advertised in the profile.
		Agreements []string `yaml:"agreements"`
	} `yaml:"node"`
	Listen struct {
		// Partner is the mutual-TLS partner API address (required).
		Partner string `yaml:"partner"`
		// Local is the local API, metrics and health address (default 127.0.0.1:8080).
		Local string `yaml:"local"`
	} `yaml:"listen"`
	TLS struct {
		Cert       string `yaml:"cert"`
		Key        string `yaml:"key"`
		ClientCert string `yaml:"clientCert"`
		ClientKey  string `yaml:"clientKey"`
	} `yaml:"tls"`
	Signing struct {
		Key         string   `yaml:"key"`
		Cert        string   `yaml:"cert"`
		Chain       string   `yaml:"chain"`
		PasswordEnv string   `yaml:"passwordEnv"`
		Trust       []string `yaml:"trust"`
	} `yaml:"signing"`
	Receipts struct {
		Key         string `yaml:"key"`
		Cert        string `yaml:"cert"`
		Chain       string `yaml:"chain"`
		PasswordEnv string `yaml:"passwordEnv"`
	} `yaml:"receipts"`
	// Data is the bbolt data file (required).
	Data string `yaml:"data"`
	// Partners is the partner registry file (required).
	Partners string `yaml:"partners"`
	// CodeLists is a directory of full code lists (optional).
	CodeLists string `yaml:"codelists"`
	Limits    struct {
		MaxDocumentBytes int64 `yaml:"maxDocumentBytes"`
		MaxDepth         int   `yaml:"maxDepth"`
	} `yaml:"limits"`
	Delivery struct {
		Workers      int      `yaml:"workers"`
		PollInterval Duration `yaml:"pollInterval"`
		Timeout      Duration `yaml:"timeout"`
		Lease        Duration `yaml:"lease"`
	} `yaml:"delivery"`
	Pull struct {
		From     []string `yaml:"from"`
		Interval Duration `yaml:"interval"`
	} `yaml:"pull"`
	Registry struct {
		// PollInterval is how often the partner registry files are checked
		// for changes (SIGHUP reloads at once); default 5s.
		PollInterval Duration `yaml:"pollInterval"`
	} `yaml:"registry"`
	Log struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`

	path string
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 200ms, 30s, 5m)", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: a duration must not be negative", n.Line)
	}
	*d = Duration(v)
	return nil
}

// Path returns the file the configuration was read from.
func (c *Config) Path() string { return c.path }

var countryRE = regexp.MustCompile(`^[A-Z]{2}$`)

// LoadConfig reads and checks a node configuration file. Unknown keys are
// refused; every problem names its key.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.path = path
	return c, nil
}

// ParseConfig parses configuration YAML; relative paths resolve against
// dir.
func ParseConfig(b []byte, dir string) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, err
	}
	var probs []string
	bad := func(key, format string, a ...any) { probs = append(probs, key+": "+fmt.Sprintf(format, a...)) }
	c.Node.Country = strings.ToUpper(strings.TrimSpace(c.Node.Country))
	if !countryRE.MatchString(c.Node.Country) {
		bad("node.country", "give this node's ISO 3166-1 alpha-2 code, e.g. IN")
	}
	if strings.TrimSpace(c.Node.Name) == "" {
		bad("node.name", "required")
	}
	if c.Listen.Partner == "" {
		bad("listen.partner", "required (the mutual-TLS partner API address, e.g. :8443)")
	}
	if c.Listen.Local == "" {
		c.Listen.Local = "127.0.0.1:8080"
	}
	for _, a := range []struct{ key, v string }{{"listen.partner", c.Listen.Partner}, {"listen.local", c.Listen.Local}} {
		if a.v != "" {
			if _, _, err := net.SplitHostPort(a.v); err != nil {
				bad(a.key, "%q is not HOST:PORT", a.v)
			}
		}
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	need := func(key string, p *string) {
		if *p == "" {
			bad(key, "required")
			return
		}
		*p = abs(*p)
	}
	opt := func(p *string) { *p = abs(*p) }
	need("tls.cert", &c.TLS.Cert)
	need("tls.key", &c.TLS.Key)
	need("tls.clientCert", &c.TLS.ClientCert)
	need("tls.clientKey", &c.TLS.ClientKey)
	need("receipts.key", &c.Receipts.Key)
	opt(&c.Receipts.Cert)
	opt(&c.Receipts.Chain)
	opt(&c.Signing.Key)
	opt(&c.Signing.Cert)
	opt(&c.Signing.Chain)
	if c.Signing.Key == "" && (c.Signing.Cert != "" || c.Signing.Chain != "") {
		bad("signing.key", "required when signing.cert or signing.chain is given")
	}
	for i := range c.Signing.Trust {
		c.Signing.Trust[i] = abs(c.Signing.Trust[i])
	}
	need("data", &c.Data)
	need("partners", &c.Partners)
	opt(&c.CodeLists)
	for i, cc := range c.Pull.From {
		c.Pull.From[i] = strings.ToUpper(cc)
		if !countryRE.MatchString(c.Pull.From[i]) {
			bad(fmt.Sprintf("pull.from[%d]", i), "%q is not a country code", cc)
		}
	}
	if c.Limits.MaxDocumentBytes < 0 || (c.Limits.MaxDocumentBytes > 0 && c.Limits.MaxDocumentBytes < 4096) {
		bad("limits.maxDocumentBytes", "must be at least 4096 (or 0 for the default 4 MiB)")
	}
	if c.Limits.MaxDepth < 0 {
		bad("limits.maxDepth", "must not be negative")
	}
	if c.Delivery.Workers < 0 || c.Delivery.Workers > 1024 {
		bad("delivery.workers", "must be between 1 and 1024 (0 for the default 16)")
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch strings.ToLower(c.Log.Format) {
	case "", "text", "json":
	default:
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	if len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "; "))
	}
	return &c, nil
}

// Logger builds the slog logger the configuration asks for, writing to w.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(c.Log.Level) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	ho := &slog.HandlerOptions{Level: lvl}
	if strings.ToLower(c.Log.Format) == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

func loadTLS(certKey, certFile, keyFile string) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certKey, err)
	}
	return &c, nil
}

// Instance is a node built from a configuration: its store, partner
// registry watcher and Node.
type Instance struct {
	Config  *Config
	Node    *Node
	DB      *store.DB
	Watcher *partners.Watcher
	Log     *slog.Logger
}

// Open builds the node: it loads every key and certificate, the partner
// registry and the code lists, and opens the data file (a damaged file is
// refused with the reason; the node never starts empty in its place). Close
// the instance when done.
func (c *Config) Open(log *slog.Logger) (*Instance, error) {
	if log == nil {
		log = c.Logger(os.Stderr)
	}
	server, err := loadTLS("tls.cert/tls.key", c.TLS.Cert, c.TLS.Key)
	if err != nil {
		return nil, err
	}
	client, err := loadTLS("tls.clientCert/tls.clientKey", c.TLS.ClientCert, c.TLS.ClientKey)
	if err != nil {
		return nil, err
	}
	rkey, rchain, err := certs.LoadKeyPair(c.Receipts.Key, c.Receipts.Cert, c.Receipts.Chain, os.Getenv(c.Receipts.PasswordEnv))
	if err != nil {
		return nil, fmt.Errorf("receipts.key/receipts.cert: %w", err)
	}
	var signer DocumentSigner
	if c.Signing.Key != "" {
		skey, schain, err := certs.LoadKeyPair(c.Signing.Key, c.Signing.Cert, c.Signing.Chain, os.Getenv(c.Signing.PasswordEnv))
		if err != nil {
			return nil, fmt.Errorf("signing.key/signing.cert: %w", err)
		}
		signer = &CertsSigner{Key: skey, Certs: schain}
	}
	var own certs.TrustStore
	if len(c.Signing.Trust) > 0 {
		ts := &certs.TrustSet{}
		for i, f := range c.Signing.Trust {
			if err := ts.AddFile(f); err != nil {
				return nil, fmt.Errorf("signing.trust[%d]: %w", i, err)
			}
		}
		own = ts
	}
	var lists *schema.CodeLists
	if c.CodeLists != "" {
		if lists, err = schema.LoadCodeLists(c.CodeLists); err != nil {
			return nil, fmt.Errorf("codelists: %w", err)
		}
	}
	w, err := partners.NewWatcher(c.Partners, log.With("component", "partners"), nil)
	if err != nil {
		return nil, fmt.Errorf("partners: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.Data), 0o700); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	db, err := store.Open(c.Data, store.Options{Logger: log.With("component", "store")})
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	localURL := "http://" + c.Listen.Local
	if host, port, err := net.SplitHostPort(c.Listen.Local); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		localURL = "http://" + net.JoinHostPort("127.0.0.1", port)
	}
	n, err := New(Options{
		Country:           c.Node.Country,
		Name:              c.Node.Name,
		PublicURL:         c.Node.PublicURL,
		LocalURL:          localURL,
		Agreements:        c.Node.Agreements,
		Outbox:            db.Outbox(),
		Inbox:             db.Inbox(),
		Audit:             db.Audit(),
		Partners:          NewRegistryDirectory(w.Registry),
		Verifier:          &CertsVerifier{Limits: certs.Limits{MaxBytes: int(c.Limits.MaxDocumentBytes), MaxDepth: c.Limits.MaxDepth}},
		OwnTrust:          own,
		Signer:            signer,
		Validator:         &SchemaValidator{CodeLists: lists},
		Receipts:          &JWSSigner{Key: rkey, Certs: rchain},
		ReceiptVerifier:   &JWSVerifier{CacheTTL: time.Minute},
		ClientCertificate: client,
		ServerCertificate: server,
		Logger:            log,
		MaxDocumentBytes:  c.Limits.MaxDocumentBytes,
		MaxDepth:          c.Limits.MaxDepth,
		Workers:           c.Delivery.Workers,
		PollInterval:      time.Duration(c.Delivery.PollInterval),
		Timeout:           time.Duration(c.Delivery.Timeout),
		Lease:             time.Duration(c.Delivery.Lease),
		PullFrom:          c.Pull.From,
		PullInterval:      time.Duration(c.Pull.Interval),
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Instance{Config: c, Node: n, DB: db, Watcher: w, Log: log}, nil
}

// Run listens on the configured addresses and serves until ctx ends; the
// partner registry is reloaded on SIGHUP or when its files change.
func (in *Instance) Run(ctx context.Context) error {
	pl, err := net.Listen("tcp", in.Config.Listen.Partner)
	if err != nil {
		return fmt.Errorf("listen.partner: %w", err)
	}
	ll, err := net.Listen("tcp", in.Config.Listen.Local)
	if err != nil {
		pl.Close()
		return fmt.Errorf("listen.local: %w", err)
	}
	return in.Serve(ctx, pl, ll)
}

// Serve serves on the given listeners until ctx ends.
func (in *Instance) Serve(ctx context.Context, partnerLn, localLn net.Listener) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	poll := time.Duration(in.Config.Registry.PollInterval)
	if poll <= 0 {
		poll = 5 * time.Second
	}
	go func() { _ = in.Watcher.Run(wctx, poll) }()
	in.Log.Info("ecogate node starting", "country", in.Config.Node.Country, "data", in.Config.Data,
		"partners", len(in.Watcher.Registry().Partners()), "partnerAPI", partnerLn.Addr().String(), "localAPI", localLn.Addr().String())
	return in.Node.Serve(ctx, partnerLn, localLn)
}

// Close closes the data file.
func (in *Instance) Close() error { return in.DB.Close() }
