package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/internal/yamlkeys"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// Config is the node configuration file (YAML) that `ecogate serve
// --config FILE` reads. Relative paths resolve against the file's
// directory. `ecogate serve --example-config` (internal/devsite.ExampleConfig)
// shows every key.
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
		// Customs is the HTTPS address of the customs API (/customs/v1) and
		// its token endpoint (/oauth/token), served with tls.cert/tls.key;
		// empty disables it.
		Customs string `yaml:"customs"`
		// Public is the address of the public verification page (/verify,
		// /verify/q/{token}); plain HTTP unless verify.tlsCert is set;
		// empty disables it.
		Public string `yaml:"public"`
		// Portal is the address of the web portal (portalwire.go); plain
		// HTTP, for a TLS-terminating reverse proxy; empty disables it.
		Portal string `yaml:"portal"`
	} `yaml:"listen"`
	// Local configures the local API's authentication. It is required
	// whenever listen.local is not a loopback address.
	Local struct {
		// TokenFile is a file holding the bearer token that every
		// /api/v1 and /metrics request must carry (Authorization: Bearer
		// TOKEN); at least 32 characters, surrounding white space ignored.
		TokenFile string `yaml:"tokenFile"`
		// Token is the token itself (prefer TokenFile: a configuration
		// file is often readable by more people than a secret should be).
		Token string `yaml:"token"`
		// TLSCert and TLSKey, when set (both), serve the local API over
		// HTTPS, so that its bearer token does not cross the network in
		// clear when listen.local is beyond loopback. The operator
		// commands given --config trust exactly this certificate.
		TLSCert string `yaml:"tlsCert"`
		TLSKey  string `yaml:"tlsKey"`
	} `yaml:"local"`
	localToken string // Local.Token or the contents of Local.TokenFile
	TLS        struct {
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
	// Customs configures the customs face (see gateway/customs).
	Customs struct {
		// TokenKey signs the customs API's access tokens (JWT); the receipt
		// key when empty. TokenCert is its certificate (optional; it must
		// match the key) and TokenPasswordEnv names the variable holding a
		// PKCS#12 password.
		TokenKey         string `yaml:"tokenKey"`
		TokenCert        string `yaml:"tokenCert"`
		TokenPasswordEnv string `yaml:"tokenPasswordEnv"`
		// TokenTTL is an access token's lifetime (default 5m, at most 24h).
		TokenTTL Duration `yaml:"tokenTTL"`
		// QueryTimeout bounds one verification query to an issuing node
		// (default 2s, at most 1m).
		QueryTimeout Duration `yaml:"queryTimeout"`
		// QueryCacheTTL is how long an issuer's positive signed answer is
		// reused (default 5m, at most 24h); negative answers are reused
		// for at most a minute.
		QueryCacheTTL Duration `yaml:"queryCacheTTL"`
		// ClientCAs are PEM files of the CAs that issue the customs
		// systems' client certificates. With them the customs listener
		// asks for a client certificate and verifies one when given
		// (mutual TLS; a caller without one uses a bearer token); the
		// certificate must be bound to a client (ecogate customs-clients
		// add --cert FILE). Empty: bearer tokens only.
		ClientCAs FileList `yaml:"clientCAs"`
		// ClientCRLs are CRL files (PEM or DER) of those CAs: a client
		// certificate they revoke is refused, and one a CRL past its next
		// update covers cannot be judged and is refused too. The files are
		// read again when they change (checked every registry.pollInterval).
		ClientCRLs FileList `yaml:"clientCRLs"`
	} `yaml:"customs"`
	// Verify configures the public verification page (see gateway/verify).
	Verify struct {
		// PublicURL is the base of the QR links (PublicURL/verify/q/TOKEN),
		// as the public reaches the page; default http://listen.public.
		PublicURL string `yaml:"publicURL"`
		// Rate is the sustained lookups per second per client address
		// (default 0.5) and Burst the bucket size (default 10).
		Rate  float64 `yaml:"rate"`
		Burst int     `yaml:"burst"`
		// MissesBeforeChallenge is how many lookups that find nothing a
		// client may make before lookups by number need a challenge answer
		// (default 3); MissWindow is how long misses are remembered
		// (default 1h).
		MissesBeforeChallenge int      `yaml:"missesBeforeChallenge"`
		MissWindow            Duration `yaml:"missWindow"`
		// ClientAddrHeader, when set (e.g. X-Forwarded-For), names the
		// header a trusted reverse proxy sets with the client address;
		// only set it when the page is reachable through that proxy only.
		ClientAddrHeader string `yaml:"clientAddrHeader"`
		// TLSCert and TLSKey, when set, serve the page over HTTPS.
		TLSCert string `yaml:"tlsCert"`
		TLSKey  string `yaml:"tlsKey"`
	} `yaml:"verify"`
	// Store chooses the storage engine (see StoreConfig).
	Store StoreConfig `yaml:"store"`
	// Issuance is the domestic issuance workflow's API (issuancewire.go).
	Issuance IssuanceConfig `yaml:"issuance"`
	// Portal is the web portal on listen.portal (portalwire.go).
	Portal PortalConfig `yaml:"portal"`
	// Data is the bbolt data file (required with store.engine bbolt, the
	// default).
	Data string `yaml:"data"`
	// DataCheck says when opening the data file reads every page to check
	// its structure: auto (default: after an unclean shutdown, or when the
	// file is at most 1 GiB), always, or never.
	DataCheck string            `yaml:"dataCheck"`
	dataCheck store.CheckPolicy // DataCheck, parsed
	// DataViewMemoryMiB is the memory the in-memory index of the customs
	// check views may take, in MiB (DefaultViewMemory when unset; 0 turns
	// it off: every check reads the data file).
	DataViewMemoryMiB *int `yaml:"dataViewMemoryMiB"`
	// Partners is the partner registry file (required).
	Partners string `yaml:"partners"`
	// CodeLists is a directory of full code lists (optional).
	CodeLists string `yaml:"codelists"`
	// AgreementFiles are agreement profile files (schema.AgreementFile,
	// e.g. docs/agreements/chafta.yaml) added to the built-in agreements
	// for validation (optional).
	AgreementFiles []string `yaml:"agreementFiles"`
	Limits         struct {
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
	*d = Duration(v) // negative values are refused by ParseConfig, which names the key
	return nil
}

// FileList is a list of file names, written as a YAML sequence or, for
// one file, as a plain string.
type FileList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *FileList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = FileList{n.Value}
		return nil
	case yaml.SequenceNode:
		var v []string
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: give a list of file names, e.g. [ca.pem, other-ca.pem]", n.Line)
		}
		*l = v
		return nil
	}
	return fmt.Errorf("line %d: give a list of file names, e.g. [ca.pem, other-ca.pem]", n.Line)
}

