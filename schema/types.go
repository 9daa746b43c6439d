package schema

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Namespace is the XML namespace of the canonical e-CO dataset, version 1.
const Namespace = "urn:ecogate:eco:1"

// Date is a calendar date without a time of day (ISO 8601 YYYY-MM-DD). Its
// zero value means "not given"; it marshals to and from text in both codecs.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads a YYYY-MM-DD date.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date: write it as YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsZero reports whether the date is unset.
func (d Date) IsZero() bool { return d == Date{} }

// Time returns midnight UTC at the start of the date.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String formats the date as YYYY-MM-DD, or "" when unset.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Time().Format(time.DateOnly)
}

// AddMonths returns the date n months later, clamped to the month's last day.
func (d Date) AddMonths(n int) Date {
	first := time.Date(d.Year, d.Month+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	day := d.Day
	if day > last {
		day = last
	}
	return Date{first.Year(), first.Month(), day}
}

// Before reports whether d is strictly before e.
func (d Date) Before(e Date) bool { return d.Time().Before(e.Time()) }

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// DateTime is an instant with its UTC offset (ISO 8601 / RFC 3339). The
// offset written by the sender is kept, so a round trip loses nothing.
type DateTime struct{ time.Time }

// ParseDateTime reads an RFC 3339 date-time such as 2026-03-01T10:30:00+07:00.
func ParseDateTime(s string) (DateTime, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return DateTime{}, fmt.Errorf("%q is not a date-time: write it as YYYY-MM-DDThh:mm:ss with a zone, e.g. 2026-03-01T10:30:00+07:00", s)
	}
	return DateTime{t}, nil
}

// String formats the instant as RFC 3339, or "" when unset.
func (t DateTime) String() string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// Date returns the calendar date of the instant in its own offset.
func (t DateTime) Date() Date { return DateOf(t.Time) }

// MarshalText implements encoding.TextMarshaler.
func (t DateTime) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *DateTime) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*t = DateTime{}
		return nil
	}
	v, err := ParseDateTime(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MarshalJSON writes the instant as a JSON string.
func (t DateTime) MarshalJSON() ([]byte, error) { return []byte(`"` + t.String() + `"`), nil }

// UnmarshalJSON reads the instant from a JSON string.
func (t *DateTime) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return fmt.Errorf("date-time must be a JSON string, got %s", s)
	}
	return t.UnmarshalText([]byte(s[1 : len(s)-1]))
}

var decimalRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// Decimal is an exact decimal number kept as its text (no float rounding),
// e.g. "1250.50". The zero value is "not given".
type Decimal string

// Valid reports whether the text is a plain decimal number.
func (d Decimal) Valid() bool { return decimalRE.MatchString(string(d)) }

// UnmarshalText implements encoding.TextUnmarshaler; it rejects text that is
// not a plain decimal number (no exponent, no thousands separators).
func (d *Decimal) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s != "" && !decimalRE.MatchString(s) {
		return fmt.Errorf("%q is not a decimal number: write digits with an optional '.' and fraction, e.g. 1250.50", s)
	}
	*d = Decimal(s)
	return nil
}

// Measure is a quantity with its UN/ECE Rec 20 unit code, e.g. 1200 KGM.
type Measure struct {
	Value    Decimal `xml:",chardata" json:"value"`
	UnitCode string  `xml:"unitCode,attr" json:"unitCode"`
}

// Amount is a monetary amount with its ISO 4217 currency code.
type Amount struct {
	Value    Decimal `xml:",chardata" json:"value"`
	Currency string  `xml:"currencyID,attr" json:"currency"`
}

// Identifier is an identifier with an optional scheme, e.g. scheme "abn"
// value "55004094599", or scheme "gtin".
type Identifier struct {
	Value    string `xml:",chardata" json:"value"`
	SchemeID string `xml:"schemeID,attr,omitempty" json:"schemeID,omitempty"`
}

// Location is a place: a UN/LOCODE and a name.
type Location struct {
	ID   string `xml:"ID,omitempty" json:"iD,omitempty"`
	Name string `xml:"Name,omitempty" json:"name,omitempty"`
}

