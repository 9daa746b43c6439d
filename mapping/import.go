package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/ecogate/ecogate/schema"
)

// Sink is where an import stores certificates; the node's store implements
// it (declared here, by the consumer).
type Sink interface {
	// Put stores c under key atomically: when it returns an error nothing
	// of the certificate is stored. Putting the same key and content again
	// must succeed (an import that resumes may repeat the last records);
	// a Put that finds the same content already stored may say so by
	// returning an error that wraps ErrAlreadyStored, and the record is
	// counted as skipped, not failed.
	Put(ctx context.Context, key string, c *schema.Certificate) error
	// Has reports whether key is stored, so a resumed import skips it
	// without mapping work. A sink that must compare content (the same
	// number with other content is a conflict, not a duplicate) answers
	// false and decides in Put.
	Has(ctx context.Context, key string) (bool, error)
}

// ErrAlreadyStored is wrapped by a Sink's Put error when the certificate
// was already stored with the same content: the record counts as skipped.
var ErrAlreadyStored = errors.New("already stored with the same content")

// ImportOptions tune Import.
type ImportOptions struct {
	// Workers map records in parallel; 0 means GOMAXPROCS.
	Workers int
	// Checkpoint is a file that records progress; an import started again
	// with the same checkpoint, profile and sources resumes after the last
	// record known to be finished. "" imports without resuming.
	Checkpoint string
	// CheckpointEvery writes the checkpoint after this many finished
	// records (default 10,000) and at the end.
	CheckpointEvery int
	// Accept judges a mapped certificate before it is stored, e.g. refuse
	// SEVERE validation findings; an error makes the record a failure.
	Accept func(c *schema.Certificate) error
	// Failures receives the failure report: one JSON object per line
	// (ImportFailure).
	Failures io.Writer
	// Progress is called with the counts of the current source when it
	// starts (what earlier runs did: zero unless resuming), after every
	// CheckpointEvery records and at its end, and once for each source an
	// earlier run finished. Counts of a resumed source include the earlier
	// runs'; the first call for each source gives those alone.
	Progress func(ImportProgress)

	// cpfs replaces the file system of the checkpoint (tests inject failures).
	cpfs *checkpointFS
}

func (o *ImportOptions) checkpointFS() checkpointFS {
	if o.cpfs != nil {
		return *o.cpfs
	}
	return osCheckpointFS()
}

// ImportProgress counts what an import did so far.
type ImportProgress struct {
	Source  string        `json:"source"`
	Read    int           `json:"read"`
	Stored  int           `json:"stored"`
	Skipped int           `json:"skipped"` // already stored with the same content (resume, re-run)
	Failed  int           `json:"failed"`
	Elapsed time.Duration `json:"elapsed"`
}

// ImportFailure is one line of the failure report.
type ImportFailure struct {
	Source string          `json:"source"`
	Record int             `json:"record"` // 1-based
	Key    string          `json:"key,omitempty"`
	Pos    string          `json:"pos,omitempty"`
	Errors []FailureDetail `json:"errors"`
}

// FailureDetail is one reason a record failed.
type FailureDetail struct {
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
}

// checkpoint is the resumable state, per source file.
type checkpoint struct {
	Profile string                 `json:"profile"`
	Sources map[string]*sourceMark `json:"sources"`
}

type sourceMark struct {
	// Next is the index of the first record not known to be finished;
	// every record before it was stored, skipped or reported.
	Next int  `json:"next"`
	Done bool `json:"done"`
	ImportProgress
}

