package customs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/store"
)

// TestCheckJSONMatchesEncodingJSON: the hand-written check answer is
// byte-for-byte what encoding/json writes, for every verdict and for
// strings that need escaping.
func TestCheckJSONMatchesEncodingJSON(t *testing.T) {
	e := newEnv(t)
	c := testCert(t, certNo)
	c.Consignment.Exporter.Name = "Tôm & Cá <Export> \"Co\"\t\u2028\u2029 \x01 bad:\xff\xfe"
	c.Consignment.Importer.Name = "Nhập khẩu <VN> & co"
	c.Header.Issuer.Name = "Issuer \\ back/slash"
	e.storeView(c, certs.Report{{Check: "signature", Status: certs.StatusValid, Reason: "ok", Detail: "dropped"}})
	c2 := testCert(t, "IN-2")
	e.storeView(c2, certs.Report{{Check: "chain", Status: certs.StatusInvalid, Reason: "x"}})
	if _, _, err := e.db.Inbox().ApplyStatus(context.Background(), store.StatusChange{Country: "IN", Number: "IN-3", Version: 1, Status: store.CertReplaced, ReplacedBy: "IN-<4>"}); err != nil {
		t.Fatal(err)
	}
	e.storeView(testCert(t, "IN-3"), validReport)
	reqs := []CheckRequest{
		baseReq(item(1, "020230", "1", "KGM")),
		baseReq(item(2, "090112", "1.123456789", "TNE"), item(9, "020230", "1", "KGM"), DeclaredItem{HSCode: "999999", Quantity: &Quantity{"1", "KGM"}}),
		func() CheckRequest {
			r := baseReq(item(1, "020230", "1", "KGM"))
			r.Importer = &PartyRef{Name: "x <y> & \u2028"}
			r.IssueDate = "2026-01-01"
			return r
		}(),
		func() CheckRequest {
			r := baseReq(item(1, "020230", "1", "KGM"))
			r.CertificateNumber = "IN-2"
			return r
		}(),
		func() CheckRequest {
			r := baseReq(item(1, "020230", "1", "KGM"))
			r.CertificateNumber = "IN-3"
			return r
		}(),
		func() CheckRequest {
			r := baseReq(item(1, "020230", "1", "KGM"))
			r.CertificateNumber = "IN-404"
			return r
		}(),
	}
	for round := range 2 { // first round decodes views, second uses the cache
		for i, req := range reqs {
			res, _, fe := e.svc.Check(context.Background(), &req)
			if fe != nil {
				t.Fatal(fe)
			}
			if round == 1 && res.Certificate != nil && res.frag == nil {
				t.Errorf("request %d: no pre-encoded fragments", i)
			}
			want, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			got := res.appendJSON(nil)
			if !bytes.Equal(got, want) {
				t.Errorf("request %d (%s):\n got %s\nwant %s", i, res.Verdict, got, want)
			}
		}
		e.clock.Add(time.Nanosecond * 123)
	}
}

