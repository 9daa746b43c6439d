package customs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// Verdicts of a check.
const (
	// Authentic: the certificate is stored (or confirmed by its issuer),
	// its signature verified, it is in force and the declaration matches.
	Authentic = "AUTHENTIC"
	// Mismatch: authentic and in force, but the declaration differs (see
	// differences and items).
	Mismatch = "MISMATCH"
	// NotFound: neither this node nor the issuer knows the certificate.
	NotFound = "NOT_FOUND"
	// Withdrawn and Replaced: the issuer withdrew or replaced it.
	Withdrawn = "WITHDRAWN"
	Replaced  = "REPLACED"
	// Expired: its validity (issue date + the agreement's months) has ended.
	Expired = "EXPIRED"
	// Untrusted: its signature or the issuer's answer did not verify, or
	// its signer chain no longer verifies against the partner's trust as
	// loaded now (see signer in the answer).
	Untrusted = "UNTRUSTED"
	// Revoked: the signer's certificate, or a CA above it, is revoked by a
	// CRL loaded now, though it was not when the e-CO arrived (the
	// answer's signer report has revocation.revoked with the details).
	Revoked = "REVOKED"
	// Timeout and Unavailable: the check could not be made (the issuer did
	// not answer in time, or a store or network error). Never "not
	// authentic": ask again.
	Timeout     = "TIMEOUT"
	Unavailable = "UNAVAILABLE"
)

// Quantity is a decimal quantity with its UN/ECE Rec 20 unit.
type Quantity struct {
	Value    string `json:"value"`
	UnitCode string `json:"unitCode"`
}

// PartyRef names a party in a declaration.
type PartyRef struct {
	Name string `json:"name,omitempty"`
	// ID is an identifier as scheme:value or value.
	ID string `json:"id,omitempty"`
}

// DeclaredItem is one declaration line claiming preference.
type DeclaredItem struct {
	// SequenceNumber is the certificate's goods item the line claims; 0
	// lets the check find it by HS code.
	SequenceNumber int       `json:"sequenceNumber,omitempty"`
	HSCode         string    `json:"hsCode"`
	Quantity       *Quantity `json:"quantity"`
}

// CheckRequest is the body of POST /customs/v1/checks.
type CheckRequest struct {
	ExportCountry     string         `json:"exportCountry"`
	CertificateNumber string         `json:"certificateNumber"`
	IssueDate         string         `json:"issueDate,omitempty"`
	Importer          *PartyRef      `json:"importer,omitempty"`
	DeclarationRef    string         `json:"declarationRef,omitempty"`
	Items             []DeclaredItem `json:"items"`
}

// Difference is one way a declaration differs from the certificate.
type Difference struct {
	Field     string `json:"field"`
	Code      string `json:"code"`
	Declared  string `json:"declared,omitempty"`
	Certified string `json:"certified,omitempty"`
	Message   string `json:"message"`
}

// Difference codes.
const (
	DiffIssueDate = "ISSUE_DATE_MISMATCH"
	DiffImporter  = "IMPORTER_MISMATCH"
	DiffHS        = "HS_SUBHEADING_MISMATCH"
	DiffQuantity  = "QUANTITY_EXCEEDS_REMAINING"
	DiffNoItem    = "ITEM_NOT_ON_CERTIFICATE"
)

// ItemResult is the check of one declared line.
type ItemResult struct {
	// Line is the index of the line in the request.
	Line int `json:"line"`
	// SequenceNumber is the certificate item it was matched to (0: none).
	SequenceNumber int          `json:"sequenceNumber,omitempty"`
	Match          bool         `json:"match"`
	Differences    []Difference `json:"differences,omitempty"`
	// Certified, Remaining and Declared are in the certificate item's unit.
	Certified *Quantity `json:"certified,omitempty"`
	Remaining *Quantity `json:"remaining,omitempty"`
	Declared  *Quantity `json:"declared,omitempty"`
}

