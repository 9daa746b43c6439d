package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/store"
)

func main() {
	serve := flag.Bool("serve", false, "run as the server (child process)")
	n := flag.Int("n", 10000, "number of stored check views")
	data := flag.String("data", "", "bbolt data file (default: $TMPDIR/ecogate-loadcheck-N.db, kept for reuse)")
	conc := flag.Int("c", 64, "concurrent keep-alive clients")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up before measuring")
	items := flag.Int("items", 2, "declared lines per check")
	cpuProfile := flag.String("cpuprofile", "", "write the server's CPU profile to `FILE`")
	useTLS := flag.Bool("tls", false, "serve over TLS 1.3 (HTTP/1.1 keep-alive)")
	trivial := flag.Bool("trivial", false, "serve the trivial reference handler (the same answer bytes, no check)")
	compare := flag.Int("compare", 0, "run the real and the trivial server alternately `K` times each and print the ratio")
	inbound := flag.Bool("inbound", false, "seed as a receiving node stores certificates: each view arrives with an accepted inbound message and its issued status (Inbox.Accept), so the inbox index and the status records hold an entry per certificate")
	flag.BoolVar(&withChain, "chain", false, "store each view with the development PKI's ECDSA signer chain (signer, intermediate, root: 1.4 KB) and re-check that chain at every check against the PKI's root and CRLs, as a receiving node does (the PKI is kept beside the data file)")
	flag.IntVar(&viewMemMiB, "viewmem", gateway.DefaultViewMemory()>>20, "memory for the check view index in `MiB` (dataViewMemoryMiB; default: ecogate serve's, an eighth of the machine's memory; 0: checks read the data file)")
	flag.Parse()
	if *data == "" {
		name := "ecogate-loadcheck-" + strconv.Itoa(*n)
		if *inbound {
			name += "-inbound"
		}
		if withChain {
			name += "-chain"
		}
		*data = filepath.Join(os.TempDir(), name+".db")
	}
	if *serve {
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				log.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				log.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
		if err := runServer(*data, *n, *useTLS, *trivial, *inbound); err != nil {
			log.Fatal(err)
		}
		return
	}
	cfg := driverConfig{path: *data, n: *n, conc: *conc, dur: *dur, warm: *warm, items: *items, cpuProfile: *cpuProfile, tls: *useTLS, inbound: *inbound}
	if *compare <= 0 {
		cfg.trivial = *trivial
		if _, err := runDriver(cfg); err != nil {
			log.Fatal(err)
		}
		return
	}
	var real, triv []*runResult
	for i := range *compare {
		for _, t := range []bool{false, true} {
			c := cfg
			c.trivial = t
			if c.cpuProfile != "" {
				c.cpuProfile = fmt.Sprintf("%s.%d.%v", cfg.cpuProfile, i, map[bool]string{false: "real", true: "trivial"}[t])
			}
			r, err := runDriver(c)
			if err != nil {
				log.Fatal(err)
			}
			if t {
				triv = append(triv, r)
			} else {
				real = append(real, r)
			}
		}
	}
	fmt.Printf("\n| run | real checks/s | trivial/s | ratio | real CPU µs/req | trivial CPU µs/req | real p99 | trivial p99 | load |\n|---|---|---|---|---|---|---|---|---|\n")
	for i := range real {
		r, t := real[i], triv[i]
		fmt.Printf("| %d | %.0f | %.0f | %.2f | %.1f | %.1f | %s | %s | %s |\n", i+1, r.rps, t.rps, r.rps/t.rps, r.cpuPerReq*1e6, t.cpuPerReq*1e6, ms(r.p99), ms(t.p99), r.load)
	}
}

// number is the certificate number of view i.
func number(i int) string { return "IN-LOAD-" + strconv.Itoa(1_000_000_000+i) }