// TestViewStoredForm: a view survives its stored form; the earlier JSON
// form is still read; every truncation of a stored view is an error, never
// a panic.
func TestViewStoredForm(t *testing.T) {
	c := testCert(t, certNo)
	v, err := ViewOf(c, certs.Report{{Check: "chain", Status: certs.StatusValid, Reason: "ok"}}, nil, time.Date(2026, 11, 22, 9, 0, 0, 5, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	v.Status, v.ReplacedBy = "replaced", "X-2"
	// Format 2 (before the signer chain was kept) is still read, and
	// marked legacy so that a check rebuilds it once.
	b2 := v.encode(2)
	if got, f, err := parseView(b2); err != nil || !f.legacy || got.Chain != nil || got.Number != v.Number {
		t.Fatalf("format 2: %v %+v", err, f)
	}
	pki := testPKI(t)
	v.Chain = chainDER([]*x509Cert{pki.SignerECDSA.Cert, pki.Intermediate.Cert})
	b, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeView(b)
	if err != nil {
		t.Fatal(err)
	}
	// Format 5 keeps the chain's SHA-256, not the chain.
	sum := sha256.Sum256(v.Chain)
	want := *v
	want.Chain, want.chainRef = nil, sum[:]
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if again, _ := got.Encode(); !bytes.Equal(again, b) {
		t.Fatal("a view read from format 5 is not stored the same again")
	}
	if len(v.encode(4))-len(b) != len(v.Chain)-sha256.Size+binaryLenDiff(len(v.Chain)) {
		t.Errorf("format 5 is %d bytes, format 4 %d: the chain is still stored", len(b), len(v.encode(4)))
	}
	// A reference that is not 32 bytes is damage.
	bad := (&View{Number: "X", chainRef: []byte("short")}).encode(5)
	if _, _, err := parseView(bad); err == nil {
		t.Fatal("a 5-byte chain reference was read")
	}
	// Format 4 (the chain in the view) is still read.
	if got4, f4, err := parseView(v.encode(4)); err != nil || f4.legacy || !bytes.Equal(got4.Chain, v.Chain) || got4.chainRef != nil {
		t.Fatalf("format 4: %v", err)
	}
	b = v.encode(4)
	// Format 3 (the summary head stored) reads as the same view with
	// the same fragments, and is about 300 bytes larger.
	b3 := v.encode(3)
	if got3, f3, err := parseView(b3); err != nil || f3.legacy || !reflect.DeepEqual(got3.Chain, v.Chain) {
		t.Fatalf("format 3: %v", err)
	} else if _, f4, _ := parseView(b); f4.certHead != nil || !bytes.Equal(f3.verification, f4.verification) ||
		!bytes.Equal(f3.certHead, fragmentsOf(v).certHead) {
		t.Fatalf("format 3 and 4 fragments: %s / %s", f3.certHead, f4.certHead)
	}
	if len(b3)-len(b) < 200 {
		t.Errorf("format 4 is %d bytes, format 3 %d: the summary head is still stored", len(b), len(b3))
	}
	j, _ := json.Marshal(v)
	old := append([]byte{0, 0, 0, 1}, j...)
	if got, err := decodeView(old); err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("JSON form: %v", err)
	}
	for i := range len(b) - 1 {
		if _, _, err := parseView(b[:i]); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
}

// binaryLenDiff is how many more bytes the uvarint length of an n-byte
// string takes than that of a 32-byte one.
func binaryLenDiff(n int) int {
	return len(binary.AppendUvarint(nil, uint64(n))) - 1
}

// plainByte reports whether appendString writes c (ASCII) as it is.
func plainByte(c byte) bool {
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

// TestPlain8: a word of plain bytes is plain, and any one byte that is not
// plain, at any place in it, makes it not plain (every byte value, every
// place, beside several backgrounds).
func TestPlain8(t *testing.T) {
	for _, bg := range []string{"AAAAAAAA", "        ", "~~~~~~~~", "!!!!!!!!", "zZ09 -_/"} {
		if !plain8(bg) {
			t.Fatalf("plain8(%q) = false", bg)
		}
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				w := []byte(bg)
				w[pos] = byte(c)
				if got, want := plain8(string(w)), plainByte(byte(c)); got != want {
					t.Fatalf("plain8(%q) = %v, want %v", w, got, want)
				}
			}
		}
	}
	// Two bytes that are not plain need no case of their own: the lower
	// one is flagged exactly (no borrow reaches it from below), as the
	// loop above proves for each byte.
}

// FuzzAppendString: appendString writes what encoding/json writes for a
// string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain ascii text, longer than eight", "a\"b\\c<d>e&f", "\x00\x1f\x7f", "ÄÖÜ ünïcödé names", "\u2028\u2029", "\xff\xfe broken", "12345678\n12345678<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
