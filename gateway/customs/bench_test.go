package customs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkCheck runs POST /customs/v1/checks in process (router, bearer
// token, JSON in and out, one bbolt read transaction) against N stored
// views, each check on another certificate.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		func() {
			e := newEnv(b)
			c := testCert(b, "X")
			i := 0
			err := e.db.Customs().SeedViews(10000, func(put func(country, number string, view []byte) error) bool {
				c.Header.ID = "IN-B-" + strconv.Itoa(i)
				v, err := ViewOf(c, validReport, nil, e.clock.Now())
				if err != nil {
					b.Fatal(err)
				}
				vb, _ := v.Encode()
				if err := put("IN", c.Header.ID, vb); err != nil {
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
			if !bytes.Contains(w.Body.Bytes(), []byte(`"verdict":"AUTHENTIC"`)) {
				b.Fatalf("check answered %s", w.Body)
			}
		}()
	}
}
