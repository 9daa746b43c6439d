package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

// TestHelpAndUsageStreams: help asked for goes to stdout with exit 0; a
// usage error goes to stderr with exit 2.
func TestHelpAndUsageStreams(t *testing.T) {
	for _, tc := range []struct {
		args               []string
		code               int
		inStdout, inStderr string
	}{
		{[]string{"--help"}, exitOK, "usage: ecogate COMMAND", ""},
		{[]string{"-h"}, exitOK, "usage: ecogate COMMAND", ""},
		{[]string{"help"}, exitOK, "commands:", ""},
		{[]string{"help", "pki"}, exitOK, "ecogate pki init", ""},
		{[]string{"pki", "--help"}, exitOK, "ecogate pki init", ""},
		{[]string{"serve", "-h"}, exitOK, "usage: ecogate serve --config FILE", ""},
		{[]string{"partners", "--help"}, exitOK, "ecogate partners check", ""},
		{[]string{}, exitUsage, "", "usage: ecogate COMMAND"},
		{[]string{"nosuch"}, exitUsage, "", `unknown command "nosuch"`},
		{[]string{"help", "nosuch"}, exitUsage, "", `unknown command "nosuch"`},
		{[]string{"serve"}, exitUsage, "", "usage: ecogate serve"},
		{[]string{"pki"}, exitUsage, "", "usage: ecogate pki init"},
		{[]string{"version", "extra"}, exitUsage, "", "usage: ecogate version"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, errb.String())
		}
		if tc.inStdout != "" && !strings.Contains(out.String(), tc.inStdout) {
			t.Errorf("%v: stdout %q lacks %q", tc.args, out.String(), tc.inStdout)
		}
		if tc.inStdout != "" && errb.Len() > 0 {
			t.Errorf("%v: help also wrote to stderr: %q", tc.args, errb.String())
		}
		if tc.inStderr != "" && !strings.Contains(errb.String(), tc.inStderr) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errb.String(), tc.inStderr)
		}
		if tc.inStderr != "" && out.Len() > 0 {
			t.Errorf("%v: usage error wrote to stdout: %q", tc.args, out.String())
		}
	}
}

// TestVersionReportsBuildInfo: `ecogate version` and `--version` show the
// VCS revision, its time, a modified tree, the Go version and cgo.
func TestVersionReportsBuildInfo(t *testing.T) {
	old := readBuildInfo
	defer func() { readBuildInfo = old }()
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want []string
		not  []string
	}{
		{"git build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-05-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"}, {Key: "CGO_ENABLED", Value: "0"}}}, true,
			[]string{"ecogate dev\n", "revision 0123456789abcdef (with uncommitted changes)", "time     2026-05-01T10:00:00Z", "go       go1.26.8", "cgo      0 (static binary)"}, nil},
		{"clean tagged", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}, {Key: "CGO_ENABLED", Value: "1"}}}, true,
			[]string{"ecogate v1.2.3\n", "revision abc\n", "build with CGO_ENABLED=0"}, []string{"uncommitted", "time "}},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.8"}, true, []string{"revision unknown"}, nil},
		{"no build info", nil, false, []string{"ecogate dev\n", "no build information"}, nil},
	} {
		readBuildInfo = func() (*debug.BuildInfo, bool) { return tc.bi, tc.ok }
		for _, args := range [][]string{{"version"}, {"--version"}} {
			var out, errb bytes.Buffer
			if code := run(args, &out, &errb); code != exitOK {
				t.Fatalf("%s %v: exit %d: %s", tc.name, args, code, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%s %v: output lacks %q:\n%s", tc.name, args, w, out.String())
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("%s %v: output has %q:\n%s", tc.name, args, w, out.String())
				}
			}
		}
	}
}
