package partners

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/yamlkeys"
)

// Delivery is how messages reach a partner.
type Delivery string

// Delivery modes.
const (
	// Push: we deliver over HTTPS with mutual TLS to the partner's endpoint.
	Push Delivery = "push"
	// Pull: the partner has no inbound connectivity; it lists, fetches and
	// acknowledges what waits for it on our node.
	Pull Delivery = "pull"
)

// Errors that callers test with errors.Is.
var (
	// ErrUnknownPartner means no partner matches the country or certificate.
	ErrUnknownPartner = errors.New("unknown partner")
	// ErrAmbiguous means a client certificate chains to the CAs of more than
	// one partner; fix the registry so each partner has its own CA.
	ErrAmbiguous = errors.New("client certificate matches more than one partner")
)

// Partner is one partner country as loaded from the registry. Treat it as
// read-only: a Registry and its partners are shared between goroutines.
type Partner struct {
	Country  string
	Name     string
	Endpoint *url.URL // nil for a pull partner without endpoint
	Delivery Delivery
	// ClientCAFiles, TLSCRLFiles, AnchorFiles and CRLFiles are the
	// resolved paths.
	ClientCAFiles []string
	TLSCRLFiles   []string
	AnchorFiles   []string
	CRLFiles      []string
	// ClientCAs issue the partner's TLS client certificates (and its
	// server certificate, when we push to it).
	ClientCAs []*x509.Certificate
	// TLSCRLs are the CRLs of the partner's TLS CAs: a client or server
	// certificate they revoke is refused.
	TLSCRLs []*x509.RevocationList
	// Anchors are the partner's document-signing trust anchors.
	Anchors []*x509.Certificate
	// CRLs are the partner's certificate revocation lists.
	CRLs       []*x509.RevocationList
	Agreements []string
	Retry      RetryPolicy

	clientPool *x509.CertPool
}

// ClientCAPool returns a pool of the partner's TLS client CAs.
func (p *Partner) ClientCAPool() *x509.CertPool { return p.clientPool.Clone() }

// AnchorPool returns a new pool of the partner's document-signing anchors.
func (p *Partner) AnchorPool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range p.Anchors {
		pool.AddCert(c)
	}
	return pool
}

// HasAgreement reports whether the partner exchanges under agreement
// (case-insensitive).
func (p *Partner) HasAgreement(agreement string) bool {
	return slices.ContainsFunc(p.Agreements, func(a string) bool { return strings.EqualFold(a, agreement) })
}

// Registry is an immutable, validated set of partners.
type Registry struct {
	path     string
	partners []*Partner // sorted by country
	byCC     map[string]*Partner
	clock    func() time.Time
	crls     *certs.CRLChecker // TLS CRL signatures checked, for this registry's CRLs
}

// Option configures Load.
type Option func(*loadConfig)

type loadConfig struct {
	clock    func() time.Time
	readFile func(string) ([]byte, error)
}

// WithClock sets the clock used to check client certificates' validity in
// ByClientCert (time.Now by default).
func WithClock(clock func() time.Time) Option { return func(c *loadConfig) { c.clock = clock } }

// Load reads and validates the registry file at path. Its error lists every
// problem found, each naming the partner and field.
func Load(path string, opts ...Option) (*Registry, error) {
	cfg := loadConfig{clock: time.Now, readFile: os.ReadFile}
	for _, o := range opts {
		o(&cfg)
	}
	data, err := cfg.readFile(path)
	if err != nil {
		return nil, fmt.Errorf("partner registry: %w", err)
	}
	r, err := parse(data, filepath.Dir(path), cfg)
	if err != nil {
		return nil, fmt.Errorf("partner registry %s: %w", path, err)
	}
	r.path = path
	return r, nil
}

// Path returns the file the registry was loaded from.
func (r *Registry) Path() string { return r.path }

// Partners returns the partners sorted by country code.
func (r *Registry) Partners() []*Partner { return slices.Clone(r.partners) }

// ClientCAPool returns a pool of every partner's TLS client CAs, for the
// server's tls.Config.ClientCAs; map the verified chain to a partner with
// ByClientCert.
func (r *Registry) ClientCAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, p := range r.partners {
		for _, c := range p.ClientCAs {
			pool.AddCert(c)
		}
	}
	return pool
}

// Lookup returns the partner with the country code (case-insensitive).
func (r *Registry) Lookup(country string) (*Partner, error) {
	p, ok := r.byCC[strings.ToUpper(country)]
	if !ok {
		return nil, fmt.Errorf("partner %q: %w; add it to %s", country, ErrUnknownPartner, r.path)
	}
	return p, nil
}

