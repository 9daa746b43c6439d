package portal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decode uploaded JPEG stamps and signatures
	_ "image/png"  // decode uploaded PNG stamps and signatures
	"io"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/issuance"
)

// The agency administrator's images page: an office's stamp image and
// each officer's signature image, printed on the certificate PDF. The
// issuance service checks and stores them (PNG or JPEG, size limits,
// audited); the page adds the "background removed?" check, a warning and
// never a refusal.

// Background is the outcome of the "background removed?" check of a
// stamp or signature image.
type Background struct {
	// Transparent is true for a PNG with an alpha channel whose four
	// corners are (nearly) fully transparent.
	Transparent bool
	// Note says why not, in words for the page.
	Note string
}

// CheckBackground looks at an uploaded stamp or signature image: it
// passes when the image is a PNG with an alpha channel and its four
// corner pixels are transparent (alpha below 1/16), as an image whose
// background was removed is; otherwise it says what it found (the image
// would hide the certificate's text or box lines under it).
func CheckBackground(data []byte) Background {
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return Background{Note: "the image does not decode: " + err.Error()}
	}
	if format != "png" {
		return Background{Note: "a " + format + " image has no transparency: its background will print as a box over the certificate; upload a PNG with the background removed"}
	}
	b := img.Bounds()
	for _, p := range []image.Point{b.Min, {b.Max.X - 1, b.Min.Y}, {b.Min.X, b.Max.Y - 1}, {b.Max.X - 1, b.Max.Y - 1}} {
		if _, _, _, a := img.At(p.X, p.Y).RGBA(); a >= 0x1000 {
			return Background{Note: fmt.Sprintf("the background is not removed: the corner pixel at (%d,%d) is opaque; it will print as a box over the certificate (remove the background and save a PNG with transparency)", p.X, p.Y)}
		}
	}
	return Background{Transparent: true}
}

type imageRow struct {
	Kind, Owner, Name string
	CSRF              string
	Image             *issuance.Image
	Check             Background
}

// maxBackgrounds bounds backgroundCache: past it the cache starts again.
const maxBackgrounds = 4096

// backgroundCache remembers CheckBackground's answer per image content
// (its hex SHA-256, as issuance.Image.SHA256 holds it), so that the images
// page decodes each stored image once, not at every view. An image's
// content never changes under its hash; a new upload is another content.
type backgroundCache struct {
	mu sync.Mutex
	m  map[string]Background
}

// check is CheckBackground(data), from the cache when it has the answer
// for sum, data's hex SHA-256.
func (c *backgroundCache) check(sum string, data []byte) Background {
	c.mu.Lock()
	b, ok := c.m[sum]
	c.mu.Unlock()
	if ok {
		return b
	}
	b = CheckBackground(data)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxBackgrounds {
		c.m = make(map[string]Background)
	}
	c.m[sum] = b
	c.mu.Unlock()
	return b
}

// sha256Hex is data's SHA-256 in lower-case hex.
func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

type imagesView struct {
	Stamps, Signatures []imageRow
}

func (s *Server) imageRoutes(r chi.Router) {
	r.Get("/agency/images", s.need(s.handleImages, issuance.RoleAgencyAdmin))
	r.Post("/agency/images/{kind}/{owner}", s.need(s.handleImageUpload, issuance.RoleAgencyAdmin))
	r.Get("/agency/images/{kind}/{owner}", s.need(s.handleImage, issuance.RoleAgencyAdmin, issuance.RoleOfficer, issuance.RoleOperator))
}

func (s *Server) imagesPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d, ok := s.dashboard(w, r)
	if !ok {
		return
	}
	ctx, a := r.Context(), actorOf(r)
	ps, err := s.opt.Service.AgencyPeople(ctx, a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	row := func(kind issuance.ImageKind, owner, name string) (imageRow, error) {
		ir := imageRow{Kind: string(kind), Owner: owner, Name: name, CSRF: sessionOf(r).CSRF}
		img, data, err := s.opt.Service.ImageOf(ctx, a, kind, owner)
		if errors.Is(err, issuance.ErrNotFound) {
			return ir, nil
		}
		if err != nil {
			return ir, err
		}
		ir.Image, ir.Check = img, s.backgrounds.check(img.SHA256, data)
		return ir, nil
	}
	v := &imagesView{}
	for _, o := range d.Offices {
		ir, err := row(issuance.ImageStamp, o.ID, o.Name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Stamps = append(v.Stamps, ir)
	}
	for _, p := range ps {
		if p.Role != issuance.RoleOfficer {
			continue
		}
		ir, err := row(issuance.ImageSignature, p.ID, p.Name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Signatures = append(v.Signatures, ir)
	}
	s.render(w, r, status, "images", "Stamp and signature images", v, msg)
}

func (s *Server) handleImages(w http.ResponseWriter, r *http.Request) {
	s.imagesPage(w, r, http.StatusOK, "")
}

func (s *Server) handleImageUpload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, issuance.MaxImageBytes+64<<10)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		s.imagesPage(w, r, http.StatusUnprocessableEntity, fmt.Sprintf("Not uploaded: the upload could not be read (at most %d KiB).", issuance.MaxImageBytes>>10))
		return
	}
	if !checkCSRF(r, sessionOf(r).CSRF) {
		s.log.Warn("portal: upload refused: CSRF token missing or wrong", "user", sessionOf(r).User.Name, "path", r.URL.Path)
		s.render(w, r, http.StatusForbidden, "message", "Not allowed", nil, "The form expired or did not come from this site. Open the page again.")
		return
	}
	f, _, err := r.FormFile("image")
	if err != nil {
		s.imagesPage(w, r, http.StatusUnprocessableEntity, "Not uploaded: choose a PNG or JPEG file.")
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, issuance.MaxImageBytes+1))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, a, owner := r.Context(), actorOf(r), chi.URLParam(r, "owner")
	switch chi.URLParam(r, "kind") {
	case string(issuance.ImageStamp):
		d, ok := s.dashboard(w, r)
		if !ok {
			return
		}
		_, err = s.opt.Service.PutStampImage(ctx, a, d.Org, owner, data)
	case string(issuance.ImageSignature):
		_, err = s.opt.Service.PutSignatureImage(ctx, a, owner, data)
	default:
		s.render(w, r, http.StatusNotFound, "message", "Not found", nil, "There is no such image kind (stamp or signature).")
		return
	}
	if err != nil {
		if isUserError(err) || errors.Is(err, issuance.ErrForbidden) {
			s.imagesPage(w, r, http.StatusUnprocessableEntity, "Not uploaded: "+err.Error())
			return
		}
		s.fail(w, r, err)
		return
	}
	msg := "Image uploaded for " + owner + "."
	if bg := s.backgrounds.check(sha256Hex(data), data); bg.Transparent {
		msg += " Its background is removed (transparent corners)."
	} else {
		msg += " Warning: " + bg.Note + "."
	}
	s.imagesPage(w, r, http.StatusOK, msg)
}

func (s *Server) handleImage(w http.ResponseWriter, r *http.Request) {
	img, data, err := s.opt.Service.ImageOf(r.Context(), actorOf(r), issuance.ImageKind(chi.URLParam(r, "kind")), chi.URLParam(r, "owner"))
	if err != nil {
		if errors.Is(err, issuance.ErrInvalid) {
			err = fmt.Errorf("%w: %v", issuance.ErrNotFound, err)
		}
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", img.ContentType)
	w.Header().Set("Content-Disposition", "inline")
	_, _ = w.Write(data)
}
