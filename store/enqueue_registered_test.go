package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestEnqueueRegisteredOneAct: a submission's messages, register entries
// and audit entries are stored together or not at all, whatever step
// fails; a retry after a failure is not refused as already sent; a refused
// enqueue leaves the register as it was.
func TestEnqueueRegisteredOneAct(t *testing.T) {
	ctx := context.Background()
	e := func(s string) []Entry { return []Entry{{Actor: "local", Action: "send", Subject: s}} }
	issue := func(id, number string) OutMessage {
		m := msg(id, "VN", number, 1, "issue", "<eco>"+number+"</eco>")
		m.Exclusive = true
		return m
	}
	reg := func(number string, data string) IssuedCert {
		return IssuedCert{Country: "IN", Number: number, Version: 1, Data: []byte(data)}
	}
	replaced := func(number, by string) IssuedCert {
		return IssuedCert{Country: "IN", Number: number, Version: -1, Status: CertReplaced, ReplacedBy: by}
	}
	failMid := errors.New("killed between the messages and the register (simulated)")
	tests := []struct {
		name     string
		mid      func(string) error // hookEnqueueMid
		commit   func() error       // hookBeforeCommit
		register []IssuedCert
		audit    []Entry
		wantErr  error // nil: any error
	}{
		{name: "failure after the messages, before the register", mid: func(string) error { return failMid },
			register: []IssuedCert{reg("C2", `{"v":2}`), replaced("C1", "C2")}, audit: e("m2"), wantErr: failMid},
		{name: "the group's commit fails", commit: func() error { return errors.New("disk full (simulated)") },
			register: []IssuedCert{reg("C2", `{"v":2}`), replaced("C1", "C2")}, audit: e("m2")},
		{name: "a register entry is refused", register: []IssuedCert{reg("C2", `{"v":2}`), reg("bad\x00number", `{}`)}, audit: e("m2"), wantErr: ErrInvalid},
		{name: "a register status is refused", register: []IssuedCert{{Number: "C2", Status: "lost"}}, audit: e("m2"), wantErr: ErrInvalid},
		{name: "an audit entry is refused", register: []IssuedCert{reg("C2", `{"v":2}`)},
			audit: []Entry{{Actor: "local", Action: "send", Subject: "m2", Details: map[string]string{"password": "x"}}}, wantErr: ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTest(t, newFakeClock())
			ob, is := db.Outbox(), db.Issued()
			if err := ob.EnqueueRegistered(ctx, []IssuedCert{reg("C1", `{"v":1}`)}, e("m1"), issue("m1", "C1")); err != nil {
				t.Fatal(err)
			}
			db.hookEnqueueMid, db.hookBeforeCommit = tc.mid, tc.commit
			err := ob.EnqueueRegistered(ctx, tc.register, tc.audit, issue("m2", "C2"))
			db.hookEnqueueMid, db.hookBeforeCommit = nil, nil
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			// Nothing of the failed submission is stored.
			if _, err := ob.Get(ctx, "m2"); !errors.Is(err, ErrNotFound) {
				t.Errorf("message m2 stored although the submission failed: %v", err)
			}
			if _, err := is.Get(ctx, "C2"); !errors.Is(err, ErrNotFound) {
				t.Errorf("C2 registered although the submission failed: %v", err)
			}
			if r, err := is.Get(ctx, "C1"); err != nil || r.Status != CertIssued {
				t.Errorf("C1 changed by the failed submission: %+v %v", r, err)
			}
			if got := fmt.Sprint(auditActions(t, db)); got != "[send m1]" {
				t.Errorf("audit entries %s, want [send m1]", got)
			}
			// The client's retry (same ids) succeeds: no "already sent".
			if err := ob.EnqueueRegistered(ctx, []IssuedCert{reg("C2", `{"v":2}`), replaced("C1", "C2")}, e("m2"), issue("m2", "C2")); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if r, err := is.Get(ctx, "C2"); err != nil || r.Status != CertIssued || string(r.Data) != `{"v":2}` || r.Token == "" {
				t.Errorf("C2 after the retry: %+v %v", r, err)
			}
			if r, err := is.Get(ctx, "C1"); err != nil || r.Status != CertReplaced || r.ReplacedBy != "C2" {
				t.Errorf("C1 after the retry: %+v %v", r, err)
			}
			verifyChain(t, db, 2)
		})
	}
}

