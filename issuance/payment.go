package issuance

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PaidGatewayPending is Application.PaidVia of an application whose fee
// goes through the payment gateway and is not confirmed yet: it is not
// reviewed until the gateway's callback confirms it.
const PaidGatewayPending = "gateway-pending"

// Payment statuses a callback reports.
const (
	PaymentSuccess = "success"
	PaymentFailure = "failure"
)

// PaymentNotice is the payment gateway's callback: the transaction, the
// application it pays, the merchant (the office's merchant id), the amount
// in minor units, the status, the time (RFC 3339) and the checksum: hex
// HMAC-SHA256 of PaymentMessage under the office's checksum key.
type PaymentNotice struct {
	Txn         string `json:"txn"`
	Application string `json:"application"`
	Merchant    string `json:"merchant"`
	Amount      int64  `json:"amount"`
	Status      string `json:"status"`
	Time        string `json:"time"`
	Checksum    string `json:"checksum"`
}

// PaymentMessage is what the checksum covers: the fields joined by "|" in
// a fixed order.
func (n PaymentNotice) PaymentMessage() string {
	return strings.Join([]string{n.Txn, n.Application, n.Merchant, strconv.FormatInt(n.Amount, 10), n.Status, n.Time}, "|")
}

// PaymentChecksum is the checksum of n under key (what a gateway sends).
func PaymentChecksum(n PaymentNotice, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(n.PaymentMessage()))
	return hex.EncodeToString(m.Sum(nil))
}

// PaymentRecord is a gateway transaction as the node recorded it.
type PaymentRecord struct {
	Txn         string    `json:"txn"`
	Application string    `json:"application"`
	Office      string    `json:"office"`
	Merchant    string    `json:"merchant"`
	Amount      int64     `json:"amount"`
	Status      string    `json:"status"`
	Time        string    `json:"time"`
	Checksum    string    `json:"checksum"`
	Received    time.Time `json:"received"`
}

func (p *PaymentRecord) same(n PaymentNotice) bool {
	return p.Application == n.Application && p.Merchant == n.Merchant && p.Amount == n.Amount &&
		p.Status == n.Status && p.Time == n.Time && p.Checksum == n.Checksum
}

