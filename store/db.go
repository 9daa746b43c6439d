package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version this package writes and reads. A file
// with a newer version is refused (run the newer ecogate); an older one is
// migrated by Open. Version 2: customs check views carry check heads (see
// cuhead.go), which an ecogate reading version 1 would not keep up to date,
// so it must not write such a file; Open marks a version 1 file 2 and
// lets upgradeViewHeads give its views heads. Version 3: check views may
// refer to their signer chain by its SHA-256, the chain stored once as
// content (gateway/customs view format 5), which an earlier ecogate cannot
// read; Open marks an older file 3 (its views keep working as they are).
const SchemaVersion = 3

// Bucket names. Index keys join their parts with a 0x00 byte, so identifiers
// may not contain one.
const (
	bktMeta      = "meta"       // schemaKey -> decimal schema version
	bktBlobs     = "blobs"      // sha256 -> exact bytes, stored once
	bktOut       = "out"        // message id -> JSON OutRecord
	bktOutDue    = "out_due"    // be64(nextTry unix ns) 0 id -> ""
	bktOutState  = "out_state"  // state 0 partner 0 be64(seq) 0 id -> ""
	bktOutCert   = "out_cert"   // partner 0 certNumber 0 be64(seq) -> id
	bktIn        = "in"         // message id -> JSON InRecord
	bktInKey     = "in_key"     // from 0 number 0 version 0 kind -> id
	bktInCert    = "in_cert"    // from 0 number 0 be64(seq) -> id
	bktInState   = "in_state"   // outcome 0 be64(seq) -> id
	bktCertState = "cert_state" // country 0 number 0 be32(version) -> JSON CertStatus
	bktAudit     = "audit"      // be64(seq) -> canonical JSON Entry
	schemaKey    = "schema"
	// openKey is "1" while a process has the file open and "0" after a
	// clean Close; a file found "1" (or without the key) was not closed
	// cleanly.
	openKey = "open"
)

var allBuckets = []string{bktMeta, bktBlobs, bktOut, bktOutDue, bktOutState, bktOutCert,
	bktIn, bktInKey, bktInCert, bktInState, bktCertState, bktAudit}

// Errors that callers test with errors.Is.
var (
	// ErrNotFound means the message, record or entry does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means an identifier is already used by different content:
	// the same message id (or certificate number, version and kind) with
	// other bytes. Such a message is refused and must be logged.
	ErrConflict = errors.New("conflict: the identifier is already used by different content")
	// ErrClosed means the DB was closed.
	ErrClosed = errors.New("store is closed")
	// ErrCorrupt is wrapped by *CorruptError.
	ErrCorrupt = errors.New("data file is damaged")
	// ErrLocked means another process (a running node?) holds the data file.
	ErrLocked = errors.New("data file is locked by another process")
	// ErrState means the requested transition is not allowed from the
	// message's current state.
	ErrState = errors.New("transition not allowed in this state")
	// ErrInvalid means an argument is malformed (empty id, bad outcome, ...).
	ErrInvalid = errors.New("invalid argument")
)

// CorruptError reports a data file that cannot be used. It says which file
// and what to do; the node must refuse to start.
type CorruptError struct {
	Path   string
	Detail string
	Err    error
}

func (e *CorruptError) Error() string {
	msg := fmt.Sprintf("store: data file %s is damaged or not an ecogate store: %s", e.Path, e.Detail)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + ". The node refuses to start rather than run on an empty or partial store: " +
		"stop the node, keep this file for analysis (bbolt check " + e.Path + "), and restore the last good backup"
}

