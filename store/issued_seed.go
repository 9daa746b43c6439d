package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SeedIssued writes issued certificates in bulk (load tests, benchmarks):
// fn is called with put until it returns false; put stores one record and
// its QR token as Register would for a new certificate (no merge with an
// existing record: the caller gives distinct numbers and tokens). The
// records are committed in transactions of batch records each (one fsync
// per batch).
func (is *Issued) SeedIssued(batch int, fn func(put func(r *IssuedCert) error) bool) error {
	if batch <= 0 {
		batch = 10000
	}
	more := true
	for more {
		err := is.db.update(context.Background(), func(tx *bolt.Tx) error {
			tb, err := bucketRW(tx, bktIssToken)
			if err != nil {
				return err
			}
			if _, err := bucketRW(tx, bktIssCert); err != nil {
				return err
			}
			bucketOf(tx, bktIssCert).FillPercent = 0.9 // numbers usually come in key order
			n := 0
			put := func(r *IssuedCert) error {
				if err := checkID("certificate number", r.Number); err != nil {
					return err
				}
				if r.Token == "" {
					return fmt.Errorf("seed issued %s: %w: no token", r.Number, ErrInvalid)
				}
				n++
				if err := tb.Put([]byte(r.Token), []byte(r.Number)); err != nil {
					return err
				}
				return putIssued(tx, r)
			}
			for n < batch && more {
				more = fn(put)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed issued certificates: %w", err)
		}
	}
	return nil
}