// CertSummary is the stored certificate as a check shows it.
type CertSummary struct {
	ExportCountry string `json:"exportCountry"`
	Number        string `json:"number"`
	Version       int    `json:"version"`
	IssueDate     string `json:"issueDate"`
	ValidUntil    string `json:"validUntil,omitempty"`
	Agreement     string `json:"agreement,omitempty"`
	Exporter      string `json:"exporter"`
	Importer      string `json:"importer"`
	Issuer        string `json:"issuer"`
	Status        string `json:"status"`
	ReplacedBy    string `json:"replacedBy,omitempty"`
}

// VerificationInfo is the verification report of the stored e-CO (or of
// the issuer's signed answer).
type VerificationInfo struct {
	Source string       `json:"source"`
	Valid  bool         `json:"valid"`
	Report certs.Report `json:"report,omitempty"`

	// raw, when set, is this value already encoded (a stored view's
	// fragment); Source and Valid are set, Report is left nil.
	raw []byte
}

// MarshalJSON writes the pre-encoded form when there is one.
func (vi VerificationInfo) MarshalJSON() ([]byte, error) {
	if vi.raw != nil {
		return vi.raw, nil
	}
	type plain VerificationInfo
	return json.Marshal(plain(vi))
}

// CheckResult is the answer of POST /customs/v1/checks.
type CheckResult struct {
	Verdict      string            `json:"verdict"`
	Message      string            `json:"message"`
	Certificate  *CertSummary      `json:"certificate,omitempty"`
	Differences  []Difference      `json:"differences,omitempty"`
	Items        []ItemResult      `json:"items,omitempty"`
	Verification *VerificationInfo `json:"verification,omitempty"`
	// Signer is the stored signer chain re-evaluated at the time of the
	// check against the partner's trust and CRLs loaded now (stored
	// certificates only; Verification is the report made at receipt).
	Signer    *SignerCheck `json:"signer,omitempty"`
	CheckedAt time.Time    `json:"checkedAt"`

	frag *fragments // pre-encoded parts of a stored view (alias the check's snapshot)
}

// declared is a validated, converted declared line.
type declared struct {
	seq  int
	hs6  string
	qty  Quantity
	unit unitDef
}

// validate checks a request's form; it returns a 400 field error.
//
// The lines go to out's array when it is large enough.
func (s *Service) validateCheck(req *CheckRequest, out []declared) ([]declared, *fieldError) {
	req.ExportCountry = strings.ToUpper(strings.TrimSpace(req.ExportCountry))
	req.CertificateNumber = strings.TrimSpace(req.CertificateNumber)
	if len(req.ExportCountry) != 2 || !isUpperAlpha(req.ExportCountry) {
		return nil, badField("exportCountry", "must be an ISO 3166-1 alpha-2 code, e.g. VN")
	}
	if req.CertificateNumber == "" || len(req.CertificateNumber) > 64 || strings.ContainsAny(req.CertificateNumber, "\x00/") {
		return nil, badField("certificateNumber", "must have 1 to 64 characters and no '/'")
	}
	if req.IssueDate != "" && !plainDate(req.IssueDate) {
		if _, err := schema.ParseDate(req.IssueDate); err != nil {
			return nil, badField("issueDate", "%v", err)
		}
	}
	if len(req.Items) > 999 {
		return nil, badField("items", "at most 999 lines")
	}
	if cap(out) >= len(req.Items) {
		out = out[:len(req.Items)]
	} else {
		out = make([]declared, len(req.Items))
	}
	for i, it := range req.Items {
		f := func() string { return "items[" + strconv.Itoa(i) + "]" } // only on a refusal
		if it.SequenceNumber < 0 {
			return nil, badField(f()+".sequenceNumber", "must be 1 or more (or left out)")
		}
		hs := stripHS(it.HSCode)
		if len(hs) < 6 || len(hs) > 12 || !isDigits(hs) {
			return nil, badField(f()+".hsCode", "must be an HS code of 6 to 12 digits (the first 6 are compared), got %q", it.HSCode)
		}
		if it.Quantity == nil {
			return nil, badField(f()+".quantity", "is required: {\"value\": \"1000\", \"unitCode\": \"KGM\"}")
		}
		d, err := unitBase(it.Quantity.UnitCode, s.opt.CodeLists)
		if err != nil {
			return nil, badField(f()+".quantity.unitCode", "%v", err)
		}
		if _, err := toNano(it.Quantity.Value, d.factor); err != nil {
			return nil, badField(f()+".quantity.value", "%v", err)
		}
		out[i] = declared{seq: it.SequenceNumber, hs6: hs[:6], qty: *it.Quantity, unit: d}
	}
	return out, nil
}