// Address is a postal address.
type Address struct {
	Lines                  []string `xml:"LineText,omitempty" json:"lines,omitempty"`
	CityName               string   `xml:"CityName,omitempty" json:"cityName,omitempty"`
	Postcode               string   `xml:"PostcodeCode,omitempty" json:"postcode,omitempty"`
	CountrySubDivisionName string   `xml:"CountrySubDivisionName,omitempty" json:"countrySubDivisionName,omitempty"`
	CountryCode            string   `xml:"CountryID,omitempty" json:"countryCode,omitempty"`
}

// Contact is how to reach a party.
type Contact struct {
	PersonName string `xml:"PersonName,omitempty" json:"personName,omitempty"`
	Phone      string `xml:"TelephoneNumber,omitempty" json:"phone,omitempty"`
	Email      string `xml:"EmailAddress,omitempty" json:"email,omitempty"`
}

// Party is a trade party: exporter, importer, producer, invoicer or issuer.
type Party struct {
	// Ref is a local reference that goods items use to point at a producer.
	Ref     string       `xml:"ref,attr,omitempty" json:"ref,omitempty"`
	IDs     []Identifier `xml:"ID,omitempty" json:"iDs,omitempty"`
	Name    string       `xml:"Name" json:"name"`
	Address *Address     `xml:"PostalTradeAddress,omitempty" json:"postalAddress,omitempty"`
	Contact *Contact     `xml:"DefinedTradeContact,omitempty" json:"contact,omitempty"`
}

// Flags are the certificate-level indications of Form D box 13 and Form
// RCEP box 17.
type Flags struct {
	ThirdPartyInvoicing bool `xml:"ThirdPartyInvoicing,omitempty" json:"thirdPartyInvoicing,omitempty"`
	Exhibition          bool `xml:"Exhibition,omitempty" json:"exhibition,omitempty"`
	Accumulation        bool `xml:"Accumulation,omitempty" json:"accumulation,omitempty"`
	DeMinimis           bool `xml:"DeMinimis,omitempty" json:"deMinimis,omitempty"`
	BackToBack          bool `xml:"BackToBack,omitempty" json:"backToBack,omitempty"`
	IssuedRetroactively bool `xml:"IssuedRetroactively,omitempty" json:"issuedRetroactively,omitempty"`
	PartialCumulation   bool `xml:"PartialCumulation,omitempty" json:"partialCumulation,omitempty"`
	CertifiedTrueCopy   bool `xml:"CertifiedTrueCopy,omitempty" json:"certifiedTrueCopy,omitempty"`
}

// Any reports whether any flag is set.
func (f Flags) Any() bool { return f != Flags{} }

// Signatory is the natural person who signs a declaration or certification.
type Signatory struct {
	Name     string `xml:"Name" json:"name"`
	Position string `xml:"Position,omitempty" json:"position,omitempty"`
}

// Authentication is a declaration or certification with its signatory: the
// exporter's declaration (first) or the issuing body's certification (second).
type Authentication struct {
	ActualDateTime DateTime  `xml:"ActualDateTime" json:"actualDateTime"`
	Statement      string    `xml:"Statement,omitempty" json:"statement,omitempty"`
	Signatory      Signatory `xml:"Signatory" json:"signatory"`
	Place          *Location `xml:"IssueLocation,omitempty" json:"place,omitempty"`
	// SealImageRef names an attachment holding the seal image, for rendering only.
	SealImageRef string `xml:"SealImageRef,omitempty" json:"sealImageRef,omitempty"`
}

// Attachment is a binary file carried inline (base64) or by reference.
type Attachment struct {
	Filename string `xml:"Filename,omitempty" json:"filename,omitempty"`
	URI      string `xml:"URI,omitempty" json:"uRI,omitempty"`
	MIMECode string `xml:"MIMECode,omitempty" json:"mIMECode,omitempty"`
	Size     int64  `xml:"SizeMeasure,omitempty" json:"size,omitempty"`
	SHA256   string `xml:"SHA256,omitempty" json:"sha256,omitempty"`
	Content  []byte `xml:"IncludedBinaryObject,omitempty" json:"content,omitempty"`
}

// ReferencedDocument is a supporting document: an invoice, a packing list,
// the scan of an original proof of origin.
type ReferencedDocument struct {
	TypeCode             string      `xml:"TypeCode,omitempty" json:"typeCode,omitempty"`
	RelationshipTypeCode string      `xml:"RelationshipTypeCode,omitempty" json:"relationshipTypeCode,omitempty"`
	ID                   string      `xml:"ID,omitempty" json:"iD,omitempty"`
	IssueDate            Date        `xml:"IssueDate,omitempty" json:"issueDate,omitzero"`
	Information          string      `xml:"Information,omitempty" json:"information,omitempty"`
	Attachment           *Attachment `xml:"AttachedBinaryFile,omitempty" json:"attachment,omitempty"`
}

