package schema

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateInvalid = flag.Bool("update-invalid", false, "rewrite schema/testdata/invalid/*.xml from the rule table")

// vtNow is the fixed clock of the validation tests: a week after vtBase's issue.
var vtNow = time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)

func vtClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func vtDT(s string) DateTime {
	t, err := ParseDateTime(s)
	if err != nil {
		panic(err)
	}
	return t
}

func vtD(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// vtBase is a clean Form RCEP from Viet Nam to Japan: no findings but the
// INFO that HS codes were checked for form only.
func vtBase() *Certificate {
	return &Certificate{
		Header: Header{
			ID: "VN-RCEP-26-01-000123", UUID: "0b8e3f1c-5d2a-4c7e-9f10-2a6b8c4d1e3f", Version: 1,
			TypeCode: "864", FunctionCode: "9", Name: "Form RCEP", Agreement: "RCEP", IsPreferential: true,
			IssueDateTime: vtDT("2026-03-02T09:15:00+07:00"),
			IssueLocation: &Location{ID: "VNSGN", Name: "Ho Chi Minh City"},
			ExportCountry: "VN", ImportCountry: "JP", LanguageCode: "en", Status: "70",
			ValidUntil: vtD("2027-03-02"),
			Issuer: Party{Name: "Import-Export Management Office, Ho Chi Minh City",
				Address: &Address{Lines: []string{"12 Nguyen Hue"}, CityName: "Ho Chi Minh City", CountryCode: "VN"}},
		},
		Consignment: Consignment{
			Exporter: Party{Name: "Saigon Garment Export Co., Ltd.",
				Address: &Address{Lines: []string{"45 Nguyen Huu Tho"}, CityName: "Ho Chi Minh City", CountryCode: "VN"}},
			Importer: Party{Name: "Kanto Apparel K.K.",
				Address: &Address{Lines: []string{"3-8-1 Toyosu"}, CityName: "Tokyo", CountryCode: "JP"}},
			Producers: []Party{{Ref: "P1", Name: "Binh Duong Knitting Factory"}},
			MainCarriage: &TransportMovement{ModeCode: "1", DepartureDate: vtD("2026-03-04"), JourneyID: "2609N",
				UsedTransportMeans: &TransportMeans{Name: "ONE HARMONY"}},
			LoadingPort:   &Location{ID: "VNCLI", Name: "Cat Lai"},
			UnloadingPort: &Location{ID: "JPTYO", Name: "Tokyo"},
			Items: []GoodsItem{
				{
					SequenceNumber: 1, Packages: []Packaging{{Quantity: "120", TypeCode: "CT"}},
					Product: TradeProduct{Description: "Men's T-shirts, 100% cotton, knitted", HSCode: "610910",
						HSEdition: "HS2022", NationalTariffCode: "61091010", OriginCountry: "VN"},
					OriginCriteria: []string{"RVC"}, RVCPercent: "46",
					Quantity: Measure{"2400", "H87"}, GrossWeight: &Measure{"610", "KGM"},
					FOBValue:          &Amount{"12400.00", "USD"},
					InvoiceReferences: []InvoiceReference{{ID: "SGE-2026-0311", IssueDate: vtD("2026-02-27")}},
					ProducerRef:       "P1",
				},
				{
					SequenceNumber: 2, Packages: []Packaging{{Quantity: "40", TypeCode: "CT"}},
					Product:        TradeProduct{Description: "Fresh mangosteens, grade A", HSCode: "080450", OriginCountry: "VN"},
					OriginCriteria: []string{"WO"},
					Quantity:       Measure{"400", "KGM"}, GrossWeight: &Measure{"440", "KGM"},
					InvoiceReferences: []InvoiceReference{{ID: "SGE-2026-0311"}},
				},
			},
		},
		FirstSignatory: Authentication{ActualDateTime: vtDT("2026-03-01T16:40:00+07:00"),
			Signatory: Signatory{Name: "Nguyen Thi Lan", Position: "Export Manager"}},
		SecondSignatory: &Authentication{ActualDateTime: vtDT("2026-03-02T09:15:00+07:00"),
			Signatory: Signatory{Name: "Tran Van Minh"}},
	}
}

// vtAs turns vtBase into a certificate of another profile, between the
// given countries, with origin criteria valid for that profile.
func vtAs(profile, from, to string) *Certificate {
	c := vtBase()
	h := &c.Header
	h.Agreement, h.ExportCountry, h.ImportCountry = profile, from, to
	c.Consignment.Exporter.Address.CountryCode = from
	c.Consignment.Importer.Address.CountryCode = to
	c.Header.Issuer.Address.CountryCode = from
	h.IssueLocation, c.Consignment.LoadingPort, c.Consignment.UnloadingPort = nil, nil, &Location{Name: "Port of discharge"}
	items := c.Consignment.Items
	for i := range items {
		items[i].Product.OriginCountry = ""
	}
	switch profile {
	case "ATIGA":
		items[0].OriginCriteria = []string{"CTSH + 35%"}
		items[0].RVCPercent = ""
	case "AIFTA":
		items[0].OriginCriteria = []string{"RVC 35% + CTSH"}
		items[0].RVCPercent = ""
	case "ACFTA":
		items[0].OriginCriteria = []string{"RVC 46%"}
	case "NONPREF":
		h.Agreement, h.IsPreferential, h.TypeCode, h.ValidUntil, h.Name = "", false, "861", Date{}, "Certificate of Origin"
		for i := range items {
			items[i].OriginCriteria, items[i].RVCPercent = nil, ""
		}
	}
	return c
}

func vtItem(c *Certificate, i int) *GoodsItem { return &c.Consignment.Items[i] }

func vtFlags(c *Certificate) *Flags {
	if c.Header.Flags == nil {
		c.Header.Flags = &Flags{}
	}
	return c.Header.Flags
}

// vtCase is one negative fixture: a valid certificate with one thing broken.
type vtCase struct {
	name    string
	base    func() *Certificate // nil: vtBase
	mutate  func(c *Certificate)
	profile string    // forced profile; "" from the document
	now     time.Time // zero: vtNow
	code    string
	level   Level
	path    string // expected path; "" means any
	noXML   bool   // the mutation cannot be carried in XML (the codec refuses it)
}

func rcepItem0(f func(*GoodsItem)) func(*Certificate) {
	return func(c *Certificate) { f(vtItem(c, 0)) }
}

var vtCases = []vtCase{
	// --- the rules of issue 2 ---
	{name: "rvc-without-fob", mutate: rcepItem0(func(it *GoodsItem) { it.FOBValue = nil }),
		code: CodeRVCFOB, level: Severe, path: itemPath(0) + ".fobValue"},
	{name: "rvc-without-percent", mutate: rcepItem0(func(it *GoodsItem) { it.RVCPercent = "" }),
		code: CodeRVCPercent, level: Severe, path: itemPath(0) + ".rvcPercent"},
	{name: "rvc-percent-over-100", mutate: rcepItem0(func(it *GoodsItem) { it.RVCPercent = "140" }),
		code: CodeRVCPercent, level: Severe},
	{name: "rvc-percent-fraction", mutate: rcepItem0(func(it *GoodsItem) { it.RVCPercent = "45.7" }),
		code: CodeRVCPercentWhole, level: Warning},
	{name: "atiga-rvc-without-fob-from-kh", base: func() *Certificate { return vtAs("ATIGA", "KH", "TH") },
		mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"RVC 40%"}; it.FOBValue = nil }),
		code:   CodeRVCFOB, level: Severe},
	{name: "atiga-percent-without-rvc-percent", base: func() *Certificate { return vtAs("ATIGA", "TH", "VN") },
		mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"PC"} }),
		code:   CodeRVCPercent, level: Severe},
	{name: "atiga-pc-40", base: func() *Certificate { return vtAs("ATIGA", "TH", "VN") },
		mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"PC 45%"} }),
		code:   CodePartialCumulation, level: Severe},
	{name: "atiga-pc-without-flag", base: func() *Certificate { return vtAs("ATIGA", "TH", "VN") },
		mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"PC 25%"} }),
		code:   CodeOriginFlags, level: Warning},
	{name: "rcep-certificate-level-de-minimis", mutate: func(c *Certificate) { vtFlags(c).DeMinimis = true },
		code: CodeOriginFlags, level: Warning},
	{name: "aifta-rvc-without-ctsh", base: func() *Certificate { return vtAs("AIFTA", "IN", "TH") },
		mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"RVC 35%"} }),
		code:   CodeAIFTACriterion, level: Severe},
	{name: "third-party-without-invoicer", mutate: func(c *Certificate) { vtFlags(c).ThirdPartyInvoicing = true },
		code: CodeThirdPartyInvoicer, level: Severe, path: pathConsignment + ".thirdPartyInvoicer"},
	{name: "third-party-invoicer-without-country", mutate: func(c *Certificate) {
		vtFlags(c).ThirdPartyInvoicing = true
		c.Consignment.ThirdPartyInvoicer = &Party{Name: "Lion City Trading Pte. Ltd."}
	}, code: CodeThirdPartyInvoicer, level: Severe},
	{name: "invoicer-without-flag", mutate: func(c *Certificate) {
		c.Consignment.ThirdPartyInvoicer = &Party{Name: "Lion City Trading", Address: &Address{CountryCode: "SG"}}
	}, code: CodeThirdPartyFlag, level: Warning},
	{name: "back-to-back-without-proof", mutate: func(c *Certificate) { vtFlags(c).BackToBack = true },
		code: CodeBackToBackProof, level: Severe, path: pathProofs},
	{name: "proof-without-back-to-back", mutate: func(c *Certificate) {
		c.OriginalProofs = []OriginalProof{{Number: "TH-1", IssueDate: vtD("2026-02-10"), IssuingCountry: "TH", RCEPCountryOfOrigin: "TH"}}
	}, code: CodeBackToBackFlag, level: Warning},
	{name: "rcep-back-to-back-without-origin", mutate: func(c *Certificate) {
		vtFlags(c).BackToBack = true
		c.OriginalProofs = []OriginalProof{{Number: "TH-1", IssueDate: vtD("2026-02-10"), IssuingCountry: "TH"}}
	}, code: CodeRCEPBackToBackOrigin, level: Severe},
	{name: "retroactive-before-departure", mutate: func(c *Certificate) { vtFlags(c).IssuedRetroactively = true },
		code: CodeRetroactive, level: Severe, path: pathHeader + ".flags.issuedRetroactively"},
	{name: "retroactive-over-a-year", mutate: func(c *Certificate) {
		vtFlags(c).IssuedRetroactively = true
		c.Consignment.MainCarriage.DepartureDate = vtD("2025-02-20")
	}, code: CodeRetroactive, level: Severe, path: pathHeader + ".issueDateTime"},
	{name: "retroactive-without-departure", mutate: func(c *Certificate) {
		vtFlags(c).IssuedRetroactively = true
		c.Consignment.MainCarriage.DepartureDate = Date{}
	}, code: CodeRetroactive, level: Severe},
	{name: "late-without-retroactive-flag", mutate: func(c *Certificate) {
		c.Consignment.MainCarriage.DepartureDate = vtD("2026-02-01")
	}, code: CodeRetroactiveFlag, level: Warning},
	{name: "valid-until-wrong", mutate: func(c *Certificate) { c.Header.ValidUntil = vtD("2027-09-02") },
		code: CodeValidity, level: Warning, path: pathHeader + ".validUntil"},
	// The clock-only and profile-only cases keep the base document: no XML file.
	{name: "expired", now: time.Date(2027, 3, 3, 8, 0, 0, 0, time.UTC),
		code: CodeExpired, level: Warning, noXML: true},
	{name: "issued-in-the-future", now: time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC),
		code: CodeIssueFuture, level: Warning, noXML: true},
	{name: "rcep-origin-not-party", mutate: rcepItem0(func(it *GoodsItem) { it.Product.OriginCountry = "US" }),
		code: CodeRCEPOriginCountry, level: Severe, path: itemPath(0) + ".tradeProduct.originCountry"},
	{name: "rcep-origin-missing", mutate: func(c *Certificate) { vtItem(c, 1).Product.OriginCountry = "" },
		code: CodeMissingField, level: Severe, path: itemPath(1) + ".tradeProduct.originCountry"},
	{name: "export-not-party", mutate: func(c *Certificate) {
		c.Header.ExportCountry = "US"
		c.Consignment.Exporter.Address.CountryCode = "US"
	}, code: CodePartyExport, level: Severe, path: pathHeader + ".exportCountry"},
	{name: "import-not-party", mutate: func(c *Certificate) {
		c.Header.ImportCountry = "US"
		c.Consignment.Importer.Address.CountryCode = "US"
	}, code: CodePartyImport, level: Severe, path: pathHeader + ".importCountry"},
	{name: "aanzfta-import-not-party", base: func() *Certificate { return vtAs("AANZFTA", "AU", "IN") },
		code: CodePartyImport, level: Severe},
	{name: "same-country", mutate: func(c *Certificate) {
		c.Header.ImportCountry = "VN"
		c.Consignment.Importer.Address.CountryCode = "VN"
	}, code: CodeSameCountry, level: Severe},
	{name: "nonpref-same-country", base: func() *Certificate { return vtAs("NONPREF", "VN", "VN") },
		code: CodeSameCountry, level: Severe, noXML: true}, // the codec requires an origin criterion even for NONPREF
	{name: "exporter-elsewhere", mutate: func(c *Certificate) { c.Consignment.Exporter.Address.CountryCode = "TH" },
		code: CodeExporterCountry, level: Warning},
	{name: "consignee-elsewhere", mutate: func(c *Certificate) { c.Consignment.Importer.Address.CountryCode = "KR" },
		code: CodeImporterCountry, level: Warning},
	{name: "not-preferential", mutate: func(c *Certificate) { c.Header.IsPreferential = false },
		code: CodePreferential, level: Severe},
	{name: "declaration-type-not-in-aanzfta", base: func() *Certificate { return vtAs("AANZFTA", "AU", "VN") },
		mutate: func(c *Certificate) { c.Header.TypeCode = "862" }, code: CodeDocumentTypeRule, level: Severe},
	{name: "language-not-english", mutate: func(c *Certificate) { c.Header.LanguageCode = "vi" },
		code: CodeLanguageRule, level: Severe},
	{name: "acfta-too-many-items", base: func() *Certificate { return vtAs("ACFTA", "CN", "VN") }, mutate: func(c *Certificate) {
		for i := 3; i <= 21; i++ {
			it := c.Consignment.Items[1]
			it.SequenceNumber = i
			c.Consignment.Items = append(c.Consignment.Items, it)
		}
	}, code: CodeMaxItems, level: Warning},
	{name: "replace-without-replaces", mutate: func(c *Certificate) { c.Header.FunctionCode = "5" },
		code: CodeReplaces, level: Warning},
	{name: "producer-ref-dangling", mutate: rcepItem0(func(it *GoodsItem) { it.ProducerRef = "P9" }),
		code: CodeProducerRef, level: Severe},
	{name: "certified-before-declared", mutate: func(c *Certificate) {
		c.SecondSignatory.ActualDateTime = vtDT("2026-03-01T08:00:00+07:00")
	}, code: CodeSignatoryOrder, level: Warning},
	{name: "profile-mismatch", profile: "ATIGA", code: CodeProfileMismatch, level: Warning, noXML: true},
	{name: "agreement-unknown", mutate: func(c *Certificate) { c.Header.Agreement = "RCPE" },
		code: CodeAgreement, level: Severe},
	{name: "agreement-without-profile", mutate: func(c *Certificate) { c.Header.Agreement = "AJCEP" },
		code: CodeProfileMissing, level: Warning},

	// --- origin criteria ---
	{name: "criterion-not-in-line-1", mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"CTH"} }),
		code: CodeOriginCriterion, level: Severe, path: itemPath(0) + ".originCriteria[0]"},
	{name: "criterion-not-in-line-2", mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"RVC", "RVC"} }),
		code: CodeOriginCriterion, level: Severe, path: itemPath(0) + ".originCriteria[1]"},
	{name: "criterion-malformed", mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"RVC 40%%"} }),
		code: CodeOriginCriterion, level: Severe},
	{name: "criterion-too-many-lines", base: func() *Certificate { return vtAs("AKFTA", "KR", "VN") },
		mutate: rcepItem0(func(it *GoodsItem) { it.OriginCriteria = []string{"RVC", "CTH"} }),
		code:   CodeOriginCriterionNum, level: Severe},
	{name: "criterion-missing", mutate: func(c *Certificate) { vtItem(c, 1).OriginCriteria = nil },
		code: CodeMissingField, level: Severe, path: itemPath(1) + ".originCriteria", noXML: true},

	// --- code lists ---
	{name: "unit-kgs", mutate: func(c *Certificate) { vtItem(c, 1).Quantity.UnitCode = "KGS" },
		code: CodeUnitKGS, level: Severe, path: itemPath(1) + ".quantity.unitCode"},
	{name: "unit-unknown-builtin", mutate: func(c *Certificate) { vtItem(c, 1).Quantity.UnitCode = "ZZQ" },
		code: CodeUnit, level: Warning},
	{name: "unit-deprecated", mutate: func(c *Certificate) { vtItem(c, 1).Quantity.UnitCode = "NPR" },
		code: CodeUnitDeprecated, level: Warning},
	{name: "weight-not-mass", mutate: func(c *Certificate) { vtItem(c, 1).GrossWeight.UnitCode = "MTR" },
		code: CodeWeightUnit, level: Warning},
	{name: "package-unknown-builtin", mutate: func(c *Certificate) { vtItem(c, 1).Packages[0].TypeCode = "Q9" },
		code: CodePackage, level: Warning},
	{name: "hs-chapter-99", mutate: func(c *Certificate) { vtItem(c, 1).Product.HSCode = "999999" },
		code: CodeHSUnknown, level: Warning},
	{name: "hs-chapter-77", mutate: func(c *Certificate) { vtItem(c, 1).Product.HSCode = "770100" },
		code: CodeHSChapter, level: Severe},
	{name: "hs-dotted", mutate: func(c *Certificate) { vtItem(c, 1).Product.HSCode = "0804.50" },
		code: CodeHSForm, level: Warning, noXML: true},
	{name: "hs-national-in-hscode", mutate: func(c *Certificate) { vtItem(c, 1).Product.HSCode = "08045010" },
		code: CodeHSForm, level: Severe, noXML: true},
	{name: "hs-national-other-subheading", mutate: rcepItem0(func(it *GoodsItem) { it.Product.NationalTariffCode = "62091010" }),
		code: CodeHSNational, level: Severe},
	{name: "hs-national-too-short", mutate: rcepItem0(func(it *GoodsItem) { it.Product.NationalTariffCode = "610910" }),
		code: CodeHSNational, level: Severe},
	{name: "country-unknown", mutate: func(c *Certificate) { c.Consignment.Importer.Address.CountryCode = "XX" },
		code: CodeCountry, level: Severe, path: pathConsignment + ".consignee.postalAddress.countryCode"},
	{name: "country-withdrawn", mutate: func(c *Certificate) { c.Consignment.TransitCountries = []string{"YU"} },
		code: CodeCountry, level: Severe},
	{name: "currency-unknown", mutate: rcepItem0(func(it *GoodsItem) { it.FOBValue.Currency = "ABC" }),
		code: CodeCurrency, level: Severe},
	{name: "currency-historic", mutate: rcepItem0(func(it *GoodsItem) { it.FOBValue.Currency = "DEM" }),
		code: CodeCurrency, level: Severe},
	{name: "language-unknown", mutate: func(c *Certificate) { c.Header.LanguageCode = "qq" },
		code: CodeLanguage, level: Severe},
	{name: "document-type-phyto", mutate: func(c *Certificate) { c.Header.TypeCode = "851" },
		code: CodeDocumentType, level: Severe},
	{name: "message-function-response", mutate: func(c *Certificate) { c.Header.FunctionCode = "29" },
		code: CodeMessageFunction, level: Warning},
	{name: "message-function-unknown", mutate: func(c *Certificate) { c.Header.FunctionCode = "99" },
		code: CodeMessageFunction, level: Severe},
	{name: "status-unknown", mutate: func(c *Certificate) { c.Header.Status = "71" },
		code: CodeStatusCode, level: Severe},
	{name: "transport-mode-unknown", mutate: func(c *Certificate) { c.Consignment.MainCarriage.ModeCode = "sea" },
		code: CodeTransportMode, level: Severe},
	{name: "locode-malformed", mutate: func(c *Certificate) { c.Consignment.LoadingPort.ID = "Saigon" },
		code: CodeLOCODE, level: Warning},

	// --- mandatory fields ---
	{name: "id-too-long", mutate: func(c *Certificate) { c.Header.ID = strings.Repeat("9", 36) },
		code: CodeIDLength, level: Severe},
	{name: "id-missing", mutate: func(c *Certificate) { c.Header.ID = "" },
		code: CodeMissingField, level: Severe, path: pathHeader + ".iD", noXML: true},
	{name: "uuid-malformed", mutate: func(c *Certificate) { c.Header.UUID = "not-a-uuid" },
		code: CodeUUIDForm, level: Severe, noXML: true},
	{name: "version-zero", mutate: func(c *Certificate) { c.Header.Version = 0 },
		code: CodeVersion, level: Severe},
	{name: "issue-missing", mutate: func(c *Certificate) { c.Header.IssueDateTime = DateTime{} },
		code: CodeMissingField, level: Severe, path: pathHeader + ".issueDateTime", noXML: true},
	{name: "agreement-missing", mutate: func(c *Certificate) { c.Header.Agreement = "" },
		code: CodeMissingField, level: Severe, path: pathHeader + ".freeTradeAgreement"},
	{name: "exporter-address-missing", mutate: func(c *Certificate) { c.Consignment.Exporter.Address = nil },
		code: CodeMissingField, level: Severe, path: pathConsignment + ".consignor.postalAddress"},
	{name: "exporter-country-missing", mutate: func(c *Certificate) { c.Consignment.Exporter.Address.CountryCode = "" },
		code: CodeMissingField, level: Severe, path: pathConsignment + ".consignor.postalAddress.countryCode"},
	{name: "importer-name-missing", mutate: func(c *Certificate) { c.Consignment.Importer.Name = "" },
		code: CodeMissingField, level: Severe, path: pathConsignment + ".consignee.name"},
	{name: "issuer-name-missing", mutate: func(c *Certificate) { c.Header.Issuer.Name = "" },
		code: CodeMissingField, level: Severe, path: pathHeader + ".issuer.name"},
	{name: "no-items", mutate: func(c *Certificate) { c.Consignment.Items = nil },
		code: CodeNoItems, level: Severe, noXML: true},
	{name: "sequence-duplicate", mutate: func(c *Certificate) { vtItem(c, 1).SequenceNumber = 1 },
		code: CodeSequenceDuplicate, level: Severe, path: itemPath(1) + ".sequenceNumber"},
	{name: "sequence-zero", mutate: func(c *Certificate) { vtItem(c, 1).SequenceNumber = 0 },
		code: CodeSequence, level: Severe},
	{name: "description-missing", mutate: func(c *Certificate) { vtItem(c, 1).Product.Description = "" },
		code: CodeMissingField, level: Severe, path: itemPath(1) + ".tradeProduct.description"},
	{name: "quantity-unit-missing", mutate: func(c *Certificate) { vtItem(c, 1).Quantity.UnitCode = "" },
		code: CodeMissingField, level: Severe, path: itemPath(1) + ".quantity.unitCode"},
	{name: "first-signatory-missing", mutate: func(c *Certificate) { c.FirstSignatory.Signatory.Name = "" },
		code: CodeMissingField, level: Severe, path: pathFirstSig + ".signatory.name"},
	{name: "second-signatory-missing", mutate: func(c *Certificate) { c.SecondSignatory = nil },
		code: CodeMissingField, level: Severe, path: pathSecondSig},
	{name: "invoice-missing", mutate: func(c *Certificate) { vtItem(c, 1).InvoiceReferences = nil },
		code: CodeMissingField, level: Warning, path: itemPath(1) + ".invoiceReferences"},
	{name: "departure-missing", mutate: func(c *Certificate) { c.Consignment.MainCarriage.DepartureDate = Date{} },
		code: CodeMissingField, level: Warning},
}

