package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/schema"
)

// faultyFile is a checkpoint temporary file whose Write or Sync fails.
type faultyFile struct {
	*os.File
	short, failWrite, failSync bool
}

func (f *faultyFile) Write(b []byte) (int, error) {
	switch {
	case f.failWrite:
		n, _ := f.File.Write(b[:len(b)/2])
		return n, errors.New("injected: no space left on device")
	case f.short:
		return f.File.Write(b[:len(b)/2])
	}
	return f.File.Write(b)
}

func (f *faultyFile) Sync() error {
	if f.failSync {
		return errors.New("injected: fsync failed")
	}
	return f.File.Sync()
}

// TestCheckpointWriteFailure: a checkpoint write, short write, sync or
// rename that fails is returned as the import's error, and the previous
// good checkpoint stays in place, whole; no temporary file is left.
func TestCheckpointWriteFailure(t *testing.T) {
	good := &checkpoint{Profile: "india-ecoo", Sources: map[string]*sourceMark{"a.ndjson": {ImportProgress: ImportProgress{Source: "a.ndjson", Read: 7}, Next: 7}}}
	newer := &checkpoint{Profile: "india-ecoo", Sources: map[string]*sourceMark{"a.ndjson": {ImportProgress: ImportProgress{Source: "a.ndjson", Read: 9000}, Next: 9000}}}
	for _, tc := range []struct {
		name string
		file faultyFile
		// rename fails
		rename bool
		want   string
	}{
		{name: "write fails", file: faultyFile{failWrite: true}, want: "no space left"},
		{name: "short write", file: faultyFile{short: true}, want: "short write"},
		{name: "sync fails", file: faultyFile{failSync: true}, want: "fsync failed"},
		{name: "rename fails", rename: true, want: "rename refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "import.checkpoint")
			if err := saveCheckpointFS(osCheckpointFS(), path, good); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			fsys := osCheckpointFS()
			fsys.createTemp = func(d, pattern string) (checkpointFile, error) {
				f, err := os.CreateTemp(d, pattern)
				if err != nil {
					return nil, err
				}
				ff := tc.file
				ff.File = f
				return &ff, nil
			}
			if tc.rename {
				fsys.rename = func(string, string) error { return errors.New("injected: rename refused") }
			}
			err := saveCheckpointFS(fsys, path, newer)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "previous one is kept") {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(before) {
				t.Errorf("the good checkpoint was replaced:\n%s", after)
			}
			var cp checkpoint
			if err := json.Unmarshal(after, &cp); err != nil || cp.Sources["a.ndjson"].Next != 7 {
				t.Errorf("checkpoint after the failure: %v %+v", err, cp)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}

	// Through Import: the failure stops the import with the error.
	p, _ := Builtin("india-ecoo")
	dir := t.TempDir()
	src := batch(t, dir, 30, nil)
	cpPath := filepath.Join(t.TempDir(), "cp")
	fsys := osCheckpointFS()
	fsys.createTemp = func(d, pattern string) (checkpointFile, error) {
		f, err := os.CreateTemp(d, pattern)
		if err != nil {
			return nil, err
		}
		return &faultyFile{File: f, failSync: true}, nil
	}
	sink := &memSink{certs: map[string]*schema.Certificate{}}
	_, err := ImportFiles(context.Background(), p, []string{src}, sink, ImportOptions{Workers: 1, Checkpoint: cpPath, CheckpointEvery: 10, cpfs: &fsys})
	if err == nil || !strings.Contains(err.Error(), "fsync failed") {
		t.Errorf("import with a failing checkpoint: %v", err)
	}
	if _, err := os.Stat(cpPath); !os.IsNotExist(err) {
		t.Errorf("a checkpoint exists after failed writes: %v", err)
	}
}
