package partners

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWatcherReloads: a changed file is picked up by polling, an invalid
// one is refused with a log line and the old registry stays, SIGHUP
// reloads, and a changed certificate file triggers a reload too.
func TestWatcherReloads(t *testing.T) {
	dir := t.TempDir()
	good := fixture(t, dir)
	path := writeFile(t, dir, "partners.yaml", []byte("partners:"+good))
	var logs syncBuffer
	swaps := make(chan *Registry, 10)
	w, err := NewWatcher(path, slog.New(slog.NewTextHandler(&logs, nil)), func(r *Registry) { swaps <- r })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- w.run(ctx, 10*time.Millisecond, hup) }()
	defer func() { cancel(); <-done }()

	wait := func(what string) *Registry {
		t.Helper()
		select {
		case r := <-swaps:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("no reload after %s", what)
			return nil
		}
	}

	// 1. Add a partner: picked up by polling.
	withTH := "partners:" + good + strings.NewReplacer("SG", "TH", "ca.pem", "ca2.pem").Replace(good)
	now := time.Now()
	ca2 := makeCA(t, "ca2", now.Add(-time.Hour), now.Add(time.Hour*24*365), nil)
	writeFile(t, dir, "ca2.pem", certPEM(ca2.cert))
	writeFile(t, dir, "partners.yaml", []byte(withTH))
	if r := wait("adding TH"); len(r.Partners()) != 2 || w.Registry() != r {
		t.Fatalf("after adding TH: %d partners", len(r.Partners()))
	}

	// 2. An invalid file is refused; the registry in force stays.
	before := w.Registry()
	writeFile(t, dir, "partners.yaml", []byte("partners:\n  - country: nope\n"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "not reloaded") || !strings.Contains(logs.String(), "country") {
		if time.Now().After(deadline) {
			t.Fatalf("invalid file not reported; logs: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w.Registry() != before {
		t.Fatal("invalid file replaced the registry")
	}
	if !strings.Contains(logs.String(), "country") {
		t.Errorf("log does not say why: %s", logs.String())
	}

	// 3. SIGHUP after fixing the file.
	writeFile(t, dir, "partners.yaml", []byte("partners:"+good))
	hup <- syscall.SIGHUP
	if r := wait("SIGHUP"); len(r.Partners()) != 1 {
		t.Fatalf("after SIGHUP: %d partners", len(r.Partners()))
	}
	for len(swaps) > 0 { // polling may also have seen the fix
		<-swaps
	}

	// 4. A rotated CA file (same YAML) triggers a reload.
	rotated := makeCA(t, "ca rotated", now.Add(-time.Hour), now.Add(time.Hour*24*700), nil)
	writeFile(t, dir, "ca.pem", certPEM(rotated.cert))
	// A reload of the fixed file that polling saw late may come first.
	for range 3 {
		r := wait("CA rotation")
		if sg, _ := r.Lookup("SG"); sg.ClientCAs[0].Equal(rotated.cert) {
			return
		}
	}
	t.Fatal("rotated CA not loaded")
}

// TestNewWatcherRefusesInvalid: a node must not start on a bad registry.
func TestNewWatcherRefusesInvalid(t *testing.T) {
	path := writeFile(t, t.TempDir(), "p.yaml", []byte("partners: [{country: X}]\n"))
	if _, err := NewWatcher(path, nil, nil); err == nil {
		t.Fatal("NewWatcher accepted an invalid file")
	}
}
