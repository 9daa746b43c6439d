package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"
)

// CopyFromPG copies every record of the PostgreSQL database pg into the
// bbolt store db: the way back of CopyToPG (same tables, same records byte
// for byte, the audit chain with its hashes), with the bbolt indexes
// rebuilt from the records. It reads one snapshot of pg (a REPEATABLE READ
// read-only transaction, so replicas may run) and writes db in batches of
// copyBatch records, each batch one bbolt transaction that skips records
// already there: a copy that stopped half way is resumed by running it
// again. At the end the counts are compared table by table, db's indexes
// are checked (DB.Check) and its audit chain verified; any difference is an
// error. db must be a new file or an earlier, interrupted copy of pg.
func CopyFromPG(ctx context.Context, pg *PG, db *DB, progress func(table string, n int)) (*CopyReport, error) {
	if progress == nil {
		progress = func(string, int) {}
	}
	rep := &CopyReport{}
	tx, err := pg.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("copy from PostgreSQL: %w", err)
	}
	defer tx.Rollback(ctx)
	w := &boltCopier{ctx: ctx, db: db, progress: progress}
	for _, st := range backSteps {
		w.table, w.n = st.table, 0
		rows, err := tx.Query(ctx, st.query)
		if err != nil {
			return rep, fmt.Errorf("copy %s: %w", st.table, err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return rep, fmt.Errorf("copy %s: %w", st.table, err)
			}
			if err := w.add(func(btx *bolt.Tx) error { return st.put(btx, vals) }); err != nil {
				rows.Close()
				return rep, fmt.Errorf("copy %s: %w", st.table, err)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return rep, fmt.Errorf("copy %s: %w", st.table, err)
		}
		if err := w.flush(); err != nil {
			return rep, fmt.Errorf("copy %s: %w", st.table, err)
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{st.table}.Sanitize()).Scan(&n); err != nil {
			return rep, fmt.Errorf("count %s: %w", st.table, err)
		}
		rep.Counts = append(rep.Counts, CopyCount{Table: st.table, Source: n})
	}
	if err := db.update(ctx, setBoltSequences); err != nil {
		return rep, fmt.Errorf("copy: bucket sequences: %w", err)
	}
	bc, err := db.boltCounts()
	if err != nil {
		return rep, err
	}
	var bad []string
	for i, c := range rep.Counts {
		rep.Counts[i].Destination = bc[c.Table]
		if c.Source != bc[c.Table] {
			bad = append(bad, fmt.Sprintf("%s: %d in the source, %d in the destination", c.Table, c.Source, bc[c.Table]))
		}
	}
	if len(bad) > 0 {
		return rep, fmt.Errorf("%w: the copy does not match its source (was the data file not new, or a copy of another database?): %s", ErrConflict, strings.Join(bad, "; "))
	}
	if err := db.Check(ctx); err != nil {
		return rep, fmt.Errorf("the copy's indexes: %w", err)
	}
	n, err := db.Audit().Verify(ctx)
	rep.AuditEntries = n
	if err != nil {
		return rep, fmt.Errorf("the copied audit chain: %w", err)
	}
	return rep, nil
}

// boltCopier groups record writes into bbolt transactions of copyBatch.
type boltCopier struct {
	ctx      context.Context
	db       *DB
	progress func(string, int)
	table    string
	n        int
	ops      []func(*bolt.Tx) error
}

func (w *boltCopier) add(fn func(*bolt.Tx) error) error {
	w.ops = append(w.ops, fn)
	w.n++
	if len(w.ops) >= copyBatch {
		return w.flush()
	}
	return nil
}

func (w *boltCopier) flush() error {
	if len(w.ops) == 0 {
		return nil
	}
	ops := w.ops
	w.ops = nil
	err := w.db.update(w.ctx, func(tx *bolt.Tx) error {
		for _, fn := range ops {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		w.progress(w.table, w.n)
	}
	return err
}

// putNew puts k -> v in bucket name unless k is there already (a resumed
// copy); it reports whether it wrote.
func putNew(tx *bolt.Tx, name string, k, v []byte) (bool, error) {
	b, err := bucketRW(tx, name)
	if err != nil {
		return false, err
	}
	if b.Get(k) != nil {
		return false, nil
	}
	return true, b.Put(k, v)
}

type backStep struct {
	table, query string
	put          func(tx *bolt.Tx, v []any) error
}

func asBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	}
	return 0
}

