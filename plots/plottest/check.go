// Package plottest checks the report's PNG charts by their pixels alone,
// for tests: Check tells a drawn chart from a blank one without knowing how
// it was built (issue 23: the per-channel histogram figures came out as
// their legends on white, and every test still passed because none looked
// inside the PNGs), and Golden compares a chart with a stored image.
//
// The thresholds assume the plots package's rendering: gonum/plot axes
// (0.5 pt black lines, 5 pt from the data) at plots.DPI (96), legends
// either in one column of their own without axes or in the top or bottom
// right corner of the data area, light grey grid lines and the Tableau 10
// series colours. It imports nothing of this module, so that the plots
// package's own tests can use it.
package plottest

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"slices"
)

const (
	// minAxis is the shortest run of dark grey pixels taken for an axis
	// line (a tile of a 4x3 inch grid has axes of about 200 px; tick
	// marks and text are far shorter).
	minAxis = 40
	// The y axis ends gonum's Axis.Padding (5 pt, 6.7 px) above the x
	// axis, which starts as far right of it; a bar's own outline meets at
	// 0 px, so it never passes for a pair of axes.
	minGap, maxGap = 3, 16
	// legendBand is left out at the right of every plot area: a legend
	// drawn inside the axes puts its coloured thumbnails (20 pt, 27 px
	// wide) there, and only its black text further left.
	legendBand = 32
	// margin keeps the anti-aliased axis lines themselves out.
	margin = 3
	// minInk is how many non-background pixels make an area drawn.
	minInk = 20
	// minColour is how many pixels of one colour make a series colour, so
	// that blends where two lines cross do not count.
	minColour = 12
	// hues divide the hue circle: 30 degree sectors starting at -15 keep
	// the palette's colours apart (red and brown share one). The
	// palette's grey is one more colour, grey.
	hues    = 12
	grey    = hues
	colours = hues + 1
	// A legend's thumbnail is at most 20 pt (27 px) of line, or a marker;
	// its entries are about 13 px apart, and grey ones (not a colour
	// here) leave a gap: a gap of three entries ends a legend.
	maxThumb, entryGap = 40, 40
)

// Area is one plot area: the rectangle inside a pair of axes, in image
// coordinates.
type Area struct {
	Rect image.Rectangle
	// Ink counts the non-background pixels inside, and Colours the series
	// colours among them, both without the legend band at the right.
	Ink     int
	Colours int
}

// Result is what Inspect finds in one image.
type Result struct {
	Areas []Area
	// Colours counts the series colours anywhere in the image, a legend's
	// included: what the plot areas should show. AreaColours counts those
	// inside the plot areas, all together.
	Colours, AreaColours int
	// Legends counts the legends outside the plot areas: stacks of
	// coloured thumbnails.
	Legends int
}

// pixel classes, in order of darkness: ink and axis pixels are what a
// chart draws, white and light ones its background.
const (
	white = iota // the background
	light        // light grey: grid lines, anti-aliased edges
	ink          // text, grey or black lines and fills, every colour
	axis         // ink dark and grey enough for an axis line
)

// classified is an image reduced to what Inspect needs per pixel.
type classified struct {
	w, h   int
	class  []uint8
	colour []int8 // series colour: a hue sector or grey; -1 for none
}

func classify(img image.Image) *classified {
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	n := b.Dx() * b.Dy()
	c := &classified{w: b.Dx(), h: b.Dy(), class: make([]uint8, n), colour: make([]int8, n)}
	greyish := make([]bool, n)
	for i := range n {
		r, g, bl := int(rgba.Pix[4*i]), int(rgba.Pix[4*i+1]), int(rgba.Pix[4*i+2])
		hi, lo := max(r, g, bl), min(r, g, bl)
		luma := (299*r + 587*g + 114*bl) / 1000
		c.colour[i] = -1
		switch {
		case hi-lo >= 60:
			c.class[i] = ink
			c.colour[i] = int8(hueSector(r, g, bl, hi, lo))
		case hi-lo <= 24 && luma <= 170:
			c.class[i] = axis
		case luma <= 200:
			c.class[i] = ink
		case luma < 250:
			c.class[i] = light
		}
		greyish[i] = hi-lo <= 6 && lo >= 117 && hi <= 137 // the palette's (127, 127, 127)
	}
	// Grey is a series colour only as a fill (the waterfall's first bar):
	// text, axis lines and where tick marks meet them pass through it
	// only at their anti-aliased edges, a pixel or two wide.
	for y := 1; y < c.h-1; y++ {
		for x := 1; x < c.w-1; x++ {
			i := y*c.w + x
			if greyish[i] && greyish[i-1] && greyish[i+1] && greyish[i-c.w] && greyish[i+c.w] {
				c.colour[i] = grey
			}
		}
	}
	return c
}

