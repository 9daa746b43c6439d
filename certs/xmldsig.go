package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/beevik/etree"
)

// Namespace and algorithm identifiers of the signature profile.
const (
	NSDSig         = "http://www.w3.org/2000/09/xmldsig#"
	AlgExcC14N     = "http://www.w3.org/2001/10/xml-exc-c14n#"
	AlgEnveloped   = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	AlgRSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgRSASHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	AlgRSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	AlgECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	AlgECDSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	AlgECDSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
	AlgSHA256      = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgSHA384      = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	AlgSHA512      = "http://www.w3.org/2001/04/xmlenc#sha512"
)

type sigAlg struct {
	hash crypto.Hash
	ec   bool
}

var signatureMethods = map[string]sigAlg{
	AlgRSASHA256:   {crypto.SHA256, false},
	AlgRSASHA384:   {crypto.SHA384, false},
	AlgRSASHA512:   {crypto.SHA512, false},
	AlgECDSASHA256: {crypto.SHA256, true},
	AlgECDSASHA384: {crypto.SHA384, true},
	AlgECDSASHA512: {crypto.SHA512, true},
}

var digestMethods = map[string]crypto.Hash{
	AlgSHA256: crypto.SHA256,
	AlgSHA384: crypto.SHA384,
	AlgSHA512: crypto.SHA512,
}

// Signer produces enveloped XML Signatures in the ecogate profile: one
// Reference with URI="", transforms enveloped-signature and exclusive C14N,
// SHA-256 digest, RSA-SHA256 or ECDSA-SHA256 (raw r||s), and the signer's
// certificate plus intermediates in X509Data. Key may be any crypto.Signer
// (a software key or an HSM handle).
type Signer struct {
	// Key signs; its public key must match Chain[0].
	Key crypto.Signer
	// Chain is the signer's certificate followed by intermediates.
	Chain []*x509.Certificate
	// Limits bounds the input document; zero means the defaults.
	Limits Limits
}

// Sign returns doc with an enveloped ds:Signature appended as the last
// child of the root element. doc must not be signed already.
func (s *Signer) Sign(doc []byte) ([]byte, error) {
	if s.Key == nil || len(s.Chain) == 0 {
		return nil, errors.New("sign: a key and its certificate are required")
	}
	// The tree is dropped before Sign returns, so it may read doc in place
	// and its memory serves the next parse (release).
	d, release, err := parseStrict(doc, s.Limits, sharedInPlace)
	defer release()
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return s.sign(doc, d)
}

// Parsed is a document parsed once under the strict profile, for reading
// fields from its tree and then signing it without a second parse (see
// ParseForSigning and Signer.SignParsed).
type Parsed struct {
	doc []byte
	d   *etree.Document
}

// ParseForSigning parses doc with ParseStrict and keeps the input bytes
// with the tree, for Signer.SignParsed. The caller may read the tree
// (Root) but must not change it: the signature is computed over the tree
// and spliced into the input bytes.
func ParseForSigning(doc []byte, lim Limits) (*Parsed, error) {
	d, err := ParseStrict(doc, lim)
	if err != nil {
		return nil, err
	}
	return &Parsed{doc: doc, d: d}, nil
}

// Root returns the parsed root element (read only).
func (p *Parsed) Root() *etree.Element { return p.d.Root() }

// Bytes returns the input bytes.
func (p *Parsed) Bytes() []byte { return p.doc }

// SignParsed is Sign for a document already parsed by ParseForSigning: it
// gives the same bytes as Sign(p.Bytes()) without parsing again. The
// limits were applied when p was parsed. A Parsed is signed at most once.
func (s *Signer) SignParsed(p *Parsed) ([]byte, error) {
	if s.Key == nil || len(s.Chain) == 0 {
		return nil, errors.New("sign: a key and its certificate are required")
	}
	if p == nil || p.d == nil {
		return nil, errors.New("sign: no parsed document")
	}
	d := p.d
	p.d = nil // the fall-back below changes the tree
	return s.sign(p.doc, d)
}

