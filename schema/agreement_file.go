package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AgreementFile is the YAML form of an agreement profile that an operator
// adds to the built-in ones (node configuration `agreementFiles`, or
// --agreements on ecogate validate and ecogate map). Every key is optional
// except name, codes, title and (for a preferential agreement) parties;
// unknown keys are refused. docs/agreements/chafta.yaml is an example.
type AgreementFile struct {
	Name          string     `yaml:"name"`
	Codes         []string   `yaml:"codes"`
	Title         string     `yaml:"title"`
	FormName      string     `yaml:"formName"`
	Preferential  *bool      `yaml:"preferential"`
	Parties       []string   `yaml:"parties"`
	DocumentTypes []string   `yaml:"documentTypes"`
	Criteria      [][]string `yaml:"criteria"`
	PercentCodes  []string   `yaml:"percentCodes"`
	FOBWhenRVC    bool       `yaml:"fobWhenRVC"`
	FOBExporters  []string   `yaml:"fobExporters"`
	// OriginCountryParty requires every goods item's country of origin to be a party.
	OriginCountryParty bool `yaml:"originCountryParty"`
	Mandatory          []struct {
		Field string `yaml:"field"`
		Level string `yaml:"level"`
	} `yaml:"mandatory"`
	ValidityMonths    int    `yaml:"validityMonths"`
	RetroactiveMonths int    `yaml:"retroactiveMonths"`
	Language          string `yaml:"language"`
	MaxItems          int    `yaml:"maxItems"`
	// SignatureImageSuffices accepts a signatory authentication that has a
	// signature image but no signatory name (a WARNING instead of SEVERE).
	SignatureImageSuffices bool `yaml:"signatureImageSuffices"`
	// Rules name built-in rule functions by code (see AgreementRuleCodes).
	Rules []string `yaml:"rules"`
}

// agreementRules are the built-in rule functions that an agreement file
// may name in its rules list.
var agreementRules = map[string]func(r *Report, c *Certificate, p *Profile){
	CodeRCEPBackToBackOrigin: ruleRCEPBackToBackOrigin,
	CodeOriginFlags:          ruleRCEPFlags,
	CodePartialCumulation:    rulePartialCumulation,
	CodeAIFTACriterion:       ruleAIFTACriterion,
}

