package schema

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ValidateOptions choose the profile, the code lists and the clock.
type ValidateOptions struct {
	// Profile is the agreement profile to apply; nil takes it from the
	// document (ProfileFor).
	Profile *Profile
	// CodeLists are the code lists; nil means the built-ins (DefaultCodeLists).
	CodeLists *CodeLists
	// Now is the clock used for validity and expiry; nil means time.Now.
	Now func() time.Time
	// MaxFindings caps the findings reported; 0 means DefaultMaxFindings.
	MaxFindings int
	// Agreements are the operator's agreement profiles
	// (LoadAgreementFiles), selected by Header.Agreement like the built-ins.
	Agreements []*Profile
}

// DefaultMaxFindings is the default cap on the findings one validation reports.
const DefaultMaxFindings = 500

// Paths of the main parts, in JSON member names (as the codecs use).
const (
	pathHeader      = "exchangedDocument"
	pathConsignment = "supplyChainConsignment"
	pathItems       = "supplyChainConsignment.includedConsignmentItems"
	pathFirstSig    = "firstSignatoryAuthentication"
	pathSecondSig   = "secondSignatoryAuthentication"
	pathProofs      = "originalProofs"
)

func itemPath(i int) string { return fmt.Sprintf("%s[%d]", pathItems, i) }

// Report collects the findings of one validation. Rule functions receive it.
type Report struct {
	Findings  Findings
	CodeLists *CodeLists
	// Today is the current date in the certificate's issue offset.
	Today time.Time
	max   int
	cut   bool
}

// Add appends a finding.
func (r *Report) Add(area Area, level Level, code, path, msg string) {
	if r.max > 0 && len(r.Findings) >= r.max {
		if !r.cut {
			r.cut = true
			r.Findings = append(r.Findings, Finding{Area: area, Level: Info, Code: CodeTruncated, Path: "",
				Message: fmt.Sprintf("more than %d findings; the rest are not shown: fix these first", r.max)})
		}
		// A SEVERE finding past the cap must still make the document fail.
		if level == Severe && !r.Findings.HasSevere() {
			r.Findings = append(r.Findings, Finding{Area: area, Level: level, Code: code, Path: path, Message: msg})
		}
		return
	}
	r.Findings = append(r.Findings, Finding{Area: area, Level: level, Code: code, Path: path, Message: msg})
}

// Addf appends a finding with a formatted message.
func (r *Report) Addf(area Area, level Level, code, path, format string, args ...any) {
	r.Add(area, level, code, path, fmt.Sprintf(format, args...))
}

func (r *Report) missing(level Level, path, format string, args ...any) {
	r.Addf(AreaMandatory, level, CodeMissingField, path, format, args...)
}

