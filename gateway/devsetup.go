package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// DevSite is one development node laid out on disk by WriteDevSites.
type DevSite struct {
	// Country and Name identify the node.
	Country string
	Name    string
	// PartnerAddr and LocalAddr are the listen addresses (host:port).
	PartnerAddr string
	LocalAddr   string
	// Dir receives pki/, partners.yaml, ecogate.yaml and the data file.
	Dir string
}

// ConfigPath is the site's ecogate.yaml.
func (s DevSite) ConfigPath() string { return filepath.Join(s.Dir, "ecogate.yaml") }

// DevRetry is the retry policy written into the development partner files.
type DevRetry struct {
	Attempts                     int
	InitialInterval, MaxInterval time.Duration
	MaxAge                       time.Duration
}

// WriteDevSites lays out development nodes that know each other: for each
// site, a development PKI in Dir/pki (certs.InitDevPKI, the `ecogate pki
// init` layout), a partner registry Dir/partners.yaml naming every other
// site (push mode, its root as TLS client CA and document-signing anchor,
// its CRLs, agreements AIFTA, ATIGA, RCEP and NONPREF), and a node
// configuration Dir/ecogate.yaml. Every file is what a real deployment
// would write by hand, so `ecogate serve --config Dir/ecogate.yaml` runs a
// site. Not for production: the keys are unencrypted.
func WriteDevSites(sites []DevSite, retry DevRetry) error {
	for _, s := range sites {
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			return err
		}
		if _, err := certs.InitDevPKI(filepath.Join(s.Dir, "pki"), certs.PKIOptions{Name: "ecogate dev " + s.Country, Force: true}); err != nil {
			return fmt.Errorf("PKI for %s: %w", s.Country, err)
		}
	}
	for _, s := range sites {
		var b strings.Builder
		b.WriteString("# Development partner registry written by ecogate (see partners/doc.go).\npartners:\n")
		for _, o := range sites {
			if o.Country == s.Country {
				continue
			}
			rel, err := filepath.Rel(s.Dir, filepath.Join(o.Dir, "pki"))
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			fmt.Fprintf(&b, `  - country: %s
    name: %q
    endpoint: https://%s/eco/v1
    delivery: push
    tls:
      clientCAs: [%s/root-cert.pem]
    documentSigning:
      anchors: [%s/root-cert.pem]
      crls: [%s/root-crl.pem, %s/intermediate-crl.pem]
    agreements: [AIFTA, ATIGA, RCEP, NONPREF]
    retry:
      attempts: %d
      initialInterval: %s
      maxInterval: %s
      multiplier: 2
      jitter: 0.2
      maxAge: %s
`, o.Country, o.Name, o.PartnerAddr, rel, rel, rel, rel, retry.Attempts, retry.InitialInterval, retry.MaxInterval, retry.MaxAge)
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "partners.yaml"), []byte(b.String()), 0o644); err != nil {
			return err
		}
		cfg := fmt.Sprintf(DevConfigTemplate, s.Country, s.Name, s.PartnerAddr, s.PartnerAddr, s.LocalAddr)
		if err := os.WriteFile(s.ConfigPath(), []byte(cfg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// DevConfigTemplate is the node configuration WriteDevSites writes (country,
// name, partner address twice, local address). It doubles as the
// documented example: every key is explained.
const DevConfigTemplate = `# ecogate node configuration (ecogate serve --config FILE).
# Relative paths resolve against this file's directory.
node:
  # this node's ISO 3166-1 alpha-2 code (required)
  country: %s
  # for people; shown in the profile (required)
  name: %q
  # the partner API's base URL as partners reach it (shown in the profile)
  publicURL: https://%s/eco/v1
  # agreements advertised in the profile
  agreements: [AIFTA, ATIGA, RCEP, NONPREF]
listen:
  # the mutual-TLS partner API, /eco/v1 (required)
  partner: %s
  # the local API /api/v1, /metrics, /healthz, /readyz (default 127.0.0.1:8080);
  # it has no authentication: keep it on loopback or a protected network
  local: %s
tls:
  cert: pki/tls-server-cert.pem      # partner API server certificate (PEM; chain may follow)
  key: pki/tls-server-key.pem
  clientCert: pki/tls-client-cert.pem  # presented when pushing to partners
  clientKey: pki/tls-client-key.pem
signing:                     # the issuing authority's document-signing key (optional: without it only
  key: pki/signer-ecdsa-key.pem      #   already signed e-COs are accepted for sending). PEM/PKCS#8 or .p12
  cert: pki/signer-ecdsa-cert.pem
  chain: pki/chain.pem               # intermediates sent in KeyInfo
  passwordEnv: ""                    # environment variable holding a PKCS#12 password
  trust: [pki/root-cert.pem]         # own anchors: an e-CO submitted already signed must chain to one
receipts:                    # the node's receipt-signing key (JWS receipts and the signed profile)
  key: pki/receipt-key.pem
  cert: pki/receipt-cert.pem
  chain: ""
  passwordEnv: ""
data: data/ecogate.db        # bbolt data file (created on first start; a damaged one is refused)
partners: partners.yaml      # partner registry; reloaded on SIGHUP or when it or its certificates change
codelists: ""                # directory of full code lists (HS, UN/ECE Rec 20/21); empty: built-ins
limits:
  maxDocumentBytes: 4194304  # largest e-CO accepted (bytes); larger envelopes get 413
  maxDepth: 32               # deepest XML element nesting accepted
delivery:
  workers: 16                # concurrent deliveries
  pollInterval: 200ms        # how often due retries are looked for
  timeout: 30s               # one delivery request, receipt included
  lease: 60s                 # a message claimed by a node that dies is due again after this
pull:
  from: []                   # partners that keep our messages for us to fetch (we are in pull mode there)
  interval: 30s
registry:
  pollInterval: 5s           # how often the partner files are checked for changes
log:
  level: info                # debug, info, warn, error
  format: text               # text or json (structured, log/slog)
`