// stripHS removes the dots and spaces people write in HS codes.
func stripHS(s string) string {
	if strings.IndexByte(s, '.') < 0 && strings.IndexByte(s, ' ') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && s[i] != ' ' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isUpperAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// found is a certificate as a check sees it.
type found struct {
	view       *View
	frag       *fragments
	status     string
	replacedBy string
	used       map[int]int64
}

// lookupError is a lookup that could not be made.
type lookupError struct {
	verdict string
	err     error
}

func (e *lookupError) Error() string { return e.err.Error() }

// lookup finds a certificate: the stored view (built lazily from the inbox
// on the first check), else the issuer's answer. It returns nil, nil when
// the certificate is unknown.
//
// The result, the view and its fragments live in m (nil: a new one) or
// alias its snapshot: the caller must not reuse m while it uses the result.
func (s *Service) lookup(ctx context.Context, country, number string, issueDate string, m *checkMem) (*found, error) {
	if m == nil {
		m = new(checkMem)
	}
	snap := &m.snap
	ok, err := s.opt.Store.Snapshot(country, number, viewVersion, snap)
	if err != nil {
		return nil, &lookupError{Unavailable, err}
	}
	if !ok || snap.Stale {
		if s.opt.Inbox != nil && snap.LatestSeq != 0 {
			built, err := s.buildFromInbox(ctx, country, number)
			if err != nil {
				return nil, &lookupError{Unavailable, err}
			}
			if built {
				if ok, err = s.opt.Store.Snapshot(country, number, viewVersion, snap); err != nil {
					return nil, &lookupError{Unavailable, err}
				}
			}
		}
	}
	if !ok {
		if s.opt.Query == nil {
			return nil, nil
		}
		v, err := s.opt.Query.viewFor(ctx, country, number, issueDate, s.opt.CodeLists)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, nil
		}
		if err := s.storeQueryView(ctx, v); err != nil {
			s.log.Warn("customs: cannot store the view from a query answer", "certificate", country+"/"+number, "err", err)
		}
		return &found{view: v, status: v.Status, replacedBy: v.ReplacedBy}, nil
	}
	v, frag := &m.view, &m.frag
	v.Items, v.ImporterIDs = m.vitems[:0], m.ids[:0]
	if err := parseViewInto(snap.View, v, frag); err != nil {
		return nil, &lookupError{Unavailable, err}
	}
	if frag.legacy && v.Source == "stored" && len(v.Chain) == 0 && s.opt.SignerTrust != nil && s.opt.Inbox != nil {
		// A view stored before views kept the signer chain: build it
		// again from the stored message, once, so that the check can
		// re-evaluate the chain.
		built, err := s.buildFromInbox(ctx, country, number)
		if err != nil {
			return nil, &lookupError{Unavailable, err}
		}
		if built {
			if ok, err = s.opt.Store.Snapshot(country, number, viewVersion, snap); err != nil || !ok {
				return nil, &lookupError{Unavailable, fmt.Errorf("check view of %s/%s vanished after rebuilding it: %v", country, number, err)}
			}
			if err := parseViewInto(snap.View, v, frag); err != nil {
				return nil, &lookupError{Unavailable, err}
			}
		}
	}
	if v.Source == "issuer-query" && s.opt.Query != nil && s.now().Sub(v.Built) > s.opt.Query.ttl() {
		// The issuer's answer is old: ask again (its cache is as old).
		nv, err := s.opt.Query.viewFor(ctx, country, number, issueDate, s.opt.CodeLists)
		if err != nil {
			return nil, err
		}
		if nv == nil {
			return nil, nil
		}
		if err := s.storeQueryView(ctx, nv); err != nil {
			s.log.Warn("customs: cannot store the view from a query answer", "certificate", country+"/"+number, "err", err)
		}
		v, frag = nv, nil
	}
	f := &m.found
	*f = found{view: v, frag: frag, status: v.Status, replacedBy: v.ReplacedBy}
	if snap.HasStatus {
		f.status, f.replacedBy = string(snap.Status), snap.ReplacedBy
	}
	if f.status == "" {
		f.status = string(store.CertIssued)
	}
	if len(snap.Used) > 0 {
		f.used = make(map[int]int64, len(snap.Used))
		for _, u := range snap.Used {
			f.used[u.Seq] = u.Used
		}
	}
	return f, nil
}

