package issuance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeConfig of JPEG images
	_ "image/png"  // DecodeConfig of PNG images
	"net/http"
	"time"
)

// ImageKind is what an image is for on the certificate PDF.
type ImageKind string

// Image kinds: an officer's signature image, an office's stamp image.
const (
	ImageSignature ImageKind = "signature"
	ImageStamp     ImageKind = "stamp"
)

// Image limits: size in bytes and pixels per side.
const (
	MaxImageBytes = 512 << 10
	MaxImageSide  = 4000
)

// Image is a stored signature or stamp image. Owner is the officer's id
// (signature) or the office id (stamp); ContentType is sniffed from the
// bytes (PNG or JPEG), never taken from the client.
type Image struct {
	Kind        ImageKind `json:"kind"`
	Owner       string    `json:"owner"`
	ContentType string    `json:"contentType"`
	SHA256      string    `json:"sha256"`
	Size        int       `json:"size"`
	Width       int       `json:"width"`
	Height      int       `json:"height"`
	Uploaded    time.Time `json:"uploaded"`
	By          string    `json:"by"`
}

// ImageTx stores the images (a Tx that implements it keeps them; the
// bbolt one does).
type ImageTx interface {
	PutImage(img *Image, data []byte) error
	Image(kind ImageKind, owner string) (*Image, []byte, error)
}

func imageTx(tx Tx) (ImageTx, error) {
	if it, ok := tx.(ImageTx); ok {
		return it, nil
	}
	return nil, fmt.Errorf("%w: this storage engine keeps no images", ErrNotAvailable)
}

// CheckImage sniffs data: a PNG or JPEG image of at most MaxImageBytes
// whose header decodes, at most MaxImageSide pixels a side. It returns
// the content type and dimensions, or an error saying what to fix.
func CheckImage(data []byte) (string, int, int, error) {
	if len(data) == 0 {
		return "", 0, 0, invalid("the image is empty; upload a PNG or JPEG file")
	}
	if len(data) > MaxImageBytes {
		return "", 0, 0, invalid("the image is %d bytes; at most %d are accepted (scan it smaller)", len(data), MaxImageBytes)
	}
	ct := http.DetectContentType(data)
	if ct != "image/png" && ct != "image/jpeg" {
		return "", 0, 0, invalid("the image is %s; only PNG or JPEG images are accepted", ct)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || "image/"+format != ct {
		return "", 0, 0, invalid("the %s image does not decode: %v", ct, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return "", 0, 0, invalid("the image is %dx%d pixels; at most %d a side", cfg.Width, cfg.Height, MaxImageSide)
	}
	return ct, cfg.Width, cfg.Height, nil
}

func (s *Service) putImage(tx Tx, p *principal, kind ImageKind, owner string, data []byte) (*Image, error) {
	it, err := imageTx(tx)
	if err != nil {
		return nil, err
	}
	ct, w, h, err := CheckImage(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	img := &Image{Kind: kind, Owner: owner, ContentType: ct, SHA256: hex.EncodeToString(sum[:]), Size: len(data),
		Width: w, Height: h, Uploaded: s.now(), By: p.actor.ID}
	if err := it.PutImage(img, data); err != nil {
		return nil, err
	}
	return img, s.audit(tx, p.String(), "image."+string(kind), owner, map[string]string{"sha256": img.SHA256, "contentType": ct})
}

// PutSignatureImage stores an officer's signature image (the
// administrator of the officer's agency, or the officer themself).
func (s *Service) PutSignatureImage(ctx context.Context, a Actor, officer string, data []byte) (*Image, error) {
	officer = normID(officer)
	var out *Image
	err := s.do(ctx, a, "upload signature image", officer, func(tx Tx, p *principal) error {
		if err := need(p, "upload a signature image", RoleAgencyAdmin, RoleOfficer); err != nil {
			return err
		}
		if p.actor.Role == RoleOfficer && p.person.ID != officer {
			return forbidden("%s may upload only their own signature image", p.actor.ID)
		}
		o, err := tx.Person(officer)
		if err != nil {
			return err
		}
		if o.Role != RoleOfficer || o.Org != p.org {
			return forbidden("%s is not an officer of agency %s", officer, p.org)
		}
		out, err = s.putImage(tx, p, ImageSignature, officer, data)
		return err
	})
	return out, err
}

// PutStampImage stores an office's stamp image (the administrator of the
// office's agency).
func (s *Service) PutStampImage(ctx context.Context, a Actor, agency, office string, data []byte) (*Image, error) {
	var out *Image
	err := s.do(ctx, a, "upload stamp image", office, func(tx Tx, p *principal) error {
		if _, err := agencyAdmin(tx, p, agency); err != nil {
			return err
		}
		o, err := tx.Office(office)
		if err != nil {
			return err
		}
		if o.Agency != agency {
			return forbidden("office %s is not an office of agency %s", office, agency)
		}
		out, err = s.putImage(tx, p, ImageStamp, office, data)
		return err
	})
	return out, err
}

// ImageOf returns a stored image to whoever works for the owner's agency
// (administrator, officers) and to the operator.
func (s *Service) ImageOf(ctx context.Context, a Actor, kind ImageKind, owner string) (*Image, []byte, error) {
	if kind == ImageSignature {
		owner = normID(owner)
	}
	var img *Image
	var data []byte
	err := s.view(ctx, a, "read "+string(kind)+" image", owner, func(tx Tx, p *principal) error {
		if err := need(p, "read signature and stamp images", RoleOperator, RoleAgencyAdmin, RoleOfficer); err != nil {
			return err
		}
		agency, err := imageAgency(tx, kind, owner)
		if err != nil {
			return err
		}
		if p.actor.Role != RoleOperator && p.org != agency {
			return forbidden("%s works for agency %s, not %s", p.actor.ID, p.org, agency)
		}
		img, data, err = s.imageIn(tx, kind, owner)
		return err
	})
	return img, data, err
}

func imageAgency(tx Tx, kind ImageKind, owner string) (string, error) {
	switch kind {
	case ImageSignature:
		o, err := tx.Person(owner)
		if err != nil {
			return "", err
		}
		return o.Org, nil
	case ImageStamp:
		o, err := tx.Office(owner)
		if err != nil {
			return "", err
		}
		return o.Agency, nil
	}
	return "", invalid("image kind %q is not signature or stamp", kind)
}

func (s *Service) imageIn(tx Tx, kind ImageKind, owner string) (*Image, []byte, error) {
	it, err := imageTx(tx)
	if err != nil {
		return nil, nil, err
	}
	return it.Image(kind, owner)
}

// CertificateImages returns the officer's signature image and the
// office's stamp image of an issued application's certificate, for the
// certificate PDF (the portal); nil where none was uploaded. It has no
// actor: the caller has already shown the certificate to its reader.
func (s *Service) CertificateImages(ctx context.Context, officer, office string) (sig, stamp []byte, err error) {
	err = s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		if _, sig, err = s.imageIn(tx, ImageSignature, normID(officer)); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, stamp, err = s.imageIn(tx, ImageStamp, office); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	})
	return sig, stamp, err
}
