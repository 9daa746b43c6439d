package mapping

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ecogate/ecogate/schema"
)

// memSink stores certificates in memory; crashAfter > 0 cancels the import
// (like a kill) once that many certificates are stored.
type memSink struct {
	mu         sync.Mutex
	certs      map[string]*schema.Certificate
	puts       int
	crashAfter int
	cancel     context.CancelFunc
	failKey    string
}

func (m *memSink) Put(ctx context.Context, key string, c *schema.Certificate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if key == m.failKey {
		return errors.New("disk full")
	}
	if prev, ok := m.certs[key]; ok && prev.Header.UUID != c.Header.UUID {
		return fmt.Errorf("%s already stored with other content", key)
	}
	m.certs[key] = c
	m.puts++
	if m.crashAfter > 0 && m.puts == m.crashAfter {
		m.cancel()
	}
	return nil
}

func (m *memSink) Has(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.certs[key]
	return ok, nil
}

// batch writes n Indian records as NDJSON, each with its own certificate
// number; the records at the bad indices have an invalid IEC.
func batch(t testing.TB, dir string, n int, bad map[int]bool) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/india-ecoo/aifta-issued.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, raw)
	line := buf.String()
	var out strings.Builder
	for i := 0; i < n; i++ {
		l := strings.Replace(line, `"AI-MUM-2026-0004711"`, fmt.Sprintf(`"AI-MUM-2026-%07d"`, i+1), 1)
		l = strings.Replace(l, `"EIC/MUM/2026/A/004711"`, fmt.Sprintf(`"EIC/MUM/2026/A/%06d"`, i+1), 1)
		if bad[i] {
			l = strings.Replace(l, `"iec":"0304012345"`, `"iec":"0304"`, 1)
		}
		out.WriteString(l + "\n")
	}
	path := filepath.Join(dir, "legacy.ndjson")
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImportReportsAndSkipsBadRecords: bad records are reported (position,
// field, rule) and skipped; every other record is stored once.
func TestImportReportsAndSkipsBadRecords(t *testing.T) {
	p, _ := Builtin("india-ecoo")
	dir := t.TempDir()
	src := batch(t, dir, 200, map[int]bool{3: true, 150: true})
	sink := &memSink{certs: map[string]*schema.Certificate{}, failKey: "AI-MUM-2026-0000100"}
	var report bytes.Buffer
	got, err := ImportFiles(context.Background(), p, []string{dir}, sink, ImportOptions{Workers: 3, Failures: &report, CheckpointEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got.Read != 200 || got.Stored != 197 || got.Failed != 3 || len(sink.certs) != 197 {
		t.Errorf("progress %+v, %d stored", got, len(sink.certs))
	}
	var fails []ImportFailure
	for _, l := range strings.Split(strings.TrimSpace(report.String()), "\n") {
		var f ImportFailure
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("report line %q: %v", l, err)
		}
		fails = append(fails, f)
	}
	if len(fails) != 3 {
		t.Fatalf("%d failures reported", len(fails))
	}
	byRecord := map[int]ImportFailure{}
	for _, f := range fails {
		byRecord[f.Record] = f
	}
	if f := byRecord[4]; f.Source != src || f.Pos != "line 4" || f.Errors[0].Field != "iec" || !strings.Contains(f.Errors[0].Rule, `"IEC"`) {
		t.Errorf("bad IEC report: %+v", f)
	}
	if f := byRecord[100]; !strings.Contains(f.Errors[0].Message, "store: disk full") {
		t.Errorf("store failure report: %+v", f)
	}
}

// TestImportResumes: an import killed part way (the context ends) resumes
// from its checkpoint; in the end every good record is stored exactly once,
// each bad one reported, and a finished import does nothing more.
func TestImportResumes(t *testing.T) {
	p, _ := Builtin("india-ecoo")
	dir := t.TempDir()
	src := batch(t, dir, 500, map[int]bool{10: true})
	cpPath := filepath.Join(t.TempDir(), "import.checkpoint")
	sink := &memSink{certs: map[string]*schema.Certificate{}}
	var report bytes.Buffer
	opts := ImportOptions{Workers: 2, Checkpoint: cpPath, CheckpointEvery: 25, Failures: &report}

	ctx, cancel := context.WithCancel(context.Background())
	sink.crashAfter, sink.cancel = 230, cancel
	_, err := ImportFiles(ctx, p, []string{src}, sink, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want cancelled", err)
	}
	var cp checkpoint
	b, _ := os.ReadFile(cpPath)
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	next := cp.Sources[src].Next
	if next == 0 || next > 231 || cp.Sources[src].Done {
		t.Fatalf("checkpoint after the crash: next %d done %v", next, cp.Sources[src].Done)
	}

	sink.crashAfter = 0
	got, err := ImportFiles(context.Background(), p, []string{src}, sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.certs) != 499 {
		t.Errorf("%d stored, want 499", len(sink.certs))
	}
	if got.Stored+got.Skipped+got.Failed != got.Read || got.Read != 500 {
		t.Errorf("totals %+v", got)
	}
	if n := strings.Count(report.String(), `"record":11,`); n != 1 {
		t.Errorf("bad record reported %d times:\n%s", n, report.String())
	}
	puts := sink.puts
	again, err := ImportFiles(context.Background(), p, []string{src}, sink, opts)
	if err != nil || sink.puts != puts || again.Read != got.Read || again.Stored != got.Stored {
		t.Errorf("finished import ran again: %+v %v (%d more puts)", again, err, sink.puts-puts)
	}
	// The checkpoint belongs to its profile.
	other, _ := Builtin("edi3-coo")
	if _, err := ImportFiles(context.Background(), other, []string{src}, sink, opts); err == nil || !strings.Contains(err.Error(), "belongs to profile india-ecoo") {
		t.Errorf("foreign checkpoint: %v", err)
	}
}

// nullSink stores nothing (it measures the import engine without storage).
type nullSink struct{}

func (nullSink) Put(context.Context, string, *schema.Certificate) error { return nil }
func (nullSink) Has(context.Context, string) (bool, error)              { return false, nil }

// BenchmarkImportIndiaNoStore: ImportFiles over 10,000 NDJSON records with
// validation as the Accept gate, the checkpoint every 10,000 records, and a
// sink that stores nothing: the import's own ceiling before storage.
func BenchmarkImportIndiaNoStore(b *testing.B) {
	p, _ := Builtin("india-ecoo")
	src := batch(b, b.TempDir(), 10000, nil)
	opts := ImportOptions{Accept: func(c *schema.Certificate) error {
		if fs := schema.Validate(c, schema.ValidateOptions{}); fs.HasSevere() {
			return errors.New(fs[0].String())
		}
		return nil
	}}
	records := 0
	for b.Loop() {
		opts.Checkpoint = filepath.Join(b.TempDir(), "cp")
		got, err := ImportFiles(context.Background(), p, []string{src}, nullSink{}, opts)
		if err != nil || got.Stored != 10000 {
			b.Fatalf("%+v %v", got, err)
		}
		records += got.Read
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
