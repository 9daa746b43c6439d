package certs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/testenv"
)

// vectorFiles lists the files of a shared vectors folder matching pattern.
func vectorFiles(t *testing.T, pattern string, elem ...string) []string {
	t.Helper()
	dir := testenv.Shared(t, append([]string{"vectors"}, elem...)...)
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("no vectors %s in %s", pattern, dir)
	}
	sort.Strings(m)
	return m
}

// verifyFile verifies a shared vector against our dev PKI: any outside
// vector must be rejected before trust could make it valid.
func verifyFile(t *testing.T, path string) *Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Trust: trustFor(t, testPKI(t)), At: testNow}
	res, err := v.Verify(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return res
}

// TestOutsideVectorsRejected runs every outside attack and interop file
// through Verify: none may verify, each must fail with a reason code, and
// where a specific reason is known it must be that one.
func TestOutsideVectorsRejected(t *testing.T) {
	type group struct {
		name    string
		glob    []string
		w3c     bool              // W3C interop suite: out of profile, naming the algorithm/transform
		reasons map[string]string // file base name -> required reason
	}
	groups := []group{
		{name: "crewjam-saml XSW", glob: []string{"*.xml", "crewjam-saml", "decoded"}},
		{name: "xml-crypto", glob: []string{"*.xml", "xml-crypto", "static"}, reasons: map[string]string{
			"unsigned_saml_response.xml":     "profile.no-signature",
			"valid_saml_withcomments.xml":    "profile.algorithm",
			"windows_store_signature.xml":    "profile.structure",
			"hmac_signature.xml":             "profile.algorithm",
			"valid_saml_sha256_rsa_mgf1.xml": "profile.algorithm",
		}},
		{name: "goxmldsig GHSA-q547", glob: []string{"*.xml", "goxmldsig"}, reasons: map[string]string{
			"spoofedAsTodd.xml":    "xml.bad-name", // xmlns:ds="" un-declaration
			"modifiedToBeTodd.xml": "profile.signature-count",
			"validExample.xml":     "profile.signature-count",
		}},
		{name: "santuario unknown algorithm", glob: []string{"*.xml", "santuario", "temp-signature"}, reasons: map[string]string{
			"signature-bad-c14n-algo.xml":      "profile.algorithm",
			"signature-bad-sig-algo.xml":       "profile.algorithm",
			"signature-bad-transform-algo.xml": "profile.algorithm",
		}},
		{name: "santuario HMAC truncation", glob: []string{"*.xml", "santuario", "javax-dsig"}, reasons: map[string]string{
			"signature-enveloping-hmac-sha1-trunclen-0-attack.xml": "profile.algorithm",
			"signature-enveloping-hmac-sha1-trunclen-8-attack.xml": "profile.algorithm",
		}},
		{name: "santuario manifest wrapping", glob: []string{"*.xml", "santuario", "iaik"}},
		{name: "defusedxml", glob: []string{"*.xml", "defusedxml", "xmltestdata"}, reasons: map[string]string{
			"xmlbomb.xml": "xml.doctype", "xmlbomb2.xml": "xml.doctype", "quadratic.xml": "xml.doctype",
			"cyclic.xml": "xml.doctype", "external.xml": "xml.doctype", "external_file.xml": "xml.doctype",
			"dtd.xml": "xml.doctype", "dtd_element.xml": "xml.doctype",
		}},
		{name: "signxml enveloped C14N 1.1", glob: []string{"*.xml", "signxml", "interop", "aleksey-xmldsig-01-enveloped"}},
		{name: "signxml XAdES trusted list", glob: []string{"*.xml", "signxml", "xades"}, reasons: map[string]string{
			"dk_tl-sn21.xml": "profile.algorithm", // a SHA-1 digest (XAdES cert digest) besides the in-profile core; also 2 References and a ds:Object
		}},
		{name: "merlin", w3c: true, glob: []string{"*.xml", "xmlsec", "tests", "merlin-xmldsig-twenty-three"}},
		{name: "phaos", w3c: true, glob: []string{"*.xml", "xmlsec", "tests", "phaos-xmldsig-three"}},
		{name: "xmldsig11", w3c: true, glob: []string{"*.xml", "xmlsec", "tests", "xmldsig11-interop-2012"}},
		{name: "aleksey-xmldsig-01", w3c: true, glob: []string{"*.xml", "xmlsec", "tests", "aleksey-xmldsig-01"}},
	}
	total := 0
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, f := range vectorFiles(t, g.glob[0], g.glob[1:]...) {
				total++
				base := filepath.Base(f)
				res := verifyFile(t, f)
				e := res.Report.First()
				t.Logf("%s: %s %.100s", base, e.Reason, e.Detail)
				if res.Valid || res.Element != nil {
					t.Errorf("%s: verified; it must be rejected", base)
					continue
				}
				if e.Reason == "" || e.Detail == "" {
					t.Errorf("%s: rejected without a reason: %+v", base, res.Report)
				}
				if want, ok := g.reasons[base]; ok && e.Reason != want {
					t.Errorf("%s: reason %s (%s), want %s", base, e.Reason, e.Detail, want)
				}
				if g.w3c {
					if e.Check != CheckProfile {
						t.Errorf("%s: rejected by %s, want the algorithm profile", base, e.Check)
					}
					if (e.Reason == "profile.algorithm" || e.Reason == "profile.transform") && !strings.Contains(e.Detail, "http") {
						t.Errorf("%s: detail does not name the algorithm: %s", base, e.Detail)
					}
				}
			}
		})
	}
}
