package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/pgtest"
	"github.com/ecogate/ecogate/store"
)

// TestImportAndCustomsClientsOnPostgres: `ecogate import` and
// `ecogate customs-clients` with a store.engine: postgres configuration
// write the database (the import through COPY batches): every record is
// stored once, a second run skips them all, each run leaves its audit
// entry in the one chain, and a customs client added there is listed.
func TestImportAndCustomsClientsOnPostgres(t *testing.T) {
	base, _ := importSite(t)
	dsn := pgtest.DSN(t)
	cfg := writeReplicaConfig(t, base, "pg.yaml", map[string]any{"store.engine": "postgres", "store.dsn": dsn, "store.migrate": true})
	src := filepath.Join(t.TempDir(), "legacy.ndjson")
	const n = 300
	if err := os.WriteFile(src, []byte(indiaLines(t, n, 1, map[int]bool{7: true})), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfg, "--profile", "india-ecoo", "--source", src, "--report", filepath.Join(t.TempDir(), "failures.jsonl"), "--quiet"}
	code, errs := runImportCmd(context.Background(), args...)
	if code != exitFail || !strings.Contains(errs, "299 stored") || !strings.Contains(errs, "1 failed") || !strings.Contains(errs, "data PostgreSQL") {
		t.Fatalf("import: exit %d\n%s", code, errs)
	}
	// Again without the checkpoint: every record is met again and skipped.
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg), "postgres.import-*.checkpoint"))
	if len(matches) != 1 {
		t.Fatalf("checkpoint beside the configuration: %v", matches)
	}
	os.Remove(matches[0])
	code, errs = runImportCmd(context.Background(), args...)
	if code != exitFail || !strings.Contains(errs, "0 stored, 299 already stored (skipped), 1 failed") {
		t.Fatalf("second import: exit %d\n%s", code, errs)
	}
	ctx := context.Background()
	pg, err := store.OpenPG(ctx, store.PGOptions{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var docs, imports int
	if err := pg.Pool().QueryRow(ctx, "SELECT count(*) FROM issued_docs").Scan(&docs); err != nil || docs != n-1 {
		t.Fatalf("issued_docs %d %v", docs, err)
	}
	if _, err := pg.Issued().Get(ctx, "AI-MUM-2026-0000001"); err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := pg.Pool().QueryRow(ctx, "SELECT count(*) FROM audit WHERE convert_from(entry, 'UTF8')::jsonb->>'action' = 'import'").Scan(&imports); err != nil || imports != 2 {
		t.Fatalf("import audit entries %d %v", imports, err)
	}

	code, out, errs := opsRunCmd(t, runCustomsClients, "add", "--config", cfg, "--scopes", "customs:check", "ACE declarations")
	if code != exitOK || !strings.Contains(out, "client_secret:") {
		t.Fatalf("customs-clients add: %d %s%s", code, out, errs)
	}
	code, out, errs = opsRunCmd(t, runCustomsClients, "list", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "ACE declarations") {
		t.Fatalf("customs-clients list: %d %s%s", code, out, errs)
	}
	if cl, err := pg.Customs().Clients(ctx); err != nil || len(cl) != 1 {
		t.Fatalf("clients in PostgreSQL: %v %v", cl, err)
	}
	if n, err := pg.Audit().Verify(ctx); err != nil || n < 3 {
		t.Fatalf("audit chain: %d %v", n, err)
	}
}