// PaymentCallback records the payment gateway's callback. It is accepted
// only when its checksum verifies (constant time) under the checksum key
// of the application's office, the merchant is that office's, the amount
// is the application's fee and its time is within Config.PaymentWindow of
// the clock. The same callback again is answered as before and changes
// nothing (idempotent); a transaction id seen with other content, an old
// callback, or a payment for an application already paid, is refused as a
// replay. A failed payment leaves the application unpaid (the exporter may
// pay again). Refusals wrap ErrForbidden and are audited.
func (s *Service) PaymentCallback(ctx context.Context, n PaymentNotice) (*Application, error) {
	var p problems
	for _, f := range []struct{ name, v string }{{"txn", n.Txn}, {"application", n.Application}, {"merchant", n.Merchant}, {"checksum", n.Checksum}, {"time", n.Time}} {
		if strings.TrimSpace(f.v) == "" || len(f.v) > 256 {
			p.add(f.name, "required (at most 256 characters)")
		}
	}
	if n.Status != PaymentSuccess && n.Status != PaymentFailure {
		p.add("status", "%q is not %s or %s", n.Status, PaymentSuccess, PaymentFailure)
	}
	if err := p.err("payment callback"); err != nil {
		return nil, err
	}
	actor := "payment-gateway:" + clipID(n.Merchant)
	var out *Application
	var refused error
	err := s.cfg.Store.Update(ctx, func(tx Tx) error {
		refused = nil
		x, err := ext(tx)
		if err != nil {
			return err
		}
		app, err := tx.Application(n.Application)
		if errors.Is(err, ErrNotFound) {
			refused = forbidden("application %q is unknown", n.Application)
			return refused
		} else if err != nil {
			return err
		}
		office, err := tx.Office(app.Content.Office)
		if err != nil {
			return err
		}
		want := PaymentChecksum(n, office.ChecksumKey)
		if !hmac.Equal([]byte(want), []byte(strings.ToLower(n.Checksum))) {
			refused = forbidden("the checksum does not verify under the key of office %s", office.ID)
			return refused
		}
		if n.Merchant != office.MerchantID {
			refused = forbidden("merchant %q is not the merchant of office %s", n.Merchant, office.ID)
			return refused
		}
		if prev, err := x.Payment(n.Txn); err == nil {
			if prev.same(n) {
				out = app // the same callback again: answered as before
				return nil
			}
			refused = forbidden("transaction %s was already recorded with other content (replay)", n.Txn)
			return refused
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		at, err := time.Parse(time.RFC3339, n.Time)
		if err != nil {
			refused = forbidden("time %q is not RFC 3339", n.Time)
			return refused
		}
		if d := s.now().Sub(at); d > s.cfg.PaymentWindow || d < -s.cfg.PaymentWindow {
			refused = forbidden("the callback's time %s is more than %s from now (replay or clock error)", n.Time, s.cfg.PaymentWindow)
			return refused
		}
		if app.PaidVia != PaidGatewayPending {
			refused = forbidden("application %s is not awaiting a gateway payment (paid via %q; replay)", app.ID, app.PaidVia)
			return refused
		}
		if n.Amount != app.Fee {
			refused = forbidden("the amount %d is not the fee %d of application %s", n.Amount, app.Fee, app.ID)
			return refused
		}
		rec := &PaymentRecord{Txn: n.Txn, Application: app.ID, Office: office.ID, Merchant: n.Merchant, Amount: n.Amount,
			Status: n.Status, Time: n.Time, Checksum: strings.ToLower(n.Checksum), Received: s.now()}
		if err := x.PutPayment(rec); err != nil {
			return err
		}
		d := map[string]string{"txn": n.Txn, "amount": strconv.FormatInt(n.Amount, 10), "status": n.Status}
		if n.Status != PaymentSuccess {
			out = app
			return s.audit(tx, actor, "payment.failed", app.ID, d)
		}
		app.PaidVia, app.Updated = string(PayGateway), s.now()
		if err := tx.PutApplication(app); err != nil {
			return err
		}
		if err := s.changed(ctx, tx, app, Event{At: s.now(), Actor: actor, Action: ActPay, From: app.State, To: app.State}); err != nil {
			return err
		}
		out = app
		return s.audit(tx, actor, "payment.confirmed", app.ID, d)
	})
	if refused != nil && errors.Is(err, ErrForbidden) {
		subject := n.Application
		if subject == "" {
			subject = "-"
		}
		_ = s.cfg.Store.Update(ctx, func(tx Tx) error {
			return tx.Audit(AuditEntry{Time: s.now(), Actor: actor, Action: "issuance.refused", Subject: clipID(subject),
				Details: map[string]string{"action": "payment callback", "txn": clipID(n.Txn), "reason": err.Error()}})
		})
	}
	if err != nil {
		return nil, fmt.Errorf("payment callback %s: %w", clipID(n.Txn), err)
	}
	return out, nil
}

// PaymentRedirect returns where to send the exporter to pay the fee of an
// application submitted with the gateway path (exporter roles).
func (s *Service) PaymentRedirect(ctx context.Context, a Actor, id string) (string, error) {
	if s.cfg.Payments == nil {
		return "", fmt.Errorf("payment of %s: %w: no payment gateway is configured", id, ErrNotAvailable)
	}
	var office *Office
	var app *Application
	err := s.view(ctx, a, "pay application", id, func(tx Tx, p *principal) error {
		var err error
		if app, err = tx.Application(id); err != nil {
			return err
		}
		if err := canSee(p, app); err != nil {
			return err
		}
		if err := need(p, "pay an application", exporterRoles...); err != nil {
			return err
		}
		if app.PaidVia != PaidGatewayPending {
			return fmt.Errorf("%w: application %s is not awaiting a gateway payment", ErrState, id)
		}
		office, err = tx.Office(app.Content.Office)
		return err
	})
	if err != nil {
		return "", err
	}
	return s.cfg.Payments.Start(ctx, office, app.ID, app.Fee)
}

// clipID shortens untrusted text for audit subjects.
func clipID(s string) string {
	if len(s) > 128 {
		return s[:128]
	}
	return s
}
