package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestPGImportBatch: one COPY batch with new certificates, a duplicate of
// an earlier one, the same number twice in the batch (same content: a
// duplicate; other content: a conflict), an invalid one and a replacement:
// each gets its own outcome, the stored ones are readable with their
// register entries, and the refused ones stored nothing.
func TestPGImportBatch(t *testing.T) {
	pg := openPGTest(t, nil)
	ctx := context.Background()
	imp := func(n string, v int, doc string) ImportedCert {
		return ImportedCert{Country: "IN", Number: n, Version: v, Doc: []byte(doc), Data: []byte(`{"n":"` + n + `"}`)}
	}
	if _, err := pg.Issued().Import(ctx, imp("OLD", 0, "<old/>")); err != nil {
		t.Fatal(err)
	}
	repl := imp("NEW", 1, "<new/>")
	repl.ReplacesNumber = "OLD"
	batch := []ImportedCert{
		imp("A", 0, "<a/>"),
		imp("OLD", 0, "<old/>"), // stored before, same content
		imp("B", 0, "<b/>"),
		imp("B", 0, "<b/>"), // twice in the batch, same content
		imp("C", 0, "<c/>"),
		imp("C", 0, "<other/>"), // twice in the batch, other content
		imp("", 0, "<x/>"),      // invalid
		repl,
	}
	res := pg.ImportBatch(ctx, batch)
	want := []struct {
		dup  bool
		fail error
	}{{false, nil}, {true, nil}, {false, nil}, {true, nil}, {false, nil}, {false, ErrConflict}, {false, ErrInvalid}, {false, nil}}
	for i, w := range want {
		if res[i].Dup != w.dup || (w.fail == nil) != (res[i].Err == nil) || (w.fail != nil && !errors.Is(res[i].Err, w.fail)) {
			t.Errorf("record %d (%s): %+v, want dup %v err %v", i, batch[i].Number, res[i], w.dup, w.fail)
		}
	}
	for _, n := range []string{"A", "B", "C", "NEW"} {
		if _, err := pg.Issued().Get(ctx, n); err != nil {
			t.Errorf("register %s: %v", n, err)
		}
	}
	if doc, _, err := pg.Issued().Document(ctx, "C", 0); err != nil || string(doc) != "<c/>" {
		t.Errorf("C kept %q %v, want the first content", doc, err)
	}
	if r, err := pg.Issued().Get(ctx, "OLD"); err != nil || r.Status != CertReplaced || r.ReplacedBy != "NEW" {
		t.Errorf("OLD: %+v %v", r, err)
	}
}

// TestPGImportBatcher: concurrent Import calls gather into fewer
// transactions, each caller gets its own outcome, and all are stored.
func TestPGImportBatcher(t *testing.T) {
	pg := openPGTest(t, nil)
	ctx := context.Background()
	b := pg.ImportBatcher(50)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				n := fmt.Sprintf("N%02d-%02d", w, i)
				if dup, err := b.Import(ctx, ImportedCert{Country: "IN", Number: n, Doc: []byte("<" + n + "/>")}); err != nil || dup {
					errs <- fmt.Errorf("%s: dup %v err %v", n, dup, err)
				}
			}
		}()
	}
	wg.Wait()
	b.Close()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := pgCount(ctx, pg, "issued_docs"); err != nil || n != 400 {
		t.Fatalf("issued_docs %d %v", n, err)
	}
	if c := b.Commits(); c == 0 || c >= 400 {
		t.Errorf("%d transactions for 400 certificates", c)
	}
	if _, err := b.Import(ctx, ImportedCert{Number: "late", Doc: []byte("x")}); err == nil {
		t.Error("Import after Close succeeded")
	}
}
