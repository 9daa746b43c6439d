package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/store"
)

// TestStoreBackupRunningNode: `ecogate store backup --config` on a running
// bbolt node gets the copy from the node's local API (the node holds the
// file's lock), checks it and keeps it; the copy holds the node's audit
// chain and the sent message.
func TestStoreBackupRunningNode(t *testing.T) {
	sites := serveSites(t)
	doc, err := samplecert.XML("IN-AI-BACKUP-1", 1, "IN", "VN")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "eco.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := sites[0].ConfigPath()
	if code, out, errs := opsRunCmd(t, runSend, f, "--config", cfg, "--wait", "30s"); code != exitOK {
		t.Fatalf("send: exit %d\n%s%s", code, out, errs)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	code, stdout, errs := opsRunCmd(t, runStore, "backup", "--config", cfg, out)
	if code != exitOK || !strings.Contains(stdout, "written by the running node") {
		t.Fatalf("backup: exit %d\n%s%s", code, stdout, errs)
	}
	db, err := store.Open(out, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.Audit().Verify(context.Background())
	if err != nil || n == 0 {
		t.Fatalf("the copy's audit chain: %d entries, %v", n, err)
	}
	list, err := db.Outbox().List(context.Background(), store.Filter{})
	if err != nil || len(list) != 1 || list[0].CertNumber != "IN-AI-BACKUP-1" {
		t.Fatalf("the copy's outbox: %v %v", list, err)
	}
	if code, _, errs := opsRunCmd(t, runStore, "backup", "--config", cfg, filepath.Join(t.TempDir(), "no", "such", "dir", "b.db")); code != exitFail || errs == "" {
		t.Fatalf("backup into a missing folder: exit %d %s", code, errs)
	}
}
