package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Backup writes a consistent copy of the data file to w while the store
// is in use: one read transaction written out (bbolt's Tx.WriteTo), so
// writers go on meanwhile. It returns the bytes written.
func (db *DB) Backup(w io.Writer) (int64, error) {
	return db.BackupStream(w, nil)
}

// BackupFile writes a consistent copy of the data file to path (through a
// temporary file in the same folder, fsynced and renamed into place), then
// opens the copy and checks it (structure, indexes, audit chain).
func (db *DB) BackupFile(ctx context.Context, path string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ecogate-backup-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := db.Backup(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if err := CheckFile(ctx, tmp.Name()); err != nil {
		return n, fmt.Errorf("the backup does not pass the check: %w", err)
	}
	return n, os.Rename(tmp.Name(), path)
}

// CheckFile opens the data file at path (Open checks its structure and
// schema version and refuses a damaged file with a *CorruptError), runs
// DB.Check (indexes, imported documents) and verifies the audit chain.
func CheckFile(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	db, err := Open(path, Options{Check: CheckAlways})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Check(ctx); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := db.Audit().Verify(ctx); err != nil {
		return fmt.Errorf("%s: audit chain: %w", path, err)
	}
	return nil
}

// Restore puts the backup file src in place of the data file dst (a
// stopped node's): src is checked first (CheckFile), copied beside dst,
// fsynced and renamed over it. A running node holds the file's lock: the
// restore is refused with ErrLocked.
func Restore(ctx context.Context, src, dst string) error {
	if err := CheckFile(ctx, src); err != nil {
		return fmt.Errorf("backup %s: %w", src, err)
	}
	if _, err := os.Stat(dst); err == nil {
		db, err := Open(dst, Options{Check: CheckNever, LockTimeout: 100 * time.Millisecond})
		var ce *CorruptError
		if err != nil && !errors.As(err, &ce) {
			return fmt.Errorf("data file %s: %w (stop the node first)", dst, err)
		}
		if db != nil {
			db.Close()
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".ecogate-restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
