package portal

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// TestBackgroundCache: the cached check answers what CheckBackground
// answers, remembers it by content, and starts again when full.
func TestBackgroundCache(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	img.Set(0, 0, color.NRGBA{0, 0, 0, 255})
	var opaque bytes.Buffer
	if err := png.Encode(&opaque, img); err != nil {
		t.Fatal(err)
	}
	var c backgroundCache
	for _, data := range [][]byte{opaque.Bytes(), []byte("not an image"), opaque.Bytes()} {
		if got, want := c.check(sha256Hex(data), data), CheckBackground(data); got != want {
			t.Fatalf("cached %+v, want %+v", got, want)
		}
		if _, ok := c.m[sha256Hex(data)]; !ok {
			t.Fatal("the answer was not remembered")
		}
	}
	if len(c.m) != 2 {
		t.Fatalf("%d answers remembered for 2 contents", len(c.m))
	}
	for i := range maxBackgrounds {
		g := []byte(fmt.Sprint("garbage ", i))
		c.check(sha256Hex(g), g)
	}
	if len(c.m) > maxBackgrounds || len(c.m) == 0 {
		t.Fatalf("%d answers remembered, at most %d", len(c.m), maxBackgrounds)
	}
}
