package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/store"
)

// TestCustomsClientsCommand adds a client (secret printed once, only its
// hash stored), lists it, revokes it, and refuses bad usage.
func TestCustomsClientsCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "node.db")
	code, out, errs := opsRunCmd(t, runCustomsClients, "add", "--data", data, "--scopes", "customs:check,customs:read", "VN customs VNACCS")
	if code != exitOK {
		t.Fatalf("add: %d %s", code, errs)
	}
	m := regexp.MustCompile(`client_id:\s+(\S+)\nclient_secret:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("add output: %s", out)
	}
	id, secret := m[1], m[2]
	code, out, _ = opsRunCmd(t, runCustomsClients, "list", "--data", data)
	if code != exitOK || !strings.Contains(out, id) || !strings.Contains(out, "customs:check,customs:read") || !strings.Contains(out, "active") || strings.Contains(out, secret) {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, out, _ = opsRunCmd(t, runCustomsClients, "revoke", id, "--data", data); code != exitOK || !strings.Contains(out, "revoked "+id) {
		t.Fatalf("revoke: %d %s", code, out)
	}
	if code, _, _ = opsRunCmd(t, runCustomsClients, "revoke", "cc-nobody", "--data", data); code != exitFail {
		t.Fatalf("revoke unknown: %d", code)
	}
	db, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cl, err := db.Customs().Client(context.Background(), id)
	if err != nil || cl.SecretHash != customs.HashSecret(secret) || cl.Revoked.IsZero() || cl.Name != "VN customs VNACCS" {
		t.Fatalf("stored client %+v %v", cl, err)
	}
	entries, err := db.Audit().Entries(context.Background(), 0, 0)
	if err != nil || len(entries) != 2 || entries[0].Action != "customs-client.add" || entries[1].Action != "customs-client.revoke" {
		t.Fatalf("audit %+v %v", entries, err)
	}
	db.Close()
	for _, args := range [][]string{
		{"add", "--data", data, "X"},
		{"add", "--data", data, "--scopes", "customs:everything", "X"},
		{"list"},
		{"remove", "--data", data, "x"},
	} {
		if code, _, _ := opsRunCmd(t, runCustomsClients, args...); code != exitUsage {
			t.Errorf("%v: %d, want usage error", args, code)
		}
	}
}
