package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/mapping"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// importDefaultWorkers is the default --workers. A worker waits for its
// record's group commit (an fsync) most of the time, so many more workers
// than cores make the commits large; see docs/benchmarks.md.
const importDefaultWorkers = 64

// importGCPercent is the garbage collector's target during an import
// (GOGC=400): see runImport.
const importGCPercent = 400

// importDefaultReport is the default --report, in the working directory.
const importDefaultReport = "import-failures.jsonl"

// runImport is `ecogate import`. Everything it says goes to stderr; stdout
// stays unused.
func runImport(ctx context.Context, args []string, _ io.Writer, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "the node configuration `FILE` (its data file, signing key and code lists are used)")
	profile := fs.String("profile", "", "mapping profile: a built-in `NAME` ("+strings.Join(mapping.BuiltinNames(), ", ")+") or a YAML FILE")
	var sources []string
	fs.Func("source", "a legacy export `FILE`, or a DIR standing for its files in name order (repeatable)", func(s string) error {
		sources = append(sources, s)
		return nil
	})
	checkpoint := fs.String("checkpoint", "", "progress `FILE` for resuming; default next to the data file, named after the profile and sources")
	report := fs.String("report", importDefaultReport, "failure report `FILE`: one JSON object per failed record (appended to when resuming)")
	workers := fs.Int("workers", importDefaultWorkers, "records mapped and stored concurrently (`N`); many workers share each fsync")
	sign := fs.Bool("sign", false, "sign each certificate with the node's document-signing key (signing.key) before storing it")
	level := fs.String("validate-level", "severe", "refuse records whose validation has findings at this `LEVEL`: severe, or none (no validation)")
	codeLists := fs.String("codelists", "", "`DIR` of full code lists for validation; default the config's codelists, $"+codeListsEnv+", else the built-in subsets")
	every := fs.Int("checkpoint-every", 2000, "write the checkpoint after every `N` finished records (and at the end); a resumed import redoes at most about this many")
	quiet := fs.Bool("quiet", false, "no progress bar; only errors and the final summary")
	fs.Usage = func() {
		fmt.Fprint(stderr, importUsage)
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	sources = append(sources, pos...)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ecogate import: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case *config == "":
		return fail("--config is required: the node configuration file (its data file receives the certificates)")
	case *profile == "":
		return fail("--profile is required: a built-in name (%s) or a YAML file", strings.Join(mapping.BuiltinNames(), ", "))
	case len(sources) == 0:
		return fail("--source is required: a legacy export file or a directory of them")
	case *workers < 1 || *workers > 4096:
		return fail("--workers %d: give 1 to 4096", *workers)
	case *every < 1:
		return fail("--checkpoint-every %d: give 1 or more", *every)
	case *level != "severe" && *level != "none":
		return fail("--validate-level %q: give severe or none", *level)
	}
	cfg, err := gateway.LoadConfig(*config)
	if err != nil {
		return fail("%v", err)
	}
	p, err := mapping.Open(*profile)
	if err != nil {
		return fail("%v", err)
	}
	for i, s := range sources {
		abs, err := filepath.Abs(s)
		if err != nil {
			return fail("%v", err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fail("source %s: %v", s, err)
		}
		sources[i] = abs
	}

	var accept func(*schema.Certificate) error
	if *level == "severe" {
		if accept, err = importValidator(*codeLists, cfg.CodeLists); err != nil {
			return fail("%v", err)
		}
	}
	sink := &gateway.ImportSink{Origin: "import " + p.Name}
	if *sign {
		if cfg.Signing.Key == "" {
			return fail("--sign: the configuration %s has no signing.key (the issuing authority's document-signing key)", *config)
		}
		key, chain, err := certs.LoadKeyPair(cfg.Signing.Key, cfg.Signing.Cert, cfg.Signing.Chain, os.Getenv(cfg.Signing.PasswordEnv))
		if err != nil {
			return fail("signing.key/signing.cert: %v", err)
		}
		sink.Signer = &gateway.CertsSigner{Key: key, Certs: chain}
	}

	db, err := openImportTarget(ctx, *config, cfg)
	if err != nil {
		return fail("%v", err)
	}
	defer db.close()
	sink.Store = db.store
	cpPath := *checkpoint
	if cpPath == "" {
		cpPath = defaultCheckpoint(db.base, p.Name, sources)
	}
	resuming := false
	if _, err := os.Stat(cpPath); err == nil {
		resuming = true
	}

	rep, err := openReport(*report, resuming)
	if err != nil {
		return fail("report: %v", err)
	}

	// The import allocates about 100 KB of short-lived garbage per record
	// (JSON trees, mapped certificates, XML); collecting less often saves
	// a fifth of the CPU for a few tens of MB more memory. GOGC, when set,
	// wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(importGCPercent))
	}
	bar := newImportBar(stderr, *quiet)
	if !*quiet { // the total only serves the progress line
		go bar.countTotal(sources, p)
	}
	bar.start()
	opts := mapping.ImportOptions{
		Workers:         *workers,
		Checkpoint:      cpPath,
		CheckpointEvery: *every,
		Accept:          accept,
		Failures:        rep,
		Progress:        bar.update,
	}
	if resuming {
		fmt.Fprintf(stderr, "ecogate import: resuming from checkpoint %s (what it lists as done is not read again)\n", cpPath)
	}
	rep.onFailure = func() { bar.failed.Add(1) }
	total, ierr := mapping.ImportFiles(ctx, p, sources, &countingSink{Sink: sink, bar: bar}, opts)
	bar.stop()
	rerr := rep.Close()
	st := db.stats()
	auditImport(ctx, db.audit, p.Name, sources, total, *sign, ierr, stderr)
	cerr := db.close()
	fmt.Fprintf(stderr, "ecogate import: %s (profile %s, data %s)\n", importSummary(total, bar, st), p.Name, db.where)
	if cerr != nil {
		return fail("closing the data file: %v", cerr)
	}
	return importOutcome(ctx, stderr, total, ierr, rerr, rep, cpPath)
}

