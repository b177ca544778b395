// Package plot draws line charts (learning curves, leak curves) into PNG
// files with the standard library only, so packages built without cgo
// (gym chaos) can plot as well as the trainer.
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strconv"
	"strings"
)

// Series is one line of a plot. Lo and Hi, when set (one per point), are
// an interval around each Y (e.g. a 95 % confidence interval), drawn as
// error bars.
type Series struct {
	Name   string
	X, Y   []float64
	Lo, Hi []float64 `json:",omitempty"`
}

// Write draws series as lines (a learning curve) into a PNG at path:
// axes with tick labels, a title, and a legend. It uses only the standard
// library (the module has no plotting dependency) and a built-in 3×5
// pixel font, drawn at 2× scale.
func Write(path, title, xLabel string, series []Series) error {
	const w, h = 800, 500
	const left, right, top, bottom = 70, 20, 40, 50
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), 0.0, 1.0
	for _, s := range series {
		for i := range s.X {
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
			if s.hasBars() {
				ymin, ymax = math.Min(ymin, s.Lo[i]), math.Max(ymax, s.Hi[i])
			}
		}
	}
	if math.IsInf(xmin, 1) {
		xmin, xmax = 0, 1
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	px := func(x float64) int { return left + int(math.Round((x-xmin)/(xmax-xmin)*pw)) }
	py := func(y float64) int { return h - bottom - int(math.Round((y-ymin)/(ymax-ymin)*ph)) }
	grid, ink := color.RGBA{225, 225, 225, 255}, color.RGBA{0, 0, 0, 255}
	for i := 0; i <= 5; i++ {
		x := xmin + (xmax-xmin)*float64(i)/5
		y := ymin + (ymax-ymin)*float64(i)/5
		line(img, px(x), top, px(x), h-bottom, grid, 1)
		line(img, left, py(y), w-right, py(y), grid, 1)
		lx := tick(x)
		drawText(img, px(x)-textWidth(lx)/2, h-bottom+8, lx, ink)
		ly := tick(y)
		drawText(img, left-8-textWidth(ly), py(y)-5, ly, ink)
	}
	line(img, left, top, left, h-bottom, ink, 1)
	line(img, left, h-bottom, w-right, h-bottom, ink, 1)
	drawText(img, left+(int(pw)-textWidth(xLabel))/2, h-bottom+28, xLabel, ink)
	drawText(img, (w-textWidth(title))/2, 12, title, ink)
	for k, s := range series {
		c := palette[k%len(palette)]
		for i := 1; i < len(s.X); i++ {
			line(img, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), c, 2)
		}
		for i := range s.X {
			fill(img, image.Rect(px(s.X[i])-2, py(s.Y[i])-2, px(s.X[i])+3, py(s.Y[i])+3), c)
			if s.hasBars() {
				x := px(s.X[i])
				line(img, x, py(s.Lo[i]), x, py(s.Hi[i]), c, 1)
				line(img, x-3, py(s.Lo[i]), x+3, py(s.Lo[i]), c, 1)
				line(img, x-3, py(s.Hi[i]), x+3, py(s.Hi[i]), c, 1)
			}
		}
		ly := top + 10 + 18*k
		fill(img, image.Rect(left+12, ly, left+32, ly+10), c)
		drawText(img, left+40, ly, s.Name, ink)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func (s Series) hasBars() bool { return len(s.Lo) == len(s.X) && len(s.Hi) == len(s.X) && len(s.X) > 0 }

var palette = []color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}, {148, 103, 189, 255}}

func tick(v float64) string {
	switch a := math.Abs(v); {
	case a >= 10000:
		return strconv.FormatFloat(v/1000, 'f', 0, 64) + "K"
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a segment of the given thickness (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, thick int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fill(img, image.Rect(x0, y0, x0+thick, y0+thick), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func sign(x int) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

const fontScale = 2

func textWidth(s string) int { return len(s) * 4 * fontScale }

// text draws s in the 3×5 font (upper case; unknown characters blank).
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for i, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if !ok {
			continue
		}
		for row, bits := range g {
			for col := range 3 {
				if bits[col] == '#' {
					ox, oy := x+i*4*fontScale+col*fontScale, y+row*fontScale
					fill(img, image.Rect(ox, oy, ox+fontScale, oy+fontScale), c)
				}
			}
		}
	}
}

var glyphs = map[rune][5]string{
	'A': {".#.", "#.#", "###", "#.#", "#.#"}, 'B': {"##.", "#.#", "##.", "#.#", "##."},
	'C': {".##", "#..", "#..", "#..", ".##"}, 'D': {"##.", "#.#", "#.#", "#.#", "##."},
	'E': {"###", "#..", "##.", "#..", "###"}, 'F': {"###", "#..", "##.", "#..", "#.."},
	'G': {".##", "#..", "#.#", "#.#", ".##"}, 'H': {"#.#", "#.#", "###", "#.#", "#.#"},
	'I': {"###", ".#.", ".#.", ".#.", "###"}, 'J': {"..#", "..#", "..#", "#.#", ".#."},
	'K': {"#.#", "#.#", "##.", "#.#", "#.#"}, 'L': {"#..", "#..", "#..", "#..", "###"},
	'M': {"#.#", "###", "###", "#.#", "#.#"}, 'N': {"##.", "#.#", "#.#", "#.#", "#.#"},
	'O': {".#.", "#.#", "#.#", "#.#", ".#."}, 'P': {"##.", "#.#", "##.", "#..", "#.."},
	'Q': {".#.", "#.#", "#.#", "##.", ".##"}, 'R': {"##.", "#.#", "##.", "#.#", "#.#"},
	'S': {".##", "#..", ".#.", "..#", "##."}, 'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'U': {"#.#", "#.#", "#.#", "#.#", "###"}, 'V': {"#.#", "#.#", "#.#", "#.#", ".#."},
	'W': {"#.#", "#.#", "###", "###", "#.#"}, 'X': {"#.#", "#.#", ".#.", "#.#", "#.#"},
	'Y': {"#.#", "#.#", ".#.", ".#.", ".#."}, 'Z': {"###", "..#", ".#.", "#..", "###"},
	'0': {"###", "#.#", "#.#", "#.#", "###"}, '1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"##.", "..#", ".#.", "#..", "###"}, '3': {"##.", "..#", ".#.", "..#", "##."},
	'4': {"#.#", "#.#", "###", "..#", "..#"}, '5': {"###", "#..", "##.", "..#", "##."},
	'6': {".##", "#..", "###", "#.#", "###"}, '7': {"###", "..#", ".#.", ".#.", ".#."},
	'8': {"###", "#.#", "###", "#.#", "###"}, '9': {"###", "#.#", "###", "..#", "##."},
	'.': {"...", "...", "...", "...", ".#."}, ',': {"...", "...", "...", ".#.", "#.."},
	'-': {"...", "...", "###", "...", "..."}, '+': {"...", ".#.", "###", ".#.", "..."},
	':': {"...", ".#.", "...", ".#.", "..."}, '/': {"..#", "..#", ".#.", "#..", "#.."},
	'(': {".#.", "#..", "#..", "#..", ".#."}, ')': {".#.", "..#", "..#", "..#", ".#."},
	'%': {"#.#", "..#", ".#.", "#..", "#.#"}, '=': {"...", "###", "...", "###", "..."},
	'_': {"...", "...", "...", "...", "###"}, '±': {".#.", "###", ".#.", "...", "###"},
	'×': {"...", "#.#", ".#.", "#.#", "..."},
}
