package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway"
)

// target is where an operator command acts: a stopped node's data file,
// or a running node's local API.
type target struct {
	data  string      // bbolt data file
	api   string      // local API base URL
	token string      // the local API's bearer token, when it needs one
	tls   *tls.Config // how to reach an https local API (nil: the system's roots)
}

// client is an HTTP client for the local API with timeout (0: none).
func (tg target) client(timeout time.Duration) *http.Client {
	c := &http.Client{Timeout: timeout}
	if tg.tls != nil {
		c.Transport = &http.Transport{TLSClientConfig: tg.tls, Proxy: http.ProxyFromEnvironment}
	}
	return c
}

// localTokenEnv names the environment variable that gives the local API
// token to commands run with --node URL (with --config it comes from
// local.token or local.tokenFile).
const localTokenEnv = "ECOGATE_LOCAL_TOKEN"

// localCAEnv names the environment variable that gives, to commands run
// with --node https://..., a PEM file of the CA certificates (or the
// certificate itself) that the local API's certificate must chain to,
// when the system's roots do not (with --config the certificate in
// local.tlsCert is trusted).
const localCAEnv = "ECOGATE_LOCAL_CA"

// configTarget is the local API a configuration names, with its token and
// the TLS configuration that trusts exactly local.tlsCert.
func configTarget(cfg *gateway.Config) (target, error) {
	tc, err := cfg.LocalTLSClient()
	return target{api: cfg.LocalURL(), token: cfg.LocalToken(), tls: tc}, err
}

// localCA is the TLS configuration to reach a local API at base given by
// URL: the CA in $ECOGATE_LOCAL_CA (nil: plain HTTP, or the system's
// roots).
func localCA(base string) (*tls.Config, error) {
	f := strings.TrimSpace(os.Getenv(localCAEnv))
	if f == "" || !strings.HasPrefix(base, "https://") {
		return nil, nil
	}
	cas, err := certs.LoadCertificates(f)
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", localCAEnv, err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}

// resolveTarget turns --data, --config and --node into a target. --data
// names a stopped node's file and --node a running node's local API;
// --config gives the local API when the node answers there and its data
// file otherwise.
func resolveTarget(ctx context.Context, data, config, node string) (target, error) {
	n := 0
	for _, s := range []string{data, config, node} {
		if s != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return target{}, errors.New("give the node: --config FILE, --node URL (running node) or --data FILE (stopped node)")
	case n > 1:
		return target{}, errors.New("give only one of --config, --node and --data")
	case data != "":
		return target{data: data}, nil
	case node != "":
		return nodeTarget(node, "")
	}
	cfg, err := gateway.LoadConfig(config)
	if err != nil {
		return target{}, err
	}
	tg, err := configTarget(cfg)
	if err != nil {
		return target{}, err
	}
	if ok, err := nodeAnswers(ctx, tg); ok || err != nil {
		return tg, err
	}
	return target{data: cfg.Data}, nil
}

// nodeAnswers reports whether a node's local API answers /healthz. A node
// that answers with another TLS certificate than the configured one is an
// error (not a stopped node: its data file would be locked).
func nodeAnswers(ctx context.Context, tg target) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.api+"/healthz", nil)
	if err != nil {
		return false, nil
	}
	resp, err := tg.client(0).Do(req)
	if err != nil {
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) || errors.Is(err, gateway.ErrLocalCertificate) {
			return false, fmt.Errorf("the node's local API at %s: %w", tg.api, err)
		}
		return false, nil
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// withToken adds the local API token to a request, when there is one.
func withToken(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}
