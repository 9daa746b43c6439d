package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Source formats a profile can read.
const (
	FormatJSON = "json" // one JSON document: an object (one record), an array of records, or records at Profile.Records; also NDJSON
	FormatCSV  = "csv"  // a header row, then rows; rows sharing the key column form one record
	FormatXML  = "xml"  // one XML document; records at Profile.Records (slash path from the root element)
)

// Profile is a loaded, compiled mapping profile. It is immutable and safe
// for concurrent use.
type Profile struct {
	// Name and Description come from the YAML.
	Name        string
	Description string
	// Format is json, csv or xml.
	Format string

	records       *srcPath
	key           *srcPath
	keyColumn     string
	csvDelimiter  rune
	carryUnmapped bool
	edi3Weight    bool
	rules         []*rule
}

// yaml shapes of the profile; decoded strictly (unknown fields refused).
type profileYAML struct {
	Name          string   `yaml:"name"`
	Description   string   `yaml:"description"`
	Format        string   `yaml:"format"`
	Records       string   `yaml:"records"`
	Key           string   `yaml:"key"`
	CSV           *csvYAML `yaml:"csv"`
	CarryUnmapped bool     `yaml:"carry_unmapped"`
	// Edi3GrossWeight: a goods item without a quantity takes the summed
	// gross weight of its edi3 transport packages (KGM), with an INFO note.
	Edi3GrossWeight bool       `yaml:"edi3_gross_weight_quantity"`
	Rules           []ruleYAML `yaml:"rules"`
}

type csvYAML struct {
	Delimiter string `yaml:"delimiter"`
}

type ruleYAML struct {
	Name       string          `yaml:"name"`
	To         string          `yaml:"to"`
	From       strList         `yaml:"from"`
	Value      *string         `yaml:"value"`
	Default    *string         `yaml:"default"`
	Required   bool            `yaml:"required"`
	Carry      bool            `yaml:"carry"`
	When       *condYAML       `yaml:"when"`
	Transforms []transformYAML `yaml:"transforms"`
	Each       string          `yaml:"each"`
	Rules      []ruleYAML      `yaml:"rules"`

	line int
}

type condYAML struct {
	From      string   `yaml:"from"`
	Equals    *string  `yaml:"equals"`
	NotEquals *string  `yaml:"not_equals"`
	In        []string `yaml:"in"`
	NotIn     []string `yaml:"not_in"`
	Present   *bool    `yaml:"present"`
	Matches   string   `yaml:"matches"`
}

// strList is a YAML scalar or sequence of scalars.
type strList []string

func (s *strList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = strList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(strList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: 'from' lists source paths (text), found a %s", c.Line, kindName(c.Kind))
			}
			out = append(out, c.Value)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("line %d: 'from' is a source path or a list of them, found a %s", n.Line, kindName(n.Kind))
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar"
	}
	return "node"
}

// rule is a compiled rule.
type rule struct {
	label    string
	to       *tgtPath
	subs     map[string]*tgtPath // for shaping transforms: sub-field → target
	from     []*srcPath
	value    *string
	def      *string
	required bool
	carry    bool
	when     *cond
	tf       []transform
	shape    shaper
	each     *srcPath
	rules    []*rule
}

type cond struct {
	from      *srcPath
	equals    *string
	notEquals *string
	in        map[string]bool
	notIn     map[string]bool
	present   *bool
	matches   *regexp.Regexp
}

// LoadProfile reads a profile from YAML. name is used in errors when the
// YAML has no name of its own.
func LoadProfile(r io.Reader, name string) (*Profile, error) {
	data, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, &ProfileError{Profile: name, Err: err}
	}
	return ParseProfile(data, name)
}

// LoadProfileFile reads a profile from a YAML file.
func LoadProfileFile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ProfileError{Profile: path, Err: fmt.Errorf("cannot read the profile file: %w", err)}
	}
	return ParseProfile(data, path)
}

// Open returns the built-in profile called nameOrPath, or else loads the
// YAML file at that path.
func Open(nameOrPath string) (*Profile, error) {
	if p, err := Builtin(nameOrPath); err == nil {
		return p, nil
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		return nil, &ProfileError{Profile: nameOrPath, Err: fmt.Errorf("no built-in profile has that name (built-in: %s) and no file is there", strings.Join(BuiltinNames(), ", "))}
	}
	return LoadProfileFile(nameOrPath)
}