// ByClientCert returns the partner whose TLS client CAs issued cert
// (verified for client authentication at the registry's clock time, with
// the given intermediates) and whose TLS CRLs (tls.crls) do not revoke it
// or a CA above it. It fails with ErrUnknownPartner when no partner's CAs
// issued it, ErrAmbiguous when more than one partner's did, and with
// certs.ErrRevoked (or certs.ErrCRLStale, failing closed) when the CRLs
// refuse it.
func (r *Registry) ByClientCert(cert *x509.Certificate, intermediates ...*x509.Certificate) (*Partner, error) {
	if cert == nil {
		return nil, fmt.Errorf("client certificate: none given: %w", ErrUnknownPartner)
	}
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	var found []*Partner
	var chains [][][]*x509.Certificate
	now := r.clock()
	for _, p := range r.partners {
		ch, err := cert.Verify(x509.VerifyOptions{
			Roots:         p.clientPool,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err == nil {
			found = append(found, p)
			chains = append(chains, ch)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("client certificate %q (issuer %q): %w: no partner's clientCAs issued it", cert.Subject, cert.Issuer, ErrUnknownPartner)
	case 1:
		if err := r.CheckTLSRevocation(found[0], chains[0], now); err != nil {
			return nil, fmt.Errorf("client certificate %q of partner %s: %w", cert.Subject, found[0].Country, err)
		}
		return found[0], nil
	default:
		var ccs []string
		for _, p := range found {
			ccs = append(ccs, p.Country)
		}
		return nil, fmt.Errorf("client certificate %q: %w (%s)", cert.Subject, ErrAmbiguous, strings.Join(ccs, ", "))
	}
}

// CheckTLSRevocation checks verified TLS chains of partner p (leaf first,
// as x509.Verify or crypto/tls give them) against p's TLS CRLs at time at:
// nil when one chain has no revoked certificate, else the error of the
// first chain (wrapping certs.ErrRevoked or certs.ErrCRLStale). Without
// TLS CRLs every chain passes. CRL signatures are checked once per
// registry.
func (r *Registry) CheckTLSRevocation(p *Partner, chains [][]*x509.Certificate, at time.Time) error {
	err := r.crls.CheckAny(chains, p.TLSCRLs, at)
	if errors.Is(err, certs.ErrNoChain) {
		return fmt.Errorf("no verified chain to check: %w", ErrUnknownPartner)
	}
	return err
}

// file layout, decoded with unknown fields refused.
type fileRegistry struct {
	Partners []filePartner `yaml:"partners"`
}

type filePartner struct {
	Country  string `yaml:"country"`
	Name     string `yaml:"name"`
	Endpoint string `yaml:"endpoint"`
	Delivery string `yaml:"delivery"`
	TLS      struct {
		ClientCAs []string `yaml:"clientCAs"`
		CRLs      []string `yaml:"crls"`
	} `yaml:"tls"`
	DocumentSigning struct {
		Anchors []string `yaml:"anchors"`
		CRLs    []string `yaml:"crls"`
	} `yaml:"documentSigning"`
	Agreements []string  `yaml:"agreements"`
	Retry      fileRetry `yaml:"retry"`
}

type fileRetry struct {
	Attempts        *int     `yaml:"attempts"`
	InitialInterval string   `yaml:"initialInterval"`
	MaxInterval     string   `yaml:"maxInterval"`
	Multiplier      *float64 `yaml:"multiplier"`
	Jitter          *float64 `yaml:"jitter"`
	MaxAge          string   `yaml:"maxAge"`
}

var (
	countryRE   = regexp.MustCompile(`^[A-Z]{2}$`)
	agreementRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)
)

// problems collects validation errors.
type problems []error

func (ps *problems) add(who, field, format string, args ...any) {
	*ps = append(*ps, fmt.Errorf("%s: %s: %s", who, field, fmt.Sprintf(format, args...)))
}

// parse decodes and validates a registry; paths resolve against dir.
func parse(data []byte, dir string, cfg loadConfig) (*Registry, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f fileRegistry
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty; it needs a 'partners:' list")
		}
		return nil, yamlkeys.Explain(data, &f, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, errors.New("YAML: more than one document; keep one 'partners:' list")
	}
	var ps problems
	if len(f.Partners) == 0 {
		ps.add("registry", "partners", "no partner is listed")
	}
	r := &Registry{byCC: map[string]*Partner{}, clock: cfg.clock, crls: &certs.CRLChecker{}}
	caOwner := map[string]string{} // raw CA cert -> country
	for i, fp := range f.Partners {
		who := fmt.Sprintf("partner #%d", i+1)
		if fp.Country != "" {
			who = fmt.Sprintf("partner %s (#%d)", fp.Country, i+1)
		}
		if !countryRE.MatchString(fp.Country) {
			hint := ""
			if countryRE.MatchString(strings.ToUpper(fp.Country)) {
				hint = "; write it in upper case"
			}
			ps.add(who, "country", "%q is not an ISO 3166-1 alpha-2 code (two letters A-Z)%s", fp.Country, hint)
		} else if _, dup := r.byCC[fp.Country]; dup {
			ps.add(who, "country", "%s is listed twice; keep one entry per country", fp.Country)
		}
		pp := &partnerParse{who: who, dir: dir, cfg: cfg, ps: &ps}
		p := pp.partner(fp)
		pp.clientCAs(p, fp, caOwner)
		pp.signing(p, fp)
		if countryRE.MatchString(fp.Country) {
			if _, dup := r.byCC[fp.Country]; !dup {
				r.byCC[fp.Country] = p
				r.partners = append(r.partners, p)
			}
		}
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("%d problem(s):\n%w", len(ps), errors.Join(ps...))
	}
	slices.SortFunc(r.partners, func(a, b *Partner) int { return strings.Compare(a.Country, b.Country) })
	return r, nil
}

// partnerParse reads one entry of the partners file, adding each problem
// it finds (under the entry's name who) to ps instead of stopping at the
// first, so that one run of the check lists them all.
type partnerParse struct {
	who string
	dir string
	cfg loadConfig
	ps  *problems
}

// partner reads the entry's name, delivery mode, endpoint, agreements and
// retry policy.
func (pp *partnerParse) partner(fp filePartner) *Partner {
	who, ps := pp.who, pp.ps
	p := &Partner{Country: fp.Country, Name: strings.TrimSpace(fp.Name), Agreements: fp.Agreements}
	if p.Name == "" {
		ps.add(who, "name", "missing")
	}
	switch fp.Delivery {
	case "", string(Push):
		p.Delivery = Push
	case string(Pull):
		p.Delivery = Pull
	default:
		ps.add(who, "delivery", "%q is neither push nor pull", fp.Delivery)
	}
	switch {
	case fp.Endpoint == "" && p.Delivery == Push:
		ps.add(who, "endpoint", "missing; a push partner needs its https URL (or set delivery: pull)")
	case fp.Endpoint != "":
		p.Endpoint = pp.endpoint(fp.Endpoint)
	}
	if len(fp.Agreements) == 0 {
		ps.add(who, "agreements", "list at least one agreement (e.g. RCEP, ATIGA)")
	}
	for _, a := range fp.Agreements {
		if !agreementRE.MatchString(a) {
			ps.add(who, "agreements", "%q is not an agreement code", a)
		}
	}
	pol, err := fp.Retry.policy()
	if err != nil {
		ps.add(who, "retry", "%v", err)
	}
	p.Retry = pol
	return p
}

// endpoint checks a push partner's URL: https, a host, no credentials,
// query or fragment. It returns nil after adding the problem.
func (pp *partnerParse) endpoint(raw string) *url.URL {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		pp.ps.add(pp.who, "endpoint", "%v", err)
	case u.Scheme != "https":
		pp.ps.add(pp.who, "endpoint", "%q must use https", raw)
	case u.Host == "" || u.Hostname() == "":
		pp.ps.add(pp.who, "endpoint", "%q has no host", raw)
	case u.User != nil:
		pp.ps.add(pp.who, "endpoint", "%q must not carry credentials", raw)
	case u.RawQuery != "" || u.Fragment != "":
		pp.ps.add(pp.who, "endpoint", "%q must not have a query or fragment", raw)
	default:
		return u
	}
	return nil
}