// Path returns the file the configuration was read from.
func (c *Config) Path() string { return c.path }

var (
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
	headerRE  = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
)

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
		return nil, yamlkeys.Explain(b, &c, err)
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
	checkListen(&c, bad)
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
	checkLocalAuth(&c, abs, bad)
	checkIssuance(&c, abs, bad)
	checkPortal(&c, abs, bad)
	if c.Signing.Key == "" && (c.Signing.Cert != "" || c.Signing.Chain != "") {
		bad("signing.key", "required when signing.cert or signing.chain is given")
	}
	for i := range c.Signing.Trust {
		c.Signing.Trust[i] = abs(c.Signing.Trust[i])
	}
	opt(&c.Customs.TokenKey)
	opt(&c.Customs.TokenCert)
	if c.Customs.TokenKey == "" && (c.Customs.TokenCert != "" || c.Customs.TokenPasswordEnv != "") {
		bad("customs.tokenKey", "required when customs.tokenCert or customs.tokenPasswordEnv is given (or remove them to sign tokens with receipts.key)")
	}
	checkCustomsMTLS(&c, abs, bad)
	opt(&c.Verify.TLSCert)
	opt(&c.Verify.TLSKey)
	if (c.Verify.TLSCert == "") != (c.Verify.TLSKey == "") {
		bad("verify.tlsCert", "give both verify.tlsCert and verify.tlsKey, or neither (plain HTTP)")
	}
	checkVerify(&c, bad)
	checkDurations(&c, bad)
	if c.Store.check(bad, opt) {
		need("data", &c.Data)
	}
	if p, err := store.ParseCheckPolicy(c.DataCheck); err != nil {
		bad("dataCheck", "%v", err)
	} else {
		c.dataCheck = p
	}
	if m := c.DataViewMemoryMiB; m != nil && (*m < 0 || *m > maxViewMemoryMiB) {
		bad("dataViewMemoryMiB", "%d is not between 0 (no index) and %d MiB", *m, maxViewMemoryMiB)
	}
	need("partners", &c.Partners)
	opt(&c.CodeLists)
	for i := range c.AgreementFiles {
		opt(&c.AgreementFiles[i])
	}
	checkPullLimitsLog(&c, bad)
	if len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "; "))
	}
	return &c, nil
}