// Unwrap returns the underlying error.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Options tune Open. The zero value is usable.
type Options struct {
	// Clock gives the current time; time.Now when nil.
	Clock func() time.Time
	// Logger receives structured logs; discarded when nil.
	Logger *slog.Logger
	// LockTimeout is how long Open waits for the file lock; 2 s when zero.
	LockTimeout time.Duration
	// MaxBatch caps the operations in one group commit; 1024 when zero.
	MaxBatch int
	// LingerGap is how long the writer, when producers are concurrent,
	// waits for one more operation before committing a group (it keeps
	// waiting while operations arrive closer than this). 200 µs when zero;
	// negative disables lingering.
	LingerGap time.Duration
	// Check says when Open runs bbolt's full structural check (tx.Check),
	// which reads every page (about 7 s and several GB of page cache per
	// GB of file). The zero value, CheckAuto, runs it when the file was not
	// closed cleanly or is at most AutoCheckBytes long. Opening always
	// validates the meta pages and the schema.
	Check CheckPolicy
	// AutoCheckBytes is the size up to which CheckAuto checks a cleanly
	// closed file too; DefaultAutoCheckBytes (1 GiB) when zero.
	AutoCheckBytes int64
	// ViewMemory is the memory, in bytes, that the in-memory index of the
	// customs check views may take (outside the Go heap, used only as
	// views are stored; about 0.9 KB per view). Zero: no index, every
	// check reads the data file. A serving node sets it; tools that open
	// the file briefly do not.
	ViewMemory int
}

// CheckPolicy says when Open checks the whole file; see Options.Check.
type CheckPolicy int

// Check policies.
const (
	// CheckAuto checks a file that was not closed cleanly (a crash, a
	// kill, a power cut), and any file of at most Options.AutoCheckBytes.
	CheckAuto CheckPolicy = iota
	// CheckAlways checks every existing file on open.
	CheckAlways
	// CheckNever never checks on open (DB.Check still can).
	CheckNever
)

// DefaultAutoCheckBytes is the default of Options.AutoCheckBytes.
const DefaultAutoCheckBytes = 1 << 30

// ParseCheckPolicy reads "auto", "always" or "never" ("" is auto).
func ParseCheckPolicy(s string) (CheckPolicy, error) {
	switch s {
	case "", "auto":
		return CheckAuto, nil
	case "always":
		return CheckAlways, nil
	case "never":
		return CheckNever, nil
	}
	return CheckAuto, fmt.Errorf("%q is not auto, always or never", s)
}

// DB is an open ecogate store. It is safe for concurrent use. Writes are
// serialised through one writer goroutine with group commit; reads run
// concurrently in read-only transactions.
type DB struct {
	bolt      *bolt.DB
	path      string
	clock     func() time.Time
	log       *slog.Logger
	maxBatch  int
	lingerGap time.Duration

	ops       chan *op
	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	commits, committedOps, failedCommits atomic.Uint64

	// reads pools the customs checks' read-only transactions.
	reads readPool
	// vindex is the in-memory index of the check views (viewindex.go).
	vindex viewIndexes

	// hookBeforeCommit, when set (tests only), runs inside each group
	// transaction after the operations; an error fails the whole group.
	hookBeforeCommit func() error
	// hookImportMid, when set (tests only), runs inside Issued.Import after
	// the document is written and before the register entry.
	hookImportMid func(number string) error
	// hookEnqueueMid, when set (tests only), runs inside an enqueue after
	// the messages are written and before the register and audit entries;
	// it gets the first message's certificate number.
	hookEnqueueMid func(number string) error
}

type op struct {
	fn   func(tx *bolt.Tx) error
	err  error
	done chan struct{}
}

