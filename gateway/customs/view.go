package customs

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
	Built  time.Time    `json:"built"`
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
// value is never trusted). cl may be nil (built-in code lists).
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

// Encode returns the stored form of the view: the version as 4 bytes, then
// JSON.
func (v *View) Encode() ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4+len(j))
	binary.BigEndian.PutUint32(b, uint32(v.Version))
	copy(b[4:], j)
	return b, nil
}

// viewVersion reads the version of a stored view.
func viewVersion(b []byte) int {
	if len(b) < 4 {
		return 0
	}
	return int(binary.BigEndian.Uint32(b))
}

// decodeView parses a stored view.
func decodeView(b []byte) (*View, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("check view is truncated")
	}
	v := new(View)
	if err := json.Unmarshal(b[4:], v); err != nil {
		return nil, fmt.Errorf("decode check view: %w", err)
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
	var b strings.Builder
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
// received and verified (hook: the receive pipeline, after Inbox.Accept
// stored an accepted e-CO message; report is the verification report of
// its receipt). A failure only means the first check builds it lazily.
func (s *Service) StoreView(ctx context.Context, c *schema.Certificate, report certs.Report) error {
	v, err := ViewOf(c, report, s.opt.CodeLists, s.now())
	if err != nil {
		return err
	}
	b, err := v.Encode()
	if err != nil {
		return err
	}
	return s.opt.Store.PutView(ctx, v.Country, v.Number, 0, b)
}