// Codes of validation findings that are not profile rules (see rules.go for those).
const (
	CodeMissingField       = "ECO-MANDATORY-MISSING"            // a required field is absent or empty
	CodeIDLength           = "ECO-MANDATORY-ID-LENGTH"          // certificate number longer than 35 characters
	CodeUUIDForm           = "ECO-MANDATORY-UUID"               // uuid is not a UUID
	CodeVersion            = "ECO-MANDATORY-VERSION"            // version below 1
	CodeNoItems            = "ECO-MANDATORY-ITEMS"              // no goods item
	CodeSequence           = "ECO-MANDATORY-SEQUENCE"           // item sequence number below 1
	CodeSequenceDuplicate  = "ECO-MANDATORY-SEQUENCE-DUPLICATE" // two items share a sequence number
	CodeTruncated          = "ECO-TRUNCATED"                    // too many findings; the rest were dropped
	CodeCountry            = "ECO-CODELIST-COUNTRY"             // not an ISO 3166-1 alpha-2 country code
	CodeCurrency           = "ECO-CODELIST-CURRENCY"            // not a current ISO 4217 code
	CodeLanguage           = "ECO-CODELIST-LANGUAGE"            // not an ISO 639-1 code
	CodeDocumentType       = "ECO-CODELIST-DOCUMENT-TYPE"       // not in UNCL 1001 (origin subset)
	CodeMessageFunction    = "ECO-CODELIST-MESSAGE-FUNCTION"    // not in UNCL 1225, or not for a certificate
	CodeStatusCode         = "ECO-CODELIST-STATUS"              // not in UNCL 4405
	CodeTransportMode      = "ECO-CODELIST-TRANSPORT-MODE"      // not UN/ECE Rec 19
	CodeLOCODE             = "ECO-CODELIST-LOCODE"              // location id not in UN/LOCODE form
	CodeAgreement          = "ECO-CODELIST-AGREEMENT"           // agreement code unknown
	CodeUnit               = "ECO-CODELIST-UNIT"                // unit not in Rec 20 (WARNING without the full list)
	CodeUnitDeleted        = "ECO-CODELIST-UNIT-DELETED"        // Rec 20 code deleted (status X)
	CodeUnitDeprecated     = "ECO-CODELIST-UNIT-DEPRECATED"     // Rec 20 code deprecated (status D)
	CodeUnitKGS            = "ECO-CODELIST-UNIT-KGS"            // KGS (kilogram per second) used for a quantity
	CodeWeightUnit         = "ECO-CODELIST-WEIGHT-UNIT"         // gross weight not in a unit of mass
	CodePackage            = "ECO-CODELIST-PACKAGE"             // package type not in Rec 21
	CodePackageDeleted     = "ECO-CODELIST-PACKAGE-DELETED"     // Rec 21 code deleted
	CodePackageDeprecated  = "ECO-CODELIST-PACKAGE-DEPRECATED"  // WARNING: Rec 21 code deprecated
	CodeHSForm             = "ECO-CODELIST-HS-FORM"             // HS code not 6 digits
	CodeHSChapter          = "ECO-CODELIST-HS-CHAPTER"          // HS chapter 00 or 77
	CodeHSUnknown          = "ECO-CODELIST-HS-UNKNOWN"          // subheading not in the HS table (WARNING without it)
	CodeHSNotChecked       = "ECO-CODELIST-HS-NOT-CHECKED"      // INFO: no full HS table, existence not checked
	CodeHSNational         = "ECO-CODELIST-HS-NATIONAL"         // national tariff code not 8-10 digits or not under the HS code
	CodeHSEdition          = "ECO-CODELIST-HS-EDITION"          // HS edition not HS2022 or malformed
	CodeOriginCriterion    = "ECO-CODELIST-ORIGIN-CRITERION"    // criterion not in the profile's list for its line
	CodeOriginCriterionNum = "ECO-CODELIST-ORIGIN-CRITERION-LINES"
	CodeProfileMissing     = "ECO-PROFILE-MISSING" // a known agreement without a profile here
)

var reUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// knownAgreements are the agreement codes of standards.md b.2; those
// without a built-in profile get ECO-PROFILE-MISSING, others ECO-CODELIST-AGREEMENT.
var knownAgreements = map[string]bool{
	"RCEP": true, "ATIGA": true, "AFTA": true, "ACFTA": true, "AKFTA": true, "AJCEP": true, "AIFTA": true,
	"AANZFTA": true, "AHKFTA": true, "GSP": true, "NONPREF": true,
}