// problemFunc records a problem with a configuration key.
type problemFunc func(key, format string, a ...any)

// checkListen checks the listen addresses (and defaults listen.local):
// each HOST:PORT, none used twice.
func checkListen(c *Config, bad problemFunc) {
	if c.Listen.Partner == "" {
		bad("listen.partner", "required (the mutual-TLS partner API address, e.g. :8443)")
	}
	if c.Listen.Local == "" {
		c.Listen.Local = "127.0.0.1:8080"
	}
	seenAddr := map[string]string{}
	for _, a := range []struct{ key, v string }{{"listen.partner", c.Listen.Partner}, {"listen.local", c.Listen.Local},
		{"listen.customs", c.Listen.Customs}, {"listen.public", c.Listen.Public}, {"listen.portal", c.Listen.Portal}} {
		if a.v == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.v); err != nil {
			bad(a.key, "%q is not HOST:PORT (e.g. 127.0.0.1:8444 or :8444)", a.v)
		} else if other, dup := seenAddr[a.v]; dup && port != "0" {
			bad(a.key, "%q is already the address of %s; give each listener its own port", a.v, other)
		} else {
			seenAddr[a.v] = a.key
		}
	}
}

// checkCustomsMTLS resolves customs.clientCAs and customs.clientCRLs and
// checks that they go together with listen.customs (their content is read
// by Open).
func checkCustomsMTLS(c *Config, abs func(string) string, bad problemFunc) {
	for _, l := range []struct {
		key   string
		files []string
	}{{"customs.clientCAs", c.Customs.ClientCAs}, {"customs.clientCRLs", c.Customs.ClientCRLs}} {
		for i, f := range l.files {
			if strings.TrimSpace(f) == "" {
				bad(fmt.Sprintf("%s[%d]", l.key, i), "empty file name")
			}
			l.files[i] = abs(f)
		}
	}
	switch {
	case len(c.Customs.ClientCRLs) > 0 && len(c.Customs.ClientCAs) == 0:
		bad("customs.clientCRLs", "CRLs without customs.clientCAs check nothing; give the CAs that issue the customs systems' client certificates, or remove the CRLs")
	case len(c.Customs.ClientCAs) > 0 && c.Listen.Customs == "":
		bad("customs.clientCAs", "the customs API is off (listen.customs is empty); set listen.customs, or remove customs.clientCAs")
	}
}

// checkVerify checks the public verification page's settings.
func checkVerify(c *Config, bad problemFunc) {
	if c.Verify.PublicURL != "" {
		u, err := url.Parse(c.Verify.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("verify.publicURL", "%q is not an absolute http(s) URL without query, e.g. https://eco.example.in", c.Verify.PublicURL)
		}
	}
	if c.Verify.Rate < 0 {
		bad("verify.rate", "must not be negative (lookups per second per client; 0 for the default 0.5)")
	}
	if c.Verify.Burst < 0 {
		bad("verify.burst", "must not be negative (0 for the default 10)")
	}
	if c.Verify.MissesBeforeChallenge < 0 {
		bad("verify.missesBeforeChallenge", "must not be negative (0 for the default 3)")
	}
	if h := c.Verify.ClientAddrHeader; h != "" && !headerRE.MatchString(h) {
		bad("verify.clientAddrHeader", "%q is not an HTTP header name, e.g. X-Forwarded-For", h)
	}
}