func (s *Service) storeQueryView(ctx context.Context, v *View) error {
	b, err := v.Encode()
	if err != nil {
		return err
	}
	return s.opt.Store.PutView(ctx, v.Country, v.Number, store.ViewFromQuery, b)
}

// buildFromInbox builds and stores the view of a certificate from the last
// accepted message that carries it. It reports whether it stored one.
func (s *Service) buildFromInbox(ctx context.Context, country, number string) (bool, error) {
	recs, err := s.opt.Inbox.ByCertificate(ctx, country, number)
	if err != nil {
		return false, err
	}
	var latest uint64
	var pick *store.InRecord
	for i := range recs {
		r := &recs[i]
		latest = max(latest, r.Seq)
		if r.Outcome != store.StateDelivered && r.Outcome != store.StateDeliveredWithWarnings {
			continue
		}
		if r.Kind == KindDecision {
			continue
		}
		if pick == nil || r.Kind != "withdraw" || pick.Kind == "withdraw" {
			pick = r
		}
	}
	if pick == nil {
		return false, nil
	}
	full, err := s.opt.Inbox.Get(ctx, pick.ID)
	if err != nil {
		return false, err
	}
	c, fs := schema.DecodeXML(full.Content, schema.DecodeOptions{})
	if c == nil {
		return false, fmt.Errorf("stored message %s does not decode as an e-CO: %v", pick.ID, fs)
	}
	v, err := ViewOf(c, reportOf(full), s.opt.CodeLists, full.Received)
	if err != nil {
		return false, err
	}
	v.Country = country // the message's verified sender (the inbox's key), not the document's field
	// The signer chain, recovered from the signed bytes (verified when
	// they arrived), for checks to re-evaluate against current CRLs.
	if chain, err := certs.SignatureCertificates(full.Content, certs.Limits{MaxBytes: len(full.Content) + 1, MaxDepth: 256}); err == nil {
		v.Chain = chainDER(chain)
	} else {
		s.log.Warn("customs: no signer chain in the stored message; checks cannot re-evaluate revocation", "message", full.ID, "err", err)
	}
	b, err := v.Encode()
	if err != nil {
		return false, err
	}
	if err := s.opt.Store.PutView(ctx, country, number, latest, b, v.Chain); err != nil {
		return false, err
	}
	return true, nil
}

// reportOf returns the verification report of the receipt this node signed
// for a stored message (its payload is this node's own, so it is read
// without a signature check), or a one-line report of the stored outcome.
func reportOf(r *store.InRecord) certs.Report {
	if parts := bytes.Split(r.Receipt, []byte{'.'}); len(parts) == 3 {
		if p, err := base64.RawURLEncoding.DecodeString(string(parts[1])); err == nil {
			var rc struct {
				Verification certs.Report `json:"verification"`
			}
			if json.Unmarshal(p, &rc) == nil && len(rc.Verification) > 0 {
				return rc.Verification
			}
		}
	}
	return certs.Report{{Check: "receipt", Status: certs.StatusValid, Reason: "stored-outcome-" + string(r.Outcome)}}
}

// Check runs a check (the handler's work, also used by benchmarks).
func (s *Service) Check(ctx context.Context, req *CheckRequest) (*CheckResult, int, *fieldError) {
	return s.check(ctx, req, new(checkMem))
}

