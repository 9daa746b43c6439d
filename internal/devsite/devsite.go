package devsite

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// Site is one development node laid out on disk by Write.
type Site struct {
	// Country and Name identify the node.
	Country string
	Name    string
	// PartnerAddr and LocalAddr are the listen addresses (host:port).
	PartnerAddr string
	LocalAddr   string
	// CustomsAddr and PublicAddr are the customs API's and the public
	// page's listen addresses; Write picks free loopback ports for
	// the empty ones (and sets them in the slice it is given).
	CustomsAddr string
	PublicAddr  string
	// Dir receives pki/, partners.yaml, ecogate.yaml and the data file.
	Dir string
}

// ConfigPath is the site's ecogate.yaml.
func (s Site) ConfigPath() string { return filepath.Join(s.Dir, "ecogate.yaml") }

// Retry is the retry policy written into the development partner files.
type Retry struct {
	Attempts                     int
	InitialInterval, MaxInterval time.Duration
	MaxAge                       time.Duration
}

// Write lays out development nodes that know each other: for each
// site, a development PKI in Dir/pki (certs.InitDevPKI, the `ecogate pki
// init` layout), a partner registry Dir/partners.yaml naming every other
// site (push mode, its root as TLS client CA and document-signing anchor,
// its CRLs, agreements AIFTA, ATIGA, RCEP and NONPREF), and a node
// configuration Dir/ecogate.yaml with the customs API and the public page
// on loopback (CustomsAddr, PublicAddr). Every file is what a real deployment
// would write by hand, so `ecogate serve --config Dir/ecogate.yaml` runs a
// site. Not for production: the keys are unencrypted.
func Write(sites []Site, retry Retry) error {
	// A port picked free may be one the caller picked free a moment ago for
	// another listener (the kernel hands closed ports out again): never
	// give one address twice.
	taken := map[string]bool{}
	for _, s := range sites {
		for _, a := range []string{s.PartnerAddr, s.LocalAddr, s.CustomsAddr, s.PublicAddr} {
			taken[a] = a != ""
		}
	}
	for i := range sites {
		for _, a := range []*string{&sites[i].CustomsAddr, &sites[i].PublicAddr} {
			if *a != "" {
				continue
			}
			free, err := freeLoopbackAddr(taken)
			if err != nil {
				return err
			}
			*a = free
			taken[free] = true
		}
	}
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
      crls: [%s/root-crl.pem]
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
`, o.Country, o.Name, o.PartnerAddr, rel, rel, rel, rel, rel, retry.Attempts, retry.InitialInterval, retry.MaxInterval, retry.MaxAge)
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "partners.yaml"), []byte(b.String()), 0o644); err != nil {
			return err
		}
		cfg := fmt.Sprintf(ConfigTemplate, s.Country, s.Name, s.PartnerAddr, s.PartnerAddr, s.LocalAddr,
			s.CustomsAddr, s.PublicAddr, "http://"+s.PublicAddr)
		if err := os.WriteFile(s.ConfigPath(), []byte(cfg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ConfigTemplate is the node configuration Write writes (country,
// name, partner address twice, local address, customs address, public
// address, public page URL). It doubles as the documented example: every
// key is explained.
const ConfigTemplate = `# ecogate node configuration (ecogate serve --config FILE).
# Relative paths resolve against this file's directory. Unknown keys are refused.
node:
  # this node's ISO 3166-1 alpha-2 code (required)
  country: %s
  # for people; shown in the profile and on the public page (required)
  name: %q
  # the partner API's base URL as partners reach it (shown in the profile)
  publicURL: https://%s/eco/v1
  # agreements advertised in the profile
  agreements: [AIFTA, ATIGA, RCEP, NONPREF]
listen:
  # the mutual-TLS partner API, /eco/v1 (required)
  partner: %s
  # the local API /api/v1, /metrics, /healthz, /readyz (default 127.0.0.1:8080);
  # beyond loopback (e.g. 0.0.0.0:8080) it needs local.tokenFile or local.token,
  # else the node refuses to start
  local: %s
  # the customs API /customs/v1 and its token endpoint /oauth/token, over HTTPS
  # with tls.cert/tls.key (TLS 1.2+), for the importing customs' declaration system;
  # callers need a bearer token (clients: ecogate customs-clients add); empty: off
  customs: %s
  # the public verification page /verify and the QR links /verify/q/{token}, for
  # anyone; plain HTTP unless verify.tlsCert is set: in production put it behind
  # a TLS-terminating reverse proxy (see verify.publicURL, verify.clientAddrHeader);
  # empty: off
  public: %s
local:
  # a file holding the bearer token that every /api/v1 and /metrics request must
  # carry (Authorization: Bearer TOKEN; /healthz and /readyz stay open), at least
  # 32 characters: openssl rand -hex 32 > local-token; chmod 600 local-token.
  # Required when listen.local is not a loopback address; optional on loopback.
  # The CLI (outbox, customs-clients, send with --config) sends it; with --node
  # URL give it in $ECOGATE_LOCAL_TOKEN
  tokenFile: ""
  # or the token itself (prefer tokenFile)
  token: ""
  # serve the local API over HTTPS with this certificate and key (both or
  # neither), so that the token does not cross the network in clear when
  # listen.local is beyond loopback; the CLI given --config trusts exactly this
  # certificate; with --node https://... give its CA file in $ECOGATE_LOCAL_CA
  tlsCert: ""
  tlsKey: ""
tls:
  # partner API (and customs API) server certificate (PEM; chain may follow)
  cert: pki/tls-server-cert.pem
  key: pki/tls-server-key.pem
  # presented when pushing to partners and asking them verification queries
  clientCert: pki/tls-client-cert.pem
  clientKey: pki/tls-client-key.pem
# the issuing authority's document-signing key (optional: without it only already
# signed e-COs are accepted for sending, and customs decisions are recorded but not
# sent back to the issuer). PEM/PKCS#8 or .p12
signing:
  key: pki/signer-ecdsa-key.pem
  cert: pki/signer-ecdsa-cert.pem
  # intermediates sent in KeyInfo
  chain: pki/chain.pem
  # environment variable holding a PKCS#12 password
  passwordEnv: ""
  # own anchors: an e-CO submitted already signed must chain to one
  trust: [pki/root-cert.pem]
# the node's receipt-signing key (JWS receipts, the signed profile, signed answers
# to verification queries, and by default the customs API's access tokens)
receipts:
  key: pki/receipt-key.pem
  cert: pki/receipt-cert.pem
  chain: ""
  passwordEnv: ""
customs:
  # key that signs the customs API's access tokens (JWT); empty: receipts.key
  tokenKey: ""
  # its certificate (optional) and the variable holding a PKCS#12 password
  tokenCert: ""
  tokenPasswordEnv: ""
  # lifetime of an access token (at most 24h)
  tokenTTL: 5m
  # how long a check waits for the issuing node's answer to a verification query
  # (certificates not stored here) before it answers TIMEOUT (at most 1m)
  queryTimeout: 2s
  # how long the issuer's signed answer is reused (negative answers: at most 1m)
  queryCacheTTL: 5m
  # mutual TLS as well as bearer tokens: PEM files of the CAs that issue the
  # customs systems' client certificates; with them listen.customs asks for a
  # client certificate and verifies it when given (each certificate is bound to a
  # client: ecogate customs-clients add --cert FILE); empty: bearer tokens only
  clientCAs: []
  # CRLs of those CAs (PEM or DER), read again when they change; a revoked
  # certificate is refused, and so is one covered by a CRL past its next update
  clientCRLs: []
verify:
  # base of the QR links printed on certificates this node issues
  # (publicURL/verify/q/TOKEN), as the public reaches listen.public;
  # empty: http://listen.public
  publicURL: %s
  # lookups per second per client address, and the burst allowed
  rate: 0.5
  burst: 10
  # lookups that find nothing before a challenge question is asked, and for how long
  # they are remembered
  missesBeforeChallenge: 3
  missWindow: 1h
  # header with the client address set by a trusted reverse proxy (e.g.
  # X-Forwarded-For); empty: the connection's address
  clientAddrHeader: ""
  # serve the page over HTTPS with this certificate and key (empty: plain HTTP)
  tlsCert: ""
  tlsKey: ""
# bbolt data file (created on first start; a damaged one is refused)
data: data/ecogate.db
# when opening reads every page of the data file to check it: auto (after an
# unclean shutdown, or while the file is at most 1 GiB), always, or never
dataCheck: auto
# memory (MiB) for the in-memory copy of the customs check views (about
# 0.7 KB each); default: an eighth of the machine's memory; 0: checks read
# the data file
#dataViewMemoryMiB: 1024
# partner registry; reloaded on SIGHUP or when it or its certificates change
partners: partners.yaml
# directory of full code lists (HS, UN/ECE Rec 20/21); empty: built-ins
codelists: ""
# agreement profile files added to the built-in agreements (RCEP, ATIGA, ...),
# e.g. [agreements/chafta.yaml]; see docs/agreements/chafta.yaml
agreementFiles: []
limits:
  # largest e-CO accepted (bytes); larger envelopes get 413
  maxDocumentBytes: 4194304
  # deepest XML element nesting accepted
  maxDepth: 32
delivery:
  # concurrent deliveries
  workers: 16
  # how often due retries are looked for
  pollInterval: 200ms
  # one delivery request, receipt included
  timeout: 30s
  # a message claimed by a node that dies is due again after this
  lease: 60s
pull:
  # partners that keep our messages for us to fetch (we are in pull mode there)
  from: []
  interval: 30s
registry:
  # how often the partner files are checked for changes
  pollInterval: 5s
log:
  # debug, info, warn, error
  level: info
  # text or json (structured, log/slog)
  format: text
`

// ExampleConfig returns a complete, commented configuration for a node of
// country IN (ecogate serve --example-config) whose key and certificate
// paths are those `ecogate pki init pki` writes beside it. The public page
// listens on loopback, to be put behind a TLS-terminating reverse proxy;
// verify.publicURL is left empty (the node then warns at start and links
// to http://listen.public) rather than naming a host that does not exist.
func ExampleConfig() string {
	return fmt.Sprintf(ConfigTemplate, "IN", "India e-CO node", "eco.example.in:8443", ":8443", "127.0.0.1:8080",
		":8444", "127.0.0.1:8081", `""`)
}

// FreeLoopbackAddr returns a loopback address (127.0.0.1:PORT) whose port
// is free now, below the ephemeral range (see freeLoopbackAddr): the
// free-port helper of tests that listen on loopback.
func FreeLoopbackAddr() (string, error) { return freeLoopbackAddr(nil) }

// freeLoopbackAddr returns a loopback address whose port is free now and
// not among taken. The port is taken below Linux's ephemeral range
// (32768-60999), from which outgoing connections draw their local ports: a
// node restarted on its configured port (crash tests, the demo with --keep)
// then never finds it taken by some client connection made meanwhile.
func freeLoopbackAddr(taken map[string]bool) (string, error) {
	var last error
	for range 500 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			last = err
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		if !taken[addr] {
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free loopback port found between 20000 and 32000 that is not already taken: %v", last)
}