// Open opens (or creates) the store at path. It refuses, with a
// *CorruptError, a file that is damaged, empty, not a bbolt file, or has no
// ecogate schema; with ErrLocked (wrapped) a file held by another process.
func Open(path string, opts Options) (*DB, error) {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if opts.LingerGap == 0 {
		opts.LingerGap = 200 * time.Microsecond
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	existed := false
	var size int64
	if st, err := os.Stat(path); err == nil {
		existed, size = true, st.Size()
		if st.IsDir() {
			return nil, fmt.Errorf("store: open %s: it is a directory; give the path of the data file", path)
		}
		if st.Size() == 0 {
			return nil, &CorruptError{Path: path, Detail: "the file is empty (0 bytes); if this node never stored anything, delete it to start fresh"}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	if existed {
		if err := preflight(path); err != nil {
			return nil, &CorruptError{Path: path, Detail: "its pages are inconsistent (checked before bbolt maps them)", Err: err}
		}
	}
	bdb, err := openBolt(path, opts.LockTimeout)
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("store: open %s: %w (is the node running? stop it, or use its local API): %v", path, ErrLocked, err)
		case existed:
			return nil, &CorruptError{Path: path, Detail: "bbolt cannot open it", Err: err}
		default:
			return nil, fmt.Errorf("store: create %s: %w", path, err)
		}
	}
	db := &DB{
		bolt:      bdb,
		path:      path,
		clock:     opts.Clock,
		log:       opts.Logger,
		maxBatch:  opts.MaxBatch,
		lingerGap: opts.LingerGap,
		ops:       make(chan *op),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	db.reads.maxIdle = max(4, 2*runtime.GOMAXPROCS(0))
	check, clean := false, false
	if existed {
		clean = db.closedCleanly()
		switch opts.Check {
		case CheckAlways:
			check = true
		case CheckAuto:
			limit := opts.AutoCheckBytes
			if limit <= 0 {
				limit = DefaultAutoCheckBytes
			}
			check = !clean || size <= limit
		}
	}
	if check {
		if err := db.checkBolt(); err != nil {
			bdb.Close()
			return nil, &CorruptError{Path: path, Detail: "the structural check failed", Err: err}
		}
	}
	if err := db.initSchema(); err != nil {
		bdb.Close()
		return nil, err
	}
	db.initViewIndex(opts.ViewMemory)
	go db.writer()
	go db.upgradeViewHeads()
	db.startViewIndex()
	db.log.Info("store opened", "path", path, "schema", SchemaVersion, "bytes", size, "closedCleanly", clean, "checked", check)
	return db, nil
}

// closedCleanly reports whether the last process that had the file open
// closed it (Close), read before anything else touches the file. Any
// failure to read it counts as not clean, so the file is checked.
func (db *DB) closedCleanly() (clean bool) {
	defer func() {
		if recover() != nil {
			clean = false
		}
	}()
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket([]byte(bktMeta)); m != nil {
			clean = string(m.Get([]byte(openKey))) == "0"
		}
		return nil
	})
	return clean
}

// openBolt opens the bbolt file, turning a panic on a damaged file into an
// error.
func openBolt(path string, timeout time.Duration) (db *bolt.DB, err error) {
	// A damaged page can make bbolt read outside the mapped file; turn that
	// fault into a panic we recover instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked while opening: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		NoSync:       false, // never: every commit is fsynced
		NoGrowSync:   false,
		FreelistType: bolt.FreelistMapType,
		// The freelist is rebuilt by scanning on open instead of being written
		// at every commit: less to write per fsync, same durability.
		NoFreelistSync: true,
	})
}

// initSchema creates the buckets of a new file, or checks the schema of an
// existing one. A file with no buckets at all (a crash during the very
// first start) is initialised; a file with buckets but no schema is refused.
func (db *DB) initSchema() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte(bktMeta))
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return &CorruptError{Path: db.path, Detail: "it has buckets but no ecogate schema bucket; it is not an ecogate data file"}
			}
			for _, name := range allBuckets {
				if _, err := tx.CreateBucket([]byte(name)); err != nil {
					return fmt.Errorf("store: create bucket %s in %s: %w", name, db.path, err)
				}
			}
			if err := tx.Bucket([]byte(bktMeta)).Put([]byte(schemaKey), []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
			if err := tx.Bucket([]byte(bktMeta)).Put([]byte(viewHeadsKey), []byte("1")); err != nil { // no view without a head, ever
				return err
			}
			return tx.Bucket([]byte(bktMeta)).Put([]byte(openKey), []byte("1"))
		}
		raw := meta.Get([]byte(schemaKey))
		v, err := strconv.Atoi(string(raw))
		if err != nil {
			return &CorruptError{Path: db.path, Detail: fmt.Sprintf("unreadable schema version %q", raw)}
		}
		if v > SchemaVersion {
			return fmt.Errorf("store: %s has schema version %d but this ecogate reads up to %d: run a newer ecogate", db.path, v, SchemaVersion)
		}
		if v < 2 {
			// A version 1 file: its views get heads in the background
			// (upgradeViewHeads), and from now on an ecogate that would
			// not keep them refuses the file.
			if err := meta.Delete([]byte(viewHeadsKey)); err != nil {
				return err
			}
		}
		if v < SchemaVersion {
			if err := meta.Put([]byte(schemaKey), []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
		}
		for _, name := range allBuckets {
			if tx.Bucket([]byte(name)) == nil {
				return &CorruptError{Path: db.path, Detail: "bucket " + name + " is missing"}
			}
		}
		return meta.Put([]byte(openKey), []byte("1"))
	})
}

