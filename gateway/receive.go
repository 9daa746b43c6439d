package gateway

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/strictjson"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// Finding codes the gateway adds to the schema's.
const (
	CodeGWNotReadable    = "ECO-GW-NOT-READABLE"    // the content is not well-formed XML or breaks the parser's limits
	CodeGWExportCountry  = "ECO-GW-EXPORT-COUNTRY"  // the certificate's export country is not the sending partner (SEVERE: refused)
	CodeGWIssuingCountry = "ECO-GW-ISSUING-COUNTRY" // the issuing body's country is not the sending partner (SEVERE: refused)
	CodeGWAgreement      = "ECO-GW-AGREEMENT"       // the agreement is not one the partner exchanges under
)

// IssuingCountry is the country of the certificate's issuing body as the
// document states it (exchangedDocument.issuer.postalAddress.countryCode),
// upper case; "" when the document does not state one.
func IssuingCountry(c *schema.Certificate) string {
	if c == nil || c.Header.Issuer.Address == nil {
		return ""
	}
	return strings.ToUpper(strings.TrimSpace(c.Header.Issuer.Address.CountryCode))
}

// countryFindings are the SEVERE findings of a certificate that does not
// speak for country, the country of the node that sends it (receiving: the
// partner whose client certificate and document-signing anchors were
// verified; sending: this node): its export country must be country, and
// so must its issuing body's country when the document states one. A node
// speaks only for its own country.
func countryFindings(c *schema.Certificate, country string) schema.Findings {
	var fs schema.Findings
	if !strings.EqualFold(strings.TrimSpace(c.Header.ExportCountry), country) {
		fs = append(fs, schema.Finding{Area: schema.AreaRule, Level: schema.Severe, Code: CodeGWExportCountry,
			Path: "exchangedDocument.exportCountry", Message: fmt.Sprintf("export country %q is not %s, the sending node's country (a node speaks only for its own country)", c.Header.ExportCountry, country)})
	}
	if ic := IssuingCountry(c); ic != "" && ic != strings.ToUpper(country) {
		fs = append(fs, schema.Finding{Area: schema.AreaRule, Level: schema.Severe, Code: CodeGWIssuingCountry,
			Path: "exchangedDocument.issuer.postalAddress.countryCode", Message: fmt.Sprintf("issuing body's country %q is not %s, the sending node's country (a node speaks only for its own country)", ic, country)})
	}
	return fs
}

// settle sets the outcome of a readable, correctly signed document from
// its findings: any SEVERE finding refuses it (FailedDelivery, with the
// first SEVERE finding's code as the reason; never delivered of any kind),
// a warning gives DeliveredWithWarnings, else Delivered.
func (ev *evaluation) settle() {
	for _, f := range ev.findings {
		if f.Level == schema.Severe {
			ev.outcome = FailedDelivery
			ev.errText = fmt.Sprintf("refused: %s: %s (%d SEVERE finding(s); nothing was stored as accepted)", f.Code, f.Message, ev.findings.Count(schema.Severe))
			return
		}
	}
	ev.outcome = Delivered
	if ev.findings.Count(schema.Warning) > 0 {
		ev.outcome = DeliveredWithWarnings
	}
}

// errBadEnvelope marks an envelope that cannot even be keyed (no usable
// message id); it gets 400 and no receipt.
var errBadEnvelope = errors.New("bad envelope")

// ReceiveResult is the outcome of Receive.
type ReceiveResult struct {
	// Token is the signed receipt (compact JWS) to answer with.
	Token []byte
	// Receipt is its payload.
	Receipt Receipt
	// Duplicate is true when the message had been received before and
	// Token is the original receipt.
	Duplicate bool
}

// evaluation is what verification, decoding and validation found.
type evaluation struct {
	outcome  Outcome
	cert     *schema.Certificate
	kind     string
	handled  bool   // by an InboundHandler
	number   string // handled: certificate number for the receipt
	version  int
	report   certs.Report
	chain    []*x509.Certificate // the signer chain verification accepted
	findings schema.Findings
	errText  string
}

