package customs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/strictjson"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// CoreData is the core data of a certificate this node issued, as
// verification-query answers (M5) carry it and the public page shows a
// part of it. It is stored with the issued certificate (store.IssuedCert.Data).
type CoreData struct {
	Country    string `json:"country"`
	Number     string `json:"number"`
	Version    int    `json:"version"`
	IssueDate  string `json:"issueDate"`
	ValidUntil string `json:"validUntil,omitempty"`
	Agreement  string `json:"agreement,omitempty"`
	// ImportCountry is the country the certificate was issued for: only
	// that partner's node gets an answer with the data.
	ImportCountry string     `json:"importCountry,omitempty"`
	Exporter      string     `json:"exporter"`
	Importer      string     `json:"importer"`
	ImporterIDs   []string   `json:"importerIds,omitempty"`
	Issuer        string     `json:"issuer"`
	Items         []CoreItem `json:"items"`
}

// CoreItem is one goods item of CoreData.
type CoreItem struct {
	SequenceNumber int      `json:"sequenceNumber"`
	Description    string   `json:"description"`
	HSCode         string   `json:"hsCode"`
	Quantity       Quantity `json:"quantity"`
}

// CoreOf returns the core data of a certificate.
func CoreOf(c *schema.Certificate) CoreData {
	d := CoreData{Country: c.Header.ExportCountry, Number: c.Header.ID, Version: c.Header.Version,
		IssueDate: c.Header.IssueDateTime.Date().String(), Agreement: c.Header.Agreement, ImportCountry: c.Header.ImportCountry,
		Exporter: c.Consignment.Exporter.Name, Importer: c.Consignment.Importer.Name, Issuer: c.Header.Issuer.Name}
	if p := schema.ProfileFor(c); p != nil && p.ValidityMonths > 0 {
		d.ValidUntil = c.Header.IssueDateTime.Date().AddMonths(p.ValidityMonths).String()
	}
	for _, id := range c.Consignment.Importer.IDs {
		d.ImporterIDs = append(d.ImporterIDs, idString(id.SchemeID, id.Value))
	}
	for _, it := range c.Consignment.Items {
		d.Items = append(d.Items, CoreItem{SequenceNumber: it.SequenceNumber, Description: it.Product.Description,
			HSCode: it.Product.HSCode, Quantity: Quantity{Value: string(it.Quantity.Value), UnitCode: it.Quantity.UnitCode}})
	}
	return d
}

// IssuedRegister is the register of certificates this node issued
// (satisfied by *store.Issued).
type IssuedRegister interface {
	Register(ctx context.Context, r store.IssuedCert) (*store.IssuedCert, error)
	Get(ctx context.Context, number string) (*store.IssuedCert, error)
}

// RegisterIssued records a certificate this node issued, with its core
// data, so that verification queries and the public page can answer for
// it. A withdrawal (status 40) marks it withdrawn; a replacement marks the
// certificate it replaces replaced. It returns the record with its QR
// token.
//
// Each entry is its own write (tools and tests use it); the node's send
// pipeline instead hands IssuedRecords to store.Outbox.EnqueueRegistered,
// which writes them in the transaction that queues the messages.
func RegisterIssued(ctx context.Context, reg IssuedRegister, c *schema.Certificate) (*store.IssuedCert, error) {
	rs, err := IssuedRecords(c)
	if err != nil {
		return nil, err
	}
	var rec *store.IssuedCert
	for i, r := range rs {
		got, err := reg.Register(ctx, r)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			rec = got
		}
	}
	return rec, nil
}

// IssuedRecords is the list of register entries a certificate this node
// issues makes, in the order to apply them (as store.Issued.Register
// does): its own entry (IssuedRecordOf), then, for a replacement, the
// certificate it replaces marked replaced by it.
func IssuedRecords(c *schema.Certificate) ([]store.IssuedCert, error) {
	r, replaces, err := IssuedRecordOf(c)
	if err != nil {
		return nil, err
	}
	rs := []store.IssuedCert{r}
	if replaces != "" {
		rs = append(rs, store.IssuedCert{Country: r.Country, Number: replaces, Version: -1, Status: store.CertReplaced, ReplacedBy: r.Number})
	}
	return rs, nil
}

