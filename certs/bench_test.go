package certs

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/ecogate/ecogate/internal/testenv"
)

// Benchmarks per document: testdata/eco-20-lines.xml (20 goods lines,
// about 12 KB). BenchmarkXmlsec1* run xmlsec1 --repeat on the same file in
// the same run and report xmlsec1's own in-process time per operation as
// the xmlsec1-ns/op metric (process start-up is not counted).

func benchSample(b *testing.B) []byte {
	doc, err := os.ReadFile(filepath.Join("testdata", "eco-20-lines.xml"))
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

func benchSign(b *testing.B, kc KeyCert) {
	p := testPKI(b)
	doc := benchSample(b)
	s := &Signer{Key: kc.Key, Chain: chainOf(kc, p)}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignRSA(b *testing.B)   { benchSign(b, testPKI(b).SignerRSA) }
func BenchmarkSignECDSA(b *testing.B) { benchSign(b, testPKI(b).SignerECDSA) }

func benchVerify(b *testing.B, kc KeyCert, crls bool) {
	p := testPKI(b)
	signed := mustSign(b, kc, p, benchSample(b))
	trust := trustFor(b, p)
	if !crls {
		trust = &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}
	}
	v := &Verifier{Trust: trust, At: testNow}
	b.SetBytes(int64(len(signed)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := v.Verify(signed)
		if err != nil || !res.Valid {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// Full verification: profile, signature, digest, chain to the root, CRLs
// of the root and the intermediate (two more signature checks).
func BenchmarkVerifyRSA(b *testing.B)   { benchVerify(b, testPKI(b).SignerRSA, true) }
func BenchmarkVerifyECDSA(b *testing.B) { benchVerify(b, testPKI(b).SignerECDSA, true) }

// The same without CRLs, the configuration xmlsec1 is measured in.
func BenchmarkVerifyRSANoCRL(b *testing.B)   { benchVerify(b, testPKI(b).SignerRSA, false) }
func BenchmarkVerifyECDSANoCRL(b *testing.B) { benchVerify(b, testPKI(b).SignerECDSA, false) }

// naiveVerify returns the naive parse-then-validate operation: etree
// parse, goxmldsig validation (it copies the tree and canonicalises the
// copy), chain verification. No profile or revocation checks.
func naiveVerify(b *testing.B, p *DevPKI, signed []byte) func() {
	store := &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{p.SignerRSA.Cert}}
	ctx := dsig.NewDefaultValidationContext(store)
	ctx.Clock = dsig.NewFakeClockAt(testNow)
	roots := newPool(p.Root.Cert)
	inter := newPool(p.Intermediate.Cert)
	return func() {
		d := etree.NewDocument()
		if err := d.ReadFromBytes(signed); err != nil {
			b.Fatal(err)
		}
		el, err := ctx.Validate(d.Root())
		if err != nil || el == nil {
			b.Fatal(err)
		}
		if _, err := p.SignerRSA.Cert.Verify(x509VerifyOptions(roots, inter)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyNaiveGoxmldsigRSA is the naive baseline: parse with etree,
// validate with goxmldsig (which copies and re-canonicalises the tree),
// then chain-verify. ECDSA is not measured: goxmldsig expects DER.
func BenchmarkVerifyNaiveGoxmldsigRSA(b *testing.B) {
	p := testPKI(b)
	op := naiveVerify(b, p, mustSign(b, p.SignerRSA, p, benchSample(b)))
	b.ReportAllocs()
	for b.Loop() {
		op()
	}
}

// BenchmarkExcC14N isolates canonicalisation of the whole sample.
func BenchmarkExcC14N(b *testing.B) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(benchSample(b)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ExcC14N(d.Root(), nil, nil)
	}
}

// BenchmarkExcC14NGoxmldsig is goxmldsig's canonicaliser on the same tree.
func BenchmarkExcC14NGoxmldsig(b *testing.B) {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(benchSample(b)); err != nil {
		b.Fatal(err)
	}
	c := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Canonicalize(d.Root()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseStrict isolates the parse.
func BenchmarkParseStrict(b *testing.B) {
	p := testPKI(b)
	signed := mustSign(b, p.SignerECDSA, p, benchSample(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStrict(signed, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

var xmlsecExecuted = regexp.MustCompile(`Executed (\d+) tests in ([0-9.]+) msec`)

// xmlsecRepeat runs xmlsec1 with --repeat n and returns its in-process
// milliseconds per operation.
func xmlsecRepeat(b *testing.B, n int, args ...string) float64 {
	bin := testenv.Program(b, "xmlsec1")
	out, err := exec.Command(bin, append([]string{args[0], "--repeat", strconv.Itoa(n)}, args[1:]...)...).CombinedOutput()
	if err != nil {
		b.Fatalf("xmlsec1 %v: %v\n%s", args, err, out)
	}
	m := xmlsecExecuted.FindStringSubmatch(string(out))
	if m == nil {
		b.Fatalf("xmlsec1 did not report its timing:\n%s", out)
	}
	ms, _ := strconv.ParseFloat(m[2], 64)
	cnt, _ := strconv.Atoi(m[1])
	return ms / float64(cnt)
}

func benchXmlsec(b *testing.B, verify bool, alg string) {
	p := testPKI(b)
	dir := b.TempDir()
	kc := map[string]KeyCert{"rsa": p.SignerRSA, "ecdsa": p.SignerECDSA}[alg]
	method := map[string]string{"rsa": AlgRSASHA256, "ecdsa": AlgECDSASHA256}[alg]
	var args []string
	if verify {
		f := filepath.Join(dir, "signed.xml")
		os.WriteFile(f, mustSign(b, kc, p, benchSample(b)), 0o644)
		args = []string{"--verify", "--enabled-key-data", "x509", "--trusted-pem", filepath.Join(pkiDir, FileRootCert),
			"--verification-time", testNow.Format("2006-01-02 15:04:05"), f}
	} else {
		f := filepath.Join(dir, "tmpl.xml")
		os.WriteFile(f, xmlsecTemplate(benchSample(b), method), 0o644)
		key := strings.Join([]string{filepath.Join(pkiDir, "signer-"+alg+"-key.pem"), filepath.Join(pkiDir, "signer-"+alg+"-cert.pem"), filepath.Join(pkiDir, FileIntermediateCert)}, ",")
		args = []string{"--sign", "--privkey-pem", key, "--output", filepath.Join(dir, "out.xml"), f}
	}
	// One xmlsec1 process with --repeat, whatever b.N is: the metric is
	// xmlsec1's own per-operation time, not this loop's.
	perOp := xmlsecRepeat(b, 300, args...)
	for b.Loop() {
	}
	b.ReportMetric(perOp*1e6, "xmlsec1-ns/op")
}

func BenchmarkXmlsec1VerifyRSA(b *testing.B)   { benchXmlsec(b, true, "rsa") }
func BenchmarkXmlsec1VerifyECDSA(b *testing.B) { benchXmlsec(b, true, "ecdsa") }
func BenchmarkXmlsec1SignRSA(b *testing.B)     { benchXmlsec(b, false, "rsa") }
func BenchmarkXmlsec1SignECDSA(b *testing.B)   { benchXmlsec(b, false, "ecdsa") }

// cpuTime is the process's user+system CPU time. xmlsec1 --repeat times
// itself with clock(), which is CPU time, so ecogate is measured the same
// way: on a shared, loaded machine wall time would count waiting for a CPU
// against ecogate only.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRatio interleaves rounds of xmlsec1 --repeat and of ecogate on the
// same file, so that load from other processes on a shared machine hits
// both alike, and reports both per-operation times and their ratio.
func benchRatio(b *testing.B, verify bool, alg string) { benchRatioOp(b, verify, alg, ratioOpts{}) }

// ratioOpts vary benchRatioOp: the naive library path instead of ecogate's,
// a generated e-CO of lines goods lines instead of the 20-line sample, and
// a fresh Verifier per document (no chain cache carried between
// documents) instead of one kept across them.
type ratioOpts struct {
	naive bool
	lines int
	fresh bool
	rounds,
	per int
}

func benchRatioOp(b *testing.B, verify bool, alg string, o ratioOpts) {
	p := testPKI(b)
	dir := b.TempDir()
	kc := map[string]KeyCert{"rsa": p.SignerRSA, "ecdsa": p.SignerECDSA}[alg]
	method := map[string]string{"rsa": AlgRSASHA256, "ecdsa": AlgECDSASHA256}[alg]
	sample := benchSample(b)
	if o.lines > 0 {
		sample = ecoDoc(o.lines)
	}
	signed := mustSign(b, kc, p, sample)
	var args []string
	var op func()
	if verify {
		f := filepath.Join(dir, "signed.xml")
		os.WriteFile(f, signed, 0o644)
		args = []string{"--verify", "--enabled-key-data", "x509", "--trusted-pem", filepath.Join(pkiDir, FileRootCert),
			"--verification-time", testNow.Format("2006-01-02 15:04:05"), f}
		trust := &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}
		v := &Verifier{Trust: trust, At: testNow}
		op = func() {
			if o.fresh {
				v = &Verifier{Trust: trust, At: testNow}
			}
			res, err := v.Verify(signed)
			if err != nil || !res.Valid {
				b.Fatal(err)
			}
			res.Release() // as the node's receive pipeline does
		}
		if o.naive {
			op = naiveVerify(b, p, signed)
		}
	} else {
		f := filepath.Join(dir, "tmpl.xml")
		os.WriteFile(f, xmlsecTemplate(sample, method), 0o644)
		key := strings.Join([]string{filepath.Join(pkiDir, "signer-"+alg+"-key.pem"), filepath.Join(pkiDir, "signer-"+alg+"-cert.pem"), filepath.Join(pkiDir, FileIntermediateCert)}, ",")
		args = []string{"--sign", "--privkey-pem", key, "--output", filepath.Join(dir, "out.xml"), f}
		s := &Signer{Key: kc.Key, Chain: chainOf(kc, p)}
		op = func() {
			if _, err := s.Sign(sample); err != nil {
				b.Fatal(err)
			}
		}
	}
	rounds, per := or(o.rounds, 5), or(o.per, 100)
	var ours time.Duration
	var theirs float64
	for b.Loop() {
	}
	for r := 0; r < rounds; r++ {
		theirs += xmlsecRepeat(b, per, args...) * float64(per)
		start := cpuTime()
		for i := 0; i < per; i++ {
			op()
		}
		ours += cpuTime() - start
	}
	n := float64(rounds * per)
	b.ReportMetric(float64(ours.Nanoseconds())/n, "ecogate-ns/op")
	b.ReportMetric(theirs*1e6/n, "xmlsec1-ns/op")
	b.ReportMetric(float64(ours.Nanoseconds())/(theirs*1e6), "ratio")
}

// BenchmarkRatio* are the figures of docs/benchmarks.md: verify without
// CRLs (xmlsec1 is given none), sign with the chain in KeyInfo; both
// sides in CPU time per operation (see cpuTime).
func BenchmarkRatioVerifyRSA(b *testing.B)   { benchRatio(b, true, "rsa") }
func BenchmarkRatioVerifyECDSA(b *testing.B) { benchRatio(b, true, "ecdsa") }
func BenchmarkRatioVerifyNaiveGoxmldsigRSA(b *testing.B) {
	benchRatioOp(b, true, "rsa", ratioOpts{naive: true})
}
func BenchmarkRatioSignRSA(b *testing.B)   { benchRatio(b, false, "rsa") }
func BenchmarkRatioSignECDSA(b *testing.B) { benchRatio(b, false, "ecdsa") }

// Fresh verifier per document: what a process verifying one document
// pays (no chain cache from earlier documents), beside the cached one.
func BenchmarkRatioVerifyRSAFresh(b *testing.B) {
	benchRatioOp(b, true, "rsa", ratioOpts{fresh: true})
}
func BenchmarkRatioVerifyECDSAFresh(b *testing.B) {
	benchRatioOp(b, true, "ecdsa", ratioOpts{fresh: true})
}

// Large e-COs (issue 16): about 0.55 MB (1,000 goods lines) and 1.05 MB
// (1,900 goods lines), 3 rounds of 10 operations each side.
var large = []struct {
	name  string
	lines int
}{{"0.5MB", 1000}, {"1MB", 1900}}

func benchRatioLarge(b *testing.B, verify bool, alg string, fresh bool) {
	for _, l := range large {
		b.Run(l.name, func(b *testing.B) {
			benchRatioOp(b, verify, alg, ratioOpts{lines: l.lines, fresh: fresh, rounds: 3, per: 10})
		})
	}
}

func BenchmarkRatioLargeVerifyRSA(b *testing.B)      { benchRatioLarge(b, true, "rsa", false) }
func BenchmarkRatioLargeVerifyRSAFresh(b *testing.B) { benchRatioLarge(b, true, "rsa", true) }
func BenchmarkRatioLargeVerifyECDSA(b *testing.B)    { benchRatioLarge(b, true, "ecdsa", false) }
func BenchmarkRatioLargeSignRSA(b *testing.B)        { benchRatioLarge(b, false, "rsa", false) }
func BenchmarkRatioLargeSignECDSA(b *testing.B)      { benchRatioLarge(b, false, "ecdsa", false) }

// BenchmarkVerifyLarge and BenchmarkSignLarge give allocations per
// document (-benchmem) for the large e-COs; BenchmarkParseStrictLarge
// isolates the parse.
func BenchmarkVerifyLarge(b *testing.B) {
	p := testPKI(b)
	for _, l := range large {
		b.Run(l.name, func(b *testing.B) {
			signed := mustSign(b, p.SignerECDSA, p, ecoDoc(l.lines))
			v := &Verifier{Trust: &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}, At: testNow}
			b.SetBytes(int64(len(signed)))
			b.ReportAllocs()
			for b.Loop() {
				if res, err := v.Verify(signed); err != nil || !res.Valid {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignLarge(b *testing.B) {
	p := testPKI(b)
	for _, l := range large {
		b.Run(l.name, func(b *testing.B) {
			doc := ecoDoc(l.lines)
			s := &Signer{Key: p.SignerECDSA.Key, Chain: chainOf(p.SignerECDSA, p)}
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseStrictLarge(b *testing.B) {
	for _, l := range large {
		b.Run(l.name, func(b *testing.B) {
			doc := ecoDoc(l.lines)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseStrict(doc, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
