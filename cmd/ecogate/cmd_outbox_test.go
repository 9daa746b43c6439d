package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/internal/samplecert"
)

// TestOutboxRunningNode: outbox list and retry through a running node's
// local API (--config, --node), and a second submission of the same
// certificate refused with the earlier message named.
func TestOutboxRunningNode(t *testing.T) {
	sites := serveSites(t)
	doc, err := samplecert.XML("IN-AI-OUTBOX-1", 1, "IN", "VN")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "eco.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, node := sites[0].ConfigPath(), "http://"+sites[0].LocalAddr
	if code, out, errs := opsRunCmd(t, runSend, f, "--config", cfg, "--wait", "30s"); code != exitOK {
		t.Fatalf("send: exit %d\n%s%s", code, out, errs)
	}
	_, out, _ := opsRunCmd(t, runOutbox, "list", "--config", cfg)
	fields := strings.Fields(strings.Split(out, "\n")[1])
	if len(fields) < 2 || fields[1] != "delivered" {
		t.Fatalf("list: %s", out)
	}
	id := fields[0]
	for _, tc := range []struct {
		name     string
		fn       opsCmdFunc
		args     []string
		wantCode int
		want     string
	}{
		{"list by partner and state", runOutbox, []string{"list", "--node", node, "--partner", "VN", "--state", "delivered"}, exitOK, id},
		{"list other state", runOutbox, []string{"list", "--node", node, "--state", "suspended"}, exitOK, "0 message(s)"},
		{"list bad state", runOutbox, []string{"list", "--node", node, "--state", "lost"}, exitUsage, "unknown state"},
		{"retry unknown", runOutbox, []string{"retry", "--config", cfg, "no-such-message"}, exitFail, "404"},
		{"retry delivered", runOutbox, []string{"retry", "--node", node, id}, exitFail, "409"},
		{"data and node", runOutbox, []string{"list", "--node", node, "--data", "x.db"}, exitUsage, "only one of"},
		{"node not running", runOutbox, []string{"list", "--node", "http://" + freeAddr(t)}, exitUsage, "unreachable"},
		{"same certificate again", runSend, []string{f, "--config", cfg}, exitFail, "already sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := opsRunCmd(t, tc.fn, tc.args...)
			if code != tc.wantCode || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d (want %d), output lacks %q?\n%s%s", code, tc.wantCode, tc.want, out, errs)
			}
		})
	}
}
