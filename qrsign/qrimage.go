package qrsign

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// Symbol is an encoded QR code: its version and its module matrix
// (true = dark), without the quiet zone.
type Symbol struct {
	Version int
	Size    int
	dark    [][]bool
}

// Dark reports whether module (x, y) is dark.
func (s *Symbol) Dark(x, y int) bool { return s.dark[y][x] }

// Encode encodes content at error-correction level L (the payload is
// signed: a misread is detected by the signature, so the space goes to
// data), in byte mode.
func Encode(content string) (*Symbol, error) {
	code, err := encoder.Encoder_encode(content, decoder.ErrorCorrectionLevel_L, nil)
	if err != nil {
		return nil, fmt.Errorf("QR encode: %w", err)
	}
	m := code.GetMatrix()
	s := &Symbol{Version: code.GetVersion().GetVersionNumber(), Size: m.GetWidth()}
	s.dark = make([][]bool, m.GetHeight())
	for y := range s.dark {
		s.dark[y] = make([]bool, m.GetWidth())
		for x := range s.dark[y] {
			s.dark[y][x] = m.Get(x, y) == 1
		}
	}
	return s, nil
}

// Image renders the symbol with scale pixels per module and a 4-module
// quiet zone.
func (s *Symbol) Image(scale int) *image.Gray {
	n := (s.Size + 8) * scale
	img := image.NewGray(image.Rect(0, 0, n, n))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 0; y < s.Size; y++ {
		for x := 0; x < s.Size; x++ {
			if !s.dark[y][x] {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				for dx := 0; dx < scale; dx++ {
					img.SetGray((x+4)*scale+dx, (y+4)*scale+dy, color.Gray{})
				}
			}
		}
	}
	return img
}

// PNG writes the symbol as PNG.
func (s *Symbol) PNG(w io.Writer, scale int) error { return png.Encode(w, s.Image(scale)) }

// Decode reads a QR code from an image and returns its text.
func Decode(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("QR image: %w", err)
	}
	hints := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		// The finder-pattern detector misses some clean, upright
		// symbols (about 1 in 70 of those Image renders): read such an
		// image as a pure symbol too.
		pure := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true}
		if res2, err2 := qrcode.NewQRCodeReader().Decode(bmp, pure); err2 == nil {
			return res2.GetText(), nil
		}
		return "", fmt.Errorf("no QR code found in the image: %w", err)
	}
	return res.GetText(), nil
}

// MaxImageSide bounds each side of an image DecodePNG reads: a scan or
// photo of a certificate is a few thousand pixels, and the header is
// checked before the pixels are decoded, so a small file that claims a
// huge picture is refused without allocating it.
const MaxImageSide = 8192

// DecodePNG reads a QR code from PNG (or JPEG/GIF when registered) bytes.
func DecodePNG(data []byte) (string, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("QR image: %w", err)
	}
	if cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return "", fmt.Errorf("QR image: %dx%d pixels, more than %d on a side; crop or scale the picture to the QR code", cfg.Width, cfg.Height, MaxImageSide)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("QR image: %w", err)
	}
	return Decode(img)
}
