package schema

import (
	"slices"
	"strings"
)

// Profile is one agreement's validation profile, kept as data: who the
// parties are, which origin-criterion codes each criterion line accepts,
// which optional fields become mandatory, the validity period and when the
// FOB value is required. The cross-field rules that every preferential
// profile shares live in rules.go; Rules adds the profile's own.
type Profile struct {
	// Name is the profile name used on the command line, e.g. "RCEP".
	Name string
	// Agreements are the Header.Agreement codes that select the profile.
	Agreements []string
	// Title is a human-readable name of the agreement.
	Title string
	// FormName is the usual name of the certificate, e.g. "Form D".
	FormName string
	// Preferential says whether certificates under the profile claim
	// preference (Header.IsPreferential must match).
	Preferential bool
	// Parties are the ISO 3166-1 codes of the member parties; nil means any
	// country (non-preferential).
	Parties []string
	// DocumentTypes are the UNCL 1001 type codes allowed.
	DocumentTypes []string
	// Criteria lists, per origin-criterion line (index 0 is line 1), the
	// codes that line accepts; len(Criteria) is the number of lines
	// allowed. Empty for a profile that needs no origin criterion.
	Criteria [][]string
	// PercentCodes are the criterion codes that need a percentage, either
	// inline ("RVC 40%", "PC 25%") or in GoodsItem.RVCPercent.
	PercentCodes []string
	// FOBWhenRVC says the FOB value is required on a line whose criterion
	// is RVC (or a bare percentage).
	FOBWhenRVC bool
	// FOBExporters, when not nil, limits that requirement to exports from
	// these countries (ATIGA: KH, ID, LA).
	FOBExporters []string
	// OriginCountryParty says every goods item needs a country of origin
	// that is a party (RCEP Annex 3B (i), Art. 2.6).
	OriginCountryParty bool
	// Mandatory are optional dataset fields that the profile requires,
	// named by the keys of MandatoryFields, with the level of the finding
	// when missing.
	Mandatory []Requirement
	// ValidityMonths is the validity of the proof of origin from its issue
	// date; 0 means no validity limit is checked.
	ValidityMonths int
	// RetroactiveMonths is how long after shipment a certificate may be
	// issued retroactively; 0 means retroactive issue is not checked.
	RetroactiveMonths int
	// Language is the ISO 639-1 language the certificate must be in; "" for any.
	Language string
	// MaxItems is the largest number of goods items the form takes; 0 for no limit.
	MaxItems int
	// SignatureImageSuffices accepts a signatory authentication that has
	// a signature image (SealImageRef) but no signatory name: the missing
	// name is a WARNING, not SEVERE (e.g. CHAFTA certificates from
	// TradeTrust carry the signature as an image).
	SignatureImageSuffices bool
	// Rules are the profile's own rule functions, run after the shared ones.
	Rules []Rule
}

// Requirement makes an optional field mandatory in a profile.
type Requirement struct {
	// Field is a key of MandatoryFields, e.g. "item.tradeProduct.originCountry".
	Field string
	// Level is SEVERE for a field the agreement requires, WARNING for one
	// it asks for "if known" or "such as".
	Level Level
}

// Rule is a named rule function of a profile. Check appends its findings
// through the report it is given; Code is the stable code it reports.
type Rule struct {
	Code  string
	Check func(r *Report, c *Certificate, p *Profile)
}

// IsParty reports whether a country is a party; any country is when Parties is nil.
func (p *Profile) IsParty(country string) bool {
	if p.Parties == nil {
		return true
	}
	return slices.Contains(p.Parties, country)
}

// NeedsPercent reports whether a criterion code needs a percentage.
func (p *Profile) NeedsPercent(code string) bool { return slices.Contains(p.PercentCodes, code) }

// RequiresFOB reports whether an RVC line needs the FOB value for this exporting country.
func (p *Profile) RequiresFOB(exportCountry string) bool {
	if !p.FOBWhenRVC {
		return false
	}
	return p.FOBExporters == nil || slices.Contains(p.FOBExporters, exportCountry)
}

