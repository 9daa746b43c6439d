package store

import (
	"encoding/json"
	"fmt"

	"github.com/ecogate/ecogate/issuance"
)

// Buckets of the signature and stamp images (issuance.ImageTx), created
// on first write.
const (
	bktIsuImage     = "isu_image"      // kind 0 owner -> JSON issuance.Image
	bktIsuImageData = "isu_image_data" // kind 0 owner -> bytes
)

var _ issuance.ImageTx = (*IssuanceTx)(nil)

// PutImage implements issuance.ImageTx (replacing the owner's image of
// that kind).
func (t *IssuanceTx) PutImage(img *issuance.Image, data []byte) error {
	if err := checkID("image owner", img.Owner); err != nil {
		return err
	}
	k := key([]byte(img.Kind), []byte(img.Owner))
	raw, err := json.Marshal(img)
	if err != nil {
		return err
	}
	if err := t.index(bktIsuImage, k, raw); err != nil {
		return err
	}
	return t.index(bktIsuImageData, k, data)
}

// Image implements issuance.ImageTx.
func (t *IssuanceTx) Image(kind issuance.ImageKind, owner string) (*issuance.Image, []byte, error) {
	k := key([]byte(kind), []byte(owner))
	b, d := bucketOf(t.tx, bktIsuImage), bucketOf(t.tx, bktIsuImageData)
	if b == nil || d == nil || b.Get(k) == nil {
		return nil, nil, notFound(string(kind)+" image", owner)
	}
	var img issuance.Image
	if err := json.Unmarshal(b.Get(k), &img); err != nil {
		return nil, nil, fmt.Errorf("decode %s image of %s: %w", kind, owner, err)
	}
	return &img, append([]byte(nil), d.Get(k)...), nil
}