func vtRun(tc vtCase, c *Certificate, cl *CodeLists) Findings {
	opts := ValidateOptions{Now: vtClock(vtNow), CodeLists: cl}
	if !tc.now.IsZero() {
		opts.Now = vtClock(tc.now)
	}
	if tc.profile != "" {
		opts.Profile = ProfileByName(tc.profile)
	}
	return Validate(c, opts)
}

func vtBuild(tc vtCase) *Certificate {
	c := vtBase()
	if tc.base != nil {
		c = tc.base()
	}
	if tc.mutate != nil {
		tc.mutate(c)
	}
	return c
}

func vtHas(fs Findings, code string, level Level, path string) bool {
	for _, f := range fs {
		if f.Code == code && f.Level == level && (path == "" || f.Path == path) {
			return true
		}
	}
	return false
}

// vtClean fails unless fs holds nothing above INFO.
func vtClean(t *testing.T, name string, fs Findings) {
	t.Helper()
	for _, f := range fs {
		if f.Level != Info {
			t.Errorf("%s: unexpected finding %s", name, f)
		}
	}
}

// TestValidateClean: the base certificate of each profile has no SEVERE or
// WARNING finding, so that each negative fixture breaks exactly one thing.
func TestValidateClean(t *testing.T) {
	bases := map[string]*Certificate{
		"RCEP":    vtBase(),
		"ATIGA":   vtAs("ATIGA", "KH", "TH"),
		"AANZFTA": vtAs("AANZFTA", "AU", "VN"),
		"AIFTA":   vtAs("AIFTA", "IN", "TH"),
		"AKFTA":   vtAs("AKFTA", "KR", "VN"),
		"ACFTA":   vtAs("ACFTA", "CN", "VN"),
		"NONPREF": vtAs("NONPREF", "VN", "US"),
	}
	for name, c := range bases {
		fs := Validate(c, ValidateOptions{Now: vtClock(vtNow)})
		vtClean(t, name, fs)
		if p := ProfileFor(c); p == nil || p.Name != name {
			t.Errorf("%s: ProfileFor = %v", name, p)
		}
	}
	// A declaration of origin needs no second signatory.
	c := vtBase()
	c.Header.TypeCode, c.SecondSignatory = "862", nil
	vtClean(t, "declaration of origin", Validate(c, ValidateOptions{Now: vtClock(vtNow)}))
}