// IssuedRecordOf is the register entry of a certificate this node issues
// (or migrates): its core data, status withdrawn for a withdrawal (status
// 40 or message function 1), and the number of the other certificate it
// replaces, if any.
func IssuedRecordOf(c *schema.Certificate) (r store.IssuedCert, replaces string, err error) {
	data, err := json.Marshal(CoreOf(c))
	if err != nil {
		return r, "", err
	}
	r = store.IssuedCert{Country: c.Header.ExportCountry, Number: c.Header.ID, Version: c.Header.Version, Data: data}
	if c.Header.Status == "40" || c.Header.FunctionCode == "1" {
		r.Status = store.CertWithdrawn
	}
	if c.Replaces != nil && c.Replaces.CertificateNumber != c.Header.ID {
		replaces = c.Replaces.CertificateNumber
	}
	return r, replaces, nil
}

// QueryRequest is the body of POST /eco/v1/verification-queries (M5).
type QueryRequest struct {
	CertificateNumber string `json:"certificateNumber"`
	IssueDate         string `json:"issueDate,omitempty"`
}

// QueryAnswer is the payload of the signed answer (compact JWS).
type QueryAnswer struct {
	Issuer            string    `json:"issuer"`
	CertificateNumber string    `json:"certificateNumber"`
	Found             bool      `json:"found"`
	Status            string    `json:"status,omitempty"`
	ReplacedBy        string    `json:"replacedBy,omitempty"`
	Certificate       *CoreData `json:"certificate,omitempty"`
	AnsweredAt        time.Time `json:"answeredAt"`
	// RequestedBy is the partner that asked (from its TLS client
	// certificate), when known.
	RequestedBy string `json:"requestedBy,omitempty"`
	// Note says why a certificate is not found for the asker (e.g. it was
	// issued for another country).
	Note string `json:"note,omitempty"`
}

// JWSSigner signs answers as compact JWS with the node's receipt key
// (gateway.JWSSigner satisfies it).
type JWSSigner interface {
	SignJWS(payload []byte) ([]byte, error)
}

// QueryHandler answers verification queries about certificates this node
// issued (issuer side of M5): mount it at POST /eco/v1/verification-queries
// behind the partner API's mutual TLS. partnerOf, when not nil, names the
// asking partner for the answer. The answer is application/jose.
func QueryHandler(country string, reg IssuedRegister, signer JWSSigner, now func() time.Time, partnerOf func(*http.Request) string, log *slog.Logger) http.Handler {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var q QueryRequest
		const form = `the body must be {"certificateNumber": "...", "issueDate": "YYYY-MM-DD"}`
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, problem{Error: "invalid_request", Field: "body", Message: "larger than 16 KiB or unreadable: " + form})
			return
		}
		if err := strictjson.Unmarshal(body, &q); err != nil {
			fe := strictError(err)
			writeJSON(w, http.StatusBadRequest, problem{Error: "invalid_request", Field: fe.Field, Message: fe.Error() + "; " + form})
			return
		}
		if q.CertificateNumber == "" || len(q.CertificateNumber) > 64 {
			writeJSON(w, http.StatusBadRequest, problem{Error: "invalid_request", Field: "certificateNumber",
				Message: "certificateNumber: required, at most 64 characters; " + form})
			return
		}
		ans := QueryAnswer{Issuer: country, CertificateNumber: q.CertificateNumber, AnsweredAt: now().UTC()}
		if partnerOf != nil {
			ans.RequestedBy = partnerOf(r)
		}
		rec, err := reg.Get(r.Context(), q.CertificateNumber)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, problem{Error: "unavailable", Message: "the register cannot be read; ask again"})
			return
		case rec.Data != nil:
			var d CoreData
			if err := json.Unmarshal(rec.Data, &d); err != nil {
				writeJSON(w, http.StatusInternalServerError, problem{Error: "server_error", Message: "stored data unreadable"})
				return
			}
			if ans.RequestedBy != "" && d.ImportCountry != "" && !strings.EqualFold(ans.RequestedBy, d.ImportCountry) {
				// Core data (importer, quantities) only goes to the country
				// the certificate was issued for.
				ans.Note = "no certificate with this number was issued for " + ans.RequestedBy
				break
			}
			ans.Found, ans.Status, ans.ReplacedBy, ans.Certificate = true, string(rec.Status), rec.ReplacedBy, &d
		}
		payload, err := json.Marshal(ans)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, problem{Error: "server_error", Message: err.Error()})
			return
		}
		tok, err := signer.SignJWS(payload)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, problem{Error: "server_error", Message: "the answer could not be signed"})
			return
		}
		log.Info("verification query answered", "partner", ans.RequestedBy, "certificate", q.CertificateNumber, "found", ans.Found)
		w.Header().Set("Content-Type", "application/jose")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(tok)
	})
}