// ParseProfile compiles a profile from its YAML text. Unknown fields are
// refused; every problem names the rule and its line.
func ParseProfile(data []byte, name string) (*Profile, error) {
	var doc profileYAML
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the profile is empty")
		}
		return nil, &ProfileError{Profile: name, Err: fmt.Errorf("%v (see the profile format in the mapping package documentation)", err)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		assignLines(&root, doc.Rules)
	}
	if doc.Name != "" {
		name = doc.Name
	}
	p := &Profile{Name: name, Description: doc.Description, Format: doc.Format, carryUnmapped: doc.CarryUnmapped, edi3Weight: doc.Edi3GrossWeight}
	perr := func(format string, a ...any) error {
		return &ProfileError{Profile: name, Err: fmt.Errorf(format, a...)}
	}
	switch doc.Format {
	case FormatJSON, FormatXML:
		if doc.CSV != nil {
			return nil, perr("'csv' options apply only to format csv")
		}
	case FormatCSV:
		p.csvDelimiter = ','
		if doc.CSV != nil && doc.CSV.Delimiter != "" {
			d := []rune(doc.CSV.Delimiter)
			if len(d) != 1 || d[0] == '"' || d[0] == '\n' {
				return nil, perr("csv.delimiter must be one character other than a quote or newline, got %q", doc.CSV.Delimiter)
			}
			p.csvDelimiter = d[0]
		}
		if doc.Records != "" {
			return nil, perr("'records' is for json and xml; a csv profile groups rows into records with 'key' (the key column)")
		}
		if strings.ContainsAny(doc.Key, ".[]/") {
			return nil, perr("for csv, 'key' is the name of the column that groups rows into one record, got %q", doc.Key)
		}
		p.keyColumn = doc.Key
	case "":
		return nil, perr("'format' is missing: write json, csv or xml")
	default:
		return nil, perr("unknown format %q: write json, csv or xml", doc.Format)
	}
	if doc.Records != "" {
		sp, err := parseSrcPath(doc.Records)
		if err != nil {
			return nil, perr("records: %v", err)
		}
		p.records = sp
	}
	if doc.Key != "" {
		kp := doc.Key
		if doc.Format == FormatCSV {
			kp = "rows[0]." + doc.Key
		}
		sp, err := parseSrcPath(kp)
		if err != nil {
			return nil, perr("key: %v", err)
		}
		p.key = sp
	}
	if len(doc.Rules) == 0 {
		return nil, perr("the profile has no rules")
	}
	rules, err := compileRules(name, doc.Rules, "rules", certType)
	if err != nil {
		return nil, err
	}
	p.rules = rules
	return p, nil
}

// assignLines copies the YAML line of each rule into the decoded rules.
func assignLines(root *yaml.Node, rules []ruleYAML) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	seq := mappingValue(n, "rules")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return
	}
	var walk func(seq *yaml.Node, rules []ruleYAML)
	walk = func(seq *yaml.Node, rules []ruleYAML) {
		for i := range rules {
			if i >= len(seq.Content) {
				return
			}
			rules[i].line = seq.Content[i].Line
			if sub := mappingValue(seq.Content[i], "rules"); sub != nil && sub.Kind == yaml.SequenceNode {
				walk(sub, rules[i].Rules)
			}
		}
	}
	walk(seq, rules)
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func compileRules(profile string, rys []ruleYAML, prefix string, root reflect.Type) ([]*rule, error) {
	out := make([]*rule, 0, len(rys))
	for i := range rys {
		ry := &rys[i]
		pos := prefix + "[" + strconv.Itoa(i) + "]"
		label := pos
		if ry.Name != "" {
			label += " " + strconv.Quote(ry.Name)
		}
		var extra []string
		if ry.line > 0 {
			extra = append(extra, "line "+strconv.Itoa(ry.line))
		}
		if ry.To != "" {
			extra = append(extra, "to "+ry.To)
		}
		if len(extra) > 0 {
			label += " (" + strings.Join(extra, ", ") + ")"
		}
		r, err := compileRule(ry, label, pos, profile, root)
		if err != nil {
			return nil, &ProfileError{Profile: profile, Rule: label, Err: err}
		}
		out = append(out, r)
	}
	return out, nil
}

