package partners

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Watcher holds the current Registry and replaces it atomically when the
// file changes or on SIGHUP. Registry is safe to call from any goroutine.
type Watcher struct {
	path string
	log  *slog.Logger
	opts []Option

	cur atomic.Pointer[Registry]

	mu      sync.Mutex // serialises reloads
	lastSum [32]byte
	onSwap  func(*Registry)
}

// NewWatcher loads path (failing if it is invalid: a node must not start
// without a valid registry) and returns a Watcher holding it. onSwap, if
// not nil, is called after each successful reload with the new registry.
func NewWatcher(path string, log *slog.Logger, onSwap func(*Registry), opts ...Option) (*Watcher, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &Watcher{path: path, log: log, opts: opts, onSwap: onSwap}
	r, err := Load(path, opts...)
	if err != nil {
		return nil, err
	}
	w.cur.Store(r)
	w.lastSum = fingerprint(r, path)
	return w, nil
}

// Registry returns the registry in force.
func (w *Watcher) Registry() *Registry { return w.cur.Load() }

// Reload loads the file now. On success the new registry replaces the old
// one; on failure the old one stays in force, the reason is logged and
// returned.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reloadLocked()
}

func (w *Watcher) reloadLocked() error {
	r, err := Load(w.path, w.opts...)
	if err != nil {
		w.log.Error("partner registry not reloaded; the previous one stays in force", "path", w.path, "err", err)
		// Remember the bad file so it is not reloaded (and logged) at every poll.
		w.lastSum = fingerprintFiles(w.path, w.cur.Load())
		return err
	}
	w.cur.Store(r)
	w.lastSum = fingerprint(r, w.path)
	w.log.Info("partner registry reloaded", "path", w.path, "partners", len(r.partners))
	if w.onSwap != nil {
		w.onSwap(r)
	}
	return nil
}

// Run reloads on SIGHUP and whenever the polled fingerprint of the file
// and of the certificate files it names changes, until ctx ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return w.run(ctx, interval, hup)
}

func (w *Watcher) run(ctx context.Context, interval time.Duration, hup <-chan os.Signal) error {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-hup:
			w.log.Info("SIGHUP: reloading the partner registry", "path", w.path)
			_ = w.Reload()
		case <-t.C:
			w.mu.Lock()
			if sum := fingerprintFiles(w.path, w.cur.Load()); sum != w.lastSum {
				_ = w.reloadLocked()
			}
			w.mu.Unlock()
		}
	}
}

// fingerprint hashes the registry file and every file r names.
func fingerprint(r *Registry, path string) [32]byte { return fingerprintFiles(path, r) }

func fingerprintFiles(path string, r *Registry) [32]byte {
	h := sha256.New()
	add := func(p string) {
		b, err := os.ReadFile(p)
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		if err != nil {
			fmt.Fprintf(h, "error %v", err)
		}
		h.Write(b)
	}
	add(path)
	if r != nil {
		for _, p := range r.partners {
			for _, files := range [][]string{p.ClientCAFiles, p.TLSCRLFiles, p.AnchorFiles, p.CRLFiles} {
				for _, f := range files {
					add(f)
				}
			}
		}
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}
