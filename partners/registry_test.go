package partners

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadExample loads the documented example and checks every field.
func TestLoadExample(t *testing.T) {
	r, err := Load(filepath.Join("testdata", "partners.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ps := r.Partners()
	if len(ps) != 2 || ps[0].Country != "LA" || ps[1].Country != "SG" {
		t.Fatalf("partners not sorted by country: %v", ps)
	}
	sg, err := r.Lookup("sg")
	if err != nil {
		t.Fatal(err)
	}
	if sg.Name != "Singapore Customs (test)" || sg.Endpoint.String() != "https://eco.sg.example/eco/v1" || sg.Delivery != Push {
		t.Errorf("SG: %+v", sg)
	}
	if len(sg.ClientCAs) != 1 || len(sg.Anchors) != 1 || len(sg.CRLs) != 1 || !sg.HasAgreement("rcep") || sg.HasAgreement("EUFTA") {
		t.Errorf("SG certificates or agreements: %+v", sg)
	}
	if sg.ClientCAFiles[0] != filepath.Join("testdata", "sg", "tls-ca.pem") {
		t.Errorf("relative path not resolved against the YAML directory: %s", sg.ClientCAFiles[0])
	}
	want := RetryPolicy{Attempts: 12, InitialInterval: 30 * time.Second, MaxInterval: time.Hour, Multiplier: 2, Jitter: 0.2, MaxAge: 72 * time.Hour}
	if sg.Retry != want {
		t.Errorf("SG retry %+v, want %+v", sg.Retry, want)
	}
	la, _ := r.Lookup("LA")
	if la.Delivery != Pull || la.Endpoint != nil || la.Retry != DefaultRetryPolicy() {
		t.Errorf("LA: %+v", la)
	}
	if _, err := r.Lookup("TH"); !errors.Is(err, ErrUnknownPartner) {
		t.Errorf("Lookup(TH): %v", err)
	}
	if probs := r.Check(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), 30*24*time.Hour); len(probs) != 0 {
		t.Errorf("Check of the example: %v", probs)
	}
	// The example client certificate maps to its partner.
	b, _ := os.ReadFile(filepath.Join("testdata", "sg", "client.pem"))
	blk, _ := pem.Decode(b)
	leaf, _ := x509.ParseCertificate(blk.Bytes)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: r.ClientCAPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("example client does not verify against ClientCAPool: %v", err)
	}
	if p, err := r.ByClientCert(leaf); err != nil || p.Country != "SG" {
		t.Errorf("ByClientCert(example SG client): %v %v", p, err)
	}
}

