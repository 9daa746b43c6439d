package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
)

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	StatusValid   Status = "VALID"
	StatusInvalid Status = "INVALID"
	StatusError   Status = "ERROR"
	StatusSkipped Status = "SKIPPED"
	// StatusInfo marks a note that follows a check's entry: it neither
	// passes nor fails anything (Report.Valid ignores it).
	StatusInfo Status = "INFO"
)

// Check names, one report entry each, in this order.
const (
	CheckProfile    = "algorithm-profile"
	CheckIntegrity  = "integrity"
	CheckTrust      = "signer-trust"
	CheckRevocation = "revocation"
)

// ReasonOK is the reason code of a VALID check.
const ReasonOK = "ok"

// ReasonECDSAShort is the reason of the INFO entry that says an ECDSA
// SignatureValue shorter than the curve's r||s size was accepted.
const ReasonECDSAShort = "integrity.ecdsa-short"

// Entry is one line of a verification report. Reason is a stable,
// machine-readable code (see doc.go); Detail is for people.
type Entry struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Report lists one Entry per check.
type Report []Entry

// Valid reports whether no entry is INVALID or ERROR.
func (r Report) Valid() bool {
	for _, e := range r {
		if e.Status == StatusInvalid || e.Status == StatusError {
			return false
		}
	}
	return len(r) > 0
}

// Get returns the entry for check, or the zero Entry.
func (r Report) Get(check string) Entry {
	for _, e := range r {
		if e.Check == check {
			return e
		}
	}
	return Entry{}
}

// First returns the first entry that is INVALID or ERROR, or the zero Entry.
func (r Report) First() Entry {
	for _, e := range r {
		if e.Status == StatusInvalid || e.Status == StatusError {
			return e
		}
	}
	return Entry{}
}

// Result is the outcome of Verify.
type Result struct {
	// Valid is true when every check is VALID or SKIPPED.
	Valid bool
	// Element is the verified root element: the parsed root with the
	// Signature and all comments removed and adjacent text merged, so that
	// its exclusive canonical form is exactly Signed. Business fields must
	// be read from it and nothing else. It is nil unless Valid. Namespace
	// declarations that no element or attribute name uses are not covered
	// by exclusive C14N: never resolve QNames inside content through them.
	Element *etree.Element
	// Signed is the canonical octets that the Reference digest covers.
	Signed []byte
	// Signer is the certificate whose key made the signature (nil when
	// the profile check failed before it was found).
	Signer *x509.Certificate
	// Chain is the validated chain, signer first, anchor last.
	Chain []*x509.Certificate
	// SigningTime is the signing time given by Verifier.SigningTime, if any.
	SigningTime time.Time
	// Report has one entry per check.
	Report Report

	release func()
}

// Release hands the memory of the parsed tree (Element and every node
// under it) back for reuse by later verifications. Call it at most once,
// when neither Element nor any node taken from it is in use any more;
// strings read from the tree stay valid. Without it the tree is simply
// left to the garbage collector.
func (r *Result) Release() {
	if r != nil && r.release != nil {
		f := r.release
		r.release, r.Element = nil, nil
		f()
	}
}

// TrustStore supplies the sending partner's document-signing trust anchors
// and revocation lists.
type TrustStore interface {
	Anchors() []*x509.Certificate
	CRLs() []*x509.RevocationList
}

// IntermediateSource is implemented by trust stores that also hold
// intermediate certificates which the signer need not send in KeyInfo.
type IntermediateSource interface {
	Intermediates() []*x509.Certificate
}

// Policy tunes what Verify demands beyond the fixed profile.
type Policy struct {
	// AllowMissingKeyUsage accepts a signer certificate without a
	// KeyUsage extension. By default the signer must carry
	// digitalSignature or contentCommitment.
	AllowMissingKeyUsage bool
	// RequireRevocation makes a chain certificate that no CRL covers an
	// INVALID revocation check; by default the check is SKIPPED then.
	RequireRevocation bool
}

