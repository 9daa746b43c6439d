package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the certificate documents held with the issued register:
// the exact bytes of certificates migrated from a legacy platform (ecogate
// import). Created on first write.
//
// The bytes themselves are a blob (bucket blobs, keyed by their SHA-256,
// IssuedDoc.DocSHA256, stored once and S2-compressed like every other
// document the node keeps: outbox and inbox content). Files written before
// that kept them raw in bktIssDoc; those entries are still read (a key in
// bktIssDoc wins) and never rewritten, so an older file opens and reads
// unchanged.
const (
	bktIssDoc     = "iss_doc"     // legacy: number 0 be32(version) -> exact XML bytes
	bktIssDocInfo = "iss_docinfo" // number 0 be32(version) -> JSON IssuedDoc (idempotency key)
)

// ImportedCert is one certificate migrated from a legacy platform: its
// exact document and its entry in the issued register. Issued.Import stores
// it whole or not at all.
type ImportedCert struct {
	// Country is the issuing (export) country, Number the certificate
	// number and Version its version (0 or more).
	Country string
	Number  string
	Version int
	// Doc is the certificate's exact canonical XML, signed or not; it is
	// stored byte for byte.
	Doc []byte
	// ContentSHA256 is the hex SHA-256 that identifies the certificate's
	// content, the idempotency key: importing the same number and version
	// with the same hash again is a no-op, with another hash a conflict.
	// It should not depend on the signature (which differs at every
	// signing); the gateway's sink hashes the unsigned canonical XML.
	// Empty means the hash of Doc.
	ContentSHA256 string
	// Signed says whether Doc carries this node's signature.
	Signed bool
	// Status is the register status to record: issued (or empty) or
	// withdrawn. ReplacesNumber, when set, names the certificate this one
	// replaces; it is marked replaced in the same transaction.
	Status         CertState
	ReplacesNumber string
	// Data is the core data for the register (IssuedCert.Data).
	Data json.RawMessage
	// Origin says where the record came from (e.g. the profile's name).
	Origin string
}

// IssuedDoc describes a stored certificate document (and is its
// idempotency record).
type IssuedDoc struct {
	Number  string `json:"number"`
	Version int    `json:"version"`
	// ContentSHA256 identifies the content (see ImportedCert); DocSHA256 is
	// the hex SHA-256 of the stored bytes.
	ContentSHA256 string    `json:"contentSha256"`
	DocSHA256     string    `json:"docSha256"`
	Size          int       `json:"size"`
	Signed        bool      `json:"signed"`
	Origin        string    `json:"origin,omitempty"`
	Imported      time.Time `json:"imported"`
}

func docKey(number string, version int) []byte {
	return key([]byte(number), be32(uint32(version)))
}

