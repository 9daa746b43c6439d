package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/mapping"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// ImportStore is where an ImportSink writes: the issued register with its
// documents (satisfied by *store.Issued).
type ImportStore interface {
	Import(ctx context.Context, c store.ImportedCert) (dup bool, err error)
}

// ImportSink is the mapping.Sink of `ecogate import`: it stores migrated
// certificates in the node's store, each in one transaction (exact
// canonical XML, idempotency record, issued-register entry with QR token
// and core data), so the public verification page and verification-query
// answers know them. Safe for concurrent use by the import workers.
type ImportSink struct {
	// Store receives the certificates (db.Issued()).
	Store ImportStore
	// Signer, when set, signs each canonical XML with the node's
	// document-signing key before it is stored; nil stores it unsigned.
	Signer DocumentSigner
	// Origin is recorded with each document (e.g. "import india-ecoo").
	Origin string
}

var _ mapping.Sink = (*ImportSink)(nil)

// Has implements mapping.Sink. It always answers false: whether a record
// is a duplicate (same content: skipped) or a conflict (other content under
// the same number and version: failed) is decided by Put, inside the
// transaction.
func (s *ImportSink) Has(context.Context, string) (bool, error) { return false, nil }

// Put implements mapping.Sink: it encodes c to canonical XML, signs it when
// a Signer is set, computes its core data and stores all of it in one
// transaction. The same content again returns an error wrapping
// mapping.ErrAlreadyStored (the record is skipped); other content under
// the same number and version fails with store.ErrConflict.
func (s *ImportSink) Put(ctx context.Context, key string, c *schema.Certificate) error {
	xml, err := schema.EncodeXML(c)
	if err != nil {
		return fmt.Errorf("encode %s as canonical XML: %w", key, err)
	}
	sum := sha256.Sum256(xml)
	doc := xml
	if s.Signer != nil {
		if doc, err = s.Signer.Sign(ctx, xml); err != nil {
			return fmt.Errorf("sign %s: %w", key, err)
		}
	}
	r, replaces, err := customs.IssuedRecordOf(c)
	if err != nil {
		return fmt.Errorf("core data of %s: %w", key, err)
	}
	ic := store.ImportedCert{Country: r.Country, Number: r.Number, Version: r.Version, Status: r.Status, ReplacesNumber: replaces,
		Doc: doc, ContentSHA256: hex.EncodeToString(sum[:]), Signed: s.Signer != nil, Data: r.Data, Origin: s.Origin}
	if ic.Number == "" {
		ic.Number = key
	}
	dup, err := s.Store.Import(ctx, ic)
	if err != nil {
		return err
	}
	if dup {
		return fmt.Errorf("certificate %s version %d: %w", ic.Number, ic.Version, mapping.ErrAlreadyStored)
	}
	return nil
}