// InvoiceReference is an invoice number and date (Form D box 10, Form RCEP box 13).
type InvoiceReference struct {
	ID        string `xml:"ID" json:"iD"`
	IssueDate Date   `xml:"IssueDate,omitempty" json:"issueDate,omitzero"`
	// Issuer is the invoicing company when it is not the exporter.
	Issuer string `xml:"IssuerName,omitempty" json:"issuer,omitempty"`
}

// Packaging is a number and kind of packages (UN/ECE Rec 21 type code).
type Packaging struct {
	Quantity Decimal `xml:"ItemQuantity" json:"quantity"`
	TypeCode string  `xml:"TypeCode" json:"typeCode"`
	Marks    string  `xml:"ShippingMarks,omitempty" json:"marks,omitempty"`
}

// TransportEquipment is a container or other equipment with its seals.
type TransportEquipment struct {
	ID      string   `xml:"ID" json:"iD"`
	SealIDs []string `xml:"SealID,omitempty" json:"sealIDs,omitempty"`
}

// TransportMeans is the vessel, aircraft or vehicle.
type TransportMeans struct {
	ID   string `xml:"ID,omitempty" json:"iD,omitempty"`
	Name string `xml:"Name,omitempty" json:"name,omitempty"`
}

// TransportMovement is the main carriage: mode, departure, means and journey.
type TransportMovement struct {
	// ModeCode is UN/ECE Rec 19 (1 maritime, 3 road, 4 air, ...).
	ModeCode           string          `xml:"ModeCode,omitempty" json:"modeCode,omitempty"`
	DepartureDate      Date            `xml:"DepartureDate,omitempty" json:"departureDate,omitzero"`
	JourneyID          string          `xml:"JourneyID,omitempty" json:"journeyID,omitempty"`
	UsedTransportMeans *TransportMeans `xml:"UsedTransportMeans,omitempty" json:"usedTransportMeans,omitempty"`
}

// TradeProduct is the product on a goods line.
type TradeProduct struct {
	IDs         []Identifier `xml:"ID,omitempty" json:"iDs,omitempty"`
	Description string       `xml:"Description" json:"description"`
	// HSCode is the 6-digit HS subheading (digits only).
	HSCode string `xml:"HSCode" json:"hsCode"`
	// HSEdition is the HS edition of HSCode, e.g. "HS2022".
	HSEdition string `xml:"HSEdition,omitempty" json:"hsEdition,omitempty"`
	// NationalTariffCode keeps the national 8 to 10 digits (e.g. AHTN, ITC-HS).
	NationalTariffCode string `xml:"NationalTariffCode,omitempty" json:"nationalTariffCode,omitempty"`
	// OriginCountry is where origin was acquired (RCEP country of origin).
	OriginCountry string `xml:"OriginCountryID,omitempty" json:"originCountry,omitempty"`
}

// GoodsItem is one goods line: Form D boxes 5 to 10, Form RCEP boxes 6 to 13.
type GoodsItem struct {
	SequenceNumber  int          `xml:"SequenceNumeric" json:"sequenceNumber"`
	MarksAndNumbers string       `xml:"MarksAndNumbers,omitempty" json:"marksAndNumbers,omitempty"`
	Packages        []Packaging  `xml:"TransportPackage,omitempty" json:"packages,omitempty"`
	Product         TradeProduct `xml:"TradeProduct" json:"tradeProduct"`
	// OriginCriteria are the origin-conferring criterion lines (1 to 3), e.g. "RVC", "ACU";
	// preferential profiles require at least one, a non-preferential certificate may have none.
	OriginCriteria []string `xml:"OriginCriterion,omitempty" json:"originCriteria,omitempty"`
	// RVCPercent is the regional value content, whole percent rounded down.
	RVCPercent        Decimal            `xml:"RVCPercent,omitempty" json:"rvcPercent,omitempty"`
	Quantity          Measure            `xml:"Quantity" json:"quantity"`
	GrossWeight       *Measure           `xml:"GrossWeight,omitempty" json:"grossWeight,omitempty"`
	FOBValue          *Amount            `xml:"FOBValue,omitempty" json:"fobValue,omitempty"`
	InvoiceReferences []InvoiceReference `xml:"InvoiceReference,omitempty" json:"invoiceReferences,omitempty"`
	// ProducerRef points at Consignment.Producers[i].Ref.
	ProducerRef string `xml:"ProducerRef,omitempty" json:"producerRef,omitempty"`
}

