package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/internal/testenv"
)

// readmeSection returns the fenced code blocks of the README section whose
// heading starts with title (up to the next heading of the same or a
// higher level).
func readmeSection(t *testing.T, readme, title string) []string {
	t.Helper()
	lines := strings.Split(readme, "\n")
	var blocks []string
	level, in, fence := 0, false, false
	var cur []string
	for _, l := range lines {
		if fence {
			if strings.HasPrefix(l, "```") {
				fence = false
				if in {
					blocks = append(blocks, strings.Join(cur, "\n"))
				}
				cur = nil
				continue
			}
			cur = append(cur, l)
			continue
		}
		if strings.HasPrefix(l, "```") {
			fence = true
			continue
		}
		if strings.HasPrefix(l, "#") {
			h := len(l) - len(strings.TrimLeft(l, "#"))
			name := strings.TrimSpace(l[h:])
			switch {
			case strings.HasPrefix(name, title):
				level, in = h, true
			case in && h <= level:
				in = false
			}
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("README has no section %q with code blocks", title)
	}
	return blocks
}

// TestREADMEDocumentsNoDynamicBuildOrIssueNumbers: every build command in
// the README builds the static binary, and the README does not send the
// reader to internal issue numbers.
func TestREADMEDocumentsNoDynamicBuildOrIssueNumbers(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "go build") && !strings.Contains(l, "CGO_ENABLED=0 go build") {
			t.Errorf("README line %d builds without CGO_ENABLED=0: %s", i+1, l)
		}
		if m := regexp.MustCompile(`(^|[\s(|])#\d+\b`).FindString(l); m != "" {
			t.Errorf("README line %d refers to an issue number (%s): %s", i+1, strings.TrimSpace(m), l)
		}
	}
}

// TestREADMEWalkthrough runs the README's command blocks of "Start here",
// "One node for real", "Conformance kit" and "Customs checks" (both
// sections, with tokens and with a client certificate) with bash, as a new user would,
// against the binary built as the README says, in a fresh temporary
// folder. The only changes: the build line is replaced by a copy of the
// binary built once, `go run ./cmd/ecogate` by that binary, /tmp/eco by a
// temporary folder, the example's ports by free ones, and $EDITOR by a
// script that makes the edit the README asks for (the ports).
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README walk-through builds the binary and runs nodes")
	}
	for _, tool := range []string{"bash", "curl", "sed", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s not installed: %v", tool, err)
		}
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin := buildEcogate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := os.MkdirAll(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}

	ports := map[string]string{"8443": freePort(t), "8080": freePort(t), "8444": freePort(t), "8081": freePort(t)}
	editor := filepath.Join(work, "bin", "editor")
	var sedArgs []string
	for from, to := range ports {
		sedArgs = append(sedArgs, "-e", "'s/127.0.0.1:"+from+"$/127.0.0.1:"+to+"/'")
	}
	// The README asks for the listen addresses to be edited; the editor
	// puts ":8443" on loopback, then gives every example port a free one.
	edit := "#!/bin/sh\nfor f; do sed -i -e 's/^\\(  [a-z]*\\): :\\([0-9]*\\)$/\\1: 127.0.0.1:\\2/' " + strings.Join(sedArgs, " ") + " \"$f\"; done\n"
	if err := os.WriteFile(editor, []byte(edit), 0o755); err != nil {
		t.Fatal(err)
	}

	script := func(blocks []string) string {
		var keep []string
		for _, b := range blocks {
			if strings.Contains(b, ".ci/run") || strings.HasPrefix(strings.TrimSpace(b), "{") {
				continue // the test command itself; an example answer
			}
			keep = append(keep, b)
		}
		s := strings.Join(keep, "\n")
		s = strings.ReplaceAll(s, "CGO_ENABLED=0 go build -o ecogate ./cmd/ecogate", `cp "$BIN" ecogate`)
		s = strings.ReplaceAll(s, "go run ./cmd/ecogate", `"$BIN"`)
		s = strings.ReplaceAll(s, "/tmp/eco", "$WORK/eco")
		for from, to := range ports {
			s = strings.ReplaceAll(s, "127.0.0.1:"+from, "127.0.0.1:"+to)
		}
		return "set -euo pipefail\ntrap 'for j in $(jobs -p); do kill $j 2>/dev/null || true; done; wait' EXIT\n" + s + "\n"
	}
	run := func(name, dir, s string) string {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, "bash", "-c", s)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "BIN="+bin, "WORK="+work, "EDITOR="+editor)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("README %q failed: %v\nscript:\n%s\noutput:\n%s", name, err, s, out)
		}
		return string(out)
	}

	out := run("Start here", filepath.Join(work, "start"), script(readmeSection(t, string(readme), "Start here")))
	for _, w := range []string{"5 of 5 messages delivered and receipted", "hash chain intact", "ecogate ", "cgo      0 (static binary)"} {
		if !strings.Contains(out, w) {
			t.Errorf("Start here: output lacks %q:\n%s", w, out)
		}
	}

	out = run("One node for real", filepath.Join(work, "node"), script(readmeSection(t, string(readme), "One node for real")))
	for _, w := range []string{"development PKI written to pki", "wrote partners.yaml", "IN  OK  https://127.0.0.1:" + ports["8443"] + "/eco/v1: profile of IN"} {
		if !strings.Contains(out, w) {
			t.Errorf("One node for real: output lacks %q:\n%s", w, out)
		}
	}
	if log, _ := os.ReadFile(filepath.Join(work, "node", "node.log")); !strings.Contains(string(log), "ecogate node stopped") {
		t.Errorf("the node did not stop gracefully:\n%s", log)
	}
	for _, f := range []string{"pki", "data", "ecogate.yaml", "partners.yaml", "node.log"} {
		fi, err := os.Stat(filepath.Join(work, "node", f))
		if err != nil {
			t.Errorf("One node for real wrote no %s", f)
			continue
		}
		inside := f
		if fi.IsDir() {
			inside = f + "/file"
		}
		if !ignored(t, repo, inside) {
			t.Errorf(".gitignore does not keep %s out of git", f)
		}
	}

	out = run("Conformance kit", filepath.Join(work, "conformance"), script(readmeSection(t, string(readme), "Conformance kit")))
	for _, w := range []string{"conformance kit for partner AQ written to kit", "ECO-TRANS-01", "ECO-DEL-06", "ECO-PRO-03",
		"0 failed", "report: report.xml", "2 passed, 0 failed, 0 not applicable", "report: report.html"} {
		if !strings.Contains(out, w) {
			t.Errorf("Conformance kit: output lacks %q:\n%s", w, out)
		}
	}
	for _, f := range []string{"report.xml", "report.html"} {
		if b, err := os.ReadFile(filepath.Join(work, "conformance", f)); err != nil || !strings.Contains(string(b), "ECO-SIG-03") {
			t.Errorf("Conformance kit: %s not written with the results (%v)", f, err)
		}
	}
	for _, f := range []string{"kit/file", "node/file", "report.xml", "report.html"} {
		if !ignored(t, repo, f) {
			t.Errorf(".gitignore does not keep the conformance walk-through's %s out of git", f)
		}
	}

	out = run("Customs checks", filepath.Join(work, "customs"), script(readmeSection(t, string(readme), "Customs checks")))
	for _, w := range []string{
		"client_secret:",
		`"verdict":"MISMATCH"`, "QUANTITY_EXCEEDS_REMAINING",
		`"preferenceGiven":true,"utilised":{"value":"1000","unitCode":"KGM"},"remaining":{"value":"52000","unitCode":"KGM"}`,
		`"qrLink":"http://127.0.0.1:`,
		`{"found":true,"certificate":{"number":"IN-AI-2026-DEMO-0003"`,
		// Customs checks with a client certificate: registered (no
		// secret), listed with its binding, a check with the certificate
		// and no token, refused once the CRL file revokes it.
		"cert_sha256:", "cert sha256:", `"verdict":"AUTHENTIC"`, `"error":"certificate_revoked"`,
		// Renewed: both certificates listed, both work until the
		// operator finishes, then the old one is not registered.
		"next_sha256:", " + next sha256:", "CN=VNACCS 2027", `"error":"certificate_not_registered"`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("Customs checks: output lacks %q:\n%s", w, out)
		}
	}
}

