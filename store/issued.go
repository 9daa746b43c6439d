package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the certificates this node issued (public verification,
// verification-query answers, decisions received from importing
// customs). Created on first write.
const (
	bktIssCert  = "iss_cert"  // number -> JSON IssuedCert
	bktIssToken = "iss_token" // QR token -> number
	bktIssDec   = "iss_dec"   // number 0 be64(seq) -> JSON ReceivedDecision
	bktIssDecID = "iss_decid" // from 0 message id -> number (deduplication)
)

// IssuedCert is a certificate this node issued, as the public verification
// page and verification-query answers need it.
type IssuedCert struct {
	Country string `json:"country"`
	Number  string `json:"number"`
	Version int    `json:"version"`
	// Token is the QR token: 128 random bits, base64url without padding.
	Token string `json:"token"`
	// Status is issued, withdrawn or replaced; ReplacedBy names the
	// replacing certificate.
	Status     CertState `json:"status"`
	ReplacedBy string    `json:"replacedBy,omitempty"`
	// Data is the certificate's core data as the caller encodes it
	// (gateway/verify: number, dates, exporter, importer, goods).
	Data       json.RawMessage `json:"data,omitempty"`
	Registered time.Time       `json:"registered"`
	Updated    time.Time       `json:"updated"`
}

// ReceivedDecision is an importing customs' decision on a certificate this
// node issued, received as a signed message.
type ReceivedDecision struct {
	MessageID string    `json:"messageId"`
	From      string    `json:"from"`
	Number    string    `json:"number"`
	Received  time.Time `json:"received"`
	// Outcome is the decision as JSON (schema.Outcome).
	Outcome json.RawMessage `json:"outcome"`
	// ContentSHA256 is the hex SHA-256 of the signed message as received.
	ContentSHA256 string `json:"contentSha256"`
}

// Issued is the register of certificates this node issued. Get it from
// DB.Issued.
type Issued struct{ db *DB }

// Issued returns the register of issued certificates.
func (db *DB) Issued() *Issued { return &Issued{db: db} }

// NewToken returns a fresh QR token: 128 random bits, base64url.
func NewToken() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func getIssued(tx *bolt.Tx, number string) (*IssuedCert, error) {
	b := bucketOf(tx, bktIssCert)
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get([]byte(number))
	if v == nil {
		return nil, ErrNotFound
	}
	var r IssuedCert
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode issued certificate %s: %w", number, err)
	}
	return &r, nil
}

