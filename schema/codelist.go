package schema

import (
	"strings"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
)

// CodeStatus is what a code list says about one code.
type CodeStatus int

// Code statuses. CodeUnknown is the zero value: the list at hand does not
// hold the code (which, for a built-in subset, does not prove it invalid).
const (
	CodeUnknown    CodeStatus = iota // not in the list consulted
	CodeValid                        // in the list and in force
	CodeDeprecated                   // in force but deprecated (UN/ECE Rec 20 status D)
	CodeDeleted                      // withdrawn or deleted (Rec 20/21 status X, withdrawn ISO codes)
)

// String names the status.
func (s CodeStatus) String() string {
	switch s {
	case CodeValid:
		return "valid"
	case CodeDeprecated:
		return "deprecated"
	case CodeDeleted:
		return "deleted"
	}
	return "unknown"
}

// CodeLists answers code-list questions for validation. The zero value (and
// DefaultCodeLists) uses the built-in lists: ISO 3166-1 and ISO 4217 from
// golang.org/x/text, the UNCL 1001, 1225, 4405 and 1373 subsets of
// standards.md, UN/ECE Rec 19, and common subsets of UN/ECE Rec 20 (units)
// and Rec 21 (package types); HS codes are then checked for form and
// chapter only. LoadCodeLists adds the full Rec 20, Rec 21 and HS tables.
// A CodeLists is read-only after construction and safe for concurrent use;
// a nil *CodeLists behaves as the zero value.
type CodeLists struct {
	// Dir is the directory the full tables were loaded from, "" for built-ins.
	Dir string

	units    map[string]CodeStatus // full Rec 20; nil when not loaded
	packages map[string]CodeStatus // full Rec 21; nil when not loaded
	hs       map[string]struct{}   // HS 2022 subheadings (6 digits); nil when not loaded
	hsLevels map[string]struct{}   // HS 2022 chapters and headings (2 and 4 digits)
}

// DefaultCodeLists returns the built-in code lists (the zero value).
func DefaultCodeLists() *CodeLists { return &CodeLists{} }

// FullUnits reports whether the full UN/ECE Rec 20 table is loaded.
func (c *CodeLists) FullUnits() bool { return c != nil && c.units != nil }

// FullPackages reports whether the full UN/ECE Rec 21 table is loaded.
func (c *CodeLists) FullPackages() bool { return c != nil && c.packages != nil }

// FullHS reports whether the full HS nomenclature table is loaded.
func (c *CodeLists) FullHS() bool { return c != nil && c.hs != nil }

// withdrawnRegions are region codes that golang.org/x/text (CLDR) accepts as
// countries but ISO 3166-1 does not assign today: withdrawn codes (AN, BU,
// CS, DD, SU, TP, YU, ZR, ...), exceptionally or transitionally reserved
// codes (AC, CP, DG, EA, IC, TA, UK, ...) and user-assigned XK. Checked
// against Debian iso-codes (iso_3166-1.json, 249 entries) by
// TestCountryMatchesISOCodes.
var withdrawnRegions = map[string]bool{
	"AC": true, "AN": true, "BU": true, "CP": true, "CQ": true, "CS": true, "CT": true,
	"DD": true, "DG": true, "DY": true, "EA": true, "EZ": true, "FQ": true, "FX": true,
	"HV": true, "IC": true, "JT": true, "MI": true, "NH": true, "NQ": true, "NT": true,
	"PC": true, "PU": true, "PZ": true, "RH": true, "SU": true, "TA": true, "TP": true,
	"UK": true, "UN": true, "VD": true, "WK": true, "XK": true, "YD": true, "YU": true,
	"ZR": true,
}

