package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
			// A revoked client's certificate is never bound again.
			if code, out, errs := add(cert); code == exitOK || !strings.Contains(errs, "which is revoked") || !strings.Contains(errs, "issue a new certificate") {
				t.Fatalf("add after revoke: %d\n%s%s", code, out, errs)
			}
			cls := e.clients(t)
			if len(cls) != 1 || cls[0].CertSHA256 != fp || cls[0].Revoked.IsZero() || cls[0].SecretHash != "" {
				t.Fatalf("stored %+v", cls)
			}
			if code, _, errs := opsRunCmd(t, runCustomsClients, "list", "--config", e.config, "--cert", cert); code != exitUsage || !strings.Contains(errs, "--cert is for add and renew only") {
				t.Fatalf("list --cert: %d %s", code, errs)
			}
		})
	}
}

// issueRenewal writes a renewal of the development PKI's TLS client
// certificate (a new ECDSA key, issued by its root) into dir and returns
// the certificate file and its fingerprint.
func issueRenewal(t *testing.T, pki, dir string) (string, string) {
	t.Helper()
	key, chain, err := certs.LoadKeyPair(filepath.Join(pki, certs.FileRootKey), filepath.Join(pki, certs.FileRootCert), "", "")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "VNACCS 2027"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, chain[0], k.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "renewed-cert.pem")
	if err := os.WriteFile(f, certs.CertPEM(c), 0o644); err != nil {
		t.Fatal(err)
	}
	return f, customs.CertFingerprint(c)
}

// TestCustomsClientsRenew renews a certificate client from the command
// line on both engines (--config, node stopped): renew --cert binds the
// next certificate (list shows both), --finish ends the old binding,
// refusals (its current certificate, nothing to do, an unknown or revoked
// client, no renewal to finish) say why with the right exit code.
func TestCustomsClientsRenew(t *testing.T) {
	base, _ := importSite(t)
	pki := filepath.Join(filepath.Dir(base), "pki")
	cert := filepath.Join(pki, certs.FileTLSClientCert)
	cb, _ := os.ReadFile(cert)
	c, err := customs.ParseClientCert(cb)
	if err != nil {
		t.Fatal(err)
	}
	fp := customs.CertFingerprint(c)
	next, nextFP := issueRenewal(t, pki, t.TempDir())
	pgCfg := writeReplicaConfig(t, base, "pg.yaml", map[string]any{"store.engine": "postgres", "store.dsn": pgtest.DSN(t), "store.migrate": true,
		"customs.clientCAs": []string{"pki/" + certs.FileRootCert}})
	for _, e := range []struct {
		name, config string
		warn         bool
	}{{"bbolt", base, true}, {"postgres", pgCfg, false}} {
		t.Run(e.name, func(t *testing.T) {
			run := func(args ...string) (int, string, string) {
				return opsRunCmd(t, runCustomsClients, append([]string{args[0], "--config", e.config}, args[1:]...)...)
			}
			code, out, errs := run("add", "--scopes", "customs:check", "--cert", cert, "VNACCS")
			m := regexp.MustCompile(`client_id:\s+(\S+)\n`).FindStringSubmatch(out)
			if code != exitOK || m == nil {
				t.Fatalf("add: %d\n%s%s", code, out, errs)
			}
			id := m[1]
			for _, tc := range []struct {
				name     string
				args     []string
				code     int
				out, err string
			}{
				{"nothing to do", []string{"renew", id}, exitUsage, "", "give --cert FILE"},
				{"its current certificate", []string{"renew", "--cert", cert, id}, exitFail, "", "current certificate"},
				{"unknown client", []string{"renew", "--cert", next, "cc-nobody"}, exitFail, "", "not found"},
				{"finish without a renewal", []string{"renew", "--finish", id}, exitFail, "", "no certificate renewal"},
				{"--finish on add", []string{"add", "--scopes", "customs:check", "--finish", "X"}, exitUsage, "", "--finish is for renew only"},
				{"--scopes on renew", []string{"renew", "--scopes", "customs:check", "--cert", next, id}, exitUsage, "", "--scopes is for add only"},
				{"renew", []string{"renew", "--cert", next, id}, exitOK, "next_sha256:   " + nextFP, ""},
				{"again", []string{"renew", "--cert", next, id}, exitOK, "next_sha256:   " + nextFP, ""},
				{"list shows both", []string{"list"}, exitOK, "cert sha256:" + fp + " (expires " + c.NotAfter.Format(time.DateOnly) + ") + next sha256:" + nextFP, ""},
				{"finish", []string{"renew", "--finish", id}, exitOK, "cert_sha256:   " + nextFP, ""},
				{"list after", []string{"list"}, exitOK, "cert sha256:" + nextFP + " (expires", ""},
				{"revoke", []string{"revoke", id}, exitOK, "revoked", ""},
				{"a revoked client", []string{"renew", "--cert", cert, id}, exitFail, "", "revoked"},
			} {
				code, out, errs := run(tc.args...)
				if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
					t.Fatalf("%s: %d\n%s%s", tc.name, code, out, errs)
				}
				if tc.name == "renew" && strings.Contains(errs, "renew: warning: ") != e.warn {
					t.Fatalf("renew: CA warning %v, want %v: %s", !e.warn, e.warn, errs)
				}
				if tc.name == "list after" && strings.Contains(out, "next sha256") {
					t.Fatalf("list after the renewal still shows a next certificate:\n%s", out)
				}
			}
		})
	}
}
