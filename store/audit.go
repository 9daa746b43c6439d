package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Entry is one audit log entry. Hash is the hex SHA-256 of the entry's
// canonical JSON (the fields below in this order, Details keys sorted,
// Time in RFC 3339 with nanoseconds in UTC) with Hash left empty; PrevHash
// is the previous entry's Hash ("" for the first), which chains them.
type Entry struct {
	Seq      uint64            `json:"seq"`
	Time     time.Time         `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Subject  string            `json:"subject"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prevHash"`
	Hash     string            `json:"hash,omitempty"`
}

// Audit is the append-only, hash-chained audit log. Get it from DB.Audit.
// It has no way to change or delete an entry.
type Audit struct{ db *DB }

// secretWords are detail keys refused by Append: the log must hold no
// secrets.
func secretWords() []string {
	return []string{"password", "secret", "token", "privatekey", "private_key", "passphrase", "apikey", "api_key"}
}

// entryHash computes the hash of e (its Hash field ignored).
func entryHash(e Entry) (string, error) {
	e.Hash = ""
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// Append adds an entry (Actor, Action and Subject required; Time from the
// store's clock when zero; Seq, PrevHash and Hash are set here) through the
// group-commit writer, and returns it as stored. Detail keys that name a
// secret (password, token, ...) are refused.
func (a *Audit) Append(ctx context.Context, e Entry) (Entry, error) {
	if err := a.db.checkEntry(&e); err != nil {
		return Entry{}, err
	}
	var out Entry
	err := a.db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = appendEntry(tx, e)
		return err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("audit append %s %s: %w", e.Action, e.Subject, err)
	}
	return out, nil
}

// checkEntry refuses an entry Append would refuse and sets its time.
func (db *DB) checkEntry(e *Entry) error { return checkEntryWith(e, db.clock) }

// checkEntryWith is checkEntry with the clock of either engine.
func checkEntryWith(e *Entry, clock func() time.Time) error {
	for _, f := range []struct{ n, v string }{{"actor", e.Actor}, {"action", e.Action}, {"subject", e.Subject}} {
		if f.v == "" {
			return fmt.Errorf("audit append: %w: %s is empty", ErrInvalid, f.n)
		}
	}
	for k := range e.Details {
		lk := strings.ToLower(k)
		for _, w := range secretWords() {
			if strings.Contains(lk, w) {
				return fmt.Errorf("audit append: %w: detail %q looks like a secret; the audit log must not hold secrets", ErrInvalid, k)
			}
		}
	}
	if e.Time.IsZero() {
		e.Time = clock()
	}
	e.Time = e.Time.UTC()
	return nil
}

// checkEntries checks every entry of an audited write before it is
// submitted (see Outbox.EnqueueAudited and friends).
func (db *DB) checkEntries(es []Entry) ([]Entry, error) {
	if len(es) == 0 {
		return nil, nil
	}
	out := make([]Entry, len(es))
	for i, e := range es {
		if err := db.checkEntry(&e); err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// sealEntry sets x.Hash (x.Seq and x.PrevHash set) and returns x with
// its stored bytes.
func sealEntry(x Entry) (Entry, []byte, error) {
	h, err := entryHash(x)
	if err != nil {
		return Entry{}, nil, err
	}
	x.Hash = h
	v, err := json.Marshal(x)
	if err != nil {
		return Entry{}, nil, err
	}
	return x, v, nil
}

// appendEntry chains e (checked by checkEntry) after the last entry, in
// the transaction tx. Because every write transaction runs in the one
// writer, entries appended here and by Append form one chain.
func appendEntry(tx *bolt.Tx, e Entry) (Entry, error) {
	b := tx.Bucket([]byte(bktAudit))
	x := e
	x.Seq, x.PrevHash = 1, ""
	if k, v := b.Cursor().Last(); k != nil {
		var last Entry
		if err := json.Unmarshal(v, &last); err != nil {
			return Entry{}, fmt.Errorf("decode last audit entry: %w", err)
		}
		x.Seq, x.PrevHash = binary.BigEndian.Uint64(k)+1, last.Hash
	}
	x, v, err := sealEntry(x)
	if err != nil {
		return Entry{}, err
	}
	return x, b.Put(be64(x.Seq), v)
}

// appendEntries appends each entry in tx, in order.
func appendEntries(tx *bolt.Tx, es []Entry) error {
	for _, e := range es {
		if _, err := appendEntry(tx, e); err != nil {
			return fmt.Errorf("audit append %s %s: %w", e.Action, e.Subject, err)
		}
	}
	return nil
}

// ChainError reports the first broken link of the audit chain.
type ChainError struct {
	Seq    uint64
	Reason string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at entry %d: %s", e.Seq, e.Reason)
}

// Verify walks the chain from the first entry and returns the number of
// entries checked, and a *ChainError for the first entry whose sequence,
// link or hash is wrong.
func (a *Audit) Verify(ctx context.Context) (int, error) {
	n := 0
	err := a.db.view(func(tx *bolt.Tx) error {
		prev := ""
		c := tx.Bucket([]byte(bktAudit)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			want := uint64(n + 1)
			if len(k) != 8 {
				return &ChainError{Seq: want, Reason: fmt.Sprintf("malformed key %x", k)}
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != want {
				return &ChainError{Seq: want, Reason: fmt.Sprintf("entry %d is missing (next is %d)", want, seq)}
			}
			h, err := checkLink(seq, v, prev)
			if err != nil {
				return err
			}
			prev = h
			n++
		}
		return nil
	})
	return n, err
}

// Entries returns up to limit entries starting at sequence from (1 is the
// first), in order.
func (a *Audit) Entries(ctx context.Context, from uint64, limit int) ([]Entry, error) {
	var res []Entry
	err := a.db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bktAudit)).Cursor()
		for k, v := c.Seek(be64(from)); k != nil && (limit <= 0 || len(res) < limit); k, v = c.Next() {
			var e Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry %x: %w", k, err)
			}
			res = append(res, e)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	return res, nil
}

// checkLink checks the stored entry v, under seq in the chain, against
// the hash of the entry before it (prev) and its own content, and returns
// its hash.
func checkLink(seq uint64, v []byte, prev string) (string, error) {
	var e Entry
	if err := json.Unmarshal(v, &e); err != nil {
		return "", &ChainError{Seq: seq, Reason: "unreadable: " + err.Error()}
	}
	if e.Seq != seq {
		return "", &ChainError{Seq: seq, Reason: fmt.Sprintf("stored under %d but says %d", seq, e.Seq)}
	}
	if e.PrevHash != prev {
		return "", &ChainError{Seq: seq, Reason: fmt.Sprintf("prevHash %s does not match the previous entry's hash %s", e.PrevHash, prev)}
	}
	h, err := entryHash(e)
	if err != nil {
		return "", err
	}
	if h != e.Hash {
		return "", &ChainError{Seq: seq, Reason: fmt.Sprintf("content changed: hash %s, recomputed %s", e.Hash, h)}
	}
	return e.Hash, nil
}
