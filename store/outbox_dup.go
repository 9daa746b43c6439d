package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrAlreadySent means a message of the same kind for the same certificate
// number and version is already queued for, or was delivered to, the same
// partner (see OutMessage.Exclusive). The error is an *AlreadySentError.
var ErrAlreadySent = errors.New("already sent")

// AlreadySentError names the earlier message that an exclusive enqueue
// collided with.
type AlreadySentError struct {
	Partner    string
	CertNumber string
	Version    int
	Kind       string
	// ID and State are the earlier message's id and delivery state.
	ID    string
	State State
}

func (e *AlreadySentError) Error() string {
	return fmt.Sprintf("%s of %s version %d to %s is already message %s (%s)", e.Kind, e.CertNumber, e.Version, e.Partner, e.ID, e.State)
}

// Unwrap makes errors.Is(err, ErrAlreadySent) true.
func (e *AlreadySentError) Unwrap() error { return ErrAlreadySent }

// sentBefore returns the earlier message to m's partner with m's
// certificate number, version and kind that still counts: queued, on its
// way, suspended or delivered. A message the partner refused (not readable,
// failed) does not count, so a corrected document can be sent again.
func sentBefore(tx *bolt.Tx, m *OutMessage) (*OutRecord, error) {
	var found *OutRecord
	err := certMessages(tx, m.Partner, m.CertNumber, func(_ uint64, r *OutRecord) bool {
		if r.ID != m.ID && r.Version == m.Version && r.Kind == m.Kind && r.State != StateNotReadable && r.State != StateFailed {
			found = r
		}
		return found == nil
	})
	return found, err
}