// hueSector returns the pixel's hue sector. Blending with white or grey,
// which is all anti-aliasing does on these charts, keeps the hue.
func hueSector(r, g, b, hi, lo int) int {
	d := float64(hi - lo)
	var h float64
	switch hi {
	case r:
		h = 60 * float64(g-b) / d
	case g:
		h = 120 + 60*float64(b-r)/d
	default:
		h = 240 + 60*float64(r-g)/d
	}
	return int((h+15+360)/30) % hues
}

// count adds r's pixels to n, by series colour, and returns how many are
// ink.
func (c *classified) count(r image.Rectangle, n *[colours]int) (inked int) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			i := y*c.w + x
			if c.class[i] >= ink {
				inked++
			}
			if k := c.colour[i]; k >= 0 {
				n[k]++
			}
		}
	}
	return inked
}

// distinct counts the colours with at least minColour pixels.
func distinct(n *[colours]int) int {
	k := 0
	for _, v := range n {
		if v >= minColour {
			k++
		}
	}
	return k
}

// run is a straight run of pixels: at fixed at, from lo to hi inclusive.
type run struct{ at, lo, hi int }

// axisRuns returns the runs of at least minAxis axis pixels along
// columns (vertical) or rows.
func (c *classified) axisRuns(vertical bool) []run {
	n, m := c.h, c.w // positions along a line, lines
	if !vertical {
		n, m = c.w, c.h
	}
	var out []run
	for line := range m {
		start := -1
		for pos := 0; pos <= n; pos++ {
			isAxis := false
			if pos < n {
				i := line*c.w + pos
				if vertical {
					i = pos*c.w + line
				}
				isAxis = c.class[i] == axis
			}
			switch {
			case isAxis && start < 0:
				start = pos
			case !isAxis && start >= 0:
				if pos-start >= minAxis {
					out = append(out, run{at: line, lo: start, hi: pos - 1})
				}
				start = -1
			}
		}
	}
	return out
}

// gridEnd returns the right end of the data area beside a y axis v that
// has no x axis below it, or -1 when v is no y axis: a y axis has the
// white of its padding right beside it (a bar's or a fill's edge has
// not), and the area's horizontal grid lines start within maxPad of it
// and run on, under whatever is drawn over them, to the area's right end.
func (c *classified) gridEnd(v run) int {
	const maxPad = 100 // a nominal axis pads by half its first name
	if v.at+maxPad >= c.w {
		return -1
	}
	blank := 0
	for y := v.lo; y <= v.hi; y++ {
		if c.class[y*c.w+v.at+2] == white {
			blank++
		}
	}
	if 10*blank < 9*(v.hi-v.lo+1) {
		return -1
	}
	end := -1
	for y := v.lo; y <= v.hi; y++ {
		x := v.at + minGap
		for x < v.at+maxPad && c.class[y*c.w+x] == white {
			x++
		}
		start := x
		for x < c.w && c.class[y*c.w+x] != white {
			x++
		}
		if x-start >= minAxis {
			end = max(end, x-1)
		}
	}
	return end
}

// areas finds the plot areas: the rectangles inside a y axis and the x
// axis below it, or beside a y axis without one, sorted top to bottom,
// left to right.
func (c *classified) areas() []image.Rectangle {
	var rects []image.Rectangle
	add := func(r image.Rectangle) {
		// An anti-aliased axis can darken two neighbouring columns or
		// rows, and a bar's edge can pass for a lone y axis inside an
		// area: an area found twice is kept once, the larger.
		if k := slices.IndexFunc(rects, func(o image.Rectangle) bool { return overlaps(o, r) }); k >= 0 {
			if size(r) > size(rects[k]) {
				rects[k] = r
			}
			return
		}
		rects = append(rects, r)
	}
	hs := c.axisRuns(false)
	for _, v := range c.axisRuns(true) {
		paired := false
		for _, h := range hs {
			dy, dx := h.at-v.hi, h.lo-v.at
			if dy < minGap || dy > maxGap || dx < minGap || dx > maxGap {
				continue
			}
			add(image.Rect(v.at+1, v.lo, h.hi+1, h.at))
			paired = true
		}
		// A nominal x axis (category names: the waterfall, the overview)
		// draws no line: the area then ends where its grid lines do.
		if right := c.gridEnd(v); !paired && right >= 0 {
			add(image.Rect(v.at+1, v.lo, right+1, v.hi+1))
		}
	}
	slices.SortFunc(rects, func(a, b image.Rectangle) int {
		if a.Min.Y != b.Min.Y {
			return a.Min.Y - b.Min.Y
		}
		return a.Min.X - b.Min.X
	})
	return rects
}

func size(r image.Rectangle) int { return r.Dx() * r.Dy() }

// overlaps reports whether a and b share most of the smaller one.
func overlaps(a, b image.Rectangle) bool {
	return 2*size(a.Intersect(b)) > min(size(a), size(b))
}

