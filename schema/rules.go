package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// Codes of the agreement rules. Each rule has its own stable code.
const (
	CodeProfileMismatch      = "ECO-RULE-PROFILE-MISMATCH"         // WARNING: chosen profile differs from the document's agreement
	CodePreferential         = "ECO-RULE-PREFERENTIAL"             // isPreferential does not fit the profile
	CodeDocumentTypeRule     = "ECO-RULE-DOCUMENT-TYPE"            // type code not allowed by the profile
	CodeLanguageRule         = "ECO-RULE-LANGUAGE"                 // not in the profile's language (English)
	CodePartyExport          = "ECO-RULE-PARTY-EXPORT"             // exporting country not a party
	CodePartyImport          = "ECO-RULE-PARTY-IMPORT"             // importing country not a party
	CodeSameCountry          = "ECO-RULE-SAME-COUNTRY"             // exporting and importing country are the same
	CodeExporterCountry      = "ECO-RULE-EXPORTER-COUNTRY"         // WARNING: exporter's address not in the exporting country
	CodeImporterCountry      = "ECO-RULE-IMPORTER-COUNTRY"         // WARNING: consignee's address not in the importing country
	CodeRVCFOB               = "ECO-RULE-RVC-FOB"                  // RVC line without FOB value
	CodeRVCPercent           = "ECO-RULE-RVC-PERCENT"              // RVC/PC line without a percentage, or one out of range
	CodeRVCPercentMismatch   = "ECO-RULE-RVC-PERCENT-MISMATCH"     // WARNING: inline percentage differs from rvcPercent
	CodeRVCPercentWhole      = "ECO-RULE-RVC-PERCENT-WHOLE"        // WARNING: percentage not a whole number (round down)
	CodeThirdPartyInvoicer   = "ECO-RULE-THIRD-PARTY-INVOICER"     // third-party invoicing without the invoicer's name and country
	CodeThirdPartyFlag       = "ECO-RULE-THIRD-PARTY-FLAG"         // WARNING: invoicer given but flag not set
	CodeBackToBackProof      = "ECO-RULE-BACK-TO-BACK-PROOF"       // back-to-back without the original proof
	CodeBackToBackFlag       = "ECO-RULE-BACK-TO-BACK-FLAG"        // WARNING: original proof given but flag not set
	CodeRetroactive          = "ECO-RULE-RETROACTIVE"              // issued retroactively, but dates do not fit
	CodeRetroactiveFlag      = "ECO-RULE-RETROACTIVE-FLAG"         // WARNING: issued well after shipment without the flag
	CodeValidity             = "ECO-RULE-VALIDITY"                 // WARNING: validUntil differs from issue + validity
	CodeExpired              = "ECO-RULE-EXPIRED"                  // WARNING: validity period is over
	CodeIssueFuture          = "ECO-RULE-ISSUE-FUTURE"             // WARNING: issued in the future
	CodeRCEPOriginCountry    = "ECO-RULE-RCEP-ORIGIN-COUNTRY"      // RCEP country of origin not an RCEP party
	CodeRCEPBackToBackOrigin = "ECO-RULE-RCEP-BACK-TO-BACK-ORIGIN" // RCEP back-to-back proof without an RCEP country of origin
	CodePartialCumulation    = "ECO-RULE-PC-PERCENT"               // ATIGA PC percentage not from 20 to below 40
	CodeAIFTACriterion       = "ECO-RULE-AIFTA-CRITERION"          // AIFTA: RVC and CTSH must go together
	CodeMaxItems             = "ECO-RULE-MAX-ITEMS"                // WARNING: more items than the form takes
	CodeReplaces             = "ECO-RULE-REPLACES"                 // WARNING: function 5 (replace) without the replaced certificate
	CodeProducerRef          = "ECO-RULE-PRODUCER-REF"             // producerRef points at no producer
	CodeSignatoryOrder       = "ECO-RULE-SIGNATORY-ORDER"          // WARNING: certified before the exporter declared
	CodeOriginFlags          = "ECO-RULE-ORIGIN-FLAGS"             // WARNING: certificate-level origin flags that do not fit the items or the form
)

