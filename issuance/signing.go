package issuance

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
)

// KeySigner is the held-key signing path: it signs the certificate's e-CO
// (Certificate.Document) with the key the node holds for the officer
// (Keys), under the officer's registered DSC (Certificate.SignerChain),
// with certs.Signer (enveloped XML-DSig, strict profile).
type KeySigner struct {
	Keys OfficerKeys
}

// Sign implements Signer.
func (k *KeySigner) Sign(ctx context.Context, officer *Person, c *Certificate) ([]byte, error) {
	if len(c.SignerChain) == 0 {
		return nil, fmt.Errorf("%w: %s has no registered DSC to sign under (configure the officers' DSC anchors)", ErrForbidden, officer.ID)
	}
	if len(c.Document) == 0 {
		return nil, errors.New("no e-CO document to sign")
	}
	key, err := k.Keys.Key(ctx, officer.ID)
	if err != nil {
		return nil, fmt.Errorf("the node holds no key for %s: %w", officer.ID, err)
	}
	if pk, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(c.SignerChain[0].PublicKey) {
		return nil, fmt.Errorf("%w: the key the node holds for %s is not the key of the registered DSC %q; register the DSC of that key", ErrForbidden, officer.ID, c.SignerChain[0].Subject.CommonName)
	}
	s := certs.Signer{Key: key, Chain: c.SignerChain}
	return s.Sign(c.Document)
}

// PendingSignature is the e-CO handed to an officer for external signing
// (a key on a USB token): its number is reserved for the application (so
// the series keeps no gap) and the upload must be exactly this document,
// signed.
type PendingSignature struct {
	Application string    `json:"application"`
	Number      string    `json:"number"`
	IssuedAt    time.Time `json:"issuedAt"`
	Officer     string    `json:"officer"`
	Document    []byte    `json:"document"`
	SHA256      string    `json:"sha256"`
	Prepared    time.Time `json:"prepared"`
}

// SignedDeclaration is the exporter's signed submission declaration of an
// application's content.
type SignedDeclaration struct {
	Application   string    `json:"application"`
	Signer        string    `json:"signer"`
	ContentSHA256 string    `json:"contentSha256"`
	DSCSHA256     string    `json:"dscSha256"`
	SignedAt      time.Time `json:"signedAt"`
	Document      []byte    `json:"document"`
}

// checkApprover refuses an officer without a valid registered DSC when
// officers' DSC anchors are configured.
func (s *Service) checkApprover(tx Tx, p *principal, _ *Application) error {
	if s.cfg.OfficerTrust == nil {
		return nil
	}
	_, _, err := s.validDSC(tx, p.person)
	return err
}

// checkSubmission validates the future e-CO against the agreement profile
// (SEVERE findings refuse, as a *FindingsError) and, when exporters' DSC
// anchors are configured, requires the exporter's signed declaration of
// the content submitted.
func (s *Service) checkSubmission(tx Tx, app *Application) error {
	eco, err := s.provisionalECO(tx, app)
	if err != nil {
		return err
	}
	if _, err := s.validateECO(app.ID, eco); err != nil {
		return err
	}
	if s.cfg.ExporterTrust == nil {
		return nil
	}
	d, err := tx.Declaration(app.ID)
	if errors.Is(err, ErrNotFound) {
		return invalid("the declaration of application %s is not signed: sign it with the IEC's DSC before submitting", app.ID)
	}
	if err != nil {
		return err
	}
	if d.ContentSHA256 != contentHash(app) {
		return invalid("the declaration of application %s was signed for other content; sign it again", app.ID)
	}
	return nil
}

// nextNumber gives the application's certificate number and issue time:
// those reserved by a document handed out for external signing, else the
// next of the office's series, now.
func (s *Service) nextNumber(tx Tx, parts ECOParts, pend *PendingSignature) (string, time.Time, error) {
	if pend != nil {
		return pend.Number, pend.IssuedAt, nil
	}
	now := s.now()
	year := now.In(s.cfg.Location).Year()
	seq, err := tx.NextSeq(SeriesKey(parts.Agency.ID, parts.Office.ID, year))
	if err != nil {
		return "", time.Time{}, err
	}
	return CertificateNumber(parts.Agency.Series, parts.Office.Code, year, seq), now, nil
}

