package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/ecogate/ecogate/store"
)

// TestStoreBackupWhileWriting takes backups through the local API's backup
// stream while writers enqueue messages with audit entries: every copy is
// complete (Content-Length), opens, passes the check (structure, indexes,
// audit chain) and holds at least the entries committed before it started.
func TestStoreBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "ecogate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer(StoreBackupHandler(db, db.Audit(), slog.New(slog.DiscardHandler)))
	defer srv.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	var mu sync.Mutex
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				err := db.Outbox().EnqueueAudited(ctx, []store.Entry{{Actor: "t", Action: "send", Subject: id}},
					store.OutMessage{ID: id, Partner: "VN", CertNumber: "C-" + id, Version: 1, Kind: "issue", Content: []byte("doc " + id)})
				if err != nil {
					mu.Lock()
					werr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	for i := range 4 {
		before, err := db.Audit().Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "backup-"+strconv.Itoa(i)+".db")
		f, _ := os.Create(out)
		n, err := io.Copy(f, resp.Body)
		resp.Body.Close()
		f.Close()
		if err != nil || resp.StatusCode != 200 || n != resp.ContentLength || n == 0 {
			t.Fatalf("backup %d: status %d, %d of %d bytes, %v", i, resp.StatusCode, n, resp.ContentLength, err)
		}
		if err := store.CheckFile(ctx, out); err != nil {
			t.Fatalf("backup %d does not pass the check: %v", i, err)
		}
		b, err := store.Open(out, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Audit().Verify(ctx)
		b.Close()
		if err != nil || got < before {
			t.Fatalf("backup %d: audit chain of %d entries (%v), %d were committed before it", i, got, err, before)
		}
	}
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	// Each copy that left the node is in the audit log.
	es, err := db.Audit().Entries(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	backups := 0
	for _, e := range es {
		if e.Action == "store.backup" && e.Details["bytes"] != "" && e.Details["remote"] != "" {
			backups++
		}
	}
	if backups != 4 {
		t.Fatalf("%d store.backup audit entries, want 4", backups)
	}
}