// sharedRules run for every profile, in this order, before Profile.Rules.
var sharedRules = []Rule{
	{CodePreferential, rulePreferential},
	{CodeDocumentTypeRule, ruleDocumentType},
	{CodeLanguageRule, ruleLanguage},
	{CodePartyExport, ruleParties},
	{CodeExporterCountry, rulePartyAddresses},
	{CodeRVCFOB, ruleRVC},
	{CodeRCEPOriginCountry, ruleOriginCountryParty},
	{CodeThirdPartyInvoicer, ruleThirdParty},
	{CodeBackToBackProof, ruleBackToBack},
	{CodeRetroactive, ruleRetroactive},
	{CodeValidity, ruleValidity},
	{CodeMaxItems, ruleMaxItems},
	{CodeReplaces, ruleReplaces},
	{CodeProducerRef, ruleProducerRef},
	{CodeSignatoryOrder, ruleSignatoryOrder},
}

// SharedRules returns the rules every profile runs (a copy).
func SharedRules() []Rule { return append([]Rule(nil), sharedRules...) }

func runRules(r *Report, c *Certificate, p *Profile) {
	for _, rule := range sharedRules {
		rule.Check(r, c, p)
	}
	for _, rule := range p.Rules {
		rule.Check(r, c, p)
	}
}

// MandatoryField is an optional field of the dataset that a profile can
// make mandatory (Profile.Mandatory names it by key).
type MandatoryField struct {
	// Path is the field's path; "[]" stands for each goods item.
	Path string
	// PerItem says the field is checked on every goods item.
	PerItem bool
	// What names the field in messages.
	What string
	// Present reports whether the field is given (it for per-item fields).
	Present func(c *Certificate, it *GoodsItem) bool
}

// MandatoryFields are the fields profiles may require, by key.
var MandatoryFields = map[string]MandatoryField{
	"item.tradeProduct.originCountry": {
		Path: pathItems + "[].tradeProduct.originCountry", PerItem: true, What: "the country of origin of the goods (originCountry)",
		Present: func(_ *Certificate, it *GoodsItem) bool { return it.Product.OriginCountry != "" },
	},
	"item.invoiceReferences": {
		Path: pathItems + "[].invoiceReferences", PerItem: true, What: "the invoice number and date (invoiceReferences)",
		Present: func(_ *Certificate, it *GoodsItem) bool { return len(it.InvoiceReferences) > 0 },
	},
	"consignment.mainCarriage.departureDate": {
		Path: pathConsignment + ".mainCarriageTransportMovement.departureDate", What: "the departure date (mainCarriageTransportMovement.departureDate)",
		Present: func(c *Certificate, _ *GoodsItem) bool {
			return c.Consignment.MainCarriage != nil && !c.Consignment.MainCarriage.DepartureDate.IsZero()
		},
	},
	"consignment.mainCarriage.usedTransportMeans": {
		Path: pathConsignment + ".mainCarriageTransportMovement.usedTransportMeans", What: "the vessel name or flight number (usedTransportMeans)",
		Present: func(c *Certificate, _ *GoodsItem) bool {
			m := c.Consignment.MainCarriage
			return m != nil && (m.UsedTransportMeans != nil && (m.UsedTransportMeans.Name != "" || m.UsedTransportMeans.ID != "") || m.JourneyID != "")
		},
	},
	"consignment.unloadingPort": {
		Path: pathConsignment + ".unloadingBaseportLocation", What: "the port of discharge (unloadingBaseportLocation)",
		Present: func(c *Certificate, _ *GoodsItem) bool {
			l := c.Consignment.UnloadingPort
			return l != nil && (l.ID != "" || l.Name != "")
		},
	},
	"header.issueLocation": {
		Path: pathHeader + ".issueLocation", What: "the place of issue (issueLocation)",
		Present: func(c *Certificate, _ *GoodsItem) bool { return c.Header.IssueLocation != nil },
	},
}