func isUpper(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// Country reports whether code is an ISO 3166-1 alpha-2 code assigned to a
// country or territory today (two capital letters, e.g. "VN"). It uses
// golang.org/x/text/language (ParseRegion and IsCountry) minus the codes
// ISO has withdrawn or only reserved.
func (c *CodeLists) Country(code string) bool {
	if !isUpper(code, 2) || withdrawnRegions[code] {
		return false
	}
	r, err := language.ParseRegion(code)
	return err == nil && r.IsCountry()
}

// currencyFix corrects golang.org/x/text/currency v0.43.0 (CLDR data)
// against ISO 4217 as listed by Debian iso-codes 4.15 plus later
// amendments: true adds a code CLDR lacks or calls historic, false removes
// one CLDR has but ISO does not (CNH is an offshore market code; MRO and
// VEF were replaced by MRU and VES).
var currencyFix = map[string]bool{
	"MRU": true, "SLE": true, "SVC": true, "UYW": true, "VED": true, "VES": true,
	"ZWL": true, "ZWG": true,
	"CNH": false, "MRO": false, "VEF": false,
}

// currentCurrencies is the set of ISO 4217 codes in use, built once from
// golang.org/x/text/currency (tender and non-tender codes without an end
// date) and currencyFix. It is never written after package initialisation.
var currentCurrencies = func() map[string]bool {
	m := map[string]bool{}
	it := currency.Query(currency.NonTender)
	for it.Next() {
		if _, ended := it.To(); !ended {
			m[it.Unit().String()] = true
		}
	}
	for k, v := range currencyFix {
		if v {
			m[k] = true
		} else {
			delete(m, k)
		}
	}
	return m
}()

// Currency reports the status of an ISO 4217 alphabetic code (three
// capital letters): CodeValid for a current code, CodeDeleted for a
// historic one (e.g. DEM), CodeUnknown otherwise.
func (c *CodeLists) Currency(code string) CodeStatus {
	if !isUpper(code, 3) {
		return CodeUnknown
	}
	if currentCurrencies[code] {
		return CodeValid
	}
	if _, err := currency.ParseISO(code); err == nil && code != "CNH" {
		return CodeDeleted // historic: known to CLDR, ended (CNH was never ISO 4217)
	}
	return CodeUnknown
}

// Language reports whether code is an ISO 639-1 two-letter language code
// in lower case, e.g. "en".
func (c *CodeLists) Language(code string) bool {
	if len(code) != 2 || code[0] < 'a' || code[0] > 'z' || code[1] < 'a' || code[1] > 'z' {
		return false
	}
	b, err := language.ParseBase(code)
	return err == nil && b.String() == code
}

// builtinUnits is the common subset of UN/ECE Rec 20 known without the full
// table (all in force in Rec 20 Annex II/III; TestBuiltinsInFullLists checks
// them against the full list). KGS is deliberately absent from the useful
// units: it is kilogram per second (see Unit and ECO-CODELIST-UNIT-KGS).
var builtinUnits = map[string]CodeStatus{
	// mass
	"KGM": CodeValid, "GRM": CodeValid, "MGM": CodeValid, "TNE": CodeValid,
	"LBR": CodeValid, "ONZ": CodeValid, "STN": CodeValid, "LTN": CodeValid, "58": CodeValid,
	// length, area, volume
	"MTR": CodeValid, "CMT": CodeValid, "MMT": CodeValid, "KMT": CodeValid,
	"FOT": CodeValid, "INH": CodeValid, "YRD": CodeValid,
	"MTK": CodeValid, "CMK": CodeValid, "FTK": CodeValid,
	"MTQ": CodeValid, "CMQ": CodeValid, "LTR": CodeValid, "MLT": CodeValid,
	"HLT": CodeValid, "GLL": CodeValid, "BLL": CodeValid,
	// counts
	"C62": CodeValid, "H87": CodeValid, "NAR": CodeValid, "PR": CodeValid,
	"SET": CodeValid, "DZN": CodeValid, "DPR": CodeValid, "DPC": CodeValid,
	"GRO": CodeValid, "MIL": CodeValid, "NPR": CodeDeprecated,
	// energy
	"KWH": CodeValid, "MWH": CodeValid,
	// the classic mistake: a valid code, but a mass flow rate
	"KGS": CodeValid,
}

// massUnits are the Rec 20 units of mass, the only ones a gross weight may use.
var massUnits = map[string]bool{
	"KGM": true, "GRM": true, "MGM": true, "TNE": true, "LBR": true, "ONZ": true,
	"STN": true, "LTN": true, "58": true, "DTN": true, "KTN": true, "HGM": true,
	"DJ": true, "CGM": true, "APZ": true,
}

// IsMassUnit reports whether a Rec 20 code is a unit of mass (KGM, TNE, ...).
func IsMassUnit(code string) bool { return massUnits[code] }

// Unit reports the status of a UN/ECE Rec 20 unit code and whether the full
// Rec 20 table was consulted. Without it, a code outside the common subset
// is CodeUnknown with full false: not proven wrong.
func (c *CodeLists) Unit(code string) (st CodeStatus, full bool) {
	if c.FullUnits() {
		return c.units[code], true
	}
	return builtinUnits[code], false
}

// builtinPackages is the common subset of UN/ECE Rec 21 package types.
var builtinPackages = map[string]bool{
	"CT": true, "BX": true, "PK": true, "PX": true, "BG": true, "CS": true,
	"CR": true, "DR": true, "BE": true, "RO": true, "SA": true, "NE": true,
	"VL": true, "VR": true, "VY": true, "PL": true, "BA": true, "CN": true,
	"BL": true, "BN": true, "CA": true, "TN": true, "JR": true, "BO": true,
	"PA": true, "PU": true, "TB": true, "BJ": true, "CH": true, "SK": true,
	"CY": true, "JC": true, "PP": true, "PC": true,
}

// Package reports the status of a UN/ECE Rec 21 package type code and
// whether the full Rec 21 table was consulted.
func (c *CodeLists) Package(code string) (st CodeStatus, full bool) {
	if c.FullPackages() {
		return c.packages[code], true
	}
	if builtinPackages[code] {
		return CodeValid, false
	}
	return CodeUnknown, false
}

// HSChapter reports whether the first two digits of an HS code are a
// chapter of the HS nomenclature: 01 to 97, except 77 (reserved for
// possible future use). Chapters 98 and 99 are left to national use and
// are not HS.
func HSChapter(ch string) bool {
	if len(ch) != 2 || ch[0] < '0' || ch[0] > '9' || ch[1] < '0' || ch[1] > '9' {
		return false
	}
	n := int(ch[0]-'0')*10 + int(ch[1]-'0')
	return n >= 1 && n <= 97 && n != 77
}

// NormalizeHS removes the dots, spaces and hyphens that people write in HS
// codes ("2204.21" → "220421"). It does not check the result.
func NormalizeHS(s string) string {
	if !strings.ContainsAny(s, ". -\t") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '.', ' ', '-', '\t':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// HS reports the status of a 6-digit HS subheading (digits only) and
// whether the full nomenclature table was consulted. Without the table, a
// six-digit code in an HS chapter is CodeValid as to form only (full
// false); with it, the subheading must exist in the table. A code that is
// not six digits, or whose chapter is not an HS chapter (00, 77, 98, 99),
// is CodeUnknown.
func (c *CodeLists) HS(sub6 string) (st CodeStatus, full bool) {
	if len(sub6) != 6 || !allDigits(sub6) {
		return CodeUnknown, c.FullHS()
	}
	if c.FullHS() {
		if _, ok := c.hs[sub6]; ok {
			return CodeValid, true
		}
		return CodeUnknown, true
	}
	if HSChapter(sub6[:2]) {
		return CodeValid, false
	}
	return CodeUnknown, false
}

// HSHeading reports whether a 2- or 4-digit chapter or heading exists in the
// loaded HS table; without the table it checks the chapter only.
func (c *CodeLists) HSHeading(code string) bool {
	if len(code) < 2 || !allDigits(code) {
		return false
	}
	if c.FullHS() {
		_, ok := c.hsLevels[code]
		return ok
	}
	return HSChapter(code[:2])
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// UN/ECE Rec 19 modes of transport (UNTDED 8067).
var transportModes = map[string]string{
	"0": "transport mode not specified", "1": "maritime transport", "2": "rail transport",
	"3": "road transport", "4": "air transport", "5": "mail", "6": "multimodal transport",
	"7": "fixed transport installation", "8": "inland water transport", "9": "transport mode not applicable",
}

// TransportMode reports whether code is a UN/ECE Rec 19 mode of transport (0 to 9).
func (c *CodeLists) TransportMode(code string) bool { _, ok := transportModes[code]; return ok }

// UNCL 1001 document name codes relevant to origin (standards.md Q2).
var documentTypes = map[string]string{
	"861": "certificate of origin", "862": "declaration of origin",
	"864": "preference certificate of origin", "865": "certificate of origin form GSP",
	"851": "phytosanitary certificate", "657": "phytosanitary re-export certificate",
}

// OriginDocumentTypes are the UNCL 1001 codes a certificate of origin may carry.
var OriginDocumentTypes = []string{"861", "862", "864", "865"}

// DocumentType reports whether code is in the UNCL 1001 subset of standards.md.
func (c *CodeLists) DocumentType(code string) bool { _, ok := documentTypes[code]; return ok }

// UNCL 1225 message function codes (standards.md Q2).
var messageFunctions = map[string]string{
	"1": "cancellation", "5": "replace", "7": "duplicate", "9": "original", "31": "copy",
	"50": "withdraw", "27": "not accepted", "29": "accepted without amendment", "64": "verification",
}

// certificateFunctions are the UNCL 1225 codes that a certificate itself
// may carry; 27, 29 and 64 belong to responses.
var certificateFunctions = map[string]bool{"1": true, "5": true, "7": true, "9": true, "31": true, "50": true}

// MessageFunction reports whether code is in the UNCL 1225 subset of standards.md.
func (c *CodeLists) MessageFunction(code string) bool { _, ok := messageFunctions[code]; return ok }

// UNCL 4405 status codes (standards.md Q2).
var statusCodes = map[string]string{
	"39": "approved", "40": "withdrawn", "41": "rejected", "42": "approval pending",
	"47": "draft version", "70": "issued", "74": "expiry date exceeded",
}

// Status reports whether code is in the UNCL 4405 subset of standards.md.
func (c *CodeLists) Status(code string) bool { _, ok := statusCodes[code]; return ok }

// UNCL 1373 document status codes (standards.md Q2), used in responses.
var documentStatuses = map[string]string{
	"1": "accepted", "8": "rejected", "10": "document currently valid", "40": "validity suspended",
	"41": "validity revoked", "42": "in error", "43": "received", "44": "accepted with warnings",
}

// DocumentStatus reports whether code is in the UNCL 1373 subset of standards.md.
func (c *CodeLists) DocumentStatus(code string) bool { _, ok := documentStatuses[code]; return ok }

// IsLOCODE reports whether s has the form of a UN/LOCODE: a country code
// and three letters or digits 2 to 9, e.g. "VNSGN".
func IsLOCODE(s string) bool {
	if len(s) != 5 || !isUpper(s[:2], 2) {
		return false
	}
	for i := 2; i < 5; i++ {
		ch := s[i]
		if !(ch >= 'A' && ch <= 'Z' || ch >= '2' && ch <= '9') {
			return false
		}
	}
	return true
}
