package issuance

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Role is what a person may do.
type Role string

// The roles.
const (
	RoleExporterAdmin Role = "exporter-admin" // manages one IEC's applicants; may also apply
	RoleApplicant     Role = "applicant"      // files applications under one IEC
	RoleAgencyAdmin   Role = "agency-admin"   // manages one agency's offices and officers
	RoleOfficer       Role = "officer"        // reviews and issues at the offices mapped to them
	RoleOperator      Role = "operator"       // runs the node; approves agency administrators
)

// Roles lists every role.
var Roles = []Role{RoleExporterAdmin, RoleApplicant, RoleAgencyAdmin, RoleOfficer, RoleOperator}

// exporterSide reports whether r acts for an exporter (an IEC).
func (r Role) exporterSide() bool { return r == RoleExporterAdmin || r == RoleApplicant }

// Actor is who asks: the authenticated person's id and the role the
// session acts in. The Service checks both against the stored person (or,
// for the operator, against Config.Operators); it trusts neither.
type Actor struct {
	ID   string
	Role Role
}

func (a Actor) String() string { return string(a.Role) + ":" + a.ID }

// PersonStatus is where a person's account stands.
type PersonStatus string

// Person statuses.
const (
	PersonPending  PersonStatus = "pending"  // registered, awaiting approval
	PersonActive   PersonStatus = "active"   // may act
	PersonInactive PersonStatus = "inactive" // deactivated or removed; may not act
)

// Person is one user account. ID is the login (an official e-mail
// address, lower case). Org is the IEC (exporter roles) or the agency id
// (agency roles). Offices are the offices an officer is mapped to.
type Person struct {
	ID         string       `json:"id"`
	Name       string       `json:"name"`
	Email      string       `json:"email"`
	Role       Role         `json:"role"`
	Org        string       `json:"org"`
	Offices    []string     `json:"offices,omitempty"`
	Status     PersonStatus `json:"status"`
	Registered time.Time    `json:"registered"`
	// ApprovedBy is who activated the account (the operator for an agency
	// administrator, the agency administrator for an officer, the exporter
	// administrator for an applicant).
	ApprovedBy string    `json:"approvedBy,omitempty"`
	Updated    time.Time `json:"updated"`
}

// mappedTo reports whether an officer is mapped to office.
func (p *Person) mappedTo(office string) bool {
	for _, o := range p.Offices {
		if o == office {
			return true
		}
	}
	return false
}

// Branch is one branch of an exporter as the trade registry lists it; only
// its GSTIN is entered on this node.
type Branch struct {
	ID      string `json:"id" yaml:"id"`
	Address string `json:"address" yaml:"address"`
	GSTIN   string `json:"gstin,omitempty" yaml:"gstin,omitempty"`
}

// Exporter is an exporting organisation, keyed by its IEC. Name, address,
// contact and branches come from the trade registry (Registry) and are not
// edited here.
type Exporter struct {
	IEC      string    `json:"iec"`
	Name     string    `json:"name"`
	Address  string    `json:"address"`
	GSTIN    string    `json:"gstin"`
	Email    string    `json:"email,omitempty"`
	Mobile   string    `json:"mobile,omitempty"`
	Branches []Branch  `json:"branches,omitempty"`
	Admin    string    `json:"admin"`
	Fetched  time.Time `json:"fetched"`
	Created  time.Time `json:"created"`
}

// AgencyStatus is where an issuing agency stands.
type AgencyStatus string

// Agency statuses.
const (
	AgencyPending AgencyStatus = "pending" // its administrator's registration awaits the operator
	AgencyActive  AgencyStatus = "active"
)

// Agency is an issuing agency (an export inspection council, a chamber of
// commerce). Series is the prefix of its certificate numbers.
type Agency struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Series string       `json:"series"`
	Admin  string       `json:"admin"`
	Status AgencyStatus `json:"status"`
	// AuthorisationLetterSHA256 is the hex SHA-256 of the authorisation
	// letter attached to the administrator's registration.
	AuthorisationLetterSHA256 string    `json:"authorisationLetterSha256,omitempty"`
	Created                   time.Time `json:"created"`
	Approved                  time.Time `json:"approved,omitzero"`
}

// Office is one office of an agency. Fees are per application kind in
// minor units. MerchantID and ChecksumKey are the payment gateway's
// parameters (ChecksumKey is a secret: never logged or audited).
type Office struct {
	ID          string         `json:"id"`
	Agency      string         `json:"agency"`
	Code        string         `json:"code"`
	Name        string         `json:"name"`
	Address     string         `json:"address"`
	Currency    string         `json:"currency"`
	Fees        map[Kind]int64 `json:"fees"`
	EWallet     bool           `json:"eWallet"`
	MerchantID  string         `json:"merchantId"`
	ChecksumKey string         `json:"checksumKey"`
	Created     time.Time      `json:"created"`
	Updated     time.Time      `json:"updated"`
}

// ValidIEC checks the form of an Importer Exporter Code: 10 characters,
// either 10 digits (codes issued before 2020) or a PAN (five letters, four
// digits, one letter; upper case).
func ValidIEC(iec string) error {
	if len(iec) != 10 {
		return fmt.Errorf("IEC %q must be 10 characters, it has %d", iec, len(iec))
	}
	if allDigits(iec) {
		return nil
	}
	if !isPAN(iec) {
		return fmt.Errorf("IEC %q is neither 10 digits nor a PAN (5 letters, 4 digits, 1 letter, upper case)", iec)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isPAN(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < 10; i++ {
		c := s[i]
		letter := c >= 'A' && c <= 'Z'
		digit := c >= '0' && c <= '9'
		if (i < 5 || i == 9) && !letter || (i >= 5 && i < 9) && !digit {
			return false
		}
	}
	return true
}

const gstinChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// ValidGSTIN checks a GST identification number: 15 characters (two-digit
// state code, the PAN, the entity number, "Z", a check character) and its
// check character (mod 36).
func ValidGSTIN(g string) error {
	if len(g) != 15 {
		return fmt.Errorf("GSTIN %q must be 15 characters, it has %d", g, len(g))
	}
	if !allDigits(g[:2]) || !isPAN(g[2:12]) || strings.IndexByte(gstinChars[1:], g[12]) < 0 || g[13] != 'Z' {
		return fmt.Errorf("GSTIN %q is not of the form 99AAAAA9999A1Z9 (state code, PAN, entity number, Z, check character)", g)
	}
	sum := 0
	for i := 0; i < 14; i++ {
		v := strings.IndexByte(gstinChars, g[i]) * (i%2 + 1)
		sum += v/36 + v%36
	}
	if want := gstinChars[(36-sum%36)%36]; g[14] != want {
		return fmt.Errorf("GSTIN %q has a wrong check character (%c); check the number for a typing error", g, g[14])
	}
	return nil
}

// validGatewayParam refuses a blank payment-gateway parameter or one with
// spaces or other invisible characters (the DGFT notice: a mistyped
// merchant id or checksum breaks payment for every exporter).
func validGatewayParam(v string) string {
	if v == "" {
		return "is blank; enter the value the payment gateway gave you"
	}
	for _, r := range v {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return "contains spaces or invisible characters; enter it exactly as the payment gateway gave it"
		}
	}
	if len(v) > 256 {
		return "is longer than 256 characters"
	}
	return ""
}

// normID lower-cases and trims a login.
func normID(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
