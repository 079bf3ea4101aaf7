package model

import (
	"strings"
	"testing"
)

func TestParseFamily(t *testing.T) {
	tests := []struct {
		name     string
		isFamily bool
		want     Family
		err      string
	}{
		{"resnet9", false, Family{}, ""},
		{"residual:L1+L3", true, Family{Residual: true, Layers: [3]bool{true, false, true}}, ""},
		{"extra:L2", true, Family{Layers: [3]bool{false, true, false}}, ""},
		{"extra:L1+L2+L3", true, Family{Layers: [3]bool{true, true, true}}, ""},
		{"extra:", true, Family{}, "no layers"},
		{"extra:L3+L1", true, Family{}, "in order"},
		{"extra:L1+L1", true, Family{}, "in order"},
		{"extra:L4", true, Family{}, "not L1, L2 or L3"},
		{"wide:L1", true, Family{}, "must be \"extra\" or \"residual\""},
	}
	for _, tt := range tests {
		f, isFamily, err := ParseFamily(tt.name)
		if isFamily != tt.isFamily {
			t.Errorf("ParseFamily(%q): family %v, want %v", tt.name, isFamily, tt.isFamily)
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseFamily(%q): error %v, want one containing %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || f != tt.want {
			t.Errorf("ParseFamily(%q) = %+v, %v; want %+v", tt.name, f, err, tt.want)
		}
	}
}

// FuzzParseFamily checks that every name ParseFamily accepts builds a
// network whose shapes are consistent, and that it never panics.
func FuzzParseFamily(f *testing.F) {
	for _, s := range []string{"residual:L1+L3", "extra:L1+L2+L3", "extra:", "residual:L2+L1", "x:y", "resnet9", ":", "extra:L1++L2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		fam, isFamily, err := ParseFamily(name)
		if !isFamily || err != nil {
			return
		}
		if fam.Layers == [3]bool{} {
			t.Fatalf("ParseFamily(%q) accepted no layers", name)
		}
		n := blogNet(name)
		n.Width = 1.0 / 16
		s, err := Build(n)
		if err != nil {
			t.Fatalf("Build(%q): %v", name, err)
		}
		checkShapes(t, s)
	})
}
