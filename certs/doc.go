// Package certs owns ecogate's document signatures and the keys behind
// them (design.md section 6):
//
//   - ParseStrict: the one XML parse of untrusted input (etree), refusing
//     DOCTYPE, processing instructions, non-UTF-8, duplicate attributes,
//     undeclared prefixes, oversized and over-deep documents, too many
//     attributes or namespace declarations (limits in internal/xmlguard),
//     all in one streaming pass of linear cost that also builds the tree
//     (internal/xmlguard.ParseTree); a leading byte-order mark is allowed.
//   - ExcC14N: exclusive XML canonicalization written over etree in place
//     (no tree copy), with the enveloped-signature exclusion built in;
//     signing streams it into SHA-256 through one pooled 64 KB buffer
//     instead of building the whole canonical form.
//   - Signer: enveloped XML Signatures in the ecogate profile (Reference
//     URI="", enveloped + exclusive C14N, SHA-256, RSA-SHA256 or
//     ECDSA-SHA256 with raw r||s), signing through crypto.Signer so that an
//     HSM can plug in.
//   - Verifier: the profile check, the signature and digest, the chain to
//     the sending partner's document-signing anchors (TrustStore), key
//     usage, validity at the policy time (and the signing time when known),
//     and CRL revocation failing closed on stale CRLs. It returns the
//     verified element, re-parsed from the exact signed octets: the only
//     source of business fields after verification. Verifier.Recheck
//     re-evaluates an accepted signer chain against the trust store and
//     CRLs loaded now (customs checks long after receipt);
//     SignatureCertificates recovers that chain from stored signed bytes.
//   - CRLChecker: revocation of verified TLS chains (partner client and
//     server certificates) against CRLs (ErrRevoked, ErrCRLStale).
//   - Trust and keys: TrustSet, DirTrust, LoadKeyPair (PEM, PKCS#8,
//     PKCS#12; 2048-bit RSA keys sign through internal/rsaz's AVX-512
//     IFMA path when the CPU has it, see fastrsa.go), the development PKI (NewDevPKI, InitDevPKI, IssueCRL,
//     RevokeInDevPKI).
//   - The one certificate and CRL loader (pemload.go): ParseCertificates,
//     ParseCRLs, ParseTrust, LoadCertificates, LoadCRLs, LoadWith. Every
//     reader of trust material uses it; a block of the wrong type is
//     refused with its number, and file errors name the file.
//   - JWS and JWT: SignJWS/VerifyJWS for the node's signed receipts,
//     TokenIssuer/TokenVerifier for OAuth2 client-credentials tokens.
//
// # Report
//
// Verify reports four checks, in order: algorithm-profile, integrity,
// signer-trust, revocation. Each is VALID, INVALID, ERROR or SKIPPED with a
// stable reason code:
//
//	ok                          the check passed
//	skipped                     an earlier check failed
//	xml.doctype                 DOCTYPE / DTD present
//	xml.proc-inst               processing instruction other than <?xml?>
//	xml.encoding                not UTF-8
//	xml.too-large, xml.too-deep size or nesting limit exceeded
//	xml.too-many-attrs          over 256 attributes on an element, or MaxBytes/16 in all
//	xml.too-many-ns             over 64 namespace declarations on an element, or MaxBytes/4096 in all
//	xml.duplicate-attr          an attribute appears twice
//	xml.bad-name                malformed name or namespace (un)declaration
//	xml.undeclared-prefix       namespace prefix not declared
//	xml.syntax                  not well-formed
//	profile.no-signature        no ds:Signature
//	profile.algorithm           disallowed signature, digest or c14n method (named in Detail)
//	profile.transform           disallowed transform (named in Detail)
//	profile.object              ds:Object present
//	profile.manifest            ds:Manifest present
//	profile.keyinfo             RetrievalMethod, KeyValue-only or malformed X509Data
//	profile.signature-count     more than one ds:Signature
//	profile.signature-position  ds:Signature not the last child of the root
//	profile.reference           not exactly one Reference with URI=""
//	profile.structure           unexpected elements, text or comments in the signature
//	profile.key-size            RSA below 2048 bits, ECDSA curve other than P-256/P-384
//	integrity.signature-value   SignatureValue does not verify
//	integrity.ecdsa-der         ECDSA SignatureValue is DER, not raw r||s
//	integrity.ecdsa-short       (INFO, after a VALID integrity entry) an even-length ECDSA
//	                            SignatureValue shorter than the curve's r||s (Apache
//	                            Santuario 2.1 strips leading zeros) was split in half
//	                            and left-padded; it verified
//	integrity.digest            signed content changed
//	trust.no-anchors            (ERROR) no anchor configured for the partner
//	trust.no-chain              (ERROR, Recheck only) no signer certificate known
//	trust.unknown-authority     no chain to a partner anchor
//	trust.validity              a certificate is expired or not yet valid
//	trust.chain                 other chain-building failure
//	trust.key-usage             signer lacks digitalSignature/contentCommitment
//	revocation.revoked          a chain certificate is on a CRL
//	revocation.crl-stale        the issuer's CRL is not current at the policy time
//	revocation.no-crl           (SKIPPED, or INVALID with Policy.RequireRevocation) no CRL covers a chain certificate
package certs