// evaluate verifies content against the partner's document-signing trust,
// decodes the certificate from the verified element only, and validates
// it. An error means the check could not be made (infrastructure).
func (n *Node) evaluate(ctx context.Context, p *Partner, content []byte) (*evaluation, error) {
	if p.DocumentTrust == nil {
		return nil, fmt.Errorf("partner %s has no document-signing trust anchors configured", p.Country)
	}
	start := time.Now()
	ver, err := n.opt.Verifier.Verify(ctx, p.DocumentTrust, content)
	n.m.verifyDur.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, fmt.Errorf("verify document from %s: %w", p.Country, err)
	}
	ev := &evaluation{report: ver.Report, chain: ver.Chain}
	if ver.Unreadable {
		first := ver.Report.First()
		ev.outcome = DeliveredNotReadable
		ev.errText = "the document is not readable XML: " + first.Detail
		ev.findings = schema.Findings{{Area: schema.AreaSchema, Level: schema.Severe, Code: CodeGWNotReadable, Message: first.Reason + ": " + first.Detail}}
		return ev, nil
	}
	if !ver.Valid || ver.Element == nil {
		first := ver.Report.First()
		ev.outcome = FailedDelivery
		ev.errText = fmt.Sprintf("signature check %s failed: %s: %s", first.Check, first.Reason, first.Detail)
		return ev, nil
	}
	cert, fs := schema.DecodeElement(ver.Element, n.decode)
	ver.Release() // the certificate is decoded: the tree is not read again
	if fs != nil || cert == nil {
		ev.outcome = DeliveredNotReadable
		ev.findings = fs
		ev.errText = "the signed document is not a readable e-CO (see findings)"
		return ev, nil
	}
	ev.cert = cert
	ev.kind = KindOf(cert)
	// The partner's country is its registry entry's (the one its client
	// certificate and document-signing anchors were verified against),
	// never a field of the document. Its findings come first: the first
	// SEVERE finding is the refusal's reason.
	ev.findings = countryFindings(cert, p.Country)
	if n.opt.Validator != nil {
		ev.findings = append(ev.findings, n.opt.Validator.Validate(ctx, cert)...)
	}
	if cert.Header.Agreement != "" && !p.HasAgreement(cert.Header.Agreement) {
		ev.findings = append(ev.findings, schema.Finding{Area: schema.AreaRule, Level: schema.Warning, Code: CodeGWAgreement,
			Path: "exchangedDocument.freeTradeAgreement", Message: fmt.Sprintf("agreement %s is not one %s exchanges under (%s)", cert.Header.Agreement, p.Country, strings.Join(p.Agreements, ", "))})
	}
	ev.settle()
	return ev, nil
}

// checkMessageID refuses ids that cannot key a record.
func checkMessageID(id string) error {
	if id == "" || len(id) > 256 {
		return fmt.Errorf("%w: messageId must have 1 to 256 characters", errBadEnvelope)
	}
	for _, r := range id {
		if r < 0x21 || r == 0x7f || r == '/' {
			return fmt.Errorf("%w: messageId contains a space, control character or slash", errBadEnvelope)
		}
	}
	return nil
}

