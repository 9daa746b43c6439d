package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/internal/pgtest"
	"github.com/ecogate/ecogate/store"
)

// TestCustomsClientsCert registers a client by its client certificate
// (--cert) on both engines through --config with the node stopped: no
// secret is printed, list shows the certificate's SHA-256, the same
// certificate cannot be bound twice while its client is active, a file
// holding a private key is refused, and after revoke the certificate can be
// bound to a new client. Without customs.clientCAs add warns that the node
// asks for no certificate.
func TestCustomsClientsCert(t *testing.T) {
	base, _ := importSite(t)
	pki := filepath.Join(filepath.Dir(base), "pki")
	cert := filepath.Join(pki, certs.FileTLSClientCert)
	withKey := filepath.Join(t.TempDir(), "cert-and-key.pem")
	cb, _ := os.ReadFile(cert)
	kb, _ := os.ReadFile(filepath.Join(pki, certs.FileTLSClientKey))
	if err := os.WriteFile(withKey, append(cb, kb...), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := customs.ParseClientCert(cb)
	if err != nil {
		t.Fatal(err)
	}
	fp := customs.CertFingerprint(c)
	engines := []struct {
		name, config string
		warn         bool
		clients      func(t *testing.T) []store.CustomsClient
	}{
		{"bbolt", base, true, func(t *testing.T) []store.CustomsClient {
			db, err := store.Open(filepath.Join(filepath.Dir(base), "data", "ecogate.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			cl, err := db.Customs().Clients(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return cl
		}},
	}
	dsn := pgtest.DSN(t)
	pgCfg := writeReplicaConfig(t, base, "pg.yaml", map[string]any{"store.engine": "postgres", "store.dsn": dsn, "store.migrate": true,
		"customs.clientCAs": []string{"pki/" + certs.FileRootCert}})
	engines = append(engines, struct {
		name, config string
		warn         bool
		clients      func(t *testing.T) []store.CustomsClient
	}{"postgres", pgCfg, false, func(t *testing.T) []store.CustomsClient {
		pg, err := store.OpenPG(context.Background(), store.PGOptions{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		cl, err := pg.Customs().Clients(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}})
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			add := func(file string) (int, string, string) {
				return opsRunCmd(t, runCustomsClients, "add", "--config", e.config, "--scopes", "customs:check,customs:read", "--cert", file, "VNACCS")
			}
			code, out, errs := add(cert)
			m := regexp.MustCompile(`client_id:\s+(\S+)\n`).FindStringSubmatch(out)
			if code != exitOK || m == nil || !strings.Contains(out, "cert_sha256:   "+fp) || strings.Contains(out, "client_secret") {
				t.Fatalf("add --cert: %d\n%s%s", code, out, errs)
			}
			if warned := strings.Contains(errs, "no customs.clientCAs"); warned != e.warn {
				t.Fatalf("warning %v, want %v: %s", warned, e.warn, errs)
			}
			id := m[1]
			for _, tc := range []struct {
				name, file, want string
			}{
				{"the same certificate again", cert, "already bound to client " + id},
				{"a file with the private key", withKey, "PRIVATE KEY"},
				{"a CA certificate", filepath.Join(pki, certs.FileRootCert), "CA certificate"},
				{"no such file", filepath.Join(pki, "none.pem"), "no such file"},
			} {
				if code, out, errs := add(tc.file); code == exitOK || !strings.Contains(errs, tc.want) {
					t.Fatalf("%s: %d\n%s%s", tc.name, code, out, errs)
				}
			}
			code, out, errs = opsRunCmd(t, runCustomsClients, "list", "--config", e.config)
			if code != exitOK || !strings.Contains(out, "cert sha256:"+fp) || !strings.Contains(out, "AUTH") {
				t.Fatalf("list: %d\n%s%s", code, out, errs)
			}
			if code, _, errs := opsRunCmd(t, runCustomsClients, "revoke", "--config", e.config, id); code != exitOK {
				t.Fatalf("revoke: %s", errs)
			}
			if code, out, errs := add(cert); code != exitOK {
				t.Fatalf("add after revoke: %d\n%s%s", code, out, errs)
			}
			cls := e.clients(t)
			if len(cls) != 2 || cls[0].CertSHA256 != fp || cls[1].CertSHA256 != fp || cls[0].SecretHash != "" {
				t.Fatalf("stored %+v", cls)
			}
			if code, _, errs := opsRunCmd(t, runCustomsClients, "list", "--config", e.config, "--cert", cert); code != exitUsage || !strings.Contains(errs, "--cert is for add only") {
				t.Fatalf("list --cert: %d %s", code, errs)
			}
		})
	}
}
