package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDemo runs `ecogate demo` end to end: two nodes, sample e-COs,
// withdrawal and replacement, all delivered and receipted; then VN's
// customs face (token, checks, a verification query to IN, a decision that
// reaches IN) and IN's public page.
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
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
