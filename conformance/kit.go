package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// DefaultCountry is the kit's country when InitOptions.Country is empty:
// AQ (Antarctica), an ISO 3166-1 code that no customs node speaks for.
const DefaultCountry = "AQ"

// Kit is a loaded kit directory: the kit's identity and its test PKI.
type Kit struct {
	// Dir is the kit directory.
	Dir string
	// Country is the kit's ISO 3166-1 alpha-2 code (the partner it plays).
	Country string
	// Name is the kit's name for people.
	Name string

	// Root anchors the kit's document signing, TLS clients and receipts;
	// Intermediate issues the document signers.
	Root, Intermediate certs.KeyCert
	// Signer (ECDSA P-256) and SignerRSA (RSA-2048) are good document signers.
	Signer, SignerRSA certs.KeyCert
	// SignerRevoked is revoked by the intermediate's CRL (node/signing-crls.pem).
	SignerRevoked certs.KeyCert
	// SignerExpired expired before the kit was made.
	SignerExpired certs.KeyCert
	// OtherRoot is a root the node does not trust; SignerWrongAnchor chains to it.
	OtherRoot, SignerWrongAnchor certs.KeyCert
	// Impostor has the intermediate's name and another key; SignerSameName
	// has the good signer's name, another key, and is issued by Impostor.
	Impostor, SignerSameName certs.KeyCert
	// TLSClient is the registered TLS client; TLSClientExpired is expired;
	// TLSClientUnknown chains to OtherRoot.
	TLSClient, TLSClientExpired, TLSClientUnknown certs.KeyCert
	// TLSServer is the reference partner's server certificate (Serve).
	TLSServer certs.KeyCert
	// Receipt signs the kit's receipts (pull-mode acks, Serve).
	Receipt certs.KeyCert
}

// InitOptions tune Init.
type InitOptions struct {
	// Country is the kit's country (default DefaultCountry).
	Country string
	// Name is the kit's name (default "ecogate conformance kit").
	Name string
	// Endpoint is where Serve will listen as partners reach it (for the
	// partner entry); default https://127.0.0.1:9443/eco/v1.
	Endpoint string
	// Now is the issue time; zero means time.Now().
	Now time.Time
}

type kitFile struct {
	Country  string    `json:"country"`
	Name     string    `json:"name"`
	Endpoint string    `json:"endpoint"`
	Created  time.Time `json:"created"`
}

// the PKI files, by role
var kitKeyFiles = []string{"root", "intermediate", "signer", "signer-rsa", "signer-revoked", "signer-expired",
	"other-root", "signer-wrong-anchor", "impostor-ca", "signer-same-name",
	"tls-client", "tls-client-expired", "tls-client-unknown", "tls-server", "receipt"}

func (k *Kit) slots() []*certs.KeyCert {
	return []*certs.KeyCert{&k.Root, &k.Intermediate, &k.Signer, &k.SignerRSA, &k.SignerRevoked, &k.SignerExpired,
		&k.OtherRoot, &k.SignerWrongAnchor, &k.Impostor, &k.SignerSameName,
		&k.TLSClient, &k.TLSClientExpired, &k.TLSClientUnknown, &k.TLSServer, &k.Receipt}
}