// importUsage is the help of ecogate import.
const importUsage = `usage: ecogate import --config FILE --profile NAME|FILE --source FILE|DIR [options]

Migrates a legacy platform's certificates into this node's store: each
record is read, mapped with the profile, validated, encoded as canonical
e-CO XML (signed with --sign) and stored with its entry in the register of
issued certificates (QR token, status, core data), so the public
verification page and verification queries know it. Each record is stored
whole or not at all. A record that does not fit is reported in the failure
report (source, record number, position, reasons) and skipped; the batch
goes on. On bbolt stop the node first: the import writes the data file
directly; on PostgreSQL (store.engine: postgres) it writes the database in
COPY batches while the replicas run.

Interrupted (Ctrl-C, or a crash), the same command again resumes from the
checkpoint; records already stored are not stored twice. Running it again
after it finished does nothing (delete the checkpoint to import again:
identical records are then skipped, a different content under an already
stored number and version is reported as a conflict).

Exit status: 0 when every record was imported (or already stored), 1 when
some records failed (see the report), 2 on a usage or configuration error,
an unreadable source or an interruption.

options:
`

// importValidator returns the check that refuses records with SEVERE
// validation findings, against the full code lists of flagDir, else
// configDir, else $ECOGATE_CODELISTS, else the built-in subsets.
func importValidator(flagDir, configDir string) (func(*schema.Certificate) error, error) {
	vopts := schema.ValidateOptions{CodeLists: schema.DefaultCodeLists()}
	dir := flagDir
	if dir == "" {
		dir = configDir
	}
	if dir == "" {
		dir = os.Getenv(codeListsEnv)
	}
	if dir != "" {
		cl, err := schema.LoadCodeLists(dir)
		if err != nil {
			return nil, err
		}
		vopts.CodeLists = cl
	}
	return func(c *schema.Certificate) error {
		fds := schema.Validate(c, vopts)
		if !fds.HasSevere() {
			return nil
		}
		return fmt.Errorf("validation: %s", severeSummary(fds))
	}, nil
}

// openImportStore opens the node's data file for the import, refusing
// quickly (and saying why) when the node holds it.
func openImportStore(cfg *gateway.Config) (*store.DB, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.Data), 0o700); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	so := cfg.StoreOptions(nil)
	so.LockTimeout = time.Second
	so.ViewMemory = 0 // the import reads no check view
	db, err := store.Open(cfg.Data, so)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, fmt.Errorf("the data file %s is locked: the node is running (or another import is); stop it and run the import again, it writes the data file directly", cfg.Data)
		}
		return nil, err
	}
	return db, nil
}