// seed writes n views unless the file already holds them: straight into
// the check-view bucket, or (inbound) each in an accepted inbound message.
func seed(db *store.DB, path string, n int, inbound bool) error {
	marker, seeded := path+".seeded", strconv.Itoa(n)
	if inbound {
		seeded += " inbound"
	}
	if withChain {
		seeded += " chain"
	}
	if b, err := os.ReadFile(marker); err == nil {
		if got := strings.TrimSpace(string(b)); got != seeded {
			return fmt.Errorf("%s was seeded as %q, not %q: give another -data file", path, got, seeded)
		}
		return nil
	}
	start := time.Now()
	now := time.Now().UTC()
	v := customs.View{Country: "IN", Version: 1, IssueDate: "2026-06-03", ValidUntil: "2099-06-03", Agreement: "AIFTA",
		Exporter: "Deccan Frozen Foods Pvt Ltd", Importer: "Hai Phong Cold Chain Import Export Company Limited",
		ImporterIDs: []string{"VN-TIN:0201234567"}, Issuer: "Export Inspection Council of India", Source: "stored", Valid: true,
		Report: certs.Report{{Check: "profile", Status: certs.StatusValid, Reason: "ok"}, {Check: "signature", Status: certs.StatusValid, Reason: "ok"},
			{Check: "chain", Status: certs.StatusValid, Reason: "ok"}, {Check: "revocation", Status: certs.StatusValid, Reason: "ok"}},
		Built: now,
		Items: []customs.ViewItem{
			{Seq: 1, HS: "020230", Description: "Frozen boneless meat of buffalo", Value: "54000", Unit: "KGM", Base: "KGM", Qty: 54000 * 1e9},
			{Seq: 2, HS: "090111", Description: "Coffee, not roasted", Value: "1000", Unit: "KGM", Base: "KGM", Qty: 1000 * 1e9},
			{Seq: 3, HS: "220421", Description: "Wine of fresh grapes", Value: "500", Unit: "LTR", Base: "MTQ", Qty: 500 * 1e6},
		}}
	if withChain {
		var err error
		if v.Chain, err = signerChain(path); err != nil {
			return err
		}
	}
	if inbound {
		if err := seedInbound(db, &v, n); err != nil {
			return err
		}
		log.Printf("seeded %d inbound certificates in %s", n, time.Since(start).Round(time.Millisecond))
		return os.WriteFile(marker, []byte(seeded), 0o644)
	}
	i := 0
	err := db.Customs().SeedViews(20000, func(put func(country, number string, view []byte, chain ...[]byte) error) bool {
		v.Number = number(i)
		b, err := v.Encode()
		if err == nil {
			err = put("IN", v.Number, b, v.Chain)
		}
		if err != nil {
			log.Fatal(err)
		}
		i++
		if i%200000 == 0 {
			log.Printf("seeded %d views", i)
		}
		return i < n
	})
	if err != nil {
		return err
	}
	log.Printf("seeded %d views in %s", n, time.Since(start).Round(time.Millisecond))
	return os.WriteFile(marker, []byte(seeded), 0o644)
}