// checkBolt runs bbolt's structural check in a read-only transaction. Use
// it only while no write transaction can run (before the writer starts):
// bbolt's check is not safe in a read-only transaction beside writers.
func (db *DB) checkBolt() error {
	return db.bolt.View(checkTx)
}

// checkTx runs bbolt's structural check on tx and joins up to ten problems.
func checkTx(tx *bolt.Tx) error {
	var problems []string
	for err := range tx.Check() {
		if len(problems) < 10 {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Check runs bbolt's structural check and then this package's own
// consistency checks (every index entry points at a record and every record
// is indexed, blobs exist, issued tokens and imported documents match their
// records, customs clients' certificate bindings are indexed). It returns nil when all pass. It runs in the
// writer's transaction (as bbolt requires while the store is in use), so
// writes wait for it; it takes time proportional to the file's size.
func (db *DB) Check(ctx context.Context) error {
	var res error
	err := db.update(ctx, func(tx *bolt.Tx) error {
		res = nil
		if err := checkTx(tx); err != nil {
			res = fmt.Errorf("store: bbolt check of %s: %w", db.path, err)
		} else if err := checkOutboxIndexes(tx); err != nil {
			res = fmt.Errorf("store: %s: %w", db.path, err)
		} else if err := checkInboxIndexes(tx); err != nil {
			res = fmt.Errorf("store: %s: %w", db.path, err)
		} else if err := checkIssuedIndexes(tx); err != nil {
			res = fmt.Errorf("store: %s: %w", db.path, err)
		} else if err := checkCustomsClientIndex(tx); err != nil {
			res = fmt.Errorf("store: %s: %w", db.path, err)
		} else if err := checkViewHeads(tx); err != nil {
			res = fmt.Errorf("store: %s: %w", db.path, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return res
}

// Stats are counters of the group-commit writer since Open, for metrics
// (e.g. ecogate_store_commits_total) and for judging batching.
type Stats struct {
	// Commits is the number of successful write transactions (each one
	// fsync).
	Commits uint64
	// Ops is the number of operations those transactions committed.
	Ops uint64
	// FailedCommits is the number of write transactions whose commit failed.
	FailedCommits uint64
}

// Stats returns the writer's counters.
func (db *DB) Stats() Stats {
	return Stats{Commits: db.commits.Load(), Ops: db.committedOps.Load(), FailedCommits: db.failedCommits.Load()}
}

// Path returns the data file's path.
func (db *DB) Path() string { return db.path }

// Close stops the writer (pending callers get ErrClosed) and closes the file.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closing)
		<-db.done
		db.reads.close()
		db.closeViewIndex()
		// Mark the clean shutdown (see Options.Check); when that fails the
		// next Open checks the file, which is the safe side.
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			m := tx.Bucket([]byte(bktMeta))
			if m == nil {
				return nil
			}
			return m.Put([]byte(openKey), []byte("0"))
		})
		if err != nil {
			db.log.Warn("store: could not mark the clean shutdown; the next open checks the file", "path", db.path, "err", err)
		}
		db.closeErr = db.bolt.Close()
	})
	return db.closeErr
}

// Outbox returns the outbox view of the store.
func (db *DB) Outbox() *Outbox { return &Outbox{db: db} }

// Inbox returns the inbox view of the store.
func (db *DB) Inbox() *Inbox { return &Inbox{db: db} }

// Audit returns the audit log of the store.
func (db *DB) Audit() *Audit { return &Audit{db: db} }

// update submits fn to the writer and waits until its group is committed and
// fsynced. Once submitted, it waits for the outcome even if ctx ends, so a
// nil error always means durable and an error always means not written.
func (db *DB) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{fn: fn, done: make(chan struct{})}
	select {
	case db.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closing:
		return ErrClosed
	}
	<-o.done
	return o.err
}

// view runs fn in a read-only transaction.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	select {
	case <-db.closing:
		return ErrClosed
	default:
	}
	return db.bolt.View(fn)
}

