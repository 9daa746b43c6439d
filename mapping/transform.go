package mapping

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// val is one value flowing through a rule, with the source field it came from.
type val struct {
	s    string
	path string
}

// transform changes the values of a rule.
type transform interface {
	apply(vs []val, rc *runCtx) ([]val, error)
}

// shaper turns one value into several fields of a group (the last transform).
type shaper interface {
	name() string
	fields() []string
	shape(v val, rc *runCtx) (map[string]string, error)
}

type transformYAML struct {
	Trim        *bool        `yaml:"trim"`
	Upper       *bool        `yaml:"upper"`
	Lower       *bool        `yaml:"lower"`
	Digits      *bool        `yaml:"digits"`
	Prefix      *string      `yaml:"prefix"`
	StripPrefix *string      `yaml:"strip_prefix"`
	Replace     *replaceYAML `yaml:"replace"`
	Date        *dateYAML    `yaml:"date"`
	Map         *mapYAML     `yaml:"map"`
	Concat      *concatYAML  `yaml:"concat"`
	Split       *splitYAML   `yaml:"split"`
	Number      *numberYAML  `yaml:"number"`
	DataURI     *string      `yaml:"datauri"`
	Check       *checkYAML   `yaml:"check"`
	HS          *hsYAML      `yaml:"hs"`
	Unit        *unitYAML    `yaml:"unit"`
	Identifier  *identYAML   `yaml:"identifier"`
}

type replaceYAML struct {
	Old   string `yaml:"old"`
	New   string `yaml:"new"`
	Regex bool   `yaml:"regex"`
}

type dateYAML struct {
	From strList `yaml:"from"`
	To   string  `yaml:"to"`
	Zone string  `yaml:"zone"`
}

type mapYAML struct {
	Table       map[string]string `yaml:"table"`
	Default     *string           `yaml:"default"`
	Passthrough bool              `yaml:"passthrough"`
	IgnoreCase  bool              `yaml:"ignore_case"`
}

type concatYAML struct {
	Sep string `yaml:"sep"`
}

type splitYAML struct {
	Sep   string `yaml:"sep"`
	Index *int   `yaml:"index"`
	Last  bool   `yaml:"last"`
	Part  *int   `yaml:"part"`
}

type numberYAML struct {
	Thousands string `yaml:"thousands"`
	Decimal   string `yaml:"decimal"`
	Floor     bool   `yaml:"floor"`
}

type checkYAML struct {
	Matches string `yaml:"matches"`
	Message string `yaml:"message"`
}

type hsYAML struct {
	Edition  string `yaml:"edition"`
	National *bool  `yaml:"national"`
}

type unitYAML struct {
	From   string               `yaml:"from"`
	To     string               `yaml:"to"`
	Factor string               `yaml:"factor"`
	Field  string               `yaml:"field"`
	Table  map[string]unitEntry `yaml:"table"`
}

type unitEntry struct {
	To     string
	Factor string
}

func (u *unitEntry) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		u.To = n.Value
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "to":
				u.To = v.Value
			case "factor":
				u.Factor = v.Value
			default:
				return fmt.Errorf("line %d: unit table entry: unknown field %q (use to, factor)", k.Line, k.Value)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: a unit table entry is a Rec 20 code or {to: CODE, factor: N}", n.Line)
}

type identYAML struct {
	Sep    string `yaml:"sep"`
	Scheme string `yaml:"scheme"`
}