// AgreementRuleCodes lists the rule codes an agreement file may name.
func AgreementRuleCodes() []string {
	out := make([]string, 0, len(agreementRules))
	for k := range agreementRules {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var (
	reAgreementCode = regexp.MustCompile(`^[A-Z][A-Z0-9-]{1,19}$`)
	reCountry2      = regexp.MustCompile(`^[A-Z]{2}$`)
)

// maxAgreementFile caps an agreement file's size.
const maxAgreementFile = 1 << 20

// LoadAgreementFiles reads agreement files (AgreementFile) and returns
// their profiles. A file that cannot be read, is not strict YAML of that
// shape, or names an unknown field, rule, level or country is refused with
// an error naming the file, the line and the key; an agreement whose name
// or code is already taken (by a built-in or an earlier file) too.
func LoadAgreementFiles(paths []string) ([]*Profile, error) {
	var out []*Profile
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("agreement file: %w", err)
		}
		p, err := ParseAgreementFile(b, path)
		if err != nil {
			return nil, err
		}
		for _, q := range append(profiles(), out...) {
			if q.Name == p.Name {
				return nil, fmt.Errorf("%s: agreement %s is already defined (built-in or an earlier file): choose another name", path, p.Name)
			}
			for _, code := range p.Agreements {
				if slices.Contains(q.Agreements, code) {
					return nil, fmt.Errorf("%s: agreement code %s already selects profile %s: remove it from codes", path, code, q.Name)
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// ParseAgreementFile reads one agreement file's YAML; name is used in errors.
func ParseAgreementFile(data []byte, name string) (*Profile, error) {
	if len(data) > maxAgreementFile {
		return nil, fmt.Errorf("%s: %d bytes; an agreement file has at most %d", name, len(data), maxAgreementFile)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: not YAML: %v", name, err)
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: an agreement file is one YAML mapping (name:, codes:, parties:, ...)", name)
	}
	doc := root.Content[0]
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var af AgreementFile
	if err := dec.Decode(&af); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %v (known keys: name, codes, title, formName, preferential, parties, documentTypes, criteria, percentCodes, fobWhenRVC, fobExporters, originCountryParty, mandatory, validityMonths, retroactiveMonths, language, maxItems, signatureImageSuffices, rules)", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// bad reports a problem at key (a dotted path: "parties[1]").
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%s: line %d: %s: %s", name, lineOf(doc, key), key, fmt.Sprintf(format, a...))
	}
	p := &Profile{
		Name: strings.ToUpper(strings.TrimSpace(af.Name)), Title: af.Title, FormName: af.FormName,
		FOBWhenRVC: af.FOBWhenRVC, OriginCountryParty: af.OriginCountryParty,
		ValidityMonths: af.ValidityMonths, RetroactiveMonths: af.RetroactiveMonths,
		Language: af.Language, MaxItems: af.MaxItems, SignatureImageSuffices: af.SignatureImageSuffices,
	}
	if !reAgreementCode.MatchString(p.Name) {
		return nil, bad("name", "%q: give the agreement's short name, 2-20 capital letters, digits or '-', e.g. CHAFTA", af.Name)
	}
	if strings.TrimSpace(af.Title) == "" {
		return nil, bad("title", "give the agreement's full name, e.g. China-Australia Free Trade Agreement")
	}
	if af.Preferential == nil {
		return nil, bad("preferential", "say true (certificates claim preference) or false")
	}
	p.Preferential = *af.Preferential
	if len(af.Codes) == 0 {
		return nil, bad("codes", "list the freeTradeAgreement codes that select this agreement, e.g. [CHAFTA]")
	}
	for i, c := range af.Codes {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !reAgreementCode.MatchString(c) {
			return nil, bad(fmt.Sprintf("codes[%d]", i), "%q is not an agreement code (2-20 capital letters, digits or '-')", af.Codes[i])
		}
		p.Agreements = append(p.Agreements, c)
	}
	if p.Preferential && len(af.Parties) == 0 {
		return nil, bad("parties", "a preferential agreement lists its parties (ISO 3166-1 alpha-2 codes, e.g. [AU, CN])")
	}
	cl := DefaultCodeLists()
	for i, c := range af.Parties {
		if !reCountry2.MatchString(c) || !cl.Country(c) {
			return nil, bad(fmt.Sprintf("parties[%d]", i), "%q is not an ISO 3166-1 alpha-2 country code", c)
		}
		p.Parties = append(p.Parties, c)
	}
	for i, c := range af.FOBExporters {
		if !reCountry2.MatchString(c) || !cl.Country(c) {
			return nil, bad(fmt.Sprintf("fobExporters[%d]", i), "%q is not an ISO 3166-1 alpha-2 country code", c)
		}
		p.FOBExporters = append(p.FOBExporters, c)
	}
	p.DocumentTypes = af.DocumentTypes
	if len(p.DocumentTypes) == 0 {
		p.DocumentTypes = []string{"861", "864"}
	}
	for i, t := range p.DocumentTypes {
		if !cl.DocumentType(t) || !isOriginType(t) {
			return nil, bad(fmt.Sprintf("documentTypes[%d]", i), "%q is not a UNCL 1001 origin document: write 861, 862, 864 or 865", t)
		}
	}
	for i, line := range af.Criteria {
		if len(line) == 0 {
			return nil, bad(fmt.Sprintf("criteria[%d]", i), "a criterion line lists at least one code, e.g. [WO, PSR]")
		}
		var codes []string
		for j, c := range line {
			oc, err := ParseOriginCriterion(c)
			if err != nil || len(oc.Parts) != 1 || oc.Parts[0].Percent != "" {
				return nil, bad(fmt.Sprintf("criteria[%d][%d]", i, j), "%q is not one origin-criterion code such as WO or CTSH", c)
			}
			codes = append(codes, oc.Parts[0].Code)
		}
		p.Criteria = append(p.Criteria, codes)
	}
	for i, c := range af.PercentCodes {
		oc, err := ParseOriginCriterion(c)
		if err != nil || len(oc.Parts) != 1 || oc.Parts[0].Percent != "" {
			return nil, bad(fmt.Sprintf("percentCodes[%d]", i), "%q is not one origin-criterion code such as RVC", c)
		}
		p.PercentCodes = append(p.PercentCodes, oc.Parts[0].Code)
	}
	for i, m := range af.Mandatory {
		if _, ok := MandatoryFields[m.Field]; !ok {
			keys := make([]string, 0, len(MandatoryFields))
			for k := range MandatoryFields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return nil, bad(fmt.Sprintf("mandatory[%d].field", i), "%q is not a field a profile can require: choose one of %s", m.Field, strings.Join(keys, ", "))
		}
		lv := Level(strings.ToUpper(m.Level))
		if lv != Severe && lv != Warning {
			return nil, bad(fmt.Sprintf("mandatory[%d].level", i), "%q: write SEVERE (the agreement requires it) or WARNING (asked for where known)", m.Level)
		}
		p.Mandatory = append(p.Mandatory, Requirement{Field: m.Field, Level: lv})
	}
	for k, v := range map[string]int{"validityMonths": af.ValidityMonths, "retroactiveMonths": af.RetroactiveMonths, "maxItems": af.MaxItems} {
		if v < 0 || v > 1000 {
			return nil, bad(k, "%d: give 0 (not checked) up to 1000", v)
		}
	}
	if af.Language != "" && !cl.Language(af.Language) {
		return nil, bad("language", "%q is not an ISO 639-1 language code, e.g. en", af.Language)
	}
	for i, code := range af.Rules {
		fn, ok := agreementRules[code]
		if !ok {
			return nil, bad(fmt.Sprintf("rules[%d]", i), "%q is not a rule an agreement file can name: choose among %s", code, strings.Join(AgreementRuleCodes(), ", "))
		}
		p.Rules = append(p.Rules, Rule{Code: code, Check: fn})
	}
	return p, nil
}

// lineOf finds the line of a key path ("a", "a[2]", "a[1].b") in a YAML
// mapping node: the deepest node of the path that exists.
func lineOf(n *yaml.Node, key string) int {
	line := n.Line
	cur := n
	for _, seg := range strings.Split(key, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		next := mapValue(cur, name)
		if next == nil {
			return line
		}
		line, cur = next.key.Line, next.value
		for rest != "" {
			var idx int
			var tail string
			if _, err := fmt.Sscanf(rest, "%d]", &idx); err != nil {
				return line
			}
			_, tail, _ = strings.Cut(rest, "]")
			rest = strings.TrimPrefix(tail, "[")
			if cur.Kind != yaml.SequenceNode || idx >= len(cur.Content) {
				return line
			}
			cur = cur.Content[idx]
			line = cur.Line
		}
	}
	return line
}

type kv struct{ key, value *yaml.Node }

func mapValue(n *yaml.Node, name string) *kv {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return &kv{n.Content[i], n.Content[i+1]}
		}
	}
	return nil
}
