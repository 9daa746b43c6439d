package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway/verify"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/qrsign"
	"github.com/ecogate/ecogate/store"
)

func main() {
	n := flag.Int("n", 1_000_000, "issued certificates in the register")
	data := flag.String("data", "", "bbolt data file (default: $TMPDIR/ecogate-loadverify-N.db, kept for reuse)")
	reqs := flag.Int("requests", 5000, "requests of each kind (fixed number, after the warm-up)")
	warm := flag.Int("warmup", 2000, "warm-up requests of each kind (not measured)")
	conc := flag.Int("c", 4, "concurrent keep-alive clients")
	kinds := flag.String("kinds", "page,token,signed", "request kinds to measure")
	flag.Parse()
	if *data == "" {
		*data = filepath.Join(os.TempDir(), "ecogate-loadverify-"+strconv.Itoa(*n)+".db")
	}
	if err := run(*data, *n, *reqs, *warm, *conc, strings.Split(*kinds, ",")); err != nil {
		log.Fatal(err)
	}
}

// number is the certificate number of record i.
func number(i int) string { return "EIC/LOAD/2026/" + strconv.Itoa(1_000_000_000+i) }

// token is record i's QR token: 128 bits derived from i (random-looking
// and spread over the whole token index, like the real random tokens).
func token(i int) string {
	h := sha256.Sum256([]byte("ecogate-loadverify/" + strconv.Itoa(i)))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// coreData is the stored core data of record i (the fields
// gateway/verify reads, plus the importer as customs.CoreOf stores it).
func coreData(i int) []byte {
	d := map[string]any{"number": number(i), "country": "IN", "issueDate": "2026-06-03", "version": 1,
		"exporter": "Deccan Frozen Foods Pvt Ltd", "importer": "Hai Phong Cold Chain Import Export Company Limited",
		"issuer": "Export Inspection Council of India",
		"items": []map[string]string{
			{"description": "Frozen boneless meat of buffalo", "hsCode": "020230"},
			{"description": "Coffee, not roasted", "hsCode": "090111"},
			{"description": "Wine of fresh grapes", "hsCode": "220421"},
		}}
	b, _ := json.Marshal(d)
	return b
}

func seed(db *store.DB, path string, n int) error {
	marker := path + ".seeded"
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(n) {
		log.Printf("register of %d certificates reused from %s", n, path)
		return nil
	}
	start := time.Now()
	now := start.UTC()
	i := 0
	err := db.Issued().SeedIssued(50_000, func(put func(r *store.IssuedCert) error) bool {
		if err := put(&store.IssuedCert{Country: "IN", Number: number(i), Version: 1, Token: token(i), Status: store.CertIssued,
			Data: coreData(i), Registered: now, Updated: now}); err != nil {
			log.Fatal(err)
		}
		i++
		if i%200_000 == 0 {
			log.Printf("seeded %d certificates (%s)", i, time.Since(start).Round(time.Millisecond))
		}
		return i < n
	})
	if err != nil {
		return err
	}
	st, _ := os.Stat(path)
	log.Printf("seeded %d certificates in %s (data file %d MiB)", n, time.Since(start).Round(time.Millisecond), st.Size()>>20)
	return os.WriteFile(marker, []byte(strconv.Itoa(n)), 0o644)
}

// noIssuance is the issuance read model the public pages never call.
type noIssuance struct{}

func (noIssuance) PortalDashboard(context.Context, issuance.Actor) (*issuance.Dashboard, error) {
	return nil, errors.New("not served by the load tool")
}

func (noIssuance) CertificateFacts(context.Context, issuance.Actor, string) (*issuance.CertificateFacts, error) {
	return nil, errors.New("not served by the load tool")
}

func run(path string, n, reqs, warm, conc int, kinds []string) error {
	db, err := store.Open(path, store.Options{Check: store.CheckNever})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := seed(db, path, n); err != nil {
		return err
	}
	pki, err := certs.NewDevPKI(certs.PKIOptions{Now: time.Now()})
	if err != nil {
		return err
	}
	signer, err := qrsign.NewSigner(pki.QR.Key, pki.QR.Cert)
	if err != nil {
		return err
	}
	qv := &qrsign.Verifier{Certs: []*x509.Certificate{pki.QR.Cert},
		Trust: &certs.TrustSet{AnchorCerts: []*x509.Certificate{pki.Root.Cert}, ExtraIntermediates: []*x509.Certificate{pki.Intermediate.Cert}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	p, err := portal.New(portal.Options{Name: "loadverify", Store: db.Portal(), Issuance: noIssuance{},
		Verify: verify.Options{Country: "IN", Issuer: "Export Inspection Council of India", Register: db.Issued(),
			BaseURL: base, Rate: 1e9, Burst: 1 << 30, QR: qv}})
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc}, Timeout: time.Minute}
	rnd := mrand.New(mrand.NewPCG(1, 2))
	fmt.Printf("register: %d issued certificates, %s; %d requests of each kind, %d concurrent clients, GOMAXPROCS %d\n",
		n, path, reqs, conc, runtime.GOMAXPROCS(0))
	fmt.Printf("%-7s %9s %8s %8s %8s %8s %8s\n", "kind", "req/s", "p50", "p90", "p99", "p99.9", "max")
	for _, kind := range kinds {
		urls := make([]string, warm+reqs)
		nums := make([]string, len(urls))
		for j := range urls {
			i := rnd.IntN(n)
			nums[j] = number(i)
			switch kind {
			case "page":
				urls[j] = base + "/verify?country=IN&number=" + url.QueryEscape(number(i))
			case "token":
				urls[j] = base + "/verify/q/" + token(i)
			case "signed":
				jws, err := signer.Sign(qrsign.Payload{Country: "IN", Number: number(i), Version: 1, IssueDate: "2026-06-03",
					Exporter: "Deccan Frozen Foods Pvt Ltd", Importer: "Hai Phong Cold Chain Import Export Company Limited",
					HS: []string{"020230", "090111", "220421"}, URL: base + "/verify/q/" + token(i)})
				if err != nil {
					return err
				}
				urls[j] = base + "/verify/s/" + jws
			default:
				return fmt.Errorf("unknown kind %q (page, token, signed)", kind)
			}
		}
		if _, _, err := drive(client, urls[:warm], nums[:warm], conc); err != nil {
			return fmt.Errorf("%s warm-up: %w", kind, err)
		}
		lat, wall, err := drive(client, urls[warm:], nums[warm:], conc)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		slices.Sort(lat)
		q := func(f float64) string {
			return fmt.Sprintf("%.2fms", float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Microseconds())/1000)
		}
		fmt.Printf("%-7s %9.0f %8s %8s %8s %8s %8s\n", kind, float64(len(lat))/wall.Seconds(), q(0.50), q(0.90), q(0.99), q(0.999), q(1))
	}
	return nil
}

// drive sends the requests with conc workers and returns each latency.
// Every answer must be 200 and name its certificate.
func drive(client *http.Client, urls, nums []string, conc int) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, len(urls))
	var next int
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				mu.Lock()
				j := next
				next++
				mu.Unlock()
				if j >= len(urls) {
					return
				}
				t0 := time.Now()
				resp, err := client.Get(urls[j])
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				lat[j] = time.Since(t0)
				if err == nil && (resp.StatusCode != http.StatusOK || !strings.Contains(string(body), nums[j])) {
					err = fmt.Errorf("GET %s: status %d, certificate not named: %.300s", urls[j], resp.StatusCode, body)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return lat, time.Since(start), first
}
