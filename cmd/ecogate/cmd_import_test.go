package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/mapping"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// importSite lays out one development node (IN) and returns its config
// file and data file.
func importSite(t testing.TB) (config, data string) {
	t.Helper()
	dir := t.TempDir()
	site := devsite.Site{Country: "IN", Name: "India (import test)", PartnerAddr: "127.0.0.1:1", LocalAddr: "127.0.0.1:2", Dir: dir}
	if err := devsite.Write([]devsite.Site{site}, devsite.Retry{Attempts: 1, InitialInterval: time.Second, MaxInterval: time.Second, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return site.ConfigPath(), filepath.Join(dir, "data", "ecogate.db")
}

// indiaLines returns n NDJSON lines made from the india-ecoo fixture, each
// with its own certificate and reference number; the lines at the bad
// indices get an invalid IEC (a mapping failure).
func indiaLines(t testing.TB, n, first int, bad map[int]bool) string {
	t.Helper()
	raw, err := os.ReadFile("../../mapping/testdata/india-ecoo/aifta-issued.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	if !strings.Contains(line, `"AI-MUM-2026-0004711"`) || !strings.Contains(line, `"iec":"0304012345"`) {
		t.Fatal("the fixture changed: update indiaLines")
	}
	var out strings.Builder
	for i := range n {
		l := strings.Replace(line, `"AI-MUM-2026-0004711"`, fmt.Sprintf(`"AI-MUM-2026-%07d"`, first+i), 1)
		l = strings.Replace(l, `"EIC/MUM/2026/A/004711"`, fmt.Sprintf(`"EIC/MUM/2026/A/%07d"`, first+i), 1)
		if bad[i] {
			l = strings.Replace(l, `"iec":"0304012345"`, `"iec":"0304"`, 1)
		}
		out.WriteString(l + "\n")
	}
	return out.String()
}

// BenchmarkImportCommand: the whole `ecogate import` path (read NDJSON,
// map, validate, encode canonical XML, core data, store with fsync in
// group commits) over 20,000 generated india-ecoo records into a fresh
// data file, with the default 64 workers.
func BenchmarkImportCommand(b *testing.B) {
	config, data := importSite(b)
	src := filepath.Join(b.TempDir(), "legacy.ndjson")
	const n = 20000
	if err := os.WriteFile(src, []byte(indiaLines(b, n, 1, nil)), 0o644); err != nil {
		b.Fatal(err)
	}
	records := 0
	for b.Loop() {
		b.StopTimer()
		if err := os.RemoveAll(filepath.Dir(data)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var stderr bytes.Buffer
		code := runImport(context.Background(), []string{"--config", config, "--profile", "india-ecoo", "--source", src,
			"--report", filepath.Join(b.TempDir(), "failures.jsonl"), "--quiet"}, &bytes.Buffer{}, &stderr)
		if code != exitOK {
			b.Fatalf("exit %d: %s", code, stderr.String())
		}
		records += n
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// runImportCmd runs `ecogate import` with the given context.
func runImportCmd(ctx context.Context, args ...string) (int, string) {
	var stderr bytes.Buffer
	code := runImport(ctx, args, &bytes.Buffer{}, &stderr)
	return code, stderr.String()
}

// readReport decodes the failure report.
func readReport(t *testing.T, path string) []mapping.ImportFailure {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fs []mapping.ImportFailure
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var f mapping.ImportFailure
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("report line %q: %v", l, err)
		}
		fs = append(fs, f)
	}
	return fs
}

// TestImportCommand: a directory of good and bad records (the india-ecoo
// fixtures). The good ones are stored with their exact canonical XML and
// found in the issued register, by number and by QR token through the
// public verification page; the bad ones are reported with their position
// and reason and skipped; the exit status is 1 with the count and the
// report's path. Other content under a stored number is a conflict.
func TestImportCommand(t *testing.T) {
	config, data := importSite(t)
	src := t.TempDir()
	lines := indiaLines(t, 20, 1, map[int]bool{4: true})
	lines += "this line is not JSON\n"
	if err := os.WriteFile(filepath.Join(src, "a-legacy.ndjson"), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	nonpref, err := os.ReadFile("../../mapping/testdata/india-ecoo/nonpref-application.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "b-application.json"), nonpref, 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "failures.jsonl")
	code, stderr := runImportCmd(context.Background(), "--config", config, "--profile", "india-ecoo", "--source", src, "--report", report, "--workers", "4")
	if code != exitFail {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	for _, want := range []string{"22 records read: 19 stored, 0 already stored (skipped), 3 failed", "3 records failed", report} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	fails := readReport(t, report)
	if len(fails) != 3 {
		t.Fatalf("%d failures reported: %+v", len(fails), fails)
	}
	byRecord := map[string]mapping.ImportFailure{}
	for _, f := range fails {
		byRecord[fmt.Sprintf("%s#%d", filepath.Base(f.Source), f.Record)] = f
	}
	if f := byRecord["a-legacy.ndjson#5"]; f.Pos != "line 5" || f.Key != "EIC/MUM/2026/A/0000005" || len(f.Errors) == 0 || f.Errors[0].Field != "iec" || !strings.Contains(f.Errors[0].Message, "exactly 10") {
		t.Errorf("bad IEC: %+v", f)
	}
	if f := byRecord["a-legacy.ndjson#21"]; f.Pos != "line 21" || len(f.Errors) == 0 || !strings.Contains(f.Errors[0].Message, "not one JSON object") {
		t.Errorf("bad line: %+v", f)
	}
	// An application that was never issued has no issue date: refused by
	// validation (SEVERE), not stored.
	if f := byRecord["b-application.json#1"]; len(f.Errors) == 0 || !strings.Contains(f.Errors[0].Message, "SEVERE ECO-MANDATORY-MISSING") {
		t.Errorf("unissued application: %+v", f)
	}

	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	is := db.Issued()
	ctx := context.Background()
	rec, err := is.Get(ctx, "AI-MUM-2026-0000002")
	if err != nil || rec.Status != store.CertIssued || rec.Country != "IN" || rec.Version != 1 {
		t.Fatalf("issued register: %+v %v", rec, err)
	}
	var core customs.CoreData
	if err := json.Unmarshal(rec.Data, &core); err != nil || core.Number != "AI-MUM-2026-0000002" || len(core.Items) == 0 || core.Exporter == "" {
		t.Errorf("core data %s: %v", rec.Data, err)
	}
	doc, info, err := is.Document(ctx, "AI-MUM-2026-0000002", 1)
	if err != nil || !bytes.HasPrefix(doc, []byte("<?xml")) || info.Signed || info.Origin != "import india-ecoo" {
		t.Fatalf("document: %.60q %+v %v", doc, info, err)
	}
	if c, fds := schema.DecodeXML(doc, schema.DecodeOptions{}); c == nil || fds.HasSevere() || c.Header.ID != "AI-MUM-2026-0000002" {
		t.Errorf("stored XML does not decode to the certificate: %v", fds)
	}
	if _, err := is.Get(ctx, "AI-MUM-2026-0000005"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed record is in the register: %v", err)
	}
	// The public verification page finds it by its QR token.
	vs, err := verify.New(verify.Options{Country: "IN", Register: is})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/verify/q/"+rec.Token, nil)
	req.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	vs.Routes().ServeHTTP(w, req)
	var ans verify.Answer
	if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil || !ans.Found || ans.Certificate == nil || ans.Certificate.Number != "AI-MUM-2026-0000002" {
		t.Errorf("verification page: %d %s", w.Code, w.Body.String())
	}
	if err := db.Check(ctx); err != nil {
		t.Error(err)
	}
	// The run is in the audit log, with its counts.
	es, err := db.Audit().Entries(ctx, 0, 0)
	if err != nil || len(es) == 0 {
		t.Fatalf("audit entries: %v %v", es, err)
	}
	if last := es[len(es)-1]; last.Action != "import" || last.Subject != "india-ecoo" || last.Details["failed"] == "" || last.Details["stored"] == "0" || last.Details["outcome"] != "finished" {
		t.Errorf("audit entry of the import: %+v", last)
	}
	db.Close()

	// Other content under a stored number and version: reported as a
	// conflict; the same content: skipped.
	changed := strings.Replace(indiaLines(t, 2, 1, nil), `"iec":"0304012345"`, `"iec":"0304012346"`, 1)
	csrc := filepath.Join(t.TempDir(), "changed.ndjson")
	if err := os.WriteFile(csrc, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	report2 := filepath.Join(t.TempDir(), "failures.jsonl")
	code, stderr = runImportCmd(context.Background(), "--config", config, "--profile", "india-ecoo", "--source", csrc, "--report", report2)
	if code != exitFail || !strings.Contains(stderr, "2 records read: 0 stored, 1 already stored (skipped), 1 failed") {
		t.Fatalf("re-import with a changed record: exit %d\n%s", code, stderr)
	}
	if fs := readReport(t, report2); len(fs) != 1 || fs[0].Record != 1 || !strings.Contains(fs[0].Errors[0].Message, "already stored with other content") {
		t.Errorf("conflict report: %+v", fs)
	}
}

// TestImportInterruptedAndResumed: an import cancelled part way (Ctrl-C)
// exits 2 saying how to resume; the same command again finishes it. Every
// record is counted once, every good record stored once, the bad record
// reported once; a third run does nothing.
func TestImportInterruptedAndResumed(t *testing.T) {
	config, data := importSite(t)
	src := filepath.Join(t.TempDir(), "legacy.ndjson")
	const n = 3000
	if err := os.WriteFile(src, []byte(indiaLines(t, n, 1, map[int]bool{10: true})), 0o644); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "import.checkpoint")
	report := filepath.Join(t.TempDir(), "failures.jsonl")
	args := []string{"--config", config, "--profile", "india-ecoo", "--source", src, "--checkpoint", cp, "--report", report, "--checkpoint-every", "50", "--workers", "8"}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { // interrupt once the first checkpoints are written
		for {
			if b, err := os.ReadFile(cp); err == nil && bytes.Contains(b, []byte(`"next": 2`)) {
				cancel()
				return
			}
			if ctx.Err() != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	code, stderr := runImportCmd(ctx, args...)
	cancel()
	if code != exitUsage || !strings.Contains(stderr, "run the same command again to resume") {
		t.Fatalf("interrupted run: exit %d\n%s", code, stderr)
	}
	code, stderr = runImportCmd(context.Background(), args...)
	if code != exitFail || !strings.Contains(stderr, "resuming from checkpoint") {
		t.Fatalf("resumed run: exit %d\n%s", code, stderr)
	}
	var read, stored, skipped, failed int
	i := strings.Index(stderr, "records read:")
	j := strings.LastIndex(stderr[:max(i, 0)], "ecogate import: ")
	if i < 0 || j < 0 {
		t.Fatalf("no summary:\n%s", stderr)
	}
	if _, err := fmt.Sscanf(strings.ReplaceAll(stderr[j+len("ecogate import: "):], ",", ""), "%d records read: %d stored %d already stored (skipped) %d failed", &read, &stored, &skipped, &failed); err != nil {
		t.Fatalf("summary: %v\n%s", err, stderr)
	}
	if read != n || failed != 1 || stored+skipped != n-1 {
		t.Errorf("totals: read %d stored %d skipped %d failed %d", read, stored, skipped, failed)
	}
	if fs := readReport(t, report); len(fs) != 1 || fs[0].Record != 11 {
		t.Errorf("failure report: %+v", fs)
	}
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= n; k++ {
		_, _, err := db.Issued().Document(context.Background(), fmt.Sprintf("AI-MUM-2026-%07d", k), 1)
		if (k == 11) != (err != nil) {
			t.Errorf("record %d: %v", k, err)
		}
	}
	if err := db.Check(context.Background()); err != nil {
		t.Error(err)
	}
	db.Close()
	code, stderr = runImportCmd(context.Background(), args...)
	if code != exitFail || !strings.Contains(stderr, fmt.Sprintf("%s records read", commas(n))) || strings.Contains(stderr, "this run") {
		t.Errorf("finished import ran again: exit %d\n%s", code, stderr)
	}
}

// TestImportRefusals: usage errors and a data file held by a running node
// exit 2 with what to do.
func TestImportRefusals(t *testing.T) {
	config, data := importSite(t)
	src := filepath.Join(t.TempDir(), "legacy.ndjson")
	if err := os.WriteFile(src, []byte(indiaLines(t, 2, 1, nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--profile", "india-ecoo", "--source", src}, "--config is required"},
		{[]string{"--config", config, "--source", src}, "--profile is required"},
		{[]string{"--config", config, "--profile", "india-ecoo"}, "--source is required"},
		{[]string{"--config", config, "--profile", "nope", "--source", src}, "nope"},
		{[]string{"--config", config, "--profile", "india-ecoo", "--source", src + ".missing"}, "no such file"},
		{[]string{"--config", config, "--profile", "india-ecoo", "--source", src, "--validate-level", "warning"}, "give severe or none"},
	} {
		if code, stderr := runImportCmd(context.Background(), tc.args...); code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, stderr)
		}
	}
	// A source named before the flags (as the usage allows) is imported.
	if code, stderr := runImportCmd(context.Background(), src, "--config", config, "--profile", "india-ecoo", "--quiet",
		"--report", filepath.Join(t.TempDir(), "r.jsonl")); code != exitOK || !strings.Contains(stderr, "2 stored") {
		t.Errorf("source before the flags: exit %d\n%s", code, stderr)
	}
	if err := os.MkdirAll(filepath.Dir(data), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(data, store.Options{}) // the running node
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	code, stderr := runImportCmd(context.Background(), "--config", config, "--profile", "india-ecoo", "--source", src, "--report", filepath.Join(t.TempDir(), "r.jsonl"))
	if code != exitUsage || !strings.Contains(stderr, "the node is running") {
		t.Errorf("locked data file: exit %d\n%s", code, stderr)
	}
}

// TestImportSigned: --sign stores each certificate signed with the node's
// document-signing key; the register entry is the same as unsigned.
func TestImportSigned(t *testing.T) {
	config, data := importSite(t)
	src := filepath.Join(t.TempDir(), "legacy.ndjson")
	if err := os.WriteFile(src, []byte(indiaLines(t, 3, 1, nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", config, "--profile", "india-ecoo", "--source", src, "--sign", "--report", filepath.Join(t.TempDir(), "r.jsonl")}
	if code, stderr := runImportCmd(context.Background(), args...); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc, info, err := db.Issued().Document(context.Background(), "AI-MUM-2026-0000003", 1)
	if err != nil || !info.Signed || !bytes.Contains(doc, []byte("SignatureValue")) {
		t.Fatalf("signed document: %+v %v\n%.300s", info, err, doc)
	}
	if rec, err := db.Issued().Get(context.Background(), "AI-MUM-2026-0000003"); err != nil || rec.Data == nil {
		t.Errorf("register: %+v %v", rec, err)
	}
	db.Close()
	// Signing again gives other bytes, but the content is the same: the
	// re-import (checkpoint removed) skips every record.
	if err := os.Remove(defaultCheckpoint(data, "india-ecoo", []string{src})); err != nil {
		t.Fatal(err)
	}
	if code, stderr := runImportCmd(context.Background(), args...); code != exitOK || !strings.Contains(stderr, "0 stored, 3 already stored") {
		t.Errorf("re-import signed: exit %d\n%s", code, stderr)
	}
}

// TestImportReportNoRepeats: a record's failure line says each message
// once: repeated errors are dropped and SEVERE findings with the same
// code and message at several paths are one entry listing the paths.
func TestImportReportNoRepeats(t *testing.T) {
	line := `{"source":"a","record":3,"errors":[{"field":"iec","message":"bad"},{"field":"iec","message":"bad"},{"message":"other"},{"field":"iec","message":"bad"}]}` + "\n"
	var f mapping.ImportFailure
	if err := json.Unmarshal(uniqueDetails([]byte(line)), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Errors) != 2 || f.Errors[0].Message != "bad" || f.Errors[1].Message != "other" || f.Record != 3 {
		t.Errorf("deduplicated: %+v", f)
	}
	if got := uniqueDetails([]byte("not json\n")); string(got) != "not json\n" {
		t.Errorf("other line changed: %q", got)
	}
	fds := schema.Findings{
		{Area: schema.AreaMandatory, Level: schema.Severe, Code: "C1", Path: "p[0]", Message: "same"},
		{Area: schema.AreaMandatory, Level: schema.Severe, Code: "C1", Path: "p[1]", Message: "same"},
		{Area: schema.AreaMandatory, Level: schema.Severe, Code: "C1", Path: "p[1]", Message: "same"},
		{Area: schema.AreaRule, Level: schema.Warning, Code: "W", Path: "x", Message: "warn"},
		{Area: schema.AreaRule, Level: schema.Severe, Code: "C2", Path: "y", Message: "once"},
	}
	got := severeSummary(fds)
	want := "SEVERE C1 mandatory (2 places: p[0], p[1]): same; SEVERE C2 rule y: once"
	if got != want {
		t.Errorf("summary\n%s\nwant\n%s", got, want)
	}
}