// check is Check in m: the answer lives in m (and aliases its snapshot).
func (s *Service) check(ctx context.Context, req *CheckRequest, m *checkMem) (*CheckResult, int, *fieldError) {
	decl, fe := s.validateCheck(req, m.decl[:0])
	if fe != nil {
		return nil, http.StatusBadRequest, fe
	}
	now := s.now().UTC()
	res := &m.res
	res.CheckedAt = now
	f, err := s.lookup(ctx, req.ExportCountry, req.CertificateNumber, req.IssueDate, m)
	if err != nil {
		var le *lookupError
		if errors.As(err, &le) {
			res.Verdict, res.Message = le.verdict, le.err.Error()
			switch le.verdict {
			case Untrusted:
				return res, http.StatusOK, nil
			case Timeout:
				res.Message = "the issuing node did not answer in time; this is not a judgment on the certificate: check again (" + le.err.Error() + ")"
			default:
				res.Message = "the check could not be made; this is not a judgment on the certificate: check again (" + le.err.Error() + ")"
			}
		} else {
			res.Verdict, res.Message = Unavailable, "the check could not be made: "+err.Error()
		}
		s.log.Warn("customs check not made", "certificate", req.ExportCountry+"/"+req.CertificateNumber, "verdict", res.Verdict, "err", err)
		return res, http.StatusServiceUnavailable, nil
	}
	if f == nil {
		res.Verdict = NotFound
		res.Message = fmt.Sprintf("no certificate %s from %s is known here or to its issuer", req.CertificateNumber, req.ExportCountry)
		return res, http.StatusOK, nil
	}
	v := f.view
	m.cert = CertSummary{ExportCountry: v.Country, Number: v.Number, Version: v.Version, IssueDate: v.IssueDate,
		ValidUntil: v.ValidUntil, Agreement: v.Agreement, Exporter: v.Exporter, Importer: v.Importer, Issuer: v.Issuer,
		Status: f.status, ReplacedBy: f.replacedBy}
	res.Certificate = &m.cert
	m.ver = VerificationInfo{Source: v.Source, Valid: v.Valid, Report: v.Report}
	res.Verification = &m.ver
	if f.frag != nil {
		res.Verification.raw = f.frag.verification
	}
	res.frag = f.frag
	if v.Source == "stored" && v.Valid {
		sc, err := s.signerNow(ctx, v)
		if err != nil {
			// The stored chain could not be read: no judgment.
			res.Verdict, res.Message = Unavailable, "the check could not be made; this is not a judgment on the certificate: check again (signer chain: "+err.Error()+")"
			s.log.Warn("customs check not made", "certificate", req.ExportCountry+"/"+req.CertificateNumber, "verdict", res.Verdict, "err", err)
			return res, http.StatusServiceUnavailable, nil
		}
		res.Signer = sc
	}
	if fe := s.compare(res, f, req, decl, m); fe != nil {
		return nil, http.StatusBadRequest, fe
	}
	switch {
	case !v.Valid:
		res.Verdict, res.Message = Untrusted, "the certificate's verification report has a failed check; do not rely on it"
	case res.Signer != nil && res.Signer.revoked:
		e := res.Signer.Report.First()
		res.Verdict, res.Message = Revoked, "the signer's certificate is revoked by a CRL in force now ("+e.Reason+": "+e.Detail+"); do not rely on the certificate"
	case res.Signer != nil && !res.Signer.Valid:
		e := res.Signer.Report.First()
		res.Verdict, res.Message = Untrusted, "the signer's chain no longer verifies against the partner's trust as loaded now ("+e.Reason+": "+e.Detail+"); do not rely on the certificate"
	case f.status == string(store.CertWithdrawn):
		res.Verdict, res.Message = Withdrawn, "the issuer withdrew this certificate"
	case f.status == string(store.CertReplaced):
		res.Verdict, res.Message = Replaced, "the issuer replaced this certificate by "+f.replacedBy
	case v.ValidUntil != "" && dateText(now) > v.ValidUntil:
		res.Verdict, res.Message = Expired, "the certificate was valid until "+v.ValidUntil
	case len(res.Differences) > 0 || !allMatch(res.Items):
		res.Verdict, res.Message = Mismatch, "the certificate is authentic but the declaration differs from it (see differences and items)"
	default:
		res.Verdict, res.Message = Authentic, "the certificate is authentic, in force, and matches the declaration"
	}
	return res, http.StatusOK, nil
}

