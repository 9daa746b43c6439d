package customs

import "unicode/utf8"

// decodeCheckFastIn decodes the common shape of a check request without
// reflection. It accepts only a subset of what internal/strictjson
// accepts, with the same result: one object, optional JSON whitespace
// around it, every member name known and written once without escapes,
// strings without escapes or control characters (valid UTF-8), and
// sequenceNumber a plain non-negative integer of at most nine digits. On
// anything else (an escape, null, a duplicate or unknown name, a syntax
// error, trailing data, ...) it reports false and leaves the request to
// internal/strictjson, whose refusal says what to fix; it never refuses
// on its own. FuzzDecodeCheckFast holds it to strictjson.
// The request's importer, lines and quantities go to m when m is not nil
// (the first memLines lines).
func decodeCheckFastIn(data []byte, out *CheckRequest, m *checkMem) bool {
	d := fastDec{b: data, s: string(data), m: m}
	var req CheckRequest
	d.ws()
	if !d.checkRequest(&req) {
		return false
	}
	d.ws()
	if d.i != len(d.b) {
		return false
	}
	*out = req
	return true
}

// fastDec is the state of decodeCheckFastIn: s is data as one string, so
// every decoded string is a substring of it (one allocation per body).
type fastDec struct {
	b []byte
	s string
	i int
	m *checkMem // room for the parts, or nil
}

func (d *fastDec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// eat consumes c after optional whitespace.
func (d *fastDec) eat(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters.
func (d *fastDec) str() (string, bool) {
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", false
	}
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(d.b[start:j]) {
				return "", false
			}
			d.i = j + 1
			return d.s[start:j], true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", false
}

// uint9 reads a JSON integer 0..999999999 (no sign, fraction or exponent).
func (d *fastDec) uint9() (int, bool) {
	d.ws()
	j, n := d.i, 0
	for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
		if j-d.i == 9 {
			return 0, false
		}
		n = n*10 + int(d.b[j]-'0')
		j++
	}
	if j == d.i || (d.b[d.i] == '0' && j-d.i > 1) {
		return 0, false
	}
	if j < len(d.b) {
		switch d.b[j] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	d.i = j
	return n, true
}

// object reads {"name": value, ...}, calling member for each name; member
// reads the value and reports false to give up. seen catches a name
// written twice (bit k is the k-th name of names).
func (d *fastDec) object(names []string, member func(k int) bool) bool {
	if !d.eat('{') {
		return false
	}
	if d.eat('}') {
		return true
	}
	var seen uint32
	for {
		name, ok := d.str()
		if !ok || !d.eat(':') {
			return false
		}
		k := -1
		for x, n := range names {
			if n == name {
				k = x
				break
			}
		}
		if k < 0 || seen&(1<<k) != 0 {
			return false
		}
		seen |= 1 << k
		if !member(k) {
			return false
		}
		if d.eat(',') {
			continue
		}
		return d.eat('}')
	}
}

var (
	checkNames    = []string{"exportCountry", "certificateNumber", "issueDate", "importer", "declarationRef", "items"}
	partyNames    = []string{"name", "id"}
	itemNames     = []string{"sequenceNumber", "hsCode", "quantity"}
	quantityNames = []string{"value", "unitCode"}
)

func (d *fastDec) checkRequest(r *CheckRequest) bool {
	return d.object(checkNames, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			r.ExportCountry, ok = d.str()
		case 1:
			r.CertificateNumber, ok = d.str()
		case 2:
			r.IssueDate, ok = d.str()
		case 3:
			if d.m != nil {
				r.Importer = &d.m.party
			} else {
				r.Importer = new(PartyRef)
			}
			ok = d.object(partyNames, func(k int) bool {
				var ok bool
				if k == 0 {
					r.Importer.Name, ok = d.str()
				} else {
					r.Importer.ID, ok = d.str()
				}
				return ok
			})
		case 4:
			r.DeclarationRef, ok = d.str()
		case 5:
			ok = d.items(r)
		}
		return ok
	})
}

func (d *fastDec) items(r *CheckRequest) bool {
	if !d.eat('[') {
		return false
	}
	if d.m != nil {
		r.Items = d.m.items[:0]
	} else {
		r.Items = make([]DeclaredItem, 0, 4)
	}
	if d.eat(']') {
		return true
	}
	for {
		var it DeclaredItem
		ok := d.object(itemNames, func(k int) bool {
			var ok bool
			switch k {
			case 0:
				it.SequenceNumber, ok = d.uint9()
			case 1:
				it.HSCode, ok = d.str()
			case 2:
				var q *Quantity
				if n := len(r.Items); d.m != nil && n < len(d.m.qtys) {
					q = &d.m.qtys[n]
				} else {
					q = new(Quantity)
				}
				it.Quantity = q
				ok = d.object(quantityNames, func(k int) bool {
					var ok bool
					if k == 0 {
						q.Value, ok = d.str()
					} else {
						q.UnitCode, ok = d.str()
					}
					return ok
				})
			}
			return ok
		})
		if !ok {
			return false
		}
		r.Items = append(r.Items, it)
		if d.eat(',') {
			continue
		}
		return d.eat(']')
	}
}