// checkDurations checks that no duration is negative or over its cap.
func checkDurations(c *Config, bad problemFunc) {
	for _, d := range []struct {
		key string
		v   Duration
		max time.Duration
	}{
		{"delivery.pollInterval", c.Delivery.PollInterval, 0}, {"delivery.timeout", c.Delivery.Timeout, 0},
		{"delivery.lease", c.Delivery.Lease, 0}, {"pull.interval", c.Pull.Interval, 0},
		{"registry.pollInterval", c.Registry.PollInterval, 0},
		{"customs.tokenTTL", c.Customs.TokenTTL, 24 * time.Hour},
		{"customs.queryTimeout", c.Customs.QueryTimeout, time.Minute},
		{"customs.queryCacheTTL", c.Customs.QueryCacheTTL, 24 * time.Hour},
		{"verify.missWindow", c.Verify.MissWindow, 0},
	} {
		switch {
		case d.v < 0:
			bad(d.key, "must not be negative (0 or leave it out for the default)")
		case d.max > 0 && time.Duration(d.v) > d.max:
			bad(d.key, "%s is longer than the most allowed, %s", time.Duration(d.v), d.max)
		}
	}
}

// checkPullLimitsLog checks the pull countries (upper-casing them), the
// limits, the delivery workers and the log settings.
func checkPullLimitsLog(c *Config, bad problemFunc) {
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
}

// minLocalToken is the shortest local API token accepted.
const minLocalToken = 32

// checkLocalAuth reads local.token or local.tokenFile and refuses a local
// API that listens beyond loopback without one.
func checkLocalAuth(c *Config, abs func(string) string, bad func(key, format string, a ...any)) {
	switch {
	case c.Local.Token != "" && c.Local.TokenFile != "":
		bad("local.token", "give local.token or local.tokenFile, not both")
		return
	case c.Local.TokenFile != "":
		c.Local.TokenFile = abs(c.Local.TokenFile)
		b, err := os.ReadFile(c.Local.TokenFile)
		if err != nil {
			bad("local.tokenFile", "cannot be read: %v", err)
			return
		}
		c.localToken = strings.TrimSpace(string(b))
		if len(c.localToken) < minLocalToken {
			bad("local.tokenFile", "the token in %s is shorter than %d characters; write a long random one (e.g. openssl rand -hex 32 > %s)", c.Local.TokenFile, minLocalToken, c.Local.TokenFile)
		}
	case c.Local.Token != "":
		c.localToken = strings.TrimSpace(c.Local.Token)
		if len(c.localToken) < minLocalToken {
			bad("local.token", "shorter than %d characters; use a long random token (e.g. openssl rand -hex 32)", minLocalToken)
		}
	}
	if c.localToken == "" && !IsLoopbackAddr(c.Listen.Local) {
		bad("listen.local", "%q listens beyond loopback and the local API has no authentication: set local.tokenFile "+
			"(a file holding a bearer token, e.g. openssl rand -hex 32 > local-token) or local.token, or listen on 127.0.0.1", c.Listen.Local)
	}
	if (c.Local.TLSCert == "") != (c.Local.TLSKey == "") {
		bad("local.tlsCert", "give both local.tlsCert and local.tlsKey, or neither (plain HTTP)")
		return
	}
	// The key pair is loaded when the node starts (faces): the operator
	// commands read this configuration too, and need the certificate, not
	// the key, which may be readable by the node's user alone.
	c.Local.TLSCert, c.Local.TLSKey = abs(c.Local.TLSCert), abs(c.Local.TLSKey)
}