// Receive runs the inbound pipeline for an envelope from partner p (the
// sender named in the envelope has already been matched to the client
// certificate): deduplicate by message id, verify the signature against
// the partner's anchors, decode only from the verified element, validate,
// sign the receipt, store message and receipt durably, and only then
// return the receipt. Errors: errBadEnvelope (no usable id), an error
// wrapping store.ErrConflict (id or certificate reused with other content),
// or an infrastructure error (no receipt: the sender retries).
func (n *Node) Receive(ctx context.Context, p *Partner, env *Envelope) (*ReceiveResult, error) {
	if err := checkMessageID(env.MessageID); err != nil {
		return nil, err
	}
	hash := ContentHash(env.Content)
	if old, err := n.opt.Inbox.Get(ctx, env.MessageID); err == nil {
		if old.From != p.Country || old.ContentHash != hash {
			return nil, fmt.Errorf("message %s from %s: %w", env.MessageID, p.Country, store.ErrConflict)
		}
		return n.duplicate(ctx, p, old)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}

	var ev *evaluation
	handler := n.opt.Handlers[env.Kind]
	switch env.Kind {
	case "", KindIssue, KindWithdraw, KindReplace:
		handler = nil
	}
	if !strings.EqualFold(env.To, n.country) {
		ev = &evaluation{outcome: FailedDelivery, errText: fmt.Sprintf("the envelope is addressed to %q; this node is %s", env.To, n.country)}
	} else if handler != nil {
		start := time.Now()
		r, err := handler(ctx, p, env)
		n.m.verifyDur.Observe(time.Since(start).Seconds())
		if err != nil {
			return nil, fmt.Errorf("handle %s message %s: %w", env.Kind, env.MessageID, err)
		}
		if !r.Outcome.Valid() {
			return nil, fmt.Errorf("handle %s message %s: the handler gave no receipt outcome", env.Kind, env.MessageID)
		}
		ev = &evaluation{outcome: r.Outcome, kind: env.Kind, report: r.Report, findings: r.Findings, errText: r.Error,
			handled: true, number: r.CertificateNumber, version: r.Version}
		if ev.outcome.Accepted() && ev.findings.HasSevere() {
			ev.settle() // a SEVERE finding is never delivered, whoever found it
		}
	} else {
		var err error
		if ev, err = n.evaluate(ctx, p, env.Content); err != nil {
			return nil, err
		}
		if ev.cert != nil && ev.outcome.Accepted() && (env.CertificateNumber != ev.cert.Header.ID || env.Version != ev.cert.Header.Version) {
			ev.outcome = FailedDelivery
			ev.errText = fmt.Sprintf("the envelope names certificate %s v%d but the signed document is %s v%d",
				env.CertificateNumber, env.Version, ev.cert.Header.ID, ev.cert.Header.Version)
		}
	}
	now := n.clock.Now().UTC()
	rc := Receipt{MessageID: env.MessageID, Issuer: n.country, Sender: p.Country, Outcome: ev.outcome,
		ContentSHA256: hash, Received: now, Findings: ev.findings, Verification: ev.report, Error: ev.errText}
	rec := store.InRecord{ID: env.MessageID, From: p.Country, Content: env.Content, Received: now, Outcome: ev.outcome.State()}
	if ev.cert != nil {
		rc.CertificateNumber, rc.Version = ev.cert.Header.ID, ev.cert.Header.Version
	}
	if ev.handled {
		// Deduplicated by message id only: several messages of a handled
		// kind may concern one certificate version (partial utilisations).
		rc.CertificateNumber, rc.Version = ev.number, ev.version
		rec.Kind = ev.kind
	} else if ev.outcome.Accepted() {
		rec.CertNumber, rec.Version, rec.Kind = ev.cert.Header.ID, ev.cert.Header.Version, ev.kind
		changes, err := n.statusChanges(ctx, p, ev.cert, ev.kind, env.MessageID, now)
		if err != nil {
			return nil, err
		}
		rec.StatusChanges = changes
		if n.opt.CheckView != nil {
			if b, ch, err := n.opt.CheckView(p.Country, ev.cert, ev.report, ev.chain); err == nil {
				rec.CheckView, rec.ViewChain = b, ch
			} else {
				n.log.Warn("customs check view not built; the first check builds it", "certificate", ev.cert.Ref().String(), "message", env.MessageID, "err", err)
			}
		}
	}
	payload, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	tok, err := n.opt.Receipts.SignJWS(payload)
	if err != nil {
		return nil, fmt.Errorf("sign receipt for %s: %w", env.MessageID, err)
	}
	rec.Receipt = tok
	details := map[string]string{"outcome": string(ev.outcome), "sha256": hash}
	if ev.cert != nil {
		details["certificate"] = ev.cert.Ref().String()
		details["kind"] = ev.kind
	}
	if ev.handled {
		details["kind"] = ev.kind
		details["certificate"] = ev.number
	}
	if ev.errText != "" {
		details["error"] = ev.errText
	}
	// The reception and the status changes it makes are audited in the
	// transaction that stores the message (only when it is new).
	entries := []store.Entry{auditEntry("partner:"+p.Country, "receive", env.MessageID, details)}
	for _, c := range rec.StatusChanges {
		entries = append(entries, auditEntry("partner:"+p.Country, "status", fmt.Sprintf("%s/%s/v%d", c.Country, c.Number, c.Version),
			map[string]string{"status": string(c.Status), "replacedBy": c.ReplacedBy, "messageId": env.MessageID}))
	}
	existing, err := n.acceptAudited(ctx, rec, entries)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return n.duplicate(ctx, p, existing)
	}
	n.m.receive.WithLabelValues(p.Country, string(ev.outcome)).Inc()
	if ev.cert != nil && ev.outcome.Accepted() && n.opt.OnAccepted != nil && rec.CheckView == nil {
		n.opt.OnAccepted(ctx, p.Country, env.MessageID, ev.cert, ev.report, ev.chain)
	}
	lvl := n.log.Info
	if !ev.outcome.Accepted() {
		lvl = n.log.Warn
	}
	lvl("envelope received", "partner", p.Country, "id", env.MessageID, "outcome", ev.outcome,
		"certificate", rc.CertificateNumber, "version", rc.Version, "findings", len(ev.findings), "error", ev.errText)
	return &ReceiveResult{Token: tok, Receipt: rc}, nil
}

