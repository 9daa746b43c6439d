package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func imported(number string, version int, doc string) ImportedCert {
	return ImportedCert{Country: "IN", Number: number, Version: version, Doc: []byte(doc),
		Data: []byte(fmt.Sprintf(`{"number":%q,"version":%d}`, number, version)), Origin: "test"}
}

// TestImportIdempotentAndConflict: the same record again is a no-op that
// reports dup (one document, one token); other content under the same
// number and version is refused with ErrConflict and changes nothing; a
// new version is stored beside the old one and becomes the register's data.
func TestImportIdempotentAndConflict(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	is := db.Issued()
	c := imported("AI-1", 1, "<eco>one</eco>")
	if dup, err := is.Import(ctx, c); err != nil || dup {
		t.Fatalf("first import: dup=%v %v", dup, err)
	}
	r1, err := is.Get(ctx, "AI-1")
	if err != nil || r1.Status != CertIssued || r1.Version != 1 || len(r1.Token) != 22 {
		t.Fatalf("register entry %+v %v", r1, err)
	}
	if got, err := is.ByToken(ctx, r1.Token); err != nil || got.Number != "AI-1" {
		t.Fatalf("by token: %+v %v", got, err)
	}
	// Same content, signed differently: still the same record.
	again := c
	again.Doc = []byte("<eco>one<sig/></eco>")
	again.ContentSHA256 = hashHex(c.Doc)
	c.ContentSHA256 = hashHex(c.Doc)
	if dup, err := is.Import(ctx, c); err != nil || !dup {
		t.Fatalf("re-import: dup=%v %v", dup, err)
	}
	if dup, err := is.Import(ctx, again); err != nil || !dup {
		t.Fatalf("re-import with another signature: dup=%v %v", dup, err)
	}
	if r, _ := is.Get(ctx, "AI-1"); r.Token != r1.Token {
		t.Errorf("token changed on re-import: %s -> %s", r1.Token, r.Token)
	}
	other := imported("AI-1", 1, "<eco>changed</eco>")
	if _, err := is.Import(ctx, other); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "AI-1") {
		t.Fatalf("conflicting import: %v", err)
	}
	doc, info, err := is.Document(ctx, "AI-1", 1)
	if err != nil || string(doc) != "<eco>one</eco>" || info.Origin != "test" || info.Size != len(doc) {
		t.Fatalf("document after conflict: %q %+v %v", doc, info, err)
	}
	v2 := imported("AI-1", 2, "<eco>two</eco>")
	if dup, err := is.Import(ctx, v2); err != nil || dup {
		t.Fatalf("version 2: dup=%v %v", dup, err)
	}
	if r, _ := is.Get(ctx, "AI-1"); r.Version != 2 || r.Token != r1.Token || !strings.Contains(string(r.Data), `"version":2`) {
		t.Errorf("register after version 2: %+v", r)
	}
	if doc, _, _ := is.Document(ctx, "AI-1", 1); string(doc) != "<eco>one</eco>" {
		t.Errorf("version 1 lost: %q", doc)
	}
	// A replacement marks the replaced certificate; a withdrawn one is
	// registered withdrawn.
	rep := imported("AI-2", 1, "<eco>in lieu</eco>")
	rep.ReplacesNumber = "AI-1"
	if _, err := is.Import(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if r, _ := is.Get(ctx, "AI-1"); r.Status != CertReplaced || r.ReplacedBy != "AI-2" {
		t.Errorf("replaced certificate: %+v", r)
	}
	wd := imported("AI-3", 1, "<eco>withdrawn</eco>")
	wd.Status = CertWithdrawn
	if _, err := is.Import(ctx, wd); err != nil {
		t.Fatal(err)
	}
	if r, _ := is.Get(ctx, "AI-3"); r.Status != CertWithdrawn {
		t.Errorf("withdrawn certificate: %+v", r)
	}
	for _, bad := range []ImportedCert{imported("", 1, "x"), imported("A\x00B", 1, "x"), imported("A", -1, "x"), imported("A", 1, "")} {
		if _, err := is.Import(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("invalid %+v: %v", bad, err)
		}
	}
}

// TestImportAtomic: a record that fails after its document was written
// leaves nothing (no document, no register entry, no token), and the
// records committed in the same group are unaffected.
func TestImportAtomic(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	is := db.Issued()
	db.hookImportMid = func(number string) error {
		if strings.HasSuffix(number, "-13") {
			return errors.New("disk full (simulated)")
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 30)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = is.Import(ctx, imported(fmt.Sprintf("AT-%d", i), 1, fmt.Sprintf("<eco>%d</eco>", i)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 13) != (err != nil) {
			t.Errorf("record %d: %v", i, err)
		}
	}
	if _, err := is.Get(ctx, "AT-13"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed record is in the register: %v", err)
	}
	if _, _, err := is.Document(ctx, "AT-13", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed record's document is stored: %v", err)
	}
	if _, _, err := is.Document(ctx, "AT-12", 1); err != nil {
		t.Errorf("a good record of the group: %v", err)
	}
	db.hookImportMid = nil
	if dup, err := is.Import(ctx, imported("AT-13", 1, "<eco>13</eco>")); err != nil || dup {
		t.Errorf("retry of the failed record: dup=%v %v", dup, err)
	}
}

// TestImportConcurrent: many goroutines import overlapping records (each
// record twice, some conflicting); every record is stored once, the
// duplicates report dup, the conflicts ErrConflict, and puts share
// commits. Run with -race.
func TestImportConcurrent(t *testing.T) {
	db, _ := openTest(t, newFakeClock())
	ctx := context.Background()
	is := db.Issued()
	const n, workers = 400, 32
	var mu sync.Mutex
	stored, dups, conflicts := 0, 0, 0
	var wg sync.WaitGroup
	work := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c := imported(fmt.Sprintf("CC-%d", i%n), 1, fmt.Sprintf("<eco>%d</eco>", i%n))
				if i >= 2*n { // a third pass with other content
					c.Doc = []byte(fmt.Sprintf("<eco>%d changed</eco>", i%n))
				}
				dup, err := is.Import(ctx, c)
				mu.Lock()
				switch {
				case errors.Is(err, ErrConflict):
					conflicts++
				case err != nil:
					t.Error(err)
				case dup:
					dups++
				default:
					stored++
				}
				mu.Unlock()
			}
		}()
	}
	before := db.Stats()
	for i := range 3 * n {
		work <- i
	}
	close(work)
	wg.Wait()
	if stored != n || dups+conflicts != 2*n || conflicts == 0 {
		t.Errorf("stored %d, dup %d, conflicts %d", stored, dups, conflicts)
	}
	st := db.Stats()
	if commits := st.Commits - before.Commits; commits >= uint64(3*n) {
		t.Errorf("%d commits for %d imports: no group commit", commits, 3*n)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
