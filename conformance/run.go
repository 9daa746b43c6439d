package conformance

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/openapi"
)

// Status is the verdict on one assertion.
type Status string

// Verdicts.
const (
	Pass          Status = "PASS"
	Fail          Status = "FAIL"
	NotApplicable Status = "NOT APPLICABLE"
)

// Options configure Run.
type Options struct {
	// Target is the node's partner API base URL, e.g. https://node/eco/v1.
	Target string
	// Only lists the assertion ids to run (all when empty).
	Only []string
	// NodeCountry is the node's country; empty: read from its signed profile.
	NodeCountry string
	// NodeCA, when set, verifies the node's TLS server certificate.
	NodeCA *x509.CertPool
	// MaxDocumentBytes is the largest document the node is expected to
	// take (default 4 MiB); the oversize assertion sends three times more.
	MaxDocumentBytes int
	// Timeout bounds one request (default 20s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress, when set, gets one line per assertion.
	Progress io.Writer
}

// Result is the verdict on one assertion with what was exchanged.
type Result struct {
	ID        string     `json:"id"`
	Group     string     `json:"group"`
	Title     string     `json:"title"`
	Rule      string     `json:"rule"`
	Status    Status     `json:"status"`
	Reason    string     `json:"reason,omitempty"`
	Exchanges []Exchange `json:"exchanges"`
	Millis    int64      `json:"durationMs"`
}

// Report is the outcome of a run.
type Report struct {
	Target      string    `json:"target"`
	KitCountry  string    `json:"kitCountry"`
	NodeCountry string    `json:"nodeCountry"`
	Started     time.Time `json:"started"`
	Millis      int64     `json:"durationMs"`
	Passed      int       `json:"passed"`
	Failed      int       `json:"failed"`
	NotApplic   int       `json:"notApplicable"`
	Results     []Result  `json:"results"`
}

// OK reports whether every applicable assertion passed.
func (r *Report) OK() bool { return r.Failed == 0 }

// T is the state of one assertion while it runs.
type T struct {
	ID          string
	exchanges   []Exchange
	contractErr error
}

// errNA marks an assertion that does not apply to this node.
type errNA struct{ why string }

func (e errNA) Error() string { return e.why }

func notApplicable(format string, a ...any) error { return errNA{fmt.Sprintf(format, a...)} }

// session is one run against one node.
type session struct {
	ctx      context.Context
	kit      *Kit
	opt      Options
	clients  map[Identity]*http.Client
	contract *openapi.Contract
	node     string // node country
	run      string // unique per run, in certificate numbers
	seq      int

	profile      *Profile
	profileErr   error
	receiptTrust certs.TrustStore
	pulled       []Envelope // what GET /inbox listed first
	pulledDone   bool
}

func opOf(method, tmpl string) openapi.Operation {
	return openapi.Operation{Path: tmpl, Method: method}
}

