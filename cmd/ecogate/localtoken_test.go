package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/devsite"
)

// TestLocalTokenCommands: a node whose local API needs a token is reached
// by outbox, customs-clients and send with --config (the token comes from
// local.tokenFile) and with --node plus $ECOGATE_LOCAL_TOKEN; without the
// token the node answers 401. A local API beyond loopback without a token
// does not start (issue 10, item 8).
func TestLocalTokenCommands(t *testing.T) {
	dir := t.TempDir()
	sites := []devsite.Site{
		{Country: "VN", Name: "Viet Nam (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "vn")},
		{Country: "IN", Name: "India (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "in")},
	}
	if err := devsite.Write(sites, devsite.Retry{Attempts: 3, InitialInterval: time.Second, MaxInterval: time.Second, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	vn := sites[0]
	cfgBytes, err := os.ReadFile(vn.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	const token = "f00dfeedf00dfeedf00dfeedf00dfeed-vn"
	edit := func(from, to string) {
		t.Helper()
		if !bytes.Contains(cfgBytes, []byte(from)) {
			t.Fatalf("the dev config has no %q", from)
		}
		cfgBytes = bytes.Replace(cfgBytes, []byte(from), []byte(to), 1)
		if err := os.WriteFile(vn.ConfigPath(), cfgBytes, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Beyond loopback without a token: refused at start, naming the key.
	orig := cfgBytes
	edit("  local: "+vn.LocalAddr, "  local: 0.0.0.0:0")
	if code, _, errs := opsRunCmd(t, runServe, "--config", vn.ConfigPath()); code == exitOK || !strings.Contains(errs, "local.tokenFile") {
		t.Fatalf("serve with listen.local 0.0.0.0 and no token: exit %d: %s", code, errs)
	}
	cfgBytes = orig

	if err := os.WriteFile(filepath.Join(vn.Dir, "local-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	edit(`  tokenFile: ""`, `  tokenFile: local-token`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() { done <- runServe(ctx, []string{"--config", vn.ConfigPath()}, &bytes.Buffer{}, &errb) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d: %s", code, errb.String())
		}
	})
	base := "http://" + vn.LocalAddr
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not start: %s", errb.String())
		}
		time.Sleep(50 * time.Millisecond) // the node is starting
	}
	if strings.Contains(errb.String(), token) {
		t.Fatal("the node logged its local token")
	}

	// --config: the commands send the token.
	if code, out, errs := opsRunCmd(t, runOutbox, "list", "--config", vn.ConfigPath()); code != exitOK {
		t.Fatalf("outbox list --config: %d %s %s", code, out, errs)
	}
	if code, out, errs := opsRunCmd(t, runCustomsClients, "add", "--config", vn.ConfigPath(), "--scopes", "customs:check", "VNACCS"); code != exitOK || !strings.Contains(out, "client_secret") {
		t.Fatalf("customs-clients add --config: %d %s %s", code, out, errs)
	}
	if code, out, errs := opsRunCmd(t, runCustomsClients, "list", "--config", vn.ConfigPath()); code != exitOK || !strings.Contains(out, "VNACCS") {
		t.Fatalf("customs-clients list --config: %d %s %s", code, out, errs)
	}
	notXML := filepath.Join(dir, "not.xml")
	if err := os.WriteFile(notXML, []byte("not xml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := opsRunCmd(t, runSend, "--config", vn.ConfigPath(), notXML); code != exitFail || strings.Contains(errs, "401") {
		t.Fatalf("send --config: the document should be refused as unreadable, not the caller: %d %s", code, errs)
	}

	// --node URL without the token: 401, said so; with $ECOGATE_LOCAL_TOKEN: fine.
	t.Setenv(localTokenEnv, "")
	if code, _, errs := opsRunCmd(t, runOutbox, "list", "--node", base); code == exitOK || !strings.Contains(errs, "401") {
		t.Fatalf("outbox list --node without token: %d %s", code, errs)
	}
	if code, _, errs := opsRunCmd(t, runSend, "--node", base, notXML); code == exitOK || !strings.Contains(errs, "401") {
		t.Fatalf("send --node without token: %d %s", code, errs)
	}
	t.Setenv(localTokenEnv, token)
	if code, _, errs := opsRunCmd(t, runCustomsClients, "list", "--node", base); code != exitOK {
		t.Fatalf("customs-clients list --node with $%s: %d %s", localTokenEnv, code, errs)
	}
}
