package customs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
)

// View is the compact check view of one received certificate: what a
// customs check compares a declaration with, without parsing XML. It is
// built once per certificate version (ViewOf) and stored.
type View struct {
	Country    string `json:"country"`
	Number     string `json:"number"`
	Version    int    `json:"version"`
	IssueDate  string `json:"issueDate"`
	ValidUntil string `json:"validUntil,omitempty"`
	Agreement  string `json:"agreement,omitempty"`
	Exporter   string `json:"exporter"`
	Importer   string `json:"importer"`
	// ImporterIDs are the importer's identifiers as scheme:value (or value).
	ImporterIDs []string `json:"importerIds,omitempty"`
	Issuer      string   `json:"issuer"`
	// Status and ReplacedBy hold the status known when the view was built
	// (a verification-query answer); the inbox's status record, when there
	// is one, wins over them.
	Status     string     `json:"status,omitempty"`
	ReplacedBy string     `json:"replacedBy,omitempty"`
	Items      []ViewItem `json:"items"`
	// Source is "stored" (a received, verified e-CO) or "issuer-query" (the
	// issuer's signed verification-query answer).
	Source string `json:"source"`
	// Valid is true when every check of the verification report passed.
	Valid  bool         `json:"valid"`
	Report certs.Report `json:"report,omitempty"`
	// Built is when the view was made: for a stored e-CO, when it was
	// received and verified (the time its signer chain is judged at).
	Built time.Time `json:"built"`
	// Chain is the DER of the signer's certificate chain as verified at
	// receipt, signer first, concatenated (empty for an issuer-query view
	// or a view stored before format 3): checks re-evaluate it against the
	// CRLs loaded at the time of the check.
	Chain []byte `json:"chain,omitempty"`
	// chainRef is the SHA-256 of the signer chain (32 bytes) that a view
	// stored in format 5 or later refers to instead of carrying it: the
	// chain is stored once (Store.Chain) for all the views it signed.
	chainRef []byte
}

// ViewItem is one goods item of a View.
type ViewItem struct {
	Seq         int    `json:"seq"`
	HS          string `json:"hs"`
	Description string `json:"description,omitempty"`
	// Value and Unit are the quantity as certified; Base is the unit the
	// quantity converts to and Qty the quantity in 10⁻⁹ Base.
	Value string `json:"value"`
	Unit  string `json:"unit"`
	Base  string `json:"base"`
	Qty   int64  `json:"qty"`
}

// ViewOf builds the check view of a certificate decoded from the verified
// bytes, with the verification report of its receipt. validUntil is
// recomputed from the issue date and the agreement profile (the sender's
// value is never trusted). cl may be nil (built-in code lists). Its
// Country is the document's export country; the receive side (StoreView,
// the lazy build) replaces it with the verified sending partner before
// storing.
func ViewOf(c *schema.Certificate, report certs.Report, cl *schema.CodeLists, now time.Time) (*View, error) {
	v := &View{
		Country: c.Header.ExportCountry, Number: c.Header.ID, Version: c.Header.Version,
		IssueDate: c.Header.IssueDateTime.Date().String(), Agreement: c.Header.Agreement,
		Exporter: c.Consignment.Exporter.Name, Importer: c.Consignment.Importer.Name,
		Issuer: c.Header.Issuer.Name, Source: "stored", Report: summarise(report), Valid: report.Valid(), Built: now.UTC(),
	}
	if p := schema.ProfileFor(c); p != nil && p.ValidityMonths > 0 {
		v.ValidUntil = c.Header.IssueDateTime.Date().AddMonths(p.ValidityMonths).String()
	}
	for _, id := range c.Consignment.Importer.IDs {
		v.ImporterIDs = append(v.ImporterIDs, idString(id.SchemeID, id.Value))
	}
	if c.Header.Status == "40" {
		v.Status = "withdrawn"
	}
	for _, it := range c.Consignment.Items {
		d, err := unitBase(it.Quantity.UnitCode, cl)
		if err != nil {
			return nil, fmt.Errorf("certificate %s item %d: %w", c.Header.ID, it.SequenceNumber, err)
		}
		q, err := toNano(string(it.Quantity.Value), d.factor)
		if err != nil {
			return nil, fmt.Errorf("certificate %s item %d quantity: %w", c.Header.ID, it.SequenceNumber, err)
		}
		v.Items = append(v.Items, ViewItem{Seq: it.SequenceNumber, HS: it.Product.HSCode, Description: it.Product.Description,
			Value: string(it.Quantity.Value), Unit: it.Quantity.UnitCode, Base: d.base, Qty: q})
	}
	return v, nil
}

