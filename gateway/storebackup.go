package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/store"
)

// StoreBackupPath is the local API path of the bbolt backup stream.
const StoreBackupPath = "/api/v1/store/backup"

// addStoreBackupRoute mounts GET /api/v1/store/backup on the local API
// (behind its token) for a node on bbolt: bbolt lets one process open the
// data file, so `ecogate store backup` asks the running node for the copy.
func addStoreBackupRoute(o *Options, db *store.DB, log *slog.Logger) {
	prev := o.LocalRoutes
	o.LocalRoutes = func(root, api chi.Router) {
		if prev != nil {
			prev(root, api)
		}
		api.Get("/store/backup", StoreBackupHandler(db, o.Audit, log))
	}
}

// StoreBackupHandler streams a consistent copy of the bbolt data file: one
// read transaction written out (bbolt's Tx.WriteTo) while writers go on,
// with Content-Length set to the copy's size. A copy cut short shows as a
// short body; the client checks the copy before it keeps it. A complete
// copy (the whole data file leaves the node) is recorded in audit, when
// given, as store.backup with its size and the caller's address.
func StoreBackupHandler(db *store.DB, audit AuditLog, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		started := false
		n, err := db.BackupStream(w, func(size int64) {
			started = true
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
		})
		if err != nil {
			log.Error("store backup stream failed", "bytes", n, "err", err)
			if !started {
				writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, "the backup could not start: "+err.Error())
			}
			return
		}
		log.Info("store backup streamed", "bytes", n, "remote", r.RemoteAddr, "took", time.Since(start))
		if audit != nil {
			e := store.Entry{Actor: "local", Action: "store.backup", Subject: StoreBackupPath,
				Details: map[string]string{"bytes": strconv.FormatInt(n, 10), "remote": r.RemoteAddr}}
			if _, err := audit.Append(context.WithoutCancel(r.Context()), e); err != nil {
				log.Error("store backup streamed but its audit entry failed", "err", err)
			}
		}
	}
}