// Run runs the catalogue (or Options.Only) against the node at
// opt.Target, playing the kit's partner, and returns the report. An error
// means the run could not start (bad options); assertion failures are in
// the report.
func Run(ctx context.Context, kit *Kit, opt Options) (*Report, error) {
	if opt.Target == "" {
		return nil, errors.New("conformance run: the target URL is required (the node's partner API, e.g. https://node.example/eco/v1)")
	}
	if !strings.HasPrefix(opt.Target, "https://") {
		return nil, fmt.Errorf("conformance run: target %q must be an https:// URL (the partner API uses mutual TLS)", opt.Target)
	}
	if opt.MaxDocumentBytes <= 0 {
		opt.MaxDocumentBytes = 4 << 20
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 20 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	for _, id := range opt.Only {
		if Lookup(id) == nil {
			return nil, fmt.Errorf("conformance run: --only %s: no such assertion (ecogate conformance list shows them)", id)
		}
	}
	contract, err := openapi.NewContract("partner.json", openapi.Partner)
	if err != nil {
		return nil, err
	}
	s := &session{ctx: ctx, kit: kit, opt: opt, clients: map[Identity]*http.Client{}, contract: contract,
		node: strings.ToUpper(opt.NodeCountry), run: strings.ToUpper(newID()[:8])}
	defer func() {
		for _, c := range s.clients {
			c.CloseIdleConnections()
		}
	}()
	start := opt.Now()
	rep := &Report{Target: opt.Target, KitCountry: kit.Country, Started: start.UTC()}
	if s.node == "" {
		t := &T{ID: "setup"}
		if p, err := s.nodeProfile(t); err == nil {
			s.node = strings.ToUpper(p.Country)
		}
	}
	if s.node == "" {
		return nil, fmt.Errorf("conformance run: the node's country could not be read from its signed profile (%v); give it with --node-country", s.profileErr)
	}
	rep.NodeCountry = s.node
	for _, a := range Catalogue() {
		if len(opt.Only) > 0 && !slices.ContainsFunc(opt.Only, func(id string) bool { return strings.EqualFold(id, a.ID) }) {
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		t := &T{ID: a.ID}
		began := time.Now()
		err := a.Run(s, t)
		res := Result{ID: a.ID, Group: a.Group, Title: a.Title, Rule: a.Rule, Exchanges: t.exchanges, Millis: time.Since(began).Milliseconds()}
		var na errNA
		switch {
		case errors.As(err, &na):
			res.Status, res.Reason = NotApplicable, na.why
			rep.NotApplic++
		case err != nil:
			res.Status, res.Reason = Fail, err.Error()
			rep.Failed++
		case t.contractErr != nil:
			res.Status, res.Reason = Fail, t.contractErr.Error()
			rep.Failed++
		default:
			res.Status = Pass
			rep.Passed++
		}
		if res.Exchanges == nil {
			res.Exchanges = []Exchange{}
		}
		if opt.Progress != nil {
			line := fmt.Sprintf("%-15s %-4s %s", a.ID, short(res.Status), a.Title)
			if res.Reason != "" {
				line += "\n                     " + res.Reason
			}
			fmt.Fprintln(opt.Progress, line)
		}
		rep.Results = append(rep.Results, res)
	}
	rep.Millis = opt.Now().Sub(start).Milliseconds()
	return rep, nil
}

func short(s Status) string {
	if s == NotApplicable {
		return "N/A"
	}
	return string(s)
}

// number returns a fresh certificate number for this run.
func (s *session) number() string {
	s.seq++
	return fmt.Sprintf("%s-CONF-%s-%03d", s.kit.Country, s.run, s.seq)
}

// envelope wraps content for the node.
func (s *session) envelope(number string, version int, content []byte) Envelope {
	return Envelope{MessageID: newID(), From: s.kit.Country, To: s.node, DocumentType: "861", MessageFunction: "9",
		CertificateNumber: number, Version: version, Created: s.opt.Now().UTC(), Content: content}
}

// send posts an envelope with an identity.
func (s *session) send(t *T, id Identity, env Envelope) Answer {
	return s.do(t, id, http.MethodPost, "/envelopes", "/envelopes", "application/json", mustJSON(env))
}

// nodeProfile fetches and verifies the node's signed profile once.
func (s *session) nodeProfile(t *T) (*Profile, error) {
	if s.profile != nil || s.profileErr != nil {
		return s.profile, s.profileErr
	}
	a := s.do(t, IDGood, http.MethodGet, "/profile", "/profile", "", nil)
	s.profile, s.receiptTrust, s.profileErr = s.checkProfile(a)
	return s.profile, s.profileErr
}

func (s *session) checkProfile(a Answer) (*Profile, certs.TrustStore, error) {
	if a.Err != nil {
		return nil, nil, fmt.Errorf("GET /profile: %v", a.Err)
	}
	if a.Status != http.StatusOK {
		return nil, nil, fmt.Errorf("GET /profile answered %d, want 200 with the signed profile", a.Status)
	}
	payload, err := jwsPayload(a.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("the profile is not a compact JWS: %v", err)
	}
	var p Profile
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, nil, fmt.Errorf("the profile payload is not JSON: %v", err)
	}
	if len(p.ReceiptCertificates) == 0 {
		return nil, nil, errors.New("the profile names no receiptCertificates: receipts cannot be verified")
	}
	rc, err := x509.ParseCertificate(p.ReceiptCertificates[0])
	if err != nil {
		return nil, nil, fmt.Errorf("the profile's first receipt certificate: %v", err)
	}
	trust := &certs.TrustSet{AnchorCerts: []*x509.Certificate{rc}}
	if _, signer, err := certs.VerifyJWS(a.Body, trust, s.opt.Now()); err != nil {
		return nil, nil, fmt.Errorf("the profile's JWS does not verify under its own receipt certificate: %v", err)
	} else if !signer.Equal(rc) {
		return nil, nil, errors.New("the profile is signed by another certificate than its first receipt certificate")
	}
	return &p, trust, nil
}

// verifyReceipt verifies a receipt JWS under the profile's receipt key
// and its binding to env.
func (s *session) verifyReceipt(t *T, tok []byte, env Envelope) (*Receipt, error) {
	if _, err := s.nodeProfile(t); err != nil {
		return nil, fmt.Errorf("cannot verify the receipt: %v", err)
	}
	payload, _, err := certs.VerifyJWS([]byte(strings.TrimSpace(string(tok))), s.receiptTrust, s.opt.Now())
	if err != nil {
		return nil, fmt.Errorf("the receipt's JWS does not verify under the node's profile receipt key: %v", err)
	}
	var rc Receipt
	if err := json.Unmarshal(payload, &rc); err != nil {
		return nil, fmt.Errorf("the receipt payload is not JSON: %v", err)
	}
	if err := s.contract.Validate("/components/schemas/Receipt", payload); err != nil {
		return nil, fmt.Errorf("the receipt payload: %v", err)
	}
	switch {
	case rc.MessageID != env.MessageID:
		return nil, fmt.Errorf("the receipt is for message %q, not %q", rc.MessageID, env.MessageID)
	case rc.ContentSHA256 != sha256hex(env.Content):
		return nil, fmt.Errorf("the receipt covers content %s, the envelope's is %s", rc.ContentSHA256, sha256hex(env.Content))
	case !strings.EqualFold(rc.Sender, s.kit.Country):
		return nil, fmt.Errorf("the receipt names sender %q, not %s", rc.Sender, s.kit.Country)
	case !strings.EqualFold(rc.Issuer, s.node):
		return nil, fmt.Errorf("the receipt names issuer %q, not %s", rc.Issuer, s.node)
	}
	return &rc, nil
}

// expectAccepted checks that an envelope got 200 with a verifying receipt
// whose outcome is Delivered or DeliveredWithWarnings.
func (s *session) expectAccepted(t *T, a Answer, env Envelope) (*Receipt, error) {
	if a.Err != nil {
		return nil, fmt.Errorf("no answer: %v", a.Err)
	}
	if a.Status != http.StatusOK {
		return nil, fmt.Errorf("answered %d, want 200 with a signed receipt: %s", a.Status, excerpt(a.Body, 300))
	}
	rc, err := s.verifyReceipt(t, a.Body, env)
	if err != nil {
		return nil, err
	}
	if !accepted(rc.Outcome) {
		return rc, fmt.Errorf("the receipt's outcome is %s (%s), want Delivered or DeliveredWithWarnings", rc.Outcome, rc.Error)
	}
	return rc, nil
}

// expectRefused checks that an envelope was not accepted: a transport
// refusal, an HTTP status among want (4xx), or 200 with a signed receipt
// whose outcome is DeliveredNotReadable or FailedDelivery; and that
// tracking the message afterwards shows no accepted record.
func (s *session) expectRefused(t *T, a Answer, env Envelope, transportOK bool, want ...int) error {
	switch {
	case a.Err != nil:
		if !transportOK {
			return fmt.Errorf("no answer: %v", a.Err)
		}
	case a.Status == http.StatusOK:
		if len(want) > 0 && !slices.Contains(want, 200) {
			return fmt.Errorf("answered 200, want %s and no receipt", statuses(want))
		}
		rc, err := s.verifyReceipt(t, a.Body, env)
		if err != nil {
			return fmt.Errorf("answered 200 but not with a valid receipt: %v", err)
		}
		if accepted(rc.Outcome) {
			return fmt.Errorf("accepted (receipt outcome %s); it must be refused", rc.Outcome)
		}
	case slices.Contains(want, a.Status):
	default:
		return fmt.Errorf("answered %d, want %s: %s", a.Status, statuses(want), excerpt(a.Body, 300))
	}
	return s.expectNotStored(t, env.MessageID)
}

func statuses(want []int) string {
	var ss []string
	for _, w := range want {
		if w == 200 {
			ss = append(ss, "200 with a refusing receipt")
			continue
		}
		ss = append(ss, fmt.Sprint(w))
	}
	if len(ss) == 0 {
		return "a refusal"
	}
	return strings.Join(ss, " or ")
}

// expectNotStored checks through tracking that message id is not stored
// as accepted.
func (s *session) expectNotStored(t *T, id string) error {
	tr, status, err := s.track(t, id)
	if err != nil {
		return err
	}
	if status == http.StatusOK && accepted(tr.TrackingInfo) {
		return fmt.Errorf("tracking shows message %s stored as %s: a refused message must leave no accepted record", id, tr.TrackingInfo)
	}
	return nil
}

// track asks GET /envelopes/{id} with the registered client.
func (s *session) track(t *T, id string) (*Tracking, int, error) {
	a := s.do(t, IDGood, http.MethodGet, "/envelopes/{id}", "/envelopes/"+id, "", nil)
	if a.Err != nil {
		return nil, 0, fmt.Errorf("tracking %s: %v", id, a.Err)
	}
	if a.Status != http.StatusOK && a.Status != http.StatusNotFound {
		return nil, a.Status, fmt.Errorf("tracking %s answered %d, want 200 or 404", id, a.Status)
	}
	var tr Tracking
	if err := json.Unmarshal(a.Body, &tr); err != nil {
		return nil, a.Status, fmt.Errorf("tracking %s: the answer is not JSON: %v", id, err)
	}
	return &tr, a.Status, nil
}

// inbox lists what waits for the kit in pull mode (issues only); the
// first successful listing is remembered for the assertions that need a
// certificate the node issued to the kit.
func (s *session) inbox(t *T) ([]Envelope, error) {
	a := s.do(t, IDGood, http.MethodGet, "/inbox", "/inbox", "", nil)
	switch {
	case a.Err != nil:
		return nil, fmt.Errorf("GET /inbox: %v", a.Err)
	case a.Status != http.StatusOK:
		return nil, fmt.Errorf("GET /inbox answered %d, want 200", a.Status)
	}
	var l struct {
		Envelopes []Envelope `json:"envelopes"`
	}
	if err := json.Unmarshal(a.Body, &l); err != nil {
		return nil, fmt.Errorf("GET /inbox: not the envelope list: %v", err)
	}
	var out []Envelope
	for _, e := range l.Envelopes {
		if e.Kind == "" || e.Kind == "issue" {
			out = append(out, e)
		}
	}
	if !s.pulledDone {
		s.pulled, s.pulledDone = out, true
	}
	return out, nil
}
