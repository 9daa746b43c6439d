package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/store"
)

// revokeInSite revokes a certificate of a dev site's PKI (its CA's CRL
// file, which the other site's registry lists) and returns the file.
func revokeInSite(t *testing.T, s devsite.Site, certFile string) string {
	t.Helper()
	pki := filepath.Join(s.Dir, "pki")
	cs, err := readCertFile(filepath.Join(pki, certFile))
	if err != nil {
		t.Fatal(err)
	}
	f, err := certs.RevokeInDevPKI(pki, cs[0], time.Now().Add(-time.Minute), 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTLSRevocation runs two nodes from their configuration files (the
// dev registries list each other's root CRL under tls.crls): IN's
// delivery to VN fails with a clear reason once IN has loaded the CRL that
// revokes VN's TLS server certificate; VN's partner API accepts IN's
// client certificate, then refuses it (403 client-certificate-revoked)
// once VN has reloaded the CRL that revokes it.
func TestTLSRevocation(t *testing.T) {
	in, vn := faceNodes(t)
	ctx := context.Background()
	hc := &http.Client{Timeout: 10 * time.Second}

	// Delivery to a revoked server certificate.
	revokeInSite(t, vn.site, certs.FileTLSServerCert)
	if err := in.inst.Watcher.Reload(); err != nil {
		t.Fatal(err)
	}
	resp, body := post(t, hc, in.localURL()+"/api/v1/outbound", "application/xml", sample(t, 7))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	var sub SubmitResult
	_ = json.Unmarshal(body, &sub)
	var rec *store.OutRecord
	waitFor(t, 20*time.Second, "a failed delivery attempt", func() bool {
		r, err := in.inst.DB.Outbox().Get(ctx, sub.Messages[0].ID)
		rec = r
		return err == nil && r.LastErr != ""
	})
	if rec.State == store.StateDelivered || !strings.Contains(rec.LastErr, "TLS server certificate of partner VN is refused") ||
		!strings.Contains(rec.LastErr, "revoked") {
		t.Fatalf("delivery to a revoked server certificate: state %s, last error %q", rec.State, rec.LastErr)
	}

	// A revoked client certificate at the partner API.
	root, err := readCertFile(filepath.Join(vn.site.Dir, "pki", certs.FileRootCert))
	if err != nil {
		t.Fatal(err)
	}
	client, err := tls.LoadX509KeyPair(filepath.Join(in.site.Dir, "pki", certs.FileTLSClientCert), filepath.Join(in.site.Dir, "pki", certs.FileTLSClientKey))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root[0])
	pc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{client}, MinVersion: tls.VersionTLS12}}}
	profile := "https://" + vn.site.PartnerAddr + "/eco/v1/profile"
	get := func() (int, Problem) {
		t.Helper()
		resp, err := pc.Get(profile)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var pr Problem
		_ = json.NewDecoder(resp.Body).Decode(&pr)
		return resp.StatusCode, pr
	}
	if status, pr := get(); status != http.StatusOK {
		t.Fatalf("before revocation: %d %+v", status, pr)
	}
	revokeInSite(t, in.site, certs.FileTLSClientCert)
	if status, _ := get(); status != http.StatusOK {
		t.Fatalf("the CRL counts before VN reloads its registry: %d", status)
	}
	if err := vn.inst.Watcher.Reload(); err != nil {
		t.Fatal(err)
	}
	// The same kept-alive connection is refused from the next request on.
	status, pr := get()
	if status != http.StatusForbidden || pr.Code != CodeRevokedClientCert || !strings.Contains(pr.Error, "revoked") {
		t.Fatalf("after revocation and reload: %d %+v", status, pr)
	}
	// The refusal is audited with the reason.
	entries, err := vn.inst.DB.Audit().Entries(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Action == "refuse" && e.Details["code"] == CodeRevokedClientCert && strings.Contains(e.Details["detail"], "revoked") {
			found = true
		}
	}
	if !found {
		t.Error("no audit entry for the refused revoked client certificate")
	}
}

// TestStaticDirectoryTLSCRLs: the in-memory directory applies a partner's
// TLS CRLs too, and says why it refuses.
func TestStaticDirectoryTLSCRLs(t *testing.T) {
	in, _, _ := identities(t)
	now := time.Now()
	chain := []*x509.Certificate{in.PKI.TLSClient.Cert, in.PKI.Root.Cert}
	crl := func(revoked ...*x509.Certificate) []*x509.RevocationList {
		b, err := certs.IssueCRL(in.PKI.Root, revoked, now.Add(-time.Hour), now.Add(time.Hour), now.Unix())
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		l, err := x509.ParseRevocationList(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.RevocationList{l}
	}
	for _, tc := range []struct {
		name string
		crls []*x509.RevocationList
		code string
	}{
		{"no CRL", nil, ""},
		{"CRL without it", crl(in.PKI.TLSServer.Cert), ""},
		{"revoked", crl(in.PKI.TLSClient.Cert), CodeRevokedClientCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := in.AsPartner("https://in.example/eco/v1", fastRetry, "AIFTA")
			q.TLSCRLs = tc.crls
			d := NewStaticDirectory(q)
			got, err := d.MatchClientCert(chain)
			if tc.code == "" {
				if err != nil || got == nil || d.ByClientCert(chain) == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if code, _ := refusalOf(err); got != nil || code != tc.code || d.ByClientCert(chain) != nil {
				t.Fatalf("got %v, %v (code %s), want %s", got, err, code, tc.code)
			}
		})
	}
	if _, err := NewStaticDirectory().MatchClientCert(chain); err == nil || refusalCode(err) != CodeUnknownPartner {
		t.Fatalf("unknown: %v", err)
	}
}

func refusalCode(err error) string { c, _ := refusalOf(err); return c }

func readCertFile(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return certs.ParseCertificates(b)
}