// clientCAs loads the CAs of the partner's TLS client certificates (each
// a CA, none shared with another partner: caOwner maps the CAs seen so
// far to their country) and the CRLs of its TLS certificates.
func (pp *partnerParse) clientCAs(p *Partner, fp filePartner, caOwner map[string]string) {
	who, ps := pp.who, pp.ps
	if len(fp.TLS.ClientCAs) == 0 {
		ps.add(who, "tls.clientCAs", "list at least one PEM file with the CA that issues the partner's TLS client certificates")
	}
	p.clientPool = x509.NewCertPool()
	for _, f := range fp.TLS.ClientCAs {
		path := resolve(pp.dir, f)
		p.ClientCAFiles = append(p.ClientCAFiles, path)
		cs, err := certs.LoadWith(pp.cfg.readFile, path, certs.ParseCertificates)
		if err != nil {
			ps.add(who, "tls.clientCAs", "%v", err)
			continue
		}
		for _, c := range cs {
			if !c.IsCA {
				ps.add(who, "tls.clientCAs", "%s: %q is not a CA certificate", path, c.Subject)
				continue
			}
			if owner, ok := caOwner[string(c.Raw)]; ok && owner != fp.Country {
				ps.add(who, "tls.clientCAs", "%s: CA %q is also listed for %s; client certificates would be ambiguous", path, c.Subject, owner)
			}
			caOwner[string(c.Raw)] = fp.Country
			p.ClientCAs = append(p.ClientCAs, c)
			p.clientPool.AddCert(c)
		}
	}
	p.TLSCRLFiles, p.TLSCRLs = pp.crls("tls.crls", fp.TLS.CRLs)
}

