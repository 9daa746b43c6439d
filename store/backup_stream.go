package store

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// BackupStream writes a consistent copy of the data file to w, like
// Backup, and calls size with the copy's length before the first byte (an
// HTTP handler sets Content-Length from it, so that a client can tell a
// complete copy from a cut one). It returns the bytes written.
func (db *DB) BackupStream(w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := db.view(func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup of %s: %w", db.path, err)
	}
	return n, nil
}
