package conformance

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ecogate/ecogate/certs"
)

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// verifyUnderProfile verifies a document the node signed against the
// signing certificates of its profile (the last one as anchor: the kit
// does not know the node's root).
func verifyUnderProfile(p *Profile, doc []byte, now time.Time) error {
	if len(p.SigningCertificates) == 0 {
		return errors.New("the profile names no signingCertificates to verify the node's documents with")
	}
	ts := &certs.TrustSet{}
	for _, der := range p.SigningCertificates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("profile signingCertificates: %v", err)
		}
		ts.AnchorCerts = append(ts.AnchorCerts, c)
	}
	v := &certs.Verifier{Trust: ts, At: now}
	res, err := v.Verify(doc)
	if err != nil {
		return fmt.Errorf("verify the node's document: %v", err)
	}
	if !res.Valid {
		f := res.Report.First()
		return fmt.Errorf("the node's document does not verify under its profile's signing certificates: %s %s: %s", f.Check, f.Reason, f.Detail)
	}
	return nil
}
