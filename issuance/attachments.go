package issuance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// AttachmentKind is what an attachment is.
type AttachmentKind string

// Attachment kinds.
const (
	AttachInvoice     AttachmentKind = "invoice"
	AttachPackingList AttachmentKind = "packing-list"
	AttachOther       AttachmentKind = "other"
)

// AttachmentTypes is the allow-list of attachment content types, as
// net/http.DetectContentType sniffs them from the bytes (the type the
// client claims is not trusted).
var AttachmentTypes = []string{"application/pdf", "image/png", "image/jpeg"}

// Attachment is a document attached to an application. SHA256 (hex) is
// its identity; ContentType is sniffed from its bytes.
type Attachment struct {
	Application string         `json:"application"`
	Kind        AttachmentKind `json:"kind"`
	Name        string         `json:"name"`
	SHA256      string         `json:"sha256"`
	Size        int64          `json:"size"`
	ContentType string         `json:"contentType"`
	By          string         `json:"by"`
	At          time.Time      `json:"at"`
}

// Attach stores an attachment of an application being written (draft or
// returned) by one of its exporter's people. It is refused when larger
// than Config.MaxAttachmentBytes, empty, or of a type outside
// AttachmentTypes (sniffed from data).
func (s *Service) Attach(ctx context.Context, a Actor, id string, kind AttachmentKind, name string, data []byte) (*Attachment, error) {
	var p problems
	switch kind {
	case AttachInvoice, AttachPackingList, AttachOther:
	default:
		p.add("kind", "%q is not %s, %s or %s", kind, AttachInvoice, AttachPackingList, AttachOther)
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 || !utf8.ValidString(name) || strings.ContainsAny(name, "/\\\x00") {
		p.add("name", "give the file name (at most 200 characters, no slashes)")
	}
	if len(data) == 0 {
		p.add("body", "the attachment is empty")
	} else if int64(len(data)) > s.cfg.MaxAttachmentBytes {
		p.add("body", "the attachment has %d bytes; at most %d", len(data), s.cfg.MaxAttachmentBytes)
	}
	ct := http.DetectContentType(data)
	if len(data) > 0 && !slices.Contains(AttachmentTypes, ct) {
		p.add("body", "the content is %s; attach a PDF, PNG or JPEG file", ct)
	}
	if err := p.err("attachment"); err != nil {
		return nil, fmt.Errorf("attach to %s: %w", id, err)
	}
	sum := sha256.Sum256(data)
	var out *Attachment
	err := s.do(ctx, a, "attach", id, func(tx Tx, p *principal) error {
		x, app, err := seenExt(tx, p, id)
		if err != nil {
			return err
		}
		if err := need(p, "attach documents", exporterRoles...); err != nil {
			return err
		}
		if app.State != StateDraft && app.State != StateReturned {
			return fmt.Errorf("%w: application %s is %s; documents are attached to a draft or a returned application", ErrState, id, app.State)
		}
		at := &Attachment{Application: id, Kind: kind, Name: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)),
			ContentType: ct, By: p.actor.ID, At: s.now()}
		if err := x.PutAttachment(at, data); err != nil {
			return err
		}
		out = at
		return s.audit(tx, p.String(), "application.attach", id, map[string]string{"kind": string(kind), "sha256": at.SHA256, "contentType": ct})
	})
	return out, err
}

// seenExt is ext(tx) and application id, which p must be allowed to see.
func seenExt(tx Tx, p *principal, id string) (ExtTx, *Application, error) {
	x, err := ext(tx)
	if err != nil {
		return nil, nil, err
	}
	app, err := tx.Application(id)
	if err != nil {
		return nil, nil, err
	}
	if err := canSee(p, app); err != nil {
		return nil, nil, err
	}
	return x, app, nil
}

// Attachments lists an application's attachments (whoever may see it).
func (s *Service) Attachments(ctx context.Context, a Actor, id string) ([]*Attachment, error) {
	var out []*Attachment
	err := s.view(ctx, a, "list attachments", id, func(tx Tx, p *principal) error {
		x, _, err := seenExt(tx, p, id)
		if err != nil {
			return err
		}
		out, err = x.Attachments(id)
		return err
	})
	return out, err
}

// AttachmentData returns one attachment with its bytes.
func (s *Service) AttachmentData(ctx context.Context, a Actor, id, sha string) (*Attachment, []byte, error) {
	var at *Attachment
	var data []byte
	err := s.view(ctx, a, "read attachment", id, func(tx Tx, p *principal) error {
		x, _, err := seenExt(tx, p, id)
		if err != nil {
			return err
		}
		at, data, err = x.Attachment(id, sha)
		return err
	})
	return at, data, err
}
