package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"
)

// CopyCount is one kind of record in a copy between engines: how many the
// source holds and how many the destination holds afterwards.
type CopyCount struct {
	Table       string
	Source      int
	Destination int
}

// CopyReport is the result of CopyToPG.
type CopyReport struct {
	Counts []CopyCount
	// AuditEntries is the length of the destination's audit chain, checked
	// entry by entry.
	AuditEntries int
}

// copyBatch is how many rows one destination transaction writes.
const copyBatch = 1000

// CopyToPG copies every record of the bbolt store db into the PostgreSQL
// database pg (migrated), as one consistent snapshot of db (one read
// transaction): blobs, outbox, inbox, certificate statuses, issued
// register and received decisions, imported documents, the customs face's
// state, the issuance records (byte for byte, isu_kv, with the signature
// and stamp images), the portal's logins and sessions, and the audit chain
// with its hashes unchanged. Rows go in batches of copyBatch, each in its
// own transaction, with INSERT ... ON CONFLICT DO NOTHING: a copy that
// stopped half way is resumed by running it again. At the end the counts
// are compared table by table and the destination's audit chain is
// verified; any difference is an error. Run it with the node stopped.
func CopyToPG(ctx context.Context, db *DB, pg *PG, progress func(table string, n int)) (*CopyReport, error) {
	if progress == nil {
		progress = func(string, int) {}
	}
	rep := &CopyReport{}
	err := db.view(func(tx *bolt.Tx) error {
		w := &pgCopier{ctx: ctx, pg: pg, progress: progress}
		for _, step := range []func(*bolt.Tx, *pgCopier) (CopyCount, error){
			copyBlobs, copyOutbox, copyInbox, copyCertStatus, copyIssued, copyIssuedDecisions, copyIssuedDocs,
			copyCuClients, copyCuClientCerts, copyCuViews, copyCuUtil, copyCuDecl, copyCuQuery, copyIssuance, copyPortalUsers, copyPortalSessions, copyAudit,
		} {
			c, err := step(tx, w)
			if err != nil {
				return fmt.Errorf("copy %s: %w", c.Table, err)
			}
			rep.Counts = append(rep.Counts, c)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	for i, c := range rep.Counts {
		n, err := pgCount(ctx, pg, c.Table)
		if err != nil {
			return rep, err
		}
		rep.Counts[i].Destination = n
	}
	var bad []string
	for _, c := range rep.Counts {
		if c.Source != c.Destination {
			bad = append(bad, fmt.Sprintf("%s: %d in the source, %d in the destination", c.Table, c.Source, c.Destination))
		}
	}
	if len(bad) > 0 {
		return rep, fmt.Errorf("%w: the copy does not match its source (was the destination not empty, or did a node write to it?): %s", ErrConflict, strings.Join(bad, "; "))
	}
	n, err := pg.Audit().Verify(ctx)
	rep.AuditEntries = n
	if err != nil {
		return rep, fmt.Errorf("the copied audit chain: %w", err)
	}
	return rep, nil
}

// pgCount counts the rows of a table (or of isu_kv).
func pgCount(ctx context.Context, pg *PG, table string) (int, error) {
	var n int
	if err := pg.pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// pgCopier writes rows in batched transactions.
type pgCopier struct {
	ctx      context.Context
	pg       *PG
	progress func(string, int)
	batch    pgx.Batch
	table    string
	n        int
}

func (w *pgCopier) add(table, sql string, args ...any) error {
	w.table = table
	w.batch.Queue(sql, args...)
	w.n++
	if w.batch.Len() >= copyBatch {
		return w.flush()
	}
	return nil
}

func (w *pgCopier) flush() error {
	if w.batch.Len() == 0 {
		return nil
	}
	b := w.batch
	w.batch = pgx.Batch{}
	err := w.pg.inTx(w.ctx, func(tx pgx.Tx) error { return tx.SendBatch(w.ctx, &b).Close() })
	if err == nil {
		w.progress(w.table, w.n)
	}
	return err
}

func forEach(tx *bolt.Tx, bkt string, fn func(k, v []byte) error) error {
	b := tx.Bucket([]byte(bkt))
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}

func copyBlobs(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "blobs"}
	err := forEach(tx, bktBlobs, func(k, v []byte) error {
		c.Source++
		return w.add(c.Table, "INSERT INTO blobs (hash, content) VALUES ($1, $2) ON CONFLICT DO NOTHING", string(k), decodeBlob(string(k), v))
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

func copyOutbox(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "outbox"}
	err := forEach(tx, bktOut, func(_, v []byte) error {
		var r OutRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		c.Source++
		return w.add(c.Table, `INSERT INTO outbox (id, seq, partner, cert_number, version, kind, state, pull, next_try, content_hash, rec)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
			r.ID, int64(r.Seq), r.Partner, r.CertNumber, r.Version, r.Kind, string(r.State), r.Pull, r.NextTry.UTC(), r.ContentHash, v)
	})
	if err == nil {
		err = w.flush()
	}
	if err == nil {
		_, err = w.pg.pool.Exec(w.ctx, "SELECT setval(pg_get_serial_sequence('outbox', 'seq'), GREATEST((SELECT max(seq) FROM outbox), 1))")
	}
	return c, err
}

func copyInbox(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "inbox"}
	err := forEach(tx, bktIn, func(_, v []byte) error {
		var r InRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		c.Source++
		return w.add(c.Table, `INSERT INTO inbox (id, seq, sender, cert_number, version, kind, outcome, content_hash, rec)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
			r.ID, int64(r.Seq), r.From, r.CertNumber, r.Version, r.Kind, inOutcome(&r), r.ContentHash, v)
	})
	if err == nil {
		err = w.flush()
	}
	if err == nil {
		_, err = w.pg.pool.Exec(w.ctx, "SELECT setval(pg_get_serial_sequence('inbox', 'seq'), GREATEST((SELECT max(seq) FROM inbox), 1))")
	}
	return c, err
}

func copyCertStatus(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "cert_status"}
	err := forEach(tx, bktCertState, func(_, v []byte) error {
		var s CertStatus
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		c.Source++
		return w.add(c.Table, "INSERT INTO cert_status (country, number, version, rec) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			s.Country, s.Number, s.Version, v)
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

func copyIssued(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "issued"}
	err := forEach(tx, bktIssCert, func(_, v []byte) error {
		var r IssuedCert
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		c.Source++
		return w.add(c.Table, "INSERT INTO issued (number, token, rec) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", r.Number, r.Token, v)
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

func copyIssuedDecisions(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "issued_decisions"}
	err := forEach(tx, bktIssDec, func(_, v []byte) error {
		var d ReceivedDecision
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		c.Source++
		// Keys are in (number, sequence) order: the order of each
		// certificate's decisions is kept.
		return w.add(c.Table, `INSERT INTO issued_decisions (sender, message_id, number, rec) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			d.From, d.MessageID, d.Number, v)
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

// copyIssuedDocs copies the imported documents with their records.
func copyIssuedDocs(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	{
		c := CopyCount{Table: "issued_docs"}
		err := forEach(tx, bktIssDocInfo, func(_, v []byte) error {
			var d IssuedDoc
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			c.Source++
			doc, err := issuedDocBytes(tx, docKey(d.Number, d.Version), &d)
			if err != nil {
				return fmt.Errorf("document %s version %d: %w", d.Number, d.Version, err)
			}
			return w.add(c.Table, "INSERT INTO issued_docs (number, version, info, doc) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
				d.Number, d.Version, v, doc)
		})
		if err == nil {
			err = w.flush()
		}
		return c, err
	}
}

func split2(k []byte) []string { return strings.Split(string(k), "\x00") }

func copyCuClients(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "cu_client"}
	err := forEach(tx, bktCuClient, func(k, v []byte) error {
		c.Source++
		var cl CustomsClient
		if err := json.Unmarshal(v, &cl); err != nil {
			return fmt.Errorf("customs client %s: %w", k, err)
		}
		return w.add(c.Table, "INSERT INTO cu_client (id, rec) VALUES ($1, $2) ON CONFLICT DO NOTHING", string(k), v)
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

// copyCuClientCerts copies the certificate bindings in force (current and
// next certificates of active clients), after their clients.
func copyCuClientCerts(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "cu_client_cert"}
	err := forEach(tx, bktCuClientCert, func(k, v []byte) error {
		c.Source++
		return w.add(c.Table, "INSERT INTO cu_client_cert (cert_sha256, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", string(k), string(v))
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

func copyCuViews(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "cu_view"}
	var h viewHead
	err := forEach(tx, bktCuView, func(k, v []byte) error {
		p := split2(k)
		if len(p) != 2 {
			return fmt.Errorf("check view under key %q is malformed", k)
		}
		view, _, err := parseViewValue(v, &h)
		if err != nil {
			return fmt.Errorf("check view under key %q: %w", k, err)
		}
		c.Source++
		// PostgreSQL keeps no check head: it reads the inbox and the
		// statuses in the same query.
		return w.add(c.Table, "INSERT INTO cu_view (country, number, based_on, view) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			p[0], p[1], int64(h.basedOn), view)
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

func copyCuUtil(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "cu_util"}
	err := forEach(tx, bktCuUtil, func(k, v []byte) error {
		if len(k) < 6 || len(v) != 8 {
			return fmt.Errorf("utilisation under key %q is malformed", k)
		}
		p := split2(k[:len(k)-5])
		if len(p) != 2 {
			return fmt.Errorf("utilisation under key %q is malformed", k)
		}
		c.Source++
		return w.add(c.Table, "INSERT INTO cu_util (country, number, item, used) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			p[0], p[1], int32(binary.BigEndian.Uint32(k[len(k)-4:])), int64(binary.BigEndian.Uint64(v)))
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

func copyCuDecl(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "cu_decl"}
	err := forEach(tx, bktCuDecl, func(_, v []byte) error {
		var d Decision
		if err := json.Unmarshal(v, &d); err != nil {
			return err
		}
		c.Source++
		return w.add(c.Table, "INSERT INTO cu_decl (country, number, declaration_ref, rec) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			d.Country, d.Number, d.DeclarationRef, v)
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

func copyCuQuery(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "cu_query"}
	err := forEach(tx, bktCuQuery, func(k, v []byte) error {
		p := split2(k)
		if len(p) != 2 || len(v) < 8 {
			return fmt.Errorf("query answer under key %q is malformed", k)
		}
		c.Source++
		return w.add(c.Table, "INSERT INTO cu_query (country, number, fetched, answer) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			p[0], p[1], time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), v[8:])
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

// issuanceBuckets are the bbolt buckets the issuance workflow keeps (isu_kv).
var issuanceBuckets = []string{bktIsuPerson, bktIsuPersonOrg, bktIsuExporter, bktIsuAgency, bktIsuOffice, bktIsuOfficeAg,
	bktIsuApp, bktIsuAppIEC, bktIsuAppOffice, bktIsuAppCert, bktIsuWallet, bktIsuWalletMv, bktIsuSeq,
	bktIsuAttach, bktIsuAttachData, bktIsuPayment, bktIsuCred, bktIsuClient, bktIsuClientIEC, bktIsuDSC, bktIsuPending, bktIsuDecl,
	bktIsuImage, bktIsuImageData}

func copyIssuance(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "isu_kv"}
	for _, bkt := range issuanceBuckets {
		err := forEach(tx, bkt, func(k, v []byte) error {
			c.Source++
			if v == nil {
				v = []byte{}
			}
			return w.add(c.Table, "INSERT INTO isu_kv (bucket, k, v) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", bkt, k, v)
		})
		if err != nil {
			return c, err
		}
	}
	return c, w.flush()
}

func copyPortalUsers(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "portal_user"}
	err := forEach(tx, bktPortalUser, func(k, v []byte) error {
		c.Source++
		return w.add(c.Table, "INSERT INTO portal_user (name, rec) VALUES ($1, $2) ON CONFLICT DO NOTHING", string(k), v)
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

// copyPortalSessions copies the sessions under their hashed ids (the ids
// themselves are never stored), so that logged-in users stay logged in.
func copyPortalSessions(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "portal_session"}
	err := forEach(tx, bktPortalSession, func(k, v []byte) error {
		var s PortalSession
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("portal session %x: %w (the node drops such a session at its next expiry sweep; start it once, or delete the session)", k[:4], err)
		}
		c.Source++
		return w.add(c.Table, "INSERT INTO portal_session (k, expires, rec) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", k, s.Expires.UTC(), v)
	})
	if err == nil {
		err = w.flush()
	}
	return c, err
}

func copyAudit(tx *bolt.Tx, w *pgCopier) (CopyCount, error) {
	c := CopyCount{Table: "audit"}
	var last Entry
	err := forEach(tx, bktAudit, func(k, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		c.Source++
		last = e
		return w.add(c.Table, "INSERT INTO audit (seq, hash, entry) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", int64(e.Seq), e.Hash, v)
	})
	if err == nil {
		err = w.flush()
	}
	if err == nil && c.Source > 0 {
		_, err = w.pg.pool.Exec(w.ctx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", int64(last.Seq), last.Hash)
	}
	return c, err
}

// pgTables are the tables CopyToPG fills, in its order.
var pgTables = []string{"blobs", "outbox", "inbox", "cert_status", "issued", "issued_decisions", "issued_docs",
	"cu_client", "cu_client_cert", "cu_view", "cu_util", "cu_decl", "cu_query", "isu_kv", "portal_user", "portal_session", "audit"}

// Counts returns the number of rows of each table, as "table n, ...".
func (pg *PG) Counts(ctx context.Context) (string, error) {
	var parts []string
	for _, t := range pgTables {
		n, err := pgCount(ctx, pg, t)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s %d", t, n))
	}
	return strings.Join(parts, ", "), nil
}
