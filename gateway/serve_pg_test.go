package gateway

import (
	"context"
	"net/http"
	"testing"

	"github.com/ecogate/ecogate/internal/pgtest"
)

// TestCustomsEndToEndPostgres is TestCustomsEndToEnd with both nodes
// built by Config.Open on store.engine: postgres (what `ecogate serve`
// runs): partner API, local API, customs API, verification queries and
// the public page all work on the PostgreSQL engine.
func TestCustomsEndToEndPostgres(t *testing.T) {
	dsnIN, dsnVN := pgtest.DSN(t), pgtest.DSN(t)
	n := 0
	in, vn := faceNodesOn(t, func(c *Config) {
		c.Store.Engine, c.Store.Migrate = EnginePostgres, true
		c.Store.DSN = []string{dsnIN, dsnVN}[n]
		n++
	})
	if in.inst.PG == nil || vn.inst.PG == nil || in.inst.DB != nil {
		t.Fatalf("the nodes do not run on PostgreSQL")
	}
	customsEndToEnd(t, in, vn)
	// The QR link of a certificate IN issued answers from the register on
	// PostgreSQL.
	n2, err := in.inst.PG.Audit().Verify(context.Background())
	if err != nil || n2 == 0 {
		t.Fatalf("IN audit chain: %d %v", n2, err)
	}
	resp, err := http.Get(in.publicURL() + "/verify")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