// Verifier verifies enveloped signatures against the profile and a trust
// store. A Verifier is safe for concurrent use.
type Verifier struct {
	// Trust holds the sending partner's anchors and CRLs.
	Trust TrustStore
	// At is the policy time at which chain validity and CRL freshness are
	// evaluated; zero means Now().
	At time.Time
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SigningTime, if set, extracts the signing time from the verified
	// element (for example the e-CO's issue date-time); the chain must
	// then also be valid at that time.
	SigningTime func(verified *etree.Element) (time.Time, bool)
	// Policy tunes the checks.
	Policy Policy
	// Limits bounds the input document.
	Limits Limits

	// crlChecked caches signature checks of CRLs (crlKey) and of anchors
	// by anchors (certKey): they involve only trust-store material and
	// certificates already chained to it, which rarely change, and each
	// check costs a public-key operation. Do not copy a Verifier after
	// first use.
	crlChecked sync.Map

	// chains remembers accepted signer chains (see chainCache).
	chains chainCache
}

type crlKey struct {
	crl    *x509.RevocationList
	issuer string
}

type certKey struct{ child, parent string }

// certSignedBy checks (and caches) that one anchor issued another; both
// come from the trust store, so the cache stays bounded.
func (v *Verifier) certSignedBy(child, parent *x509.Certificate) bool {
	k := certKey{string(child.Raw), string(parent.Raw)}
	if ok, found := v.crlChecked.Load(k); found {
		return ok.(bool)
	}
	ok := child.CheckSignatureFrom(parent) == nil
	v.crlChecked.Store(k, ok)
	return ok
}

func (v *Verifier) crlSignedBy(crl *x509.RevocationList, issuer *x509.Certificate) bool {
	k := crlKey{crl, string(issuer.Raw)}
	if ok, found := v.crlChecked.Load(k); found {
		return ok.(bool)
	}
	ok := crl.CheckSignatureFrom(issuer) == nil
	v.crlChecked.Store(k, ok)
	return ok
}

