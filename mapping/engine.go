package mapping

import (
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ecogate/ecogate/schema"
)

// Carried source fields. A source field that has no home in the canonical
// dataset is not dropped: it travels as a ReferencedDocument with TypeCode
// CarriedTypeCode ("ZZZ", mutually defined), RelationshipTypeCode
// CarriedRelationship, and Information = the JSON array [sourcePath, value].
// ToEdi3 puts carried edi3 fields back where they came from.
const (
	CarriedTypeCode     = "ZZZ"
	CarriedRelationship = "ecogate:carried"
)

// CarriedField is a source field kept verbatim in the certificate.
type CarriedField struct {
	Path  string
	Value string
}

// Carried returns the carried source fields of c, in order.
func Carried(c *schema.Certificate) []CarriedField {
	var out []CarriedField
	for _, r := range c.References {
		if f, ok := carriedOf(r); ok {
			out = append(out, f)
		}
	}
	return out
}

func carriedOf(r schema.ReferencedDocument) (CarriedField, bool) {
	if r.TypeCode != CarriedTypeCode || r.RelationshipTypeCode != CarriedRelationship {
		return CarriedField{}, false
	}
	var pv []string
	if json.Unmarshal([]byte(r.Information), &pv) != nil || len(pv) != 2 {
		return CarriedField{}, false
	}
	return CarriedField{Path: pv[0], Value: pv[1]}, true
}

func carriedDoc(f CarriedField) schema.ReferencedDocument {
	b, _ := json.Marshal([]string{f.Path, f.Value})
	return schema.ReferencedDocument{TypeCode: CarriedTypeCode, RelationshipTypeCode: CarriedRelationship, Information: string(b)}
}

// Record is one source record as a reader delivers it.
type Record struct {
	// Index is the 0-based position of the record in its source.
	Index int
	// Key is the record's key (the profile's key field), "" when none.
	Key string
	// Pos says where the record is, e.g. "lines 2-4" (CSV), "" when only the index is known.
	Pos string
	// Err is set when the record could not be read (a malformed CSV row,
	// an XML record that is not well-formed); such a record is reported and skipped.
	Err error

	tree any
}