// ASEAN are the ten ASEAN Member States (ATIGA Annex 7 note 1).
var ASEAN = []string{"BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN"}

func withASEAN(more ...string) []string { return append(slices.Clone(ASEAN), more...) }

var (
	rcepParties               = withASEAN("AU", "CN", "JP", "KR", "NZ") // RCEP Art. 3.16(2) / standards.md b2
	coreMandatoryPreferential = []Requirement{
		{"consignment.mainCarriage.departureDate", Warning},
		{"consignment.mainCarriage.usedTransportMeans", Warning},
		{"consignment.unloadingPort", Warning},
		{"item.invoiceReferences", Warning},
	}
)

// profiles returns the built-in profiles, fresh values on every call so
// that callers may change their copy.
func profiles() []*Profile {
	return []*Profile{
		{
			Name: "RCEP", Agreements: []string{"RCEP"}, Title: "Regional Comprehensive Economic Partnership",
			FormName: "Form RCEP", Preferential: true, Parties: slices.Clone(rcepParties),
			DocumentTypes: []string{"861", "864", "862"},
			Criteria: [][]string{
				{"WO", "PE", "CTC", "RVC", "CR"},
				{"ACU", "DMI", "2.6.6A", "2.6.6B"},
				{"2.6.6A", "2.6.6B", "DMI"},
			},
			PercentCodes: []string{"RVC"}, FOBWhenRVC: true, OriginCountryParty: true,
			Mandatory: append([]Requirement{
				{"item.tradeProduct.originCountry", Severe},
			}, coreMandatoryPreferential...),
			ValidityMonths: 12, RetroactiveMonths: 12, Language: "en",
			Rules: []Rule{{CodeRCEPBackToBackOrigin, ruleRCEPBackToBackOrigin}, {CodeOriginFlags, ruleRCEPFlags}},
		},
		{
			Name: "ATIGA", Agreements: []string{"ATIGA", "AFTA"}, Title: "ASEAN Trade in Goods Agreement",
			FormName: "Form D", Preferential: true, Parties: slices.Clone(ASEAN),
			DocumentTypes: []string{"861", "864", "862"},
			Criteria: [][]string{
				{"WO", "RVC", "CC", "CTH", "CTSH", "SP", "PC"},
				{"RVC", "CC", "CTH", "CTSH", "SP"},
			},
			PercentCodes: []string{"RVC", "PC"}, FOBWhenRVC: true, FOBExporters: []string{"KH", "ID", "LA"},
			Mandatory:      slices.Clone(coreMandatoryPreferential),
			ValidityMonths: 12, RetroactiveMonths: 12, Language: "en",
			Rules: []Rule{{CodePartialCumulation, rulePartialCumulation}},
		},
		{
			Name: "AANZFTA", Agreements: []string{"AANZFTA"}, Title: "ASEAN-Australia-New Zealand Free Trade Area",
			FormName: "Form AANZ", Preferential: true, Parties: withASEAN("AU", "NZ"),
			DocumentTypes: []string{"861", "864"},
			Criteria:      [][]string{{"WO", "PE", "RVC", "CTC", "OTHER", "CC", "CTH", "CTSH"}},
			PercentCodes:  []string{"RVC"}, FOBWhenRVC: true,
			Mandatory:      slices.Clone(coreMandatoryPreferential),
			ValidityMonths: 12, RetroactiveMonths: 12, Language: "en",
		},
		{
			Name: "AIFTA", Agreements: []string{"AIFTA"}, Title: "ASEAN-India Free Trade Area",
			FormName: "Form AI", Preferential: true, Parties: withASEAN("IN"),
			DocumentTypes: []string{"861", "864"},
			Criteria:      [][]string{{"WO", "RVC", "CTSH"}},
			PercentCodes:  []string{"RVC"}, FOBWhenRVC: true,
			Mandatory:      slices.Clone(coreMandatoryPreferential),
			ValidityMonths: 12, RetroactiveMonths: 12, Language: "en",
			Rules: []Rule{{CodeAIFTACriterion, ruleAIFTACriterion}},
		},
		{
			Name: "AKFTA", Agreements: []string{"AKFTA"}, Title: "ASEAN-Korea Free Trade Area",
			FormName: "Form AK", Preferential: true, Parties: withASEAN("KR"),
			DocumentTypes: []string{"861", "864"},
			Criteria:      [][]string{{"WO", "WO-AK", "RVC", "CC", "CTH", "CTSH", "CTC", "SPECIFIC PROCESSES"}},
			PercentCodes:  []string{"RVC"}, FOBWhenRVC: true,
			Mandatory:      slices.Clone(coreMandatoryPreferential),
			ValidityMonths: 12, RetroactiveMonths: 12, Language: "en",
		},
		{
			Name: "ACFTA", Agreements: []string{"ACFTA"}, Title: "ASEAN-China Free Trade Area",
			FormName: "Form E", Preferential: true, Parties: withASEAN("CN"),
			DocumentTypes: []string{"861", "864"},
			Criteria:      [][]string{{"WO", "PE", "RVC", "CTH", "PSR"}},
			PercentCodes:  []string{"RVC"}, FOBWhenRVC: true,
			Mandatory:      slices.Clone(coreMandatoryPreferential),
			ValidityMonths: 12, RetroactiveMonths: 12, Language: "en",
			// China-format FTA forms take at most 20 items (standards.md b.5).
			MaxItems: 20,
		},
		{
			Name: "NONPREF", Agreements: []string{"NONPREF", ""}, Title: "Non-preferential certificate of origin",
			FormName: "Certificate of Origin", Preferential: false, Parties: nil,
			DocumentTypes: []string{"861"},
		},
	}
}

