package verify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ecogate/ecogate/internal/ratelimit"
	"github.com/ecogate/ecogate/store"
)

// Register is the register of certificates this node issued (satisfied
// by *store.Issued).
type Register interface {
	Get(ctx context.Context, number string) (*store.IssuedCert, error)
	ByToken(ctx context.Context, token string) (*store.IssuedCert, error)
}

// Options configure the public verification face.
type Options struct {
	// Country is this node's (issuing) country.
	Country string
	// Issuer names the issuing authority on the page when a certificate's
	// data names none.
	Issuer   string
	Register Register
	// BaseURL is the public base URL, e.g. https://eco.example.in; the QR
	// link is BaseURL + "/verify/q/" + token.
	BaseURL string
	// Rate is the sustained lookups per second allowed per client address
	// (default 0.5), Burst the bucket size (default 10).
	Rate  float64
	Burst int
	// MissesBeforeChallenge is how many lookups that find nothing a client
	// may make before lookups by number need a challenge answer (default
	// 3); misses are forgotten after MissWindow (default 1 h).
	MissesBeforeChallenge int
	MissWindow            time.Duration
	// Key signs challenges and keys the hash of client addresses in logs;
	// random when nil.
	Key []byte
	// ClientAddr returns the client address of a request; the host of
	// RemoteAddr when nil. Set it when a trusted reverse proxy is in front.
	ClientAddr func(*http.Request) string
	Clock      func() time.Time
	Logger     *slog.Logger
	// Render, when set, writes the HTML answers (the portal renders them
	// in its layout); it must set the content type and write status.
	Render func(w http.ResponseWriter, r *http.Request, status int, p Page) error
	// QR checks the signed QR payloads this node prints (qr.go); nil
	// serves no /verify/s/ route.
	QR QRChecker
}

// Service is the public verification face. Safe for concurrent use.
type Service struct {
	opt     Options
	now     func() time.Time
	log     *slog.Logger
	limiter *ratelimit.Table
	misses  *missCounter
	used    sync.Map // challenge nonce -> expiry (single use)
}

// New returns the service.
func New(opt Options) (*Service, error) {
	if opt.Register == nil || opt.Country == "" {
		return nil, errors.New("verify: Options.Register and Options.Country are required")
	}
	if opt.Rate <= 0 {
		opt.Rate = 0.5
	}
	if opt.Burst <= 0 {
		opt.Burst = 10
	}
	if opt.MissesBeforeChallenge <= 0 {
		opt.MissesBeforeChallenge = 3
	}
	if opt.MissWindow <= 0 {
		opt.MissWindow = time.Hour
	}
	if opt.Key == nil {
		opt.Key = make([]byte, 32)
		if _, err := rand.Read(opt.Key); err != nil {
			return nil, err
		}
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.ClientAddr == nil {
		opt.ClientAddr = ratelimit.RemoteHost
	}
	return &Service{opt: opt, now: opt.Clock, log: opt.Logger,
		limiter: ratelimit.New(opt.Rate, opt.Burst, maxTracked),
		misses:  newMissCounter(opt.MissWindow, maxTracked)}, nil
}

// QRLink is the link printed as QR code on a certificate with token tok.
func (s *Service) QRLink(tok string) string {
	return strings.TrimRight(s.opt.BaseURL, "/") + "/verify/q/" + url.PathEscape(tok)
}

// Routes serves GET /verify (form, and lookups with country, number and,
// after repeated misses, challenge and answer) and GET /verify/q/{token}.
// Answers are HTML, or JSON with Accept: application/json.
func (s *Service) Routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/verify", s.handleForm)
	r.Get("/verify/q/{token}", s.handleToken)
	r.Get("/verify/s/{jws}", s.handleSigned)
	return r
}