// ImportFiles imports every source file in order (a directory stands for
// its files, sorted by name), resuming from opts.Checkpoint. A record that
// does not map, is not accepted or cannot be stored is reported and
// skipped; the batch goes on. It returns the totals; the error is for what
// stops the batch (an unreadable source or checkpoint, a cancelled context).
func ImportFiles(ctx context.Context, p *Profile, sources []string, sink Sink, opts ImportOptions) (ImportProgress, error) {
	var files []string
	for _, s := range sources {
		st, err := os.Stat(s)
		if err != nil {
			return ImportProgress{}, fmt.Errorf("import: %w", err)
		}
		if !st.IsDir() {
			files = append(files, s)
			continue
		}
		ents, err := os.ReadDir(s)
		if err != nil {
			return ImportProgress{}, fmt.Errorf("import: %w", err)
		}
		var names []string
		for _, e := range ents {
			if e.Type().IsRegular() {
				names = append(names, filepath.Join(s, e.Name()))
			}
		}
		sort.Strings(names)
		files = append(files, names...)
	}
	cp := &checkpoint{Profile: p.Name, Sources: map[string]*sourceMark{}}
	if opts.Checkpoint != "" {
		b, err := os.ReadFile(opts.Checkpoint)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, cp); err != nil {
				return ImportProgress{}, fmt.Errorf("import: checkpoint %s is damaged (%v): remove it to start over", opts.Checkpoint, err)
			}
			if cp.Profile != p.Name {
				return ImportProgress{}, fmt.Errorf("import: checkpoint %s belongs to profile %s, not %s: use another checkpoint file", opts.Checkpoint, cp.Profile, p.Name)
			}
			if cp.Sources == nil {
				cp.Sources = map[string]*sourceMark{}
			}
		case errors.Is(err, os.ErrNotExist):
		default:
			return ImportProgress{}, fmt.Errorf("import: %w", err)
		}
	}
	var total ImportProgress
	start := time.Now()
	for _, f := range files {
		mark := cp.Sources[f]
		if mark == nil {
			mark = &sourceMark{}
			cp.Sources[f] = mark
		}
		mark.Source = f
		if !mark.Done {
			fh, err := os.Open(f)
			if err != nil {
				return total, fmt.Errorf("import: %w", err)
			}
			rr, err := p.Records(fh, f)
			if err != nil {
				fh.Close()
				return total, fmt.Errorf("import: %s: %w", f, err)
			}
			err = importSource(ctx, p, rr, sink, opts, cp, mark)
			fh.Close()
			if err != nil {
				return add(total, mark.ImportProgress, start), err
			}
		} else if opts.Progress != nil {
			opts.Progress(mark.ImportProgress) // finished by an earlier run
		}
		total = add(total, mark.ImportProgress, start)
	}
	total.Source = ""
	return total, nil
}

func add(a, b ImportProgress, start time.Time) ImportProgress {
	a.Read += b.Read
	a.Stored += b.Stored
	a.Skipped += b.Skipped
	a.Failed += b.Failed
	a.Elapsed = time.Since(start)
	return a
}

type outcome struct {
	index   int
	stored  bool
	skipped bool
	aborted bool // the context ended: not finished, redone on resume
	failure *ImportFailure
}

