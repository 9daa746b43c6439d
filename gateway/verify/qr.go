package verify

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ecogate/ecogate/qrsign"
	"github.com/ecogate/ecogate/store"
)

// QRChecker checks a signed QR payload (satisfied by *qrsign.Verifier,
// set up with this node's QR certificates and anchors).
type QRChecker interface {
	Verify(token string, at time.Time) (*qrsign.Result, error)
}

// QRCheck is the outcome of checking a signed QR payload: Valid with the
// signed Payload, or the Problem. The register's current status is the
// lookup's Answer beside it: a valid signature says what was issued, the
// register says whether it still stands.
type QRCheck struct {
	Valid   bool            `json:"valid"`
	Problem string          `json:"problem,omitempty"`
	Payload *qrsign.Payload `json:"payload,omitempty"`
	Signer  string          `json:"signer,omitempty"`
}

// handleSigned is GET /verify/s/{jws}: the signed QR payload in the path.
func (s *Service) handleSigned(w http.ResponseWriter, r *http.Request) {
	s.headers(w)
	s.signed(w, r, chi.URLParam(r, "jws"))
}

// signed checks a signed QR payload and then looks the number up in the
// register, rate-limited like every lookup.
func (s *Service) signed(w http.ResponseWriter, r *http.Request, raw string) {
	addr := s.opt.ClientAddr(r)
	now := s.now()
	pg := Page{Looked: true}
	if !s.allow(w, r, addr, "signed-qr", "", "", pg, now) {
		return
	}
	if s.opt.QR == nil {
		s.write(w, r, http.StatusNotFound, pg, Answer{Message: "this node does not check signed QR payloads", CheckedAt: now.UTC()})
		return
	}
	res, err := s.opt.QR.Verify(qrsign.TokenOf(raw), now)
	if err != nil {
		s.logLookup(addr, "signed-qr", "", "", "bad-signature")
		pg.QR = &QRCheck{Problem: err.Error()}
		s.write(w, r, http.StatusUnprocessableEntity, pg, Answer{Message: "the QR code's signed payload does not verify: the printed data may have been altered (" + err.Error() + ")", CheckedAt: now.UTC()})
		return
	}
	pl := res.Payload
	pg.QR = &QRCheck{Valid: true, Payload: &pl, Signer: res.Signer.Subject.CommonName}
	pg.Country, pg.Number = pl.Country, pl.Number
	var rec *store.IssuedCert
	err = store.ErrNotFound
	if strings.EqualFold(pl.Country, s.opt.Country) {
		rec, err = s.opt.Register.Get(r.Context(), pl.Number)
	}
	s.answer(w, r, addr, "signed-qr", pg, rec, err)
}
