package customs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
)

// BenchmarkCheck runs POST /customs/v1/checks in process (router, bearer
// token, JSON in and out, one bbolt read transaction) against N stored
// views, each check on another certificate.
func BenchmarkCheck(b *testing.B) { benchCheck(b, []int{1000, 100_000}, false) }

// BenchmarkCheckNoIndex is BenchmarkCheck with the views read from the
// bbolt file (dataViewMemoryMiB: 0), through pooled read transactions.
func BenchmarkCheckNoIndex(b *testing.B) {
	defer func(m int) { envViewMemory = m }(envViewMemory)
	envViewMemory = 0
	benchCheck(b, []int{1000, 100_000}, false)
}

// BenchmarkCheckSignerRecheck is BenchmarkCheck with every view carrying
// its signer chain and the partner's trust configured: each check also
// re-evaluates the chain against the CRLs loaded now (from the cache per
// chain and trust generation).
func BenchmarkCheckSignerRecheck(b *testing.B) { benchCheck(b, []int{1000}, true) }

func benchCheck(b *testing.B, sizes []int, recheck bool) {
	for _, n := range sizes {
		func() {
			var opts []envOpt
			pki := testPKI(b)
			var chain []byte
			if recheck {
				trust := &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert},
					RevocationLists: []*x509.RevocationList{crlOf(b, pki.Root, time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)), crlOf(b, pki.Intermediate, time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC))}}
				opts = append(opts, func(o *Options) { o.SignerTrust = func(string) certs.TrustStore { return trust } })
				chain = chainDER([]*x509.Certificate{pki.SignerECDSA.Cert, pki.Intermediate.Cert, pki.Root.Cert})
			}
			e := newEnv(b, opts...)
			c := testCert(b, "X")
			i := 0
			err := e.db.Customs().SeedViews(10000, func(put func(country, number string, view []byte, chain ...[]byte) error) bool {
				c.Header.ID = "IN-B-" + strconv.Itoa(i)
				v, err := ViewOf(c, validReport, nil, e.clock.Now())
				if err != nil {
					b.Fatal(err)
				}
				v.Chain = chain
				vb, _ := v.Encode()
				if err := put("IN", c.Header.ID, vb, chain); err != nil {
					b.Fatal(err)
				}
				i++
				return i < n
			})
			if err != nil {
				b.Fatal(err)
			}
			tok := e.token(ScopeCheck)
			h := e.svc.Routes()
			bodies := make([][]byte, 1024)
			for j := range bodies {
				r := baseReq(item(2, "090111", "10", "KGM"), item(1, "020230", "100", "KGM"))
				r.CertificateNumber = "IN-B-" + strconv.Itoa((j*7919)%n)
				bodies[j], _ = json.Marshal(r)
			}
			b.Run("views="+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					j := 0
					w := httptest.NewRecorder()
					for pb.Next() {
						req, _ := http.NewRequestWithContext(context.Background(), "POST", "/customs/v1/checks", bytes.NewReader(bodies[j%len(bodies)]))
						req.Header.Set("Authorization", "Bearer "+tok)
						w.Body.Reset()
						w.Code = 0
						h.ServeHTTP(w, req)
						j++
					}
				})
			})
			w := httptest.NewRecorder()
			req, _ := http.NewRequest("POST", "/customs/v1/checks", bytes.NewReader(bodies[0]))
			req.Header.Set("Authorization", "Bearer "+tok)
			h.ServeHTTP(w, req)
			if !bytes.Contains(w.Body.Bytes(), []byte(`"verdict":"AUTHENTIC"`)) || recheck != bytes.Contains(w.Body.Bytes(), []byte(`"signer":{"valid":true`)) {
				b.Fatalf("check answered %s", w.Body)
			}
		}()
	}
}
