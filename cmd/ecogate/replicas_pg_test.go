package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/internal/pgtest"
	"github.com/ecogate/ecogate/internal/samplecert"
	"github.com/ecogate/ecogate/store"
)

// The multi-replica test: two `ecogate serve` processes for IN on one
// PostgreSQL database (no load balancer: the test alternates its requests
// between them), VN as a third process (bbolt) receiving. While e-COs are
// submitted, one replica at a time is killed with SIGKILL (mid-send: the
// delivery workers are busy) and restarted, at least ten times. Then every
// accepted e-CO must be registered, delivered, and in VN's inbox exactly
// once; every queued message delivered; and `ecogate audit verify
// --config` must find IN's one audit chain intact.
const replicaKills = 10

// replicaECOs is how many e-COs the test submits (ECOGATE_REPLICA_ECOS
// overrides; the full run is 2000).
func replicaECOs() int {
	if n, err := strconv.Atoi(os.Getenv("ECOGATE_REPLICA_ECOS")); err == nil && n > 0 {
		return n
	}
	return 300
}

// writeReplicaConfig writes a copy of the node configuration base beside
// it with the given values set (dotted keys).
func writeReplicaConfig(t *testing.T, base, name string, set map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		sec, key, _ := strings.Cut(k, ".")
		sm, _ := m[sec].(map[string]any)
		if sm == nil {
			sm = map[string]any{}
			m[sec] = sm
		}
		sm[key] = v
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(filepath.Dir(base), name)
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplicasKill9OnPostgres is the multi-replica crash test.
func TestReplicasKill9OnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("replica crash test skipped in -short mode")
	}
	dsn := pgtest.DSN(t)
	bin := buildEcogate(t)
	dir := t.TempDir()
	sites := []devsite.Site{
		{Country: "IN", Name: "India (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "in")},
		{Country: "VN", Name: "Viet Nam (test)", PartnerAddr: freeAddr(t), LocalAddr: freeAddr(t), Dir: filepath.Join(dir, "vn")},
	}
	if err := devsite.Write(sites, devsite.Retry{Attempts: 1000, InitialInterval: time.Second, MaxInterval: 2 * time.Second, MaxAge: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	var reps []*nodeProcess
	for i, name := range []string{"replica-a.yaml", "replica-b.yaml"} {
		set := map[string]any{"store.engine": "postgres", "store.dsn": dsn, "store.migrate": true,
			"delivery.lease": "2s", "delivery.pollInterval": "100ms", "delivery.workers": 8, "log.level": "warn"}
		local := sites[0].LocalAddr
		if i == 1 {
			local = freeAddr(t)
			set["listen.partner"], set["listen.local"] = freeAddr(t), local
			set["listen.customs"], set["listen.public"] = freeAddr(t), freeAddr(t)
		}
		set["listen.local"] = local
		cfg := writeReplicaConfig(t, sites[0].ConfigPath(), name, set)
		reps = append(reps, &nodeProcess{bin: bin, config: cfg, local: local})
	}
	vn := &nodeProcess{bin: bin, config: sites[1].ConfigPath(), local: sites[1].LocalAddr}
	vn.start(t)
	for _, r := range reps {
		r.start(t)
	}

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 3))
	total := replicaECOs()
	var (
		mu         sync.Mutex
		acked      = map[string]string{}
		unanswered = map[string][]byte{}
		next       int
		up         = [2]bool{true, true}
	)
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 20 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= total {
					mu.Unlock()
					return
				}
				next++
				n := next
				r := reps[(n+w)%2] // alternate between the replicas
				mu.Unlock()
				number := fmt.Sprintf("IN-REP-%06d", n)
				doc, err := samplecert.XML(number, 1, "IN", "VN")
				if err != nil {
					t.Error(err)
					return
				}
				a, err := submitDoc(hc, r.local, doc)
				mu.Lock()
				switch {
				case err != nil || a.status >= 500:
					unanswered[number] = doc
				case a.status == http.StatusAccepted:
					acked[number] = a.id
				default:
					t.Errorf("submission of %s answered %d %s", number, a.status, a.code)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	// Kill one replica at a time, mid-send, and restart it.
	for k := range replicaKills {
		time.Sleep(time.Duration(150+rng.IntN(400)) * time.Millisecond)
		i := k % 2
		mu.Lock()
		up[i] = false
		mu.Unlock()
		reps[i].kill(t)
		reps[i].start(t)
		mu.Lock()
		up[i] = true
		mu.Unlock()
	}
	wg.Wait()
	t.Logf("%d kills; %d submissions answered 202, %d unanswered", replicaKills, len(acked), len(unanswered))

	// The client retries every unanswered submission (on either replica).
	for number, doc := range unanswered {
		a, err := submitDoc(hc, reps[rng.IntN(2)].local, doc)
		if err != nil {
			t.Fatalf("retry of %s: %v", number, err)
		}
		switch {
		case a.status == http.StatusAccepted:
			acked[number] = a.id
		case a.status == http.StatusConflict && a.code == gateway.CodeAlreadySent:
			acked[number] = ""
		default:
			t.Errorf("retry of %s answered %d %s", number, a.status, a.code)
		}
	}

	// Every message is delivered (the replicas share the work).
	ctx := context.Background()
	pg, err := store.OpenPG(ctx, store.PGOptions{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c, err := pg.Outbox().CountByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all := 0
		for _, v := range c {
			all += v
		}
		if all >= len(acked) && c[store.StateDelivered] == all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all delivered after 3 min: %v (accepted %d)", c, len(acked))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Every face answers from both replicas: the register through each
	// local API.
	for number := range acked {
		for _, r := range reps {
			if st, cs := issuedStatus(t, hc, r.local, number); st != http.StatusOK || cs != store.CertIssued {
				t.Fatalf("accepted certificate %s: GET /api/v1/issued on %s answers %d (status %q)", number, r.local, st, cs)
			}
		}
	}
	for _, r := range reps {
		r.stop(t)
	}
	vn.stop(t)

	recs, err := pg.Outbox().List(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	perCert := map[string]int{}
	resent := 0
	for _, r := range recs {
		perCert[r.CertNumber]++
		if r.Attempts > 1 {
			resent++
		}
	}
	for number := range acked {
		if perCert[number] != 1 {
			t.Errorf("accepted certificate %s is queued %d times", number, perCert[number])
		}
	}
	t.Logf("%d messages, %d sent more than once (claims of killed replicas taken over after the lease)", len(recs), resent)

	// VN's inbox: each certificate exactly once.
	vdb, err := store.Open(filepath.Join(sites[1].Dir, "data", "ecogate.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vdb.Close()
	got, err := vdb.Inbox().List(ctx, store.StateDelivered, 0)
	if err != nil {
		t.Fatal(err)
	}
	inVN := map[string]int{}
	for _, r := range got {
		inVN[r.CertNumber]++
	}
	for number := range perCert {
		if inVN[number] != 1 {
			t.Errorf("certificate %s is in VN's inbox %d times, want 1", number, inVN[number])
		}
	}
	if len(got) != len(perCert) {
		t.Errorf("VN holds %d messages, IN sent %d certificates", len(got), len(perCert))
	}

	var out, errb bytes.Buffer
	cmd := exec.Command(bin, "audit", "verify", "--config", reps[0].config)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || !strings.HasPrefix(out.String(), "ok: audit chain of ") {
		t.Fatalf("ecogate audit verify --config: %v\n%s%s", err, out.String(), errb.String())
	}
	t.Log(strings.TrimSpace(out.String()))
}