// ErrLocalCertificate is the local API answering with another certificate
// than the one in local.tlsCert (LocalTLSClient).
var ErrLocalCertificate = errors.New("the local API's certificate is not the one in local.tlsCert")

// LocalTLSClient is the TLS configuration with which programs on this
// machine reach the local API (nil when it is plain HTTP): it accepts
// exactly the certificate in local.tlsCert, whatever the address the API
// is reached at (the loopback address, usually not among the
// certificate's names).
func (c *Config) LocalTLSClient() (*tls.Config, error) {
	if c.Local.TLSCert == "" {
		return nil, nil
	}
	cs, err := certs.LoadCertificates(c.Local.TLSCert)
	if err != nil {
		return nil, fmt.Errorf("local.tlsCert: %w", err)
	}
	want := cs[0].Raw
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(st tls.ConnectionState) error {
			if len(st.PeerCertificates) == 0 || !bytes.Equal(st.PeerCertificates[0].Raw, want) {
				return fmt.Errorf("%w (%s)", ErrLocalCertificate, c.Local.TLSCert)
			}
			return nil
		},
	}, nil
}

// IsLoopbackAddr reports whether a HOST:PORT listens on loopback only
// (127.0.0.0/8, ::1 or localhost); an empty host or a wildcard address
// listens on every interface.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LocalToken is the bearer token the local API requires ("" when none is
// configured, which LoadConfig allows only on loopback).
func (c *Config) LocalToken() string { return c.localToken }

// LocalURL is the base URL of the local API for programs on this machine
// (listen.local, with a listener on every interface reached on loopback).
func (c *Config) LocalURL() string {
	if c.Local.TLSCert != "" {
		return "https://" + loopbackIfWildcard(c.Listen.Local)
	}
	return "http://" + loopbackIfWildcard(c.Listen.Local)
}

// StoreOptions are the options to open the data file with.
func (c *Config) StoreOptions(log *slog.Logger) store.Options {
	mem := DefaultViewMemory()
	if c.DataViewMemoryMiB != nil {
		mem = *c.DataViewMemoryMiB << 20
	}
	return store.Options{Logger: log, Check: c.dataCheck, ViewMemory: mem}
}

// DefaultViewMemory is the memory of the check view index, in bytes, when
// dataViewMemoryMiB is not set: an eighth of the machine's memory, or of
// the cgroup's memory limit when that is lower (read on Linux; 1 GiB
// elsewhere), and at least 256 MiB. The index takes memory only as views
// are stored (about 0.7 KB each), and up to twice it while it is rebuilt.
func DefaultViewMemory() int {
	meminfo, _ := os.ReadFile("/proc/meminfo")
	limit, _ := os.ReadFile("/sys/fs/cgroup/memory.max")
	return defaultViewMemory(meminfo, limit)
}

// defaultViewMemory is DefaultViewMemory from the contents of
// /proc/meminfo and of the cgroup's memory.max (either may be empty).
func defaultViewMemory(meminfo, cgroupMax []byte) int {
	total := 0
	for _, l := range strings.Split(string(meminfo), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
			if kb, err := strconv.Atoi(f[1]); err == nil && kb > 0 {
				total = kb << 10
			}
		}
	}
	if b, err := strconv.Atoi(strings.TrimSpace(string(cgroupMax))); err == nil && b > 0 && (total == 0 || b < total) {
		total = b // "max" (no limit) does not parse
	}
	if total == 0 {
		return 1 << 30
	}
	return max(total/8, 256<<20)
}

