package samplecert

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/ecogate/ecogate/schema"
)

// sampleAIFTA is an unsigned AIFTA certificate of origin from India to
// Viet Nam (a copy of schema/testdata/valid/aifta.xml).
//
//go:embed aifta.xml
var sampleAIFTA []byte

// Certificate returns the sample AIFTA e-CO (India to Viet Nam),
// unsigned, with the given number and version; number "" keeps the
// sample's. from and to, when not empty, replace the export (and issuing
// body's) and import countries. For demos, tests and benchmarks.
func Certificate(number string, version int, from, to string) (*schema.Certificate, error) {
	c, fs := schema.DecodeXML(sampleAIFTA, schema.DecodeOptions{})
	if fs != nil {
		return nil, fmt.Errorf("decode the embedded sample: %v", fs)
	}
	if number != "" {
		c.Header.ID = number
	}
	if version > 0 {
		c.Header.Version = version
	}
	if from != "" {
		c.Header.ExportCountry = from
		if c.Header.Issuer.Address != nil {
			c.Header.Issuer.Address.CountryCode = from // the issuing body is in the export country
		}
	}
	if to != "" {
		c.Header.ImportCountry = to
	}
	c.Header.UUID = uuidFor(c.Header.ID, c.Header.Version)
	return c, nil
}

// XML is Certificate encoded as XML.
func XML(number string, version int, from, to string) ([]byte, error) {
	c, err := Certificate(number, version, from, to)
	if err != nil {
		return nil, err
	}
	return schema.EncodeXML(c)
}

// uuidFor makes a stable, well-formed UUID (version 8, name-based) from a
// certificate number and version.
func uuidFor(number string, version int) string {
	sum := sha256.Sum256([]byte(number + "/" + strconv.Itoa(version)))
	h := hex.EncodeToString(sum[:])
	return h[0:8] + "-" + h[8:12] + "-8" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}
