package files

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"strconv"

	"github.com/gen2brain/webp"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // sizes and decoding of WebP originals

	"strata/modules/settings"
)

// Transform is an image transformation as /assets takes it (Directus's parameters).
type Transform = settings.AssetPreset

// transformable are the image types transformations apply to; other files are
// served as they are.
var transformable = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// empty reports whether a transformation changes nothing.
func empty(t Transform) bool {
	return t.Width == 0 && t.Height == 0 && t.Quality == 0 && t.Format == ""
}

// output is the format a transformation writes for an original of type kind: the one
// asked for, else the original's (GIF: its first frame, as PNG).
func output(t Transform, kind string) (format, mimeType, ext string) {
	f := t.Format
	if f == "" {
		switch kind {
		case "image/jpeg":
			f = "jpg"
		case "image/webp":
			f = "webp"
		default:
			f = "png"
		}
	}
	switch f {
	case "jpg", "jpeg":
		return "jpg", "image/jpeg", ".jpg"
	case "webp":
		return "webp", "image/webp", ".webp"
	}
	return "png", "image/png", ".png"
}

// variant names a transformation of one original: the same original and parameters
// always give the same name.
func variant(disk string, t Transform) string {
	fit := t.Fit
	if fit == "" {
		fit = "cover"
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d|%s|%d|%s|%t", disk, t.Width, t.Height, fit, t.Quality, t.Format, t.WithoutEnlargement)))
	return hex.EncodeToString(h[:12])
}

// geometry is what a transformation makes of a sw×sh image: the size to scale it to,
// and the part of the scaled image to keep (cover crops) or the canvas to place it on
// (contain pads).
type geometry struct {
	scaleW, scaleH int
	crop           image.Rectangle // in the scaled image; empty: all of it
	canvasW        int             // contain: the padded canvas; 0: none
	canvasH        int
}

func plan(sw, sh int, t Transform, focusX, focusY *int) geometry {
	w, h := t.Width, t.Height
	g := geometry{scaleW: sw, scaleH: sh}
	if w == 0 && h == 0 {
		return g
	}
	fw, fh := float64(w)/float64(sw), float64(h)/float64(sh)
	var scale float64
	switch {
	case w == 0:
		scale = fh
	case h == 0:
		scale = fw
	case t.Fit == "contain" || t.Fit == "inside":
		scale = math.Min(fw, fh)
	default: // cover, outside
		scale = math.Max(fw, fh)
	}
	if t.WithoutEnlargement && scale > 1 {
		scale = 1
	}
	g.scaleW = max(1, int(math.Round(float64(sw)*scale)))
	g.scaleH = max(1, int(math.Round(float64(sh)*scale)))
	if w == 0 || h == 0 {
		return g
	}
	switch t.Fit {
	case "contain":
		g.canvasW, g.canvasH = w, h
		if t.WithoutEnlargement {
			g.canvasW, g.canvasH = min(w, max(g.scaleW, w*g.scaleH/h)), min(h, max(g.scaleH, h*g.scaleW/w))
		}
	case "", "cover":
		cw, ch := min(w, g.scaleW), min(h, g.scaleH)
		// Centred, or on the file's focal point (in the original's pixels).
		cx, cy := g.scaleW/2, g.scaleH/2
		if focusX != nil && focusY != nil {
			cx, cy = int(float64(*focusX)*scale), int(float64(*focusY)*scale)
		}
		x0 := min(max(cx-cw/2, 0), g.scaleW-cw)
		y0 := min(max(cy-ch/2, 0), g.scaleH-ch)
		g.crop = image.Rect(x0, y0, x0+cw, y0+ch)
	}
	return g
}

// render applies a transformation to a decoded image and encodes it.
func render(src image.Image, t Transform, kind string, focusX, focusY *int) ([]byte, error) {
	b := src.Bounds()
	g := plan(b.Dx(), b.Dy(), t, focusX, focusY)
	var out image.Image = src
	if g.scaleW != b.Dx() || g.scaleH != b.Dy() {
		scaled := image.NewRGBA(image.Rect(0, 0, g.scaleW, g.scaleH))
		draw.CatmullRom.Scale(scaled, scaled.Bounds(), src, b, draw.Src, nil)
		out = scaled
	}
	if !g.crop.Empty() {
		cropped := image.NewRGBA(image.Rect(0, 0, g.crop.Dx(), g.crop.Dy()))
		draw.Draw(cropped, cropped.Bounds(), out, g.crop.Min.Add(out.Bounds().Min), draw.Src)
		out = cropped
	}
	if g.canvasW > 0 {
		canvas := image.NewRGBA(image.Rect(0, 0, g.canvasW, g.canvasH)) // transparent
		at := image.Pt((g.canvasW-out.Bounds().Dx())/2, (g.canvasH-out.Bounds().Dy())/2)
		draw.Draw(canvas, out.Bounds().Sub(out.Bounds().Min).Add(at), out, out.Bounds().Min, draw.Over)
		out = canvas
	}
	quality := t.Quality
	if quality == 0 {
		quality = 80
	}
	var buf bytes.Buffer
	format, _, _ := output(t, kind)
	var err error
	switch format {
	case "jpg":
		// JPEG has no transparency: what was transparent becomes white.
		flat := image.NewRGBA(out.Bounds())
		draw.Draw(flat, flat.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(flat, flat.Bounds(), out, out.Bounds().Min, draw.Over)
		err = jpeg.Encode(&buf, flat, &jpeg.Options{Quality: quality})
	case "webp":
		err = webp.Encode(&buf, out, webp.Options{Quality: quality})
	default:
		err = png.Encode(&buf, out)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", format, err)
	}
	return buf.Bytes(), nil
}

// decodeBounded decodes an image whose header says it has at most maxPixels pixels;
// a larger one is refused before its pixels are decoded (a small file can declare a
// huge image).
func decodeBounded(open func() (io.ReadCloser, error), maxPixels int64) (image.Image, error) {
	r, err := open()
	if err != nil {
		return nil, err
	}
	cfg, _, err := image.DecodeConfig(r)
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotImage, err)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > maxPixels || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, &tooManyPixels{pixels: px, limit: maxPixels}
	}
	if r, err = open(); err != nil {
		return nil, err
	}
	defer r.Close()
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotImage, err)
	}
	return img, nil
}

type tooManyPixels struct{ pixels, limit int64 }

func (e *tooManyPixels) Error() string {
	return "the image has " + strconv.FormatInt(e.pixels, 10) + " pixels, more than the " + strconv.FormatInt(e.limit, 10) + " a transformation may decode"
}