// maxViewMemoryMiB bounds dataViewMemoryMiB (1 TiB).
const maxViewMemoryMiB = 1 << 20

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
// registry watcher and Node, and the customs and public faces.
type Instance struct {
	Config *Config
	Node   *Node
	// DB is the bbolt data file (nil with store.engine: postgres); PG the
	// PostgreSQL engine (nil with bbolt); Engine has the stores of either.
	DB      *store.DB
	PG      *store.PG
	Engine  *Engine
	Watcher *partners.Watcher
	Log     *slog.Logger
	// Customs is the customs face (token endpoint, checks, lookups,
	// decisions), served on listen.customs.
	Customs *customs.Service
	// Verify is the public verification page, served on listen.public.
	Verify *verify.Service
	// Issuance is the issuance workflow (issuance.enabled), Portal the
	// web portal served on listen.portal; nil when off.
	Issuance *issuance.Service
	Portal   *portal.Server

	faces *faces
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
	// watched are the node's own certificates besides its TLS ones, for
	// the expiry metric and warnings; the faces and the portal add theirs
	// before the node serves.
	watched := WatchCertificates("receipts.cert", "receipts.chain", rchain...)
	var signer DocumentSigner
	if c.Signing.Key != "" {
		skey, schain, err := certs.LoadKeyPair(c.Signing.Key, c.Signing.Cert, c.Signing.Chain, os.Getenv(c.Signing.PasswordEnv))
		if err != nil {
			return nil, fmt.Errorf("signing.key/signing.cert: %w", err)
		}
		signer = &CertsSigner{Key: skey, Certs: schain}
		watched = append(watched, WatchCertificates("signing.cert", "signing.chain", schain...)...)
	}
	var own certs.TrustStore
	// ownCRLs are the node's own CRLs read once; customs.clientCRLs (read
	// again when their files change) are added at each call of Options.CRLs.
	var ownCRLs []WatchedCRL
	if len(c.Signing.Trust) > 0 {
		ts := &certs.TrustSet{}
		for i, f := range c.Signing.Trust {
			if err := ts.AddFile(f); err != nil {
				return nil, fmt.Errorf("signing.trust[%d]: %w", i, err)
			}
		}
		own = ts
		watched = append(watched, WatchCertificates("signing.trust", "", ts.AnchorCerts...)...)
		ownCRLs = WatchCRLs("signing.trust", ts.RevocationLists...)
	}
	var lists *schema.CodeLists
	if c.CodeLists != "" {
		if lists, err = schema.LoadCodeLists(c.CodeLists); err != nil {
			return nil, fmt.Errorf("codelists: %w", err)
		}
	}
	agreements, err := schema.LoadAgreementFiles(c.AgreementFiles)
	if err != nil {
		return nil, fmt.Errorf("agreementFiles: %w", err)
	}
	w, err := partners.NewWatcher(c.Partners, log.With("component", "partners"), nil)
	if err != nil {
		return nil, fmt.Errorf("partners: %w", err)
	}
	eng, err := c.OpenEngine(context.Background(), log)
	if err != nil {
		return nil, err
	}
	db := eng.DB
	localURL := c.LocalURL()
	dir := NewRegistryDirectory(w.Registry)
	receipts := &JWSSigner{Key: rkey, Certs: rchain}
	fc := facesConfig{cfg: c, st: eng, dir: dir, receipts: receipts, signer: signer, lists: lists, server: server, log: log}
	f := &faces{}
	nopt := Options{
		Country:           c.Node.Country,
		Name:              c.Node.Name,
		PublicURL:         c.Node.PublicURL,
		LocalURL:          localURL,
		LocalToken:        c.localToken,
		Agreements:        c.Node.Agreements,
		Outbox:            eng.Outbox,
		Inbox:             eng.Inbox,
		Audit:             eng.Audit,
		Partners:          dir,
		Verifier:          &CertsVerifier{Limits: certs.Limits{MaxBytes: int(c.Limits.MaxDocumentBytes), MaxDepth: c.Limits.MaxDepth}},
		OwnTrust:          own,
		Signer:            signer,
		Validator:         &SchemaValidator{CodeLists: lists, Agreements: agreements},
		Receipts:          receipts,
		ReceiptVerifier:   &JWSVerifier{},
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
		Certificates: func() []WatchedCertificate {
			return append(append([]WatchedCertificate(nil), watched...), customsClientCerts(eng.Customs, log)...)
		},
		CRLs: func() []WatchedCRL {
			out := append([]WatchedCRL(nil), ownCRLs...)
			if f.clientCRLs != nil {
				out = append(out, WatchCRLs("customs.clientCRLs", f.clientCRLs.get()...)...)
			}
			return out
		},
	}
	f.hooks(&nopt, fc)
	if db != nil {
		addStoreBackupRoute(&nopt, db, log.With("component", "store"))
	}
	var bindIssuance func(*Node) error
	var isvc *issuance.Service
	if c.Issuance.Enabled {
		if isvc, bindIssuance, err = openIssuance(&nopt, c, eng.Issuance, log); err != nil {
			eng.Close()
			return nil, err
		}
	}
	n, err := New(nopt)
	if err != nil {
		eng.Close()
		return nil, err
	}
	if bindIssuance != nil {
		if err := bindIssuance(n); err != nil {
			eng.Close()
			return nil, err
		}
	}
	if err := f.open(n, fc); err != nil {
		eng.Close()
		return nil, err
	}
	watched = append(watched, f.certs...)
	inst := &Instance{Config: c, Node: n, DB: db, PG: eng.PG, Engine: eng, Watcher: w, Log: log, Customs: f.customs, Verify: f.verify, Issuance: isvc, faces: f}
	if c.Listen.Portal != "" && isvc != nil {
		var qr []*x509.Certificate
		if inst.Portal, qr, err = openPortal(c, eng, isvc, n, w, client, log); err != nil {
			eng.Close()
			return nil, err
		}
		watched = append(watched, WatchCertificates("portal.qrCert", "", qr...)...)
	}
	return inst, nil
}

