package plots

import (
	"regexp"
	"strings"
	"testing"
)

var safeName = regexp.MustCompile(`^[a-z0-9-]+$`)

func TestSlug(t *testing.T) {
	for _, tc := range []struct{ in, prefix string }{
		{"p8.s10", "p8-s10-"},
		{"smoke", "smoke-"},
		{hostileName, "script-alert-x-script-drop-table-"},
		{"../../etc/passwd", "etc-passwd-"},
		{"", ""},
		{"ÄÖÜ", ""},
	} {
		got := Slug(tc.in)
		if !strings.HasPrefix(got, tc.prefix) || !safeName.MatchString(got) {
			t.Errorf("Slug(%q) = %q, want a safe name starting %q", tc.in, got, tc.prefix)
		}
	}
	if Slug("a.b") == Slug("a-b") {
		t.Error("Slug does not tell a.b from a-b")
	}
}

func FuzzSlug(f *testing.F) {
	for _, s := range []string{"p8.s10", hostileName, "", "../x", "a\x00b", strings.Repeat("x", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Slug(s)
		if !safeName.MatchString(got) || len(got) > 32+1+8 {
			t.Fatalf("Slug(%q) = %q: unsafe or too long", s, got)
		}
		if Slug(s) != got {
			t.Fatal("Slug is not deterministic")
		}
	})
}

func TestConfigDiff(t *testing.T) {
	a := `{"variant":"p8.s7","title":"x","net":{"bn":"ghost","width":1},"train":{"lr":[{"epoch":0,"lr":0}],"epochs":14}}`
	b := `{"variant":"p8.s8","title":"y","net":{"bn":"ghost","width":1},"train":{"lr":[{"epoch":0,"lr":0.1}],"epochs":13,"ema_momentum":0.99}}`
	got, err := ConfigDiff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Path: "train.ema_momentum", From: "", To: "0.99"},
		{Path: "train.epochs", From: "14", To: "13"},
		{Path: "train.lr", From: `[[0, 0]]`, To: `[[0, 0.1]]`},
	}
	if len(got) != len(want) {
		t.Fatalf("ConfigDiff = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// Float noise from a profile's scaling is no change.
	noisy := `{"train":{"lr":[{"epoch":0,"lr":1.5999999999999999}],"momentum":0.9,"wd":5e-4}}`
	clean := `{"train":{"lr":[{"epoch":0.0,"lr":1.6}],"momentum":0.9000000000000001,"wd":0.0005}}`
	if ch, err := ConfigDiff(clean, noisy); err != nil || len(ch) != 0 {
		t.Errorf("ConfigDiff of float noise = %+v, %v; want no change", ch, err)
	}
	if ch, _ := ConfigDiff(`{"a":1.6}`, `{"a":1.6001}`); len(ch) != 1 {
		t.Errorf("ConfigDiff(1.6, 1.6001) = %+v, want a change", ch)
	}
	if _, err := ConfigDiff(`{"a":`, b); err == nil || !strings.Contains(err.Error(), "first config") {
		t.Errorf("bad JSON: err = %v, want a first-config error", err)
	}
}

// FuzzConfigDiff: the diff of two configs parses anything without
// panicking, a config never differs from itself, and every change names
// a path with differing values.
func FuzzConfigDiff(f *testing.F) {
	f.Add(`{"net":{"bn":"bn"}}`, `{"net":{"bn":"ghost"}}`)
	f.Add(`{"train":{"lr":[{"epoch":0,"lr":0}]}}`, `{}`)
	f.Add(`[]`, `null`)
	f.Add(`{"a":1e400}`, `{"a":"x"}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		if ch, err := ConfigDiff(a, a); err == nil && len(ch) != 0 {
			t.Fatalf("ConfigDiff(a, a) = %v, want none", ch)
		}
		ch, err := ConfigDiff(a, b)
		if err != nil {
			return
		}
		for _, c := range ch {
			if c.From == c.To {
				t.Fatalf("change %+v has equal sides", c)
			}
		}
	})
}