// Profiles returns the built-in profiles: RCEP, ATIGA, AANZFTA, AIFTA,
// AKFTA, ACFTA and NONPREF. The values are fresh copies.
func Profiles() []*Profile { return profiles() }

// ProfileNames returns the names of the built-in profiles.
func ProfileNames() []string {
	var out []string
	for _, p := range profiles() {
		out = append(out, p.Name)
	}
	return out
}

// ProfileByName returns the built-in profile with the given name or
// agreement code (case-insensitive), or nil.
func ProfileByName(name string) *Profile {
	name = strings.ToUpper(strings.TrimSpace(name))
	for _, p := range profiles() {
		if p.Name == name {
			return p
		}
	}
	if name == "" {
		return nil
	}
	for _, p := range profiles() {
		if slices.Contains(p.Agreements, name) {
			return p
		}
	}
	return nil
}

// LookupProfile is ProfileByName over the built-in profiles and then the
// operator's agreements (LoadAgreementFiles).
func LookupProfile(name string, extra []*Profile) *Profile {
	if p := ProfileByName(name); p != nil {
		return p
	}
	name = strings.ToUpper(strings.TrimSpace(name))
	if name == "" {
		return nil
	}
	for _, p := range extra {
		if p.Name == name || slices.Contains(p.Agreements, name) {
			return p
		}
	}
	return nil
}

// ProfileNamesWith returns the names of the built-in profiles and of extra.
func ProfileNamesWith(extra []*Profile) []string {
	out := ProfileNames()
	for _, p := range extra {
		out = append(out, p.Name)
	}
	return out
}

// ProfileForWith is ProfileFor that also knows the operator's agreements.
func ProfileForWith(c *Certificate, extra []*Profile) *Profile {
	if c == nil {
		return nil
	}
	if p := ProfileFor(c); p != nil {
		return p
	}
	a := strings.TrimSpace(c.Header.Agreement)
	if a == "" {
		return nil
	}
	return LookupProfile(a, extra)
}

// ProfileFor returns the profile that the certificate's agreement selects
// (Header.Agreement), NONPREF for a non-preferential certificate without
// an agreement, or nil when the agreement is not known (or a preferential
// certificate names none).
func ProfileFor(c *Certificate) *Profile {
	if c == nil {
		return nil
	}
	a := strings.TrimSpace(c.Header.Agreement)
	if a == "" {
		if c.Header.IsPreferential {
			return nil
		}
		return ProfileByName("NONPREF")
	}
	return ProfileByName(a)
}
