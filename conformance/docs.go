package conformance

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
)

// sampleECO is the kit's template e-CO (non-preferential, so that any pair
// of countries may exchange it): a copy of schema/testdata/valid/nonpref.xml.
//
//go:embed testdata/eco.xml
var sampleECO []byte

// newID returns a random UUID (version 4) for message ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// certificate returns the template e-CO with number and version, exported
// from the kit's country to country to, issued at now.
func (k *Kit) certificate(number string, version int, to string, now time.Time) (*schema.Certificate, error) {
	c, fs := schema.DecodeXML(sampleECO, schema.DecodeOptions{})
	if fs != nil {
		return nil, fmt.Errorf("decode the kit's template e-CO: %v", fs)
	}
	c.Header.ID, c.Header.Version = number, version
	c.Header.UUID = newID()
	c.Header.ExportCountry, c.Header.ImportCountry = k.Country, to
	if c.Header.Issuer.Address != nil {
		c.Header.Issuer.Address.CountryCode = k.Country
	}
	if a := c.Consignment.Importer.Address; a != nil {
		a.CountryCode = to
	}
	c.Header.IssueDateTime = schema.DateTime{Time: now.UTC().Add(-time.Minute).Truncate(time.Second)}
	return c, nil
}

// signWith signs doc (XML) with a signer of the kit, in the design's
// profile (certs.Signer), sending chain after the signer in KeyInfo.
func signWith(doc []byte, kc certs.KeyCert, chain ...*x509.Certificate) ([]byte, error) {
	s := &certs.Signer{Key: kc.Key, Chain: append([]*x509.Certificate{kc.Cert}, chain...)}
	return s.Sign(doc)
}

// signedECO returns the template e-CO, changed by edit when not nil,
// encoded and signed by the good signer.
func (k *Kit) signedECO(number string, version int, to string, now time.Time, edit func(*schema.Certificate)) ([]byte, error) {
	c, err := k.certificate(number, version, to, now)
	if err != nil {
		return nil, err
	}
	if edit != nil {
		edit(c)
	}
	doc, err := schema.EncodeXML(c)
	if err != nil {
		return nil, err
	}
	return signWith(doc, k.Signer, k.Intermediate.Cert)
}

// unsignedECO is the template e-CO encoded, not signed.
func (k *Kit) unsignedECO(number string, to string, now time.Time) ([]byte, error) {
	c, err := k.certificate(number, 1, to, now)
	if err != nil {
		return nil, err
	}
	return schema.EncodeXML(c)
}

// signGoxmldsig signs doc with goxmldsig (RSA signer) using hash, for the
// variants outside the profile (SHA-1); the signature is cryptographically
// correct.
func (k *Kit) signGoxmldsig(doc []byte, hash crypto.Hash) ([]byte, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		return nil, err
	}
	ctx, err := dsig.NewSigningContext(k.SignerRSA.Key, [][]byte{k.SignerRSA.Cert.Raw, k.Intermediate.Cert.Raw})
	if err != nil {
		return nil, err
	}
	ctx.Hash = hash
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if hash == crypto.SHA1 {
		if err := ctx.SetSignatureMethod(dsig.RSASHA1SignatureMethod); err != nil {
			return nil, err
		}
	}
	signed, err := ctx.SignEnveloped(d.Root())
	if err != nil {
		return nil, err
	}
	d.SetRoot(signed)
	return d.WriteToBytes()
}

// keyValueOnly re-signs the e-CO with the RSA signer (SHA-256) and then
// replaces its X509Data by the bare RSA public key (KeyValue): KeyInfo is
// not covered by the signature, so the signature stays valid.
func (k *Kit) keyValueOnly(doc []byte) ([]byte, error) {
	signed, err := signWith(doc, k.SignerRSA, k.Intermediate.Cert)
	if err != nil {
		return nil, err
	}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(signed); err != nil {
		return nil, err
	}
	ki := d.FindElement("//KeyInfo")
	if ki == nil {
		return nil, errors.New("key-value variant: no KeyInfo in the signed document")
	}
	pub, ok := k.SignerRSA.Key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("key-value variant: the RSA signer has no RSA key")
	}
	for _, c := range ki.ChildElements() {
		ki.RemoveChild(c)
	}
	kv := ki.CreateElement(prefixed(ki.Space, "KeyValue"))
	rkv := kv.CreateElement(prefixed(ki.Space, "RSAKeyValue"))
	rkv.CreateElement(prefixed(ki.Space, "Modulus")).SetText(base64.StdEncoding.EncodeToString(pub.N.Bytes()))
	rkv.CreateElement(prefixed(ki.Space, "Exponent")).SetText(base64.StdEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()))
	return d.WriteToBytes()
}

func prefixed(space, tag string) string {
	if space == "" {
		return tag
	}
	return space + ":" + tag
}

// forged changes a business field of a signed document after signing (the
// exporter's name): the digest no longer matches.
func forged(signed []byte) []byte {
	return []byte(strings.Replace(string(signed), "Punjab Heritage Rice Exports", "Forged Trading Company Ltd", 1))
}

// wrapRoot builds the classic signature-wrapping attack: a new root with
// forged business content whose child is the original signed document
// (its signature still valid over its own element). A node that checks
// "a valid signature somewhere" and reads fields from the root accepts
// forged data.
func wrapRoot(signed []byte) ([]byte, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(signed); err != nil {
		return nil, err
	}
	orig := d.Root()
	fake := orig.Copy()
	for _, s := range fake.SelectElements("Signature") {
		fake.RemoveChild(s)
	}
	if ex := fake.FindElement(".//ConsignorTradeParty/Name"); ex != nil {
		ex.SetText("Forged Trading Company Ltd")
	}
	holder := fake.CreateElement("Extension")
	holder.AddChild(orig)
	out := etree.NewDocument()
	out.SetRoot(fake)
	return out.WriteToBytes()
}

// doubleSignature appends a copy of the document's Signature: the profile
// allows exactly one.
func doubleSignature(signed []byte) ([]byte, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(signed); err != nil {
		return nil, err
	}
	sig := d.Root().SelectElement("Signature")
	if sig == nil {
		return nil, errors.New("double-signature variant: no Signature")
	}
	d.Root().AddChild(sig.Copy())
	return d.WriteToBytes()
}

// movedSignature moves the Signature from the root into a child element
// (the profile: a child of the root).
func movedSignature(signed []byte) ([]byte, error) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(signed); err != nil {
		return nil, err
	}
	root := d.Root()
	sig := root.SelectElement("Signature")
	hdr := root.SelectElement("ExchangedDocument")
	if sig == nil || hdr == nil {
		return nil, errors.New("moved-signature variant: no Signature or ExchangedDocument")
	}
	root.RemoveChild(sig)
	hdr.AddChild(sig)
	return d.WriteToBytes()
}
