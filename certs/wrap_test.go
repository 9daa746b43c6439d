package certs

import (
	"bytes"
	"strings"
	"testing"
)

// TestWrappingAttacksOnECO aims signature-wrapping tricks at our own
// format. Each must be rejected with the stated reason, or, where the
// change is harmless (a comment that does not alter the text), verify with
// a verified element that holds none of the attacker's content.
func TestWrappingAttacksOnECO(t *testing.T) {
	p := testPKI(t)
	signed := string(mustSign(t, p.SignerECDSA, p, ecoDoc(3)))
	sigStart := strings.Index(signed, "<ds:Signature")
	sigEnd := strings.Index(signed, "</ds:Signature>") + len("</ds:Signature>")
	sig := signed[sigStart:sigEnd]
	unsignedBody := signed[:sigStart] + signed[sigEnd:]
	evilLine := `<IncludedConsignmentItem><SequenceNumeric>99</SequenceNumeric><Description>EVIL smuggled goods</Description><HSCode>930100</HSCode></IncludedConsignmentItem>`

	// A forged e-CO signed by a self-made key.
	stranger, err := NewDevPKI(PKIOptions{Now: testNow.Add(-time24h), Name: "attacker"})
	if err != nil {
		t.Fatal(err)
	}
	forged := string(mustSign(t, stranger.SignerECDSA, stranger, bytes.Replace(ecoDoc(3), []byte("620520"), []byte("930100"), -1)))

	for _, tc := range []struct {
		name   string
		doc    string
		reason string // "" = must verify, without attacker content
	}{
		{"untouched", signed, ""},
		{"signature moved into ExchangedDocument", strings.Replace(unsignedBody, "</ExchangedDocument>", sig+"</ExchangedDocument>", 1), "profile.signature-position"},
		{"signature first child of root", strings.Replace(unsignedBody, "<ExchangedDocument>", sig+"<ExchangedDocument>", 1), "profile.signature-position"},
		{"goods line appended after the signature", strings.Replace(signed, "</ds:Signature>", "</ds:Signature>"+evilLine, 1), "profile.signature-position"},
		{"goods line appended before the signature", strings.Replace(signed, "<ds:Signature", evilLine+"<ds:Signature", 1), "integrity.digest"},
		{"second signature", strings.Replace(signed, "</ds:Signature>", "</ds:Signature>"+sig, 1), "profile.signature-count"},
		{"second signature inside a goods line", strings.Replace(signed, "</IncludedConsignmentItem>", sig+"</IncludedConsignmentItem>", 1), "profile.signature-count"},
		{"payload inside ds:Signature", strings.Replace(signed, "</ds:KeyInfo>", "</ds:KeyInfo>"+evilLine, 1), "profile.structure"},
		{"payload inside ds:KeyInfo", strings.Replace(signed, "</ds:X509Data>", "</ds:X509Data>"+evilLine, 1), "profile.keyinfo"},
		{"payload inside ds:SignedInfo", strings.Replace(signed, "</ds:Reference>", "</ds:Reference>"+evilLine, 1), "profile.reference"},
		{"goods line inside ds:Object", strings.Replace(signed, "</ds:KeyInfo>", "</ds:KeyInfo><ds:Object>"+evilLine+"</ds:Object>", 1), "profile.object"},
		{"whole forged e-CO inside ds:Object", strings.Replace(signed, "</ds:KeyInfo>", "</ds:KeyInfo><ds:Object>"+strings.TrimPrefix(forged, `<?xml version="1.0" encoding="UTF-8"?>`)+"</ds:Object>", 1), "profile.object"},
		{"signed e-CO wrapped in a new root", `<CertificateOfOrigin xmlns="urn:ecogate:eco:1">` + evilLine + strings.TrimPrefix(signed, `<?xml version="1.0" encoding="UTF-8"?>`) + `</CertificateOfOrigin>`, "profile.signature-position"},
		{"duplicate goods line with the same sequence", strings.Replace(signed, "<IncludedConsignmentItem>", evilLine+"<IncludedConsignmentItem>", 1), "integrity.digest"},
		{"duplicate ID attribute", strings.Replace(signed, "<ExchangedDocument>", `<ExchangedDocument ID="a" ID="b">`, 1), "xml.duplicate-attr"},
		{"Reference URI to an ID", strings.Replace(signed, `URI=""`, `URI="#x"`, 1), "profile.reference"},
		{"comment inside signed text, text unchanged", strings.Replace(signed, "VN-AK-2026-000123", "VN-AK-2026<!-- EVIL -->-000123", 1), ""},
		{"comment truncation trick (CVE-2018-7340 class)", strings.Replace(signed, "VN-AK-2026-000123", "VN-AK-2026-000123<!-- EVIL -->.evil", 1), "integrity.digest"},
		{"comment inside DigestValue", strings.Replace(signed, "</ds:DigestValue>", "<!-- EVIL --></ds:DigestValue>", 1), "profile.structure"},
		{"CDATA re-encoding of signed text", strings.Replace(signed, "Ho Chi Minh City", "<![CDATA[Ho Chi Minh City]]>", 1), ""},
		{"attacker certificate first in X509Data", strings.Replace(signed, "<ds:X509Data>", "<ds:X509Data><ds:X509Certificate>"+b64Cert(stranger.SignerECDSA.Cert)+"</ds:X509Certificate>", 1), "integrity.signature-value"},
		{"forged e-CO re-signed by an untrusted key", forged, "trust.unknown-authority"},
		{"DOCTYPE with entity", strings.Replace(signed, "<CertificateOfOrigin", `<!DOCTYPE x [<!ENTITY e "EVIL">]><CertificateOfOrigin`, 1), "xml.doctype"},
		{"processing instruction", strings.Replace(signed, "<ExchangedDocument>", "<?evil x?><ExchangedDocument>", 1), "xml.proc-inst"},
		{"xmlns:ds un-declaration", strings.Replace(signed, "<ds:SignedInfo>", `<ds:SignedInfo xmlns:ds="">`, 1), "xml.bad-name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &Verifier{Trust: trustFor(t, p), At: testNow}
			res, err := v.Verify([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason == "" {
				if !res.Valid {
					t.Fatalf("rejected: %+v", res.Report)
				}
				if !bytes.Equal(ExcC14N(res.Element, nil, nil), res.Signed) {
					t.Fatalf("verified element differs from the signed octets")
				}
				out, _ := elementString(res)
				if strings.Contains(out, "EVIL") || strings.Contains(out, "Signature") {
					t.Fatalf("verified element holds attacker content or the signature:\n%s", out)
				}
				return
			}
			if res.Valid || res.Element != nil {
				t.Fatalf("verified; want %s", tc.reason)
			}
			if got := res.Report.First().Reason; got != tc.reason {
				t.Errorf("reason %s (%s), want %s", got, res.Report.First().Detail, tc.reason)
			}
		})
	}
}
