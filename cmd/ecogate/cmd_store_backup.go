package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/store"
)

// backupFromNode fetches a running bbolt node's backup stream (its local
// API, GET /api/v1/store/backup) into a temporary file beside out, checks
// that every announced byte arrived, fsyncs it, checks the copy (structure,
// indexes, audit chain) and renames it to out. It returns the bytes kept.
func backupFromNode(ctx context.Context, tg target, out string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.api+gateway.StoreBackupPath, nil)
	if err != nil {
		return 0, err
	}
	withToken(req, tg.token)
	resp, err := tg.client(0).Do(req)
	if err != nil {
		return 0, fmt.Errorf("the node's local API %s is unreachable: %w", tg.api, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusNotFound {
			return 0, fmt.Errorf("the running node at %s has no backup endpoint (404; an older ecogate?): stop it and run the backup again", tg.api)
		}
		return 0, fmt.Errorf("the node refused the backup: %s: %s", resp.Status, msg)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".ecogate-backup-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("the node sent %d of %d bytes: the copy is incomplete", n, resp.ContentLength)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if err := store.CheckFile(ctx, tmp.Name()); err != nil {
		return n, fmt.Errorf("the backup does not pass the check: %w", err)
	}
	return n, os.Rename(tmp.Name(), out)
}