// summarise keeps check, status and reason of each report entry.
func summarise(r certs.Report) certs.Report {
	out := make(certs.Report, len(r))
	for i, e := range r {
		out[i] = certs.Entry{Check: e.Check, Status: e.Status, Reason: e.Reason}
	}
	return out
}

func idString(scheme, value string) string {
	if scheme == "" {
		return value
	}
	return scheme + ":" + value
}

// Stored form of a view. A check must not parse JSON or XML, so the view
// is stored in a small binary form with the parts of the check answer that
// depend only on the certificate already encoded as JSON:
//
//	be32 version, byte 2 (format),
//	strings (uvarint length + bytes): country, number, issueDate, validUntil,
//	  agreement, exporter, importer, issuer, status, replacedBy, source,
//	  normalised importer; uvarint count + strings: importer ids;
//	byte valid; varint built (Unix ns);
//	uvarint count + items: uvarint seq, strings hs, description, value,
//	  unit, base, varint qty;
//	format 2 and 3: string: certificate summary JSON head (format 4
//	  builds it from the fields above when the view is read: it repeated
//	  them, 300 bytes a view);
//	string: verification JSON;
//	format 3 and 4: string: the signer chain (concatenated DER);
//	format 5: string: the SHA-256 of the signer chain (32 bytes, or empty
//	  without one), stored once beside the views (Store.Chain): a chain
//	  is 1.4 KB or more and signs many certificates.
//
// Formats 2 (no chain), 3 (with the summary head), 4 (the chain in every
// view) and a stored value whose fifth byte is '{' (the earlier JSON form)
// are still read.
const viewFormat = 5

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Encode returns the stored form of the view.
func (v *View) Encode() ([]byte, error) { return v.encode(viewFormat), nil }

// encode writes the stored form in format 2, 3 or 4 (the earlier ones for
// the tests that prove they are still read).
func (v *View) encode(format byte) []byte {
	f := fragmentsOf(v)
	b := make([]byte, 0, 512+len(v.Chain))
	b = binary.BigEndian.AppendUint32(b, uint32(v.Version))
	b = append(b, format)
	for _, s := range []string{v.Country, v.Number, v.IssueDate, v.ValidUntil, v.Agreement, v.Exporter, v.Importer,
		v.Issuer, v.Status, v.ReplacedBy, v.Source, f.importerNorm} {
		b = appendStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(v.ImporterIDs)))
	for _, id := range v.ImporterIDs {
		b = appendStr(b, id)
	}
	valid := byte(0)
	if v.Valid {
		valid = 1
	}
	b = append(b, valid)
	b = binary.AppendVarint(b, v.Built.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(v.Items)))
	for _, it := range v.Items {
		b = binary.AppendUvarint(b, uint64(it.Seq))
		for _, s := range []string{it.HS, it.Description, it.Value, it.Unit, it.Base} {
			b = appendStr(b, s)
		}
		b = binary.AppendVarint(b, it.Qty)
	}
	if format <= 3 {
		b = appendStr(b, string(f.certHead))
	}
	b = appendStr(b, string(f.verification))
	switch {
	case format >= 5 && len(v.Chain) > 0:
		ref := sha256.Sum256(v.Chain)
		b = appendStr(b, string(ref[:]))
	case format >= 5:
		b = appendStr(b, string(v.chainRef))
	case format >= 3:
		b = appendStr(b, string(v.Chain))
	}
	return b
}

