package plots

import (
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// SeriesStyle is how series i of a per-variant chart is drawn. A stage
// has up to 25 variants (stage 4) and a palette only ten colours, so the
// colour alone repeats: the marker shape and, for lines, the dash
// pattern tell the repeats apart.
type SeriesStyle struct {
	Color  color.RGBA
	Marker Marker
	// Dashes is the line's dash pattern; nil draws a solid line.
	Dashes []vg.Length
}

// unitShapes are the marker outlines in units of the glyph radius, each
// scaled to about a circle's area so that no variant looks heavier; nil
// is the circle. All are filled, which keeps them apart from the blog's
// published marker, a ring.
var unitShapes = [][]vg.Point{
	nil,
	polygon(4, math.Pi/4, 1.253),  // square
	polygon(3, math.Pi/2, 1.555),  // triangle, point up
	polygon(4, 0, 1.253),          // diamond
	polygon(3, -math.Pi/2, 1.555), // triangle, point down
	plusShape(0),                  // plus
	plusShape(math.Pi / 4),        // cross
}

// dashPatterns are given per block of ten series, so that a chart of at
// most ten keeps solid lines and the 11th series, which repeats the 1st's
// colour, is dashed.
var dashPatterns = [][]vg.Length{
	nil,
	{vg.Points(6), vg.Points(3)},
	{vg.Points(1.5), vg.Points(2.5)},
	{vg.Points(6), vg.Points(2.5), vg.Points(1.5), vg.Points(2.5)},
}

// StyleOf returns series i's style: colour i mod 10 and shape i mod 7.
// Seven is coprime with ten, so the (colour, shape) pairs are distinct
// for the first 70 series, and neighbours in registry order differ in
// both; the dash pattern changes every ten series.
func StyleOf(i int) SeriesStyle {
	i = max(i, 0)
	return SeriesStyle{
		Color:  Color(i),
		Marker: Marker{Shape: i % len(unitShapes)},
		// A copy: the caller may not write into the shared pattern.
		Dashes: slices.Clone(dashPatterns[(i/len(palette10))%len(dashPatterns)]),
	}
}

// Marker is a draw.GlyphDrawer for one of the variant shapes, filled in
// the glyph's colour; Edge adds a dark outline (the scatter's means, which
// must stand out from the runs around them).
type Marker struct {
	Shape int // index into unitShapes, taken modulo its length
	Edge  bool
}

// markerEdge outlines Edge markers.
var markerEdge = draw.LineStyle{Color: color.Gray{Y: 30}, Width: vg.Points(0.8)}

// DrawGlyph implements draw.GlyphDrawer.
func (m Marker) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	p := m.path(sty.Radius, pt)
	c.Fill(p)
	if m.Edge {
		c.SetLineStyle(markerEdge)
		c.Stroke(p)
	}
}

func (m Marker) path(r vg.Length, pt vg.Point) vg.Path {
	n := len(unitShapes)
	unit := unitShapes[((m.Shape%n)+n)%n]
	if unit == nil {
		var p vg.Path
		p.Move(vg.Point{X: pt.X + r, Y: pt.Y})
		p.Arc(pt, r, 0, 2*math.Pi)
		p.Close()
		return p
	}
	p := make(vg.Path, 0, len(unit)+1)
	for i, u := range unit {
		q := vg.Point{X: pt.X + r*u.X, Y: pt.Y + r*u.Y}
		if i == 0 {
			p.Move(q)
		} else {
			p.Line(q)
		}
	}
	p.Close()
	return p
}

// PublishedMark marks the blog's published point of a variant: a thick ring
// around a small copy of the variant's marker. The ring tells it apart
// from every run and mean (all filled shapes), the inner marker says whose
// point it is where colours repeat.
type PublishedMark struct{ Inner Marker }

// DrawGlyph implements draw.GlyphDrawer.
func (m PublishedMark) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	var ring vg.Path
	ring.Move(vg.Point{X: pt.X + sty.Radius, Y: pt.Y})
	ring.Arc(pt, sty.Radius, 0, 2*math.Pi)
	ring.Close()
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.6)})
	c.Stroke(ring)
	c.SetColor(sty.Color)
	c.Fill(m.Inner.path(0.4*sty.Radius, pt))
}

// polygon returns a regular n-gon with a vertex at angle a0 and
// circumradius r.
func polygon(n int, a0, r float64) []vg.Point {
	pts := make([]vg.Point, n)
	for i := range pts {
		a := a0 + 2*math.Pi*float64(i)/float64(n)
		pts[i] = vg.Point{X: vg.Length(r * math.Cos(a)), Y: vg.Length(r * math.Sin(a))}
	}
	return pts
}

// plusShape returns a plus with arms a third as wide as they are long,
// rotated by a: the filled outline, so that it takes an edge like the
// other shapes.
func plusShape(a float64) []vg.Point {
	const l, w = 1.19, 1.19 / 3 // arm length and half width: about a unit circle's area
	corners := []vg.Point{
		{X: l, Y: -w}, {X: l, Y: w}, {X: w, Y: w}, {X: w, Y: l}, {X: -w, Y: l}, {X: -w, Y: w},
		{X: -l, Y: w}, {X: -l, Y: -w}, {X: -w, Y: -w}, {X: -w, Y: -l}, {X: w, Y: -l}, {X: w, Y: -w},
	}
	s, c := vg.Length(math.Sin(a)), vg.Length(math.Cos(a))
	for i, p := range corners {
		corners[i] = vg.Point{X: p.X*c - p.Y*s, Y: p.X*s + p.Y*c}
	}
	return corners
}