func compileTransform(t *transformYAML) (transform, shaper, error) {
	var tf transform
	var sh shaper
	n := 0
	set := func(x transform) { tf = x; n++ }
	if t.Trim != nil && *t.Trim {
		set(funcTF(func(s string) (string, error) { return strings.TrimSpace(s), nil }))
	}
	if t.Upper != nil && *t.Upper {
		set(funcTF(func(s string) (string, error) { return strings.ToUpper(s), nil }))
	}
	if t.Lower != nil && *t.Lower {
		set(funcTF(func(s string) (string, error) { return strings.ToLower(s), nil }))
	}
	if t.Digits != nil && *t.Digits {
		set(funcTF(func(s string) (string, error) { return onlyDigits(s), nil }))
	}
	if t.Prefix != nil {
		p := *t.Prefix
		set(funcTF(func(s string) (string, error) { return p + s, nil }))
	}
	if t.StripPrefix != nil {
		p := *t.StripPrefix
		set(funcTF(func(s string) (string, error) { return strings.TrimPrefix(s, p), nil }))
	}
	if t.Replace != nil {
		if t.Replace.Old == "" {
			return nil, nil, errors.New("replace.old must not be empty")
		}
		o, nw := t.Replace.Old, t.Replace.New
		if t.Replace.Regex {
			re, err := regexp.Compile(o)
			if err != nil {
				return nil, nil, fmt.Errorf("replace.old: %v", err)
			}
			set(funcTF(func(s string) (string, error) { return re.ReplaceAllString(s, nw), nil }))
		} else {
			set(funcTF(func(s string) (string, error) { return strings.ReplaceAll(s, o, nw), nil }))
		}
	}
	if t.Date != nil {
		d, err := compileDate(t.Date)
		if err != nil {
			return nil, nil, err
		}
		set(d)
	}
	if t.Map != nil {
		if len(t.Map.Table) == 0 {
			return nil, nil, errors.New("map.table is empty: list source value: canonical value pairs")
		}
		m := &mapTF{table: t.Map.Table, def: t.Map.Default, pass: t.Map.Passthrough, fold: t.Map.IgnoreCase}
		for k := range t.Map.Table {
			m.keys = append(m.keys, k)
		}
		sort.Strings(m.keys)
		if len(m.keys) > 12 {
			m.keys = append(m.keys[:12], "...")
		}
		if m.fold {
			m.table = make(map[string]string, len(t.Map.Table))
			for k, v := range t.Map.Table {
				m.table[strings.ToLower(k)] = v
			}
		}
		set(m)
	}
	if t.Concat != nil {
		set(concatTF{sep: t.Concat.Sep})
	}
	if t.Split != nil {
		if t.Split.Sep == "" {
			return nil, nil, errors.New("split.sep must not be empty")
		}
		if t.Split.Last && t.Split.Part == nil {
			return nil, nil, errors.New("split.last cuts in two at the last separator: give part: 0 (before) or 1 (after)")
		}
		if t.Split.Part != nil && (*t.Split.Part < 0 || *t.Split.Part > 1) {
			return nil, nil, errors.New("split.part is 0 (before the separator) or 1 (after)")
		}
		set(&splitTF{y: *t.Split})
	}
	if t.Number != nil {
		set(&numberTF{y: *t.Number})
	}
	if t.DataURI != nil {
		if *t.DataURI != "mime" && *t.DataURI != "data" {
			return nil, nil, errors.New("datauri is 'mime' (the media type) or 'data' (the base64 content)")
		}
		part := *t.DataURI
		set(funcTF(func(s string) (string, error) {
			rest, ok := strings.CutPrefix(s, "data:")
			head, data, ok2 := strings.Cut(rest, ",")
			if !ok || !ok2 || !strings.HasSuffix(head, ";base64") {
				return "", errors.New("not a base64 data URI (data:TYPE;base64,CONTENT)")
			}
			if part == "mime" {
				return strings.TrimSuffix(head, ";base64"), nil
			}
			return data, nil
		}))
	}
	if t.Check != nil {
		re, err := regexp.Compile(t.Check.Matches)
		if err != nil || t.Check.Matches == "" {
			return nil, nil, fmt.Errorf("check.matches must be a regular expression: %v", err)
		}
		msg := t.Check.Message
		if msg == "" {
			msg = "it must match " + t.Check.Matches
		}
		set(funcTF(func(s string) (string, error) {
			if !re.MatchString(s) {
				return "", fmt.Errorf("%q is refused: %s", s, msg)
			}
			return s, nil
		}))
	}
	if t.HS != nil {
		sh = &hsShaper{y: *t.HS}
		n++
	}
	if t.Unit != nil {
		u, err := compileUnit(t.Unit)
		if err != nil {
			return nil, nil, err
		}
		sh = u
		n++
	}
	if t.Identifier != nil {
		if t.Identifier.Sep != "" && t.Identifier.Scheme != "" {
			return nil, nil, errors.New("identifier: give sep (split scheme:value at the last separator) or scheme (a fixed scheme), not both")
		}
		sh = &identShaper{y: *t.Identifier}
		n++
	}
	switch {
	case n == 0:
		return nil, nil, errors.New("empty transform: use one of trim, upper, lower, digits, prefix, strip_prefix, replace, date, map, concat, split, number, datauri, check, hs, unit, identifier")
	case n > 1:
		return nil, nil, errors.New("one transform per list entry: write each as its own '- name: ...' item")
	}
	return tf, sh, nil
}