func checkProfileMandatory(r *Report, c *Certificate, p *Profile) {
	for _, req := range p.Mandatory {
		f, ok := MandatoryFields[req.Field]
		if !ok {
			r.Addf(AreaMandatory, Warning, CodeMissingField, "", "profile %s requires unknown field %q (a bug in the profile)", p.Name, req.Field)
			continue
		}
		why := fmt.Sprintf("%s requires it", p.Name)
		if req.Level != Severe {
			why = fmt.Sprintf("%s asks for it where known", p.Name)
		}
		if !f.PerItem {
			if !f.Present(c, nil) {
				r.missing(req.Level, f.Path, "add %s: %s", f.What, why)
			}
			continue
		}
		for i := range c.Consignment.Items {
			it := &c.Consignment.Items[i]
			if !f.Present(c, it) {
				r.missing(req.Level, strings.Replace(f.Path, "[]", fmt.Sprintf("[%d]", i), 1), "add %s to item %d: %s", f.What, i+1, why)
			}
		}
	}
}

func rulePreferential(r *Report, c *Certificate, p *Profile) {
	if c.Header.IsPreferential != p.Preferential {
		if p.Preferential {
			r.Addf(AreaRule, Severe, CodePreferential, pathHeader+".isPreferential", "set isPreferential to true: a %s certificate claims preference", p.Name)
		} else {
			r.Addf(AreaRule, Severe, CodePreferential, pathHeader+".isPreferential", "a preferential certificate needs an agreement profile, not %s: set freeTradeAgreement (e.g. RCEP) or isPreferential false", p.Name)
		}
	}
}

func ruleDocumentType(r *Report, c *Certificate, p *Profile) {
	t := c.Header.TypeCode
	if t == "" || !isOriginType(t) || len(p.DocumentTypes) == 0 {
		return // missing or not an origin type: reported as mandatory or codelist
	}
	if !containsStr(p.DocumentTypes, t) {
		r.Addf(AreaRule, Severe, CodeDocumentTypeRule, pathHeader+".typeCode", "%s does not take document type %s (%s): use %s", p.Name, t, documentTypes[t], strings.Join(p.DocumentTypes, " or "))
	}
}

func ruleLanguage(r *Report, c *Certificate, p *Profile) {
	if p.Language != "" && c.Header.LanguageCode != "" && c.Header.LanguageCode != p.Language {
		r.Addf(AreaRule, Severe, CodeLanguageRule, pathHeader+".languageCode", "%s certificates are made out in English: set languageCode to %s and write the text in English", p.Name, p.Language)
	}
}

func ruleParties(r *Report, c *Certificate, p *Profile) {
	h := &c.Header
	if h.ExportCountry != "" && r.CodeLists.Country(h.ExportCountry) && !p.IsParty(h.ExportCountry) {
		r.Addf(AreaRule, Severe, CodePartyExport, pathHeader+".exportCountry", "%s is not a party to %s (parties: %s): a %s certificate can only be issued in a party", h.ExportCountry, p.Name, strings.Join(p.Parties, " "), p.FormName)
	}
	if h.ImportCountry != "" && r.CodeLists.Country(h.ImportCountry) && !p.IsParty(h.ImportCountry) {
		r.Addf(AreaRule, Severe, CodePartyImport, pathHeader+".importCountry", "%s is not a party to %s (parties: %s): preference can only be claimed in a party", h.ImportCountry, p.Name, strings.Join(p.Parties, " "))
	}
	if h.ExportCountry != "" && h.ExportCountry == h.ImportCountry {
		r.Addf(AreaRule, Severe, CodeSameCountry, pathHeader+".importCountry", "the importing country is the exporting country (%s): a certificate of origin is for goods that cross a border; correct importCountry", h.ImportCountry)
	}
}