// fixture writes a CA file, an anchor and a CRL into dir and returns a valid
// partner entry using them.
func fixture(t *testing.T, dir string) string {
	t.Helper()
	now := time.Now()
	ca := makeCA(t, "ca", now.Add(-time.Hour), now.Add(365*24*time.Hour), nil)
	writeFile(t, dir, "ca.pem", certPEM(ca.cert))
	writeFile(t, dir, "anchor.pem", certPEM(ca.cert))
	writeFile(t, dir, "crl.pem", makeCRL(t, ca, now.Add(-time.Hour), now.Add(24*time.Hour)))
	writeFile(t, dir, "notpem.pem", []byte("hello"))
	writeFile(t, dir, "key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}))
	leaf := makeLeaf(t, ca, "leaf", now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	writeFile(t, dir, "leaf.pem", certPEM(leaf))
	return `
  - country: SG
    name: Singapore
    endpoint: https://sg.example/eco/v1
    tls: {clientCAs: [ca.pem]}
    documentSigning: {anchors: [anchor.pem], crls: [crl.pem]}
    agreements: [RCEP]
`
}

// TestLoadRefusesBadFiles: each bad input is refused with an error naming
// the partner and field.
func TestLoadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := fixture(t, dir)
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown field", "partners:" + good + "    colour: blue\n", []string{`unknown key "colour" in partners[0]; the keys allowed there are: country, name, endpoint, delivery, tls, documentSigning, agreements, retry`}},
		{"unknown top-level field", "self: {country: TH}\npartners:" + good, []string{`line 1: unknown key "self" in the top level; the keys allowed there are: partners`}},
		{"empty file", "", []string{"empty"}},
		{"no partners", "partners: []\n", []string{"no partner"}},
		{"two documents", "partners:" + good + "---\npartners: []\n", []string{"more than one document"}},
		{"lower-case country", "partners:" + strings.Replace(good, "SG", "sg", 1), []string{"partner sg", "country", "upper case"}},
		{"three-letter country", "partners:" + strings.Replace(good, "SG", "SGP", 1), []string{"country", "alpha-2"}},
		{"duplicate country", "partners:" + good + strings.Replace(good, "ca.pem", "leaf.pem", 1), []string{"SG", "listed twice"}},
		{"missing name", "partners:" + strings.Replace(good, "name: Singapore", "name: ' '", 1), []string{"partner SG", "name: missing"}},
		{"http endpoint", "partners:" + strings.Replace(good, "https://", "http://", 1), []string{"endpoint", "https"}},
		{"endpoint without host", "partners:" + strings.Replace(good, "https://sg.example/eco/v1", "https:///eco", 1), []string{"endpoint", "no host"}},
		{"endpoint with credentials", "partners:" + strings.Replace(good, "https://", "https://u:p@", 1), []string{"endpoint", "credentials"}},
		{"push without endpoint", "partners:" + strings.Replace(good, "    endpoint: https://sg.example/eco/v1\n", "", 1), []string{"endpoint", "missing"}},
		{"bad delivery", "partners:" + good + "    delivery: carrier-pigeon\n", []string{"delivery", "carrier-pigeon"}},
		{"no agreements", "partners:" + strings.Replace(good, "[RCEP]", "[]", 1), []string{"agreements"}},
		{"bad agreement code", "partners:" + strings.Replace(good, "[RCEP]", "['RCEP; drop']", 1), []string{"agreements", "not an agreement code"}},
		{"no client CA", "partners:" + strings.Replace(good, "[ca.pem]", "[]", 1), []string{"tls.clientCAs", "at least one"}},
		{"missing CA file", "partners:" + strings.Replace(good, "[ca.pem]", "[nope.pem]", 1), []string{"tls.clientCAs", "nope.pem", "no such file"}},
		{"CA file not PEM", "partners:" + strings.Replace(good, "[ca.pem]", "[notpem.pem]", 1), []string{"tls.clientCAs", "neither PEM nor DER: expected a CERTIFICATE"}},
		{"key in CA file", "partners:" + strings.Replace(good, "[ca.pem]", "[key.pem]", 1), []string{"tls.clientCAs", "PRIVATE KEY"}},
		{"leaf as client CA", "partners:" + strings.Replace(good, "[ca.pem]", "[leaf.pem]", 1), []string{"tls.clientCAs", "not a CA"}},
		{"no anchors", "partners:" + strings.Replace(good, "anchors: [anchor.pem], ", "", 1), []string{"documentSigning.anchors", "at least one"}},
		{"bad CRL", "partners:" + strings.Replace(good, "[crl.pem]", "[anchor.pem]", 1), []string{"documentSigning.crls", "X509 CRL"}},
		{"same CA for two partners", "partners:" + good + strings.Replace(good, "SG", "TH", 1), []string{"partner TH", "also listed for SG", "ambiguous"}},
		{"retry attempts zero", "partners:" + good + "    retry: {attempts: 0}\n", []string{"retry", "attempts 0"}},
		{"retry bad duration", "partners:" + good + "    retry: {maxAge: forever}\n", []string{"retry", "maxAge", "forever"}},
		{"retry max below initial", "partners:" + good + "    retry: {initialInterval: 1h, maxInterval: 1m}\n", []string{"maxInterval"}},
		{"retry jitter above 1", "partners:" + good + "    retry: {jitter: 1.5}\n", []string{"jitter"}},
		{"retry multiplier below 1", "partners:" + good + "    retry: {multiplier: 0.5}\n", []string{"multiplier"}},
		{"retry unknown field", "partners:" + good + "    retry: {tries: 3}\n", []string{`unknown key "tries" in partners[0].retry; the keys allowed there are: attempts, initialInterval`}},
		{"several problems at once", "partners:" + strings.Replace(strings.Replace(good, "SG", "sgp", 1), "https://", "ftp://", 1), []string{"2 problem(s)", "country", "endpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, "partners.yaml", []byte(tt.yaml))
			r, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", r.Partners())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
	// And the good entry alone loads.
	path := writeFile(t, dir, "partners.yaml", []byte("partners:"+good))
	if _, err := Load(path); err != nil {
		t.Fatalf("good entry: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing registry file: %v", err)
	}
}

// TestByClientCert maps client certificates to partners and refuses the
// unknown, the expired, the wrong usage and the ambiguous.
func TestByClientCert(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	from, to := now.Add(-24*time.Hour), now.Add(365*24*time.Hour)
	sgCA, thCA, strangerCA := makeCA(t, "SG TLS CA", from, to, nil), makeCA(t, "TH TLS CA", from, to, nil), makeCA(t, "stranger", from, to, nil)
	// A second certificate for TH's CA key and name, listed under VN: any
	// leaf TH's CA issues verifies under both.
	vnCA := makeCA(t, "TH TLS CA", from, to, thCA.key.(*ecdsaKey))
	for name, c := range map[string]testCA{"sg.pem": sgCA, "th.pem": thCA, "vn.pem": vnCA} {
		writeFile(t, dir, name, certPEM(c.cert))
	}
	entry := func(cc, ca string) string {
		return "  - {country: " + cc + ", name: " + cc + ", endpoint: 'https://" + cc + ".example', tls: {clientCAs: [" + ca + "]}, documentSigning: {anchors: [" + ca + "]}, agreements: [RCEP]}\n"
	}
	path := writeFile(t, dir, "p.yaml", []byte("partners:\n"+entry("SG", "sg.pem")+entry("TH", "th.pem")+entry("VN", "vn.pem")))
	r, err := Load(path, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	inter := makeCA(t, "SG intermediate", from, to, nil)
	// Re-issue the intermediate under SG's CA.
	interCert := issueCA(t, sgCA, inter)
	tests := []struct {
		name  string
		leaf  *x509.Certificate
		inter []*x509.Certificate
		want  string
		err   error
	}{
		{"SG client", makeLeaf(t, sgCA, "sg node", to, x509.ExtKeyUsageClientAuth), nil, "SG", nil},
		{"SG client via intermediate", makeLeaf(t, testCA{interCert, inter.key}, "sg node 2", to, x509.ExtKeyUsageClientAuth), []*x509.Certificate{interCert}, "SG", nil},
		{"SG client without its intermediate", makeLeaf(t, testCA{interCert, inter.key}, "sg node 3", to, x509.ExtKeyUsageClientAuth), nil, "", ErrUnknownPartner},
		{"stranger", makeLeaf(t, strangerCA, "x", to, x509.ExtKeyUsageClientAuth), nil, "", ErrUnknownPartner},
		{"expired", makeLeaf(t, sgCA, "old", now.Add(-time.Hour), x509.ExtKeyUsageClientAuth), nil, "", ErrUnknownPartner},
		{"server usage only", makeLeaf(t, sgCA, "srv", to, x509.ExtKeyUsageServerAuth), nil, "", ErrUnknownPartner},
		{"ambiguous", makeLeaf(t, thCA, "th node", to, x509.ExtKeyUsageClientAuth), nil, "", ErrAmbiguous},
		{"nil", nil, nil, "", ErrUnknownPartner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.ByClientCert(tt.leaf, tt.inter...)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v %v, want %v", p, err, tt.err)
				}
				return
			}
			if err != nil || p.Country != tt.want {
				t.Fatalf("got %v %v, want %s", p, err, tt.want)
			}
		})
	}
}

// TestCheckReportsExpiry: Check flags expired and soon-expiring
// certificates and stale CRLs, and nothing for healthy ones.
func TestCheckReportsExpiry(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	soon := makeCA(t, "soon", now.Add(-day), now.Add(10*day), nil)
	fine := makeCA(t, "fine", now.Add(-day), now.Add(400*day), nil)
	writeFile(t, dir, "soon.pem", certPEM(soon.cert))
	writeFile(t, dir, "fine.pem", certPEM(fine.cert))
	writeFile(t, dir, "stale.crl", makeCRL(t, fine, now.Add(-10*day), now.Add(-day)))
	path := writeFile(t, dir, "p.yaml", []byte(`partners:
  - {country: SG, name: SG, endpoint: "https://sg.example", tls: {clientCAs: [soon.pem]}, documentSigning: {anchors: [fine.pem], crls: [stale.crl]}, agreements: [RCEP]}
`))
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	probs := r.Check(now, 30*day)
	if len(probs) != 2 || probs[0].Field != "tls.clientCAs" || !strings.Contains(probs[0].Message, "in 10 days") || probs[1].Field != "documentSigning.crls" {
		t.Fatalf("Check: %v", probs)
	}
	if probs := r.Check(now.Add(11*day), 0); len(probs) != 2 || !strings.Contains(probs[0].Message, "expired") {
		t.Fatalf("Check after expiry: %v", probs)
	}
}