// viewVersion reads the version of a stored view.
func viewVersion(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	return int(binary.BigEndian.Uint32(b))
}

// viewReader reads the stored form.
type viewReader struct {
	b   []byte
	bad bool
}

func (r *viewReader) uv() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *viewReader) v() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// raw returns the next string's bytes, aliasing the input.
func (r *viewReader) raw() []byte {
	n := r.uv()
	if r.bad || n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// str returns the next string without copying: it aliases the stored
// bytes, which the caller keeps unchanged while it uses the view (a check
// returns its snapshot buffer to the pool only after the answer is
// written; other callers never return theirs).
func (r *viewReader) str() string {
	b := r.raw()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (r *viewReader) byte1() byte {
	if len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// parseView reads a stored view for a check: every field but the report,
// whose JSON is in the fragments. The fragments alias b.
func parseView(b []byte) (*View, *fragments, error) {
	v, f := new(View), new(fragments)
	if err := parseViewInto(b, v, f); err != nil {
		return nil, nil, err
	}
	return v, f, nil
}

// parseViewInto is parseView into v and f, whose Items and ImporterIDs
// capacity it reuses.
func parseViewInto(b []byte, v *View, f *fragments) error {
	if len(b) < 5 {
		return fmt.Errorf("check view is truncated")
	}
	if b[4] == '{' {
		lv := new(View)
		if err := json.Unmarshal(b[4:], lv); err != nil {
			return fmt.Errorf("decode check view: %w", err)
		}
		*v, *f = *lv, *fragmentsOf(lv)
		f.legacy = len(v.Chain) == 0
		return nil
	}
	format := b[4]
	if format < 2 || format > viewFormat {
		return fmt.Errorf("check view has unknown format %d", b[4])
	}
	r := viewReader{b: b[5:]}
	*v = View{Version: viewVersion(b), Items: v.Items[:0], ImporterIDs: v.ImporterIDs[:0]}
	*f = fragments{}
	for _, p := range [...]*string{&v.Country, &v.Number, &v.IssueDate, &v.ValidUntil, &v.Agreement, &v.Exporter, &v.Importer,
		&v.Issuer, &v.Status, &v.ReplacedBy, &v.Source, &f.importerNorm} {
		*p = r.str()
	}
	if n := r.uv(); n > 0 && n < 1<<10 {
		v.ImporterIDs = slices.Grow(v.ImporterIDs, int(n))[:n]
		for i := range v.ImporterIDs {
			v.ImporterIDs[i] = r.str()
		}
	} else {
		v.ImporterIDs = nil
	}
	v.Valid = r.byte1() == 1
	v.Built = time.Unix(0, r.v()).UTC()
	if n := r.uv(); n < 1<<16 {
		v.Items = slices.Grow(v.Items, int(n))[:n]
		for i := range v.Items {
			it := &v.Items[i]
			it.Seq = int(r.uv())
			it.HS, it.Description, it.Value, it.Unit, it.Base = r.str(), r.str(), r.str(), r.str(), r.str()
			it.Qty = r.v()
		}
	} else {
		r.bad = true
	}
	if format <= 3 {
		f.certHead = r.raw()
	}
	f.verification = r.raw()
	switch c := []byte(nil); {
	case format >= 5:
		if c = r.raw(); len(c) == sha256.Size {
			v.chainRef = c
		} else if len(c) != 0 {
			r.bad = true
		}
	case format >= 3:
		if c = r.raw(); len(c) > 0 {
			v.Chain = c
		}
	default:
		f.legacy = true
	}
	if r.bad {
		return fmt.Errorf("check view of %s is damaged", v.Number)
	}
	return nil
}

// decodeView reads a stored view completely (the report included).
func decodeView(b []byte) (*View, error) {
	v, f, err := parseView(b)
	if err != nil {
		return nil, err
	}
	if v.Report == nil && len(f.verification) > 0 {
		var vi VerificationInfo
		if err := json.Unmarshal(f.verification, &vi); err != nil {
			return nil, fmt.Errorf("decode check view report: %w", err)
		}
		v.Report = vi.Report
	}
	return v, nil
}

// item returns the view's item with sequence number seq.
func (v *View) item(seq int) *ViewItem {
	for i := range v.Items {
		if v.Items[i].Seq == seq {
			return &v.Items[i]
		}
	}
	return nil
}

// normName folds a party name for comparison: case, punctuation and
// repeated spaces do not count.
func normName(s string) string {
	if n, ok := normNameASCII(s); ok {
		return n
	}
	return normNameRunes(s)
}

// normNameRunes is normName for any text.
func normNameRunes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range strings.ToUpper(s) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r > 127:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		default:
			space = true
		}
	}
	return b.String()
}