// TestValidateRules runs every negative fixture: each must produce its
// stable code at the expected level (and path, where given).
func TestValidateRules(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range vtCases {
		t.Run(tc.name, func(t *testing.T) {
			if seen[tc.name] {
				t.Fatalf("duplicate case name %s", tc.name)
			}
			seen[tc.name] = true
			fs := vtRun(tc, vtBuild(tc), nil)
			if !vtHas(fs, tc.code, tc.level, tc.path) {
				t.Errorf("want %s %s at %q; got:\n%s", tc.level, tc.code, tc.path, vtDump(fs))
			}
			for _, f := range fs {
				if f.Path == "" && f.Code != CodeTruncated {
					t.Errorf("finding without a path: %s", f)
				}
				if f.Message == "" || f.Area == "" {
					t.Errorf("incomplete finding: %+v", f)
				}
			}
		})
	}
}

func vtDump(fs Findings) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	return b.String()
}

func invalidDir() string { return filepath.Join("testdata", "invalid") }

// TestInvalidFixtures keeps testdata/invalid/NAME.xml equal to the rule
// table (-update-invalid rewrites them) and checks that each file decodes
// cleanly and then fails validation with its code: the fixtures exercise
// the codec and the validator together, as `ecogate validate` does.
func TestInvalidFixtures(t *testing.T) {
	want := map[string]bool{}
	for _, tc := range vtCases {
		if tc.noXML {
			continue
		}
		name := tc.name + ".xml"
		want[name] = true
		b, err := EncodeXML(vtBuild(tc))
		if err != nil {
			t.Fatalf("%s: encode: %v", tc.name, err)
		}
		path := filepath.Join(invalidDir(), name)
		if *updateInvalid {
			if err := os.MkdirAll(invalidDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v: run go test ./schema -run TestInvalidFixtures -update-invalid", err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s is out of date: run go test ./schema -run TestInvalidFixtures -update-invalid", path)
		}
		c, dfs := DecodeXML(got, DecodeOptions{})
		if len(dfs) > 0 {
			t.Errorf("%s: the codec refuses it (mark the case noXML):\n%s", name, vtDump(dfs))
			continue
		}
		fs := vtRun(tc, c, nil)
		if !vtHas(fs, tc.code, tc.level, tc.path) {
			t.Errorf("%s: want %s %s; got:\n%s", name, tc.level, tc.code, vtDump(fs))
		}
	}
	entries, _ := os.ReadDir(invalidDir())
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("%s has no case in vtCases: remove it", filepath.Join(invalidDir(), e.Name()))
		}
	}
}

