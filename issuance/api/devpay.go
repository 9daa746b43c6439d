package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ecogate/ecogate/issuance"
)

// DevGateway is the development payment gateway, for the demo and the
// tests: Start sends the exporter to its page (GET /dev-gateway/pay), whose
// Pay button (POST) calls the node back at CallbackURL with a notice
// signed under the office's checksum key, as a real gateway does. It
// knows the offices' keys because it runs inside the node: never enable it
// on a production node.
type DevGateway struct {
	// BaseURL is the issuance API's base URL as the exporter's browser
	// reaches it (e.g. http://127.0.0.1:8080/api/v1/issuance).
	BaseURL string
	// CallbackURL is where the gateway posts the notice (the node's
	// /payments/callback).
	CallbackURL string
	// Store reads the application's office (its checksum key).
	Store issuance.Store
	// HTTP posts the callback; http.DefaultClient when nil.
	HTTP *http.Client
	// Clock gives the notice's time; time.Now when nil.
	Clock func() time.Time

	seq atomic.Uint64
}

// Start implements issuance.PaymentGateway.
func (g *DevGateway) Start(_ context.Context, office *issuance.Office, application string, amount int64) (string, error) {
	q := url.Values{"merchant": {office.MerchantID}, "application": {application}, "amount": {strconv.FormatInt(amount, 10)}}
	return g.BaseURL + "/dev-gateway/pay?" + q.Encode(), nil
}

var payPage = template.Must(template.New("pay").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Development payment gateway</title></head>
<body><h1>Development payment gateway</h1>
<p>Merchant {{.Merchant}}: pay {{.Amount}} (minor units) for application {{.Application}}.</p>
<form method="post"><input type="hidden" name="merchant" value="{{.Merchant}}">
<input type="hidden" name="application" value="{{.Application}}"><input type="hidden" name="amount" value="{{.Amount}}">
<button name="status" value="success">Pay</button> <button name="status" value="failure">Fail</button></form>
</body></html>`))

func (g *DevGateway) page(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = payPage.Execute(w, map[string]string{"Merchant": q.Get("merchant"), "Application": q.Get("application"), "Amount": q.Get("amount")})
}

func (g *DevGateway) pay(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeProblem(w, http.StatusBadRequest, "invalid", "form expected", "body")
		return
	}
	amount, err := strconv.ParseInt(r.PostForm.Get("amount"), 10, 64)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "invalid", "amount is not an integer", "amount")
		return
	}
	status := r.PostForm.Get("status")
	if status == "" {
		status = issuance.PaymentSuccess
	}
	n, code, err := g.Pay(r.Context(), r.PostForm.Get("application"), r.PostForm.Get("merchant"), amount, status)
	if err != nil {
		writeProblem(w, http.StatusBadGateway, "callback-failed", err.Error(), "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"txn": n.Txn, "status": n.Status, "callbackStatus": code})
}

// Pay makes a payment: it signs a notice under the application's office
// key and posts it to CallbackURL; it returns the notice and the node's
// HTTP status.
func (g *DevGateway) Pay(ctx context.Context, application, merchant string, amount int64, status string) (issuance.PaymentNotice, int, error) {
	now := time.Now
	if g.Clock != nil {
		now = g.Clock
	}
	var key string
	err := g.Store.View(ctx, func(tx issuance.Tx) error {
		app, err := tx.Application(application)
		if err != nil {
			return err
		}
		o, err := tx.Office(app.Content.Office)
		if err != nil {
			return err
		}
		key = o.ChecksumKey
		return nil
	})
	if err != nil {
		return issuance.PaymentNotice{}, 0, fmt.Errorf("dev gateway: %w", err)
	}
	t := now().UTC()
	n := issuance.PaymentNotice{Txn: fmt.Sprintf("DEV%d-%d", t.UnixNano(), g.seq.Add(1)), Application: application, Merchant: merchant,
		Amount: amount, Status: status, Time: t.Format(time.RFC3339)}
	n.Checksum = issuance.PaymentChecksum(n, key)
	code, err := PostNotice(ctx, g.HTTP, g.CallbackURL, n)
	return n, code, err
}

// PostNotice posts a payment notice as JSON to url and returns the HTTP
// status (an error for a status other than 200).
func PostNotice(ctx context.Context, c *http.Client, url string, n issuance.PaymentNotice) (int, error) {
	if c == nil {
		c = http.DefaultClient
	}
	b, _ := json.Marshal(n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("the node refused the callback: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return resp.StatusCode, nil
}
