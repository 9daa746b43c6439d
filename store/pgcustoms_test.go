package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// TestPGMigrateCertBindings: migration 5 keeps the one binding of clients
// stored by version 4 (the column cu_client.cert_sha256) and, going down,
// gives each client its current binding back (a renewal's next one is
// dropped).
func TestPGMigrateCertBindings(t *testing.T) {
	ctx := context.Background()
	pg := openPGTest(t, nil)
	p, db, err := pg.provider()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := p.DownTo(ctx, 4); err != nil {
		t.Fatalf("down to 4: %v", err)
	}
	fp := func(n int) string { return fmt.Sprintf("%064x", n) }
	for _, cl := range []CustomsClient{
		{ID: "v4cert", Name: "bound in version 4", CertSHA256: fp(1), Scopes: []string{"customs:check"}},
		{ID: "v4secret", Name: "secret", SecretHash: fp(2)},
	} {
		rec, _ := json.Marshal(&cl)
		var col *string
		if cl.CertSHA256 != "" {
			col = &cl.CertSHA256
		}
		if _, err := pg.pool.Exec(ctx, "INSERT INTO cu_client (id, rec, cert_sha256) VALUES ($1, $2, $3)", cl.ID, rec, col); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	c := pg.Customs()
	if cl, err := c.ClientByCert(ctx, fp(1)); err != nil || cl.ID != "v4cert" {
		t.Fatalf("a version 4 binding after the migration: %+v %v", cl, err)
	}
	if _, err := c.RenewClientCert(ctx, "v4cert", ClientCert{SHA256: fp(3)}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddClient(ctx, CustomsClient{ID: "v4other", CertSHA256: fp(1)}); err == nil {
		t.Fatal("a version 4 binding is not unique after the migration")
	}
	if _, err := p.DownTo(ctx, 4); err != nil {
		t.Fatalf("down to 4 again: %v", err)
	}
	var got *string
	if err := pg.pool.QueryRow(ctx, "SELECT cert_sha256 FROM cu_client WHERE id = 'v4cert'").Scan(&got); err != nil || got == nil || *got != fp(1) {
		t.Fatalf("version 4 binding after going down: %v %v", got, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if cl, err := c.ClientByCert(ctx, fp(1)); err != nil || cl.ID != "v4cert" || cl.NextCertSHA256 != "" {
		t.Fatalf("after down and up: %+v %v", cl, err)
	}
	if _, err := c.FinishClientRenewal(ctx, "v4cert", ""); err == nil {
		t.Fatal("the renewal dropped going down can still finish")
	}
}