// certificateFor builds the certificate of app under number, issued at
// at by officer p, with its e-CO (validated: a SEVERE finding refuses) and
// the e-CO's unsigned XML.
func (s *Service) certificateFor(app *Application, parts ECOParts, number string, at time.Time) (*Certificate, error) {
	c := &Certificate{Number: number, Country: s.cfg.Country, Kind: app.Kind, Concerns: app.Concerns, Application: app.ID,
		IEC: app.IEC, Exporter: parts.Exporter.Name, Agency: parts.Agency.ID, Office: parts.Office.ID, Officer: parts.Officer.ID,
		IssuedAt: at, Content: app.Content}
	eco, err := BuildECO(c, parts)
	if err != nil {
		return nil, err
	}
	if _, err := s.validateECO(app.ID, eco); err != nil {
		return nil, err
	}
	doc, err := schema.EncodeXML(eco)
	if err != nil {
		return nil, fmt.Errorf("encode e-CO %s: %w", number, err)
	}
	c.ECO, c.Document = eco, doc
	return c, nil
}

func (s *Service) pending(tx Tx, app string) (*PendingSignature, error) {
	p, err := tx.PendingSignature(app)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return p, err
}

// issueIn numbers, signs (external: checks the uploaded signed document)
// and hands app's certificate to the node in tx.
func (s *Service) issueIn(ctx context.Context, tx Tx, p *principal, app *Application, upload []byte) (*Certificate, error) {
	if s.cfg.Node == nil {
		return nil, fmt.Errorf("%w: no node is configured", ErrNotAvailable)
	}
	var chain []*x509.Certificate
	if s.cfg.OfficerTrust != nil {
		var err error
		if chain, _, err = s.validDSC(tx, p.person); err != nil {
			return nil, err
		}
	}
	parts, err := s.ecoParts(tx, app, p.person)
	if err != nil {
		return nil, err
	}
	pend, err := s.pending(tx, app.ID)
	if err != nil {
		return nil, err
	}
	var c *Certificate
	var signed []byte
	if upload != nil {
		if pend == nil {
			return nil, fmt.Errorf("%w: no document was handed out for application %s; download the document to sign first", ErrState, app.ID)
		}
		if pend.Officer != p.person.ID {
			return nil, forbidden("the document of application %s was handed to %s; download it yourself and sign that", app.ID, pend.Officer)
		}
		c = &Certificate{Number: pend.Number, Country: s.cfg.Country, Kind: app.Kind, Concerns: app.Concerns, Application: app.ID,
			IEC: app.IEC, Exporter: parts.Exporter.Name, Agency: parts.Agency.ID, Office: parts.Office.ID, Officer: p.person.ID,
			IssuedAt: pend.IssuedAt, Content: app.Content, Document: pend.Document, SignerChain: chain}
		if c.ECO, err = s.checkUpload(pend, upload, chain); err != nil {
			return nil, err
		}
		signed = upload
	} else {
		if s.cfg.Signer == nil {
			return nil, fmt.Errorf("%w: no signer is configured (held keys); use external signing", ErrNotAvailable)
		}
		number, at, err := s.nextNumber(tx, parts, pend)
		if err != nil {
			return nil, err
		}
		if c, err = s.certificateFor(app, parts, number, at); err != nil {
			return nil, err
		}
		c.SignerChain = chain
		if signed, err = s.cfg.Signer.Sign(ctx, p.person, c); err != nil {
			return nil, fmt.Errorf("sign certificate %s: %w", c.Number, err)
		}
	}
	if err := s.cfg.Node.RegisterAndQueue(ctx, tx, c, signed); err != nil {
		return nil, fmt.Errorf("register and queue certificate %s: %w", c.Number, err)
	}
	if pend != nil {
		if err := tx.DeletePendingSignature(app.ID); err != nil {
			return nil, err
		}
	}
	app.Certificate, app.Issued = c.Number, c.IssuedAt
	return c, nil
}