// importSource imports one source, resuming at mark.Next.
func importSource(ctx context.Context, p *Profile, rr RecordReader, sink Sink, opts ImportOptions, cp *checkpoint, mark *sourceMark) error {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	every := opts.CheckpointEvery
	if every <= 0 {
		every = 10000
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := time.Now().Add(-mark.Elapsed)
	if opts.Progress != nil {
		opts.Progress(mark.ImportProgress) // what earlier runs did
	}
	recs := make(chan *Record, 4*workers)
	outs := make(chan outcome, 4*workers)
	var readErr error
	resumeAt := mark.Next
	go func() {
		defer close(recs)
		for {
			rec, err := rr.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				readErr = err
				return
			}
			if rec.Index < resumeAt {
				continue // finished before the restart
			}
			select {
			case recs <- rec:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range recs {
				outs <- importOne(ctx, p, rec, sink, opts, mark.Source)
			}
		}()
	}
	go func() { wg.Wait(); close(outs) }()

	// Records finish out of order: the checkpoint advances over the
	// contiguous run of finished records only, and counts only those, so a
	// resumed import counts every record once.
	finished := map[int]outcome{}
	since := 0
	var fail error
	for o := range outs {
		if o.aborted {
			continue
		}
		if o.failure != nil && opts.Failures != nil {
			b, _ := json.Marshal(o.failure)
			if _, err := opts.Failures.Write(append(b, '\n')); err != nil && fail == nil {
				fail = fmt.Errorf("import: failure report: %w", err)
				cancel()
			}
		}
		finished[o.index] = o
		for {
			f, ok := finished[mark.Next]
			if !ok {
				break
			}
			delete(finished, mark.Next)
			mark.Next++
			mark.Read++
			switch {
			case f.stored:
				mark.Stored++
			case f.skipped:
				mark.Skipped++
			default:
				mark.Failed++
			}
		}
		if since++; since >= every {
			since = 0
			mark.Elapsed = time.Since(started)
			if err := saveCheckpointFS(opts.checkpointFS(), opts.Checkpoint, cp); err != nil && fail == nil {
				fail = err
				cancel()
			}
			if opts.Progress != nil {
				opts.Progress(mark.ImportProgress)
			}
		}
	}
	mark.Elapsed = time.Since(started)
	if fail == nil && readErr != nil {
		fail = fmt.Errorf("import: %s: %w", mark.Source, readErr)
	}
	if fail == nil && ctx.Err() != nil {
		fail = fmt.Errorf("import: %s: %w", mark.Source, context.Cause(ctx))
	}
	if fail == nil && len(finished) == 0 {
		mark.Done = true
	}
	if err := saveCheckpointFS(opts.checkpointFS(), opts.Checkpoint, cp); err != nil && fail == nil {
		fail = err
	}
	if opts.Progress != nil {
		opts.Progress(mark.ImportProgress)
	}
	return fail
}

// importOne maps, judges and stores one record. Storing is the Sink's
// atomic Put, so a record is stored whole or not at all.
func importOne(ctx context.Context, p *Profile, rec *Record, sink Sink, opts ImportOptions, source string) outcome {
	o := outcome{index: rec.Index}
	if ctx.Err() != nil {
		o.aborted = true
		return o
	}
	fail := func(details ...FailureDetail) outcome {
		if ctx.Err() != nil {
			return outcome{index: rec.Index, aborted: true}
		}
		o.failure = &ImportFailure{Source: source, Record: rec.Index + 1, Key: rec.Key, Pos: rec.Pos, Errors: details}
		return o
	}
	c, err := p.MapRecord(rec)
	if err != nil {
		var es Errors
		if errors.As(err, &es) {
			ds := make([]FailureDetail, 0, len(es))
			for _, e := range es {
				ds = append(ds, FailureDetail{Field: e.SourceField, Rule: e.Rule, Message: e.Err.Error()})
			}
			return fail(ds...)
		}
		return fail(FailureDetail{Message: err.Error()})
	}
	key := c.Header.ID
	if key == "" {
		key = rec.Key
	}
	if key == "" {
		return fail(FailureDetail{Message: "the record has no certificate number (exchangedDocument.iD) and no key: it cannot be stored"})
	}
	if ok, err := sink.Has(ctx, key); err != nil {
		return fail(FailureDetail{Message: "store: " + err.Error()})
	} else if ok {
		o.skipped = true
		return o
	}
	if opts.Accept != nil {
		if err := opts.Accept(c); err != nil {
			return fail(FailureDetail{Message: err.Error()})
		}
	}
	if err := sink.Put(ctx, key, c); err != nil {
		if errors.Is(err, ErrAlreadyStored) {
			o.skipped = true
			return o
		}
		return fail(FailureDetail{Message: "store: " + err.Error()})
	}
	o.stored = true
	return o
}

// checkpointFile is the temporary file a checkpoint is written to.
type checkpointFile interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// checkpointFS is the file system the checkpoint goes through; tests
// inject failures.
type checkpointFS struct {
	createTemp func(dir, pattern string) (checkpointFile, error)
	rename     func(from, to string) error
	remove     func(name string) error
}

func osCheckpointFS() checkpointFS {
	return checkpointFS{
		createTemp: func(dir, pattern string) (checkpointFile, error) { return os.CreateTemp(dir, pattern) },
		rename:     os.Rename,
		remove:     os.Remove,
	}
}

// saveCheckpointFS writes the checkpoint atomically: a temporary file in the
// same directory, fsync, rename over the old one, fsync of the directory.
// Any failure is returned and leaves the previous checkpoint in place.
func saveCheckpointFS(fsys checkpointFS, path string, cp *checkpoint) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(cp, "", "  ")
	if err != nil {
		return fmt.Errorf("import: checkpoint %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	f, err := fsys.createTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("import: checkpoint %s: %w", path, err)
	}
	tmp := f.Name()
	n, werr := f.Write(b)
	if werr == nil && n != len(b) {
		werr = io.ErrShortWrite
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = fsys.rename(tmp, path)
	}
	if werr != nil {
		_ = fsys.remove(tmp)
		return fmt.Errorf("import: checkpoint %s not written (the previous one is kept): %w", path, werr)
	}
	// Make the rename durable; a directory that cannot be opened or
	// synced (some file systems) does not undo the written checkpoint.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
