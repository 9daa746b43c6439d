package customs

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The check answer is written by hand (appendJSON) rather than with
// encoding/json: the check is the hot path, and the parts that depend only
// on the stored certificate (its summary and verification report) are
// encoded once per view and reused. TestCheckJSONMatchesEncodingJSON
// proves the output equal to json.Marshal's.

// fragments are the pre-encoded parts of a view's check answers.
type fragments struct {
	// certHead is the certificate summary without its status fields and
	// closing brace, as stored in formats 2 and 3 of a view (nil for
	// format 4: appendJSON writes it from the summary).
	certHead []byte
	// verification is the encoded VerificationInfo.
	verification []byte
	// importerNorm is the normalised importer name.
	importerNorm string
	// legacy is true for a view stored before the signer chain was kept.
	legacy bool
}

func fragmentsOf(v *View) *fragments {
	ver, _ := json.Marshal(VerificationInfo{Source: v.Source, Valid: v.Valid, Report: v.Report})
	return &fragments{certHead: appendCertHead(nil, &CertSummary{ExportCountry: v.Country, Number: v.Number, Version: v.Version, IssueDate: v.IssueDate,
		ValidUntil: v.ValidUntil, Agreement: v.Agreement, Exporter: v.Exporter, Importer: v.Importer, Issuer: v.Issuer}),
		verification: ver, importerNorm: normName(v.Importer)}
}

// appendCertHead appends the certificate summary of the answer without its
// status fields and closing brace: the JSON of CertificateSummary's first
// fields, as encoding/json writes them (TestCheckJSONMatchesEncodingJSON).
func appendCertHead(b []byte, v *CertSummary) []byte {
	b = append(b, `{"exportCountry":`...)
	b = appendString(b, v.ExportCountry)
	b = append(b, `,"number":`...)
	b = appendString(b, v.Number)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(v.Version), 10)
	b = append(b, `,"issueDate":`...)
	b = appendString(b, v.IssueDate)
	if v.ValidUntil != "" {
		b = append(b, `,"validUntil":`...)
		b = appendString(b, v.ValidUntil)
	}
	if v.Agreement != "" {
		b = append(b, `,"agreement":`...)
		b = appendString(b, v.Agreement)
	}
	b = append(b, `,"exporter":`...)
	b = appendString(b, v.Exporter)
	b = append(b, `,"importer":`...)
	b = appendString(b, v.Importer)
	b = append(b, `,"issuer":`...)
	return appendString(b, v.Issuer)
}

// appendJSON appends the answer's JSON, equal to json.Marshal(r).
func (r *CheckResult) appendJSON(b []byte) []byte {
	b = append(b, `{"verdict":`...)
	b = appendString(b, r.Verdict)
	b = append(b, `,"message":`...)
	b = appendString(b, r.Message)
	if c := r.Certificate; c != nil && r.frag != nil {
		b = append(b, `,"certificate":`...)
		if r.frag.certHead != nil {
			b = append(b, r.frag.certHead...)
		} else {
			b = appendCertHead(b, c)
		}
		b = append(b, `,"status":`...)
		b = appendString(b, c.Status)
		if c.ReplacedBy != "" {
			b = append(b, `,"replacedBy":`...)
			b = appendString(b, c.ReplacedBy)
		}
		b = append(b, '}')
	} else if c != nil {
		full, _ := json.Marshal(c)
		b = append(b, `,"certificate":`...)
		b = append(b, full...)
	}
	if len(r.Differences) > 0 {
		b = append(b, `,"differences":`...)
		b = appendDiffs(b, r.Differences)
	}
	if len(r.Items) > 0 {
		b = append(b, `,"items":[`...)
		for i := range r.Items {
			it := &r.Items[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"line":`...)
			b = strconv.AppendInt(b, int64(it.Line), 10)
			if it.SequenceNumber != 0 {
				b = append(b, `,"sequenceNumber":`...)
				b = strconv.AppendInt(b, int64(it.SequenceNumber), 10)
			}
			b = append(b, `,"match":`...)
			b = strconv.AppendBool(b, it.Match)
			if len(it.Differences) > 0 {
				b = append(b, `,"differences":`...)
				b = appendDiffs(b, it.Differences)
			}
			b = appendQty(b, `,"certified":`, it.Certified)
			b = appendQty(b, `,"remaining":`, it.Remaining)
			b = appendQty(b, `,"declared":`, it.Declared)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.Verification != nil {
		b = append(b, `,"verification":`...)
		if r.Verification.raw != nil {
			b = append(b, r.Verification.raw...)
		} else {
			v, _ := json.Marshal(r.Verification)
			b = append(b, v...)
		}
	}
	if r.Signer != nil {
		b = append(b, `,"signer":`...)
		if r.Signer.raw != nil {
			b = append(b, r.Signer.raw...)
		} else {
			v, _ := json.Marshal(r.Signer)
			b = append(b, v...)
		}
	}
	b = append(b, `,"checkedAt":"`...)
	b = appendStamp(b, r.CheckedAt)
	return append(b, `"}`...)
}

func appendQty(b []byte, key string, q *Quantity) []byte {
	if q == nil {
		return b
	}
	b = append(b, key...)
	b = append(b, `{"value":`...)
	b = appendString(b, q.Value)
	b = append(b, `,"unitCode":`...)
	b = appendString(b, q.UnitCode)
	return append(b, '}')
}

func appendDiffs(b []byte, ds []Difference) []byte {
	b = append(b, '[')
	for i := range ds {
		d := &ds[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = appendString(b, d.Field)
		b = append(b, `,"code":`...)
		b = appendString(b, d.Code)
		if d.Declared != "" {
			b = append(b, `,"declared":`...)
			b = appendString(b, d.Declared)
		}
		if d.Certified != "" {
			b = append(b, `,"certified":`...)
			b = appendString(b, d.Certified)
		}
		b = append(b, `,"message":`...)
		b = appendString(b, d.Message)
		b = append(b, '}')
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// Byte-wise constants of plain8.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether the eight bytes of s (len(s) == 8) are all ASCII
// that a JSON string holds as is: not a control character, '"', '\\',
// '<', '>' or '&'. It may answer false for a plain word (appendString then
// looks at each byte), never true for one that is not: each test below
// flags a byte that matches it, and a borrow can only spread from a
// flagged byte to the bytes above it.
func plain8(s string) bool {
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	bad := x & highs                    // not ASCII
	bad |= (x - 0x20*ones) &^ x & highs // below 0x20
	bad |= zeroByte(x ^ '"'*ones)
	bad |= zeroByte(x ^ '\\'*ones)
	bad |= zeroByte(x ^ '<'*ones)
	bad |= zeroByte(x ^ '>'*ones)
	bad |= zeroByte(x ^ '&'*ones)
	return bad == 0
}

// zeroByte has the high bit of each zero byte of y set (and maybe of
// bytes above one).
func zeroByte(y uint64) uint64 { return (y - ones) &^ y & highs }

// appendString appends s as a JSON string exactly as encoding/json does
// (HTML-safe: <, > and & escaped; U+2028 and U+2029 escaped; invalid
// UTF-8 replaced by U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8 // eight bytes written as they are
		}
		if i >= len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