func rulePartyAddresses(r *Report, c *Certificate, _ *Profile) {
	h, k := &c.Header, &c.Consignment
	if a := k.Exporter.Address; a != nil && a.CountryCode != "" && h.ExportCountry != "" && a.CountryCode != h.ExportCountry {
		r.Addf(AreaRule, Warning, CodeExporterCountry, pathConsignment+".consignor.postalAddress.countryCode", "the exporter's address is in %s but the certificate is issued in %s: check exportCountry and the exporter", a.CountryCode, h.ExportCountry)
	}
	exhibition := h.Flags != nil && h.Flags.Exhibition
	if a := k.Importer.Address; !exhibition && a != nil && a.CountryCode != "" && h.ImportCountry != "" && a.CountryCode != h.ImportCountry {
		r.Addf(AreaRule, Warning, CodeImporterCountry, pathConsignment+".consignee.postalAddress.countryCode", "the consignee's address is in %s but the importing country is %s: check importCountry and the consignee", a.CountryCode, h.ImportCountry)
	}
}

// itemCriteria parses an item's origin-criterion lines, skipping lines
// that do not parse (reported by checkCriteria).
func itemCriteria(it *GoodsItem) []OriginCriterion {
	var out []OriginCriterion
	for _, s := range it.OriginCriteria {
		if oc, err := ParseOriginCriterion(s); err == nil {
			out = append(out, oc)
		}
	}
	return out
}