// Name describes the record for messages: `record 3 (key X, lines 8-10)`.
func (r *Record) Name() string {
	var parts []string
	if r.Key != "" {
		parts = append(parts, "key "+r.Key)
	}
	if r.Pos != "" {
		parts = append(parts, r.Pos)
	}
	s := "record " + strconv.Itoa(r.Index+1)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// ctx is the evaluation context of a rule: the source node it reads from
// (the record or a group element) and the target value it writes to.
type ctx struct {
	node   any
	path   string
	index  int // 1-based position in the group; 0 at the record level
	parent *ctx
	target reflect.Value
}

// runCtx is the state of mapping one record.
type runCtx struct {
	p        *Profile
	rec      *Record
	root     *ctx
	cur      *ctx
	cert     reflect.Value
	consumed map[string]struct{}
	carried  map[string]string
	errs     Errors
	rule     *rule
}

// MapRecord maps one source record onto a new canonical certificate. When
// any rule fails, it returns no certificate and an Errors listing every
// failure of the record.
func (p *Profile) MapRecord(rec *Record) (*schema.Certificate, error) {
	c, _, err := p.MapRecordNotes(rec)
	return c, err
}

// MapRecordNotes is MapRecord that also returns the mapping's notes:
// INFO findings about values the profile derived rather than copied (e.g.
// a quantity taken from the packages' gross weight).
func (p *Profile) MapRecordNotes(rec *Record) (*schema.Certificate, schema.Findings, error) {
	c, err := p.mapRecord(rec)
	if err != nil {
		return nil, nil, err
	}
	var notes schema.Findings
	if p.edi3Weight {
		notes = edi3GrossWeightQuantities(c, rec.tree)
	}
	return c, notes, nil
}

func (p *Profile) mapRecord(rec *Record) (*schema.Certificate, error) {
	if rec.Err != nil {
		return nil, Errors{{Record: rec.Name(), Err: rec.Err}}
	}
	c := new(schema.Certificate)
	rc := &runCtx{p: p, rec: rec, cert: reflect.ValueOf(c).Elem()}
	rc.root = &ctx{node: rec.tree, target: rc.cert}
	if p.carryUnmapped {
		rc.consumed = map[string]struct{}{}
		rc.carried = map[string]string{}
	}
	rc.runRules(p.rules, rc.root)
	if len(rc.errs) > 0 {
		return nil, rc.errs
	}
	if p.carryUnmapped {
		walkLeaves(rec.tree, "", func(path, v string) {
			if _, ok := rc.consumed[path]; !ok {
				rc.carried[path] = v
			}
		})
	}
	if c.Header.UUID == "" {
		c.Header.UUID = contentUUID(p.Name, rec.tree)
	}
	if len(rc.carried) > 0 {
		paths := make([]string, 0, len(rc.carried))
		for k := range rc.carried {
			paths = append(paths, k)
		}
		sort.Strings(paths)
		for _, k := range paths {
			c.References = append(c.References, carriedDoc(CarriedField{Path: k, Value: rc.carried[k]}))
		}
	}
	return c, nil
}

func (rc *runCtx) fail(r *rule, field string, err error) {
	var ve *valError
	if errors.As(err, &ve) {
		if ve.path != "" {
			field = ve.path
		}
		err = ve.err
	}
	rc.errs = append(rc.errs, &MappingError{Record: rc.rec.Name(), SourceField: field, Rule: r.label, Err: err})
}

func (rc *runCtx) runRules(rules []*rule, c *ctx) {
	for _, r := range rules {
		rc.rule = r
		rc.cur = c
		if r.when != nil {
			ok, err := rc.test(r.when, c)
			if err != nil {
				rc.fail(r, r.when.from.text, err)
				continue
			}
			if !ok {
				continue
			}
		}
		if r.each != nil {
			rc.runGroup(r, c)
			continue
		}
		rc.runValue(r, c)
	}
}

// resolve returns the context a source path starts from.
func (rc *runCtx) resolve(sp *srcPath, c *ctx) (*ctx, error) {
	if sp.abs {
		return rc.root, nil
	}
	for i := 0; i < sp.up; i++ {
		if c.parent == nil {
			return nil, fmt.Errorf("%s: '^.' goes above the record (there are fewer enclosing groups)", sp.text)
		}
		c = c.parent
	}
	return c, nil
}

// read evaluates a source path to its leaf values.
func (rc *runCtx) read(sp *srcPath, c *ctx) ([]val, error) {
	base, err := rc.resolve(sp, c)
	if err != nil {
		return nil, err
	}
	switch sp.special {
	case "$index":
		if base.index == 0 {
			return nil, fmt.Errorf("%s: $index is only defined inside a repeating group", sp.text)
		}
		return []val{{s: strconv.Itoa(base.index), path: sp.text}}, nil
	case "$key":
		return []val{{s: rc.rec.Key, path: "$key"}}, nil
	}
	track := rc.consumed != nil
	ms, err := sp.eval(base.node, base.path, true)
	if err != nil {
		return nil, err
	}
	out := make([]val, 0, len(ms))
	for _, m := range ms {
		s, ok := leafString(m.node)
		if !ok {
			return nil, fmt.Errorf("%s is a group of fields, not a value: name one of its fields", displayPath(m.path))
		}
		if track {
			rc.consumed[m.path] = struct{}{}
		}
		if s == "" {
			continue
		}
		out = append(out, val{s: s, path: m.path})
	}
	return out, nil
}

// first returns the first value of a path, "" when absent.
func (rc *runCtx) first(sp *srcPath) (string, string, error) {
	vs, err := rc.read(sp, rc.cur)
	if err != nil || len(vs) == 0 {
		return "", sp.text, err
	}
	return vs[0].s, vs[0].path, nil
}

func (rc *runCtx) test(cd *cond, c *ctx) (bool, error) {
	vs, err := rc.read(cd.from, c)
	if err != nil {
		return false, err
	}
	v := ""
	if len(vs) > 0 {
		v = vs[0].s
	}
	present := v != ""
	if cd.present != nil && *cd.present != present {
		return false, nil
	}
	if cd.equals != nil && v != *cd.equals {
		return false, nil
	}
	if cd.notEquals != nil && v == *cd.notEquals {
		return false, nil
	}
	if cd.in != nil && !cd.in[v] {
		return false, nil
	}
	if cd.notIn != nil && cd.notIn[v] {
		return false, nil
	}
	if cd.matches != nil && !cd.matches.MatchString(v) {
		return false, nil
	}
	return true, nil
}

func (rc *runCtx) runGroup(r *rule, c *ctx) {
	base, err := rc.resolve(r.each, c)
	if err != nil {
		rc.fail(r, r.each.text, err)
		return
	}
	ms, err := r.each.eval(base.node, base.path, true)
	if err != nil {
		rc.fail(r, r.each.text, err)
		return
	}
	if r.each.wild == 0 {
		// A path without [*] that lands on a list still repeats over it.
		var exp []match
		for _, m := range ms {
			if list, ok := m.node.([]any); ok {
				for i, el := range list {
					p := m.path + "[" + strconv.Itoa(i) + "]"
					exp = append(exp, match{node: el, path: p, frames: []frame{{node: el, path: p, index: i}}})
				}
				continue
			}
			exp = append(exp, match{node: m.node, path: m.path, frames: []frame{{node: m.node, path: m.path, index: 0}}})
		}
		ms = exp
	}
	if len(ms) == 0 {
		return
	}
	troot := c.target
	if r.to.abs {
		troot = rc.cert
	}
	start := r.to.appendBase(troot)
	for i, m := range ms {
		elem := r.to.walk(troot, start+i, len(r.to.steps))
		// One context per wildcard frame, so ^. climbs one group level.
		// When the path goes on past its last [*] (items[*].manufacturer),
		// the matched node gets a context of its own under that element's,
		// with the element's index.
		cc := c
		for _, f := range m.frames {
			cc = &ctx{node: f.node, path: f.path, index: f.index + 1, parent: cc, target: c.target}
		}
		if len(m.frames) == 0 || m.frames[len(m.frames)-1].path != m.path {
			idx := 1
			if len(m.frames) > 0 {
				idx = cc.index
			}
			cc = &ctx{node: m.node, path: m.path, index: idx, parent: cc}
		}
		cc.target = elem
		rc.runRules(r.rules, cc)
	}
}

func (rc *runCtx) runValue(r *rule, c *ctx) {
	var vs []val
	field := ""
	if r.value != nil {
		vs = []val{{s: *r.value}}
	} else {
		for _, sp := range r.from {
			if field == "" {
				field = sp.text
			}
			got, err := rc.read(sp, c)
			if err != nil {
				rc.fail(r, sp.text, err)
				return
			}
			vs = append(vs, got...)
		}
	}
	if r.carry && rc.carried != nil {
		for _, v := range vs {
			rc.carried[v.path] = v.s
		}
	}
	if len(vs) == 0 {
		if r.def == nil {
			if r.required {
				rc.fail(r, field, fmt.Errorf("the field is missing or empty and the rule requires it: fill it in the source record"))
			}
			return
		}
		vs = []val{{s: *r.def, path: field}}
	} else {
		for _, t := range r.tf {
			var err error
			vs, err = t.apply(vs, rc)
			if err != nil {
				rc.fail(r, field, err)
				return
			}
		}
		vs = nonEmpty(vs)
		if len(vs) == 0 {
			if r.def != nil {
				vs = []val{{s: *r.def, path: field}}
			} else if r.required {
				rc.fail(r, field, fmt.Errorf("the field is empty after the rule's transforms and the rule requires it"))
				return
			}
		}
	}
	troot := c.target
	if r.to.abs {
		troot = rc.cert
	}
	if len(vs) > 1 && r.to.append < 0 && r.to.leaf != lkStringList {
		rc.fail(r, vs[0].path, fmt.Errorf("%d values for the single field %s: join them with concat, pick one with an index in the source path, or append with [] in the target", len(vs), r.to.text))
		return
	}
	start := r.to.appendBase(troot)
	for i, v := range vs {
		if r.shape != nil {
			fields, err := r.shape.shape(v, rc)
			if err != nil {
				rc.fail(r, v.path, err)
				return
			}
			for _, name := range r.shape.fields() {
				s, ok := fields[name]
				if !ok || s == "" {
					continue
				}
				if err := r.subs[name].set(troot, start+i, s); err != nil {
					rc.fail(r, v.path, fmt.Errorf("%s: %v", name, err))
					return
				}
			}
			continue
		}
		if err := r.to.set(troot, start+i, v.s); err != nil {
			rc.fail(r, v.path, err)
			return
		}
	}
}

func nonEmpty(vs []val) []val {
	out := vs[:0]
	for _, v := range vs {
		if v.s != "" {
			out = append(out, v)
		}
	}
	return out
}

// contentUUID derives the version UUID of a mapped certificate from the
// profile name and the source record's content (a name-based UUID, version
// 5 layout over SHA-1): mapping the same record again gives the same UUID,
// so a re-run import recognises what it already stored, and a changed record
// gives a new one.
func contentUUID(profile string, tree any) string {
	h := sha1.New()
	h.Write([]byte("ecogate-mapping\x00" + profile + "\x00"))
	hashLeaves(h, tree, make([]byte, 0, 128))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hashLeaves writes what walkLeaves would give for every leaf under node
// (path, 0, value, 0, in walkLeaves' order) to h, building the paths in
// one reused buffer instead of a string per step. path holds the node's
// path; its capacity is reused.
func hashLeaves(h hash.Hash, node any, path []byte) {
	switch x := node.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := path
			if len(p) > 0 {
				p = append(p, '.')
			}
			hashLeaves(h, x[k], append(p, k...))
		}
	case []any:
		for i, el := range x {
			p := append(path, '[')
			p = strconv.AppendInt(p, int64(i), 10)
			hashLeaves(h, el, append(p, ']'))
		}
	default:
		if x == nil {
			return
		}
		s, _ := leafString(x)
		path = append(path, 0)
		path = append(path, s...)
		h.Write(append(path, 0)) // one write: path, 0, value, 0
	}
}