// TestValidFixtures validates the codec's golden certificates: none may
// have a SEVERE finding under its own profile.
func TestValidFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "valid", "*.xml"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("<CertificateOfOrigin")) {
			continue
		}
		c, dfs := DecodeXML(b, DecodeOptions{})
		if len(dfs) > 0 {
			t.Errorf("%s: %s", f, vtDump(dfs))
			continue
		}
		n++
		now := c.Header.IssueDateTime.Add(24 * time.Hour)
		fs := Validate(c, ValidateOptions{Now: vtClock(now)})
		for _, x := range fs {
			if x.Level == Severe {
				t.Errorf("%s: %s", f, x)
			} else {
				t.Logf("%s: %s", f, x)
			}
		}
	}
	if n == 0 {
		t.Skip("no certificates in testdata/valid yet")
	}
}

func TestValidateNil(t *testing.T) {
	if fs := Validate(nil, ValidateOptions{}); !fs.HasSevere() {
		t.Fatal("nil certificate must be SEVERE")
	}
}

// TestValidateDoesNotMutate: Validate leaves the certificate as it was.
func TestValidateDoesNotMutate(t *testing.T) {
	c := vtBase()
	vtItem(c, 1).Product.HSCode = "0804.50"
	before, _ := EncodeJSON(c)
	Validate(c, ValidateOptions{Now: vtClock(vtNow)})
	after, _ := EncodeJSON(c)
	if !bytes.Equal(before, after) {
		t.Fatal("Validate changed the certificate")
	}
}

