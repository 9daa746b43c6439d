package certs

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestReleaseReuse: trees built from memory that earlier verifications
// and signatures handed back (Result.Release, Sign) are the same as fresh
// ones, also with goroutines verifying and signing different documents at
// once (run under -race), and strings read before Release stay valid.
func TestReleaseReuse(t *testing.T) {
	p := testPKI(t)
	trust := &TrustSet{AnchorCerts: []*x509.Certificate{p.Root.Cert}}
	s := &Signer{Key: p.SignerECDSA.Key, Chain: chainOf(p.SignerECDSA, p)}
	lines := []int{3, 40, 200}
	docs := [][]byte{ecoDoc(lines[0]), ecoDoc(lines[1]), ecoDoc(lines[2])}
	want := make([][]byte, len(docs))
	for i, d := range docs {
		signed, err := s.Sign(d)
		if err != nil {
			t.Fatal(err)
		}
		res, err := (&Verifier{Trust: trust, At: testNow}).Verify(signed)
		if err != nil || !res.Valid {
			t.Fatalf("verify %d: %v %+v", i, err, res)
		}
		want[i] = res.Signed
		docs[i] = signed
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			v := &Verifier{Trust: trust, At: testNow}
			for k := range 30 {
				i := (g + k) % len(docs)
				in := bytes.Clone(docs[i]) // overwritten after Release below
				res, err := v.Verify(in)
				if err != nil || !res.Valid {
					t.Errorf("verify %d: %v", i, err)
					return
				}
				items := res.Element.FindElements("//IncludedConsignmentItem")
				last := ""
				if n := len(items); n > 0 {
					last = items[n-1].FindElement("Description").Text()
				}
				if !bytes.Equal(res.Signed, want[i]) {
					t.Errorf("document %d: the canonical form differs on a reused tree", i)
				}
				res.Release()
				res.Release() // a second call does nothing
				if res.Element != nil {
					t.Error("Element kept after Release")
				}
				// A string read before Release keeps its value while the
				// memory serves other documents and the caller reuses its
				// input buffer.
				for j := range in {
					in[j] = 'x'
				}
				if _, err := v.Verify(docs[(i+1)%len(docs)]); err != nil {
					t.Errorf("verify: %v", err)
				}
				if wantLast := fmt.Sprintf("style %04d", 1000+lines[i]); !strings.Contains(last, wantLast) {
					t.Errorf("document %d: last description %q read before Release, want %q", i, last, wantLast)
				}
				if _, err := s.Sign(ecoDoc(1 + k%5)); err != nil {
					t.Errorf("sign: %v", err)
				}
			}
		})
	}
	wg.Wait()
}