// checkUpload checks an externally signed e-CO: its signature verifies
// under the strict profile and the officers' anchors (chain, key usage,
// revocation), the signer is the officer's registered DSC (chain[0]), and
// its content is the document handed out (canonical form identical but
// for the enveloped Signature). It returns the e-CO decoded from the
// verified content.
func (s *Service) checkUpload(pend *PendingSignature, upload []byte, chain []*x509.Certificate) (*schema.Certificate, error) {
	if s.cfg.OfficerTrust == nil || len(chain) == 0 {
		return nil, fmt.Errorf("%w: external signing needs the officers' DSC anchors", ErrNotAvailable)
	}
	v := &certs.Verifier{Trust: s.cfg.OfficerTrust, Now: s.cfg.Clock}
	res, err := v.Verify(upload)
	if err != nil {
		return nil, err
	}
	if !res.Valid {
		f := res.Report.First()
		return nil, invalid("the uploaded document's signature is not valid under the strict profile: %s %s: %s", f.Check, f.Reason, f.Detail)
	}
	if !bytes.Equal(res.Signer.Raw, chain[0].Raw) {
		return nil, forbidden("the uploaded document is signed by %q (serial %X), not by the officer's registered DSC %q", res.Signer.Subject.CommonName, res.Signer.SerialNumber, chain[0].Subject.CommonName)
	}
	d, err := certs.ParseStrict(pend.Document, certs.Limits{})
	if err != nil {
		return nil, fmt.Errorf("the stored document to sign of %s: %w", pend.Application, err)
	}
	if want := certs.ExcC14N(d.Root(), nil, nil); !bytes.Equal(res.Signed, want) {
		return nil, invalid("the uploaded document is not the document handed out for application %s (certificate %s): its content differs; sign the downloaded document without changing it", pend.Application, pend.Number)
	}
	eco, fs := schema.DecodeElement(res.Element, schema.DecodeOptions{})
	if eco == nil {
		return nil, invalid("the uploaded document is not an e-CO: %v", fs)
	}
	return eco, nil
}

