package store

import (
	"encoding/json"
	"fmt"

	"github.com/ecogate/ecogate/issuance"
)

// The signature and stamp images on PostgreSQL: the bbolt engine's
// buckets isu_image and isu_image_data, as rows of isu_kv (so that
// `ecogate store copy` moves them byte for byte with the other issuance
// records).

var _ issuance.ImageTx = (*PGIssuanceTx)(nil)

// PutImage implements issuance.ImageTx (replacing the owner's image of
// that kind).
func (t *PGIssuanceTx) PutImage(img *issuance.Image, data []byte) error {
	if err := checkID("image owner", img.Owner); err != nil {
		return err
	}
	k := key([]byte(img.Kind), []byte(img.Owner))
	raw, err := json.Marshal(img)
	if err != nil {
		return err
	}
	if err := t.kvPut(bktIsuImage, k, raw); err != nil {
		return err
	}
	return t.kvPut(bktIsuImageData, k, data)
}

// Image implements issuance.ImageTx.
func (t *PGIssuanceTx) Image(kind issuance.ImageKind, owner string) (*issuance.Image, []byte, error) {
	k := key([]byte(kind), []byte(owner))
	raw, err := t.kvGet(bktIsuImage, k)
	if err != nil {
		return nil, nil, err
	}
	if raw == nil {
		return nil, nil, notFound(string(kind)+" image", owner)
	}
	data, err := t.kvGet(bktIsuImageData, k)
	if err != nil {
		return nil, nil, err
	}
	if data == nil {
		return nil, nil, fmt.Errorf("%s image of %s: its bytes are missing: %w", kind, owner, ErrCorrupt)
	}
	var img issuance.Image
	if err := json.Unmarshal(raw, &img); err != nil {
		return nil, nil, fmt.Errorf("decode %s image of %s: %w", kind, owner, err)
	}
	return &img, data, nil
}