// Validate checks a certificate in three areas after the codec's schema
// checks: mandatory fields, code lists, and the rules of the agreement
// profile (opts.Profile, or the one Header.Agreement selects). It returns
// the findings in document order; the certificate is acceptable when none
// is SEVERE. It never changes c. A nil certificate gives one SEVERE finding.
func Validate(c *Certificate, opts ValidateOptions) Findings {
	r := &Report{CodeLists: opts.CodeLists, max: opts.MaxFindings}
	if r.CodeLists == nil {
		r.CodeLists = DefaultCodeLists()
	}
	if r.max == 0 {
		r.max = DefaultMaxFindings
	}
	if c == nil {
		r.Add(AreaSchema, Severe, CodeMissing, "", "no certificate to validate")
		return r.Findings
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now()
	if loc := c.Header.IssueDateTime.Location(); !c.Header.IssueDateTime.IsZero() && loc != nil {
		t = t.In(loc)
	}
	r.Today = t

	p := opts.Profile
	docProfile := ProfileForWith(c, opts.Agreements)
	if p == nil {
		p = docProfile
		if p == nil {
			a := strings.TrimSpace(c.Header.Agreement)
			switch {
			case a == "":
				// reported by checkHeader as a missing agreement
			case knownAgreements[strings.ToUpper(a)]:
				r.Addf(AreaRule, Warning, CodeProfileMissing, pathHeader+".freeTradeAgreement",
					"there is no validation profile for agreement %s here: only the core checks ran; choose one of %s with --profile to apply its rules, or add it with an agreement file", a, strings.Join(ProfileNamesWith(opts.Agreements), ", "))
			default:
				r.Addf(AreaCodeList, Severe, CodeAgreement, pathHeader+".freeTradeAgreement",
					"agreement %q is not known: write one of %s, or add it with an agreement file (--agreements)", a, strings.Join(ProfileNamesWith(opts.Agreements), ", "))
			}
		}
	} else if docProfile != nil && docProfile.Name != p.Name {
		r.Addf(AreaRule, Warning, CodeProfileMismatch, pathHeader+".freeTradeAgreement",
			"the document names agreement %s but was checked against profile %s: correct freeTradeAgreement or the chosen profile", c.Header.Agreement, p.Name)
	}

	checkHeader(r, c, p)
	checkParties(r, c)
	checkTransport(r, c)
	checkItems(r, c, p)
	checkSignatories(r, c, p)
	checkProofs(r, c)
	if p != nil {
		checkProfileMandatory(r, c, p)
		runRules(r, c, p)
	}
	return r.Findings
}

func checkHeader(r *Report, c *Certificate, p *Profile) {
	h := &c.Header
	cl := r.CodeLists
	switch id := h.ID; {
	case strings.TrimSpace(id) == "":
		r.missing(Severe, pathHeader+".iD", "add the certificate number (iD): every certificate needs a number unique for its issuing body")
	case len([]rune(id)) > 35:
		r.Addf(AreaMandatory, Severe, CodeIDLength, pathHeader+".iD", "the certificate number has %d characters; shorten it to at most 35 (UNTDED 1004)", len([]rune(id)))
	}
	switch {
	case h.UUID == "":
		r.missing(Severe, pathHeader+".uuid", "add the uuid that identifies this version, e.g. 0b8e3f1c-5d2a-4c7e-9f10-2a6b8c4d1e3f")
	case !reUUID.MatchString(h.UUID):
		r.Addf(AreaMandatory, Severe, CodeUUIDForm, pathHeader+".uuid", "%q is not a UUID: write 8-4-4-4-12 hexadecimal digits", clipText(h.UUID))
	}
	if h.Version < 1 {
		r.Addf(AreaMandatory, Severe, CodeVersion, pathHeader+".version", "version is %d; the first version is 1", h.Version)
	}
	switch {
	case h.TypeCode == "":
		r.missing(Severe, pathHeader+".typeCode", "add the document type (UNCL 1001): 861 certificate of origin, 864 preference certificate, 862 declaration of origin")
	case !cl.DocumentType(h.TypeCode) || !isOriginType(h.TypeCode):
		r.Addf(AreaCodeList, Severe, CodeDocumentType, pathHeader+".typeCode", "document type %q is not a UNCL 1001 origin document: write 861, 862, 864 or 865", clipText(h.TypeCode))
	}
	if f := h.FunctionCode; f != "" {
		switch {
		case !cl.MessageFunction(f):
			r.Addf(AreaCodeList, Severe, CodeMessageFunction, pathHeader+".messageFunction", "message function %q is not in UNCL 1225: write 9 (original), 5 (replace), 1 (cancellation), 7 (duplicate) or 31 (copy)", clipText(f))
		case !certificateFunctions[f]:
			r.Addf(AreaCodeList, Warning, CodeMessageFunction, pathHeader+".messageFunction", "message function %s (%s) belongs to a response, not to a certificate: use 9, 5, 1, 7, 31 or 50", f, messageFunctions[f])
		}
	}
	if h.IsPreferential && strings.TrimSpace(h.Agreement) == "" {
		r.missing(Severe, pathHeader+".freeTradeAgreement", "add the agreement (freeTradeAgreement, e.g. RCEP or ATIGA): a preferential certificate must name the agreement it claims")
	}
	if h.IssueDateTime.IsZero() {
		r.missing(Severe, pathHeader+".issueDateTime", "add the issue date and time (issueDateTime), e.g. 2026-03-01T10:30:00+07:00")
	}
	checkCountry(r, h.ExportCountry, pathHeader+".exportCountry", "the exporting country (exportCountry)", true)
	checkCountry(r, h.ImportCountry, pathHeader+".importCountry", "the importing country (importCountry)", true)
	switch {
	case h.LanguageCode == "":
		r.missing(Severe, pathHeader+".languageCode", "add the language of the certificate (languageCode), e.g. en")
	case !cl.Language(h.LanguageCode):
		r.Addf(AreaCodeList, Severe, CodeLanguage, pathHeader+".languageCode", "%q is not an ISO 639-1 language code: write two small letters, e.g. en", clipText(h.LanguageCode))
	}
	switch {
	case h.Status == "":
		r.missing(Warning, pathHeader+".status", "add the status (UNCL 4405), e.g. 70 for an issued certificate")
	case !cl.Status(h.Status):
		r.Addf(AreaCodeList, Severe, CodeStatusCode, pathHeader+".status", "status %q is not in UNCL 4405: write 70 (issued), 40 (withdrawn) or 41 (rejected)", clipText(h.Status))
	}
	if h.IssueLocation != nil {
		checkLocation(r, h.IssueLocation, pathHeader+".issueLocation")
	}
	checkParty(r, &h.Issuer, pathHeader+".issuer", "the issuing body (issuer)", false)
}

func isOriginType(code string) bool {
	for _, t := range OriginDocumentTypes {
		if t == code {
			return true
		}
	}
	return false
}

// clipText shortens a value quoted in a message.
func clipText(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

func checkCountry(r *Report, code, path, what string, required bool) {
	if code == "" {
		if required {
			r.missing(Severe, path, "add %s as an ISO 3166-1 alpha-2 code, e.g. VN", what)
		}
		return
	}
	if !r.CodeLists.Country(code) {
		r.Addf(AreaCodeList, Severe, CodeCountry, path, "%q is not an ISO 3166-1 alpha-2 country code: write %s as two capital letters, e.g. VN", clipText(code), what)
	}
}

func checkLocation(r *Report, l *Location, path string) {
	if l.ID != "" {
		if !IsLOCODE(l.ID) {
			r.Addf(AreaCodeList, Warning, CodeLOCODE, path+".iD", "%q is not in UN/LOCODE form (country code and three letters or digits 2-9, e.g. VNSGN)", clipText(l.ID))
		} else if !r.CodeLists.Country(l.ID[:2]) {
			r.Addf(AreaCodeList, Warning, CodeLOCODE, path+".iD", "UN/LOCODE %s does not start with an ISO 3166-1 country code", l.ID)
		}
	}
}

// checkParty checks a party's name and address. needAddress makes the
// address and its country mandatory.
func checkParty(r *Report, pt *Party, path, what string, needAddress bool) {
	if strings.TrimSpace(pt.Name) == "" {
		r.missing(Severe, path+".name", "add the name of %s", what)
	}
	if pt.Address == nil {
		if needAddress {
			r.missing(Severe, path+".postalAddress", "add the postal address of %s (lines, city and countryCode)", what)
		}
		return
	}
	a := pt.Address
	if needAddress && len(a.Lines) == 0 && a.CityName == "" {
		r.missing(Severe, path+".postalAddress.lines", "add the street address or city of %s", what)
	}
	checkCountry(r, a.CountryCode, path+".postalAddress.countryCode", "the country of "+what, needAddress)
}

func checkParties(r *Report, c *Certificate) {
	k := &c.Consignment
	checkParty(r, &k.Exporter, pathConsignment+".consignor", "the exporter (consignor)", true)
	checkParty(r, &k.Importer, pathConsignment+".consignee", "the importer or consignee", true)
	for i := range k.Producers {
		checkParty(r, &k.Producers[i], fmt.Sprintf("%s.producers[%d]", pathConsignment, i), "the producer", false)
	}
	if k.ThirdPartyInvoicer != nil {
		checkParty(r, k.ThirdPartyInvoicer, pathConsignment+".thirdPartyInvoicer", "the third-party invoicer", false)
	}
}

func checkTransport(r *Report, c *Certificate) {
	k := &c.Consignment
	if m := k.MainCarriage; m != nil && m.ModeCode != "" && !r.CodeLists.TransportMode(m.ModeCode) {
		r.Addf(AreaCodeList, Severe, CodeTransportMode, pathConsignment+".mainCarriageTransportMovement.modeCode",
			"transport mode %q is not UN/ECE Rec 19: write 1 (maritime), 2 (rail), 3 (road), 4 (air), 5 (mail), 6 (multimodal), 7 (fixed installation), 8 (inland water), 9 (not applicable) or 0 (not specified)", clipText(m.ModeCode))
	}
	if k.LoadingPort != nil {
		checkLocation(r, k.LoadingPort, pathConsignment+".loadingBaseportLocation")
	}
	if k.UnloadingPort != nil {
		checkLocation(r, k.UnloadingPort, pathConsignment+".unloadingBaseportLocation")
	}
	for i, tc := range k.TransitCountries {
		checkCountry(r, tc, fmt.Sprintf("%s.transitCountries[%d]", pathConsignment, i), "the transit country", true)
	}
	for i, pk := range k.TransportPackages {
		checkPackaging(r, pk, fmt.Sprintf("%s.transportPackages[%d]", pathConsignment, i))
	}
}

func checkPackaging(r *Report, pk Packaging, path string) {
	if pk.Quantity == "" {
		r.missing(Severe, path+".quantity", "add the number of packages")
	} else if !pk.Quantity.Valid() {
		r.Addf(AreaSchema, Severe, CodeType, path+".quantity", "%q is not a decimal number: write digits, e.g. 600", clipText(string(pk.Quantity)))
	}
	if pk.TypeCode == "" {
		r.missing(Severe, path+".typeCode", "add the package type (UN/ECE Rec 21), e.g. CT for carton, PX for pallet, NE for unpacked")
		return
	}
	st, full := r.CodeLists.Package(pk.TypeCode)
	switch st {
	case CodeValid:
	case CodeDeprecated:
		r.Addf(AreaCodeList, Warning, CodePackageDeprecated, path+".typeCode", "package type %s is deprecated in UN/ECE Rec 21: use its replacement", pk.TypeCode)
	case CodeDeleted:
		r.Addf(AreaCodeList, Severe, CodePackageDeleted, path+".typeCode", "package type %s was deleted from UN/ECE Rec 21: use a current code, e.g. CT, BX, PX, BG", pk.TypeCode)
	default:
		if full {
			r.Addf(AreaCodeList, Severe, CodePackage, path+".typeCode", "%q is not a UN/ECE Rec 21 package type: use e.g. CT (carton), BX (box), PX (pallet), BG (bag), NE (unpacked)", clipText(pk.TypeCode))
		} else {
			r.Addf(AreaCodeList, Warning, CodePackage, path+".typeCode", "%q is not among the common UN/ECE Rec 21 package types and the full Rec 21 list was not loaded (--codelists): check the code", clipText(pk.TypeCode))
		}
	}
}

// checkMeasure checks a quantity or weight and its unit.
func checkMeasure(r *Report, m Measure, path, what string, mass bool) {
	if m.Value == "" {
		r.missing(Severe, path+".value", "add %s", what)
	} else if !m.Value.Valid() {
		r.Addf(AreaSchema, Severe, CodeType, path+".value", "%q is not a decimal number: write digits with an optional '.', e.g. 1250.5", clipText(string(m.Value)))
	}
	if m.UnitCode == "" {
		r.missing(Severe, path+".unitCode", "add the unit of %s (UN/ECE Rec 20), e.g. KGM for kilograms, C62 or H87 for pieces", what)
		return
	}
	if m.UnitCode == "KGS" {
		r.Addf(AreaCodeList, Severe, CodeUnitKGS, path+".unitCode", "KGS is kilogram per second in UN/ECE Rec 20, not kilograms: write KGM for %s in kilograms", what)
		return
	}
	st, full := r.CodeLists.Unit(m.UnitCode)
	switch st {
	case CodeValid:
	case CodeDeprecated:
		r.Addf(AreaCodeList, Warning, CodeUnitDeprecated, path+".unitCode", "unit %s is deprecated in UN/ECE Rec 20: use its replacement (e.g. PR instead of NPR)", m.UnitCode)
	case CodeDeleted:
		r.Addf(AreaCodeList, Severe, CodeUnitDeleted, path+".unitCode", "unit %s was deleted from UN/ECE Rec 20: use a current code (e.g. KGM, TNE, MTR, LTR, C62, H87)", m.UnitCode)
	default:
		if full {
			r.Addf(AreaCodeList, Severe, CodeUnit, path+".unitCode", "%q is not a UN/ECE Rec 20 unit code: use e.g. KGM (kilogram), TNE (tonne), LTR (litre), MTR (metre), C62 or H87 (piece)", clipText(m.UnitCode))
		} else {
			r.Addf(AreaCodeList, Warning, CodeUnit, path+".unitCode", "%q is not among the common UN/ECE Rec 20 units and the full Rec 20 list was not loaded (--codelists): check the code", clipText(m.UnitCode))
		}
	}
	if mass && st != CodeUnknown && !IsMassUnit(m.UnitCode) {
		r.Addf(AreaCodeList, Warning, CodeWeightUnit, path+".unitCode", "unit %s is not a unit of mass: give %s in KGM (kilograms) or TNE (tonnes)", m.UnitCode, what)
	}
}

var reHSEdition = regexp.MustCompile(`^HS(19|20)[0-9]{2}$`)

func checkHS(r *Report, tp *TradeProduct, path string, hsUnchecked *bool) {
	cl := r.CodeLists
	raw := tp.HSCode
	if strings.TrimSpace(raw) == "" {
		r.missing(Severe, path+".hsCode", "add the HS code of the goods at six-digit subheading level, e.g. 610910")
		return
	}
	code := NormalizeHS(raw)
	switch {
	case !allDigits(code) || len(code) < 6:
		r.Addf(AreaCodeList, Severe, CodeHSForm, path+".hsCode", "HS code %q is not a six-digit subheading: write six digits, e.g. 610910", clipText(raw))
		return
	case len(code) > 6:
		r.Addf(AreaCodeList, Severe, CodeHSForm, path+".hsCode", "HS code %q has %d digits: put the first six (%s) in hsCode and the national tariff line in nationalTariffCode", clipText(raw), len(code), code[:6])
		return
	case code != raw:
		r.Addf(AreaCodeList, Warning, CodeHSForm, path+".hsCode", "write the HS code as digits only: %s, not %q", code, raw)
	}
	if ch := code[:2]; ch == "00" || ch == "77" {
		what := "is not an HS chapter"
		if ch == "77" {
			what = "is reserved in the HS for possible future use"
		}
		r.Addf(AreaCodeList, Severe, CodeHSChapter, path+".hsCode", "HS code %s: chapter %s %s; check the classification", code, ch, what)
	} else {
		edition := tp.HSEdition
		otherEdition := edition != "" && edition != "HS2022"
		st, full := cl.HS(code)
		switch {
		case st == CodeValid && !full:
			*hsUnchecked = true
		case st == CodeValid:
		case full && otherEdition:
			r.Addf(AreaCodeList, Warning, CodeHSUnknown, path+".hsCode", "HS code %s is not a subheading of HS 2022, and the item says %s, which was not loaded: check it against that edition", code, edition)
		case full:
			r.Addf(AreaCodeList, Severe, CodeHSUnknown, path+".hsCode", "HS code %s is not a subheading of the HS 2022 nomenclature: check the classification (six digits of an existing subheading)", code)
		default:
			r.Addf(AreaCodeList, Warning, CodeHSUnknown, path+".hsCode", "HS code %s is not in an HS chapter (01-97) and the full HS list was not loaded (--codelists): check the classification; chapters 98 and 99 are for national use", code)
		}
	}
	if e := tp.HSEdition; e != "" && !reHSEdition.MatchString(e) {
		r.Addf(AreaCodeList, Warning, CodeHSEdition, path+".hsEdition", "HS edition %q is not of the form HS2022", clipText(e))
	}
	if n := tp.NationalTariffCode; n != "" {
		nn := NormalizeHS(n)
		switch {
		case !allDigits(nn) || len(nn) < 8 || len(nn) > 10:
			r.Addf(AreaCodeList, Severe, CodeHSNational, path+".nationalTariffCode", "national tariff code %q must have 8 to 10 digits (e.g. AHTN 61091010)", clipText(n))
		case !strings.HasPrefix(nn, code):
			r.Addf(AreaCodeList, Severe, CodeHSNational, path+".nationalTariffCode", "national tariff code %s does not start with the HS code %s: correct one of them", nn, code)
		}
	}
}

func checkItems(r *Report, c *Certificate, p *Profile) {
	items := c.Consignment.Items
	if len(items) == 0 {
		r.Addf(AreaMandatory, Severe, CodeNoItems, pathItems, "add at least one goods item (includedConsignmentItems)")
		return
	}
	seen := map[int]int{}
	hsUnchecked := false
	preferential := c.Header.IsPreferential || (p != nil && p.Preferential)
	for i := range items {
		it := &items[i]
		ip := itemPath(i)
		if it.SequenceNumber < 1 {
			r.Addf(AreaMandatory, Severe, CodeSequence, ip+".sequenceNumber", "item %d has sequence number %d: number the items from 1", i+1, it.SequenceNumber)
		} else if j, dup := seen[it.SequenceNumber]; dup {
			r.Addf(AreaMandatory, Severe, CodeSequenceDuplicate, ip+".sequenceNumber", "sequence number %d is used by items %d and %d: give each item its own number", it.SequenceNumber, j+1, i+1)
		} else {
			seen[it.SequenceNumber] = i
		}
		if strings.TrimSpace(it.Product.Description) == "" {
			r.missing(Severe, ip+".tradeProduct.description", "add a description of the goods of item %d, detailed enough to identify them", i+1)
		}
		checkHS(r, &it.Product, ip+".tradeProduct", &hsUnchecked)
		if oc := it.Product.OriginCountry; oc != "" {
			checkCountry(r, oc, ip+".tradeProduct.originCountry", "the country of origin", false)
		}
		if preferential && len(it.OriginCriteria) == 0 {
			r.missing(Severe, ip+".originCriteria", "add the origin criterion of item %d (e.g. WO, CTH, RVC): a preferential certificate needs one per item", i+1)
		}
		if p != nil && len(p.Criteria) > 0 {
			checkCriteria(r, it, ip, p)
		}
		checkMeasure(r, it.Quantity, ip+".quantity", "the quantity of item "+fmt.Sprint(i+1), false)
		if it.GrossWeight != nil {
			checkMeasure(r, *it.GrossWeight, ip+".grossWeight", "the gross weight of item "+fmt.Sprint(i+1), true)
		}
		if it.FOBValue != nil {
			checkAmount(r, *it.FOBValue, ip+".fobValue", "the FOB value of item "+fmt.Sprint(i+1))
		}
		for j, pk := range it.Packages {
			checkPackaging(r, pk, fmt.Sprintf("%s.packages[%d]", ip, j))
		}
		for j, inv := range it.InvoiceReferences {
			if strings.TrimSpace(inv.ID) == "" {
				r.missing(Severe, fmt.Sprintf("%s.invoiceReferences[%d].iD", ip, j), "add the invoice number")
			}
		}
	}
	if hsUnchecked {
		r.Addf(AreaCodeList, Info, CodeHSNotChecked, pathItems, "HS codes were checked for form and chapter only: the full HS table was not loaded (--codelists)")
	}
}

func checkAmount(r *Report, a Amount, path, what string) {
	if a.Value == "" {
		r.missing(Severe, path+".value", "add the amount of %s", what)
	} else if !a.Value.Valid() {
		r.Addf(AreaSchema, Severe, CodeType, path+".value", "%q is not a decimal number: write digits with an optional '.', e.g. 27600.00", clipText(string(a.Value)))
	}
	switch {
	case a.Currency == "":
		r.missing(Severe, path+".currency", "add the currency of %s (ISO 4217), e.g. USD", what)
	default:
		switch r.CodeLists.Currency(a.Currency) {
		case CodeValid:
		case CodeDeleted:
			r.Addf(AreaCodeList, Severe, CodeCurrency, path+".currency", "currency %s has been withdrawn from ISO 4217: give the amount in a currency in use today (e.g. USD)", a.Currency)
		default:
			r.Addf(AreaCodeList, Severe, CodeCurrency, path+".currency", "%q is not an ISO 4217 currency code: write three capital letters, e.g. USD", clipText(a.Currency))
		}
	}
}

// checkCriteria checks each origin-criterion line against the profile's
// list for that line.
func checkCriteria(r *Report, it *GoodsItem, ip string, p *Profile) {
	if len(it.OriginCriteria) > len(p.Criteria) {
		r.Addf(AreaCodeList, Severe, CodeOriginCriterionNum, ip+".originCriteria", "item has %d origin-criterion lines; %s takes at most %d", len(it.OriginCriteria), p.Name, len(p.Criteria))
	}
	for j, s := range it.OriginCriteria {
		if j >= len(p.Criteria) {
			break
		}
		path := fmt.Sprintf("%s.originCriteria[%d]", ip, j)
		oc, err := ParseOriginCriterion(s)
		if err != nil {
			r.Add(AreaCodeList, Severe, CodeOriginCriterion, path, err.Error())
			continue
		}
		for _, part := range oc.Parts {
			if !containsStr(p.Criteria[j], part.Code) {
				r.Addf(AreaCodeList, Severe, CodeOriginCriterion, path, "%s is not an origin criterion of %s line %d: use one of %s", part.Code, p.Name, j+1, strings.Join(p.Criteria[j], ", "))
			}
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkAuth(r *Report, a *Authentication, path, what string, p *Profile) {
	if a.ActualDateTime.IsZero() {
		r.missing(Severe, path+".actualDateTime", "add the date and time of %s", what)
	}
	if strings.TrimSpace(a.Signatory.Name) == "" {
		if p != nil && p.SignatureImageSuffices && a.SealImageRef != "" {
			r.missing(Warning, path+".signatory.name", "add the name of the person who signed %s where known: %s accepts the signature image alone", what, p.Name)
		} else {
			r.missing(Severe, path+".signatory.name", "add the name of the person who signed %s", what)
		}
	}
	if a.Place != nil {
		checkLocation(r, a.Place, path+".place")
	}
}

func checkSignatories(r *Report, c *Certificate, p *Profile) {
	checkAuth(r, &c.FirstSignatory, pathFirstSig, "the exporter's declaration (first signatory)", p)
	if c.SecondSignatory == nil {
		if c.Header.TypeCode != "862" {
			r.missing(Severe, pathSecondSig, "add the issuing body's certification (secondSignatoryAuthentication: date, signatory): only a declaration of origin (862) goes without it")
		}
		return
	}
	checkAuth(r, c.SecondSignatory, pathSecondSig, "the issuing body's certification (second signatory)", p)
}

func checkProofs(r *Report, c *Certificate) {
	for i, op := range c.OriginalProofs {
		path := fmt.Sprintf("%s[%d]", pathProofs, i)
		if strings.TrimSpace(op.Number) == "" {
			r.missing(Severe, path+".number", "add the number of the original proof of origin")
		}
		if op.IssueDate.IsZero() {
			r.missing(Severe, path+".issueDate", "add the issue date of the original proof of origin")
		}
		checkCountry(r, op.IssuingCountry, path+".issuingCountry", "the country that issued the original proof", true)
		checkCountry(r, op.RCEPCountryOfOrigin, path+".rcepCountryOfOrigin", "the country of origin of the original proof", false)
	}
	if rp := c.Replaces; rp != nil && strings.TrimSpace(rp.CertificateNumber) == "" {
		r.missing(Severe, "replaces.certificateNumber", "add the number of the certificate this one replaces")
	}
}