// StoreView builds and stores the check view of a certificate just
// received and verified from partner from (hook: the receive pipeline,
// after Inbox.Accept stored an accepted e-CO message; from is the partner
// whose client certificate and document-signing anchors were verified;
// report is the verification report of its receipt, chain the signer chain
// that verification accepted, signer first, which checks re-evaluate
// against the CRLs loaded at their time). The view is keyed by from, never
// by a field of the document: a partner's certificate can only answer
// checks that name that partner's country. A failure only means the first
// check builds it lazily.
func (s *Service) StoreView(ctx context.Context, from string, c *schema.Certificate, report certs.Report, chain ...*x509.Certificate) error {
	b, chainDER, err := s.EncodeView(from, c, report, chain...)
	if err != nil {
		return err
	}
	return s.opt.Store.PutView(ctx, strings.ToUpper(strings.TrimSpace(from)), c.Header.ID, 0, b, chainDER)
}

// EncodeView builds the stored form of the check view StoreView stores,
// and the signer chain (concatenated DER, nil without one) the view refers
// to by its SHA-256, for a caller that stores them itself (the receive
// pipeline: in the transaction that accepts the message, store.InRecord's
// CheckView and ViewChain, under from and the certificate's number).
func (s *Service) EncodeView(from string, c *schema.Certificate, report certs.Report, signers ...*x509.Certificate) (view, chain []byte, err error) {
	from = strings.ToUpper(strings.TrimSpace(from))
	if from == "" {
		return nil, nil, fmt.Errorf("check view of %s: the verified sending partner is unknown", c.Header.ID)
	}
	v, err := ViewOf(c, report, s.opt.CodeLists, s.now())
	if err != nil {
		return nil, nil, err
	}
	v.Country = from
	v.Chain = chainDER(signers)
	b, err := v.Encode()
	return b, v.Chain, err
}

// normNameASCII is normName for an ASCII name, without allocating when the
// name is already normal (upper case, single spaces); ok is false for a
// name with other characters.
func normNameASCII(s string) (string, bool) {
	var buf [128]byte
	b, ok := appendNormASCII(buf[:0], s)
	if !ok {
		return "", false
	}
	if string(b) == s {
		return s, true
	}
	return string(b), true
}

// appendNormASCII appends normName(s) to b when s is ASCII of at most 128
// bytes (ok false otherwise).
func appendNormASCII(b []byte, s string) ([]byte, bool) {
	if len(s) > 128 {
		return b, false
	}
	space, start := false, len(b)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return b, false
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		default:
			space = true
			continue
		}
		if space && len(b) > start {
			b = append(b, ' ')
		}
		space = false
		b = append(b, c)
	}
	return b, true
}

// normNameIs reports whether normName(s) == norm, without allocating for
// the common (ASCII) name.
func normNameIs(s, norm string) bool {
	var buf [128]byte
	if b, ok := appendNormASCII(buf[:0], s); ok {
		return string(b) == norm
	}
	return normNameRunes(s) == norm
}
