package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs `ecogate demo` end to end: two nodes, sample e-COs,
// withdrawal and replacement, all delivered and receipted.
func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	code := runDemo(context.Background(), []string{"-n", "3", "--dir", t.TempDir()}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"5 of 5 messages delivered and receipted",
		"IN-AI-2026-DEMO-0001 v1  withdrawn",
		"IN-AI-2026-DEMO-0002 v1  replaced by IN-AI-2026-DEMO-0002/2",
		"/api/v1/outbound/",
		"/eco/v1/envelopes/",
		"receipt  JWS signed by VN",
		"hash chain intact",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