// auditImport writes the one audit entry of a run: who imported what, and
// the outcome (the records themselves are in the register; the failures
// in the report).
func auditImport(ctx context.Context, audit auditAppender, profile string, sources []string, total mapping.ImportProgress, signed bool, ierr error, stderr io.Writer) {
	outcome := "finished"
	if ierr != nil {
		outcome = "stopped: " + oneLine(ierr.Error(), 200)
	}
	_, aerr := audit.Append(context.WithoutCancel(ctx), store.Entry{Actor: operator(), Action: "import", Subject: profile,
		Details: map[string]string{"sources": strings.Join(sources, " "), "read": strconv.Itoa(total.Read), "stored": strconv.Itoa(total.Stored),
			"skipped": strconv.Itoa(total.Skipped), "failed": strconv.Itoa(total.Failed), "signed": strconv.FormatBool(signed), "outcome": outcome}})
	if aerr != nil {
		fmt.Fprintf(stderr, "ecogate import: the audit entry of this run could not be written: %v\n", aerr)
	}
}

// importSummary is the final counts line, with this run's rate.
func importSummary(total mapping.ImportProgress, bar *importBar, st store.Stats) string {
	summary := fmt.Sprintf("%s records read: %s stored, %s already stored (skipped), %s failed",
		commas(total.Read), commas(total.Stored), commas(total.Skipped), commas(total.Failed))
	if secs := bar.elapsed().Seconds(); secs > 0 && bar.doneThisRun() > 0 {
		summary += fmt.Sprintf("; this run %s records in %s (%s records/s, %s commits)",
			commas(bar.doneThisRun()), bar.elapsed().Round(100*time.Millisecond), commas(int(float64(bar.doneThisRun())/secs)), commas(int(st.Commits)))
	}
	return summary
}

// importOutcome tells the operator what to do next and returns the exit
// status.
func importOutcome(ctx context.Context, stderr io.Writer, total mapping.ImportProgress, ierr, rerr error, rep *failureReport, cpPath string) int {
	if ierr != nil {
		if ctx.Err() != nil && errors.Is(ierr, context.Canceled) {
			fmt.Fprintf(stderr, "ecogate import: interrupted; progress is saved in %s: run the same command again to resume\n", cpPath)
		} else {
			fmt.Fprintf(stderr, "ecogate import: %v\n", ierr)
			fmt.Fprintf(stderr, "ecogate import: progress is saved in %s: fix the problem and run the same command again to resume\n", cpPath)
		}
		if rep.lines > 0 || rep.existed {
			fmt.Fprintf(stderr, "ecogate import: failures so far are in %s\n", rep.path)
		}
		return exitUsage
	}
	if rerr != nil {
		fmt.Fprintf(stderr, "ecogate import: report %s: %v\n", rep.path, rerr)
		return exitUsage
	}
	fmt.Fprintf(stderr, "ecogate import: finished; %s records this import as done (delete it to import these sources again)\n", cpPath)
	if total.Failed > 0 {
		fmt.Fprintf(stderr, "ecogate import: %s records failed; the reasons are in %s (one JSON object per line: source, record, pos, key, errors)\n", commas(total.Failed), rep.path)
		return exitFail
	}
	if rep.lines == 0 && !rep.existed {
		_ = os.Remove(rep.path)
		fmt.Fprintln(stderr, "ecogate import: no record failed; no failure report written")
	} else {
		fmt.Fprintf(stderr, "ecogate import: no record failed in this run; failure report %s\n", rep.path)
	}
	return exitOK
}

// severeSummary joins a record's SEVERE findings for the failure report,
// each message once: findings with the same code and message at several
// paths become one, with the paths listed.
func severeSummary(fds schema.Findings) string {
	type group struct {
		f     schema.Finding
		paths []string
	}
	var order []string
	groups := map[string]*group{}
	for _, f := range fds {
		if f.Level != schema.Severe {
			continue
		}
		k := f.Code + "\x00" + f.Message
		g, ok := groups[k]
		if !ok {
			g = &group{f: f}
			groups[k] = g
			order = append(order, k)
		}
		if !slices.Contains(g.paths, f.Path) {
			g.paths = append(g.paths, f.Path)
		}
	}
	msgs := make([]string, 0, len(order))
	for _, k := range order {
		g := groups[k]
		if len(g.paths) == 1 {
			msgs = append(msgs, g.f.String())
			continue
		}
		msgs = append(msgs, fmt.Sprintf("%s %s %s (%d places: %s): %s", g.f.Level, g.f.Code, g.f.Area, len(g.paths), strings.Join(g.paths, ", "), g.f.Message))
	}
	return strings.Join(msgs, "; ")
}

