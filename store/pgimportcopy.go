package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// ImportResult is the outcome of one certificate of PG.ImportBatch: Dup
// when the same content was stored already, Err when it was refused
// (nothing of it is stored then).
type ImportResult struct {
	Dup bool
	Err error
}

// ImportBatch imports certificates as Import does, many in one
// transaction through PostgreSQL's COPY path: the documents are copied
// (pgx CopyFrom) into a staging table, moved into issued_docs with INSERT
// ... ON CONFLICT DO NOTHING, and the register entries of the new ones
// written, all in one transaction. A certificate already stored with the
// same content is a duplicate; with other content it is refused with
// ErrConflict, without failing the others. When the batch transaction
// itself fails, each certificate is imported on its own (Import), so one
// bad record never costs the others.
func (pg *PG) ImportBatch(ctx context.Context, cs []ImportedCert) []ImportResult {
	res := make([]ImportResult, len(cs))
	now := pg.clock()
	type staged struct {
		i    int
		info []byte
	}
	var ok []staged
	for i := range cs {
		info, err := checkImport(&cs[i], now)
		if err == nil {
			var b []byte
			if b, err = json.Marshal(info); err == nil {
				ok = append(ok, staged{i, b})
				continue
			}
		}
		res[i].Err = err
	}
	if len(ok) == 0 {
		return res
	}
	err := pg.inTx(ctx, func(tx pgx.Tx) error {
		for _, s := range ok {
			res[s.i] = ImportResult{}
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE import_stage (ord int NOT NULL, number text NOT NULL, version int NOT NULL,
			info bytea NOT NULL, doc bytea NOT NULL) ON COMMIT DROP`); err != nil {
			return err
		}
		rows := make([][]any, len(ok))
		for j, s := range ok {
			c := &cs[s.i]
			rows[j] = []any{int32(j), c.Number, int32(c.Version), s.info, c.Doc}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_stage"}, []string{"ord", "number", "version", "info", "doc"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("COPY into the staging table: %w", err)
		}
		ins, err := tx.Query(ctx, `INSERT INTO issued_docs (number, version, info, doc)
			SELECT number, version, info, doc FROM import_stage ORDER BY ord ON CONFLICT DO NOTHING RETURNING number, version`)
		if err != nil {
			return err
		}
		inserted := map[string]bool{}
		for ins.Next() {
			var n string
			var v int32
			if err := ins.Scan(&n, &v); err != nil {
				ins.Close()
				return err
			}
			inserted[string(docKey(n, int(v)))] = true
		}
		ins.Close()
		if err := ins.Err(); err != nil {
			return err
		}
		for _, s := range ok {
			c := &cs[s.i]
			k := string(docKey(c.Number, c.Version))
			if inserted[k] {
				delete(inserted, k) // a second copy in this batch is a duplicate of the first
				if err := pgImportRegister(ctx, tx, c, now); err != nil {
					return err
				}
				continue
			}
			var dup bool
			err := pgImportedBefore(ctx, tx, c, &dup)
			switch {
			case errors.Is(err, ErrConflict):
				res[s.i].Err = fmt.Errorf("import certificate %s: %w", c.Number, err)
			case err != nil:
				return err
			}
			res[s.i].Dup = dup
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			for _, s := range ok {
				res[s.i] = ImportResult{Err: fmt.Errorf("import certificate %s: %w", cs[s.i].Number, ctx.Err())}
			}
			return res
		}
		pg.log.Warn("import batch failed; importing its certificates one by one", "certificates", len(ok), "err", err)
		for _, s := range ok {
			dup, err := pg.Issued().Import(ctx, cs[s.i])
			res[s.i] = ImportResult{Dup: dup, Err: err}
		}
	}
	return res
}

// PGImportBatcher gathers the certificates of concurrent Import calls (the
// import workers) into ImportBatch transactions: while one batch is
// written, the next fills up. It implements the import sink's store. Close
// it after the last Import.
type PGImportBatcher struct {
	pg      *PG
	max     int
	reqs    chan *importReq
	quit    chan struct{}
	wg      sync.WaitGroup
	commits atomic.Uint64
	once    sync.Once
}

type importReq struct {
	c    ImportedCert
	res  ImportResult
	done chan struct{}
}

// ImportBatcher starts a batcher writing up to max certificates per
// transaction (500 when max <= 0).
func (pg *PG) ImportBatcher(max int) *PGImportBatcher {
	if max <= 0 {
		max = 500
	}
	b := &PGImportBatcher{pg: pg, max: max, reqs: make(chan *importReq), quit: make(chan struct{})}
	b.wg.Add(1)
	go b.run()
	return b
}

// Import stores c in the next batch and returns when that batch is
// committed (or c refused). It returns ErrClosed after Close.
func (b *PGImportBatcher) Import(ctx context.Context, c ImportedCert) (dup bool, err error) {
	r := &importReq{c: c, done: make(chan struct{})}
	select {
	case b.reqs <- r:
	case <-b.quit:
		return false, fmt.Errorf("import certificate %s: %w", c.Number, ErrClosed)
	case <-ctx.Done():
		return false, ctx.Err()
	}
	<-r.done // once handed over, wait: the batch may store it
	return r.res.Dup, r.res.Err
}

// Commits is the number of batch transactions written.
func (b *PGImportBatcher) Commits() uint64 { return b.commits.Load() }

// Close stops the batcher after the pending batch. No Import may be
// running or follow.
func (b *PGImportBatcher) Close() {
	b.once.Do(func() { close(b.quit) })
	b.wg.Wait()
}

func (b *PGImportBatcher) run() {
	defer b.wg.Done()
	for {
		var first *importReq
		select {
		case first = <-b.reqs:
		case <-b.quit:
			return
		}
		batch := []*importReq{first}
	fill:
		for len(batch) < b.max {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		cs := make([]ImportedCert, len(batch))
		for i, r := range batch {
			cs[i] = r.c
		}
		res := b.pg.ImportBatch(context.Background(), cs)
		b.commits.Add(1)
		for i, r := range batch {
			r.res = res[i]
			close(r.done)
		}
	}
}
