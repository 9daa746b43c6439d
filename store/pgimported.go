package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// checkImport refuses what Issued.Import refuses before writing and
// returns the document's record.
func checkImport(c *ImportedCert, now time.Time) (*IssuedDoc, error) {
	if err := checkID("certificate number", c.Number); err != nil {
		return nil, fmt.Errorf("import certificate: %w", err)
	}
	if c.Version < 0 {
		return nil, fmt.Errorf("import certificate %s: %w: version %d is negative", c.Number, ErrInvalid, c.Version)
	}
	if len(c.Doc) == 0 {
		return nil, fmt.Errorf("import certificate %s: %w: the document is empty", c.Number, ErrInvalid)
	}
	switch c.Status {
	case "", CertIssued, CertWithdrawn:
	default:
		return nil, fmt.Errorf("import certificate %s: %w: status %q (want issued or withdrawn)", c.Number, ErrInvalid, c.Status)
	}
	if c.ReplacesNumber != "" {
		if err := checkID("replaced certificate number", c.ReplacesNumber); err != nil {
			return nil, fmt.Errorf("import certificate %s: %w", c.Number, err)
		}
	}
	docHash := hashHex(c.Doc)
	if c.ContentSHA256 == "" {
		c.ContentSHA256 = docHash
	}
	return &IssuedDoc{Number: c.Number, Version: c.Version, ContentSHA256: c.ContentSHA256, DocSHA256: docHash,
		Size: len(c.Doc), Signed: c.Signed, Origin: c.Origin, Imported: now.UTC()}, nil
}

// Import is Issued.Import on PostgreSQL: document, idempotency record and
// register entries in one transaction. The primary key of issued_docs
// decides between concurrent imports of the same number and version.
func (is *PGIssued) Import(ctx context.Context, c ImportedCert) (dup bool, err error) {
	info, err := checkImport(&c, is.pg.clock())
	if err != nil {
		return false, err
	}
	infoJSON, err := json.Marshal(info)
	if err != nil {
		return false, err
	}
	err = is.pg.inTx(ctx, func(tx pgx.Tx) error {
		dup = false
		tag, err := tx.Exec(ctx, "INSERT INTO issued_docs (number, version, info, doc) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			c.Number, c.Version, infoJSON, c.Doc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgImportedBefore(ctx, tx, &c, &dup)
		}
		return pgImportRegister(ctx, tx, &c, info.Imported)
	})
	if err != nil {
		return false, fmt.Errorf("import certificate %s: %w", c.Number, err)
	}
	return dup, nil
}

// pgImportedBefore compares c with the stored record of its number and
// version: the same content is a duplicate, other content a conflict.
func pgImportedBefore(ctx context.Context, tx pgx.Tx, c *ImportedCert, dup *bool) error {
	var v []byte
	if err := tx.QueryRow(ctx, "SELECT info FROM issued_docs WHERE number = $1 AND version = $2", c.Number, c.Version).Scan(&v); err != nil {
		return err
	}
	var prev IssuedDoc
	if err := json.Unmarshal(v, &prev); err != nil {
		return fmt.Errorf("decode stored document record: %w", err)
	}
	if prev.ContentSHA256 == c.ContentSHA256 {
		*dup = true
		return nil
	}
	return fmt.Errorf("%w: version %d is already stored with other content (sha256 %.12s…, imported %s from %q, this one %.12s…); fix the source or give the new content a new version",
		ErrConflict, c.Version, prev.ContentSHA256, prev.Imported.Format(time.RFC3339), prev.Origin, c.ContentSHA256)
}

// pgImportRegister writes the register entries of an imported certificate.
func pgImportRegister(ctx context.Context, tx pgx.Tx, c *ImportedCert, now time.Time) error {
	if _, err := pgRegisterTx(ctx, tx, IssuedCert{Country: c.Country, Number: c.Number, Version: c.Version, Status: c.Status, Data: c.Data}, now); err != nil {
		return err
	}
	if c.ReplacesNumber != "" && c.ReplacesNumber != c.Number {
		if _, err := pgRegisterTx(ctx, tx, IssuedCert{Country: c.Country, Number: c.ReplacesNumber, Version: -1, Status: CertReplaced, ReplacedBy: c.Number}, now); err != nil {
			return err
		}
	}
	return nil
}

// Document is Issued.Document.
func (is *PGIssued) Document(ctx context.Context, number string, version int) ([]byte, *IssuedDoc, error) {
	var doc, v []byte
	err := is.pg.pool.QueryRow(ctx, "SELECT info, doc FROM issued_docs WHERE number = $1 AND version = $2", number, version).Scan(&v, &doc)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("document %s version %d: %w", number, version, err)
	}
	var info IssuedDoc
	if err := json.Unmarshal(v, &info); err != nil {
		return nil, nil, fmt.Errorf("document %s version %d: %w", number, version, err)
	}
	return doc, &info, nil
}