// Consignment is the shipment: parties, transport and goods.
type Consignment struct {
	ID                 *Identifier          `xml:"ID,omitempty" json:"iD,omitempty"`
	Information        string               `xml:"Information,omitempty" json:"information,omitempty"`
	Exporter           Party                `xml:"ConsignorTradeParty" json:"consignor"`
	Importer           Party                `xml:"ConsigneeTradeParty" json:"consignee"`
	Producers          []Party              `xml:"ManufacturerTradeParty,omitempty" json:"producers,omitempty"`
	ThirdPartyInvoicer *Party               `xml:"InvoicerTradeParty,omitempty" json:"thirdPartyInvoicer,omitempty"`
	MainCarriage       *TransportMovement   `xml:"MainCarriageTransportMovement,omitempty" json:"mainCarriageTransportMovement,omitempty"`
	LoadingPort        *Location            `xml:"LoadingBaseportLocation,omitempty" json:"loadingBaseportLocation,omitempty"`
	UnloadingPort      *Location            `xml:"UnloadingBaseportLocation,omitempty" json:"unloadingBaseportLocation,omitempty"`
	TransitCountries   []string             `xml:"TransitCountryID,omitempty" json:"transitCountries,omitempty"`
	Equipment          []TransportEquipment `xml:"UtilizedTransportEquipment,omitempty" json:"transportEquipment,omitempty"`
	TransportPackages  []Packaging          `xml:"TransportPackage,omitempty" json:"transportPackages,omitempty"`
	Items              []GoodsItem          `xml:"IncludedConsignmentItem" json:"includedConsignmentItems"`
}

// OriginalProof is the proof of origin behind a back-to-back certificate
// (RCEP Annex 3B (m)).
type OriginalProof struct {
	Number               string `xml:"ID" json:"number"`
	IssueDate            Date   `xml:"IssueDate" json:"issueDate"`
	IssuingCountry       string `xml:"IssuingCountryID" json:"issuingCountry"`
	RCEPCountryOfOrigin  string `xml:"OriginCountryID,omitempty" json:"rcepCountryOfOrigin,omitempty"`
	ApprovedExporterCode string `xml:"ApprovedExporterID,omitempty" json:"approvedExporterCode,omitempty"`
	IsElectronic         bool   `xml:"Electronic,omitempty" json:"isElectronic,omitempty"`
}

// Replacement names the certificate that this one replaces.
type Replacement struct {
	CertificateNumber string `xml:"ID" json:"certificateNumber"`
	IssueDate         Date   `xml:"IssueDate" json:"issueDate"`
	Version           int    `xml:"Version,omitempty" json:"version,omitempty"`
	Reason            string `xml:"Reason,omitempty" json:"reason,omitempty"`
}

// Verification says where a person or system can check the certificate.
type Verification struct {
	URL       string `xml:"URI,omitempty" json:"url,omitempty"`
	QRPayload string `xml:"QRPayload,omitempty" json:"qrPayload,omitempty"`
}