func (v *Verifier) at() time.Time {
	if !v.At.IsZero() {
		return v.At
	}
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// verifyError carries a failing check.
type verifyError struct {
	reason, detail string
}

func bad(reason, format string, a ...any) *verifyError {
	return &verifyError{reason, fmt.Sprintf(format, a...)}
}

// parsedSig is the profile-checked content of a ds:Signature.
type parsedSig struct {
	sig, signedInfo *etree.Element
	c14nPrefixes    []string
	refPrefixes     []string
	method          string
	alg             sigAlg
	digestHash      crypto.Hash
	digestValue     []byte
	sigValue        []byte
	certs           []*x509.Certificate
	leaf            *x509.Certificate
	ns              nsIndex // namespace URIs inside the signature
	// notes are INFO entries that checks add to the report.
	notes []Entry
}

// Verify checks doc. It returns an error only when verification could not
// be attempted (no trust store); a document that fails any check gives a
// Result with Valid false and the reasons in Report.
func (v *Verifier) Verify(doc []byte) (*Result, error) {
	if v.Trust == nil {
		return nil, errors.New("verify: no trust store configured; give the partner's document-signing anchors")
	}
	res := &Result{}

	// 1. Parse and profile.
	d, release, err := parseStrict(doc, v.Limits, sharedReused)
	res.release = release
	return v.verifyDoc(res, d, err, len(doc))
}

// VerifyParsed is Verify for a document already parsed by
// ParseForSigning (for example by a caller that first looked at the root
// to see whether it is signed): the same checks without a second parse.
// The limits were applied when p was parsed. It consumes p: the verified
// element is pruned in place, so p cannot be verified or signed again.
func (v *Verifier) VerifyParsed(p *Parsed) (*Result, error) {
	if v.Trust == nil {
		return nil, errors.New("verify: no trust store configured; give the partner's document-signing anchors")
	}
	if p == nil || p.d == nil {
		return nil, errors.New("verify: no parsed document (a Parsed is verified or signed at most once)")
	}
	d := p.d
	p.d = nil
	return v.verifyDoc(&Result{}, d, nil, len(p.doc))
}

// verifyDoc runs the checks on the parsed document d (err: the parse
// failed); size is the input's length, which the canonical form rarely
// exceeds (it is allocated once at that capacity instead of grown).
func (v *Verifier) verifyDoc(res *Result, d *etree.Document, err error, size int) (*Result, error) {
	skipAll := func(from int, why string) {
		for _, c := range []string{CheckProfile, CheckIntegrity, CheckTrust, CheckRevocation}[from:] {
			res.Report = append(res.Report, Entry{c, StatusSkipped, "skipped", why})
		}
	}
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			res.Report = append(res.Report, Entry{CheckProfile, StatusInvalid, pe.Reason, pe.Detail})
		} else {
			res.Report = append(res.Report, Entry{CheckProfile, StatusInvalid, "xml.syntax", err.Error()})
		}
		skipAll(1, "document not parsed")
		return res, nil
	}
	root := d.Root()
	ps, verr := checkProfile(root)
	if verr != nil {
		res.Report = append(res.Report, Entry{CheckProfile, StatusInvalid, verr.reason, verr.detail})
		skipAll(1, "signature outside the profile")
		return res, nil
	}
	res.Signer = ps.leaf
	res.Report = append(res.Report, Entry{CheckProfile, StatusValid, ReasonOK, ps.method})

	// 2. Integrity: SignedInfo signature first, then the Reference digest.
	integrity := Entry{CheckIntegrity, StatusValid, ReasonOK, ""}
	signed := appendExcC14N(make([]byte, 0, size), root, ps.sig, ps.refPrefixes)
	if verr := checkSignatureValue(ps); verr != nil {
		integrity = Entry{CheckIntegrity, StatusInvalid, verr.reason, verr.detail}
	} else {
		h := ps.digestHash.New()
		h.Write(signed)
		if subtle.ConstantTimeCompare(h.Sum(nil), ps.digestValue) != 1 {
			integrity = Entry{CheckIntegrity, StatusInvalid, "integrity.digest", "the signed content was changed: the Reference digest does not match"}
		}
	}
	res.Report = append(res.Report, integrity)
	if integrity.Status == StatusValid {
		res.Report = append(res.Report, ps.notes...)
	}

	if integrity.Status == StatusValid {
		res.Signed = signed
	}

	// 3. Trust.
	at := v.at()
	var times []time.Time
	times = append(times, at)
	if v.SigningTime != nil && integrity.Status == StatusValid {
		if st, ok := v.SigningTime(prune(root, ps.sig)); ok {
			res.SigningTime = st
			times = append(times, st)
		}
	}
	chain, trustEntry := v.checkTrust(ps, times)
	res.Chain = chain
	res.Report = append(res.Report, trustEntry)

	// 4. Revocation.
	if chain == nil {
		res.Report = append(res.Report, Entry{CheckRevocation, StatusSkipped, "skipped", "no trusted chain"})
	} else {
		res.Report = append(res.Report, v.checkRevocation(chain, at))
	}

	res.Valid = res.Report.Valid()
	if res.Valid {
		res.Element = prune(root, ps.sig)
	}
	return res, nil
}

// prune detaches root from its document and removes sig, comments and
// anything else exclusive C14N does not output, in place. Idempotent.
func prune(root, sig *etree.Element) *etree.Element {
	if sig != nil && sig.Parent() == root {
		root.RemoveChild(sig)
	}
	if p := root.Parent(); p != nil {
		p.RemoveChild(root)
	}
	pruneComments(root)
	return root
}

func pruneComments(e *etree.Element) {
	dirty := false
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Comment:
			dirty = true
		case *etree.Element:
			pruneComments(t)
		}
	}
	if !dirty {
		return
	}
	kids := make([]etree.Token, 0, len(e.Child))
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Comment:
			continue
		case *etree.CharData:
			if n := len(kids); n > 0 {
				if prev, ok := kids[n-1].(*etree.CharData); ok {
					prev.SetData(prev.Data + t.Data)
					continue
				}
			}
		}
		kids = append(kids, t)
	}
	for len(e.Child) > 0 {
		e.RemoveChildAt(len(e.Child) - 1)
	}
	for _, t := range kids {
		e.AddChild(t)
	}
}

// childElements returns e's element children, or an error when e holds
// non-whitespace text.
func childElements(e *etree.Element) ([]*etree.Element, *verifyError) {
	var out []*etree.Element
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.Element:
			out = append(out, t)
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, bad("profile.structure", "unexpected text inside ds:%s", e.Tag)
			}
		}
	}
	return out, nil
}

