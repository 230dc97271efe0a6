package files

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"testing"

	"github.com/gen2brain/webp"
)

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name           string
		sw, sh         int
		tr             Transform
		scaleW, scaleH int
		crop           image.Rectangle
		canvasW        int
		canvasH        int
	}{
		{"width only keeps the ratio", 400, 200, Transform{Width: 100}, 100, 50, image.Rectangle{}, 0, 0},
		{"height only keeps the ratio", 400, 200, Transform{Height: 100}, 200, 100, image.Rectangle{}, 0, 0},
		{"cover fills and crops the middle", 400, 200, Transform{Width: 100, Height: 100}, 200, 100, image.Rect(50, 0, 150, 100), 0, 0},
		{"inside fits within", 400, 200, Transform{Width: 100, Height: 100, Fit: "inside"}, 100, 50, image.Rectangle{}, 0, 0},
		{"outside covers", 400, 200, Transform{Width: 100, Height: 100, Fit: "outside"}, 200, 100, image.Rectangle{}, 0, 0},
		{"contain pads", 400, 200, Transform{Width: 100, Height: 100, Fit: "contain"}, 100, 50, image.Rectangle{}, 100, 100},
		{"without enlargement stays small", 50, 40, Transform{Width: 100, WithoutEnlargement: true}, 50, 40, image.Rectangle{}, 0, 0},
		{"enlarges when allowed", 50, 40, Transform{Width: 100}, 100, 80, image.Rectangle{}, 0, 0},
		{"cover without enlargement crops what there is", 50, 40, Transform{Width: 100, Height: 20, WithoutEnlargement: true}, 50, 40, image.Rect(0, 10, 50, 30), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := plan(tc.sw, tc.sh, tc.tr, nil, nil)
			if g.scaleW != tc.scaleW || g.scaleH != tc.scaleH || g.crop != tc.crop || g.canvasW != tc.canvasW || g.canvasH != tc.canvasH {
				t.Fatalf("plan = %+v", g)
			}
		})
	}
	// A focal point moves the crop, within the image.
	x, y := 390, 100
	if g := plan(400, 200, Transform{Width: 100, Height: 100}, &x, &y); g.crop != image.Rect(100, 0, 200, 100) {
		t.Fatalf("focal crop = %v", g.crop)
	}
}

func TestRenderFormats(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for i := 0; i < 300; i++ {
		src.Set(i, i%200, color.RGBA{R: 255, A: 255})
	}
	for _, tc := range []struct {
		tr   Transform
		kind string
		w, h int
	}{
		{Transform{Width: 60, Height: 60, Format: "jpg"}, "image/jpeg", 60, 60},
		{Transform{Width: 60, Format: "png"}, "image/png", 60, 40},
		{Transform{Width: 60, Height: 60, Fit: "contain", Format: "webp", Quality: 50}, "image/webp", 60, 60},
	} {
		data, err := render(src, tc.tr, "image/png", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var img image.Image
		switch tc.kind {
		case "image/webp":
			img, err = webp.Decode(bytes.NewReader(data))
		default:
			img, _, err = image.Decode(bytes.NewReader(data))
		}
		if err != nil || img.Bounds().Dx() != tc.w || img.Bounds().Dy() != tc.h {
			t.Fatalf("%+v: %v %v", tc.tr, err, img)
		}
		if _, kind, _ := output(tc.tr, "image/png"); kind != tc.kind {
			t.Fatalf("%+v: output %s", tc.tr, kind)
		}
	}
}

// TestDecodeBoundedRefusesBombs: an image whose header declares more pixels than the
// limit is refused before any pixel is decoded.
func TestDecodeBoundedRefusesBombs(t *testing.T) {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3000, 3000))) // compresses to a few KB
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }
	_, err := decodeBounded(open, 1_000_000)
	if _, ok := err.(*tooManyPixels); !ok {
		t.Fatalf("a 9-megapixel image under a 1-megapixel limit: %v", err)
	}
	if img, err := decodeBounded(open, 10_000_000); err != nil || img.Bounds().Dx() != 3000 {
		t.Fatalf("within the limit: %v", err)
	}
}