// TestValidateMaxFindings: the cap keeps the report small but never hides
// that the document has a SEVERE finding.
func TestValidateMaxFindings(t *testing.T) {
	c := vtBase()
	for i := 0; i < 50; i++ {
		c.Consignment.Items = append(c.Consignment.Items, GoodsItem{SequenceNumber: 100 + i})
	}
	fs := Validate(c, ValidateOptions{Now: vtClock(vtNow), MaxFindings: 10})
	if len(fs) > 12 || !fs.HasSevere() || !vtHas(fs, CodeTruncated, Info, "") {
		t.Fatalf("got %d findings:\n%s", len(fs), vtDump(fs))
	}
}

func TestProfiles(t *testing.T) {
	for _, p := range Profiles() {
		if got := ProfileByName(strings.ToLower(p.Name)); got == nil || got.Name != p.Name {
			t.Errorf("ProfileByName(%s) = %v", p.Name, got)
		}
		for _, req := range p.Mandatory {
			if _, ok := MandatoryFields[req.Field]; !ok {
				t.Errorf("%s: mandatory field %q is not in MandatoryFields", p.Name, req.Field)
			}
		}
		for _, party := range p.Parties {
			if !DefaultCodeLists().Country(party) {
				t.Errorf("%s: party %s is not a country", p.Name, party)
			}
		}
		for _, dt := range p.DocumentTypes {
			if !isOriginType(dt) {
				t.Errorf("%s: document type %s", p.Name, dt)
			}
		}
		if p.Preferential != (len(p.Criteria) > 0) {
			t.Errorf("%s: a preferential profile needs origin criteria and only it", p.Name)
		}
	}
	if n := len(ProfileByName("RCEP").Parties); n != 15 {
		t.Errorf("RCEP has %d parties, want 15", n)
	}
	if n := len(ProfileByName("AANZFTA").Parties); n != 12 {
		t.Errorf("AANZFTA has %d parties, want 12", n)
	}
	if ProfileByName("AFTA").Name != "ATIGA" || ProfileByName("nope") != nil {
		t.Error("agreement aliases")
	}
	p := ProfileByName("ATIGA")
	if !p.RequiresFOB("KH") || p.RequiresFOB("TH") || !ProfileByName("RCEP").RequiresFOB("TH") {
		t.Error("RequiresFOB")
	}
	// Profiles returns copies: changing one does not change the next.
	Profiles()[0].Parties[0] = "ZZ"
	if Profiles()[0].Parties[0] == "ZZ" {
		t.Error("Profiles shares its slices")
	}
}