// defaultCheckpoint names the checkpoint after the profile and the sources,
// next to the data file: DATA.import-PROFILE-FIRSTSOURCE-HASH.checkpoint.
func defaultCheckpoint(data, profile string, sources []string) string {
	h := sha256.New()
	for _, s := range sources {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	name := fmt.Sprintf("%s.import-%s-%s-%s.checkpoint", filepath.Base(data), fileSafe(filepath.Base(profile)),
		fileSafe(filepath.Base(sources[0])), hex.EncodeToString(h.Sum(nil))[:8])
	return filepath.Join(filepath.Dir(data), name)
}

// failureReport writes the failure report, dropping a failure already in
// the file (a resumed import redoes the records after the checkpoint, and
// may meet a failure it reported before the interruption).
type failureReport struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	mu      sync.Mutex
	seen    map[string]bool
	lines   int
	existed bool
	// onFailure, when set, is called for every failure the import reports.
	onFailure func()
}

func openReport(path string, resuming bool) (*failureReport, error) {
	r := &failureReport{path: path, seen: map[string]bool{}}
	if abs, err := filepath.Abs(path); err == nil {
		r.path = abs
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resuming {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		if b, err := os.ReadFile(path); err == nil {
			r.existed = len(b) > 0
			for _, l := range bytes.Split(b, []byte("\n")) {
				if k := failureKey(l); k != "" {
					r.seen[k] = true
				}
			}
		}
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	r.f, r.w = f, bufio.NewWriter(f)
	return r, nil
}

func failureKey(line []byte) string {
	var f struct {
		Source string `json:"source"`
		Record int    `json:"record"`
	}
	if json.Unmarshal(line, &f) != nil || f.Record == 0 {
		return ""
	}
	return fmt.Sprintf("%s\x00%d", f.Source, f.Record)
}

// Write takes one JSON line (as mapping.ImportFiles writes them).
func (r *failureReport) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.onFailure != nil {
		r.onFailure()
	}
	if k := failureKey(bytes.TrimSpace(b)); k != "" {
		if r.seen[k] {
			return len(b), nil
		}
		r.seen[k] = true
	}
	r.lines++
	n := len(b)
	_, err := r.w.Write(uniqueDetails(b))
	if err == nil {
		err = r.w.Flush() // the report is read while the import runs
	}
	return n, err
}

// uniqueDetails drops repeated errors (same field, rule and message) from
// one failure line, so that a record's message is not repeated; a line
// that is not an ImportFailure is returned as it is.
func uniqueDetails(b []byte) []byte {
	var f mapping.ImportFailure
	if json.Unmarshal(b, &f) != nil || len(f.Errors) < 2 {
		return b
	}
	seen := map[mapping.FailureDetail]bool{}
	total := len(f.Errors)
	kept := f.Errors[:0]
	for _, d := range f.Errors {
		if !seen[d] {
			seen[d] = true
			kept = append(kept, d)
		}
	}
	if len(kept) == total {
		return b
	}
	f.Errors = kept
	out, err := json.Marshal(f)
	if err != nil {
		return b
	}
	return append(out, '\n')
}

// Close flushes and closes the report.
func (r *failureReport) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.w.Flush()
	if serr := r.f.Sync(); err == nil {
		err = serr
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// importBar is the progress display on standard error: one line rewritten
// in place on a terminal, a line every few seconds otherwise.
type importBar struct {
	w     io.Writer
	quiet bool
	tty   bool
	every time.Duration

	mu       sync.Mutex
	bySource map[string]mapping.ImportProgress
	base     int // records finished by earlier runs (first report per source)
	baseSeen map[string]bool
	total    int // records in the sources; 0 while unknown
	began    time.Time
	lastLen  int

	// Live counts of this run, between the engine's reports (which come
	// every --checkpoint-every records).
	stored, skipped, failed             atomic.Int64
	baseStored, baseSkipped, baseFailed int

	stopc chan struct{}
	done  chan struct{}
}

// countingSink counts the outcomes of Put for the progress line.
type countingSink struct {
	mapping.Sink
	bar *importBar
}

// Put implements mapping.Sink.
func (s *countingSink) Put(ctx context.Context, key string, c *schema.Certificate) error {
	err := s.Sink.Put(ctx, key, c)
	switch {
	case err == nil:
		s.bar.stored.Add(1)
	case errors.Is(err, mapping.ErrAlreadyStored):
		s.bar.skipped.Add(1)
	}
	return err
}

func newImportBar(w io.Writer, quiet bool) *importBar {
	b := &importBar{w: w, quiet: quiet, every: 5 * time.Second, bySource: map[string]mapping.ImportProgress{},
		baseSeen: map[string]bool{}, stopc: make(chan struct{}), done: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty, b.every = true, 250*time.Millisecond
		}
	}
	return b
}

// countTotal counts the records of line-delimited sources (.ndjson,
// .jsonl) so the bar can show a percentage and an ETA; other formats
// leave the total unknown.
func (b *importBar) countTotal(sources []string, p *mapping.Profile) {
	if p.Format != mapping.FormatJSON {
		return
	}
	var files []string
	for _, s := range sources {
		st, err := os.Stat(s)
		if err != nil {
			return
		}
		if !st.IsDir() {
			files = append(files, s)
			continue
		}
		ents, err := os.ReadDir(s)
		if err != nil {
			return
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(s, e.Name()))
			}
		}
	}
	sort.Strings(files)
	n := 0
	buf := make([]byte, 1<<20)
	for _, f := range files {
		ext := strings.ToLower(filepath.Ext(f))
		if ext != ".ndjson" && ext != ".jsonl" {
			return // a whole-document source: count unknown
		}
		fh, err := os.Open(f)
		if err != nil {
			return
		}
		last := byte('\n')
		blank := true
		for {
			k, err := fh.Read(buf)
			for _, c := range buf[:k] {
				switch c {
				case '\n':
					if !blank {
						n++
					}
					blank = true
				case ' ', '\t', '\r':
				default:
					blank = false
				}
			}
			if k > 0 {
				last = buf[k-1]
			}
			if err != nil {
				break
			}
		}
		if last != '\n' && !blank {
			n++
		}
		fh.Close()
	}
	b.mu.Lock()
	b.total = n
	b.mu.Unlock()
}

