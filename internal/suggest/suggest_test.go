package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"fenwicks", "architecture", "baseline", "epochs", "stage", "profile"}
	tests := []struct {
		key, want string
	}{
		{"fenwick", "fenwicks"},
		{"FENWICKS", "fenwicks"},
		{"stag", "stage"},
		{"porfile", "profile"},
		{"epohcs", "epochs"},
		{"x", ""},
		{"zzzzzzzz", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.key, names); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"abc", "acb", 1},
		{"kitten", "sitting", 3},
		{"", "abc", 3},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