// Public is what anyone who holds the certificate number (or its QR
// code) sees about it: the details printed on the certificate, as the
// DGFT verification page shows them. Identifiers of the parties (tax and
// registration numbers) are not shown.
type Public struct {
	Number         string `json:"number"`
	Version        int    `json:"version,omitempty"`
	IssueDate      string `json:"issueDate"`
	ValidUntil     string `json:"validUntil,omitempty"`
	Agreement      string `json:"agreement,omitempty"`
	IssuingCountry string `json:"issuingCountry"`
	ImportCountry  string `json:"importCountry,omitempty"`
	Issuer         string `json:"issuer"`
	Exporter       string `json:"exporter"`
	Importer       string `json:"importer,omitempty"`
	Status         string `json:"status"`
	ReplacedBy     string `json:"replacedBy,omitempty"`
	Goods          []Good `json:"goods"`
}

// Good is one goods line as the public sees it.
type Good struct {
	Description string `json:"description"`
	HSCode      string `json:"hsCode"`
	// Quantity is the value and its UN/ECE Rec 20 unit, e.g. "1000 KGM".
	Quantity string `json:"quantity,omitempty"`
}

// Answer is the JSON body of a lookup.
type Answer struct {
	Found       bool       `json:"found"`
	Message     string     `json:"message,omitempty"`
	Certificate *Public    `json:"certificate,omitempty"`
	Challenge   *Challenge `json:"challenge,omitempty"`
	// QR is the check of a signed QR payload, when one was given.
	QR        *QRCheck  `json:"qr,omitempty"`
	CheckedAt time.Time `json:"checkedAt"`
}

// Challenge is the anti-automation question asked after repeated misses.
// Send its ID back as challenge and the result as answer.
type Challenge struct {
	ID       string `json:"id"`
	Question string `json:"question"`
}

// publicOf picks the public fields from the stored core data (field names
// of customs.CoreData); the parties' identifiers are never read.
func (s *Service) publicOf(rec *store.IssuedCert) (*Public, error) {
	var d struct {
		Number        string `json:"number"`
		Version       int    `json:"version"`
		Country       string `json:"country"`
		IssueDate     string `json:"issueDate"`
		ValidUntil    string `json:"validUntil"`
		Agreement     string `json:"agreement"`
		ImportCountry string `json:"importCountry"`
		Exporter      string `json:"exporter"`
		Importer      string `json:"importer"`
		Issuer        string `json:"issuer"`
		Items         []struct {
			Description string `json:"description"`
			HSCode      string `json:"hsCode"`
			Quantity    struct {
				Value    string `json:"value"`
				UnitCode string `json:"unitCode"`
			} `json:"quantity"`
		} `json:"items"`
	}
	if rec.Data == nil {
		return nil, store.ErrNotFound // token reserved, certificate not issued yet
	}
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		return nil, fmt.Errorf("stored data of %s: %w", rec.Number, err)
	}
	p := &Public{Number: rec.Number, Version: d.Version, IssueDate: d.IssueDate, ValidUntil: d.ValidUntil, Agreement: d.Agreement,
		IssuingCountry: rec.Country, ImportCountry: d.ImportCountry, Issuer: d.Issuer, Exporter: d.Exporter, Importer: d.Importer,
		Status: string(rec.Status), ReplacedBy: rec.ReplacedBy, Goods: []Good{}}
	if p.Issuer == "" {
		p.Issuer = s.opt.Issuer
	}
	for _, it := range d.Items {
		g := Good{Description: it.Description, HSCode: it.HSCode}
		if it.Quantity.Value != "" {
			g.Quantity = strings.TrimSpace(it.Quantity.Value + " " + it.Quantity.UnitCode)
		}
		p.Goods = append(p.Goods, g)
	}
	return p, nil
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// clientID is the client address as logs show it: a keyed hash, truncated
// (no address is logged).
func (s *Service) clientID(addr string) string {
	m := hmac.New(sha256.New, s.opt.Key)
	m.Write([]byte("log\x00" + addr))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

func (s *Service) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the QR token must not leak
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
}

// Page is the data of the HTML page (the built-in template, or Options.Render).
type Page struct {
	Country, Number string
	Looked          bool
	Answer          Answer
	Status          string
	// QR is the check of a signed QR payload (/verify/s/..., ?qr=...),
	// nil for other lookups.
	QR *QRCheck
}

