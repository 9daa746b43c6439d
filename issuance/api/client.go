package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls the issuance API as a person or system would (the demo,
// tests, scripts): Base is the API root (http://HOST:PORT/api/v1/issuance),
// Token the bearer token ("" sends none).
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// As returns a copy of c that sends token.
func (c *Client) As(token string) *Client {
	cc := *c
	cc.Token = token
	return &cc
}

// CallError is an answer other than 2xx: its status and body (a problem
// document for the API's own refusals).
type CallError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *CallError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// Do sends method path with body (nil: none; []byte: as is, with
// contentType application/octet-stream unless it starts with '{'; else
// JSON) and decodes a JSON answer into out (nil: ignored; *[]byte: the raw
// body). An answer other than 2xx is a *CallError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ct = bytes.NewReader(b), "application/octet-stream"
		if len(b) > 0 && b[0] == '{' {
			ct = "application/json"
		}
	default:
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd, ct = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Base, "/")+path, rd)
	if err != nil {
		return err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &CallError{Method: method, Path: path, Status: resp.StatusCode, Body: string(raw)}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = raw
		return nil
	default:
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
		}
	}
	return nil
}
