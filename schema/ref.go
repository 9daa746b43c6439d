package schema

import "fmt"

// CertRef is the business key of one version of a certificate: the issuing
// (exporting) country, the certificate number and the version.
type CertRef struct {
	Country string `json:"country"`
	Number  string `json:"number"`
	Version int    `json:"version"`
}

// String formats the reference as COUNTRY/NUMBER/vVERSION, e.g. "VN/VN-2026-000123/v1".
func (r CertRef) String() string { return fmt.Sprintf("%s/%s/v%d", r.Country, r.Number, r.Version) }

// Ref returns the business key of the certificate.
func (c *Certificate) Ref() CertRef {
	return CertRef{Country: c.Header.ExportCountry, Number: c.Header.ID, Version: c.Header.Version}
}