// signing loads the partner's document-signing anchors and CRLs.
func (pp *partnerParse) signing(p *Partner, fp filePartner) {
	if len(fp.DocumentSigning.Anchors) == 0 {
		pp.ps.add(pp.who, "documentSigning.anchors", "list at least one PEM file with a document-signing trust anchor")
	}
	for _, f := range fp.DocumentSigning.Anchors {
		path := resolve(pp.dir, f)
		p.AnchorFiles = append(p.AnchorFiles, path)
		cs, err := certs.LoadWith(pp.cfg.readFile, path, certs.ParseCertificates)
		if err != nil {
			pp.ps.add(pp.who, "documentSigning.anchors", "%v", err)
			continue
		}
		p.Anchors = append(p.Anchors, cs...)
	}
	p.CRLFiles, p.CRLs = pp.crls("documentSigning.crls", fp.DocumentSigning.CRLs)
}

// crls loads the CRL files of one field, returning their resolved paths
// and the CRLs read.
func (pp *partnerParse) crls(field string, files []string) ([]string, []*x509.RevocationList) {
	var paths []string
	var out []*x509.RevocationList
	for _, f := range files {
		path := resolve(pp.dir, f)
		paths = append(paths, path)
		crls, err := certs.LoadWith(pp.cfg.readFile, path, certs.ParseCRLs)
		if err != nil {
			pp.ps.add(pp.who, field, "%v", err)
			continue
		}
		out = append(out, crls...)
	}
	return paths, out
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// Problem is one finding of Registry.Check.
type Problem struct {
	Partner string
	Field   string
	Message string
}

func (p Problem) String() string { return p.Partner + ": " + p.Field + ": " + p.Message }

// Check reports certificates that expired or expire within soon of now,
// certificates not yet valid, and CRLs past their next update.
func (r *Registry) Check(now time.Time, soon time.Duration) []Problem {
	var out []Problem
	certs := func(p *Partner, field string, cs []*x509.Certificate) {
		for _, c := range cs {
			switch {
			case now.After(c.NotAfter):
				out = append(out, Problem{p.Country, field, fmt.Sprintf("%q expired on %s", c.Subject, c.NotAfter.UTC().Format(time.DateOnly))})
			case now.Add(soon).After(c.NotAfter):
				out = append(out, Problem{p.Country, field, fmt.Sprintf("%q expires on %s (in %d days); get the renewed certificate", c.Subject, c.NotAfter.UTC().Format(time.DateOnly), int(c.NotAfter.Sub(now).Hours()/24))})
			case now.Before(c.NotBefore):
				out = append(out, Problem{p.Country, field, fmt.Sprintf("%q is not valid before %s", c.Subject, c.NotBefore.UTC().Format(time.RFC3339))})
			}
		}
	}
	for _, p := range r.partners {
		certs(p, "tls.clientCAs", p.ClientCAs)
		certs(p, "documentSigning.anchors", p.Anchors)
		for _, l := range []struct {
			field string
			crls  []*x509.RevocationList
		}{{"tls.crls", p.TLSCRLs}, {"documentSigning.crls", p.CRLs}} {
			for _, c := range l.crls {
				if !c.NextUpdate.IsZero() && now.After(c.NextUpdate) {
					out = append(out, Problem{p.Country, l.field, fmt.Sprintf("CRL from %q was due for update on %s; fetch a fresh one", c.Issuer, c.NextUpdate.UTC().Format(time.RFC3339))})
				}
			}
		}
	}
	return out
}