func ruleRVC(r *Report, c *Certificate, p *Profile) {
	if !p.Preferential {
		return
	}
	for i := range c.Consignment.Items {
		it := &c.Consignment.Items[i]
		ip := itemPath(i)
		usesRVC, inline, needPct := false, "", ""
		for _, oc := range itemCriteria(it) {
			for _, part := range oc.Parts {
				if part.Code == "RVC" {
					usesRVC = true
				}
				if p.NeedsPercent(part.Code) || part.Percent != "" {
					if needPct == "" {
						needPct = part.Code
					}
					if part.Percent != "" && inline == "" {
						inline = part.Percent
					}
				}
			}
		}
		if usesRVC && p.RequiresFOB(c.Header.ExportCountry) && (it.FOBValue == nil || it.FOBValue.Value == "" || it.FOBValue.Currency == "") {
			why := p.Name + " requires the FOB value when the origin criterion is RVC"
			if p.FOBExporters != nil {
				why = fmt.Sprintf("%s requires the FOB value on RVC lines for exports from %s", p.Name, strings.Join(p.FOBExporters, ", "))
			}
			r.Addf(AreaRule, Severe, CodeRVCFOB, ip+".fobValue", "add fobValue (amount and currency) to item %d: %s", i+1, why)
		}
		if needPct == "" {
			continue
		}
		field := string(it.RVCPercent)
		switch {
		case field == "" && inline == "":
			r.Addf(AreaRule, Severe, CodeRVCPercent, ip+".rvcPercent", "add rvcPercent to item %d: the %s criterion needs the percentage (e.g. 45), whole percent rounded down", i+1, needPct)
			continue
		case field != "" && inline != "" && !sameNumber(field, inline):
			r.Addf(AreaRule, Warning, CodeRVCPercentMismatch, ip+".rvcPercent", "item %d says %s%% in the origin criterion but rvcPercent is %s: make them agree", i+1, inline, field)
		}
		v := field
		if v == "" {
			v = inline
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 100 {
			r.Addf(AreaRule, Severe, CodeRVCPercent, ip+".rvcPercent", "item %d: %q is not a percentage from 0 to 100", i+1, clipText(v))
			continue
		}
		if f != float64(int(f)) {
			r.Addf(AreaRule, Warning, CodeRVCPercentWhole, ip+".rvcPercent", "item %d: write the percentage as a whole number rounded down (%d, not %s)", i+1, int(f), v)
		}
	}
}

func sameNumber(a, b string) bool {
	x, e1 := strconv.ParseFloat(a, 64)
	y, e2 := strconv.ParseFloat(b, 64)
	return e1 == nil && e2 == nil && x == y
}

func ruleOriginCountryParty(r *Report, c *Certificate, p *Profile) {
	if !p.OriginCountryParty {
		return
	}
	for i := range c.Consignment.Items {
		oc := c.Consignment.Items[i].Product.OriginCountry
		if oc != "" && r.CodeLists.Country(oc) && !p.IsParty(oc) {
			r.Addf(AreaRule, Severe, CodeRCEPOriginCountry, itemPath(i)+".tradeProduct.originCountry", "%s is not a party to %s: the %s country of origin of item %d must be one of %s", oc, p.Name, p.Name, i+1, strings.Join(p.Parties, " "))
		}
	}
}

func flags(c *Certificate) Flags {
	if c.Header.Flags == nil {
		return Flags{}
	}
	return *c.Header.Flags
}

func ruleThirdParty(r *Report, c *Certificate, p *Profile) {
	inv := c.Consignment.ThirdPartyInvoicer
	if flags(c).ThirdPartyInvoicing {
		switch {
		case inv == nil || strings.TrimSpace(inv.Name) == "":
			r.Addf(AreaRule, Severe, CodeThirdPartyInvoicer, pathConsignment+".thirdPartyInvoicer", "add thirdPartyInvoicer with the invoicing company's name and country: the certificate is marked third-party invoicing")
		case inv.Address == nil || inv.Address.CountryCode == "":
			r.Addf(AreaRule, Severe, CodeThirdPartyInvoicer, pathConsignment+".thirdPartyInvoicer.postalAddress.countryCode", "add the country of the third-party invoicer (postalAddress.countryCode): %s needs the invoicing company's name and country", p.Name)
		}
		return
	}
	if inv != nil {
		r.Addf(AreaRule, Warning, CodeThirdPartyFlag, pathHeader+".flags.thirdPartyInvoicing", "a third-party invoicer is given but flags.thirdPartyInvoicing is not set: set the flag or remove the invoicer")
	}
}

func ruleBackToBack(r *Report, c *Certificate, _ *Profile) {
	if flags(c).BackToBack {
		if len(c.OriginalProofs) == 0 {
			r.Addf(AreaRule, Severe, CodeBackToBackProof, pathProofs, "add originalProofs (number, issue date, issuing country) for the original proof of origin: the certificate is marked back-to-back")
		}
		return
	}
	if len(c.OriginalProofs) > 0 {
		r.Addf(AreaRule, Warning, CodeBackToBackFlag, pathHeader+".flags.backToBack", "original proofs of origin are given but flags.backToBack is not set: set the flag or remove originalProofs")
	}
}

// retroactiveGraceDays is how long after departure an issue counts as "at
// the time of shipment" (ATIGA Rule 10: within 3 working days; counted
// here as 5 calendar days).
const retroactiveGraceDays = 5

func ruleRetroactive(r *Report, c *Certificate, p *Profile) {
	if p.RetroactiveMonths == 0 || c.Header.IssueDateTime.IsZero() {
		return
	}
	var dep Date
	if m := c.Consignment.MainCarriage; m != nil {
		dep = m.DepartureDate
	}
	issue := c.Header.IssueDateTime.Date()
	fp := pathHeader + ".flags.issuedRetroactively"
	if flags(c).IssuedRetroactively {
		switch {
		case dep.IsZero():
			r.Addf(AreaRule, Severe, CodeRetroactive, pathConsignment+".mainCarriageTransportMovement.departureDate", "add the departure date: a certificate issued retroactively must show the shipment date so that the receiver can check the one-year limit")
		case !dep.Before(issue):
			r.Addf(AreaRule, Severe, CodeRetroactive, fp, "the certificate is marked issued retroactively but was issued on %s, not after the departure on %s: remove the flag or correct the dates", issue, dep)
		case dep.AddMonths(p.RetroactiveMonths).Before(issue):
			r.Addf(AreaRule, Severe, CodeRetroactive, pathHeader+".issueDateTime", "issued on %s, more than %d months after the departure on %s: %s allows retroactive issue within one year of shipment", issue, p.RetroactiveMonths, dep, p.Name)
		}
		return
	}
	if !dep.IsZero() && dep.Time().AddDate(0, 0, retroactiveGraceDays).Before(issue.Time()) {
		r.Addf(AreaRule, Warning, CodeRetroactiveFlag, fp, "issued on %s, after the departure on %s: mark the certificate issued retroactively (flags.issuedRetroactively)", issue, dep)
	}
}

func ruleValidity(r *Report, c *Certificate, p *Profile) {
	h := &c.Header
	if h.IssueDateTime.IsZero() {
		return
	}
	issue := h.IssueDateTime.Date()
	today := DateOf(r.Today)
	if today.Time().AddDate(0, 0, 1).Before(issue.Time()) {
		r.Addf(AreaRule, Warning, CodeIssueFuture, pathHeader+".issueDateTime", "the issue date %s is after today (%s): check the date and the clock of the issuing system", issue, today)
	}
	if p.ValidityMonths == 0 {
		return
	}
	until := issue.AddMonths(p.ValidityMonths)
	if !h.ValidUntil.IsZero() && h.ValidUntil != until {
		r.Addf(AreaRule, Warning, CodeValidity, pathHeader+".validUntil", "validUntil is %s but a %s certificate issued on %s is valid for %d months, until %s: the receiver uses %s", h.ValidUntil, p.Name, issue, p.ValidityMonths, until, until)
	}
	if until.Before(today) {
		r.Addf(AreaRule, Warning, CodeExpired, pathHeader+".issueDateTime", "the certificate expired on %s (%d months after issue on %s): it can no longer support a claim for preference", until, p.ValidityMonths, issue)
	}
}

func ruleMaxItems(r *Report, c *Certificate, p *Profile) {
	if p.MaxItems > 0 && len(c.Consignment.Items) > p.MaxItems {
		r.Addf(AreaRule, Warning, CodeMaxItems, pathItems, "%d goods items; the %s takes at most %d: split the consignment over several certificates", len(c.Consignment.Items), p.FormName, p.MaxItems)
	}
}

func ruleReplaces(r *Report, c *Certificate, _ *Profile) {
	if c.Header.FunctionCode == "5" && c.Replaces == nil {
		r.Addf(AreaRule, Warning, CodeReplaces, "replaces", "message function 5 (replace): add replaces with the number and issue date of the certificate this one replaces")
	}
}

func ruleProducerRef(r *Report, c *Certificate, _ *Profile) {
	refs := map[string]bool{}
	for _, pr := range c.Consignment.Producers {
		if pr.Ref != "" {
			refs[pr.Ref] = true
		}
	}
	for i, it := range c.Consignment.Items {
		if it.ProducerRef != "" && !refs[it.ProducerRef] {
			r.Addf(AreaRule, Severe, CodeProducerRef, itemPath(i)+".producerRef", "item %d points at producer %q but no producer has that ref: add the producer or correct producerRef", i+1, clipText(it.ProducerRef))
		}
	}
}

func ruleSignatoryOrder(r *Report, c *Certificate, _ *Profile) {
	s := c.SecondSignatory
	f := c.FirstSignatory.ActualDateTime
	if s == nil || s.ActualDateTime.IsZero() || f.IsZero() {
		return
	}
	if s.ActualDateTime.Before(f.Time) {
		r.Addf(AreaRule, Warning, CodeSignatoryOrder, pathSecondSig+".actualDateTime", "the issuing body certified at %s, before the exporter declared at %s: check the two dates", s.ActualDateTime, f)
	}
}

// ruleRCEPBackToBackOrigin: RCEP Annex 3B (m) asks for the RCEP country of
// origin of the first exporting party on each original proof.
func ruleRCEPBackToBackOrigin(r *Report, c *Certificate, p *Profile) {
	for i, op := range c.OriginalProofs {
		path := fmt.Sprintf("%s[%d].rcepCountryOfOrigin", pathProofs, i)
		switch {
		case op.RCEPCountryOfOrigin == "":
			r.Addf(AreaRule, Severe, CodeRCEPBackToBackOrigin, path, "add the RCEP country of origin of original proof %d: RCEP Annex 3B (m) requires it on a back-to-back certificate", i+1)
		case r.CodeLists.Country(op.RCEPCountryOfOrigin) && !p.IsParty(op.RCEPCountryOfOrigin):
			r.Addf(AreaRule, Severe, CodeRCEPBackToBackOrigin, path, "%s is not an RCEP party: the RCEP country of origin of original proof %d must be one of %s", op.RCEPCountryOfOrigin, i+1, strings.Join(p.Parties, " "))
		}
	}
}

// ruleRCEPFlags: Form RCEP box 17 has no accumulation, de minimis or
// partial cumulation boxes; RCEP records them per item as ACU and DMI.
func ruleRCEPFlags(r *Report, c *Certificate, _ *Profile) {
	f := flags(c)
	if f.Accumulation || f.DeMinimis || f.PartialCumulation {
		r.Addf(AreaRule, Warning, CodeOriginFlags, pathHeader+".flags", "RCEP has no certificate-level accumulation, de minimis or partial cumulation indication: remove the flags and write ACU or DMI on the items' second or third origin-criterion line")
	}
}

// rulePartialCumulation: ATIGA partial cumulation ("PC x%") is for a
// regional value content of at least 20% and below 40%, and Form D box 13
// is ticked exactly when an item uses it.
func rulePartialCumulation(r *Report, c *Certificate, _ *Profile) {
	anyPC := false
	for i := range c.Consignment.Items {
		for _, oc := range itemCriteria(&c.Consignment.Items[i]) {
			anyPC = anyPC || oc.Has("PC")
		}
	}
	if flag := flags(c).PartialCumulation; flag != anyPC {
		if anyPC {
			r.Addf(AreaRule, Warning, CodeOriginFlags, pathHeader+".flags.partialCumulation", "an item claims partial cumulation (PC): tick flags.partialCumulation (Form D box 13)")
		} else {
			r.Addf(AreaRule, Warning, CodeOriginFlags, pathHeader+".flags.partialCumulation", "flags.partialCumulation is set but no item's criterion is PC: remove the flag or correct the criterion")
		}
	}
	for i := range c.Consignment.Items {
		it := &c.Consignment.Items[i]
		for _, oc := range itemCriteria(it) {
			if !oc.Has("PC") {
				continue
			}
			v := string(it.RVCPercent)
			for _, part := range oc.Parts {
				if part.Code == "PC" && part.Percent != "" {
					v = part.Percent
				}
			}
			f, err := strconv.ParseFloat(v, 64)
			if err == nil && (f < 20 || f >= 40) {
				r.Addf(AreaRule, Severe, CodePartialCumulation, itemPath(i)+".rvcPercent", "item %d claims partial cumulation (PC) with %s%%: PC is for a regional value content of at least 20%% and below 40%%; at 40%% or more the criterion is RVC", i+1, v)
			}
		}
	}
}

// ruleAIFTACriterion: under AIFTA the general rule is RVC 35% together
// with CTSH; one without the other is not an AIFTA criterion.
func ruleAIFTACriterion(r *Report, c *Certificate, _ *Profile) {
	for i := range c.Consignment.Items {
		it := &c.Consignment.Items[i]
		var rvc, ctsh bool
		for _, oc := range itemCriteria(it) {
			rvc = rvc || oc.Has("RVC")
			ctsh = ctsh || oc.Has("CTSH")
		}
		if rvc != ctsh {
			r.Addf(AreaRule, Severe, CodeAIFTACriterion, itemPath(i)+".originCriteria", "item %d: AIFTA's criterion is WO or RVC together with CTSH (e.g. \"RVC 35%% + CTSH\"); add the missing part", i+1)
		}
	}
}