func TestParseOriginCriterion(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "WO", want: "WO"},
		{in: " rvc ", want: "RVC"},
		{in: "RVC 40%", want: "RVC 40%"},
		{in: "RVC40", want: "RVC 40%"},
		{in: "40%", want: "RVC 40%"},
		{in: "CTSH + 35%", want: "CTSH + RVC 35%"},
		{in: "RVC 35% +  CTSH", want: "RVC 35% + CTSH"},
		{in: "PC 25%", want: "PC 25%"},
		{in: "2.6.6A", want: "2.6.6A"},
		{in: "WO-AK", want: "WO-AK"},
		{in: "SPECIFIC   PROCESSES", want: "SPECIFIC PROCESSES"},
		{in: "", bad: true},
		{in: "RVC +", bad: true},
		{in: "RVC 140%", bad: true},
		{in: "RVC 40%%", bad: true},
		{in: "RVC; DROP", bad: true},
		{in: strings.Repeat("A", 65), bad: true},
	}
	for _, tt := range tests {
		oc, err := ParseOriginCriterion(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("%q: err = %v", tt.in, err)
			continue
		}
		if err == nil && oc.String() != tt.want {
			t.Errorf("%q: got %q want %q", tt.in, oc.String(), tt.want)
		}
	}
}

// FuzzParseOriginCriterion: the parser never panics, and what it accepts
// it reads back the same from its canonical form.
func FuzzParseOriginCriterion(f *testing.F) {
	for _, s := range []string{"WO", "RVC 40%", "CTSH + 35%", "PC 25%", "2.6.6A", "40%", "RVC40", "a+b", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		oc, err := ParseOriginCriterion(s)
		if err != nil {
			return
		}
		if len(oc.Parts) == 0 {
			t.Fatalf("%q: accepted with no parts", s)
		}
		again, err := ParseOriginCriterion(oc.String())
		if err != nil || again.String() != oc.String() {
			t.Fatalf("%q: canonical %q does not read back (%v)", s, oc.String(), err)
		}
	})
}