// funcTF applies a function to every value.
type funcTF func(string) (string, error)

func (f funcTF) apply(vs []val, _ *runCtx) ([]val, error) {
	for i := range vs {
		s, err := f(vs[i].s)
		if err != nil {
			return nil, &valError{path: vs[i].path, err: err}
		}
		vs[i].s = s
	}
	return vs, nil
}

// valError ties a transform error to the source field of the value.
type valError struct {
	path string
	err  error
}

func (e *valError) Error() string { return e.err.Error() }
func (e *valError) Unwrap() error { return e.err }

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// date

type dateTF struct {
	layouts  []string
	patterns []string
	toDate   bool
	loc      *time.Location
}

var datePatternRepl = strings.NewReplacer(
	"YYYY", "2006", "YY", "06", "MMM", "Jan", "MM", "01", "DD", "02",
	"hh", "15", "HH", "15", "mm", "04", "ss", "05", "Z07:00", "Z07:00",
)

func compileDate(d *dateYAML) (*dateTF, error) {
	out := &dateTF{loc: time.UTC}
	switch d.To {
	case "", "date":
		out.toDate = true
	case "datetime":
	default:
		return nil, fmt.Errorf("date.to is 'date' (YYYY-MM-DD) or 'datetime' (RFC 3339), got %q", d.To)
	}
	if len(d.From) == 0 {
		return nil, errors.New("date.from is missing: give the source layout, e.g. DD/MM/YYYY, YYYY-MM-DD, iso, or a Go layout like 02/01/2006")
	}
	for _, f := range d.From {
		l := f
		switch {
		case f == "iso":
			out.layouts = append(out.layouts, time.RFC3339Nano, "2006-01-02T15:04:05", time.DateOnly)
			out.patterns = append(out.patterns, f, f, f)
			continue
		case strings.Contains(f, "2006") || strings.Contains(f, "06") && strings.Contains(f, "01"):
			// a Go layout
		default:
			l = datePatternRepl.Replace(f)
			if l == f {
				return nil, fmt.Errorf("date.from %q is neither a pattern (DD, MM, MMM, YYYY, hh, mm, ss) nor a Go layout", f)
			}
		}
		out.layouts = append(out.layouts, l)
		out.patterns = append(out.patterns, f)
	}
	if d.Zone != "" {
		loc, err := parseZone(d.Zone)
		if err != nil {
			return nil, fmt.Errorf("date.zone: %v", err)
		}
		out.loc = loc
	}
	return out, nil
}

func parseZone(z string) (*time.Location, error) {
	if t, err := time.Parse("-07:00", z); err == nil {
		_, off := t.Zone()
		return time.FixedZone(z, off), nil
	}
	loc, err := time.LoadLocation(z)
	if err != nil {
		return nil, fmt.Errorf("%q is neither an offset like +05:30 nor a zone name like Asia/Kolkata", z)
	}
	return loc, nil
}

func (d *dateTF) apply(vs []val, _ *runCtx) ([]val, error) {
	for i := range vs {
		s := strings.TrimSpace(vs[i].s)
		var t time.Time
		var err error
		ok := false
		for _, l := range d.layouts {
			if t, err = time.ParseInLocation(l, s, d.loc); err == nil {
				ok = true
				break
			}
		}
		if !ok {
			return nil, &valError{path: vs[i].path, err: fmt.Errorf("%q is not a date in the form %s: correct the source or the rule's date.from", s, strings.Join(d.patterns, " or "))}
		}
		if d.toDate {
			vs[i].s = t.Format(time.DateOnly)
		} else {
			vs[i].s = t.Format(time.RFC3339Nano)
		}
	}
	return vs, nil
}

// map

type mapTF struct {
	table map[string]string
	def   *string
	pass  bool
	fold  bool
	keys  []string // for messages
}

