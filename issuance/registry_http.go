package issuance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ecogate/ecogate/internal/strictjson"
)

// maxRegistryAnswer caps a trade registry's answer.
const maxRegistryAnswer = 1 << 20

// HTTPRegistry is a Registry served over HTTP(S) by the national trade
// registry: GET BaseURL/{iec} answers one RegistryRecord as JSON, 404 for
// an IEC it does not know. The answer is decoded strictly (unknown or
// repeated members refused), must be about the IEC asked for, and its IEC
// and GSTIN are checked like the file registry's records. Every lookup asks
// the registry, so a change there flows in on the next refresh.
type HTTPRegistry struct {
	// BaseURL is the registry's lookup endpoint, e.g.
	// https://registry.example/iec; the IEC is appended as a path segment.
	BaseURL string
	// Token, if set, is sent as a bearer token (never logged).
	Token string
	// Client makes the requests; a client with a 10 s timeout when nil.
	Client *http.Client
}

var defaultRegistryClient = &http.Client{Timeout: 10 * time.Second}

// Lookup implements Registry.
func (r *HTTPRegistry) Lookup(ctx context.Context, iec string) (*RegistryRecord, error) {
	if err := ValidIEC(iec); err != nil {
		return nil, err
	}
	if r.BaseURL == "" {
		return nil, errors.New("trade registry: no URL configured")
	}
	u := strings.TrimRight(r.BaseURL, "/") + "/" + url.PathEscape(iec)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("trade registry: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	c := r.Client
	if c == nil {
		c = defaultRegistryClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("trade registry at %s: %w", r.BaseURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRegistryAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("trade registry at %s: reading the answer: %w", r.BaseURL, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("IEC %s: %w in the trade registry; register it with DGFT first", iec, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("trade registry at %s answered HTTP %d for IEC %s", r.BaseURL, resp.StatusCode, iec)
	case len(body) > maxRegistryAnswer:
		return nil, fmt.Errorf("trade registry at %s: the answer for IEC %s is larger than %d bytes", r.BaseURL, iec, maxRegistryAnswer)
	}
	var rec RegistryRecord
	if err := strictjson.Unmarshal(body, &rec); err != nil {
		return nil, fmt.Errorf("trade registry at %s: the answer for IEC %s is not a registry record: %w", r.BaseURL, iec, err)
	}
	if rec.IEC != iec {
		return nil, fmt.Errorf("trade registry at %s: asked for IEC %s, answered for %q", r.BaseURL, iec, rec.IEC)
	}
	if err := ValidGSTIN(rec.GSTIN); err != nil {
		return nil, fmt.Errorf("trade registry at %s: IEC %s: %w", r.BaseURL, iec, err)
	}
	for i, b := range rec.Branches {
		if b.GSTIN != "" {
			if err := ValidGSTIN(b.GSTIN); err != nil {
				return nil, fmt.Errorf("trade registry at %s: IEC %s: branch %d: %w", r.BaseURL, iec, i+1, err)
			}
		}
	}
	return &rec, nil
}