func walk(e *etree.Element, f func(*etree.Element) *verifyError) *verifyError {
	if err := f(e); err != nil {
		return err
	}
	for _, t := range e.Child {
		if c, ok := t.(*etree.Element); ok {
			if err := walk(c, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkAlgorithms rejects any algorithm, transform or construct outside the
// profile anywhere inside a Signature, naming every offending URI.
func checkAlgorithms(sig *etree.Element, ix nsIndex) *verifyError {
	var algs, trans []string
	var other *verifyError
	walk(sig, func(e *etree.Element) *verifyError {
		if ix.uri(e) != NSDSig {
			return nil
		}
		alg := e.SelectAttrValue("Algorithm", "")
		switch e.Tag {
		case "SignatureMethod":
			if _, ok := signatureMethods[alg]; !ok {
				algs = append(algs, "signature method "+alg)
			}
		case "DigestMethod":
			if _, ok := digestMethods[alg]; !ok {
				algs = append(algs, "digest method "+alg)
			}
		case "CanonicalizationMethod":
			if alg != AlgExcC14N {
				algs = append(algs, "canonicalization method "+alg)
			}
		case "Transform":
			if alg != AlgExcC14N && alg != AlgEnveloped {
				trans = append(trans, "transform "+alg)
			}
		case "HMACOutputLength":
			algs = append(algs, "HMACOutputLength (truncated HMAC)")
		case "Object":
			if other == nil {
				other = bad("profile.object", "ds:Object is not allowed in the profile")
			}
		case "Manifest":
			other = bad("profile.manifest", "ds:Manifest is not allowed in the profile")
		case "RetrievalMethod":
			if other == nil || other.reason == "profile.object" {
				other = bad("profile.keyinfo", "ds:RetrievalMethod is not allowed; send the certificate in X509Data")
			}
		}
		return nil
	})
	switch {
	case len(algs) > 0:
		return bad("profile.algorithm", "not allowed: %s (the profile allows RSA-SHA256+/ECDSA-SHA256+, SHA-256+ digests, exclusive C14N)", strings.Join(append(algs, trans...), "; "))
	case len(trans) > 0:
		return bad("profile.transform", "not allowed: %s (the profile allows enveloped-signature and exclusive C14N only)", strings.Join(trans, "; "))
	}
	return other
}

func checkProfile(root *etree.Element) (*parsedSig, *verifyError) {
	sigs, ix := scanSignatures(root)
	if len(sigs) == 0 {
		return nil, bad("profile.no-signature", "the document has no ds:Signature")
	}
	for _, s := range sigs {
		if _, nested := ix[s.Parent()]; nested {
			continue // walked with the signature around it
		}
		if err := checkAlgorithms(s, ix); err != nil {
			return nil, err
		}
	}
	if len(sigs) > 1 {
		return nil, bad("profile.signature-count", "the document has %d ds:Signature elements; exactly one is allowed", len(sigs))
	}
	sig := sigs[0]
	if sig.Parent() != root {
		if sig == root {
			return nil, bad("profile.signature-position", "enveloping signature: ds:Signature is the root; the profile requires an enveloped signature as the last child of the root")
		}
		return nil, bad("profile.signature-position", "ds:Signature at %s; it must be the last child of the root", sig.GetPath())
	}
	for _, t := range root.Child[sig.Index()+1:] {
		switch t := t.(type) {
		case *etree.Element:
			return nil, bad("profile.signature-position", "element <%s> follows ds:Signature; it must be the last child of the root", t.FullTag())
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, bad("profile.signature-position", "text follows ds:Signature; it must be the last child of the root")
			}
		}
	}
	ps := &parsedSig{sig: sig, ns: ix}
	kids, err := childElements(sig)
	if err != nil {
		return nil, err
	}
	if len(kids) != 3 || !ps.ns.isDS(kids[0], "SignedInfo") || !ps.ns.isDS(kids[1], "SignatureValue") || !ps.ns.isDS(kids[2], "KeyInfo") {
		names := make([]string, len(kids))
		for i, k := range kids {
			names[i] = k.FullTag()
		}
		return nil, bad("profile.structure", "ds:Signature must hold SignedInfo, SignatureValue, KeyInfo in that order; found [%s]", strings.Join(names, ", "))
	}
	ps.signedInfo = kids[0]
	if err := parseSignedInfo(ps, kids[0]); err != nil {
		return nil, err
	}
	sv, ok := textOnly(kids[1])
	if !ok {
		return nil, bad("profile.structure", "ds:SignatureValue must hold base64 text only")
	}
	var e error
	if ps.sigValue, e = decodeB64(sv); e != nil {
		return nil, bad("profile.structure", "ds:SignatureValue is not base64: %v", e)
	}
	if err := parseKeyInfo(ps, kids[2]); err != nil {
		return nil, err
	}
	if err := checkKey(ps); err != nil {
		return nil, err
	}
	return ps, nil
}

func inclusivePrefixes(m *etree.Element, ix nsIndex) ([]string, *verifyError) {
	kids, err := childElements(m)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range kids {
		if k.Tag != "InclusiveNamespaces" || ix.uri(k) != AlgExcC14N {
			return nil, bad("profile.structure", "unexpected <%s> inside %s", k.FullTag(), m.FullTag())
		}
		out = append(out, strings.Fields(k.SelectAttrValue("PrefixList", ""))...)
	}
	return out, nil
}

func parseSignedInfo(ps *parsedSig, si *etree.Element) *verifyError {
	kids, err := childElements(si)
	if err != nil {
		return err
	}
	if len(kids) < 3 || !ps.ns.isDS(kids[0], "CanonicalizationMethod") || !ps.ns.isDS(kids[1], "SignatureMethod") {
		return bad("profile.structure", "ds:SignedInfo must hold CanonicalizationMethod, SignatureMethod and one Reference")
	}
	if len(kids) != 3 || !ps.ns.isDS(kids[2], "Reference") {
		return bad("profile.reference", "ds:SignedInfo must hold exactly one ds:Reference; found %d elements after SignatureMethod", len(kids)-2)
	}
	if ps.c14nPrefixes, err = inclusivePrefixes(kids[0], ps.ns); err != nil {
		return err
	}
	ps.method = kids[1].SelectAttrValue("Algorithm", "")
	ps.alg = signatureMethods[ps.method]
	if sk, _ := childElements(kids[1]); len(sk) != 0 {
		return bad("profile.structure", "ds:SignatureMethod must be empty")
	}
	ref := kids[2]
	uri := ref.SelectAttr("URI")
	if uri == nil || uri.Value != "" {
		got := "absent"
		if uri != nil {
			got = fmt.Sprintf("%q", uri.Value)
		}
		return bad("profile.reference", "the Reference URI must be \"\" (the whole document); it is %s", got)
	}
	if t := ref.SelectAttrValue("Type", ""); t != "" {
		return bad("profile.reference", "Reference Type %s is not allowed", t)
	}
	rk, err := childElements(ref)
	if err != nil {
		return err
	}
	if len(rk) != 3 || !ps.ns.isDS(rk[0], "Transforms") || !ps.ns.isDS(rk[1], "DigestMethod") || !ps.ns.isDS(rk[2], "DigestValue") {
		return bad("profile.transform", "the Reference must hold Transforms (enveloped-signature, exclusive C14N), DigestMethod, DigestValue")
	}
	tk, err := childElements(rk[0])
	if err != nil {
		return err
	}
	if len(tk) != 2 || !ps.ns.isDS(tk[0], "Transform") || !ps.ns.isDS(tk[1], "Transform") ||
		tk[0].SelectAttrValue("Algorithm", "") != AlgEnveloped || tk[1].SelectAttrValue("Algorithm", "") != AlgExcC14N {
		return bad("profile.transform", "the transforms must be exactly enveloped-signature then exclusive C14N")
	}
	if k, _ := childElements(tk[0]); len(k) != 0 {
		return bad("profile.transform", "the enveloped-signature transform takes no parameters")
	}
	if ps.refPrefixes, err = inclusivePrefixes(tk[1], ps.ns); err != nil {
		return err
	}
	ps.digestHash = digestMethods[rk[1].SelectAttrValue("Algorithm", "")]
	dv, ok := textOnly(rk[2])
	if !ok {
		return bad("profile.structure", "ds:DigestValue must hold base64 text only (no comments or elements)")
	}
	var e error
	if ps.digestValue, e = decodeB64(dv); e != nil {
		return bad("profile.structure", "ds:DigestValue is not base64: %v", e)
	}
	return nil
}

func parseKeyInfo(ps *parsedSig, ki *etree.Element) *verifyError {
	kids, err := childElements(ki)
	if err != nil {
		return err
	}
	var x509Data *etree.Element
	for _, k := range kids {
		switch {
		case ps.ns.isDS(k, "X509Data"):
			if x509Data != nil {
				return bad("profile.keyinfo", "more than one ds:X509Data")
			}
			x509Data = k
		case ps.ns.isDS(k, "KeyName"), ps.ns.isDS(k, "KeyValue"):
			// ignored: the key comes from the certificate only
		default:
			return bad("profile.keyinfo", "<%s> is not allowed in ds:KeyInfo", k.FullTag())
		}
	}
	if x509Data == nil {
		return bad("profile.keyinfo", "ds:KeyInfo has no X509Data; a key given only as KeyValue or KeyName is not accepted")
	}
	xk, err := childElements(x509Data)
	if err != nil {
		return err
	}
	for _, k := range xk {
		switch {
		case ps.ns.isDS(k, "X509Certificate"):
			t, ok := textOnly(k)
			if !ok {
				return bad("profile.keyinfo", "ds:X509Certificate must hold base64 text only")
			}
			der, e := decodeB64(t)
			if e != nil {
				return bad("profile.keyinfo", "ds:X509Certificate is not base64: %v", e)
			}
			c, e := x509.ParseCertificate(der)
			if e != nil {
				return bad("profile.keyinfo", "ds:X509Certificate: %v", e)
			}
			ps.certs = append(ps.certs, c)
		case ps.ns.isDS(k, "X509IssuerSerial"), ps.ns.isDS(k, "X509SubjectName"), ps.ns.isDS(k, "X509SKI"):
		default:
			return bad("profile.keyinfo", "<%s> is not allowed in ds:X509Data", k.FullTag())
		}
	}
	if len(ps.certs) == 0 {
		return bad("profile.keyinfo", "ds:X509Data holds no X509Certificate; the signer's certificate is required")
	}
	// The signer is the certificate that issued none of the others.
	for _, c := range ps.certs {
		issuer := false
		for _, o := range ps.certs {
			if o != c && !bytes.Equal(o.Raw, c.Raw) && bytes.Equal(o.RawIssuer, c.RawSubject) {
				issuer = true
				break
			}
		}
		if !issuer {
			ps.leaf = c
			break
		}
	}
	if ps.leaf == nil {
		ps.leaf = ps.certs[0]
	}
	return nil
}

func checkKey(ps *parsedSig) *verifyError {
	switch k := ps.leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if ps.alg.ec {
			return bad("profile.algorithm", "signature method %s does not fit the signer's RSA key", ps.method)
		}
		if k.N.BitLen() < 2048 {
			return bad("profile.key-size", "RSA key of %d bits; 2048 or more required", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if !ps.alg.ec {
			return bad("profile.algorithm", "signature method %s does not fit the signer's ECDSA key", ps.method)
		}
		if n := k.Curve.Params().Name; n != "P-256" && n != "P-384" {
			return bad("profile.key-size", "ECDSA curve %s; P-256 or P-384 required", n)
		}
	default:
		return bad("profile.algorithm", "signer key type %T is not allowed", ps.leaf.PublicKey)
	}
	return nil
}

func checkSignatureValue(ps *parsedSig) *verifyError {
	h := ps.alg.hash.New()
	h.Write(appendExcC14N(nil, ps.signedInfo, nil, ps.c14nPrefixes))
	sum := h.Sum(nil)
	switch k := ps.leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, ps.alg.hash, sum, ps.sigValue); err != nil {
			return bad("integrity.signature-value", "the SignatureValue does not verify with the signer's key")
		}
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		sv := ps.sigValue
		if len(sv) != 2*n {
			var v struct{ R, S *big.Int }
			if rest, err := asn1.Unmarshal(sv, &v); err == nil && len(rest) == 0 {
				return bad("integrity.ecdsa-der", "the ECDSA SignatureValue is ASN.1 DER; XML-DSig requires raw r||s of %d bytes", 2*n)
			}
			if len(sv) > 2*n || len(sv)%2 != 0 || len(sv) == 0 {
				return bad("integrity.signature-value", "the ECDSA SignatureValue is %d bytes; raw r||s of %d bytes required", len(sv), 2*n)
			}
		}
		// Apache Santuario 2.1 strips leading zero bytes of r and s and
		// pads both to the longer one, so a value of fewer than 2n bytes
		// (even length) is two halves, each left-padded here.
		half := len(sv) / 2
		r := new(big.Int).SetBytes(sv[:half])
		s := new(big.Int).SetBytes(sv[half:])
		if !ecdsa.Verify(k, sum, r, s) {
			return bad("integrity.signature-value", "the SignatureValue does not verify with the signer's key")
		}
		if half < n {
			ps.notes = append(ps.notes, Entry{CheckIntegrity, StatusInfo, ReasonECDSAShort,
				fmt.Sprintf("the ECDSA SignatureValue is %d bytes, not %d: r and s were read as %d bytes each and left-padded with zeros (as Apache Santuario 2.1 writes them); the signature verifies", len(sv), 2*n, half)})
		}
	}
	return nil
}

func (v *Verifier) checkTrust(ps *parsedSig, times []time.Time) ([]*x509.Certificate, Entry) {
	return v.checkChain(ps.leaf, ps.certs, times)
}

// checkChain builds and checks the chain from leaf (with the other
// certificates sent alongside as intermediates) to an anchor.
func (v *Verifier) checkChain(leaf *x509.Certificate, sent []*x509.Certificate, times []time.Time) ([]*x509.Certificate, Entry) {
	anchors := v.Trust.Anchors()
	if len(anchors) == 0 {
		return nil, Entry{CheckTrust, StatusError, "trust.no-anchors", "the trust configuration holds no document-signing anchor for this partner"}
	}
	// A chain accepted before, for the same trust store content and the
	// same certificates, needs no new chain building while every
	// certificate in it is still within its validity at each time.
	key := v.chains.key(v.Trust, leaf, sent)
	best := v.chains.get(key, times)
	cached := best != nil
	if !cached {
		var entry *Entry
		if best, entry = v.buildChain(leaf, sent, anchors, times); entry != nil {
			return nil, *entry
		}
	}
	if leaf.KeyUsage == 0 {
		if !v.Policy.AllowMissingKeyUsage {
			return nil, Entry{CheckTrust, StatusInvalid, "trust.key-usage", "the signer certificate has no KeyUsage extension; digitalSignature or contentCommitment is required"}
		}
	} else if leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, Entry{CheckTrust, StatusInvalid, "trust.key-usage", "the signer certificate's KeyUsage allows neither digitalSignature nor contentCommitment"}
	}
	// When an anchor is not a self-signed root (DirTrust makes every
	// certificate an anchor), extend the chain through the other anchors
	// so that revocation is checked along the whole path.
	if !cached {
		best = v.extendChain(best, anchors)
		v.chains.put(key, best)
	}
	best = slices.Clone(best)
	anchor := best[len(best)-1]
	return best, Entry{CheckTrust, StatusValid, ReasonOK, fmt.Sprintf("%q via %d certificate(s) to anchor %q", leaf.Subject.CommonName, len(best)-1, anchor.Subject.CommonName)}
}

// buildChain runs x509.Verify at every time (policy time first) and returns
// the longest chain found at the policy time, or the failing entry.
func (v *Verifier) buildChain(leaf *x509.Certificate, sent, anchors []*x509.Certificate, times []time.Time) ([]*x509.Certificate, *Entry) {
	roots := x509.NewCertPool()
	for _, a := range anchors {
		roots.AddCert(a)
	}
	inter := x509.NewCertPool()
	for _, c := range sent {
		if c != leaf {
			inter.AddCert(c)
		}
	}
	if is, ok := v.Trust.(IntermediateSource); ok {
		for _, c := range is.Intermediates() {
			inter.AddCert(c)
		}
	}
	var best []*x509.Certificate
	for i, t := range times {
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, CurrentTime: t,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			what := "at the policy time"
			if i > 0 {
				what = "at the signing time"
			}
			var ua x509.UnknownAuthorityError
			var ci x509.CertificateInvalidError
			switch {
			case errors.As(err, &ua):
				return nil, &Entry{CheckTrust, StatusInvalid, "trust.unknown-authority", fmt.Sprintf("signer %q does not chain to a document-signing anchor of the sending partner: %v", leaf.Subject.CommonName, err)}
			case errors.As(err, &ci) && ci.Reason == x509.Expired:
				return nil, &Entry{CheckTrust, StatusInvalid, "trust.validity", fmt.Sprintf("certificate not valid %s (%s): %v", what, t.UTC().Format(time.RFC3339), err)}
			default:
				return nil, &Entry{CheckTrust, StatusInvalid, "trust.chain", fmt.Sprintf("%s: %v", what, err)}
			}
		}
		if i == 0 {
			for _, c := range chains {
				if len(c) > len(best) {
					best = c
				}
			}
		}
	}
	return best, nil
}