func (b *importBar) start() {
	b.began = time.Now()
	if b.quiet {
		close(b.done)
		return
	}
	go func() {
		defer close(b.done)
		t := time.NewTicker(b.every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.render(false)
			case <-b.stopc:
				b.render(true)
				return
			}
		}
	}()
}

func (b *importBar) stop() {
	select {
	case <-b.stopc:
	default:
		close(b.stopc)
	}
	<-b.done
}

// update is the mapping.ImportOptions.Progress callback. The first call
// for a source gives what earlier runs did (mapping.ImportOptions.Progress),
// so the rate counts only this run's records.
func (b *importBar) update(p mapping.ImportProgress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.baseSeen[p.Source] {
		b.baseSeen[p.Source] = true
		b.base += p.Read
		b.baseStored += p.Stored
		b.baseSkipped += p.Skipped
		b.baseFailed += p.Failed
	}
	b.bySource[p.Source] = p
}

func (b *importBar) sum() (read, stored, skipped, failed int) {
	for _, p := range b.bySource {
		read += p.Read
		stored += p.Stored
		skipped += p.Skipped
		failed += p.Failed
	}
	return
}

// doneThisRun is the number of records this run finished.
func (b *importBar) doneThisRun() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	read, _, _, _ := b.sum()
	return max(0, read-b.base)
}

func (b *importBar) elapsed() time.Duration { return time.Since(b.began) }

func (b *importBar) render(final bool) {
	b.mu.Lock()
	read, stored, skipped, failed := b.sum()
	if !final { // the engine's counts lag by up to --checkpoint-every records
		stored = max(stored, b.baseStored+int(b.stored.Load()))
		skipped = max(skipped, b.baseSkipped+int(b.skipped.Load()))
		failed = max(failed, b.baseFailed+int(b.failed.Load()))
		read = max(read, stored+skipped+failed)
	}
	total, base := b.total, b.base
	b.mu.Unlock()
	el := time.Since(b.began)
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(read-base) / s
	}
	var line strings.Builder
	if total > 0 {
		frac := min(1, float64(read)/float64(total))
		const width = 24
		fill := int(frac * width)
		fmt.Fprintf(&line, "[%s%s] %5.1f%% %s/%s", strings.Repeat("#", fill), strings.Repeat("-", width-fill), 100*frac, commas(read), commas(total))
	} else {
		fmt.Fprintf(&line, "%s records", commas(read))
	}
	fmt.Fprintf(&line, " | stored %s skipped %s failed %s | %s/s | %s", commas(stored), commas(skipped), commas(failed),
		commas(int(rate)), el.Round(time.Second))
	if total > 0 && rate > 0 && read < total && !final {
		eta := time.Duration(float64(total-read) / rate * float64(time.Second))
		fmt.Fprintf(&line, " | ETA %s", eta.Round(time.Second))
	}
	s := line.String()
	if b.tty {
		pad := ""
		if n := b.lastLen - len(s); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		b.lastLen = len(s)
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(b.w, "\r%s%s%s", s, pad, end)
		return
	}
	fmt.Fprintf(b.w, "import: %s\n", s)
}

// commas writes n with thousands separators.
func commas(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