// seedInbound accepts one inbound message per certificate, as the receive
// pipeline does (the view and the issued status in the same transaction),
// from 32 goroutines so that the store's group commit batches them. The
// message content is a short placeholder: checks never read it.
func seedInbound(db *store.DB, v *customs.View, n int) error {
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Bool // the first error stops every goroutine
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			view := *v
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() {
					return
				}
				view.Number = number(i)
				b, err := view.Encode()
				if err != nil {
					failed.Store(true)
					errs <- err
					return
				}
				id := "loadcheck-" + view.Number
				_, err = db.Inbox().Accept(ctx, store.InRecord{ID: id, From: "IN", CertNumber: view.Number, Version: 1, Kind: "issue",
					Content: []byte("<CertificateOfOrigin>" + view.Number + "</CertificateOfOrigin>"), Outcome: store.StateDelivered,
					StatusChanges: []store.StatusChange{{Country: "IN", Number: view.Number, Version: 1, Status: store.CertIssued, MessageID: id}},
					CheckView:     b, ViewChain: view.Chain})
				if err != nil {
					failed.Store(true)
					errs <- fmt.Errorf("accept %s: %w", id, err)
					return
				}
				if (i+1)%200000 == 0 {
					log.Printf("seeded %d inbound certificates", i+1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// viewMemMiB is -viewmem, withChain -chain.
var (
	viewMemMiB int
	withChain  bool
)

// signerChain is the ECDSA signer chain (signer, intermediate, root, DER
// one after the other) of the development PKI kept beside the data file
// path, created on first use; -chain stores it in every view.
func signerChain(path string) ([]byte, error) {
	dir := path + ".pki"
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if _, err := certs.InitDevPKI(dir, certs.PKIOptions{Name: "ecogate loadcheck"}); err != nil {
			return nil, err
		}
	}
	var chain []byte
	for _, f := range []string{certs.FileSignerECDSACert, certs.FileIntermediateCert, certs.FileRootCert} {
		cs, err := certs.LoadCertificates(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		chain = append(chain, cs[0].Raw...)
	}
	return chain, nil
}

// signerTrust is the trust -chain checks the stored chains against: the
// root and the CRLs of the PKI beside the data file.
func signerTrust(path string) (customs.TrustSource, error) {
	dir := path + ".pki"
	roots, err := certs.LoadCertificates(filepath.Join(dir, certs.FileRootCert))
	if err != nil {
		return nil, err
	}
	var crls []*x509.RevocationList
	for _, f := range []string{certs.FileRootCRL, certs.FileIntermediateCRL} {
		l, err := certs.LoadCRLs(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		crls = append(crls, l...)
	}
	trust := &certs.TrustSet{AnchorCerts: roots, RevocationLists: crls}
	return func(string) certs.TrustStore { return trust }, nil
}

func runServer(path string, n int, useTLS, trivial, inbound bool) error {
	// The GC target of `ecogate serve` (both the real and the trivial
	// server, so that they compare), unless GOGC is set.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gateway.ServeGCPercent)
	}
	// The check view index of `ecogate serve` (its default memory unless
	// -viewmem says otherwise).
	db, err := store.Open(path, store.Options{Check: store.CheckNever, ViewMemory: viewMemMiB << 20})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := seed(db, path, n, inbound); err != nil {
		return err
	}
	t0 := time.Now()
	if err := db.WaitViewIndex(context.Background()); err != nil {
		return err
	}
	st := db.ViewIndexStats()
	fmt.Fprintf(os.Stderr, "check view index: %d views, %d MiB, full %v, built in %v\n", st.Views, st.Bytes>>20, st.Full, time.Since(t0).Round(time.Millisecond))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ti := &certs.TokenIssuer{Key: key, Issuer: "loadcheck", TTL: time.Hour}
	tv := &certs.TokenVerifier{Key: &key.PublicKey, Issuer: "loadcheck", Audience: "ecogate-customs"}
	ctx := context.Background()
	id, _, hash := customs.NewClientCredentials()
	if err := db.Customs().AddClient(ctx, store.CustomsClient{ID: id, Name: "loadcheck", SecretHash: hash, Scopes: customs.Scopes()}); err != nil {
		return err
	}
	tok, _, err := ti.Issue(id, []string{"ecogate-customs"}, customs.ScopeCheck)
	if err != nil {
		return err
	}
	opts := customs.Options{Country: "VN", Store: db.Customs(), Inbox: db.Inbox(), Tokens: ti, TokenVerifier: tv}
	if withChain {
		if opts.SignerTrust, err = signerTrust(path); err != nil {
			return err
		}
	}
	svc, err := customs.New(opts)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	if trivial {
		h, err := trivialHandler(svc.Routes(), string(tok), n)
		if err != nil {
			return err
		}
		mux.Handle("/", h)
	} else {
		mux.Handle("/", svc.Routes())
	}
	mux.HandleFunc("GET /debug/mem", func(w http.ResponseWriter, _ *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, hwm := procMem(os.Getpid())
		_ = json.NewEncoder(w).Encode(map[string]uint64{"heapInuse": ms.HeapInuse, "heapAlloc": ms.HeapAlloc, "sys": ms.Sys,
			"numGC": uint64(ms.NumGC), "rss": rss, "hwm": hwm})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	certPEM := "-"
	if useTLS {
		cert, pemBytes, err := selfSigned()
		if err != nil {
			return err
		}
		certPEM = base64.StdEncoding.EncodeToString(pemBytes)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	fmt.Printf("READY %s %s %s\n", ln.Addr(), tok, certPEM)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // the driver closes stdin to stop us
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// procMem reads VmRSS and VmHWM (bytes) of a process.
func procMem(pid int) (rss, hwm uint64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			if f[0] == "VmRSS:" {
				rss = v * 1024
			} else {
				hwm = v * 1024
			}
		}
	}
	return rss, hwm
}

// trivialHandler is the reference server's handler: it answers every
// check with the bytes (status, header fields, body) the real handler
// answers for a sample check, after reading the request body, and serves
// /debug/mem like the real server.
func trivialHandler(real http.Handler, tok string, n int) (http.Handler, error) {
	req, err := http.NewRequest("POST", "/customs/v1/checks", bytes.NewReader(checkBody(nil, number(n/2), 2)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	rec := &recorder{h: http.Header{}}
	real.ServeHTTP(rec, req)
	if rec.code != http.StatusOK || !bytes.Contains(rec.body.Bytes(), []byte(`"verdict":"AUTHENTIC"`)) {
		return nil, fmt.Errorf("the sample check answered %d: %s", rec.code, rec.body.Bytes())
	}
	// The same header fields as the real answer (net/http adds Date and,
	// for both, Content-Length), so both servers put the same bytes on the
	// wire.
	body, hdr := rec.body.Bytes(), rec.h.Clone()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		maps.Copy(h, hdr)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}), nil
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// selfSigned makes the TLS server's certificate for 127.0.0.1.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ecogate-loadcheck"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}

// driverConfig is one measured run.
type driverConfig struct {
	path           string
	n, conc, items int
	dur, warm      time.Duration
	cpuProfile     string
	tls, trivial   bool
	inbound        bool
}

// runResult is what a run measured.
type runResult struct {
	rps, cpuPerReq float64
	p99            time.Duration
	load           string
}

func runDriver(cfg driverConfig) (*runResult, error) {
	path, n, conc, dur, warm, items, cpuProfile := cfg.path, cfg.n, cfg.conc, cfg.dur, cfg.warm, cfg.items, cfg.cpuProfile
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", "-n", strconv.Itoa(n), "-data", path, "-cpuprofile", cpuProfile}
	if cfg.tls {
		args = append(args, "-tls")
	}
	if cfg.trivial {
		args = append(args, "-trivial")
	}
	if cfg.inbound {
		args = append(args, "-inbound")
	}
	args = append(args, "-viewmem", strconv.Itoa(viewMemMiB))
	if withChain {
		args = append(args, "-chain")
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("server did not start: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "READY" {
		return nil, fmt.Errorf("server said %q", line)
	}
	addr, tok := f[1], f[2]
	dial := func() (net.Conn, error) { return net.Dial("tcp", addr) }
	httpc := http.DefaultClient
	scheme := "http://"
	if cfg.tls {
		pemBytes, err := base64.StdEncoding.DecodeString(f[3])
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, errors.New("the server's certificate does not parse")
		}
		tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}
		dial = func() (net.Conn, error) { return tls.Dial("tcp", addr, tc) }
		httpc = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		scheme = "https://"
	}
	var measuring atomic.Bool
	var stop atomic.Bool
	var errs, bad atomic.Int64
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), 42))
			var c *rawConn
			req := make([]byte, 0, 1024)
			own := make([]time.Duration, 0, 1<<16)
			for !stop.Load() {
				if c == nil {
					nc, err := dial()
					if err != nil {
						errs.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					c = &rawConn{c: nc, r: bufio.NewReaderSize(nc, 16<<10)}
				}
				req = request(req[:0], addr, tok, number(rng.IntN(n)), items)
				t0 := time.Now()
				status, resp, err := c.roundTrip(req)
				d := time.Since(t0)
				if err != nil {
					errs.Add(1)
					c.c.Close()
					c = nil
					continue
				}
				if status != 200 || !bytes.Contains(resp, []byte(`"verdict":"AUTHENTIC"`)) {
					if bad.Add(1) == 1 {
						log.Printf("unexpected answer %d: %s", status, resp)
					}
				}
				if measuring.Load() {
					own = append(own, d)
				}
			}
			if c != nil {
				c.c.Close()
			}
			lat[w] = own
		}()
	}
	time.Sleep(warm)
	measuring.Store(true)
	t0 := time.Now()
	cpu0 := procCPU(cmd.Process.Pid)
	time.Sleep(dur)
	measuring.Store(false)
	elapsed := time.Since(t0)
	cpu1 := procCPU(cmd.Process.Pid)
	mem := fetchMem(httpc, scheme+addr+"/debug/mem")
	stop.Store(true)
	wg.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		i := int(math.Ceil(p*float64(len(all)))) - 1
		return all[max(i, 0)]
	}
	rps := float64(len(all)) / elapsed.Seconds()
	mode := "real handler"
	if cfg.trivial {
		mode = "trivial reference"
	}
	if cfg.tls {
		mode += " over TLS"
	}
	fmt.Printf("%s: views=%d clients=%d duration=%s lines/check=%d GOMAXPROCS=%d\n", mode, n, conc, elapsed.Round(time.Millisecond), items, runtime.GOMAXPROCS(0))
	fmt.Printf("checks=%d throughput=%.0f/s p50=%s p90=%s p99=%s p99.9=%s max=%s errors=%d unexpected=%d\n",
		len(all), rps, pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1), errs.Load(), bad.Load())
	fmt.Printf("server: cpu=%.2f cores, rss=%s hwm=%s heapInuse=%s heapAlloc=%s sys=%s gc=%d; data file %s (%s)\n",
		(cpu1-cpu0)/elapsed.Seconds(), mib(mem["rss"]), mib(mem["hwm"]), mib(mem["heapInuse"]), mib(mem["heapAlloc"]), mib(mem["sys"]), mem["numGC"], path, mib(fileSize(path)))
	fmt.Printf("| %d | %d | %.0f | %s | %s | %s | %s | %s |\n", n, conc, rps, ms(pct(0.5)), ms(pct(0.99)), ms(pct(0.999)), mib(mem["rss"]), mib(mem["heapInuse"]))
	res := &runResult{rps: rps, p99: pct(0.99), load: loadavg()}
	if len(all) > 0 {
		res.cpuPerReq = (cpu1 - cpu0) / float64(len(all))
	}
	return res, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:1], " ")
}

