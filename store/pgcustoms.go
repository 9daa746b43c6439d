package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGCustoms is the customs face's state on PostgreSQL (tables cu_*),
// shared by every replica. Get it from PG.Customs. Its methods follow
// Customs's documentation.
type PGCustoms struct{ pg *PG }

// Customs returns the customs face's state.
func (pg *PG) Customs() *PGCustoms { return &PGCustoms{pg: pg} }

// AddClient is Customs.AddClient.
func (c *PGCustoms) AddClient(ctx context.Context, cl CustomsClient) error {
	if err := checkClient(&cl); err != nil {
		return err
	}
	if cl.Created.IsZero() {
		cl.Created = c.pg.clock()
	}
	cl.Created = cl.Created.UTC()
	v, err := json.Marshal(&cl)
	if err != nil {
		return err
	}
	err = c.pg.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO cu_client (id, rec) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", cl.ID, v)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: client %s exists", ErrConflict, cl.ID)
		}
		return pgBindCerts(ctx, tx, cl.ID, cl.certBindings()...)
	})
	if err != nil {
		return fmt.Errorf("add customs client %s: %w", cl.ID, err)
	}
	return nil
}

// pgBindCerts records the certificate bindings fps of client id (table
// cu_client_cert); a certificate bound to another active client, or held
// by a revoked client (revokedCert), is ErrConflict.
func pgBindCerts(ctx context.Context, tx pgx.Tx, id string, fps ...string) error {
	if len(fps) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, "SELECT rec FROM cu_client")
	if err != nil {
		return err
	}
	for rows.Next() {
		var rec []byte
		if err := rows.Scan(&rec); err != nil {
			rows.Close()
			return err
		}
		if err := revokedCert(rec, fps); err != nil {
			rows.Close()
			return err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, fp := range fps {
		tag, err := tx.Exec(ctx, "INSERT INTO cu_client_cert (cert_sha256, client_id) VALUES ($1, $2) ON CONFLICT (cert_sha256) DO NOTHING", fp, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			continue
		}
		var other string
		if err := tx.QueryRow(ctx, "SELECT client_id FROM cu_client_cert WHERE cert_sha256 = $1", fp).Scan(&other); err != nil {
			return err
		}
		if other != id {
			return fmt.Errorf("%w: the certificate %s is already bound to client %s; a certificate authenticates one client: issue another one", ErrConflict, fp, other)
		}
	}
	return nil
}

// pgUnbindCerts drops the certificate bindings fps of client id.
func pgUnbindCerts(ctx context.Context, tx pgx.Tx, id string, fps ...string) error {
	for _, fp := range fps {
		if _, err := tx.Exec(ctx, "DELETE FROM cu_client_cert WHERE cert_sha256 = $1 AND client_id = $2", fp, id); err != nil {
			return err
		}
	}
	return nil
}

// Client is Customs.Client.
func (c *PGCustoms) Client(ctx context.Context, id string) (*CustomsClient, error) {
	return c.clientWhere(ctx, "customs client "+id, "SELECT rec FROM cu_client WHERE id = $1", id)
}

// clientWhere reads the client that query (one rec column, argument v)
// selects; what names it in errors.
func (c *PGCustoms) clientWhere(ctx context.Context, what, query, v string) (*CustomsClient, error) {
	var rec []byte
	if err := c.pg.pool.QueryRow(ctx, query, v).Scan(&rec); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = ErrNotFound
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cl := new(CustomsClient)
	if err := json.Unmarshal(rec, cl); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return cl, nil
}

// ClientByCert is Customs.ClientByCert.
func (c *PGCustoms) ClientByCert(ctx context.Context, fingerprint string) (*CustomsClient, error) {
	what := "customs client of certificate " + fingerprint
	cl, err := c.clientWhere(ctx, what, "SELECT c.rec FROM cu_client_cert b JOIN cu_client c ON c.id = b.client_id WHERE b.cert_sha256 = $1", fingerprint)
	if err != nil {
		return nil, err
	}
	if !cl.bindsCert(fingerprint) {
		return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return cl, nil
}

// Clients is Customs.Clients.
func (c *PGCustoms) Clients(ctx context.Context) ([]CustomsClient, error) {
	res, err := pgRecs[CustomsClient](ctx, c.pg.pool, "SELECT rec FROM cu_client ORDER BY id COLLATE \"C\"")
	if err != nil {
		return nil, fmt.Errorf("list customs clients: %w", err)
	}
	return res, nil
}

// changeClient is Customs.changeClient on PostgreSQL: change rewrites the
// client locked in tx and keeps its bindings; the client as it was is
// returned.
func (c *PGCustoms) changeClient(ctx context.Context, id string, change func(tx pgx.Tx, cl *CustomsClient) error) (*CustomsClient, error) {
	var before CustomsClient
	err := c.pg.inTx(ctx, func(tx pgx.Tx) error {
		var v []byte
		if err := tx.QueryRow(ctx, "SELECT rec FROM cu_client WHERE id = $1 FOR UPDATE", id).Scan(&v); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		var nv []byte
		var err error
		if before, nv, err = rewriteClient(v, func(cl *CustomsClient) error { return change(tx, cl) }); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE cu_client SET rec = $2 WHERE id = $1", id, nv)
		return err
	})
	if errors.Is(err, errNoChange) {
		err = nil
	}
	return &before, err
}

// RevokeClient is Customs.RevokeClient.
func (c *PGCustoms) RevokeClient(ctx context.Context, id string) error {
	now := c.pg.now()
	_, err := c.changeClient(ctx, id, func(tx pgx.Tx, cl *CustomsClient) error {
		if !cl.Revoked.IsZero() {
			return errNoChange
		}
		cl.Revoked = now
		_, err := tx.Exec(ctx, "DELETE FROM cu_client_cert WHERE client_id = $1", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke customs client %s: %w", id, err)
	}
	return nil
}

// RenewClientCert is Customs.RenewClientCert.
func (c *PGCustoms) RenewClientCert(ctx context.Context, id string, next ClientCert) (*CustomsClient, error) {
	before, err := c.changeClient(ctx, id, func(tx pgx.Tx, cl *CustomsClient) error {
		pending := cl.NextCertSHA256
		changed, err := renewClient(cl, next)
		if err != nil || !changed {
			return cmp.Or(err, errNoChange)
		}
		if pending != "" {
			if err := pgUnbindCerts(ctx, tx, id, pending); err != nil {
				return err
			}
		}
		return pgBindCerts(ctx, tx, id, next.SHA256)
	})
	if err != nil {
		return nil, fmt.Errorf("renew the certificate of customs client %s: %w", id, err)
	}
	return before, nil
}

// FinishClientRenewal is Customs.FinishClientRenewal.
func (c *PGCustoms) FinishClientRenewal(ctx context.Context, id, next string) (*CustomsClient, error) {
	before, err := c.changeClient(ctx, id, func(tx pgx.Tx, cl *CustomsClient) error {
		old := cl.CertSHA256
		if err := finishRenewal(cl, next); err != nil {
			return err
		}
		return pgUnbindCerts(ctx, tx, id, old)
	})
	if err != nil {
		return nil, fmt.Errorf("finish the certificate renewal of customs client %s: %w", id, err)
	}
	return before, nil
}

// pgLatestInSeq is latestInSeq on PostgreSQL.
func pgLatestInSeq(ctx context.Context, q pgx.Tx, country, number string) (uint64, error) {
	var seq *int64
	if err := q.QueryRow(ctx, "SELECT max(seq) FROM inbox WHERE sender = $1 AND cert_number = $2", country, number).Scan(&seq); err != nil {
		return 0, err
	}
	if seq == nil {
		return 0, nil
	}
	return uint64(*seq), nil
}

// PutView is Customs.PutView.
func (c *PGCustoms) PutView(ctx context.Context, country, number string, basedOn uint64, view []byte, chain ...[]byte) error {
	if err := checkID("country", country); err != nil {
		return fmt.Errorf("put check view: %w", err)
	}
	if err := checkID("certificate number", number); err != nil {
		return fmt.Errorf("put check view: %w", err)
	}
	err := c.pg.inTx(ctx, func(tx pgx.Tx) error {
		seq := basedOn
		if seq == 0 {
			var err error
			if seq, err = pgLatestInSeq(ctx, tx, country, number); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO cu_view (country, number, based_on, view) VALUES ($1, $2, $3, $4)
			ON CONFLICT (country, number) DO UPDATE SET based_on = EXCLUDED.based_on, view = EXCLUDED.view`,
			country, number, int64(seq), view)
		if err != nil {
			return err
		}
		for _, ch := range chain {
			if len(ch) > 0 {
				if err := pgPutBlob(ctx, tx, hashHex(ch), ch); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put check view of %s/%s: %w", country, number, err)
	}
	return nil
}

// Chain is Customs.Chain.
func (c *PGCustoms) Chain(ctx context.Context, sha256Hex string) ([]byte, error) {
	var b []byte
	err := c.pg.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		b, err = pgGetBlob(ctx, tx, sha256Hex)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("signer chain %s: %w", sha256Hex, err)
	}
	return b, nil
}

// Snapshot is Customs.Snapshot, in one REPEATABLE READ read-only
// transaction.
func (c *PGCustoms) Snapshot(country, number string, versionOf func(view []byte) int, dst *Snapshot) (bool, error) {
	ctx := context.Background()
	dst.Reset()
	found := false
	err := pgRead(ctx, c.pg, func(tx pgx.Tx) error {
		var err error
		if dst.LatestSeq, err = pgLatestInSeq(ctx, tx, country, number); err != nil {
			return err
		}
		var basedOn int64
		var view []byte
		err = tx.QueryRow(ctx, "SELECT based_on, view FROM cu_view WHERE country = $1 AND number = $2", country, number).Scan(&basedOn, &view)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		found = true
		dst.View = append(dst.View, view...)
		dst.Stale = staleView(uint64(basedOn), dst.LatestSeq)
		if versionOf != nil {
			ver := versionOf(dst.View)
			var sv []byte
			err := tx.QueryRow(ctx, "SELECT rec FROM cert_status WHERE country = $1 AND number = $2 AND version = $3", country, number, ver).Scan(&sv)
			switch {
			case err == nil:
				var st statusOnly
				if err := json.Unmarshal(sv, &st); err != nil {
					return fmt.Errorf("decode status: %w", err)
				}
				dst.HasStatus, dst.Status, dst.ReplacedBy = true, st.Status, st.ReplacedBy
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		rows, err := tx.Query(ctx, "SELECT item, used FROM cu_util WHERE country = $1 AND number = $2 ORDER BY item", country, number)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var u Used
			var used int64
			if err := rows.Scan(&u.Seq, &used); err != nil {
				return err
			}
			u.Used = used
			dst.Used = append(dst.Used, u)
		}
		return rows.Err()
	})
	if err != nil {
		return false, fmt.Errorf("check snapshot of %s/%s: %w", country, number, err)
	}
	return found, nil
}

// pgRead runs fn in a REPEATABLE READ, READ ONLY transaction (one
// consistent snapshot).
func pgRead(ctx context.Context, pg *PG, fn func(tx pgx.Tx) error) error {
	tx, err := pg.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Decide is Customs.Decide. Decisions on one certificate are serialised
// across replicas by a transaction-scoped advisory lock on it.
func (c *PGCustoms) Decide(ctx context.Context, d Decision, msg *OutMessage) (*Decision, error) {
	if err := checkDecide(&d, c.pg.clock); err != nil {
		return nil, err
	}
	if msg != nil {
		if err := checkEnqueue(nil, []OutMessage{*msg}); err != nil {
			return nil, fmt.Errorf("decide: %w", err)
		}
		d.MessageID = msg.ID
	}
	var res *Decision
	var dup bool
	var shortItems []ShortItem
	now := c.pg.now()
	err := c.pg.inTx(ctx, func(tx pgx.Tx) error {
		res, dup, shortItems = nil, false, nil
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "cu\x01"+d.Country+"\x01"+d.Number); err != nil {
			return err
		}
		var old []byte
		err := tx.QueryRow(ctx, "SELECT rec FROM cu_decl WHERE country = $1 AND number = $2 AND declaration_ref = $3", d.Country, d.Number, d.DeclarationRef).Scan(&old)
		if err == nil {
			var od Decision
			if err := json.Unmarshal(old, &od); err != nil {
				return err
			}
			res, dup = &od, true
			if od.Fingerprint != d.Fingerprint {
				return fmt.Errorf("%w: declaration %s already has another decision on %s/%s", ErrConflict, d.DeclarationRef, d.Country, d.Number)
			}
			return nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		used := map[int]int64{}
		rows, err := tx.Query(ctx, "SELECT item, used FROM cu_util WHERE country = $1 AND number = $2", d.Country, d.Number)
		if err != nil {
			return err
		}
		for rows.Next() {
			var it int
			var u int64
			if err := rows.Scan(&it, &u); err != nil {
				rows.Close()
				return err
			}
			used[it] = u
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		order, totals, rem, sh := allot(d.Items, func(seq int) int64 { return used[seq] })
		if len(sh) > 0 {
			shortItems = sh
			return nil
		}
		for _, seq := range order {
			if _, err := tx.Exec(ctx, `INSERT INTO cu_util (country, number, item, used) VALUES ($1, $2, $3, $4)
				ON CONFLICT (country, number, item) DO UPDATE SET used = EXCLUDED.used`, d.Country, d.Number, seq, totals[seq]); err != nil {
				return err
			}
		}
		dd := d
		dd.Remaining = rem
		v, err := json.Marshal(&dd)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO cu_decl (country, number, declaration_ref, rec) VALUES ($1, $2, $3, $4)",
			d.Country, d.Number, d.DeclarationRef, v); err != nil {
			return err
		}
		if msg != nil {
			m := *msg
			if _, err := pgEnqueueTx(ctx, tx, now, &m); err != nil {
				return err
			}
			if err := notifyOutbox(ctx, tx); err != nil {
				return err
			}
		}
		res = &dd
		return nil
	})
	return decided(&d, res, err, shortItems, dup)
}

// Decisions is Customs.Decisions.
func (c *PGCustoms) Decisions(ctx context.Context, country, number string) ([]Decision, error) {
	res, err := pgRecs[Decision](ctx, c.pg.pool, "SELECT rec FROM cu_decl WHERE country = $1 AND number = $2 ORDER BY convert_to(declaration_ref, 'UTF8')", country, number)
	if err != nil {
		return nil, fmt.Errorf("decisions on %s/%s: %w", country, number, err)
	}
	return res, nil
}

// PutQueryAnswer is Customs.PutQueryAnswer.
func (c *PGCustoms) PutQueryAnswer(ctx context.Context, country, number string, fetched time.Time, answer []byte) error {
	if err := checkID("country", country); err != nil {
		return fmt.Errorf("cache query answer: %w", err)
	}
	if err := checkID("certificate number", number); err != nil {
		return fmt.Errorf("cache query answer: %w", err)
	}
	_, err := c.pg.pool.Exec(ctx, `INSERT INTO cu_query (country, number, fetched, answer) VALUES ($1, $2, $3, $4)
		ON CONFLICT (country, number) DO UPDATE SET fetched = EXCLUDED.fetched, answer = EXCLUDED.answer`,
		country, number, fetched.UTC(), answer)
	if err != nil {
		return fmt.Errorf("cache query answer for %s/%s: %w", country, number, err)
	}
	return nil
}

// QueryAnswer is Customs.QueryAnswer.
func (c *PGCustoms) QueryAnswer(ctx context.Context, country, number string) ([]byte, time.Time, error) {
	var ans []byte
	var at time.Time
	err := c.pg.pool.QueryRow(ctx, "SELECT fetched, answer FROM cu_query WHERE country = $1 AND number = $2", country, number).Scan(&at, &ans)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("cached query answer for %s/%s: %w", country, number, err)
	}
	return ans, at.UTC(), nil
}