func (m *mapTF) apply(vs []val, _ *runCtx) ([]val, error) {
	for i := range vs {
		k := vs[i].s
		if m.fold {
			k = strings.ToLower(k)
		}
		if v, ok := m.table[k]; ok {
			vs[i].s = v
			continue
		}
		switch {
		case m.def != nil:
			vs[i].s = *m.def
		case m.pass:
		default:
			return nil, &valError{path: vs[i].path, err: fmt.Errorf("value %q is not in the rule's code table (%s): correct the source, or add it to map.table, or give map.default", vs[i].s, strings.Join(m.keys, ", "))}
		}
	}
	return vs, nil
}

// concat joins all values (empty ones skipped) into one.

type concatTF struct{ sep string }

func (c concatTF) apply(vs []val, _ *runCtx) ([]val, error) {
	if len(vs) == 0 {
		return vs, nil
	}
	parts := make([]string, 0, len(vs))
	paths := make([]string, 0, len(vs))
	for _, v := range vs {
		if v.s != "" {
			parts = append(parts, v.s)
			paths = append(paths, v.path)
		}
	}
	return []val{{s: strings.Join(parts, c.sep), path: strings.Join(paths, "+")}}, nil
}

// split

type splitTF struct{ y splitYAML }

func (sp *splitTF) apply(vs []val, _ *runCtx) ([]val, error) {
	var out []val
	for _, v := range vs {
		if sp.y.Part != nil {
			var before, after string
			var ok bool
			if sp.y.Last {
				i := strings.LastIndex(v.s, sp.y.Sep)
				if i >= 0 {
					before, after, ok = v.s[:i], v.s[i+len(sp.y.Sep):], true
				}
			} else {
				before, after, ok = strings.Cut(v.s, sp.y.Sep)
			}
			if !ok {
				before, after = "", v.s
			}
			if *sp.y.Part == 0 {
				out = append(out, val{s: before, path: v.path})
			} else {
				out = append(out, val{s: after, path: v.path})
			}
			continue
		}
		parts := strings.Split(v.s, sp.y.Sep)
		if sp.y.Index != nil {
			i := *sp.y.Index
			if i < 0 {
				i += len(parts)
			}
			if i < 0 || i >= len(parts) {
				continue
			}
			out = append(out, val{s: strings.TrimSpace(parts[i]), path: v.path})
			continue
		}
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, val{s: p, path: v.path})
			}
		}
	}
	return out, nil
}

// number normalises a number written with thousands separators or a
// decimal comma to a plain decimal.

type numberTF struct{ y numberYAML }

func (nt *numberTF) apply(vs []val, _ *runCtx) ([]val, error) {
	for i := range vs {
		s := strings.TrimSpace(vs[i].s)
		s = strings.ReplaceAll(s, " ", "")
		if nt.y.Thousands != "" {
			s = strings.ReplaceAll(s, nt.y.Thousands, "")
		}
		if nt.y.Decimal != "" && nt.y.Decimal != "." {
			s = strings.ReplaceAll(s, nt.y.Decimal, ".")
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok || strings.ContainsAny(s, "eE/") {
			return nil, &valError{path: vs[i].path, err: fmt.Errorf("%q is not a number", vs[i].s)}
		}
		if nt.y.Floor {
			q := new(big.Int).Quo(r.Num(), r.Denom())
			vs[i].s = q.String()
			continue
		}
		vs[i].s = s
	}
	return vs, nil
}

// hs normalises an HS or national tariff code: dots and spaces removed, the
// first 6 digits in hsCode and, when longer, the whole code in
// nationalTariffCode.

type hsShaper struct{ y hsYAML }

func (h *hsShaper) name() string { return "hs" }
func (h *hsShaper) fields() []string {
	return []string{"hsCode", "nationalTariffCode", "hsEdition"}
}
func (h *hsShaper) shape(v val, _ *runCtx) (map[string]string, error) {
	d := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r == '.' || r == ' ' || r == '-':
			return -1
		}
		return 'x'
	}, v.s)
	if strings.ContainsRune(d, 'x') || len(d) < 6 || len(d) > 12 {
		return nil, fmt.Errorf("%q is not an HS code: write 6 to 12 digits, dots and spaces allowed (e.g. 6109.10 or 61091000)", v.s)
	}
	out := map[string]string{"hsCode": d[:6]}
	if len(d) > 6 && (h.y.National == nil || *h.y.National) {
		out["nationalTariffCode"] = d
	}
	if h.y.Edition != "" {
		out["hsEdition"] = h.y.Edition
	}
	return out, nil
}