// TestREADMEIssuance runs the README's "Issuance API" block with bash as
// written, in a folder that stands for the clone's root (its testdata/ is
// the repository's), against the binary built once: the demo lays IN out
// with issuance on, the node serves, and every curl answers.
func TestREADMEIssuance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README block builds the binary and runs a node")
	}
	for _, tool := range []string{"bash", "curl", "sed", "sha256sum", "cut"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, "%s not installed: %v", tool, err)
		}
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin := buildEcogate(t) // copied in by the block (cp "$BIN" ecogate)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var blocks []string
	for _, b := range readmeSection(t, string(readme), "Issuance API") {
		if strings.Contains(b, "curl") {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) != 1 {
		t.Fatalf("the Issuance API section has %d curl blocks, want 1", len(blocks))
	}
	s := blocks[0]
	s = strings.ReplaceAll(s, "CGO_ENABLED=0 go build -o ecogate ./cmd/ecogate", `cp "$BIN" ecogate`)
	s = strings.ReplaceAll(s, "/tmp/eco-isu", "$WORK/eco-isu")
	s = "set -euo pipefail\ntrap 'for j in $(jobs -p); do kill $j 2>/dev/null || true; done; wait' EXIT\n" + s + "\n"
	clone := filepath.Join(work, "clone")
	if err := os.MkdirAll(clone, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repo, "testdata"), filepath.Join(clone, "testdata")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", s)
	cmd.Dir = clone
	cmd.Env = append(os.Environ(), "BIN="+bin, "WORK="+work, "ECOGATE_LOCAL_TOKEN=")
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("README Issuance API block failed: %v\nscript:\n%s\noutput:\n%s", err, s, out)
	}
	for _, w := range []string{
		`"iec": "AAACE1234F"`, `"name": "Alpha Exports Pvt Ltd"`, // registered from the registry
		`"status": "pending"`,    // the agency's registration
		`"status": "active"`,     // approved
		`"merchantId": "EICMUM"`, // the office (its checksum key never echoed)
		`"access_token": "`, `"token_type": "Bearer"`,
		`"kind": "invoice"`, `"contentType": "application/pdf"`,
		`"paymentUrl": "http://127.0.0.1:`,
		`"support": "consistent"`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("README Issuance API: output lacks %s:\n%s", w, out)
		}
	}
	for _, bad := range []string{`"status": 4`, `"status": 5`, "k3y-MUM"} {
		if strings.Contains(out, bad) {
			t.Errorf("README Issuance API: output has %s (a refusal or a secret):\n%s", bad, out)
		}
	}
}

// freePort returns a loopback port that is free now.
func freePort(t *testing.T) string {
	t.Helper()
	a := freeAddr(t)
	return a[strings.LastIndexByte(a, ':')+1:]
}

// ignored reports whether git ignores name at the top of the repository
// (true when git is not there to ask).
func ignored(t *testing.T, repo, name string) bool {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		return true
	}
	cmd := exec.Command("git", "check-ignore", "-q", "--no-index", name)
	cmd.Dir = repo
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return false
	}
	return true
}