// ServeGCPercent is the garbage collector's target (GOGC) of a serving
// node (ecogate serve) when the environment does not set GOGC. A node's
// live Go heap is a few MB (the data file is mapped, outside the heap)
// while every request allocates: with the default of 100 the collector
// ran dozens of times a second under customs checks and took about a
// seventh of the server's CPU; 400 cut the CPU per check by 15 % for
// about 15 MB more heap (docs/benchmarks.md, "Customs checks").
const ServeGCPercent = 400

// Listeners are the listeners an Instance serves on; a nil one is off.
type Listeners struct {
	// Partner serves the partner API (mutual TLS), Local the local API.
	Partner, Local net.Listener
	// Customs serves the customs API over TLS, Public the public
	// verification page.
	Customs, Public net.Listener
	// Portal serves the web portal.
	Portal net.Listener
}

// Close closes every listener that is set.
func (ls Listeners) Close() {
	for _, l := range []net.Listener{ls.Partner, ls.Local, ls.Customs, ls.Public, ls.Portal} {
		if l != nil {
			l.Close()
		}
	}
}

// OpenListeners opens the configured addresses: listen.partner, listen.local and,
// when set, listen.customs and listen.public.
func (c *Config) OpenListeners() (Listeners, error) {
	var ls Listeners
	for _, a := range []struct {
		key, addr string
		ln        *net.Listener
	}{
		{"listen.partner", c.Listen.Partner, &ls.Partner}, {"listen.local", c.Listen.Local, &ls.Local},
		{"listen.customs", c.Listen.Customs, &ls.Customs}, {"listen.public", c.Listen.Public, &ls.Public},
		{"listen.portal", c.Listen.Portal, &ls.Portal},
	} {
		if a.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			ls.Close()
			return Listeners{}, fmt.Errorf("%s: %w", a.key, err)
		}
		*a.ln = l
	}
	return ls, nil
}

// Run listens on the configured addresses and serves until ctx ends; the
// partner registry is reloaded on SIGHUP or when its files change.
func (in *Instance) Run(ctx context.Context) error {
	ls, err := in.Config.OpenListeners()
	if err != nil {
		return err
	}
	return in.ServeListeners(ctx, ls)
}