func putIssued(tx *bolt.Tx, r *IssuedCert) error {
	b, err := bucketRW(tx, bktIssCert)
	if err != nil {
		return err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put([]byte(r.Number), v)
}

// Token returns the QR token of certificate number, creating the record
// (status issued, no data yet) and the token when it does not exist, so
// the issuing workflow can print the link before it signs.
func (is *Issued) Token(ctx context.Context, country, number string) (string, error) {
	if err := checkID("certificate number", number); err != nil {
		return "", fmt.Errorf("QR token: %w", err)
	}
	now := is.db.clock().UTC()
	var tok string
	err := is.db.update(ctx, func(tx *bolt.Tx) error {
		if r, err := getIssued(tx, number); err == nil {
			tok = r.Token
			return nil
		}
		tok = NewToken()
		tb, err := bucketRW(tx, bktIssToken)
		if err != nil {
			return err
		}
		if err := tb.Put([]byte(tok), []byte(number)); err != nil {
			return err
		}
		return putIssued(tx, &IssuedCert{Country: country, Number: number, Token: tok, Status: CertIssued, Registered: now, Updated: now})
	})
	if err != nil {
		return "", fmt.Errorf("QR token of %s: %w", number, err)
	}
	return tok, nil
}

// Register records (or updates) an issued certificate and returns the
// stored record with its token. The token of an existing record is kept.
// A version older than the stored one does not replace its data. A
// withdrawn or replaced certificate is never made issued again.
func (is *Issued) Register(ctx context.Context, r IssuedCert) (*IssuedCert, error) {
	if err := checkID("certificate number", r.Number); err != nil {
		return nil, fmt.Errorf("register issued certificate: %w", err)
	}
	now := is.db.clock().UTC()
	var res *IssuedCert
	err := is.db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		res, err = registerTx(tx, r, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("register issued certificate %s: %w", r.Number, err)
	}
	return res, nil
}

// registerTx is Register inside a write transaction (also used by Import).
func registerTx(tx *bolt.Tx, r IssuedCert, now time.Time) (*IssuedCert, error) {
	cur, err := getIssued(tx, r.Number)
	if err != nil {
		cur = &IssuedCert{Country: r.Country, Number: r.Number, Token: NewToken(), Status: CertIssued, Registered: now}
		tb, err := bucketRW(tx, bktIssToken)
		if err != nil {
			return nil, err
		}
		if err := tb.Put([]byte(cur.Token), []byte(r.Number)); err != nil {
			return nil, err
		}
	}
	mergeIssued(cur, &r, now)
	if err := putIssued(tx, cur); err != nil {
		return nil, err
	}
	return cur, nil
}

// SetStatus marks an issued certificate withdrawn or replaced (final
// states: a later call does not change them).
func (is *Issued) SetStatus(ctx context.Context, number string, st CertState, replacedBy string) (*IssuedCert, error) {
	if st != CertWithdrawn && st != CertReplaced {
		return nil, fmt.Errorf("set status of issued %s: %w: status %q", number, ErrInvalid, st)
	}
	now := is.db.clock().UTC()
	var res *IssuedCert
	err := is.db.update(ctx, func(tx *bolt.Tx) error {
		cur, err := getIssued(tx, number)
		if err != nil {
			return err
		}
		if cur.Status == CertIssued {
			cur.Status, cur.ReplacedBy, cur.Updated = st, replacedBy, now
			if err := putIssued(tx, cur); err != nil {
				return err
			}
		}
		res = cur
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set status of issued %s: %w", number, err)
	}
	return res, nil
}

// Get returns an issued certificate by number, or ErrNotFound.
func (is *Issued) Get(ctx context.Context, number string) (*IssuedCert, error) {
	var r *IssuedCert
	err := is.db.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getIssued(tx, number)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("issued certificate %s: %w", number, err)
	}
	return r, nil
}

// ByToken returns the issued certificate with QR token tok, or ErrNotFound.
func (is *Issued) ByToken(ctx context.Context, tok string) (*IssuedCert, error) {
	var r *IssuedCert
	err := is.db.view(func(tx *bolt.Tx) error {
		b := bucketOf(tx, bktIssToken)
		if b == nil {
			return ErrNotFound
		}
		n := b.Get([]byte(tok))
		if n == nil {
			return ErrNotFound
		}
		var err error
		r, err = getIssued(tx, string(n))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("issued certificate by token: %w", err)
	}
	return r, nil
}

// mergeIssued applies the registration r to the stored entry cur, as
// Issued.Register applies it: a newer (or the first) version's data, and
// a withdrawal or replacement of a certificate still issued.
func mergeIssued(cur, r *IssuedCert, now time.Time) {
	if r.Data != nil && (r.Version >= cur.Version || cur.Data == nil) {
		cur.Version, cur.Data = r.Version, bytes.Clone(r.Data)
		if r.Country != "" {
			cur.Country = r.Country
		}
	}
	if r.Status != "" && r.Status != CertIssued && cur.Status == CertIssued {
		cur.Status, cur.ReplacedBy = r.Status, r.ReplacedBy
	}
	cur.Updated = now
}

// checkDecision refuses what Issued.AddDecision refuses before writing
// and stamps d.Received (now, when zero) in UTC.
func checkDecision(d *ReceivedDecision, now func() time.Time) error {
	for _, f := range []struct{ n, v string }{{"message id", d.MessageID}, {"sender", d.From}, {"certificate number", d.Number}} {
		if err := checkID(f.n, f.v); err != nil {
			return fmt.Errorf("add decision: %w", err)
		}
	}
	if d.Received.IsZero() {
		d.Received = now()
	}
	d.Received = d.Received.UTC()
	return nil
}

// AddDecision records a decision received from an importing customs. The
// same message (sender and id) again is a no-op that reports dup.
func (is *Issued) AddDecision(ctx context.Context, d ReceivedDecision) (dup bool, err error) {
	if err := checkDecision(&d, is.db.clock); err != nil {
		return false, err
	}
	err = is.db.update(ctx, func(tx *bolt.Tx) error {
		dup = false
		ib, err := bucketRW(tx, bktIssDecID)
		if err != nil {
			return err
		}
		ik := key([]byte(d.From), []byte(d.MessageID))
		if ib.Get(ik) != nil {
			dup = true
			return nil
		}
		b, err := bucketRW(tx, bktIssDec)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(&d)
		if err != nil {
			return err
		}
		if err := b.Put(key([]byte(d.Number), be64(seq)), v); err != nil {
			return err
		}
		return ib.Put(ik, []byte(d.Number))
	})
	if err != nil {
		return false, fmt.Errorf("add decision %s from %s on %s: %w", d.MessageID, d.From, d.Number, err)
	}
	return dup, nil
}

// Decisions lists the decisions received on an issued certificate, in
// arrival order.
func (is *Issued) Decisions(ctx context.Context, number string) ([]ReceivedDecision, error) {
	var res []ReceivedDecision
	err := is.db.view(func(tx *bolt.Tx) error {
		b := bucketOf(tx, bktIssDec)
		if b == nil {
			return nil
		}
		var err error
		scanPrefix(b, prefix([]byte(number)), func(_, v []byte) bool {
			var d ReceivedDecision
			if err = json.Unmarshal(v, &d); err != nil {
				return false
			}
			res = append(res, d)
			return true
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("decisions on issued %s: %w", number, err)
	}
	return res, nil
}