// vtLarge is a certificate with n goods items.
func vtLarge(n int) *Certificate {
	c := vtBase()
	base := c.Consignment.Items
	c.Consignment.Items = nil
	for i := 0; i < n; i++ {
		it := base[i%2]
		it.SequenceNumber = i + 1
		c.Consignment.Items = append(c.Consignment.Items, it)
	}
	return c
}

// FuzzValidateDecoded: whatever the codecs accept, Validate judges without
// panicking, and every finding it reports is complete.
func FuzzValidateDecoded(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _ := DecodeXML(b, DecodeOptions{})
		if c == nil {
			if c, _ = DecodeJSON(b, DecodeOptions{}); c == nil {
				return
			}
		}
		for _, x := range Validate(c, ValidateOptions{Now: vtClock(vtNow)}) {
			if x.Code == "" || x.Message == "" || x.Area == "" || x.Level == "" {
				t.Fatalf("incomplete finding %+v", x)
			}
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	c := vtLarge(20)
	opts := ValidateOptions{Now: vtClock(vtNow)}
	if fs := Validate(c, opts); fs.HasSevere() {
		b.Fatalf("benchmark certificate is not valid:\n%s", vtDump(fs))
	}
	b.ReportAllocs()
	for b.Loop() {
		Validate(c, opts)
	}
}
