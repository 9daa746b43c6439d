package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ecogate/ecogate/store"
)

// opsCmdFunc is the signature of a subcommand.
type opsCmdFunc = func(context.Context, []string, io.Writer, io.Writer) int

func opsRunCmd(t *testing.T, fn opsCmdFunc, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := fn(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestPartnersCommand runs list, show and check on the example registry and
// check on a broken one.
func TestPartnersCommand(t *testing.T) {
	example := filepath.Join("..", "..", "partners", "testdata", "partners.yaml")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.yaml")
	abs, _ := filepath.Abs(example)
	os.WriteFile(cfg, []byte("partners: "+abs+"\n"), 0o644)
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("partners:\n  - {country: sgp, name: x, endpoint: 'http://x', tls: {clientCAs: [missing.pem]}, documentSigning: {anchors: [missing.pem]}, agreements: [RCEP]}\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"list", []string{"list", "--partners", example}, exitOK, []string{"LA", "pull", "SG", "https://eco.sg.example/eco/v1", "RCEP,ATIGA"}},
		{"list via config", []string{"--config", cfg, "list"}, exitOK, []string{"SG"}},
		{"show", []string{"show", "sg", "--partners", example}, exitOK, []string{"Singapore Customs", "12 attempts", "not after 2046"}},
		{"show unknown", []string{"show", "TH", "--partners", example}, exitFail, []string{"unknown partner"}},
		{"check ok", []string{"check", "--partners", example}, exitOK, []string{"files: 2 partner(s)", "endpoints: not contacted"}},
		{"check expiring within 30 years", []string{"check", "--partners", example, "--within", "262800h"}, exitFail, []string{"PROBLEM SG: tls.clientCAs", "expires on 2046-01-01"}},
		{"check broken", []string{"check", "--partners", broken}, exitFail, []string{"country", "endpoint", "missing.pem"}},
		{"no registry", []string{"list"}, exitUsage, []string{"--partners"}},
		{"both flags", []string{"list", "--partners", example, "--config", cfg}, exitUsage, []string{"not both"}},
		{"unknown subcommand", []string{"frobnicate", "--partners", example}, exitUsage, []string{"usage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := opsRunCmd(t, runPartners, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errs)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out+errs, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errs)
				}
			}
		})
	}
}

// TestOutboxAndAuditCommands: list and filter the outbox, resend a
// suspended message, verify the audit chain, detect tampering, and refuse
// a data file held by a running node.
func TestOutboxAndAuditCommands(t *testing.T) {
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "node.db")
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ob := db.Outbox()
	for _, m := range []store.OutMessage{
		{ID: "m-sg", Partner: "SG", CertNumber: "CO-1", Version: 1, Kind: "issue", Content: []byte("a")},
		{ID: "m-th", Partner: "TH", CertNumber: "CO-1", Version: 1, Kind: "issue", Content: []byte("a")},
	} {
		if err := ob.Enqueue(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.Suspend(ctx, "m-th", "retry policy spent: 10 attempts\nconnection refused"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Audit().Append(ctx, store.Entry{Actor: "node", Action: "send", Subject: "m-sg"}); err != nil {
		t.Fatal(err)
	}

	// While the node holds the file, the commands refuse with advice.
	code, _, errs := opsRunCmd(t, runOutbox, "list", "--data", data)
	if code != exitUsage || !strings.Contains(errs, "is the node running") {
		t.Fatalf("locked file: exit %d, %s", code, errs)
	}
	db.Close()

	steps := []struct {
		name     string
		fn       opsCmdFunc
		args     []string
		wantCode int
		want     []string
		notWant  []string
	}{
		{"list all", runOutbox, []string{"list", "--data", data}, exitOK, []string{"m-sg", "queued", "m-th", "suspended", "retry policy spent: 10 attempts connection refused", "2 message(s)"}, nil},
		{"list suspended", runOutbox, []string{"list", "--data", data, "--state", "suspended"}, exitOK, []string{"m-th", "1 message(s)"}, []string{"m-sg"}},
		{"list by partner", runOutbox, []string{"list", "--partner", "SG", "--data", data}, exitOK, []string{"m-sg"}, []string{"m-th"}},
		{"bad state", runOutbox, []string{"list", "--data", data, "--state", "lost"}, exitUsage, []string{"unknown state"}, nil},
		{"no data flag", runOutbox, []string{"list"}, exitUsage, []string{"--data"}, nil},
		{"retry", runOutbox, []string{"retry", "m-th", "--data", data}, exitOK, []string{"requeued m-th"}, nil},
		{"retry unknown", runOutbox, []string{"retry", "nope", "--data", data}, exitFail, []string{"not found"}, nil},
		{"retry queued again is allowed", runOutbox, []string{"retry", "m-th", "--data", data}, exitOK, nil, nil},
		{"after retry", runOutbox, []string{"list", "--data", data, "--state", "suspended"}, exitOK, []string{"0 message(s)"}, nil},
		{"audit verify", runAudit, []string{"verify", "--data", data}, exitOK, []string{"3 entries is intact"}, nil},
		{"audit usage", runAudit, []string{"--data", data}, exitUsage, []string{"usage"}, nil},
		{"missing data file", runAudit, []string{"verify", "--data", data + ".nope"}, exitUsage, []string{"no such file"}, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, out, errs := opsRunCmd(t, s.fn, s.args...)
			if code != s.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, s.wantCode, out, errs)
			}
			for _, w := range s.want {
				if !strings.Contains(out+errs, w) {
					t.Errorf("output lacks %q:\n%s%s", w, out, errs)
				}
			}
			for _, w := range s.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}

	// Tamper with the second audit entry: verify reports it and exits 1.
	bdb, err := bolt.Open(data, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := bytes.Replace(b.Get(k), []byte("outbox.retry"), []byte("outbox.rerun"), 1)
		return b.Put(k, v)
	})
	bdb.Close()
	code, out, errs := opsRunCmd(t, runAudit, "verify", "--data", data)
	if code != exitFail || !strings.Contains(out, "broken at entry 2") {
		t.Fatalf("tampered chain: exit %d\n%s%s", code, out, errs)
	}
}