func compileRule(ry *ruleYAML, label, pos, profile string, root reflect.Type) (*rule, error) {
	r := &rule{label: label, value: ry.Value, def: ry.Default, required: ry.Required, carry: ry.Carry}
	if ry.To == "" {
		return nil, errors.New("'to' is missing: name the canonical field (JSON names of the schema types, e.g. supplyChainConsignment.consignor.name)")
	}
	if ry.When != nil {
		c, err := compileCond(ry.When)
		if err != nil {
			return nil, err
		}
		r.when = c
	}
	if ry.Each != "" {
		// A repeating group.
		if len(ry.From) > 0 || ry.Value != nil || ry.Default != nil || len(ry.Transforms) > 0 || ry.Required || ry.Carry {
			return nil, errors.New("a repeating group ('each') takes only 'to', 'when' and nested 'rules'; put from/value/transforms in the nested rules")
		}
		if len(ry.Rules) == 0 {
			return nil, errors.New("a repeating group ('each') needs nested 'rules'")
		}
		each, err := parseSrcPath(ry.Each)
		if err != nil {
			return nil, fmt.Errorf("each: %v", err)
		}
		if each.special != "" {
			return nil, fmt.Errorf("each: %q is not a list", ry.Each)
		}
		r.each = each
		tp, err := parseTgtPath(ry.To, root)
		if err != nil {
			return nil, err
		}
		if tp.append != len(tp.steps)-1 && !(tp.append >= 0 && allDeref(tp.steps[tp.append+1:])) {
			return nil, fmt.Errorf("the target of a repeating group must end in '[]' (append one element per match), e.g. supplyChainConsignment.includedConsignmentItems[]; got %q", ry.To)
		}
		r.to = tp
		sub, err := compileRules(profile, ry.Rules, pos+".rules", tp.typ)
		if err != nil {
			return nil, err
		}
		r.rules = sub
		return r, nil
	}
	if len(ry.Rules) > 0 {
		return nil, errors.New("nested 'rules' need 'each' (the repeating source group)")
	}
	switch {
	case ry.Value != nil && len(ry.From) > 0:
		return nil, errors.New("give either 'from' (source fields) or 'value' (a constant), not both")
	case ry.Value == nil && len(ry.From) == 0 && ry.Default == nil:
		return nil, errors.New("give 'from' (source fields), 'value' (a constant) or 'default'")
	}
	for _, f := range ry.From {
		sp, err := parseSrcPath(f)
		if err != nil {
			return nil, fmt.Errorf("from: %v", err)
		}
		r.from = append(r.from, sp)
	}
	tp, err := parseTgtPath(ry.To, root)
	if err != nil {
		return nil, err
	}
	r.to = tp
	for i := range ry.Transforms {
		t, s, err := compileTransform(&ry.Transforms[i])
		if err != nil {
			return nil, fmt.Errorf("transforms[%d]: %v", i, err)
		}
		if s != nil {
			if i != len(ry.Transforms)-1 {
				return nil, fmt.Errorf("transforms[%d]: a shaping transform (hs, unit, identifier) must come last", i)
			}
			r.shape = s
			continue
		}
		r.tf = append(r.tf, t)
	}
	if r.shape != nil {
		if tp.leaf != lkObject {
			return nil, fmt.Errorf("a shaping transform fills several fields of a group (e.g. tradeProduct, quantity, iDs[]); %q is a single value", ry.To)
		}
		r.subs = map[string]*tgtPath{}
		for _, sub := range r.shape.fields() {
			st, err := parseTgtPath(ry.To+"."+sub, root)
			if err != nil {
				return nil, fmt.Errorf("the %s transform fills %s.%s: %v", r.shape.name(), ry.To, sub, err)
			}
			r.subs[sub] = st
		}
	} else if tp.leaf == lkObject {
		return nil, fmt.Errorf("target %q is a group of fields (%s), not a single value: name one of its fields (%s), or end the transforms with hs, unit or identifier", ry.To, tp.typ, strings.Join(jsonNames(tp.typ), ", "))
	}
	return r, nil
}

func allDeref(ss []tstep) bool {
	for _, s := range ss {
		if s.kind != tDeref {
			return false
		}
	}
	return true
}

func compileCond(c *condYAML) (*cond, error) {
	if c.From == "" {
		return nil, errors.New("when: 'from' (the source field to test) is missing")
	}
	sp, err := parseSrcPath(c.From)
	if err != nil {
		return nil, fmt.Errorf("when.from: %v", err)
	}
	out := &cond{from: sp, equals: c.Equals, notEquals: c.NotEquals, present: c.Present}
	n := 0
	for _, set := range []bool{c.Equals != nil, c.NotEquals != nil, c.In != nil, c.NotIn != nil, c.Present != nil, c.Matches != ""} {
		if set {
			n++
		}
	}
	if n == 0 {
		return nil, errors.New("when: give a test: equals, not_equals, in, not_in, present or matches")
	}
	if c.In != nil {
		out.in = setOf(c.In)
	}
	if c.NotIn != nil {
		out.notIn = setOf(c.NotIn)
	}
	if c.Matches != "" {
		re, err := regexp.Compile(c.Matches)
		if err != nil {
			return nil, fmt.Errorf("when.matches: %v", err)
		}
		out.matches = re
	}
	return out, nil
}

func setOf(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}