// writer owns every write transaction. It takes one operation, then every
// operation already waiting (up to maxBatch), and commits them together.
func (db *DB) writer() {
	defer close(db.done)
	batch := make([]*op, 0, db.maxBatch)
	lastBatch := 0
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		select {
		case o := <-db.ops:
			batch = append(batch[:0], o)
		drain:
			for len(batch) < db.maxBatch {
				select {
				case o := <-db.ops:
					batch = append(batch, o)
				default:
					break drain
				}
			}
			// With concurrent producers, the ones whose operations were
			// committed last time come back a moment later: wait for
			// them while operations keep arriving (at most lingerGap
			// between two), so one fsync serves both groups. A lone
			// producer (last batch of one) never waits.
			if lastBatch > 1 && db.lingerGap > 0 {
				linger.Reset(db.lingerGap)
			wait:
				for len(batch) < db.maxBatch {
					select {
					case o := <-db.ops:
						batch = append(batch, o)
						linger.Reset(db.lingerGap)
					case <-linger.C:
						break wait
					}
				}
				linger.Stop()
			}
			lastBatch = len(batch)
			db.commit(batch)
		case <-db.closing:
			return
		}
	}
}

// errOpFailed aborts a group transaction when one operation fails.
var errOpFailed = errors.New("operation failed")

// commit runs the group in one transaction. When an operation fails, the
// transaction is rolled back, that operation gets its error, and the rest
// are run again without it.
func (db *DB) commit(batch []*op) {
	pending := batch
	for len(pending) > 0 {
		failed := -1
		db.reads.writing()
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			for i, o := range pending {
				if err := runOp(o.fn, tx); err != nil {
					failed, o.err = i, err
					return errOpFailed
				}
			}
			if db.hookBeforeCommit != nil {
				return db.hookBeforeCommit()
			}
			return nil
		})
		db.reads.written()
		if failed >= 0 {
			close(pending[failed].done)
			pending = append(pending[:failed:failed], pending[failed+1:]...)
			continue
		}
		if err == nil {
			db.commits.Add(1)
			db.committedOps.Add(uint64(len(pending)))
		} else {
			db.failedCommits.Add(1)
		}
		if err != nil {
			db.log.Error("store: group commit failed; no operation of the group was written", "path", db.path, "ops", len(pending), "err", err)
			err = fmt.Errorf("store: commit to %s: %w", db.path, err)
		}
		for _, o := range pending {
			o.err = err
			close(o.done)
		}
		return
	}
}

// runOp runs one operation, turning a panic into an error so one bad
// operation cannot stop the writer.
func runOp(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: operation panicked: %v", r)
		}
	}()
	return fn(tx)
}

// DB returns the store the outbox belongs to (for example to tell whether
// an audit log is the same store, so that audited writes can be used).
func (o *Outbox) DB() *DB { return o.db }

// DB returns the store the inbox belongs to.
func (in *Inbox) DB() *DB { return in.db }

// DB returns the store the audit log belongs to.
func (a *Audit) DB() *DB { return a.db }