// Serve serves the partner and local APIs on the given listeners and,
// when listen.customs and listen.public are configured, the customs API
// and the public page on those addresses, until ctx ends.
func (in *Instance) Serve(ctx context.Context, partnerLn, localLn net.Listener) error {
	ls := Listeners{Partner: partnerLn, Local: localLn}
	for _, a := range []struct {
		key, addr string
		ln        *net.Listener
	}{{"listen.customs", in.Config.Listen.Customs, &ls.Customs}, {"listen.public", in.Config.Listen.Public, &ls.Public},
		{"listen.portal", in.Config.Listen.Portal, &ls.Portal}} {
		if a.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			ls.Close()
			return fmt.Errorf("%s: %w", a.key, err)
		}
		*a.ln = l
	}
	return in.ServeListeners(ctx, ls)
}

// ServeListeners serves on the given listeners until ctx ends, then shuts
// every server down gracefully. If one server fails, the others stop and
// its error is returned.
func (in *Instance) ServeListeners(ctx context.Context, ls Listeners) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	poll := time.Duration(in.Config.Registry.PollInterval)
	if poll <= 0 {
		poll = 5 * time.Second
	}
	go func() { _ = in.Watcher.Run(wctx, poll) }()
	if in.PG != nil {
		// Work enqueued by any replica wakes this one's delivery workers.
		go in.PG.ListenOutbox(wctx, in.Node.Kick)
	}
	addr := func(l net.Listener) string {
		if l == nil {
			return "off"
		}
		return l.Addr().String()
	}
	in.Log.Info("ecogate node starting", "country", in.Config.Node.Country, "data", in.Config.Data,
		"partners", len(in.Watcher.Registry().Partners()), "partnerAPI", addr(ls.Partner), "localAPI", addr(ls.Local),
		"customsAPI", addr(ls.Customs), "publicPage", addr(ls.Public))
	errLog := slog.NewLogLogger(in.Log.Handler(), slog.LevelWarn)
	errc := make(chan error, 2)
	var servers []*http.Server
	start := func(name string, ln net.Listener, h http.Handler, tc *tls.Config) {
		s := &http.Server{Handler: h, TLSConfig: tc, ErrorLog: errLog, MaxHeaderBytes: 64 << 10,
			ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
		servers = append(servers, s)
		go func() {
			var err error
			if tc != nil {
				err = s.ServeTLS(ln, "", "")
			} else {
				err = s.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	if ls.Customs != nil {
		if in.faces == nil || in.faces.customsTLS == nil {
			ls.Close()
			return errors.New("listen.customs: this instance has no customs TLS configuration (set listen.customs before Open)")
		}
		start("customs API", ls.Customs, in.Customs.Routes(), in.faces.customsTLS)
		in.Log.Info("customs API listening (TLS, bearer tokens from /oauth/token)", "addr", ls.Customs.Addr().String(),
			"clientCertificates", in.faces.customsTLS.ClientCAs != nil)
	}
	if ls.Public != nil {
		var tc *tls.Config
		if in.faces != nil {
			tc = in.faces.publicTLS
		}
		start("public page", ls.Public, in.Verify.Routes(), tc)
		in.Log.Info("public verification page listening", "addr", ls.Public.Addr().String(), "tls", tc != nil)
	}
	if ls.Portal != nil && in.Portal != nil {
		start("portal", ls.Portal, in.Portal.Handler(), nil)
		in.Log.Info("web portal listening", "addr", ls.Portal.Addr().String())
	}
	local := ls.Local
	switch {
	case local == nil:
	case in.faces != nil && in.faces.localTLS != nil:
		local = tls.NewListener(local, in.faces.localTLS)
		in.Log.Info("local API over TLS", "addr", local.Addr().String())
	case !IsLoopbackAddr(in.Config.Listen.Local):
		in.Log.Warn("the local API listens beyond loopback over plain HTTP: its bearer token crosses the network in clear; set local.tlsCert and local.tlsKey",
			"listen.local", in.Config.Listen.Local)
	}
	err := in.Node.Serve(wctx, ls.Partner, local)
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer scancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// Close closes the data file or the PostgreSQL connection pool.
func (in *Instance) Close() error {
	if in.Engine != nil {
		return in.Engine.Close()
	}
	return in.DB.Close()
}