// IssuerNode is how to reach and trust a partner's node for queries.
type IssuerNode struct {
	// Endpoint is the base URL of its partner API, e.g.
	// https://eco.example.vn/eco/v1.
	Endpoint string
	// Trust verifies its signed answers (its receipt-signing anchors).
	Trust certs.TrustStore
}

// IssuerDirectory finds partner nodes by country.
type IssuerDirectory interface {
	IssuerNode(country string) (IssuerNode, bool)
}

// QueryCache stores signed answers (satisfied by *store.Customs).
type QueryCache interface {
	PutQueryAnswer(ctx context.Context, country, number string, fetched time.Time, answer []byte) error
	QueryAnswer(ctx context.Context, country, number string) ([]byte, time.Time, error)
}

// QueryClient asks issuing nodes about certificates not stored here
// (importing side of M5), over mutual TLS, with a timeout, and caches the
// signed answers.
type QueryClient struct {
	// HTTP is the client; NewQueryClient builds it from the node's TLS
	// configuration (client certificate and partner CAs).
	HTTP    *http.Client
	Issuers IssuerDirectory
	Cache   QueryCache
	// Timeout bounds one query; 2 s when zero.
	Timeout time.Duration
	// TTL is how long a positive answer is reused (5 min when zero); a
	// negative answer is reused for at most a minute.
	TTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// NewQueryClient returns a QueryClient whose HTTP client presents the
// node's TLS client certificate and trusts partner servers as tlsConf says.
func NewQueryClient(tlsConf *tls.Config, issuers IssuerDirectory, cache QueryCache, timeout time.Duration) *QueryClient {
	tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second}
	return &QueryClient{HTTP: &http.Client{Transport: tr}, Issuers: issuers, Cache: cache, Timeout: timeout}
}

func (q *QueryClient) ttl() time.Duration {
	if q.TTL <= 0 {
		return 5 * time.Minute
	}
	return q.TTL
}