func (v *Verifier) extendChain(chain, candidates []*x509.Certificate) []*x509.Certificate {
	chain = append([]*x509.Certificate(nil), chain...)
	for len(chain) < 8 {
		last := chain[len(chain)-1]
		if isSelfSigned(last) {
			break
		}
		var next *x509.Certificate
		for _, c := range candidates {
			if bytes.Equal(last.RawIssuer, c.RawSubject) && c.IsCA && v.certSignedBy(last, c) && !containsCert(chain, c) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
	}
	return chain
}

// isSelfSigned reports whether c names itself as issuer. It checks no
// signature: it is only asked of certificates already in a verified chain
// or among the configured anchors.
func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	return len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)
}

func (v *Verifier) checkRevocation(chain []*x509.Certificate, at time.Time) Entry {
	crls := v.Trust.CRLs()
	var uncovered []string
	covered := 0
	for i, c := range chain {
		if isSelfSigned(c) {
			continue
		}
		var issuer *x509.Certificate
		if i+1 < len(chain) {
			issuer = chain[i+1]
		} else {
			for _, a := range v.Trust.Anchors() {
				if bytes.Equal(c.RawIssuer, a.RawSubject) && c.CheckSignatureFrom(a) == nil {
					issuer = a
					break
				}
			}
		}
		found := false
		if issuer != nil {
			for _, crl := range crls {
				if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || !v.crlSignedBy(crl, issuer) {
					continue
				}
				found = true
				if at.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && at.After(crl.NextUpdate)) {
					return Entry{CheckRevocation, StatusInvalid, "revocation.crl-stale", fmt.Sprintf("the CRL of %q is valid %s to %s, not at %s; fetch a current CRL", issuer.Subject.CommonName, crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))}
				}
				for _, r := range crl.RevokedCertificateEntries {
					if r.SerialNumber.Cmp(c.SerialNumber) == 0 {
						return Entry{CheckRevocation, StatusInvalid, "revocation.revoked", fmt.Sprintf("certificate %q (serial %X) was revoked on %s", c.Subject.CommonName, c.SerialNumber, r.RevocationTime.UTC().Format(time.RFC3339))}
					}
				}
			}
		}
		if found {
			covered++
		} else {
			uncovered = append(uncovered, fmt.Sprintf("%q", c.Subject.CommonName))
		}
	}
	if len(uncovered) == 0 {
		return Entry{CheckRevocation, StatusValid, ReasonOK, fmt.Sprintf("%d certificate(s) checked against current CRLs", covered)}
	}
	detail := "no CRL covers " + strings.Join(uncovered, ", ")
	if v.Policy.RequireRevocation {
		return Entry{CheckRevocation, StatusInvalid, "revocation.no-crl", detail}
	}
	return Entry{CheckRevocation, StatusSkipped, "revocation.no-crl", detail}
}