// TestEnqueueRegisteredRefused: an enqueue refused as already sent or as
// a conflict does not touch the register or the audit log; the same ids
// again (a producer retrying) write nothing new.
func TestEnqueueRegisteredRefused(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t, newFakeClock())
	ob, is := db.Outbox(), db.Issued()
	m := msg("m1", "VN", "C1", 1, "issue", "<eco>1</eco>")
	m.Exclusive = true
	first := IssuedCert{Country: "IN", Number: "C1", Version: 1, Data: []byte(`{"first":true}`)}
	if err := ob.EnqueueRegistered(ctx, []IssuedCert{first}, []Entry{{Actor: "local", Action: "send", Subject: "m1"}}, m); err != nil {
		t.Fatal(err)
	}
	before, err := is.Get(ctx, "C1")
	if err != nil {
		t.Fatal(err)
	}
	other := IssuedCert{Country: "IN", Number: "C1", Version: 1, Data: []byte(`{"first":false}`)}
	m2 := m
	m2.ID, m2.Content = "m2", []byte("<eco>other</eco>")
	var dup *AlreadySentError
	if err := ob.EnqueueRegistered(ctx, []IssuedCert{other}, []Entry{{Actor: "local", Action: "send", Subject: "m2"}}, m2); !errors.As(err, &dup) || dup.ID != "m1" {
		t.Fatalf("second submission: %v, want already sent as m1", err)
	}
	m3 := m
	m3.Content = []byte("<eco>conflict</eco>")
	if err := ob.EnqueueRegistered(ctx, []IssuedCert{other}, []Entry{{Actor: "local", Action: "send", Subject: "m1-conflict"}}, m3); !errors.Is(err, ErrConflict) {
		t.Fatalf("same id, other content: %v", err)
	}
	if err := ob.EnqueueRegistered(ctx, []IssuedCert{other}, []Entry{{Actor: "local", Action: "send", Subject: "m1-again"}}, m); err != nil {
		t.Fatalf("same id and content again: %v", err)
	}
	after, err := is.Get(ctx, "C1")
	if err != nil || string(after.Data) != string(before.Data) || !after.Updated.Equal(before.Updated) || after.Token != before.Token {
		t.Fatalf("register changed by refused or repeated submissions: %+v -> %+v (%v)", before, after, err)
	}
	if got := fmt.Sprint(auditActions(t, db)); got != "[send m1]" {
		t.Fatalf("audit entries %s", got)
	}
}

// TestEnqueueRegisteredConcurrent: submissions sharing group commits, one
// of them failing between its steps; every other one is whole, the failed
// one absent. Run with -race.
func TestEnqueueRegisteredConcurrent(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t, newFakeClock())
	ob, is := db.Outbox(), db.Issued()
	db.hookEnqueueMid = func(number string) error {
		if strings.HasSuffix(number, "-13") {
			return errors.New("killed (simulated)")
		}
		return nil
	}
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			num := fmt.Sprintf("CC-%d", i)
			m := msg("m-"+num, "VN", num, 1, "issue", "<eco>"+num+"</eco>")
			m.Exclusive = true
			errs[i] = ob.EnqueueRegistered(ctx, []IssuedCert{{Country: "IN", Number: num, Version: 1, Data: []byte(`{}`)}},
				[]Entry{{Actor: "local", Action: "send", Subject: m.ID}}, m)
		}()
	}
	wg.Wait()
	db.hookEnqueueMid = nil
	for i, err := range errs {
		num := fmt.Sprintf("CC-%d", i)
		_, gerr := ob.Get(ctx, "m-"+num)
		_, rerr := is.Get(ctx, num)
		if i == 13 {
			if err == nil || !errors.Is(gerr, ErrNotFound) || !errors.Is(rerr, ErrNotFound) {
				t.Errorf("%s: failed submission half-done: err %v, message %v, register %v", num, err, gerr, rerr)
			}
			continue
		}
		if err != nil || gerr != nil || rerr != nil {
			t.Errorf("%s: err %v, message %v, register %v", num, err, gerr, rerr)
		}
	}
	verifyChain(t, db, n-1)
}
