package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DPI of every PNG the package writes.
const DPI = 96

// Default chart size.
const (
	Width  = 8 * vg.Inch
	Height = 5 * vg.Inch
)

// Panel places one plot in a Figure: X0..X1 and Y0..Y1 are fractions of
// the figure's width and height (0,0 is bottom left).
type Panel struct {
	Plot           *plot.Plot
	X0, Y0, X1, Y1 float64
}

// Figure is one image: one or more plots at fixed positions.
type Figure struct {
	Width, Height vg.Length
	Panels        []Panel
}

// Single is a figure holding one plot at the default size.
func Single(p *plot.Plot) *Figure {
	return &Figure{Width: Width, Height: Height, Panels: []Panel{{Plot: p, X1: 1, Y1: 1}}}
}

// Draw draws every panel onto c.
func (f *Figure) Draw(c draw.Canvas) {
	w, h := c.Max.X-c.Min.X, c.Max.Y-c.Min.Y
	for _, p := range f.Panels {
		sub := draw.Crop(c, vg.Length(p.X0)*w, -vg.Length(1-p.X1)*w, vg.Length(p.Y0)*h, -vg.Length(1-p.Y1)*h)
		p.Plot.Draw(sub)
	}
}

// PNG renders the figure. gonum/plot panics on some degenerate inputs
// (an empty colour range, say); that is turned into an error here, the
// one place every chart is drawn.
func (f *Figure) PNG() (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("render: %v", r)
		}
	}()
	c := vgimg.NewWith(vgimg.UseWH(f.Width, f.Height), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	f.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// Save renders the figure as PNG into path, through a temporary file in
// the same folder and a rename, so that a reader never sees half a file.
func (f *Figure) Save(path string) error {
	b, err := f.PNG()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, b)
}

// writeFileAtomic writes b to path via a temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, firstErr(werr, cerr))
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
