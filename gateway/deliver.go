package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/partners"
	"github.com/ecogate/ecogate/store"
)

// RunDelivery runs the delivery loop until ctx ends: it claims due
// messages from the outbox (with a lease, so a crash makes them due again),
// pushes each to its partner over mutual TLS with Workers in parallel,
// verifies the signed receipt, and records the outcome, the next try by the
// partner's retry policy, or suspension when the policy is spent. A message
// keeps its id across every attempt. In-flight deliveries finish before
// RunDelivery returns.
func (n *Node) RunDelivery(ctx context.Context) {
	n.running.Store(true)
	defer n.running.Store(false)
	// Deliveries outlive ctx by at most their own timeout, so that a
	// shutdown records their outcome instead of leaving them to the lease.
	dctx := context.WithoutCancel(ctx)
	// Claimed messages wait in work for one of Workers goroutines. Up to
	// 2×Workers are claimed ahead, in batches, so that a claim (one durable
	// write) serves many deliveries.
	w := n.opt.Workers
	work := make(chan *store.OutRecord, 2*w)
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range work {
				n.deliverOne(dctx, rec)
				n.inflight.Add(-1)
				n.Kick()
			}
		}()
	}
	defer func() { close(work); wg.Wait() }()
	batch := max(1, w/4)
	for {
		room := 2*w - int(n.inflight.Load())
		if room >= batch || (room > 0 && n.inflight.Load() == 0) {
			recs, err := n.opt.Outbox.Claim(ctx, n.clock.Now(), room, n.opt.Lease)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				n.log.Error("claim due messages failed", "err", err)
			}
			for i := range recs {
				n.inflight.Add(1)
				work <- &recs[i]
			}
			if len(recs) == room {
				continue // there may be more due right now
			}
		}
		t := time.NewTimer(n.opt.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// attemptError is a failed attempt: permanent ones suspend the message at
// once, the others wait for the next try.
type attemptError struct {
	permanent bool
	msg       string
}

func (e *attemptError) Error() string { return e.msg }

// deliverOne makes one delivery attempt and records its result.
func (n *Node) deliverOne(ctx context.Context, rec *store.OutRecord) {
	if h := n.opt.LocalKinds[rec.Kind]; h != nil {
		n.deliverLocal(ctx, rec, h)
		return
	}
	p := n.opt.Partners.Lookup(rec.Partner)
	start := time.Now()
	var (
		rc    *Receipt
		token []byte
		aerr  *attemptError
	)
	switch {
	case p == nil:
		aerr = &attemptError{msg: "partner " + rec.Partner + " is not in the registry"}
	case p.Pull:
		// The partner switched to pull mode: it fetches the message itself.
		aerr = &attemptError{msg: "partner " + rec.Partner + " is in pull mode; the message waits to be fetched"}
	default:
		rc, token, aerr = n.push(ctx, p, rec)
		n.m.deliverDur.WithLabelValues(rec.Partner).Observe(time.Since(start).Seconds())
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if aerr == nil {
		// The receipt is verified: record its outcome and audit it in one
		// transaction.
		err := n.markAttemptAudited(mctx, rec.ID, store.Attempt{Outcome: rc.Outcome.State(), Receipt: token},
			[]store.Entry{auditEntry("node", "receipt", rec.ID, map[string]string{"partner": rec.Partner, "outcome": string(rc.Outcome),
				"certificate": rec.CertNumber, "version": itoa(rec.Version), "attempts": itoa(rec.Attempts)})})
		if err != nil && !errors.Is(err, store.ErrState) {
			n.log.Error("record receipt failed; the message will be sent again after its lease", "id", rec.ID, "partner", rec.Partner, "err", err)
			return
		}
		n.m.deliveries.WithLabelValues(rec.Partner, string(rc.Outcome)).Inc()
		if !rc.Outcome.Accepted() {
			// Settled, not retried: the partner refused the message for good.
			n.log.Warn("refused by the partner (not retried)", "id", rec.ID, "partner", rec.Partner, "outcome", rc.Outcome, "certificate", rec.CertNumber, "error", rc.Error)
			return
		}
		n.log.Info("delivered", "id", rec.ID, "partner", rec.Partner, "outcome", rc.Outcome, "attempts", rec.Attempts, "certificate", rec.CertNumber)
		return
	}
	var policy partners.RetryPolicy // the default when the partner is gone
	if p != nil {
		policy = p.Retry
	}
	now := n.clock.Now()
	next, suspend, reason := policy.Next(rec.Attempts, rec.RetryFrom, now, nil)
	if aerr.permanent {
		suspend, reason = true, "not retryable"
	}
	if suspend {
		err := n.opt.Outbox.MarkAttempt(mctx, rec.ID, store.Attempt{Outcome: store.StateSuspended, Err: aerr.msg + " (" + reason + ")"})
		if err != nil {
			n.log.Error("suspend failed", "id", rec.ID, "err", err)
			return
		}
		n.m.deliveries.WithLabelValues(rec.Partner, deliverySuspend).Inc()
		n.m.suspended.WithLabelValues(rec.Partner).Inc()
		n.audit(ctx, "node", "suspend", rec.ID, map[string]string{"partner": rec.Partner, "error": aerr.msg, "reason": reason, "attempts": itoa(rec.Attempts)})
		n.log.Error("message suspended; resend it with 'ecogate outbox retry ID'", "id", rec.ID, "partner", rec.Partner, "attempts", rec.Attempts, "lastError", aerr.msg, "reason", reason)
		return
	}
	if err := n.opt.Outbox.MarkAttempt(mctx, rec.ID, store.Attempt{Outcome: store.StateAwaitingRetry, Err: aerr.msg, NextTry: next}); err != nil {
		n.log.Error("record failed attempt failed", "id", rec.ID, "err", err)
		return
	}
	n.m.deliveries.WithLabelValues(rec.Partner, deliveryRetry).Inc()
	n.log.Warn("delivery attempt failed; will retry", "id", rec.ID, "partner", rec.Partner, "attempt", rec.Attempts, "next", next, "err", aerr.msg)
}

// push POSTs the envelope and checks the receipt.
func (n *Node) push(ctx context.Context, p *Partner, rec *store.OutRecord) (*Receipt, []byte, *attemptError) {
	env := n.envelopeOf(rec)
	body, err := json.Marshal(&env)
	if err != nil {
		return nil, nil, &attemptError{permanent: true, msg: "encode envelope: " + err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, n.opt.Timeout)
	defer cancel()
	url := strings.TrimRight(p.Endpoint, "/") + "/envelopes"
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, &attemptError{msg: "build request to " + url + ": " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/jose, application/json")
	resp, err := n.clientFor(p).Do(req)
	if err != nil {
		return nil, nil, &attemptError{msg: "POST " + url + ": " + err.Error()}
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, &attemptError{msg: "read answer from " + url + ": " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("POST %s: HTTP %d: %s", url, resp.StatusCode, snippet(rb))
		switch resp.StatusCode {
		case http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusBadRequest:
			return nil, nil, &attemptError{permanent: true, msg: msg}
		}
		return nil, nil, &attemptError{msg: msg}
	}
	token := bytes.TrimSpace(rb)
	rc, err := n.checkReceipt(p, rec, token)
	if err != nil {
		return nil, nil, &attemptError{msg: "receipt from " + p.Country + " refused: " + err.Error()}
	}
	return rc, token, nil
}

func snippet(b []byte) string {
	var pr Problem
	if json.Unmarshal(b, &pr) == nil && pr.Error != "" {
		return pr.Code + ": " + pr.Error
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }

// LocalDeliverer delivers an outbox message in-process (Options.LocalKinds).
type LocalDeliverer func(ctx context.Context, rec *store.OutRecord) error

// deliverLocal makes one attempt of a message of a LocalKinds kind and
// records its outcome: delivered, or retried by Options.LocalRetry.
func (n *Node) deliverLocal(ctx context.Context, rec *store.OutRecord, h LocalDeliverer) {
	dctx, cancel := context.WithTimeout(ctx, n.opt.Timeout)
	err := h(dctx, rec)
	cancel()
	mctx, mcancel := context.WithTimeout(ctx, 30*time.Second)
	defer mcancel()
	if err == nil {
		if err := n.opt.Outbox.MarkAttempt(mctx, rec.ID, store.Attempt{Outcome: store.StateDelivered}); err != nil && !errors.Is(err, store.ErrState) {
			n.log.Error("record local delivery failed; it will be made again after its lease", "id", rec.ID, "kind", rec.Kind, "err", err)
			return
		}
		n.m.deliveries.WithLabelValues(rec.Partner, string(Delivered)).Inc()
		n.log.Info("delivered", "id", rec.ID, "kind", rec.Kind, "attempts", rec.Attempts)
		return
	}
	next, suspend, reason := n.opt.LocalRetry.Next(rec.Attempts, rec.RetryFrom, n.clock.Now(), nil)
	a := store.Attempt{Outcome: store.StateAwaitingRetry, Err: err.Error(), NextTry: next}
	if suspend {
		a = store.Attempt{Outcome: store.StateSuspended, Err: err.Error() + " (" + reason + ")"}
	}
	if merr := n.opt.Outbox.MarkAttempt(mctx, rec.ID, a); merr != nil {
		n.log.Error("record failed local delivery failed", "id", rec.ID, "kind", rec.Kind, "err", merr)
		return
	}
	if suspend {
		n.m.deliveries.WithLabelValues(rec.Partner, deliverySuspend).Inc()
		n.audit(ctx, "node", "suspend", rec.ID, map[string]string{"kind": rec.Kind, "error": err.Error(), "reason": reason})
		n.log.Error("message suspended; resend it with 'ecogate outbox retry ID'", "id", rec.ID, "kind", rec.Kind, "lastError", err.Error())
		return
	}
	n.m.deliveries.WithLabelValues(rec.Partner, deliveryRetry).Inc()
	n.log.Warn("local delivery failed; will retry", "id", rec.ID, "kind", rec.Kind, "attempt", rec.Attempts, "next", next, "err", err.Error())
}