// Init makes a kit in dir (which must be empty or new): the test PKI in
// dir/pki, the trust files and partner entry the node under test loads in
// dir/node, and INSTRUCTIONS.md.
func Init(dir string, opt InitOptions) (*Kit, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s is not empty; give a new or empty directory for the kit", dir)
	}
	country := strings.ToUpper(strings.TrimSpace(opt.Country))
	if country == "" {
		country = DefaultCountry
	}
	if len(country) != 2 || country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' || country[1] > 'Z' {
		return nil, fmt.Errorf("country %q is not an ISO 3166-1 alpha-2 code (two letters)", opt.Country)
	}
	name := opt.Name
	if name == "" {
		name = "ecogate conformance kit"
	}
	endpoint := opt.Endpoint
	if endpoint == "" {
		endpoint = "https://127.0.0.1:9443/eco/v1"
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	k, err := newKitPKI(country, name, now)
	if err != nil {
		return nil, err
	}
	k.Dir = dir
	for _, d := range []string{"pki", "node"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for i, slot := range k.slots() {
		kb, err := certs.KeyPEM(slot.Key)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "pki", kitKeyFiles[i]+"-key.pem"), kb, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "pki", kitKeyFiles[i]+"-cert.pem"), certs.CertPEM(slot.Cert), 0o644); err != nil {
			return nil, err
		}
	}
	rootCRL, err := certs.IssueCRL(k.Root, nil, now.Add(-time.Hour), now.AddDate(1, 0, 0), 1)
	if err != nil {
		return nil, err
	}
	intCRL, err := certs.IssueCRL(k.Intermediate, []*x509.Certificate{k.SignerRevoked.Cert}, now.Add(-time.Hour), now.AddDate(1, 0, 0), 1)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"node/tls-ca.pem":          certs.CertPEM(k.Root.Cert),
		"node/signing-anchors.pem": certs.CertPEM(k.Root.Cert),
		"node/signing-crls.pem":    append(append([]byte{}, rootCRL...), intCRL...),
		"node/tls-crls.pem":        rootCRL,
		"node/partners-entry.yaml": []byte(fmt.Sprintf(partnerEntry, country, name, endpoint)),
		"INSTRUCTIONS.md":          []byte(fmt.Sprintf(instructions, country, name, country)),
	}
	kf, _ := json.MarshalIndent(kitFile{Country: country, Name: name, Endpoint: endpoint, Created: now.UTC()}, "", "  ")
	files["kit.json"] = append(kf, '\n')
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Load reads a kit directory made by Init.
func Load(dir string) (*Kit, error) {
	b, err := os.ReadFile(filepath.Join(dir, "kit.json"))
	if err != nil {
		return nil, fmt.Errorf("load kit: %w (make one with: ecogate conformance init %s)", err, dir)
	}
	var kf kitFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("load kit: %s/kit.json: %w", dir, err)
	}
	k := &Kit{Dir: dir, Country: kf.Country, Name: kf.Name}
	for i, slot := range k.slots() {
		base := filepath.Join(dir, "pki", kitKeyFiles[i])
		kb, err := os.ReadFile(base + "-key.pem")
		if err != nil {
			return nil, fmt.Errorf("load kit: %w", err)
		}
		if slot.Key, err = certs.ParsePrivateKey(kb); err != nil {
			return nil, fmt.Errorf("load kit: %s-key.pem: %w", base, err)
		}
		cb, err := os.ReadFile(base + "-cert.pem")
		if err != nil {
			return nil, fmt.Errorf("load kit: %w", err)
		}
		cs, err := certs.ParseCertificates(cb)
		if err != nil || len(cs) == 0 {
			return nil, fmt.Errorf("load kit: %s-cert.pem: no certificate (%v)", base, err)
		}
		slot.Cert = cs[0]
	}
	return k, nil
}