// Header is the document header: UN/CEFACT ExchangedDocument plus the
// certificate-of-origin attributes (standards.md b.2).
type Header struct {
	// ID is the certificate number, unique per issuing body.
	ID string `xml:"ID" json:"iD"`
	// UUID identifies this version technically.
	UUID    string `xml:"UUID" json:"uuid"`
	Version int    `xml:"Version" json:"version"`
	// TypeCode is UNCL 1001: 861 CO, 864 preferential CO, 865, 862 declaration of origin.
	TypeCode string `xml:"TypeCode" json:"typeCode"`
	// FunctionCode is UNCL 1225: 9 original, 5 replace, 1 cancellation, 7 duplicate, 31 copy.
	FunctionCode string `xml:"PurposeCode,omitempty" json:"messageFunction,omitempty"`
	Name         string `xml:"Name,omitempty" json:"name,omitempty"`
	// Agreement is the agreement code (RCEP, ATIGA, AANZFTA, AIFTA, AKFTA, ACFTA, NONPREF, ...)
	// and selects the validation profile.
	Agreement      string    `xml:"FreeTradeAgreement,omitempty" json:"freeTradeAgreement,omitempty"`
	IsPreferential bool      `xml:"Preferential" json:"isPreferential"`
	IssueDateTime  DateTime  `xml:"IssueDateTime" json:"issueDateTime"`
	IssueLocation  *Location `xml:"IssueLocation,omitempty" json:"issueLocation,omitempty"`
	ExportCountry  string    `xml:"ExportCountryID" json:"exportCountry"`
	ImportCountry  string    `xml:"ImportCountryID" json:"importCountry"`
	LanguageCode   string    `xml:"LanguageID" json:"languageCode"`
	// Status is UNCL 4405: 70 issued, 40 withdrawn, 41 rejected.
	Status string `xml:"StatusCode,omitempty" json:"status,omitempty"`
	// ValidUntil is derived (issue + 12 months under RCEP and ATIGA); a
	// receiver recomputes it and never trusts the sender's value.
	ValidUntil Date   `xml:"ValidUntilDate,omitempty" json:"validUntil,omitzero"`
	Remarks    string `xml:"Remarks,omitempty" json:"remarks,omitempty"`
	Flags      *Flags `xml:"Flags,omitempty" json:"flags,omitempty"`
	// Issuer is the issuing authority or body.
	Issuer               Party  `xml:"IssuerTradeParty" json:"issuer"`
	ApprovedExporterCode string `xml:"ApprovedExporterID,omitempty" json:"approvedExporterCode,omitempty"`
}

// Certificate is the canonical e-CO: one value for any certificate of
// origin that RCEP, ATIGA (Form D), AANZFTA, AIFTA, AKFTA, ACFTA or a
// non-preferential chamber issues. Its XML form is the signed exchange
// document; its JSON form follows the edi3 Certificate of Origin names.
type Certificate struct {
	XMLName         xml.Name             `xml:"urn:ecogate:eco:1 CertificateOfOrigin" json:"-"`
	Header          Header               `xml:"ExchangedDocument" json:"exchangedDocument"`
	Consignment     Consignment          `xml:"SupplyChainConsignment" json:"supplyChainConsignment"`
	OriginalProofs  []OriginalProof      `xml:"OriginalProof,omitempty" json:"originalProofs,omitempty"`
	Replaces        *Replacement         `xml:"ReplacedCertificate,omitempty" json:"replaces,omitempty"`
	FirstSignatory  Authentication       `xml:"FirstSignatoryAuthentication" json:"firstSignatoryAuthentication"`
	SecondSignatory *Authentication      `xml:"SecondSignatoryAuthentication,omitempty" json:"secondSignatoryAuthentication,omitempty"`
	Verification    *Verification        `xml:"Verification,omitempty" json:"verification,omitempty"`
	AttachedFile    *Attachment          `xml:"AttachedFile,omitempty" json:"attachedFile,omitempty"`
	References      []ReferencedDocument `xml:"ReferencedDocument,omitempty" json:"referencedDocuments,omitempty"`
}

// ItemDecision is the importing customs' decision on one goods item
// (Form D box 4, Form RCEP box 5).
type ItemDecision struct {
	SequenceNumber   int      `xml:"SequenceNumeric" json:"sequenceNumber"`
	PreferenceGiven  bool     `xml:"PreferenceGiven" json:"preferenceGiven"`
	Reason           string   `xml:"Reason,omitempty" json:"reason,omitempty"`
	UtilisedQuantity *Measure `xml:"UtilisedQuantity,omitempty" json:"utilisedQuantity,omitempty"`
}

// Outcome is the importing side's outcome for a certificate (standards.md
// b.9): carried in response messages, never inside the certificate.
type Outcome struct {
	XMLName           xml.Name       `xml:"urn:ecogate:eco:1 ImportOutcome" json:"-"`
	CertificateNumber string         `xml:"CertificateID" json:"certificateNumber"`
	ExportCountry     string         `xml:"ExportCountryID" json:"exportCountry"`
	ImportCountry     string         `xml:"ImportCountryID" json:"importCountry"`
	DecisionDateTime  DateTime       `xml:"DecisionDateTime" json:"decisionDateTime"`
	DeclarationRef    string         `xml:"CustomsDeclarationID,omitempty" json:"customsDeclarationRef,omitempty"`
	Items             []ItemDecision `xml:"ItemDecision" json:"perItem"`
}
