package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/pgtest"
	"github.com/ecogate/ecogate/store"
)

// TestStoreCopyBackupRestoreCheck: copy a bbolt file into PostgreSQL
// (twice: the second run resumes and adds nothing), check, back up,
// restore a bbolt file.
func TestStoreCopyBackupRestoreCheck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "ecogate.db")
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := db.Outbox().EnqueueAudited(ctx, []store.Entry{{Actor: "t", Action: "send", Subject: id}},
			store.OutMessage{ID: id, Partner: "VN", CertNumber: "C-" + id, Version: 1, Kind: "issue", Content: []byte("doc " + id)}); err != nil {
			t.Fatal(err)
		}
	}
	backup := filepath.Join(dir, "backup.db")
	n, err := db.BackupFile(ctx, backup)
	if err != nil || n == 0 {
		t.Fatalf("backup while open: %d %v", n, err)
	}
	db.Close()

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runStore(ctx, args, &out, &errb)
		return code, out.String(), errb.String()
	}
	dsn := pgtest.DSN(t)
	for i := range 2 {
		code, out, errs := run("copy", "--from", "bbolt:"+data, "--to", "postgres:"+dsn)
		if code != exitOK || !strings.Contains(out, "ok: copied; counts match and the audit chain of 3 entries is intact") {
			t.Fatalf("copy #%d: %d\n%s%s", i+1, code, out, errs)
		}
	}
	if code, _, errs := run("copy", "--from", "postgres:"+dsn, "--to", "bbolt:"+filepath.Join(dir, "x.db"), "--password-env", "ECOGATE_TEST_UNSET_VAR"); code != exitUsage || !strings.Contains(errs, "is not set") {
		t.Fatalf("copy back with an unset password variable: %d %s", code, errs)
	}
	back := filepath.Join(dir, "back.db")
	for i := range 2 {
		code, out, errs := run("copy", "--from", "postgres:"+dsn, "--to", "bbolt:"+back)
		if code != exitOK || !strings.Contains(out, "audit chain of 3 entries is intact") {
			t.Fatalf("copy back #%d: %d\n%s%s", i+1, code, out, errs)
		}
	}
	if code, out, errs := run("check", "--data", back); code != exitOK {
		t.Fatalf("check the copy back: %d %s%s", code, out, errs)
	}
	if code, _, errs := run("copy", "--from", "bbolt:"+data, "--to", "postgres://u:secret@h/db"); code != exitFail || !strings.Contains(errs, "must not contain a password") {
		t.Fatalf("a password in --to: %d %s", code, errs)
	}
	if code, _, _ := run("copy", "--from", data, "--to", dsn); code != exitUsage {
		t.Fatalf("no engine prefixes: %d", code)
	}
	if code, out, errs := run("check", "--data", backup); code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("check backup: %d %s%s", code, out, errs)
	}
	// Put the backup back (the node is stopped).
	if err := store.Restore(ctx, backup, data); err != nil {
		t.Fatalf("restore over the damaged file: %v", err)
	}
	if code, out, errs := run("check", "--data", data); code != exitOK {
		t.Fatalf("check after restore: %d %s%s", code, out, errs)
	}
}
