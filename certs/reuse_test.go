package certs

import (
	"bytes"
	"crypto/x509"
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
	docs := [][]byte{ecoDoc(3), ecoDoc(40), ecoDoc(200)}
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
				res, err := v.Verify(docs[i])
				if err != nil || !res.Valid {
					t.Errorf("verify %d: %v", i, err)
					return
				}
				id := res.Element.FindElement("//ID")
				if id == nil {
					t.Errorf("document %d: no ID element in the verified tree", i)
					return
				}
				text := id.Text()
				if !bytes.Equal(res.Signed, want[i]) {
					t.Errorf("document %d: the canonical form differs on a reused tree", i)
				}
				res.Release()
				res.Release() // a second call does nothing
				if res.Element != nil {
					t.Error("Element kept after Release")
				}
				if _, err := s.Sign(ecoDoc(1 + k%5)); err != nil {
					t.Errorf("sign: %v", err)
				}
				// The text read before Release, after the memory served
				// another parse.
				if text != "VN-AK-2026-000123" {
					t.Errorf("document %d: ID text read before Release is %q after reuse", i, text)
				}
			}
		})
	}
	wg.Wait()
}
