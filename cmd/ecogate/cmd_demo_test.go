package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/store"
)

// TestDemo runs `ecogate demo` end to end: two nodes, sample e-COs,
// withdrawal and replacement, all delivered and receipted; then VN's
// customs face (token, checks, a verification query to IN, a decision that
// reaches IN) and IN's public page.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	code := runDemo(context.Background(), []string{"-n", "3", "--dir", dir}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	year := strconv.Itoa(time.Now().UTC().Year())
	for _, want := range []string{
		"5 of 5 messages delivered and receipted",
		"IN-AI-2026-DEMO-0001 v1  withdrawn",
		"IN-AI-2026-DEMO-0002 v1  replaced by IN-AI-2026-DEMO-0002/2",
		"/api/v1/outbound/",
		"/eco/v1/envelopes/",
		"receipt  JWS signed by VN",
		"hash chain intact",
		"added with scopes customs:check customs:read customs:decide",
		"token     POST /oauth/token (client credentials): a JWT signed by VN, valid 300 s",
		"check     IN-AI-2026-DEMO-0003, HS 0202.30, 1000 KGM -> AUTHENTIC\n",
		"check     IN-AI-2026-DEMO-0003, HS 0202.30, 60000 KGM -> MISMATCH; item 1 QUANTITY_EXCEEDS_REMAINING",
		"(declared 60000, remaining 54000 KGM)",
		"check     IN-AI-2026-DEMO-Q001 (not sent to VN), HS 0202.30, 10 KGM -> AUTHENTIC, answered by IN (verification query",
		"preference given, 1000 KGM utilised, 53000 KGM remain; signed message",
		"decision  from VN on IN-AI-2026-DEMO-0003 received",
		"/api/v1/issued/IN-AI-2026-DEMO-0003",
		"/verify/q/",
		`{"found":true,"certificate":{"number":"IN-AI-2026-DEMO-0003"`,
		// the issuance story, through IN's issuance API
		"account active (confirmed by the registry)",
		"DSC \"CN=ecogate dev IN document signer ECDSA",
		"e-wallet  AABCB5678M at KOL credited INR 1000.00",
		"apply     APP000000001: AIFTA, to VN",
		"apply     APP000000002: AIFTA, to VN",
		"e-wallet  balance INR 500.00 after 3 movements",
		"claims \"RVC 35% + CTSH\": consistent, RVC build-down 75.00%",
		"query     APP000000001 returned by the officer",
		"a PEM upload was refused: 400",
		"issue     APP000000001 approved and signed by officer@icc.example: certificate ICC-KOL-" + year + "-000001",
		"issue     APP000000002 approved and signed by officer@icc.example: certificate ICC-KOL-" + year + "-000002",
		"deliver   ICC-KOL-" + year + "-000001 -> VN: delivered",
		"deliver   ICC-KOL-" + year + "-000002 -> VN: delivered",
		"at VN     customs checks ICC-KOL-" + year + "-000001 (HS 0904.21, 2000 KGM) -> AUTHENTIC",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if mails, _ := filepath.Glob(filepath.Join(dir, "in", "mail", "*")); len(mails) < 2 {
		t.Errorf("the demo wrote %d notification mails to in/mail", len(mails))
	}
}

// TestDemoSecondRunSameDir: a second `demo --dir DIR` into the same folder
// is refused before anything is touched, saying how to go on; with --fresh
// it deletes the previous demo and runs cleanly. --fresh never deletes
// files that are not a demo's, nor the files of a node that runs.
func TestDemoSecondRunSameDir(t *testing.T) {
	dir := t.TempDir()
	demoRun := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runDemo(context.Background(), append([]string{"-n", "2", "--dir", dir}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, errs := demoRun(); code != exitOK {
		t.Fatalf("first run: exit %d\n%s\n%s", code, out, errs)
	}
	key := filepath.Join(dir, "in", "pki", "receipt-key.pem")
	before, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := demoRun()
	if code != exitUsage || !strings.Contains(errs, "already holds a previous demo (in, vn); nothing was changed") ||
		!strings.Contains(errs, "--fresh") || strings.Contains(errs, "{") || out != "" {
		t.Fatalf("second run: exit %d\nstdout %q\nstderr %q", code, out, errs)
	}
	if after, _ := os.ReadFile(key); !bytes.Equal(before, after) {
		t.Fatal("the refused second run replaced the PKI")
	}

	// A node of the previous demo still running: --fresh refuses.
	cfgData := filepath.Join(dir, "vn", "data", "ecogate.db")
	db, err := store.Open(cfgData, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs = demoRun("--fresh")
	db.Close()
	if code != exitUsage || !strings.Contains(errs, "is running") {
		t.Fatalf("--fresh with a running node: exit %d, %q", code, errs)
	}

	code, out, errs = demoRun("--fresh")
	if code != exitOK || !strings.Contains(out, "deleted the previous demo in "+dir+"; starting over") ||
		!strings.Contains(out, "4 of 4 messages delivered and receipted") {
		t.Fatalf("--fresh: exit %d\n%s\n%s", code, out, errs)
	}
	if after, _ := os.ReadFile(key); bytes.Equal(before, after) {
		t.Fatal("--fresh kept the old PKI")
	}

	// Something else in the folder: nothing is deleted, even with --fresh.
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{nil, {"--fresh"}} {
		code, _, errs = demoRun(args...)
		if code != exitUsage || !strings.Contains(errs, "notes.txt") {
			t.Fatalf("%v with a foreign file: exit %d, %q", args, code, errs)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatal("a foreign file was deleted")
	}
	var errb bytes.Buffer
	if code := runDemo(context.Background(), []string{"--fresh"}, &bytes.Buffer{}, &errb); code != exitUsage || !strings.Contains(errb.String(), "--fresh needs --dir") {
		t.Fatalf("--fresh without --dir: exit %d %q", code, errb.String())
	}
}