// newKitPKI makes the kit's keys and certificates in memory. The good
// chain (root, intermediate, ECDSA and RSA signers, receipt, TLS server
// and client) is certs.NewDevPKI's; the bad ones are issued here.
func newKitPKI(country, name string, now time.Time) (*Kit, error) {
	dev, err := certs.NewDevPKI(certs.PKIOptions{Now: now, Name: name + " " + country})
	if err != nil {
		return nil, err
	}
	k := &Kit{Country: country, Name: name, Root: dev.Root, Intermediate: dev.Intermediate, Signer: dev.SignerECDSA,
		SignerRSA: dev.SignerRSA, Receipt: dev.Receipt, TLSServer: dev.TLSServer, TLSClient: dev.TLSClient}
	nb := now.Add(-time.Hour)
	signerTmpl := func(cn string, from, to time.Time) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"ecogate conformance kit"}},
			NotBefore: from, NotAfter: to, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	}
	caTmpl := func(subject pkix.Name) *x509.Certificate {
		return &x509.Certificate{Subject: subject, NotBefore: nb, NotAfter: nb.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	}
	clientTmpl := func(cn string, from, to time.Time) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"ecogate conformance kit"}},
			NotBefore: from, NotAfter: to, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	}
	past := now.AddDate(-2, 0, 0)
	expired := now.AddDate(0, 0, -2)
	if k.SignerRevoked, err = issueCert(signerTmpl(name+" "+country+" document signer (revoked)", nb, nb.AddDate(2, 0, 0)), &k.Intermediate); err != nil {
		return nil, err
	}
	if k.SignerExpired, err = issueCert(signerTmpl(name+" "+country+" document signer (expired)", past, expired), &k.Intermediate); err != nil {
		return nil, err
	}
	if k.OtherRoot, err = issueCert(caTmpl(pkix.Name{CommonName: name + " " + country + " untrusted root", Organization: []string{"ecogate conformance kit"}}), nil); err != nil {
		return nil, err
	}
	if k.SignerWrongAnchor, err = issueCert(signerTmpl(name+" "+country+" document signer (wrong anchor)", nb, nb.AddDate(2, 0, 0)), &k.OtherRoot); err != nil {
		return nil, err
	}
	// The impostor CA has the intermediate's exact name (and claims the
	// root as its issuer) but its own key, and signs itself.
	imp := caTmpl(dev.Intermediate.Cert.Subject)
	if k.Impostor, err = issueCert(imp, nil); err != nil {
		return nil, err
	}
	same := signerTmpl("", nb, nb.AddDate(2, 0, 0))
	same.Subject = dev.SignerECDSA.Cert.Subject
	if k.SignerSameName, err = issueCert(same, &k.Impostor); err != nil {
		return nil, err
	}
	if k.TLSClientExpired, err = issueCert(clientTmpl(name+" "+country+" TLS client (expired)", past, expired), &k.Root); err != nil {
		return nil, err
	}
	if k.TLSClientUnknown, err = issueCert(clientTmpl(name+" "+country+" TLS client (unknown CA)", nb, nb.AddDate(2, 0, 0)), &k.OtherRoot); err != nil {
		return nil, err
	}
	return k, nil
}

// issueCert signs tmpl with a new ECDSA P-256 key, by parent (self-signed
// when parent is nil).
func issueCert(tmpl *x509.Certificate, parent *certs.KeyCert) (certs.KeyCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certs.KeyCert{}, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return certs.KeyCert{}, err
	}
	tmpl.SerialNumber = sn
	pc, pk := tmpl, crypto.Signer(key)
	if parent != nil {
		pc, pk = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pc, key.Public(), pk)
	if err != nil {
		return certs.KeyCert{}, fmt.Errorf("issue %q: %w", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	return certs.KeyCert{Key: key, Cert: c}, err
}

const partnerEntry = `# The conformance kit as a partner of an ecogate node: add this entry under
# "partners:" in the node's partners.yaml (paths are relative to this file's
# directory: copy the node/ folder beside partners.yaml, or adjust them).
# delivery: pull lets "ecogate conformance run" fetch what the node sends to
# the kit; for "ecogate conformance serve", set delivery: push and the
# endpoint to the address serve listens on.
  - country: %s
    name: %q
    endpoint: %s
    delivery: pull
    tls:
      clientCAs: [node/tls-ca.pem]
      crls: [node/tls-crls.pem]
    documentSigning:
      anchors: [node/signing-anchors.pem]
      crls: [node/signing-crls.pem]
    agreements: [NONPREF, AIFTA, ATIGA, RCEP]
    retry:
      attempts: 3
      initialInterval: 1s
      maxInterval: 5s
      multiplier: 2
      jitter: 0.2
      maxAge: 1h
`

const instructions = `# ecogate conformance kit: what the node under test must load

The kit plays partner country %s (%s). Make it a registered partner of the
node under test, then run the assertions:

1. TLS: accept client certificates issued by node/tls-ca.pem (CRL:
   node/tls-crls.pem) and map them to partner %s.
2. Document signing: trust node/signing-anchors.pem as this partner's
   document-signing anchor, with the CRLs in node/signing-crls.pem (the
   intermediate's CRL revokes the kit's "revoked" signer on purpose).
3. Receipts: trust the same anchor for the partner's JWS receipts (pull-mode
   acknowledgements).
4. Delivery: put the partner in pull mode (the kit fetches what waits for it
   at GET /inbox); to make the pull-mode, verification-query and decision
   assertions applicable, send one e-CO to the kit's country before the run.
5. An ecogate node: add node/partners-entry.yaml under "partners:" in its
   partners.yaml (the node reloads the file).

Then:

    ecogate conformance run --target https://node.example/eco/v1 --kit THIS_DIR --report report.html

The pki/ folder holds the kit's private keys: keep it with the tester.
`