// duplicate answers a message received before with its original receipt.
func (n *Node) duplicate(ctx context.Context, p *Partner, old *store.InRecord) (*ReceiveResult, error) {
	n.m.receive.WithLabelValues(p.Country, "duplicate").Inc()
	tok := old.Receipt
	if tok == nil {
		// Stored without a receipt (not done by this package): sign one now.
		return nil, fmt.Errorf("message %s is stored without a receipt", old.ID)
	}
	var rc Receipt
	if b, err := decodeJWSPayload(tok); err == nil {
		_ = json.Unmarshal(b, &rc)
	}
	n.log.Info("duplicate envelope answered with the original receipt", "partner", p.Country, "id", old.ID, "outcome", rc.Outcome)
	return &ReceiveResult{Token: tok, Receipt: rc, Duplicate: true}, nil
}

// statusChanges computes the certificate status records a message sets:
// an issue marks its version issued, a withdrawal withdrawn, a replacement
// marks itself issued and the certificate it replaces replaced.
func (n *Node) statusChanges(ctx context.Context, p *Partner, c *schema.Certificate, kind, id string, now time.Time) ([]store.StatusChange, error) {
	self := store.StatusChange{Country: p.Country, Number: c.Header.ID, Version: c.Header.Version, Status: store.CertIssued, MessageID: id, At: now}
	switch kind {
	case KindWithdraw:
		self.Status = store.CertWithdrawn
		return []store.StatusChange{self}, nil
	case KindReplace:
		out := []store.StatusChange{self}
		by := c.Header.ID + "/" + strconv.Itoa(c.Header.Version)
		oldNum, oldVer := c.Header.ID, 0
		if c.Replaces != nil && c.Replaces.CertificateNumber != "" {
			oldNum, oldVer = c.Replaces.CertificateNumber, c.Replaces.Version
		}
		var versions []int
		switch {
		case oldVer > 0:
			versions = []int{oldVer}
		case oldNum == c.Header.ID:
			if c.Header.Version > 1 {
				versions = []int{c.Header.Version - 1}
			}
		default:
			sts, err := n.opt.Inbox.CertStatuses(ctx, p.Country, oldNum)
			if err != nil {
				return nil, err
			}
			for _, s := range sts {
				if s.Status == store.CertIssued {
					versions = append(versions, s.Version)
				}
			}
			if len(versions) == 0 {
				versions = []int{1}
			}
		}
		for _, v := range versions {
			if oldNum == c.Header.ID && v == c.Header.Version {
				continue
			}
			out = append(out, store.StatusChange{Country: p.Country, Number: oldNum, Version: v, Status: store.CertReplaced, ReplacedBy: by, MessageID: id, At: now})
		}
		return out, nil
	}
	return []store.StatusChange{self}, nil
}

// checkReceipt verifies a partner's receipt for an outbound message: the
// JWS against the partner's receipt trust, the issuer and sender, and the
// content hash. A receipt for another message id with the same content is
// accepted (the partner recognised a duplicate of an earlier message).
func (n *Node) checkReceipt(p *Partner, rec *store.OutRecord, token []byte) (*Receipt, error) {
	payload, err := n.opt.ReceiptVerifier.VerifyJWS(token, p.ReceiptTrust(), n.clock.Now())
	if err != nil {
		return nil, err
	}
	var rc Receipt
	if err := strictjson.Unmarshal(payload, &rc); err != nil {
		return nil, fmt.Errorf("receipt payload: %w", err)
	}
	switch {
	case !rc.Outcome.Valid():
		return nil, fmt.Errorf("receipt outcome %q is not one of Delivered, DeliveredWithWarnings, DeliveredNotReadable, FailedDelivery", rc.Outcome)
	case !strings.EqualFold(rc.Issuer, p.Country):
		return nil, fmt.Errorf("receipt issued by %q, expected %s", rc.Issuer, p.Country)
	case !strings.EqualFold(rc.Sender, n.country):
		return nil, fmt.Errorf("receipt for sender %q, expected %s", rc.Sender, n.country)
	case rc.ContentSHA256 != rec.ContentHash:
		return nil, fmt.Errorf("receipt covers content %s, message %s has %s", rc.ContentSHA256, rec.ID, rec.ContentHash)
	}
	if rc.MessageID != rec.ID {
		n.log.Info("partner answered with the receipt of an earlier message with the same content", "partner", p.Country, "id", rec.ID, "receiptFor", rc.MessageID)
	}
	return &rc, nil
}