// signerNow re-evaluates the view's signer chain against the sending
// partner's trust as loaded now (nil: no chain stored, or no trust source).
// An error is a stored chain that could not be read (not a missing one).
func (s *Service) signerNow(ctx context.Context, v *View) (*SignerCheck, error) {
	if s.opt.SignerTrust == nil || (len(v.Chain) == 0 && len(v.chainRef) == 0) {
		return nil, nil
	}
	trust := s.opt.SignerTrust(v.Country)
	if trust == nil {
		rep := certs.Report{{Check: certs.CheckTrust, Status: certs.StatusError, Reason: "trust.no-anchors",
			Detail: "partner " + v.Country + " is not in the partner registry any more"}}
		return &SignerCheck{Report: rep}, nil
	}
	if len(v.chainRef) > 0 {
		ref := v.chainRef
		return s.signers.checkRef(trust, ref, func() ([]byte, error) { return s.opt.Store.Chain(ctx, hex.EncodeToString(ref)) }, v.Built, s.now)
	}
	return s.signers.check(trust, v.Chain, v.Built, s.now), nil
}

func allMatch(items []ItemResult) bool {
	for i := range items {
		if !items[i].Match {
			return false
		}
	}
	return true
}

// compare fills the differences and item results (in m's arrays when they
// are large enough).
func (s *Service) compare(res *CheckResult, f *found, req *CheckRequest, decl []declared, m *checkMem) *fieldError {
	v := f.view
	if req.IssueDate != "" && req.IssueDate != v.IssueDate {
		res.Differences = append(res.Differences, Difference{Field: "issueDate", Code: DiffIssueDate, Declared: req.IssueDate, Certified: v.IssueDate,
			Message: "the declared issue date is not the certificate's"})
	}
	if p := req.Importer; p != nil && (p.Name != "" || p.ID != "") {
		match := false
		if p.ID != "" && len(v.ImporterIDs) > 0 {
			for _, id := range v.ImporterIDs {
				_, val, _ := strings.Cut(id, ":")
				if id == p.ID || val == p.ID {
					match = true
				}
			}
		} else if p.Name != "" {
			imp := ""
			if f.frag != nil {
				imp = f.frag.importerNorm
			} else {
				imp = normName(v.Importer)
			}
			match = normNameIs(p.Name, imp)
		} else {
			match = true // only an id, and the certificate has none to compare
		}
		if !match {
			decl := p.Name
			if p.ID != "" && len(v.ImporterIDs) > 0 {
				decl = p.ID
			}
			cert := v.Importer
			if p.ID != "" && len(v.ImporterIDs) > 0 {
				cert = strings.Join(v.ImporterIDs, ", ")
			}
			res.Differences = append(res.Differences, Difference{Field: "importer", Code: DiffImporter, Declared: decl, Certified: cert,
				Message: "the declared importer is not the certificate's consignee"})
		}
	}
	// asked sums what the declaration's lines take from each item.
	asked := map[int]int64{}
	var qs []Quantity // certified, remaining, declared of each line
	if len(decl) <= len(m.results) {
		res.Items, qs = m.results[:len(decl)], m.rq[:3*len(decl)]
	} else {
		res.Items, qs = make([]ItemResult, len(decl)), make([]Quantity, 3*len(decl))
	}
	for i, d := range decl {
		ir := ItemResult{Line: i}
		var it *ViewItem
		if d.seq > 0 {
			it = v.item(d.seq)
			if it == nil {
				ir.Differences = append(ir.Differences, Difference{Field: fmt.Sprintf("items[%d].sequenceNumber", i), Code: DiffNoItem,
					Declared: fmt.Sprint(d.seq), Message: fmt.Sprintf("the certificate has no goods item %d", d.seq)})
				res.Items[i] = ir
				continue
			}
		} else {
			for j := range v.Items {
				c := &v.Items[j]
				if c.HS == d.hs6 && c.Base == d.unit.base {
					if it == nil {
						it = c
					}
					if c.Qty-f.used[c.Seq]-asked[c.Seq] > 0 {
						it = c
						break
					}
				}
			}
			if it == nil {
				hs := make([]string, len(v.Items))
				for j := range v.Items {
					hs[j] = v.Items[j].HS
				}
				ir.Differences = append(ir.Differences, Difference{Field: fmt.Sprintf("items[%d].hsCode", i), Code: DiffHS,
					Declared: d.hs6, Certified: strings.Join(hs, ", "),
					Message: "no goods item of the certificate has this HS subheading (in a unit the declared quantity converts to)"})
				res.Items[i] = ir
				continue
			}
		}
		ir.SequenceNumber = it.Seq
		if d.unit.base != it.Base {
			return badField(fmt.Sprintf("items[%d].quantity.unitCode", i), "%v", convertError(d.qty.UnitCode, it.Unit, d.unit, mustUnit(it.Unit, s.opt.CodeLists)))
		}
		q, _ := toNano(d.qty.Value, d.unit.factor)
		f2 := mustUnit(it.Unit, s.opt.CodeLists).factor
		remaining := it.Qty - f.used[it.Seq] - asked[it.Seq]
		asked[it.Seq] += q
		q3 := qs[3*i : 3*i+3 : 3*i+3]
		q3[0] = Quantity{Value: it.Value, UnitCode: it.Unit}
		q3[1] = Quantity{Value: fromNano(max(remaining, 0), f2), UnitCode: it.Unit}
		q3[2] = Quantity{Value: fromNano(q, f2), UnitCode: it.Unit}
		ir.Certified, ir.Remaining, ir.Declared = &q3[0], &q3[1], &q3[2]
		if it.HS != d.hs6 {
			ir.Differences = append(ir.Differences, Difference{Field: fmt.Sprintf("items[%d].hsCode", i), Code: DiffHS, Declared: d.hs6, Certified: it.HS,
				Message: "the declared HS subheading is not the certificate item's"})
		}
		if q > remaining {
			ir.Differences = append(ir.Differences, Difference{Field: fmt.Sprintf("items[%d].quantity", i), Code: DiffQuantity,
				Declared: ir.Declared.Value + " " + it.Unit, Certified: ir.Remaining.Value + " " + it.Unit,
				Message: "the declared quantity is more than what remains of the certificate item"})
		}
		ir.Match = len(ir.Differences) == 0
		res.Items[i] = ir
	}
	return nil
}

// mustUnit returns the definition of a unit already accepted in a view.
func mustUnit(code string, cl *schema.CodeLists) unitDef {
	d, err := unitBase(code, cl)
	if err != nil {
		return unitDef{base: code, factor: nano, dim: code}
	}
	return d
}

// handleCheck is POST /customs/v1/checks.
// Its working memory comes from checkPool and goes back once the answer is
// written.
func (s *Service) handleCheck(w http.ResponseWriter, r *http.Request) {
	m := checkPool.Get().(*checkMem)
	defer m.release()
	if fe := s.decodeBodyIn(w, r, &m.req, m); fe != nil {
		s.checks["BAD_REQUEST"].Inc()
		writeFieldError(w, fe)
		return
	}
	res, status, fe := s.check(r.Context(), &m.req, m)
	if fe != nil {
		s.checks["BAD_REQUEST"].Inc()
		writeFieldError(w, fe)
		return
	}
	if c := s.checks[res.Verdict]; c != nil {
		c.Inc()
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	bp := bufPool.Get().(*[]byte)
	b := res.appendJSON((*bp)[:0])
	writeRaw(w, status, b)
	*bp = b
	bufPool.Put(bp)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