// ApproveAndIssue approves an application under review and issues it in
// one transaction (approve, sign, number, register, enqueue): all of it
// or none of it.
func (s *Service) ApproveAndIssue(ctx context.Context, a Actor, id, note string) (*Application, *Certificate, error) {
	var app *Application
	var cert *Certificate
	err := s.do(ctx, a, "approve and issue", id, func(tx Tx, p *principal) error {
		if _, err := s.moveIn(tx, p, id, ActApprove, note, s.checkApprover); err != nil {
			return err
		}
		var err error
		app, err = s.moveIn(tx, p, id, ActIssue, "", func(tx Tx, p *principal, app *Application) error {
			cert, err = s.issueIn(ctx, tx, p, app, nil)
			return err
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return app, cert, nil
}

// DocumentToSign hands the officer the exact e-CO to sign for an approved
// application (the external signing path, for keys on a USB token). The
// first call reserves the certificate's number and issue time; later calls
// give the same document (rebuilt for the officer who asks). Sign it with
// any XML-DSig tool (`ecogate sign`) and upload it with IssueSigned.
func (s *Service) DocumentToSign(ctx context.Context, a Actor, id string) ([]byte, error) {
	var out []byte
	err := s.do(ctx, a, "prepare document to sign", id, func(tx Tx, p *principal) error {
		if err := need(p, "sign a certificate", RoleOfficer); err != nil {
			return err
		}
		app, err := tx.Application(id)
		if err != nil {
			return err
		}
		if err := canSee(p, app); err != nil {
			return err
		}
		if app.State != StateApproved {
			return fmt.Errorf("%w: application %s is %s; only an approved application is signed", ErrState, id, app.State)
		}
		if s.cfg.OfficerTrust == nil {
			return fmt.Errorf("%w: external signing needs the officers' DSC anchors", ErrNotAvailable)
		}
		if _, _, err := s.validDSC(tx, p.person); err != nil {
			return err
		}
		parts, err := s.ecoParts(tx, app, p.person)
		if err != nil {
			return err
		}
		pend, err := s.pending(tx, id)
		if err != nil {
			return err
		}
		number, at, err := s.nextNumber(tx, parts, pend)
		if err != nil {
			return err
		}
		c, err := s.certificateFor(app, parts, number, at)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(c.Document)
		np := &PendingSignature{Application: id, Number: number, IssuedAt: at, Officer: p.person.ID, Document: c.Document,
			SHA256: hex.EncodeToString(sum[:]), Prepared: s.now()}
		if err := tx.PutPendingSignature(np); err != nil {
			return err
		}
		out = c.Document
		return s.audit(tx, p.String(), "issue.prepare", id, map[string]string{"certificate": number, "sha256": np.SHA256})
	})
	return out, err
}

// IssueSigned issues an approved application with the e-CO the officer
// signed externally: accepted only when it is the document DocumentToSign
// handed out (canonical content identical apart from the enveloped
// Signature), signed under the strict profile by that officer's
// registered DSC. A refused upload changes nothing and is audited.
func (s *Service) IssueSigned(ctx context.Context, a Actor, id string, signed []byte) (*Application, *Certificate, error) {
	if len(signed) == 0 {
		return nil, nil, fmt.Errorf("issue %s: %w: upload the signed document", id, ErrInvalid)
	}
	var cert *Certificate
	app, err := s.move(ctx, a, id, ActIssue, "", func(tx Tx, p *principal, app *Application) error {
		var err error
		cert, err = s.issueIn(ctx, tx, p, app, signed)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrState) {
			s.auditRefusal(ctx, a, "issue signed", id, err)
		}
		return nil, nil, err
	}
	return app, cert, nil
}

// contentHash is the hex SHA-256 of what an exporter declares: the
// application's kind, what it concerns and its content.
func contentHash(app *Application) string {
	b, _ := json.Marshal(struct {
		ID       string  `json:"id"`
		IEC      string  `json:"iec"`
		Kind     Kind    `json:"kind"`
		Concerns CertRef `json:"concerns"`
		Content  Content `json:"content"`
	}{app.ID, app.IEC, app.Kind, app.Concerns, app.Content})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DeclarationNamespace is the XML namespace of the submission declaration.
const DeclarationNamespace = "urn:ecogate:issuance:declaration:1"

// declarationDoc is the submission declaration of app, the document an
// exporter signs: the application, the IEC, the declaration's place, name
// and designation, its statement, and the SHA-256 of the content.
func declarationDoc(app *Application) []byte {
	var b bytes.Buffer
	el := func(name, v string) {
		b.WriteString("  <" + name + ">")
		_ = xml.EscapeText(&b, []byte(v))
		b.WriteString("</" + name + ">\n")
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<SubmissionDeclaration xmlns="` + DeclarationNamespace + `">` + "\n")
	el("Application", app.ID)
	el("IEC", app.IEC)
	el("Kind", string(app.Kind))
	el("Agreement", app.Content.Agreement)
	el("ImportingCountry", app.Content.ImportingCountry)
	el("InvoiceNumber", app.Content.InvoiceNumber)
	el("Place", app.Content.Declaration.Place)
	el("Name", app.Content.Declaration.Name)
	el("Designation", app.Content.Declaration.Designation)
	el("Statement", declarationStatement)
	el("ContentSHA256", contentHash(app))
	b.WriteString("</SubmissionDeclaration>\n")
	return b.Bytes()
}

// exporterApp reads an application the exporter actor may declare: its
// own IEC's, in draft or returned.
func exporterApp(tx Tx, p *principal, id string) (*Application, error) {
	if err := need(p, "sign a declaration", exporterRoles...); err != nil {
		return nil, err
	}
	app, err := tx.Application(id)
	if err != nil {
		return nil, err
	}
	if err := canSee(p, app); err != nil {
		return nil, err
	}
	if app.State != StateDraft && app.State != StateReturned {
		return nil, fmt.Errorf("%w: application %s is %s; a declaration is signed before submitting", ErrState, id, app.State)
	}
	return app, nil
}

// DeclarationToSign returns the submission declaration of an application
// for the exporter to sign externally (SignDeclaration).
func (s *Service) DeclarationToSign(ctx context.Context, a Actor, id string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, a, "read declaration", id, func(tx Tx, p *principal) error {
		app, err := exporterApp(tx, p, id)
		if err == nil {
			out = declarationDoc(app)
		}
		return err
	})
	return out, err
}

// SignDeclaration records the exporter's externally signed declaration:
// accepted only when it is the declaration of the application's current
// content, signed under the strict profile by the actor's registered DSC
// (which chains to the exporters' anchors and carries the applicant's
// IEC).
func (s *Service) SignDeclaration(ctx context.Context, a Actor, id string, signed []byte) error {
	return s.declare(ctx, a, id, func(tx Tx, p *principal, app *Application, chain []*x509.Certificate) ([]byte, error) {
		v := &certs.Verifier{Trust: s.cfg.ExporterTrust, Now: s.cfg.Clock}
		res, err := v.Verify(signed)
		if err != nil {
			return nil, err
		}
		if !res.Valid {
			f := res.Report.First()
			return nil, invalid("the declaration's signature is not valid under the strict profile: %s %s: %s", f.Check, f.Reason, f.Detail)
		}
		if !bytes.Equal(res.Signer.Raw, chain[0].Raw) {
			return nil, forbidden("the declaration is signed by %q, not by %s's registered DSC", res.Signer.Subject.CommonName, p.person.ID)
		}
		d, err := certs.ParseStrict(declarationDoc(app), certs.Limits{})
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(res.Signed, certs.ExcC14N(d.Root(), nil, nil)) {
			return nil, invalid("the signed document is not the declaration of application %s's current content; download it again and sign it unchanged", app.ID)
		}
		return signed, nil
	})
}

// SignDeclarationHeld signs the declaration with the key the node holds
// for the actor (Config.HeldKeys) under the actor's registered DSC.
func (s *Service) SignDeclarationHeld(ctx context.Context, a Actor, id string) error {
	if s.cfg.HeldKeys == nil {
		return fmt.Errorf("sign declaration %s: %w: the node holds no keys; sign externally", id, ErrNotAvailable)
	}
	return s.declare(ctx, a, id, func(tx Tx, p *principal, app *Application, chain []*x509.Certificate) ([]byte, error) {
		key, err := s.cfg.HeldKeys.Key(ctx, p.person.ID)
		if err != nil {
			return nil, fmt.Errorf("the node holds no key for %s: %w", p.person.ID, err)
		}
		sg := certs.Signer{Key: key, Chain: chain}
		return sg.Sign(declarationDoc(app))
	})
}

func (s *Service) declare(ctx context.Context, a Actor, id string, sign func(Tx, *principal, *Application, []*x509.Certificate) ([]byte, error)) error {
	if s.cfg.ExporterTrust == nil {
		return fmt.Errorf("sign declaration %s: %w: no anchors are configured for exporters' DSCs", id, ErrNotAvailable)
	}
	err := s.do(ctx, a, "sign declaration", id, func(tx Tx, p *principal) error {
		app, err := exporterApp(tx, p, id)
		if err != nil {
			return err
		}
		chain, dsc, err := s.validDSC(tx, p.person)
		if err != nil {
			return err
		}
		doc, err := sign(tx, p, app, chain)
		if err != nil {
			return err
		}
		d := &SignedDeclaration{Application: id, Signer: p.person.ID, ContentSHA256: contentHash(app), DSCSHA256: dsc.SHA256,
			SignedAt: s.now(), Document: doc}
		if err := tx.PutDeclaration(d); err != nil {
			return err
		}
		return s.audit(tx, p.String(), "declaration.sign", id, map[string]string{"dsc": dsc.SHA256, "content": d.ContentSHA256})
	})
	if errors.Is(err, ErrInvalid) {
		s.auditRefusal(ctx, a, "sign declaration", id, err)
	}
	return err
}
