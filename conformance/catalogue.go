package conformance

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
)

// Assertion is one named check of the catalogue.
type Assertion struct {
	// ID is stable, e.g. ECO-TRANS-03.
	ID string `json:"id"`
	// Group is transport, envelope, signature, delivery, tracking,
	// profile, validate, pull, query or decision.
	Group string `json:"group"`
	// Title says what it checks.
	Title string `json:"title"`
	// Rule is the standard or design rule it comes from.
	Rule string `json:"rule"`
	// Sends says what the kit sends and what it expects back.
	Sends string `json:"sends"`
	// Run plays the assertion; nil means PASS, errNA NOT APPLICABLE.
	Run func(s *session, t *T) error `json:"-"`
}

// Catalogue returns every assertion in the order they run.
func Catalogue() []Assertion { return catalogue }

// Lookup returns the assertion with id (case-insensitive), or nil.
func Lookup(id string) *Assertion {
	for i := range catalogue {
		if strings.EqualFold(catalogue[i].ID, id) {
			return &catalogue[i]
		}
	}
	return nil
}

const (
	ruleTLS      = "design §6 (TLS 1.2+, mutual TLS on the partner API)"
	ruleSender   = "design §6 (the partner named in the envelope must be the client certificate's partner)"
	ruleEnvelope = "design §7 (JSON envelope) and §8 (strict parsing, clear refusals)"
	ruleXML      = "design §6 (one parser, refuse any DOCTYPE, cap size and depth)"
	ruleDSig     = "design §6 (XML-DSig profile)"
	ruleTrust    = "design §6 (trust: chain to the sending partner's anchor, valid, not revoked)"
	ruleDelivery = "design §5 (at-least-once delivery, exactly-once effect)"
)

// a valid envelope, signed by the good signer, for transport assertions
func (s *session) validEnvelope() (Envelope, error) {
	n := s.number()
	doc, err := s.kit.signedECO(n, 1, s.node, s.opt.Now(), nil)
	if err != nil {
		return Envelope{}, err
	}
	return s.envelope(n, 1, doc), nil
}

// transport: an identity that must be refused
func refusedIdentity(id Identity) func(s *session, t *T) error {
	return func(s *session, t *T) error {
		env, err := s.validEnvelope()
		if err != nil {
			return err
		}
		a := s.send(t, id, env)
		if a.Err == nil && a.Status != http.StatusForbidden && a.Status != http.StatusUnauthorized {
			if a.Status == http.StatusOK {
				return fmt.Errorf("the node answered 200 to a request with %s; it must refuse the connection or answer 403", id)
			}
			return fmt.Errorf("answered %d to a request with %s, want a refused TLS handshake or 403", a.Status, id)
		}
		return s.expectNotStored(t, env.MessageID)
	}
}

// envelope: a raw body that must be refused with want
func refusedBody(want int, body func(s *session) ([]byte, []string)) func(s *session, t *T) error {
	return func(s *session, t *T) error {
		b, ids := body(s)
		a := s.do(t, IDGood, http.MethodPost, "/envelopes", "/envelopes", "application/json", b)
		if a.Err != nil {
			return fmt.Errorf("no answer: %v", a.Err)
		}
		if a.Status != want {
			return fmt.Errorf("answered %d, want %d: %s", a.Status, want, excerpt(a.Body, 300))
		}
		for _, id := range ids {
			if err := s.expectNotStored(t, id); err != nil {
				return err
			}
		}
		return nil
	}
}

// a document variant that must not be accepted
func refusedContent(make func(s *session, number string) ([]byte, error)) func(s *session, t *T) error {
	return func(s *session, t *T) error {
		n := s.number()
		doc, err := make(s, n)
		if err != nil {
			return fmt.Errorf("kit: build the document: %v", err)
		}
		env := s.envelope(n, 1, doc)
		return s.expectRefused(t, s.send(t, IDGood, env), env, false, 200, 400, 403, 409, 413, 415, 422)
	}
}

func goodSigned(edit func(*schema.Certificate)) func(s *session, n string) ([]byte, error) {
	return func(s *session, n string) ([]byte, error) { return s.kit.signedECO(n, 1, s.node, s.opt.Now(), edit) }
}

func variant(f func([]byte) ([]byte, error)) func(s *session, n string) ([]byte, error) {
	return func(s *session, n string) ([]byte, error) {
		doc, err := s.kit.signedECO(n, 1, s.node, s.opt.Now(), nil)
		if err != nil {
			return nil, err
		}
		return f(doc)
	}
}

func signedBy(kc func(k *Kit) (certs.KeyCert, *x509.Certificate)) func(s *session, n string) ([]byte, error) {
	return func(s *session, n string) ([]byte, error) {
		doc, err := s.kit.unsignedECO(n, s.node, s.opt.Now())
		if err != nil {
			return nil, err
		}
		signer, issuer := kc(s.kit)
		return signWith(doc, signer, issuer)
	}
}

// accept sends a good document and expects it accepted.
func (s *session) sendAccepted(t *T, edit func(*schema.Certificate)) (Envelope, *Receipt, []byte, error) {
	n := s.number()
	doc, err := s.kit.signedECO(n, 1, s.node, s.opt.Now(), edit)
	if err != nil {
		return Envelope{}, nil, nil, err
	}
	env := s.envelope(n, 1, doc)
	a := s.send(t, IDGood, env)
	rc, err := s.expectAccepted(t, a, env)
	return env, rc, a.Body, err
}