// sign signs the tree d parsed from doc.
func (s *Signer) sign(doc []byte, d *etree.Document) ([]byte, error) {
	method, err := signatureMethodFor(s.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if !publicKeysEqual(s.Key.Public(), s.Chain[0].PublicKey) {
		return nil, errors.New("sign: the private key does not match the certificate; pass the certificate issued for this key first")
	}
	root := d.Root()
	if sigs := findSignatures(root); len(sigs) > 0 {
		return nil, errors.New("sign: the document already carries a ds:Signature; sign the unsigned document")
	}
	h := crypto.SHA256.New()
	hashExcC14N(h, root, nil, nil)
	digest := h.Sum(nil)

	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", NSDSig)
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", AlgExcC14N)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", method)
	ref := si.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "")
	tr := ref.CreateElement("ds:Transforms")
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", AlgEnveloped)
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", AlgExcC14N)
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", AlgSHA256)
	ref.CreateElement("ds:DigestValue").SetText(base64.StdEncoding.EncodeToString(digest))

	sv, err := signSignedInfo(s.Key, signatureMethods[method], ExcC14N(si, nil, nil))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	sig.CreateElement("ds:SignatureValue").SetText(base64.StdEncoding.EncodeToString(sv))
	x := sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data")
	for _, c := range s.Chain {
		x.CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(c.Raw))
	}
	// Insert the signature before the root's end tag, leaving every other
	// byte of the input as it was; fall back to re-serialising the tree.
	sd := etree.NewDocument()
	sd.SetRoot(sig)
	sigBytes, err := sd.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("sign: write signature: %w", err)
	}
	if at := rootEndTag(doc, root); at >= 0 {
		out := make([]byte, 0, len(doc)+len(sigBytes))
		out = append(out, doc[:at]...)
		out = append(out, sigBytes...)
		return append(out, doc[at:]...), nil
	}
	root.AddChild(sig)
	out, err := d.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("sign: write document: %w", err)
	}
	return out, nil
}

// rootEndTag returns the offset of the root element's end tag in doc, or
// -1 when it cannot be found unambiguously (for example an empty-element
// root).
func rootEndTag(doc []byte, root *etree.Element) int {
	b := bytes.TrimRight(doc, " \t\r\n")
	for bytes.HasSuffix(b, []byte("-->")) {
		i := bytes.LastIndex(b, []byte("<!--"))
		if i < 0 {
			return -1
		}
		b = bytes.TrimRight(b[:i], " \t\r\n")
	}
	if !bytes.HasSuffix(b, []byte(">")) {
		return -1
	}
	b = bytes.TrimRight(b[:len(b)-1], " \t\r\n")
	end := "</" + root.FullTag()
	if !bytes.HasSuffix(b, []byte(end)) {
		return -1
	}
	return len(b) - len(end)
}

// signSignedInfo hashes the canonical SignedInfo and signs it. ECDSA
// signatures are converted from the DER that crypto.Signer returns to the
// fixed-width r||s that XML-DSig (RFC 4050 / xmldsig-core1 §6.4.3) requires.
func signSignedInfo(key crypto.Signer, alg sigAlg, signedInfo []byte) ([]byte, error) {
	h := alg.hash.New()
	h.Write(signedInfo)
	sum := h.Sum(nil)
	sv, err := signingKey(key).Sign(rand.Reader, sum, alg.hash)
	if err != nil {
		return nil, fmt.Errorf("sign SignedInfo: %w", err)
	}
	if alg.ec {
		pub := key.Public().(*ecdsa.PublicKey)
		return ECDSADERToRaw(sv, pub.Curve)
	}
	return sv, nil
}

// ECDSADERToRaw converts an ASN.1 DER ECDSA signature to the raw r||s form,
// each integer left-padded to the curve's byte size.
func ECDSADERToRaw(der []byte, curve elliptic.Curve) ([]byte, error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil || len(rest) != 0 || v.R == nil || v.S == nil {
		return nil, errors.New("ECDSA signature is not valid DER")
	}
	n := (curve.Params().BitSize + 7) / 8
	if v.R.Sign() <= 0 || v.S.Sign() <= 0 || len(v.R.Bytes()) > n || len(v.S.Bytes()) > n {
		return nil, errors.New("ECDSA signature integers out of range")
	}
	out := make([]byte, 2*n)
	v.R.FillBytes(out[:n])
	v.S.FillBytes(out[n:])
	return out, nil
}

func signatureMethodFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key of %d bits: the profile requires 2048 bits or more", k.N.BitLen())
		}
		return AlgRSASHA256, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return AlgECDSASHA256, nil
		case elliptic.P384():
			return AlgECDSASHA384, nil
		}
		return "", fmt.Errorf("ECDSA curve %s: the profile allows P-256 and P-384", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("key type %T: the profile allows RSA and ECDSA", pub)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	if e, ok := a.(eq); ok {
		return e.Equal(b)
	}
	return false
}

// textOnly returns the element's character data, or ok=false when it has
// anything but text (elements, comments) inside.
func textOnly(e *etree.Element) (string, bool) {
	var b strings.Builder
	for _, t := range e.Child {
		c, ok := t.(*etree.CharData)
		if !ok {
			return "", false
		}
		b.WriteString(c.Data)
	}
	return b.String(), true
}

func decodeB64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}
