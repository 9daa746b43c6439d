package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/store"
)

// TestSubmitSignedOneParse: a document submitted already signed is
// verified on the tree Submit parsed (no second parse) against the node's
// own anchors: a good one is queued byte for byte, a changed one or one
// signed by a stranger is refused with the verification report.
func TestSubmitSignedOneParse(t *testing.T) {
	in, vn, xx := identities(t)
	ctx := context.Background()
	db, err := store.Open(t.TempDir()+"/in.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	opt := in.NodeOptions(db, NewStaticDirectory(vn.AsPartner("https://127.0.0.1:1/eco/v1", fastRetry)))
	opt.Logger = testLogger(t)
	if _, ok := opt.Verifier.(ParsedVerifier); !ok || opt.OwnTrust == nil {
		t.Fatal("the development node has no parsed verifier or own trust: the test proves nothing")
	}
	n, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	doc := signedSample(t, in, 11)
	res, err := n.Submit(ctx, doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Signed {
		t.Error("a signed document was signed again")
	}
	rec, err := db.Outbox().Get(ctx, res.Messages[0].ID)
	if err != nil || !bytes.Equal(rec.Content, doc) {
		t.Fatalf("queued content differs from the signed input: %v", err)
	}
	for name, bad := range map[string][]byte{
		"changed after signing": bytes.Replace(signedSample(t, in, 12), []byte(sampleNumber(12)), []byte(sampleNumber(13)), 1),
		"signed by a stranger":  signedSample(t, xx, 14),
	} {
		_, err := n.Submit(ctx, bad, nil)
		var se *SubmitError
		if !errors.As(err, &se) || se.Status != http.StatusUnprocessableEntity || se.Verification.Valid() || len(se.Verification) == 0 {
			t.Errorf("%s: got %v", name, err)
		}
		if name == "changed after signing" && se != nil && se.Verification.Get(certs.CheckIntegrity).Status != certs.StatusInvalid {
			t.Errorf("%s: %+v", name, se.Verification)
		}
	}
}