// legends counts the legends outside rects: stacks of coloured runs no
// longer than a thumbnail, starting within a thumbnail's width of each
// other, in entries at most entryGap apart. A run that starts inside a
// plot area belongs to it (a legend in the corner of the axes may reach
// past the x axis's end), and a colour bar is wider than a thumbnail and
// counts for none.
func (c *classified) legends(rects []image.Rectangle) int {
	type start struct{ x, y int }
	var starts []start
	for y := range c.h {
		x := 0
		for x < c.w {
			if c.colour[y*c.w+x] < 0 {
				x++
				continue
			}
			x0 := x
			for x < c.w && c.colour[y*c.w+x] >= 0 {
				x++
			}
			if x-x0 >= 4 && x-x0 <= maxThumb && !slices.ContainsFunc(rects, image.Pt(x0, y).In) {
				starts = append(starts, start{x0, y})
			}
		}
	}
	slices.SortFunc(starts, func(a, b start) int { return a.x - b.x })
	legends := 0
	for len(starts) > 0 {
		// One column of thumbnails: starts chained at most a thumbnail's
		// width apart (markers and dashes start inside it).
		k := 1
		for k < len(starts) && starts[k].x-starts[k-1].x <= maxThumb {
			k++
		}
		ys := make([]int, k)
		for i := range k {
			ys[i] = starts[i].y
		}
		starts = starts[k:]
		slices.Sort(ys)
		ys = slices.Compact(ys)
		// Rows a few pixels apart are one entry; entries further apart
		// than entryGap are another legend (a panel below).
		entries := 1
		for i := 1; i <= len(ys); i++ {
			if i < len(ys) && ys[i]-ys[i-1] <= entryGap {
				if ys[i]-ys[i-1] > 3 {
					entries++
				}
				continue
			}
			if entries >= 2 {
				legends++
			}
			entries = 1
		}
	}
	return legends
}

// Inspect finds the plot areas of img and what they and the rest hold.
func Inspect(img image.Image) Result {
	c := classify(img)
	var res Result
	var all, inAreas [colours]int
	c.count(image.Rect(0, 0, c.w, c.h), &all)
	res.Colours = distinct(&all)
	rects := c.areas()
	for _, r := range rects {
		a := Area{Rect: r}
		if inner := image.Rect(r.Min.X+margin, r.Min.Y, r.Max.X-legendBand, r.Max.Y-margin); !inner.Empty() {
			var n [colours]int
			a.Ink = c.count(inner, &n)
			a.Colours = distinct(&n)
			for k, v := range n {
				inAreas[k] += v
			}
		}
		res.Areas = append(res.Areas, a)
	}
	res.AreaColours = distinct(&inAreas)
	res.Legends = c.legends(rects)
	return res
}

// Check returns nil when img is a drawn chart:
//
//   - it has at least one plot area (inside a pair of axes);
//   - every plot area holds ink, and at least one series colour when the
//     image has any;
//   - the plot areas together hold min(2, n) series colours, n being the
//     number anywhere in the image, its legend's included;
//   - at most one legend lies outside the plot areas (a figure's legend
//     column): a panel that lost its plot leaves its legend behind.
//
// A chart that draws only its legend, or axes with nothing in them, fails.
// A panel with no data must say so in its title and draw no axes; it then
// is no plot area.
func Check(img image.Image) error {
	res := Inspect(img)
	if len(res.Areas) == 0 {
		return fmt.Errorf("no plot area: no pair of axes in the image (%d legends outside)", res.Legends)
	}
	var errs []error
	for i, a := range res.Areas {
		switch {
		case a.Ink < minInk:
			errs = append(errs, fmt.Errorf("plot area %d of %d at %v is empty (%d non-background pixels)", i+1, len(res.Areas), a.Rect, a.Ink))
		case a.Colours < min(1, res.Colours):
			errs = append(errs, fmt.Errorf("plot area %d of %d at %v holds no series colour (the image shows %d)", i+1, len(res.Areas), a.Rect, res.Colours))
		}
	}
	if want := min(2, res.Colours); res.AreaColours < want {
		errs = append(errs, fmt.Errorf("the plot areas hold %d series colours, want %d (the image shows %d)", res.AreaColours, want, res.Colours))
	}
	if res.Legends > 1 {
		errs = append(errs, fmt.Errorf("%d legends outside the plot areas, want at most one: panels without axes, or without their plots", res.Legends))
	}
	return errors.Join(errs...)
}

// CheckFile decodes the PNG at path and checks it.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("plottest: %w", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return fmt.Errorf("plottest: %s: %w", path, err)
	}
	if err := Check(img); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// CheckDir checks every PNG directly in dir and returns their names; the
// error names each chart that fails and why.
func CheckDir(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil {
		return nil, fmt.Errorf("plottest: %w", err)
	}
	names := make([]string, len(paths))
	var errs []error
	for i, p := range paths {
		names[i] = filepath.Base(p)
		errs = append(errs, CheckFile(p))
	}
	return names, errors.Join(errs...)
}