func (q *QueryClient) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// Ask returns the issuer's verified answer about a certificate, from the
// cache when fresh. Errors are *lookupError with verdict Timeout (no
// answer by the deadline, Timeout after the start on the clock Now: an
// answer that comes later is Timeout even when it arrives whole),
// Unavailable (no such partner, network, HTTP or store error) or Untrusted
// (an answer in time whose signature does not verify).
func (q *QueryClient) Ask(ctx context.Context, country, number, issueDate string) (*QueryAnswer, error) {
	node, ok := q.Issuers.IssuerNode(country)
	if !ok || node.Endpoint == "" {
		return nil, &lookupError{Unavailable, fmt.Errorf("no partner node for %s to ask about certificate %s", country, number)}
	}
	now := q.now()
	ttl := q.ttl()
	if q.Cache != nil {
		if tok, at, err := q.Cache.QueryAnswer(ctx, country, number); err == nil {
			if ans, err := q.verify(tok, node, country, number, now); err == nil {
				life := ttl
				if !ans.Found {
					life = min(ttl, time.Minute)
				}
				if now.Sub(at) < life {
					return ans, nil
				}
			}
		}
	}
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	// The deadline is judged on the injected clock (Now) as well as by
	// the request's context: an answer that arrives after it is TIMEOUT,
	// whatever it says and whether or not it verifies.
	deadline := now.Add(timeout)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	late := func() bool { return errors.Is(cctx.Err(), context.DeadlineExceeded) || q.now().After(deadline) }
	timedOut := func() error {
		return &lookupError{Timeout, fmt.Errorf("the %s node did not answer within %s", country, timeout)}
	}
	body, _ := json.Marshal(QueryRequest{CertificateNumber: number, IssueDate: issueDate})
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, strings.TrimRight(node.Endpoint, "/")+"/verification-queries", bytes.NewReader(body))
	if err != nil {
		return nil, &lookupError{Unavailable, err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/jose")
	resp, err := q.HTTP.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || late() {
			return nil, timedOut()
		}
		return nil, &lookupError{Unavailable, fmt.Errorf("ask the %s node: %w", country, err)}
	}
	defer resp.Body.Close()
	tok, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if late() {
		return nil, timedOut()
	}
	if err != nil {
		return nil, &lookupError{Unavailable, fmt.Errorf("read the %s node's answer: %w", country, err)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &lookupError{Unavailable, fmt.Errorf("the %s node answered HTTP %d", country, resp.StatusCode)}
	}
	ans, err := q.verify(tok, node, country, number, now)
	if err != nil {
		return nil, err
	}
	if q.Cache != nil {
		_ = q.Cache.PutQueryAnswer(ctx, country, number, now, tok)
	}
	return ans, nil
}

// verify checks a signed answer against the issuer's anchors and that it
// answers the question asked.
func (q *QueryClient) verify(tok []byte, node IssuerNode, country, number string, now time.Time) (*QueryAnswer, error) {
	if node.Trust == nil {
		return nil, &lookupError{Unavailable, fmt.Errorf("no trust anchors configured for the %s node's answers", country)}
	}
	payload, _, err := certs.VerifyJWS(bytes.TrimSpace(tok), node.Trust, now)
	if err != nil {
		return nil, &lookupError{Untrusted, fmt.Errorf("the %s node's answer does not verify: %w", country, err)}
	}
	var ans QueryAnswer
	if err := strictjson.Unmarshal(payload, &ans); err != nil {
		return nil, &lookupError{Untrusted, fmt.Errorf("the %s node's answer is not readable: %w", country, err)}
	}
	if ans.Issuer != country || ans.CertificateNumber != number {
		return nil, &lookupError{Untrusted, fmt.Errorf("the answer is about %s/%s, not %s/%s", ans.Issuer, ans.CertificateNumber, country, number)}
	}
	if ans.Found && (ans.Certificate == nil || ans.Certificate.Number != number) {
		return nil, &lookupError{Untrusted, fmt.Errorf("the %s node's answer has no matching certificate data", country)}
	}
	return &ans, nil
}

// viewFor asks the issuer and turns a positive answer into a view (nil for
// not found).
func (q *QueryClient) viewFor(ctx context.Context, country, number, issueDate string, cl *schema.CodeLists) (*View, error) {
	ans, err := q.Ask(ctx, country, number, issueDate)
	if err != nil {
		return nil, err
	}
	if !ans.Found {
		return nil, nil
	}
	d := ans.Certificate
	v := &View{Country: country, Number: d.Number, Version: d.Version, IssueDate: d.IssueDate, ValidUntil: d.ValidUntil,
		Agreement: d.Agreement, Exporter: d.Exporter, Importer: d.Importer, ImporterIDs: d.ImporterIDs, Issuer: d.Issuer,
		Status: ans.Status, ReplacedBy: ans.ReplacedBy, Source: "issuer-query", Valid: true, Built: q.now().UTC(),
		Report: certs.Report{{Check: "issuer-answer", Status: certs.StatusValid, Reason: "jws-verified"}}}
	for _, it := range d.Items {
		u, err := unitBase(it.Quantity.UnitCode, cl)
		if err != nil {
			return nil, &lookupError{Untrusted, fmt.Errorf("the issuer's answer: item %d: %w", it.SequenceNumber, err)}
		}
		n, err := toNano(it.Quantity.Value, u.factor)
		if err != nil {
			return nil, &lookupError{Untrusted, fmt.Errorf("the issuer's answer: item %d quantity: %w", it.SequenceNumber, err)}
		}
		v.Items = append(v.Items, ViewItem{Seq: it.SequenceNumber, HS: it.HSCode, Description: it.Description,
			Value: it.Quantity.Value, Unit: it.Quantity.UnitCode, Base: u.base, Qty: n})
	}
	return v, nil
}