// handleForm is GET /verify: the form, or a lookup by country and number.
func (s *Service) handleForm(w http.ResponseWriter, r *http.Request) {
	s.headers(w)
	q := r.URL.Query()
	country, number := strings.ToUpper(strings.TrimSpace(q.Get("country"))), strings.TrimSpace(q.Get("number"))
	if qr := q.Get("qr"); qr != "" && country == "" && number == "" {
		s.signed(w, r, qr)
		return
	}
	if country == "" && number == "" {
		if wantsJSON(r) {
			s.write(w, r, http.StatusBadRequest, Page{}, Answer{Message: "give country and number, e.g. /verify?country=IN&number=...", CheckedAt: s.now().UTC()})
			return
		}
		s.write(w, r, http.StatusOK, Page{Country: s.opt.Country}, Answer{})
		return
	}
	addr := s.opt.ClientAddr(r)
	now := s.now()
	pg := Page{Country: country, Number: number, Looked: true}
	if !s.allow(w, r, addr, "number", country, number, pg, now) {
		return
	}
	if len(country) != 2 || number == "" || len(number) > 64 {
		s.write(w, r, http.StatusBadRequest, pg, Answer{Message: "give the issuing country (2 letters, e.g. " + s.opt.Country + ") and the certificate number (1 to 64 characters)", CheckedAt: now.UTC()})
		return
	}
	if s.misses.count(addr, now) >= s.opt.MissesBeforeChallenge {
		if err := s.checkChallenge(addr, q.Get("challenge"), q.Get("answer"), now); err != nil {
			ch := s.newChallenge(addr, now)
			s.logLookup(addr, "number", country, number, "challenge")
			msg := "after several lookups that found nothing, answer the question below to continue"
			if q.Get("challenge") != "" {
				msg = "the answer was not right or the question expired; answer the new question"
			}
			s.write(w, r, http.StatusPreconditionRequired, pg, Answer{Message: msg, Challenge: ch, CheckedAt: now.UTC()})
			return
		}
	}
	var rec *store.IssuedCert
	var err error
	if country == strings.ToUpper(s.opt.Country) {
		rec, err = s.opt.Register.Get(r.Context(), number)
	} else {
		err = store.ErrNotFound
	}
	s.answer(w, r, addr, "number", pg, rec, err)
}

// allow takes a lookup of kind (country, number: what was asked, when
// known) from addr out of the rate limit; when the limit is spent it
// answers 429 with page pg, logs the refusal and returns false.
func (s *Service) allow(w http.ResponseWriter, r *http.Request, addr, kind, country, number string, pg Page, now time.Time) bool {
	if s.limiter.Allow(addr, now) {
		return true
	}
	w.Header().Set("Retry-After", "2")
	s.logLookup(addr, kind, country, number, "rate-limited")
	s.write(w, r, http.StatusTooManyRequests, pg, Answer{Message: "too many lookups from your address; wait a moment and try again", CheckedAt: now.UTC()})
	return false
}

// handleToken is GET /verify/q/{token}: the QR link.
func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	s.headers(w)
	addr := s.opt.ClientAddr(r)
	now := s.now()
	pg := Page{Looked: true}
	if !s.allow(w, r, addr, "qr", "", "", pg, now) {
		return
	}
	tok := chi.URLParam(r, "token")
	var rec *store.IssuedCert
	err := store.ErrNotFound
	if len(tok) == 22 {
		rec, err = s.opt.Register.ByToken(r.Context(), tok)
	}
	s.answer(w, r, addr, "qr", pg, rec, err)
}

// answer writes a lookup's result and counts misses.
func (s *Service) answer(w http.ResponseWriter, r *http.Request, addr, how string, pg Page, rec *store.IssuedCert, err error) {
	now := s.now()
	var p *Public
	if err == nil {
		p, err = s.publicOf(rec)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.misses.add(addr, now)
		s.logLookup(addr, how, pg.Country, pg.Number, "not-found")
		s.write(w, r, http.StatusNotFound, pg, Answer{Message: "no certificate with this number was issued by " + s.opt.Country + " (check the number and the issuing country)", CheckedAt: now.UTC()})
	case err != nil:
		s.log.Error("verify lookup failed", "err", err)
		s.write(w, r, http.StatusServiceUnavailable, pg, Answer{Message: "the register cannot be read right now; this says nothing about the certificate; try again later", CheckedAt: now.UTC()})
	default:
		s.logLookup(addr, how, p.IssuingCountry, p.Number, "found")
		pg.Country, pg.Number = p.IssuingCountry, p.Number
		s.write(w, r, http.StatusOK, pg, Answer{Found: true, Certificate: p, CheckedAt: now.UTC()})
	}
}

