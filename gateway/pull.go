package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ecogate/ecogate/internal/strictjson"
)

// PullFrom is the client side of pull mode: it lists the envelopes waiting
// for this node at partner p (GET {endpoint}/inbox), runs each through the
// same receive pipeline as a pushed envelope (the partner is authenticated
// by its TLS server certificate, which must chain to its TLS CAs), and
// acknowledges it with the signed receipt (POST {endpoint}/inbox/{id}/ack).
// It returns the number of envelopes processed. A message that cannot be
// stored is not acknowledged, so it is offered again at the next pull.
func (n *Node) PullFrom(ctx context.Context, p *Partner) (int, error) {
	if p.Endpoint == "" {
		return 0, fmt.Errorf("pull from %s: the partner has no endpoint", p.Country)
	}
	base := strings.TrimRight(p.Endpoint, "/")
	c := n.clientFor(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/inbox", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("pull from %s: %w", p.Country, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 100*n.maxEnvelope))
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("pull from %s: read: %w", p.Country, err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("pull from %s: HTTP %d: %s", p.Country, resp.StatusCode, snippet(body))
	}
	var list InboxList
	if err := strictjson.Unmarshal(body, &list); err != nil {
		return 0, fmt.Errorf("pull from %s: the inbox list is refused (strict JSON): %w", p.Country, err)
	}
	done := 0
	for i := range list.Envelopes {
		env := &list.Envelopes[i]
		if !strings.EqualFold(env.From, p.Country) {
			n.log.Warn("pulled envelope names another sender; skipped", "partner", p.Country, "from", env.From, "id", env.MessageID)
			continue
		}
		res, err := n.Receive(ctx, p, env)
		if err != nil {
			n.log.Warn("pulled envelope not stored; it stays at the partner for the next pull", "partner", p.Country, "id", env.MessageID, "err", err)
			continue
		}
		areq, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/inbox/"+env.MessageID+"/ack", bytes.NewReader(res.Token))
		if err != nil {
			return done, err
		}
		areq.Header.Set("Content-Type", "application/jose")
		aresp, err := c.Do(areq)
		if err != nil {
			return done, fmt.Errorf("ack %s to %s: %w", env.MessageID, p.Country, err)
		}
		ab, _ := io.ReadAll(io.LimitReader(aresp.Body, 1<<20))
		aresp.Body.Close()
		if aresp.StatusCode != http.StatusOK {
			n.log.Warn("ack refused", "partner", p.Country, "id", env.MessageID, "status", aresp.StatusCode, "answer", snippet(ab))
			continue
		}
		done++
	}
	return done, nil
}

// runPull pulls from the given partners every interval until ctx ends.
func (n *Node) runPull(ctx context.Context, countries []string, interval time.Duration) {
	if len(countries) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for _, cc := range countries {
			p := n.opt.Partners.Lookup(cc)
			if p == nil {
				n.log.Warn("pull: partner not in the registry", "partner", cc)
				continue
			}
			if k, err := n.PullFrom(ctx, p); err != nil {
				n.log.Warn("pull failed", "partner", cc, "err", err)
			} else if k > 0 {
				n.log.Info("pulled", "partner", cc, "messages", k)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