// Import stores a migrated certificate in one transaction: its exact
// bytes under its number and version, its idempotency record and its
// entry in the issued register (QR token, status, core data) so that the
// public verification page and verification queries know it. It reports
// dup when the same number, version and content were already imported
// (nothing is written); the same number and version with other content
// fails with ErrConflict. On any error nothing of the certificate is
// stored. Concurrent calls share group commits (one fsync for many).
func (is *Issued) Import(ctx context.Context, c ImportedCert) (dup bool, err error) {
	if err := checkID("certificate number", c.Number); err != nil {
		return false, fmt.Errorf("import certificate: %w", err)
	}
	if c.Version < 0 {
		return false, fmt.Errorf("import certificate %s: %w: version %d is negative", c.Number, ErrInvalid, c.Version)
	}
	if len(c.Doc) == 0 {
		return false, fmt.Errorf("import certificate %s: %w: the document is empty", c.Number, ErrInvalid)
	}
	switch c.Status {
	case "", CertIssued, CertWithdrawn:
	default:
		return false, fmt.Errorf("import certificate %s: %w: status %q (want issued or withdrawn)", c.Number, ErrInvalid, c.Status)
	}
	if c.ReplacesNumber != "" {
		if err := checkID("replaced certificate number", c.ReplacesNumber); err != nil {
			return false, fmt.Errorf("import certificate %s: %w", c.Number, err)
		}
	}
	docHash := hashHex(c.Doc)
	if c.ContentSHA256 == "" {
		c.ContentSHA256 = docHash
	}
	info := IssuedDoc{Number: c.Number, Version: c.Version, ContentSHA256: c.ContentSHA256, DocSHA256: docHash,
		Size: len(c.Doc), Signed: c.Signed, Origin: c.Origin, Imported: is.db.clock().UTC()}
	infoJSON, err := json.Marshal(&info)
	if err != nil {
		return false, err
	}
	k := docKey(c.Number, c.Version)
	stored := encodeDocBlob(c.Doc) // outside the writer: it costs CPU
	err = is.db.update(ctx, func(tx *bolt.Tx) error {
		dup = false
		ib, err := bucketRW(tx, bktIssDocInfo)
		if err != nil {
			return err
		}
		if v := ib.Get(k); v != nil {
			var prev IssuedDoc
			if err := json.Unmarshal(v, &prev); err != nil {
				return fmt.Errorf("decode stored document record: %w", err)
			}
			if prev.ContentSHA256 == c.ContentSHA256 {
				dup = true
				return nil
			}
			return fmt.Errorf("%w: version %d is already stored with other content (sha256 %.12s…, imported %s from %q, this one %.12s…); fix the source or give the new content a new version",
				ErrConflict, c.Version, prev.ContentSHA256, prev.Imported.Format(time.RFC3339), prev.Origin, c.ContentSHA256)
		}
		if _, err := putBlob(tx, docHash, stored); err != nil {
			return err
		}
		// Numbers of a bulk import usually come in key order: fuller
		// pages (the default half-full split wastes about 40%).
		ib.FillPercent = 0.9
		if err := ib.Put(k, infoJSON); err != nil {
			return err
		}
		if is.db.hookImportMid != nil {
			if err := is.db.hookImportMid(c.Number); err != nil {
				return err
			}
		}
		now := info.Imported
		if _, err := registerTx(tx, IssuedCert{Country: c.Country, Number: c.Number, Version: c.Version, Status: c.Status, Data: c.Data}, now); err != nil {
			return err
		}
		if cb := tx.Bucket([]byte(bktIssCert)); cb != nil {
			cb.FillPercent = 0.9 // as bktIssDocInfo
		}
		if c.ReplacesNumber != "" && c.ReplacesNumber != c.Number {
			if _, err := registerTx(tx, IssuedCert{Country: c.Country, Number: c.ReplacesNumber, Version: -1, Status: CertReplaced, ReplacedBy: c.Number}, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("import certificate %s: %w", c.Number, err)
	}
	return dup, nil
}

// Document returns the stored bytes of certificate number at version and
// their record, or ErrNotFound.
func (is *Issued) Document(ctx context.Context, number string, version int) ([]byte, *IssuedDoc, error) {
	var doc []byte
	var info IssuedDoc
	err := is.db.view(func(tx *bolt.Tx) error {
		ib := bucketOf(tx, bktIssDocInfo)
		if ib == nil {
			return ErrNotFound
		}
		k := docKey(number, version)
		v := ib.Get(k)
		if v == nil {
			return ErrNotFound
		}
		if err := json.Unmarshal(v, &info); err != nil {
			return err
		}
		d, err := issuedDocBytes(tx, k, &info)
		if err != nil {
			return err
		}
		doc = d
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("document %s version %d: %w", number, version, err)
	}
	return doc, &info, nil
}

// issuedDocBytes returns the exact bytes of the document with key k and
// record info: the legacy raw copy when the file has one, else the blob.
// The result is a copy.
func issuedDocBytes(tx *bolt.Tx, k []byte, info *IssuedDoc) ([]byte, error) {
	if db := bucketOf(tx, bktIssDoc); db != nil {
		if d := db.Get(k); d != nil {
			return bytes.Clone(d), nil
		}
	}
	d, err := getBlob(tx, info.DocSHA256)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("document bytes missing: %w", ErrCorrupt)
	}
	return d, err
}

// checkIssuedIndexes checks the invariants of the issued register and its
// documents: every token points at a record with that token and every
// record's token is indexed; every document has its record (same key, the
// size and hash it says) and an issued-register entry, and every record
// its document.
func checkIssuedIndexes(tx *bolt.Tx) error {
	if cb := bucketOf(tx, bktIssCert); cb != nil {
		tokens := 0
		err := cb.ForEach(func(k, v []byte) error {
			var r IssuedCert
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("issued certificate %s: %w", k, err)
			}
			if r.Number != string(k) {
				return fmt.Errorf("issued certificate under key %s has number %s", k, r.Number)
			}
			tb := bucketOf(tx, bktIssToken)
			if tb == nil || string(tb.Get([]byte(r.Token))) != r.Number {
				return fmt.Errorf("issued certificate %s: its token is not indexed", r.Number)
			}
			tokens++
			return nil
		})
		if err != nil {
			return err
		}
		if tb := bucketOf(tx, bktIssToken); tb != nil && tb.Stats().KeyN != tokens {
			return fmt.Errorf("index %s: %d tokens for %d issued certificates", bktIssToken, tb.Stats().KeyN, tokens)
		}
	} else if tb := bucketOf(tx, bktIssToken); tb != nil && tb.Stats().KeyN != 0 {
		return fmt.Errorf("index %s has tokens but there is no issued certificate", bktIssToken)
	}
	ib, db := bucketOf(tx, bktIssDocInfo), bucketOf(tx, bktIssDoc)
	if ib == nil {
		if db != nil && db.Stats().KeyN != 0 {
			return errors.New("issued documents: bucket " + bktIssDoc + " has documents but " + bktIssDocInfo + " is missing")
		}
		return nil
	}
	legacy := 0
	err := ib.ForEach(func(k, v []byte) error {
		var d IssuedDoc
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("issued document record %q: %w", k, err)
		}
		if !bytes.Equal(k, docKey(d.Number, d.Version)) {
			return fmt.Errorf("issued document record under key %q is %s version %d", k, d.Number, d.Version)
		}
		var doc []byte
		if db != nil {
			if doc = db.Get(k); doc != nil {
				legacy++
			}
		}
		if doc == nil {
			var err error
			if doc, err = getBlob(tx, d.DocSHA256); err != nil {
				return fmt.Errorf("issued document %s version %d: its bytes are missing", d.Number, d.Version)
			}
		}
		if len(doc) != d.Size || hashHex(doc) != d.DocSHA256 {
			return fmt.Errorf("issued document %s version %d: the stored bytes do not match their record", d.Number, d.Version)
		}
		if cb := bucketOf(tx, bktIssCert); cb == nil || cb.Get([]byte(d.Number)) == nil {
			return fmt.Errorf("issued document %s version %d: not in the issued register", d.Number, d.Version)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if db != nil {
		if docs := db.Stats().KeyN; docs != legacy {
			return fmt.Errorf("bucket %s: %d documents, %d of them with a record", bktIssDoc, docs, legacy)
		}
	}
	return nil
}