// rawConn is a minimal HTTP/1.1 keep-alive client connection: it writes a
// prepared request and reads one response with Content-Length. It costs
// the load generator a few microseconds per request (net/http's client
// costs several times more), leaving the shared cores to the server.
type rawConn struct {
	c    net.Conn
	r    *bufio.Reader
	body []byte
}

func (c *rawConn) roundTrip(req []byte) (int, []byte, error) {
	if _, err := c.c.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, _ := strconv.Atoi(string(line[9:12]))
	clen := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && (h[0] == 'C' || h[0] == 'c') && bytes.EqualFold(h[:15], []byte("Content-Length:")) {
			clen, _ = strconv.Atoi(string(bytes.TrimSpace(h[15:])))
		}
	}
	if clen < 0 {
		return 0, nil, errors.New("response without Content-Length")
	}
	if cap(c.body) < clen {
		c.body = make([]byte, clen)
	}
	c.body = c.body[:clen]
	if _, err := io.ReadFull(c.r, c.body); err != nil {
		return 0, nil, err
	}
	return status, c.body, nil
}

// request writes a complete HTTP/1.1 check request.
func request(b []byte, host, tok, num string, items int) []byte {
	var bodyBuf [1024]byte
	body := checkBody(bodyBuf[:0], num, items)
	b = append(b, "POST /customs/v1/checks HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nAuthorization: Bearer "...)
	b = append(b, tok...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// checkBody writes a check request body for certificate num with the
// given number of declared lines.
func checkBody(b []byte, num string, items int) []byte {
	b = append(b, `{"exportCountry":"IN","certificateNumber":"`...)
	b = append(b, num...)
	b = append(b, `","issueDate":"2026-06-03","importer":{"name":"Hai Phong Cold Chain Import Export Company Limited"},"declarationRef":"VN-DECL-1","items":[`...)
	lines := []string{
		`{"sequenceNumber":2,"hsCode":"09011100","quantity":{"value":"250.5","unitCode":"KGM"}}`,
		`{"sequenceNumber":1,"hsCode":"020230","quantity":{"value":"12","unitCode":"TNE"}}`,
		`{"sequenceNumber":3,"hsCode":"220421","quantity":{"value":"120","unitCode":"LTR"}}`,
	}
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, lines[i%len(lines)]...)
	}
	return append(b, "]}"...)
}

func fetchMem(c *http.Client, url string) map[string]uint64 {
	m := map[string]uint64{}
	resp, err := c.Get(url)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}

// procCPU is the user+system CPU seconds of a process.
func procCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}

func fileSize(p string) uint64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return uint64(st.Size())
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