const bomb = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
`

// withPrologue puts a DOCTYPE in front of a signed document's root.
func withPrologue(prologue string) func([]byte) ([]byte, error) {
	return func(doc []byte) ([]byte, error) {
		i := bytes.Index(doc, []byte("<CertificateOfOrigin"))
		if i < 0 {
			return nil, errors.New("no CertificateOfOrigin root")
		}
		return append([]byte(prologue), doc[i:]...), nil
	}
}

var catalogue = []Assertion{
	// transport
	{ID: "ECO-TRANS-01", Group: "transport", Title: "a request without a client certificate is refused", Rule: ruleTLS,
		Sends: "POST /envelopes (a valid e-CO) over TLS without a client certificate; expects a refused handshake or 403, and no record (tracking)",
		Run:   refusedIdentity(IDNone)},
	{ID: "ECO-TRANS-02", Group: "transport", Title: "a client certificate of an unknown CA is refused", Rule: ruleTLS,
		Sends: "POST /envelopes with a client certificate under a CA the node does not know; expects a refused handshake or 403, and no record",
		Run:   refusedIdentity(IDUnknown)},
	{ID: "ECO-TRANS-03", Group: "transport", Title: "an expired client certificate is refused", Rule: ruleTLS,
		Sends: "POST /envelopes with the registered CA's client certificate that expired; expects a refused handshake or 403, and no record",
		Run:   refusedIdentity(IDExpired)},
	{ID: "ECO-TRANS-04", Group: "transport", Title: "TLS below 1.2 is refused", Rule: ruleTLS,
		Sends: "POST /envelopes with the registered client certificate over TLS 1.1 at most; expects a refused handshake, and no record",
		Run: func(s *session, t *T) error {
			env, err := s.validEnvelope()
			if err != nil {
				return err
			}
			if a := s.send(t, IDTLS11, env); a.Err == nil {
				return fmt.Errorf("the node negotiated TLS below 1.2 and answered %d", a.Status)
			}
			return s.expectNotStored(t, env.MessageID)
		}},
	{ID: "ECO-TRANS-05", Group: "transport", Title: "the envelope's sender must be the client certificate's partner", Rule: ruleSender,
		Sends: `POST /envelopes with "from" naming another country than the kit's certificate; expects 403 and no record`,
		Run: func(s *session, t *T) error {
			env, err := s.validEnvelope()
			if err != nil {
				return err
			}
			env.From = "XY"
			if s.node == "XY" {
				env.From = "XW"
			}
			return s.expectRefused(t, s.send(t, IDGood, env), env, false, 403)
		}},

	// envelope and content
	{ID: "ECO-ENV-01", Group: "envelope", Title: "a body that is not JSON is refused", Rule: ruleEnvelope,
		Sends: "POST /envelopes with an XML body; expects 400", Run: refusedBody(400, func(s *session) ([]byte, []string) {
			return []byte("<envelope/>"), nil
		})},
	{ID: "ECO-ENV-02", Group: "envelope", Title: "an envelope without messageId is refused", Rule: ruleEnvelope,
		Sends: "POST /envelopes with a valid e-CO and no messageId; expects 400", Run: refusedBody(400, func(s *session) ([]byte, []string) {
			env, _ := s.validEnvelope()
			var m map[string]any
			_ = json.Unmarshal(mustJSON(env), &m)
			delete(m, "messageId")
			return mustJSON(m), nil
		})},
	{ID: "ECO-ENV-03", Group: "envelope", Title: "content that is not base64 is refused", Rule: ruleEnvelope,
		Sends: "POST /envelopes whose content is not base64; expects 400 and no record", Run: refusedBody(400, func(s *session) ([]byte, []string) {
			env, _ := s.validEnvelope()
			b := bytes.Replace(mustJSON(env), []byte(`"content":"`), []byte(`"content":"**not base64**`), 1)
			return b, []string{env.MessageID}
		})},
	{ID: "ECO-ENV-04", Group: "envelope", Title: "duplicate JSON keys are refused", Rule: ruleEnvelope,
		Sends: "POST /envelopes with messageId twice (two values); expects 400 and no record under either id", Run: refusedBody(400, func(s *session) ([]byte, []string) {
			env, _ := s.validEnvelope()
			other := newID()
			b := bytes.Replace(mustJSON(env), []byte(`{"messageId":`), []byte(`{"messageId":"`+other+`","messageId":`), 1)
			return b, []string{env.MessageID, other}
		})},
	{ID: "ECO-ENV-05", Group: "envelope", Title: "an oversize body is refused with 413", Rule: ruleXML + "; RFC 9110 §15.5.14",
		Sends: "POST /envelopes of three times the node's document limit (default 4 MiB); expects 413 and no record",
		Run: refusedBody(413, func(s *session) ([]byte, []string) {
			env, _ := s.validEnvelope()
			pad := bytes.Repeat([]byte("<!-- padding -->"), 3*s.opt.MaxDocumentBytes/16)
			env.Content = append(env.Content, pad...)
			return mustJSON(env), []string{env.MessageID}
		})},
	{ID: "ECO-ENV-06", Group: "envelope", Title: "a document with a DOCTYPE is refused", Rule: ruleXML,
		Sends: "POST /envelopes whose signed e-CO has a DOCTYPE with an internal subset; expects a refusal (4xx or a receipt not Delivered) and no accepted record",
		Run:   refusedContent(variant(withPrologue(`<?xml version="1.0"?>` + "\n" + `<!DOCTYPE CertificateOfOrigin [<!ENTITY x "y">]>` + "\n")))},
	{ID: "ECO-ENV-07", Group: "envelope", Title: "an entity expansion bomb is refused", Rule: ruleXML,
		Sends: "POST /envelopes whose document declares nested entities (billion laughs); expects a refusal and no accepted record",
		Run:   refusedContent(variant(withPrologue(bomb)))},
	{ID: "ECO-ENV-08", Group: "envelope", Title: "a document that is not valid UTF-8 is refused", Rule: ruleXML + "; XML 1.0 §2.2",
		Sends: "POST /envelopes whose signed e-CO contains the bytes FF FE in a text node; expects a refusal and no accepted record",
		Run: refusedContent(variant(func(doc []byte) ([]byte, error) {
			return bytes.Replace(doc, []byte("Punjab"), []byte("Punj\xff\xfeab"), 1), nil
		}))},
	{ID: "ECO-ENV-09", Group: "envelope", Title: "a signed document that is not a certificate of origin is refused", Rule: "design §2 (validate against the profile) and UNCL 1001",
		Sends: "POST /envelopes whose content is a correctly signed <Invoice> of the kit; expects a refusal and no accepted record",
		Run: refusedContent(func(s *session, n string) ([]byte, error) {
			doc := []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Invoice xmlns="urn:ecogate:eco:1"><ID>` + n + `</ID><TypeCode>380</TypeCode><ExportCountryID>` + s.kit.Country + `</ExportCountryID></Invoice>`)
			return signWith(doc, s.kit.Signer, s.kit.Intermediate.Cert)
		})},
	{ID: "ECO-ENV-10", Group: "envelope", Title: "an envelope whose header disagrees with the signed document is refused", Rule: "design §2 (read fields only from the verified bytes)",
		Sends: "POST /envelopes naming another certificate number than the signed e-CO it carries; expects a refusal and no accepted record",
		Run: func(s *session, t *T) error {
			env, err := s.validEnvelope()
			if err != nil {
				return err
			}
			env.CertificateNumber += "-OTHER"
			return s.expectRefused(t, s.send(t, IDGood, env), env, false, 200, 400, 409, 422)
		}},
	{ID: "ECO-ENV-11", Group: "envelope", Title: "an envelope addressed to another country is refused", Rule: "design §7 (to: the receiving node)",
		Sends: `POST /envelopes with "to" naming another country; expects a refusal and no accepted record`,
		Run: func(s *session, t *T) error {
			env, err := s.validEnvelope()
			if err != nil {
				return err
			}
			env.To = "XY"
			if s.node == "XY" {
				env.To = "XW"
			}
			return s.expectRefused(t, s.send(t, IDGood, env), env, false, 200, 400, 403, 421, 422)
		}},
	{ID: "ECO-CTY-01", Group: "envelope", Title: "a node speaks only for its own country: export country must be the sender's", Rule: "design §6; WCO CO Interconnectivity Framework (the issuing country sends)",
		Sends: "POST /envelopes with a correctly signed e-CO whose export country and issuing body are another country's; expects a refusal and no accepted record",
		Run: refusedContent(goodSigned(func(c *schema.Certificate) {
			c.Header.ExportCountry = "XY"
			if c.Header.Issuer.Address != nil {
				c.Header.Issuer.Address.CountryCode = "XY"
			}
		}))},

	// signature
	{ID: "ECO-SIG-01", Group: "signature", Title: "a valid signed e-CO is accepted with a signed receipt", Rule: ruleDSig + "; design §7",
		Sends: "POST /envelopes with an e-CO signed by the kit's good signer (ECDSA P-256, SHA-256); expects 200, a receipt Delivered (or DeliveredWithWarnings) that verifies, and tracking shows it",
		Run: func(s *session, t *T) error {
			env, _, _, err := s.sendAccepted(t, nil)
			if err != nil {
				return err
			}
			tr, status, err := s.track(t, env.MessageID)
			if err != nil {
				return err
			}
			if status != http.StatusOK || !accepted(tr.TrackingInfo) {
				return fmt.Errorf("tracking the accepted message answered %d %s, want 200 Delivered", status, tr.TrackingInfo)
			}
			return nil
		}},
	{ID: "ECO-SIG-02", Group: "signature", Title: "a document changed after signing is refused", Rule: ruleDSig + " (integrity)",
		Sends: "the good signed e-CO with the exporter's name changed after signing", Run: refusedContent(variant(func(d []byte) ([]byte, error) { return forged(d), nil }))},
	{ID: "ECO-SIG-03", Group: "signature", Title: "signature wrapping (signed original inside a forged root) is refused", Rule: ruleDSig + " (Signature a child of the root, Reference URI=\"\")",
		Sends: "a forged root whose child holds the original signed e-CO", Run: refusedContent(variant(wrapRoot))},
	{ID: "ECO-SIG-04", Group: "signature", Title: "two signatures are refused", Rule: ruleDSig + " (exactly one Signature)",
		Sends: "the good signed e-CO with a copy of its Signature appended", Run: refusedContent(variant(doubleSignature))},
	{ID: "ECO-SIG-05", Group: "signature", Title: "a signature that is not a child of the root is refused", Rule: ruleDSig,
		Sends: "the good signed e-CO with its Signature moved into ExchangedDocument", Run: refusedContent(variant(movedSignature))},
	{ID: "ECO-SIG-06", Group: "signature", Title: "an unsigned e-CO is refused", Rule: ruleDSig,
		Sends: "the e-CO without any signature", Run: refusedContent(func(s *session, n string) ([]byte, error) { return s.kit.unsignedECO(n, s.node, s.opt.Now()) })},
	{ID: "ECO-SIG-07", Group: "signature", Title: "SHA-1 is refused", Rule: ruleDSig + " (SHA-256 or stronger)",
		Sends: "the e-CO signed correctly with RSA-SHA1 and a SHA-1 digest (goxmldsig)", Run: refusedContent(func(s *session, n string) ([]byte, error) {
			doc, err := s.kit.unsignedECO(n, s.node, s.opt.Now())
			if err != nil {
				return nil, err
			}
			return s.kit.signGoxmldsig(doc, crypto.SHA1)
		})},
	{ID: "ECO-SIG-08", Group: "signature", Title: "a key given only as KeyValue is refused", Rule: ruleDSig + " (no keys that arrive only as KeyValue)",
		Sends: "the e-CO signed by the good RSA signer with KeyInfo holding only the RSAKeyValue", Run: refusedContent(func(s *session, n string) ([]byte, error) {
			doc, err := s.kit.unsignedECO(n, s.node, s.opt.Now())
			if err != nil {
				return nil, err
			}
			return s.kit.keyValueOnly(doc)
		})},
	{ID: "ECO-SIG-09", Group: "signature", Title: "a signer under another anchor is refused", Rule: ruleTrust,
		Sends: "the e-CO signed by a signer chaining to a root the node does not trust for the kit",
		Run:   refusedContent(signedBy(func(k *Kit) (certs.KeyCert, *x509.Certificate) { return k.SignerWrongAnchor, k.OtherRoot.Cert }))},
	{ID: "ECO-SIG-10", Group: "signature", Title: "a revoked signer is refused", Rule: ruleTrust + " (CRLs from the partner's profile)",
		Sends: "the e-CO signed by a signer the kit's intermediate CRL revokes",
		Run:   refusedContent(signedBy(func(k *Kit) (certs.KeyCert, *x509.Certificate) { return k.SignerRevoked, k.Intermediate.Cert }))},
	{ID: "ECO-SIG-11", Group: "signature", Title: "an expired signer is refused", Rule: ruleTrust + " (valid at signing time)",
		Sends: "the e-CO signed now by a signer certificate that expired",
		Run:   refusedContent(signedBy(func(k *Kit) (certs.KeyCert, *x509.Certificate) { return k.SignerExpired, k.Intermediate.Cert }))},
	{ID: "ECO-SIG-12", Group: "signature", Title: "a same-name certificate with another key is refused", Rule: ruleTrust + " (goxmldsig compares certificates for equality only)",
		Sends: "the e-CO signed by a certificate with the good signer's name, issued by an impostor with the intermediate's name",
		Run:   refusedContent(signedBy(func(k *Kit) (certs.KeyCert, *x509.Certificate) { return k.SignerSameName, k.Impostor.Cert }))},

	// delivery semantics
	{ID: "ECO-DEL-01", Group: "delivery", Title: "the same message twice gives the same receipt and one record", Rule: ruleDelivery,
		Sends: "POST /envelopes twice with the same id and content; expects the same receipt payload both times and tracking naming that receipt",
		Run: func(s *session, t *T) error {
			env, rc1, tok1, err := s.sendAccepted(t, nil)
			if err != nil {
				return err
			}
			a := s.send(t, IDGood, env)
			rc2, err := s.expectAccepted(t, a, env)
			if err != nil {
				return fmt.Errorf("the second delivery: %v", err)
			}
			if *rc1 != *rc2 || !bytes.Equal(bytes.TrimSpace(tok1), bytes.TrimSpace(a.Body)) {
				return errors.New("the second delivery got another receipt; a duplicate must get the original receipt")
			}
			tr, _, err := s.track(t, env.MessageID)
			if err != nil {
				return err
			}
			if tr.Receipt != "" && strings.TrimSpace(tr.Receipt) != strings.TrimSpace(string(tok1)) {
				return errors.New("tracking shows another receipt than the one the deliveries got")
			}
			return nil
		}},
	{ID: "ECO-DEL-02", Group: "delivery", Title: "the same message id with other content is refused; the original stands", Rule: ruleDelivery + " (same id, different content: refused and flagged)",
		Sends: "an accepted e-CO, then the same message id with another e-CO; expects 409 and tracking still showing the original receipt",
		Run: func(s *session, t *T) error {
			env, _, tok, err := s.sendAccepted(t, nil)
			if err != nil {
				return err
			}
			n := s.number()
			doc, err := s.kit.signedECO(n, 1, s.node, s.opt.Now(), nil)
			if err != nil {
				return err
			}
			other := s.envelope(n, 1, doc)
			other.MessageID = env.MessageID
			a := s.send(t, IDGood, other)
			if a.Err != nil || a.Status != http.StatusConflict {
				return fmt.Errorf("answered %d (%v), want 409: %s", a.Status, a.Err, excerpt(a.Body, 300))
			}
			tr, _, err := s.track(t, env.MessageID)
			if err != nil {
				return err
			}
			if !accepted(tr.TrackingInfo) || (tr.Receipt != "" && strings.TrimSpace(tr.Receipt) != strings.TrimSpace(string(tok))) {
				return fmt.Errorf("after the conflicting delivery, tracking shows %s and another receipt: the original record must stand", tr.TrackingInfo)
			}
			return nil
		}},
	{ID: "ECO-DEL-03", Group: "delivery", Title: "the same certificate number and version with other content is refused", Rule: ruleDelivery + " (dedup by certificate number + version)",
		Sends: "an accepted e-CO, then another message id carrying the same number and version with changed content; expects a refusal (409 or a refusing receipt)",
		Run: func(s *session, t *T) error {
			env, _, _, err := s.sendAccepted(t, nil)
			if err != nil {
				return err
			}
			doc, err := s.kit.signedECO(env.CertificateNumber, 1, s.node, s.opt.Now(), func(c *schema.Certificate) { c.Consignment.Exporter.Name = "Another Exporter Ltd" })
			if err != nil {
				return err
			}
			again := s.envelope(env.CertificateNumber, 1, doc)
			return s.expectRefused(t, s.send(t, IDGood, again), again, false, 200, 409)
		}},
	{ID: "ECO-DEL-04", Group: "delivery", Title: "a withdrawal after its issue is applied", Rule: ruleDelivery + " (status messages in order); UNCL 4405 40 / UNCL 1225 1",
		Sends: "an accepted e-CO, then its withdrawal (status 40, function 1, same number and version) under a new id; expects it accepted",
		Run: func(s *session, t *T) error {
			env, _, _, err := s.sendAccepted(t, nil)
			if err != nil {
				return err
			}
			doc, err := s.kit.signedECO(env.CertificateNumber, 1, s.node, s.opt.Now(), func(c *schema.Certificate) { c.Header.Status, c.Header.FunctionCode = "40", "1" })
			if err != nil {
				return err
			}
			w := s.envelope(env.CertificateNumber, 1, doc)
			w.DocumentStatus, w.MessageFunction, w.Kind = "40", "1", "withdraw"
			if _, err := s.expectAccepted(t, s.send(t, IDGood, w), w); err != nil {
				return fmt.Errorf("the withdrawal: %v", err)
			}
			return nil
		}},
	{ID: "ECO-DEL-06", Group: "delivery", Title: "a withdrawal that arrives before its issue waits or is refused; the issue is not lost", Rule: ruleDelivery + " (status messages for one certificate are applied in order: a withdrawal never overtakes the issue)",
		Sends: "the withdrawal (status 40, function 1) of a certificate the node has not seen, then its issue under a new id; expects the withdrawal refused (4xx or a refusing receipt, no accepted record) or held (accepted), and the issue then accepted",
		Run:   withdrawalBeforeIssue},
	{ID: "ECO-DEL-05", Group: "delivery", Title: "a receipt is bound to the message and verifies under the profile's receipt key", Rule: "design §7 (receipt signed as JWS by the receiving node)",
		Sends: "a valid e-CO; verifies the receipt's JWS (x5c) under the receipt certificate of GET /profile, and its messageId, contentSha256, sender and issuer",
		Run: func(s *session, t *T) error {
			_, rc, _, err := s.sendAccepted(t, nil)
			if err != nil {
				return err
			}
			if rc.Received == "" {
				return errors.New("the receipt has no received time")
			}
			return nil
		}},

	// tracking
	{ID: "ECO-TRK-01", Group: "tracking", Title: "tracking an unknown message answers 404 EnvelopeNotExists", Rule: "design §7 (GET /envelopes/{id}); IPPC ePhyto tracking values",
		Sends: "GET /envelopes/{a new id}; expects 404 with trackingInfo EnvelopeNotExists",
		Run: func(s *session, t *T) error {
			tr, status, err := s.track(t, newID())
			if err != nil {
				return err
			}
			if status != http.StatusNotFound || tr.TrackingInfo != "EnvelopeNotExists" {
				return fmt.Errorf("answered %d %s, want 404 EnvelopeNotExists", status, tr.TrackingInfo)
			}
			return nil
		}},
	{ID: "ECO-TRK-02", Group: "tracking", Title: "tracking needs the partner's client certificate", Rule: ruleTLS,
		Sends: "GET /envelopes/{id} of an accepted message without a client certificate; expects a refused handshake or 403",
		Run: func(s *session, t *T) error {
			env, _, _, err := s.sendAccepted(t, nil)
			if err != nil {
				return err
			}
			a := s.do(t, IDNone, http.MethodGet, "", "/envelopes/"+env.MessageID, "", nil)
			if a.Err == nil && a.Status != http.StatusForbidden && a.Status != http.StatusUnauthorized {
				return fmt.Errorf("answered %d without a client certificate, want a refused handshake or 403", a.Status)
			}
			return nil
		}},

	// profile
	{ID: "ECO-PRO-01", Group: "profile", Title: "the signed profile verifies and names the node", Rule: "design §7 (GET /profile: signed profile)",
		Sends: "GET /profile; expects application/jose whose JWS verifies under its first receipt certificate, naming the node's country",
		Run: func(s *session, t *T) error {
			a := s.do(t, IDGood, http.MethodGet, "/profile", "/profile", "", nil)
			p, _, err := s.checkProfile(a)
			if err != nil {
				return err
			}
			if !strings.EqualFold(p.Country, s.node) {
				return fmt.Errorf("the profile names country %q, the node is %s", p.Country, s.node)
			}
			return nil
		}},
	{ID: "ECO-PRO-03", Group: "profile", Title: "the TLS server certificate is the one the signed profile names (and chains to the registered CA)", Rule: "design §6 (mutual TLS; the partner's keys come from its signed profile)",
		Sends: "GET /profile; compares the TLS server certificate of that connection with the profile's tlsCertificates[0] and, with --node-ca, checks that it chains to that CA for server authentication",
		Run:   tlsMatchesProfile},
	{ID: "ECO-PRO-02", Group: "profile", Title: "the profile carries the document-signing certificates", Rule: "design §7 (profile: signing certificates)",
		Sends: "GET /profile; expects signingCertificates that parse as X.509 with digitalSignature or contentCommitment",
		Run: func(s *session, t *T) error {
			a := s.do(t, IDGood, http.MethodGet, "/profile", "/profile", "", nil)
			p, _, err := s.checkProfile(a)
			if err != nil {
				return err
			}
			if len(p.SigningCertificates) == 0 {
				return errors.New("the profile names no signingCertificates")
			}
			c, err := x509.ParseCertificate(p.SigningCertificates[0])
			if err != nil {
				return fmt.Errorf("signingCertificates[0]: %v", err)
			}
			if c.KeyUsage&(1|2) == 0 {
				return errors.New("signingCertificates[0] allows neither digitalSignature nor contentCommitment")
			}
			return nil
		}},

	// validate
	{ID: "ECO-VAL-01", Group: "validate", Title: "POST /validate accepts a valid document and stores nothing", Rule: "design §7 (check without storing)",
		Sends: "POST /validate with a valid signed e-CO in an envelope; expects 200 outcome Delivered (or with warnings), and tracking of the envelope's id finds nothing",
		Run: func(s *session, t *T) error {
			env, err := s.validEnvelope()
			if err != nil {
				return err
			}
			a := s.do(t, IDGood, http.MethodPost, "/validate", "/validate", "application/json", mustJSON(env))
			var vr ValidationReport
			if a.Err != nil || a.Status != 200 || json.Unmarshal(a.Body, &vr) != nil {
				return fmt.Errorf("answered %d (%v), want 200 with a validation report: %s", a.Status, a.Err, excerpt(a.Body, 300))
			}
			if !accepted(vr.Outcome) {
				return fmt.Errorf("outcome %s for a valid document, want Delivered", vr.Outcome)
			}
			tr, status, err := s.track(t, env.MessageID)
			if err != nil {
				return err
			}
			if status != http.StatusNotFound {
				return fmt.Errorf("tracking after /validate answered %d %s: validation must store nothing", status, tr.TrackingInfo)
			}
			return nil
		}},
	{ID: "ECO-VAL-02", Group: "validate", Title: "POST /validate reports a forged document as failed", Rule: "design §7; " + ruleDSig,
		Sends: "POST /validate with a signed e-CO changed after signing; expects 200 with outcome FailedDelivery",
		Run: func(s *session, t *T) error {
			env, err := s.validEnvelope()
			if err != nil {
				return err
			}
			env.Content = forged(env.Content)
			a := s.do(t, IDGood, http.MethodPost, "/validate", "/validate", "application/json", mustJSON(env))
			var vr ValidationReport
			if a.Err != nil || a.Status != 200 || json.Unmarshal(a.Body, &vr) != nil {
				return fmt.Errorf("answered %d (%v), want 200 with a validation report", a.Status, a.Err)
			}
			if accepted(vr.Outcome) {
				return fmt.Errorf("outcome %s for a forged document, want FailedDelivery", vr.Outcome)
			}
			return nil
		}},

	// pull mode
	{ID: "ECO-PULL-01", Group: "pull", Title: "GET /inbox lists what waits for the partner", Rule: "design §5 (pull mode)",
		Sends: "GET /inbox; expects 200 with an envelope list (possibly empty) matching the contract",
		Run: func(s *session, t *T) error {
			_, err := s.inbox(t)
			return err
		}},
	{ID: "ECO-PULL-02", Group: "pull", Title: "an acknowledgement with an untrusted receipt is refused", Rule: "design §5 (pull mode: acknowledge) and §6 (receipt-signing trust)",
		Sends: "POST /inbox/{id}/ack with a receipt signed by a key outside the kit's trust; expects 4xx and the message still waiting",
		Run: func(s *session, t *T) error {
			env, err := s.firstPulled(t)
			if err != nil {
				return err
			}
			tok, err := s.kitReceipt(env, certs.KeyCert{Key: s.kit.SignerWrongAnchor.Key, Cert: s.kit.SignerWrongAnchor.Cert})
			if err != nil {
				return err
			}
			a := s.do(t, IDGood, http.MethodPost, "/inbox/{id}/ack", "/inbox/"+env.MessageID+"/ack", "application/jose", tok)
			if a.Err != nil || a.Status < 400 || a.Status > 499 {
				return fmt.Errorf("answered %d (%v) to an untrusted receipt, want 4xx", a.Status, a.Err)
			}
			return nil
		}},
	{ID: "ECO-PULL-03", Group: "pull", Title: "a pulled e-CO verifies under the profile and a signed acknowledgement is taken", Rule: "design §5 (pull mode) and §6",
		Sends: "verifies the first waiting e-CO under the profile's signing certificates, then POST /inbox/{id}/ack with the kit's signed receipt; expects 200 and the message no longer listed",
		Run: func(s *session, t *T) error {
			env, err := s.firstPulled(t)
			if err != nil {
				return err
			}
			p, err := s.nodeProfile(t)
			if err != nil {
				return err
			}
			if err := verifyUnderProfile(p, env.Content, s.opt.Now()); err != nil {
				return err
			}
			tok, err := s.kitReceipt(env, s.kit.Receipt, s.kit.Root.Cert)
			if err != nil {
				return err
			}
			a := s.do(t, IDGood, http.MethodPost, "/inbox/{id}/ack", "/inbox/"+env.MessageID+"/ack", "application/jose", tok)
			if a.Err != nil || a.Status != 200 {
				return fmt.Errorf("answered %d (%v) to the kit's signed receipt, want 200: %s", a.Status, a.Err, excerpt(a.Body, 300))
			}
			l := s.do(t, IDGood, http.MethodGet, "/inbox", "/inbox", "", nil)
			if bytes.Contains(l.Body, []byte(`"`+env.MessageID+`"`)) {
				return fmt.Errorf("message %s is still listed after its acknowledgement", env.MessageID)
			}
			return nil
		}},

	// verification queries
	{ID: "ECO-VQ-01", Group: "query", Title: "a verification query for an unknown certificate gets a signed not-found answer", Rule: "design §7 (POST /verification-queries); WCO CO framework (real-time check at the issuer)",
		Sends: "POST /verification-queries for a number the node never issued; expects 200 application/jose, verifying under the profile's receipt key, found=false",
		Run: func(s *session, t *T) error {
			ans, err := s.query(t, s.node+"-NEVER-ISSUED-"+s.run)
			if err != nil {
				return err
			}
			if ans.Found {
				return errors.New("found=true for a certificate the node never issued")
			}
			return nil
		}},
	{ID: "ECO-VQ-02", Group: "query", Title: "a malformed verification query is refused with 400", Rule: ruleEnvelope,
		Sends: "POST /verification-queries without certificateNumber; expects 400",
		Run: func(s *session, t *T) error {
			a := s.do(t, IDGood, http.MethodPost, "/verification-queries", "/verification-queries", "application/json", []byte(`{"issueDate":"2026-01-01"}`))
			if a.Err != nil || a.Status != 400 {
				return fmt.Errorf("answered %d (%v), want 400", a.Status, a.Err)
			}
			return nil
		}},
	{ID: "ECO-VQ-03", Group: "query", Title: "a verification query for a certificate issued to the partner finds it", Rule: "design §7 (authoritative status and core data)",
		Sends: "POST /verification-queries for the certificate waiting in the inbox; expects a signed answer with found=true",
		Run: func(s *session, t *T) error {
			env, err := s.firstPulled(t)
			if err != nil {
				return err
			}
			ans, err := s.query(t, env.CertificateNumber)
			if err != nil {
				return err
			}
			if !ans.Found || ans.CertificateNumber != env.CertificateNumber {
				return fmt.Errorf("answer found=%v for %s, want found=true", ans.Found, ans.CertificateNumber)
			}
			return nil
		}},

	// decisions
	{ID: "ECO-DEC-01", Group: "decision", Title: "a decision on a certificate the node did not issue is refused", Rule: "design §2 (the importer's decision travels back to the issuer)",
		Sends: "POST /envelopes of kind decision with a signed ImportOutcome on an unknown number; expects a refusal and no accepted record",
		Run: func(s *session, t *T) error {
			env, err := s.decision(s.node + "-NEVER-ISSUED-" + s.run)
			if err != nil {
				return err
			}
			return s.expectRefused(t, s.send(t, IDGood, env), env, false, 200, 400, 404, 422)
		}},
	{ID: "ECO-DEC-02", Group: "decision", Title: "a decision on a certificate issued to the partner is accepted", Rule: "design §2 and §7 (decisions and utilised quantity)",
		Sends: "POST /envelopes of kind decision with a signed ImportOutcome on the certificate pulled from the inbox; expects a Delivered receipt",
		Run: func(s *session, t *T) error {
			pe, err := s.firstPulled(t)
			if err != nil {
				return err
			}
			env, err := s.decision(pe.CertificateNumber)
			if err != nil {
				return err
			}
			_, err = s.expectAccepted(t, s.send(t, IDGood, env), env)
			return err
		}},
}

// firstPulled returns the first e-CO waiting in the inbox, or NOT APPLICABLE.
func (s *session) firstPulled(t *T) (Envelope, error) {
	l := s.pulled
	if !s.pulledDone {
		var err error
		if l, err = s.inbox(t); err != nil {
			return Envelope{}, err
		}
	}
	if len(l) == 0 {
		return Envelope{}, notApplicable("nothing waits for %s at GET /inbox: have the node send one e-CO to %s (pull mode) before the run", s.kit.Country, s.kit.Country)
	}
	return l[0], nil
}

// kitReceipt signs the kit's receipt for a pulled envelope.
func (s *session) kitReceipt(env Envelope, kc certs.KeyCert, chain ...*x509.Certificate) ([]byte, error) {
	rc := Receipt{MessageID: env.MessageID, Issuer: s.kit.Country, Sender: s.node, Outcome: "Delivered", CertificateNumber: env.CertificateNumber,
		Version: env.Version, ContentSHA256: sha256hex(env.Content), Received: s.opt.Now().UTC().Format(time.RFC3339)}
	return certs.SignJWS(mustJSON(rc), kc.Key, append([]*x509.Certificate{kc.Cert}, chain...))
}

// query posts a verification query and verifies the answer.
func (s *session) query(t *T, number string) (*QueryAnswer, error) {
	a := s.do(t, IDGood, http.MethodPost, "/verification-queries", "/verification-queries", "application/json", mustJSON(map[string]string{"certificateNumber": number}))
	if a.Err != nil || a.Status != 200 {
		return nil, fmt.Errorf("answered %d (%v), want 200 with a signed answer: %s", a.Status, a.Err, excerpt(a.Body, 300))
	}
	if _, err := s.nodeProfile(t); err != nil {
		return nil, err
	}
	payload, _, err := certs.VerifyJWS([]byte(strings.TrimSpace(string(a.Body))), s.receiptTrust, s.opt.Now())
	if err != nil {
		return nil, fmt.Errorf("the answer's JWS does not verify under the profile's receipt key: %v", err)
	}
	var ans QueryAnswer
	if err := json.Unmarshal(payload, &ans); err != nil {
		return nil, fmt.Errorf("the answer payload: %v", err)
	}
	if !strings.EqualFold(ans.Issuer, s.node) {
		return nil, fmt.Errorf("the answer names issuer %q, not %s", ans.Issuer, s.node)
	}
	return &ans, nil
}

// decision builds a signed ImportOutcome envelope on certificate number.
func (s *session) decision(number string) (Envelope, error) {
	now := s.opt.Now().UTC().Truncate(time.Second)
	o := &schema.Outcome{CertificateNumber: number, ExportCountry: s.node, ImportCountry: s.kit.Country, DecisionDateTime: schema.DateTime{Time: now},
		DeclarationRef: "CONF-" + s.run, Items: []schema.ItemDecision{{SequenceNumber: 1, PreferenceGiven: false, Reason: "conformance kit decision"}}}
	doc, err := schema.EncodeOutcomeXML(o)
	if err != nil {
		return Envelope{}, err
	}
	signed, err := signWith(doc, s.kit.Signer, s.kit.Intermediate.Cert)
	if err != nil {
		return Envelope{}, err
	}
	env := s.envelope(number, 1, signed)
	env.Kind, env.DocumentType, env.MessageFunction = "decision", "", ""
	return env, nil
}

// withdrawalBeforeIssue plays ECO-DEL-06: a withdrawal of a certificate
// the node has not seen, then the issue.
func withdrawalBeforeIssue(s *session, t *T) error {
	n := s.number()
	issue, err := s.kit.signedECO(n, 1, s.node, s.opt.Now(), nil)
	if err != nil {
		return err
	}
	wdoc, err := s.kit.signedECO(n, 1, s.node, s.opt.Now(), func(c *schema.Certificate) { c.Header.Status, c.Header.FunctionCode = "40", "1" })
	if err != nil {
		return err
	}
	w := s.envelope(n, 1, wdoc)
	w.DocumentStatus, w.MessageFunction, w.Kind = "40", "1", "withdraw"
	wa := s.send(t, IDGood, w)
	var wOutcome string // the receipt's outcome, or the refusing status
	switch {
	case wa.Err != nil:
		return fmt.Errorf("the early withdrawal: no answer: %v", wa.Err)
	case wa.Status == http.StatusOK:
		rc, err := s.verifyReceipt(t, wa.Body, w)
		if err != nil {
			return fmt.Errorf("the early withdrawal: %v", err)
		}
		wOutcome = rc.Outcome
	case wa.Status >= 400 && wa.Status < 500:
		wOutcome = fmt.Sprint(wa.Status)
	default:
		return fmt.Errorf("the early withdrawal answered %d, want a refusal (4xx or a refusing receipt) or a receipt holding it", wa.Status)
	}
	ie := s.envelope(n, 1, issue)
	if _, err := s.expectAccepted(t, s.send(t, IDGood, ie), ie); err != nil {
		return fmt.Errorf("the issue after an early withdrawal (%s) is lost: %v; the withdrawal must wait for it or be refused, never keep the issue out", wOutcome, err)
	}
	if !accepted(wOutcome) {
		// refused: it must have left no accepted record
		return s.expectNotStored(t, w.MessageID)
	}
	return nil
}

// tlsMatchesProfile plays ECO-PRO-03.
func tlsMatchesProfile(s *session, t *T) error {
	a := s.do(t, IDGood, http.MethodGet, "/profile", "/profile", "", nil)
	p, _, err := s.checkProfile(a)
	if err != nil {
		return err
	}
	if len(a.PeerCertificates) == 0 {
		return errors.New("the connection showed no TLS server certificate")
	}
	leaf := a.PeerCertificates[0]
	if len(p.TLSCertificates) == 0 && s.opt.NodeCA == nil {
		return notApplicable("the profile names no tlsCertificates and no --node-ca was given: nothing to compare the TLS server certificate with")
	}
	if len(p.TLSCertificates) > 0 && !bytes.Equal(p.TLSCertificates[0], leaf.Raw) {
		named := "unparsable"
		if c, err := x509.ParseCertificate(p.TLSCertificates[0]); err == nil {
			named = fmt.Sprintf("%q (serial %x)", c.Subject.CommonName, c.SerialNumber)
		}
		return fmt.Errorf("the TLS server certificate %q (serial %x) is not the one the signed profile names in tlsCertificates[0], %s", leaf.Subject.CommonName, leaf.SerialNumber, named)
	}
	if s.opt.NodeCA != nil {
		inter := x509.NewCertPool()
		for _, c := range a.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.opt.NodeCA, Intermediates: inter, CurrentTime: s.opt.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return fmt.Errorf("the TLS server certificate %q does not chain to the registered CA (--node-ca) for server authentication: %v", leaf.Subject.CommonName, err)
		}
	}
	return nil
}