// logLookup logs a lookup without personal data: the client address is a
// keyed, truncated hash; no party data is logged.
func (s *Service) logLookup(addr, how, country, number, result string) {
	s.log.Info("verify lookup", "client", s.clientID(addr), "via", how, "country", country, "number", number, "result", result)
}

func (s *Service) write(w http.ResponseWriter, r *http.Request, status int, pg Page, a Answer) {
	if pg.QR != nil {
		a.QR = pg.QR
	}
	if wantsJSON(r) {
		b, _ := json.Marshal(a)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return
	}
	pg.Answer = a
	pg.Status = statusText(a)
	if s.opt.Render != nil {
		if err := s.opt.Render(w, r, status, pg); err != nil {
			s.log.Error("verify page", "err", err)
		}
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, pg); err != nil {
		s.log.Error("verify page", "err", err)
	}
}

func statusText(a Answer) string {
	if a.Certificate == nil {
		return ""
	}
	switch a.Certificate.Status {
	case string(store.CertIssued):
		return "Valid: issued and not withdrawn"
	case string(store.CertWithdrawn):
		return "WITHDRAWN by the issuer: not valid"
	case string(store.CertReplaced):
		return "REPLACED by " + a.Certificate.ReplacedBy + ": not valid"
	}
	return a.Certificate.Status
}

// --- rate limit -------------------------------------------------------

// maxTracked bounds the per-address tables: past it the least recently
// seen address is forgotten (O(1)), so a flood of new addresses costs
// neither a scan under the lock nor memory past the cap.
const maxTracked = 100_000

// --- misses and challenges ---------------------------------------------

// missCounter counts lookups that found nothing, per address, within a
// window, in a bounded LRU table.
type missCounter struct {
	mu     sync.Mutex // makes add's read-modify-write atomic
	window time.Duration
	m      *lru.Cache[string, missEntry]
}

type missEntry struct {
	n     int
	since time.Time
}

func newMissCounter(window time.Duration, max int) *missCounter {
	m, err := lru.New[string, missEntry](max)
	if err != nil {
		panic(err)
	}
	return &missCounter{window: window, m: m}
}

func (c *missCounter) count(addr string, now time.Time) int {
	e, ok := c.m.Peek(addr)
	if !ok {
		return 0
	}
	if now.Sub(e.since) > c.window {
		c.m.Remove(addr)
		return 0
	}
	return e.n
}

func (c *missCounter) add(addr string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, _ := c.m.Peek(addr)
	if e.n == 0 || now.Sub(e.since) > c.window {
		e = missEntry{since: now}
	}
	e.n++
	c.m.Add(addr, e)
}

const challengeTTL = 5 * time.Minute

// newChallenge makes an arithmetic question whose id carries its expiry,
// a nonce and an HMAC over them, the client address and the answer: the
// server keeps no state until it is answered.
func (s *Service) newChallenge(addr string, now time.Time) *Challenge {
	var rb [10]byte
	_, _ = rand.Read(rb[:])
	a, b := int(rb[8])%20+2, int(rb[9])%20+2
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], uint64(now.Add(challengeTTL).Unix()))
	copy(id[8:], rb[:8])
	mac := s.challengeMAC(id[:], addr, strconv.Itoa(a+b))
	return &Challenge{ID: base64.RawURLEncoding.EncodeToString(append(id[:], mac...)), Question: fmt.Sprintf("What is %d + %d?", a, b)}
}

func (s *Service) challengeMAC(id []byte, addr, answer string) []byte {
	m := hmac.New(sha256.New, s.opt.Key)
	m.Write([]byte("challenge\x00"))
	m.Write(id)
	m.Write([]byte("\x00" + addr + "\x00" + strings.TrimSpace(answer)))
	return m.Sum(nil)[:16]
}

