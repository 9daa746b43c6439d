package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/ecogate/ecogate/gateway"
)

// target is where an operator command acts: a stopped node's data file,
// or a running node's local API.
type target struct {
	data  string // bbolt data file
	api   string // local API base URL
	token string // the local API's bearer token, when it needs one
}

// localTokenEnv names the environment variable that gives the local API
// token to commands run with --node URL (with --config it comes from
// local.token or local.tokenFile).
const localTokenEnv = "ECOGATE_LOCAL_TOKEN"

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
		u, tok, err := sendNodeURL(node, "")
		return target{api: u, token: tok}, err
	}
	cfg, err := gateway.LoadConfig(config)
	if err != nil {
		return target{}, err
	}
	if u := cfg.LocalURL(); nodeAnswers(ctx, u) {
		return target{api: u, token: cfg.LocalToken()}, nil
	}
	return target{data: cfg.Data}, nil
}

// nodeAnswers reports whether a node's local API answers /healthz.
func nodeAnswers(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// withToken adds the local API token to a request, when there is one.
func withToken(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}
