package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/schema"
	"github.com/ecogate/ecogate/store"
)

// TestHooks: a handler for another message kind, the accepted and
// submitted callbacks, and extra partner and local routes.
func TestHooks(t *testing.T) {
	in, vn, _ := identities(t)
	var accepted, submitted, handled atomic.Int64
	p := newPair(t, fastRetry, func(o *Options) {
		o.OnSubmitted = func(_ context.Context, kind string, c *schema.Certificate, signed []byte) error {
			if kind == KindIssue && c.Header.ID != "" && len(signed) > 0 {
				submitted.Add(1)
			}
			return nil
		}
		o.LocalRoutes = func(root, api chi.Router) {
			api.Get("/issued/{number}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "issued "+chi.URLParam(r, "number")) })
			root.Get("/customs/v1/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
		}
	}, func(o *Options) {
		o.OnAccepted = func(_ context.Context, from, _ string, c *schema.Certificate, rep certs.Report, _ []*x509.Certificate) {
			if from == "IN" && rep.Valid() {
				accepted.Add(1)
			}
		}
		o.Handlers = map[string]InboundHandler{"decision": func(ctx context.Context, p *Partner, env *Envelope) (*InboundResult, error) {
			ver, err := (&CertsVerifier{}).Verify(ctx, p.DocumentTrust, env.Content)
			if err != nil {
				return nil, err
			}
			handled.Add(1)
			if !ver.Valid {
				return &InboundResult{Outcome: FailedDelivery, Report: ver.Report, Error: "bad signature"}, nil
			}
			return &InboundResult{Outcome: Delivered, Report: ver.Report, CertificateNumber: env.CertificateNumber, Version: env.Version}, nil
		}}
		o.PartnerRoutes = func(r chi.Router) {
			r.Get("/whoami", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, PartnerOf(r).Country) })
		}
	})
	ctx := context.Background()
	if _, err := p.in.Node.Submit(ctx, sample(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	// Two "decision" messages about one certificate version: both stored
	// (deduplicated by message id only) and each handled once.
	for _, id := range []string{"dec-1", "dec-2"} {
		doc := signedSample(t, in, 1) // any signed document stands in for an ImportOutcome here
		if err := p.in.DB.Outbox().Enqueue(ctx, store.OutMessage{ID: id, Partner: "VN", CertNumber: sampleNumber(1), Version: 1, Kind: "decision", Content: doc}); err != nil {
			t.Fatal(err)
		}
	}
	p.in.Node.Kick()
	waitFor(t, 20*time.Second, "delivered", func() bool { return countState(t, p.in, store.StateDelivered) == 3 })
	if submitted.Load() != 1 || accepted.Load() != 1 || handled.Load() != 2 {
		t.Fatalf("submitted %d accepted %d handled %d", submitted.Load(), accepted.Load(), handled.Load())
	}
	rec, err := p.vn.DB.Inbox().Get(ctx, "dec-2")
	if err != nil || rec.Kind != "decision" || rec.Outcome != store.StateDelivered {
		t.Fatalf("decision record %+v %v", rec, err)
	}
	c := partnerClient(in, vn.PKI.Root.Cert)
	resp, err := c.Get(p.vn.PartnerURL + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "IN" {
		t.Fatalf("whoami: %d %s", resp.StatusCode, b)
	}
	for path, want := range map[string]string{"/api/v1/issued/X1": "issued X1", "/customs/v1/ping": "pong"} {
		resp, err := http.Get(p.in.LocalURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
}

// TestCheckViewInAcceptTx: with a CheckView hook and the bbolt inbox, the
// view of an accepted e-CO is stored in the transaction that accepts it
// (store.TestAcceptStoresCheckView: one commit), based on that message,
// and OnAccepted is not called for it; a view that cannot be built only
// loses the eager view (OnAccepted is called instead).
func TestCheckViewInAcceptTx(t *testing.T) {
	for _, tc := range []struct {
		name     string
		view     func() ([]byte, error)
		wantView string
		accepted int64
	}{
		{"no hook", nil, "", 1},
		{"view in the accepting transaction", func() ([]byte, error) { return []byte("the view"), nil }, "the view", 0},
		{"view cannot be built", func() ([]byte, error) { return nil, errors.New("no view") }, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var accepted atomic.Int64
			p := newPair(t, fastRetry, nil, func(o *Options) {
				o.OnAccepted = func(context.Context, string, string, *schema.Certificate, certs.Report, []*x509.Certificate) {
					accepted.Add(1)
				}
				if tc.view != nil {
					o.CheckView = func(from string, c *schema.Certificate, _ certs.Report, _ []*x509.Certificate) ([]byte, []byte, error) {
						if from != "IN" || c.Header.ID != sampleNumber(1) {
							return nil, nil, fmt.Errorf("hook called with %s %s", from, c.Header.ID)
						}
						b, err := tc.view()
						return b, nil, err
					}
				}
			})
			ctx := context.Background()
			if _, err := p.in.Node.Submit(ctx, sample(t, 1), nil); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "delivered", func() bool { return countState(t, p.in, store.StateDelivered) == 1 })
			if accepted.Load() != tc.accepted {
				t.Errorf("OnAccepted called %d times, want %d", accepted.Load(), tc.accepted)
			}
			snap := new(store.Snapshot)
			ok, err := p.vn.DB.Customs().Snapshot("IN", sampleNumber(1), nil, snap)
			if err != nil || ok != (tc.wantView != "") || string(snap.View) != tc.wantView || snap.Stale {
				t.Fatalf("stored view: ok=%v %v %q stale=%v", ok, err, snap.View, snap.Stale)
			}
		})
	}
}
