package certs

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// santuarioShort re-signs the SignedInfo of signed until r and s both
// begin with a zero byte (s or n-s: both verify), and returns the document
// with the SignatureValue written as Apache Santuario 2.1 does: leading
// zeros stripped and both halves padded to the longer one (31+31 bytes on
// P-256). The search takes about 33,000 signatures on average.
func santuarioShort(t *testing.T, signed []byte, key *ecdsa.PrivateKey) (doc []byte, r, s *big.Int) {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(signed); err != nil {
		t.Fatal(err)
	}
	ps, verr := checkProfile(d.Root())
	if verr != nil {
		t.Fatalf("profile: %v", verr.detail)
	}
	h := ps.alg.hash.New()
	h.Write(appendExcC14N(nil, ps.signedInfo, nil, ps.c14nPrefixes))
	sum := h.Sum(nil)
	n := key.Curve.Params().N
	limit := new(big.Int).Lsh(big.NewInt(1), 248)
	for i := 0; i < 2_000_000; i++ {
		der, err := ecdsa.SignASN1(rand.Reader, key, sum)
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &v); err != nil {
			t.Fatal(err)
		}
		if v.R.Cmp(limit) >= 0 {
			continue
		}
		if v.S.Cmp(limit) >= 0 {
			v.S.Sub(n, v.S)
			if v.S.Cmp(limit) >= 0 {
				continue
			}
		}
		sv := make([]byte, 62)
		v.R.FillBytes(sv[:31])
		v.S.FillBytes(sv[31:])
		old := ps.sig.FindElement("./SignatureValue")
		if old == nil {
			old = ps.sig.FindElement("./ds:SignatureValue")
		}
		text := strings.TrimSpace(old.Text())
		out := strings.Replace(string(signed), text, base64.StdEncoding.EncodeToString(sv), 1)
		if out == string(signed) {
			t.Fatal("SignatureValue not found in the document")
		}
		return []byte(out), v.R, v.S
	}
	t.Fatal("no signature with r and s below 2^248 found")
	return nil, nil, nil
}

// TestECDSAShortSignatureValue: a SignatureValue shortened as Apache
// Santuario 2.1 writes it verifies, with an INFO entry in the report;
// odd-length, too long, empty-half or tampered values stay refused.
func TestECDSAShortSignatureValue(t *testing.T) {
	p := testPKI(t)
	key, ok := p.SignerECDSA.Key.(*ecdsa.PrivateKey)
	if !ok {
		t.Skipf("signer key is %T", p.SignerECDSA.Key)
	}
	signed := mustSign(t, p.SignerECDSA, p, ecoDoc(2))
	short, r, s := santuarioShort(t, signed, key)
	v := &Verifier{Trust: trustFor(t, p), At: testNow}

	res, err := v.Verify(short)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid {
		t.Fatalf("shortened value refused: %+v", res.Report)
	}
	if e := res.Report.Get(CheckIntegrity); e.Status != StatusValid {
		t.Errorf("integrity entry %+v", e)
	}
	var info []Entry
	for _, e := range res.Report {
		if e.Status == StatusInfo {
			info = append(info, e)
		}
	}
	if len(info) != 1 || info[0].Reason != ReasonECDSAShort || info[0].Check != CheckIntegrity || !strings.Contains(info[0].Detail, "62 bytes, not 64") {
		t.Errorf("INFO entries %+v", info)
	}
	// The full-length value has no such note.
	full, _ := v.Verify(signed)
	for _, e := range full.Report {
		if e.Status == StatusInfo {
			t.Errorf("full-length value has a note: %+v", e)
		}
	}

	rewrite := func(sv []byte) []byte {
		d := etree.NewDocument()
		_ = d.ReadFromBytes(short)
		old := d.FindElement("//SignatureValue")
		return []byte(strings.Replace(string(short), strings.TrimSpace(old.Text()), base64.StdEncoding.EncodeToString(sv), 1))
	}
	pad := func(x *big.Int, n int) []byte { b := make([]byte, n); x.FillBytes(b); return b }
	sv62 := append(pad(r, 31), pad(s, 31)...)
	tampered := append([]byte(nil), sv62...)
	tampered[40] ^= 1
	for _, tc := range []struct {
		name string
		sv   []byte
	}{
		{"odd length 63", append([]byte{0}, sv62...)},
		{"too long 66", append(append([]byte{0}, pad(r, 32)...), append([]byte{0}, pad(s, 32)...)...)},
		{"tampered", tampered},
		{"two bytes", []byte{1, 2}},
		{"s only, zero r", append(make([]byte, 31), pad(s, 31)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Verify(rewrite(tc.sv))
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid {
				t.Fatalf("accepted: %+v", res.Report)
			}
			if e := res.Report.Get(CheckIntegrity); e.Status != StatusInvalid || e.Reason != "integrity.signature-value" {
				t.Errorf("integrity %+v", e)
			}
			for _, e := range res.Report {
				if e.Status == StatusInfo {
					t.Errorf("note on a refused value: %+v", e)
				}
			}
		})
	}
}