// checkChallenge accepts a right, unexpired, unused answer from the
// address the challenge was made for.
func (s *Service) checkChallenge(addr, id, answer string, now time.Time) error {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) != 32 || answer == "" {
		return errors.New("no challenge answer")
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0)
	if !now.Before(exp) {
		return errors.New("challenge expired")
	}
	if !hmac.Equal(raw[16:], s.challengeMAC(raw[:16], addr, answer)) {
		return errors.New("wrong answer")
	}
	if _, dup := s.used.LoadOrStore(string(raw[8:16]), exp); dup {
		return errors.New("challenge already used")
	}
	s.used.Range(func(k, v any) bool {
		if !now.Before(v.(time.Time)) {
			s.used.Delete(k)
		}
		return true
	})
	return nil
}

var pageTmpl = template.Must(template.New("verify").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Verify a certificate of origin</title>
<style>
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#111}
label{display:block;margin:.6rem 0 .2rem}input{font-size:1rem;padding:.3rem}
.ok{border-left:6px solid #1a7f37;padding:.5rem 1rem;background:#eef8f0}
.bad{border-left:6px solid #b42318;padding:.5rem 1rem;background:#fdf0ef}
.msg{border-left:6px solid #777;padding:.5rem 1rem;background:#f4f4f4}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}
</style></head><body>
<h1>Verify a certificate of origin</h1>
{{with .QR}}{{if .Valid}}<div class="ok">The QR code's signed payload is authentic (signed by {{.Signer}}): certificate {{.Payload.Number}} of {{.Payload.IssueDate}}, exporter {{.Payload.Exporter}}, importer {{.Payload.Importer}}.</div>{{else}}<div class="bad">The QR code's signed payload does not verify.</div>{{end}}{{end}}
{{with .Answer.Certificate}}
<div class="{{if eq .Status "issued"}}ok{{else}}bad{{end}}"><strong>{{$.Status}}</strong></div>
<table>
<tr><th>Certificate number</th><td>{{.Number}}</td></tr>
<tr><th>Issue date</th><td>{{.IssueDate}}</td></tr>
{{if .Version}}<tr><th>Version</th><td>{{.Version}}</td></tr>{{end}}
{{if .ValidUntil}}<tr><th>Valid until</th><td>{{.ValidUntil}}</td></tr>{{end}}
{{if .Agreement}}<tr><th>Agreement</th><td>{{.Agreement}}</td></tr>{{end}}
<tr><th>Issued by</th><td>{{.Issuer}} ({{.IssuingCountry}})</td></tr>
<tr><th>Exporter</th><td>{{.Exporter}}</td></tr>
{{if .Importer}}<tr><th>Importer</th><td>{{.Importer}}{{if .ImportCountry}} ({{.ImportCountry}}){{end}}</td></tr>{{end}}
{{if .ReplacedBy}}<tr><th>Replaced by</th><td>{{.ReplacedBy}}</td></tr>{{end}}
</table>
<h2>Goods</h2>
<table><tr><th>Description</th><th>HS code</th><th>Quantity</th></tr>
{{range .Goods}}<tr><td>{{.Description}}</td><td>{{.HSCode}}</td><td>{{.Quantity}}</td></tr>{{end}}
</table>
{{else}}{{if .Answer.Message}}<div class="msg">{{.Answer.Message}}</div>{{end}}{{end}}
<form method="get" action="/verify">
<label for="country">Issuing country (2 letters)</label><input id="country" name="country" maxlength="2" size="3" value="{{.Country}}" required>
<label for="number">Certificate number</label><input id="number" name="number" maxlength="64" size="30" value="{{.Number}}" required>
{{with .Answer.Challenge}}<input type="hidden" name="challenge" value="{{.ID}}">
<label for="answer">{{.Question}}</label><input id="answer" name="answer" inputmode="numeric" size="4" required autocomplete="off">{{end}}
<p><button type="submit">Verify</button></p>
</form>
<p><small>Only the number, issue date, exporter, goods and status are shown. Lookups are logged without personal data.</small></p>
</body></html>
`))