// unit fills a measure: value (converted by the factor) and UN/ECE Rec 20 unit code.

type unitShaper struct {
	fixed bool
	from  string
	to    string
	fac   *big.Rat
	field *srcPath
	table map[string]unitConv
}

type unitConv struct {
	to  string
	fac *big.Rat
}

func compileUnit(u *unitYAML) (*unitShaper, error) {
	out := &unitShaper{}
	parseFac := func(s string) (*big.Rat, error) {
		if s == "" {
			return nil, nil
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok || r.Sign() <= 0 {
			return nil, fmt.Errorf("unit factor %q is not a positive number", s)
		}
		return r, nil
	}
	switch {
	case u.Field != "" && u.From != "":
		return nil, errors.New("unit: give 'from' (the source unit, fixed) or 'field' (the source field holding the unit), not both")
	case u.Field != "":
		sp, err := parseSrcPath(u.Field)
		if err != nil {
			return nil, fmt.Errorf("unit.field: %v", err)
		}
		if len(u.Table) == 0 {
			return nil, errors.New("unit.field needs unit.table: source unit: Rec 20 code, or {to: CODE, factor: N}")
		}
		out.field = sp
		out.table = map[string]unitConv{}
		for k, e := range u.Table {
			f, err := parseFac(e.Factor)
			if err != nil {
				return nil, fmt.Errorf("unit.table[%s]: %v", k, err)
			}
			to := e.To
			if to == "" {
				to = k
			}
			out.table[strings.ToUpper(k)] = unitConv{to: to, fac: f}
		}
	case u.To != "":
		f, err := parseFac(u.Factor)
		if err != nil {
			return nil, err
		}
		out.fixed, out.from, out.to, out.fac = true, u.From, u.To, f
	default:
		return nil, errors.New("unit: give to (the Rec 20 code, with from and factor if converting) or field with table")
	}
	return out, nil
}

func (u *unitShaper) name() string     { return "unit" }
func (u *unitShaper) fields() []string { return []string{"value", "unitCode"} }
func (u *unitShaper) shape(v val, rc *runCtx) (map[string]string, error) {
	conv := unitConv{to: u.to, fac: u.fac}
	if !u.fixed {
		code, path, err := rc.first(u.field)
		if err != nil {
			return nil, err
		}
		if code == "" {
			return nil, fmt.Errorf("the unit field %s is empty: give the quantity's unit", u.field.text)
		}
		c, ok := u.table[strings.ToUpper(strings.TrimSpace(code))]
		if !ok {
			keys := make([]string, 0, len(u.table))
			for k := range u.table {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return nil, &valError{path: path, err: fmt.Errorf("unit %q is not in the rule's unit table (%s): add it to unit.table", code, strings.Join(keys, ", "))}
		}
		conv = c
	}
	s := strings.TrimSpace(v.s)
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "eE/") {
		return nil, fmt.Errorf("%q is not a number: write digits with an optional '.' (use the number transform first for 1,200.50)", v.s)
	}
	out := s
	if conv.fac != nil {
		out = ratString(new(big.Rat).Mul(r, conv.fac))
	}
	return map[string]string{"value": out, "unitCode": conv.to}, nil
}

// ratString prints an exact decimal without trailing zeros (up to 9 places).
func ratString(r *big.Rat) string {
	s := r.FloatString(9)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// identifier fills an identifier: scheme and value.

type identShaper struct{ y identYAML }

func (i *identShaper) name() string     { return "identifier" }
func (i *identShaper) fields() []string { return []string{"value", "schemeID"} }
func (i *identShaper) shape(v val, _ *runCtx) (map[string]string, error) {
	if i.y.Sep != "" {
		j := strings.LastIndex(v.s, i.y.Sep)
		if j < 0 {
			return map[string]string{"value": v.s}, nil
		}
		return map[string]string{"schemeID": v.s[:j], "value": v.s[j+len(i.y.Sep):]}, nil
	}
	return map[string]string{"schemeID": i.y.Scheme, "value": v.s}, nil
}