// backSteps are the tables CopyFromPG reads, in CopyToPG's order, each
// with the bbolt writes of one row.
var backSteps = []backStep{
	{"blobs", "SELECT hash, content FROM blobs ORDER BY hash", func(tx *bolt.Tx, v []any) error {
		h := string(asBytes(v[0]))
		_, err := putNew(tx, bktBlobs, []byte(h), encodeBlob(asBytes(v[1])))
		return err
	}},
	{"outbox", "SELECT rec FROM outbox ORDER BY seq", func(tx *bolt.Tx, v []any) error {
		var r OutRecord
		if err := json.Unmarshal(asBytes(v[0]), &r); err != nil {
			return err
		}
		if tx.Bucket([]byte(bktOut)).Get([]byte(r.ID)) != nil {
			return nil
		}
		if err := tx.Bucket([]byte(bktOutCert)).Put(key([]byte(r.Partner), []byte(r.CertNumber), be64(r.Seq)), []byte(r.ID)); err != nil {
			return err
		}
		return putOut(tx, nil, &r)
	}},
	{"inbox", "SELECT rec FROM inbox ORDER BY seq", func(tx *bolt.Tx, v []any) error {
		var r InRecord
		if err := json.Unmarshal(asBytes(v[0]), &r); err != nil {
			return err
		}
		if tx.Bucket([]byte(bktIn)).Get([]byte(r.ID)) != nil {
			return nil
		}
		if r.CertNumber != "" {
			if err := tx.Bucket([]byte(bktInKey)).Put(naturalKey(&r), []byte(r.ID)); err != nil {
				return err
			}
			if err := tx.Bucket([]byte(bktInCert)).Put(key([]byte(r.From), []byte(r.CertNumber), be64(r.Seq)), []byte(r.ID)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte(bktInState)).Put(inStateKey(&r), []byte(r.ID)); err != nil {
			return err
		}
		if err := putIn(tx, &r); err != nil {
			return err
		}
		// A view copied by an interrupted earlier run takes this message
		// in (none yet on a first run: one Get).
		return refreshHead(tx, r.From, r.CertNumber)
	}},
	{"cert_status", "SELECT country, number, version, rec FROM cert_status", func(tx *bolt.Tx, v []any) error {
		if _, err := putNew(tx, bktCertState, certKey(string(asBytes(v[0])), string(asBytes(v[1])), int(asInt(v[2]))), asBytes(v[3])); err != nil {
			return err
		}
		return refreshHead(tx, string(asBytes(v[0])), string(asBytes(v[1])))
	}},
	{"issued", "SELECT number, token, rec FROM issued", func(tx *bolt.Tx, v []any) error {
		number, token := asBytes(v[0]), asBytes(v[1])
		if ok, err := putNew(tx, bktIssCert, number, asBytes(v[2])); err != nil || !ok {
			return err
		}
		_, err := putNew(tx, bktIssToken, token, number)
		return err
	}},
	{"issued_decisions", "SELECT sender, message_id, number, rec FROM issued_decisions ORDER BY seq", func(tx *bolt.Tx, v []any) error {
		ib, err := bucketRW(tx, bktIssDecID)
		if err != nil {
			return err
		}
		ik := key(asBytes(v[0]), asBytes(v[1]))
		if ib.Get(ik) != nil {
			return nil
		}
		b, err := bucketRW(tx, bktIssDec)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(key(asBytes(v[2]), be64(seq)), asBytes(v[3])); err != nil {
			return err
		}
		return ib.Put(ik, asBytes(v[2]))
	}},
	{"issued_docs", "SELECT number, version, info, doc FROM issued_docs", func(tx *bolt.Tx, v []any) error {
		k := docKey(string(asBytes(v[0])), int(asInt(v[1])))
		if ok, err := putNew(tx, bktIssDocInfo, k, asBytes(v[2])); err != nil || !ok {
			return err
		}
		_, err := putNew(tx, bktIssDoc, k, asBytes(v[3]))
		return err
	}},
	{"cu_client", "SELECT id, rec FROM cu_client", func(tx *bolt.Tx, v []any) error {
		_, err := putNew(tx, bktCuClient, asBytes(v[0]), asBytes(v[1]))
		return err
	}},
	{"cu_client_cert", "SELECT cert_sha256, client_id FROM cu_client_cert", func(tx *bolt.Tx, v []any) error {
		_, err := putNew(tx, bktCuClientCert, asBytes(v[0]), asBytes(v[1])) // the index of certificate bindings in force
		return err
	}},
	{"cu_view", "SELECT country, number, based_on, view FROM cu_view", func(tx *bolt.Tx, v []any) error {
		// The head is computed from the inbox and statuses copied before
		// (the tables are copied in order).
		val, err := viewValue(tx, string(asBytes(v[0])), string(asBytes(v[1])), uint64(asInt(v[2])), asBytes(v[3]))
		if err != nil {
			return err
		}
		b, err := bucketRW(tx, bktCuView)
		if err != nil {
			return err
		}
		k := key(asBytes(v[0]), asBytes(v[1]))
		if b.Get(k) != nil {
			return nil
		}
		return putView(tx, b, k, val)
	}},
	{"cu_util", "SELECT country, number, item, used FROM cu_util", func(tx *bolt.Tx, v []any) error {
		if _, err := putNew(tx, bktCuUtil, key(asBytes(v[0]), asBytes(v[1]), be32(uint32(asInt(v[2])))), be64(uint64(asInt(v[3])))); err != nil {
			return err
		}
		// cu_view was copied before: its head takes this utilisation in.
		return refreshHead(tx, string(asBytes(v[0])), string(asBytes(v[1])))
	}},
	{"cu_decl", "SELECT country, number, declaration_ref, rec FROM cu_decl", func(tx *bolt.Tx, v []any) error {
		_, err := putNew(tx, bktCuDecl, key(asBytes(v[0]), asBytes(v[1]), asBytes(v[2])), asBytes(v[3]))
		return err
	}},
	{"cu_query", "SELECT country, number, fetched, answer FROM cu_query", func(tx *bolt.Tx, v []any) error {
		t, _ := v[2].(time.Time)
		_, err := putNew(tx, bktCuQuery, key(asBytes(v[0]), asBytes(v[1])), append(be64(uint64(t.UnixNano())), asBytes(v[3])...))
		return err
	}},
	{"isu_kv", "SELECT bucket, k, v FROM isu_kv", func(tx *bolt.Tx, v []any) error {
		bkt := string(asBytes(v[0]))
		known := false
		for _, b := range issuanceBuckets {
			known = known || b == bkt
		}
		if !known {
			return fmt.Errorf("issuance bucket %q is not one this version knows (copy with the newer ecogate)", bkt)
		}
		_, err := putNew(tx, bkt, asBytes(v[1]), asBytes(v[2]))
		return err
	}},
	{"portal_user", "SELECT name, rec FROM portal_user", func(tx *bolt.Tx, v []any) error {
		_, err := putNew(tx, bktPortalUser, asBytes(v[0]), asBytes(v[1]))
		return err
	}},
	{"portal_session", "SELECT k, rec FROM portal_session", func(tx *bolt.Tx, v []any) error {
		_, err := putNew(tx, bktPortalSession, asBytes(v[0]), asBytes(v[1]))
		return err
	}},
	{"audit", "SELECT seq, entry FROM audit ORDER BY seq", func(tx *bolt.Tx, v []any) error {
		_, err := putNew(tx, bktAudit, be64(uint64(asInt(v[0]))), asBytes(v[1]))
		return err
	}},
}

// setBoltSequences sets the outbox's and inbox's bucket sequences to their
// highest record sequence, so that new messages sort after the copied ones.
func setBoltSequences(tx *bolt.Tx) error {
	for _, name := range []string{bktOut, bktIn} {
		b := tx.Bucket([]byte(name))
		var max uint64
		err := b.ForEach(func(_, v []byte) error {
			var r struct{ Seq uint64 }
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			max = max2(max, r.Seq)
			return nil
		})
		if err != nil {
			return err
		}
		if max > b.Sequence() {
			if err := b.SetSequence(max); err != nil {
				return err
			}
		}
	}
	return nil
}

func max2(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// boltCounts counts db's records as the PostgreSQL tables count them.
func (db *DB) boltCounts() (map[string]int, error) {
	out := map[string]int{}
	err := db.view(func(tx *bolt.Tx) error {
		count := func(name string) int {
			if b := tx.Bucket([]byte(name)); b != nil {
				return b.Stats().KeyN
			}
			return 0
		}
		for table, bkt := range map[string]string{"blobs": bktBlobs, "outbox": bktOut, "inbox": bktIn, "cert_status": bktCertState,
			"issued": bktIssCert, "issued_decisions": bktIssDec, "issued_docs": bktIssDocInfo, "cu_client": bktCuClient,
			"cu_client_cert": bktCuClientCert,
			"cu_view":        bktCuView, "cu_util": bktCuUtil, "cu_decl": bktCuDecl, "cu_query": bktCuQuery, "audit": bktAudit,
			"portal_user": bktPortalUser, "portal_session": bktPortalSession} {
			out[table] = count(bkt)
		}
		for _, b := range issuanceBuckets {
			out["isu_kv"] += count(b)
		}
		return nil
	})
	return out, err
}
