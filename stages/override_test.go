package stages

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestParseOverride(t *testing.T) {
	tests := []struct {
		arg, want, err string
	}{
		{arg: "train.epochs=12", want: "train.epochs=12"},
		{arg: " train.epochs = 12 ", want: "train.epochs=12"},
		{arg: "data.cutout=0", want: "data.cutout=0"},
		{arg: "train.momentum=0.9", want: "train.momentum=0.9"},
		{arg: "train.weight_decay=5e-4", want: "train.weight_decay=0.0005"},
		{arg: "net.width=1", want: "net.width=1"},
		{arg: "net.width=1.0", want: "net.width=1.0"},
		{arg: "train.tta=false", want: "train.tta=false"},
		{arg: "net.act=celu", want: "net.act=celu"},
		{arg: `net.act="celu"`, want: "net.act=celu"},
		{arg: `net.name="extra:L1+L2"`, want: `net.name="extra:L1+L2"`},
		{arg: `net.name="true"`, want: `net.name="true"`},
		{arg: "train.precision=bf16", want: "train.precision=bf16"},
		{arg: "train.lr=[[0,0],[5,0.4],[10,0]]", want: "train.lr=[[0, 0], [5, 0.4], [10, 0]]"},
		{arg: "net={width=0.5}", want: "net={width = 0.5}"},
		{arg: "train.epochs", err: "want KEY=VALUE"},
		{arg: "=3", err: "want a dotted path"},
		{arg: "Train.Epochs=3", err: "want a dotted path"},
		{arg: "train..epochs=3", err: "want a dotted path"},
		{arg: "train.epochs=", err: "empty value"},
		{arg: "train.epochs=1\nkind=\"x\"", err: "one line"},
		{arg: "net.name=extra:L1+L2", err: "is not TOML"},
		{arg: "train.epochs=12 13", err: "is not TOML"},
	}
	for _, tt := range tests {
		o, err := ParseOverride(tt.arg)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseOverride(%q) = %v, %v; want an error with %q", tt.arg, o, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOverride(%q): %v", tt.arg, err)
			continue
		}
		if got := o.String(); got != tt.want {
			t.Errorf("ParseOverride(%q) = %q, want %q", tt.arg, got, tt.want)
		}
	}
}

func TestParseOverridesTwice(t *testing.T) {
	for _, args := range [][]string{
		{"train.epochs=1", "train.epochs=2"},
		{"train={epochs=1}", "train.epochs=2"},
		{"train.epochs=2", "train={epochs=1}"},
	} {
		if _, err := ParseOverrides(args); err == nil || !strings.Contains(err.Error(), "already set") {
			t.Errorf("ParseOverrides(%q) = %v, want 'already set'", args, err)
		}
	}
	ovs, err := ParseOverrides([]string{"train.epochs=2", "train.epochs_x=1"})
	if err != nil || len(ovs) != 2 {
		t.Errorf("ParseOverrides of two keys sharing a prefix: %v, %v", ovs, err)
	}
}

func TestWithOverrides(t *testing.T) {
	r := loadBase(t)
	base, err := r.Resolve(1, "a.s1", "paper")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		check func(c Config) string
		err   string
	}{
		{name: "an int and a bool", args: []string{"train.epochs=12", "data.flip=false"}, check: func(c Config) string {
			if c.Train.Epochs != 12 || c.Data.Flip || c.Data.Crop != base.Data.Crop {
				return "values not set, or a neighbour changed"
			}
			return ""
		}},
		{name: "recorded sorted by key", args: []string{"train.epochs=12", "data.cutout=4"}, check: func(c Config) string {
			if !slices.Equal(c.Overrides, []string{"data.cutout=4", "train.epochs=12"}) {
				return "overrides " + strings.Join(c.Overrides, " ")
			}
			return ""
		}},
		{name: "a float key takes an integer", args: []string{"net.width=2"}, check: func(c Config) string {
			if c.Net.Width != 2 {
				return "width not set"
			}
			return ""
		}},
		{name: "knots", args: []string{"train.lr=[[0, 0], [2, 0.2], [24, 0]]"}, check: func(c Config) string {
			if !slices.Equal(c.Train.LR, []Knot{{0, 0}, {2, 0.2}, {24, 0}}) {
				return "knots not set"
			}
			return ""
		}},
		{name: "a bare word", args: []string{"net.act=celu", "net.celu_alpha=0.3"}, check: func(c Config) string {
			if c.Net.Act != "celu" || c.Net.CELUAlpha != 0.3 {
				return "act not set"
			}
			return ""
		}},
		{name: "a misspelled key", args: []string{"train.epoch=3"}, err: `unknown key "train.epoch"; did you mean "train.epochs"?`},
		{name: "a misspelled table", args: []string{"trian.epochs=3"}, err: `did you mean "train.epochs"?`},
		{name: "an unknown table", args: []string{"published.time_s=3"}, err: `unknown key "published.time_s"`},
		{name: "a wrong type", args: []string{"train.batch_size=1.5"}, err: "key train.batch_size: want an integer, got float 1.5"},
		{name: "a string for a number", args: []string{"data.cutout=big"}, err: `want an integer, got string "big"`},
		{name: "a value the registry refuses", args: []string{"train.epochs=0"}, err: "epochs must be >= 1"},
		{name: "a bad value", args: []string{"net.act=relux"}, err: `act must be "relu", "celu", "gelu", "shiftscale_relu" or "softplus", not "relux"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ovs, err := ParseOverrides(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			c, err := base.WithOverrides(ovs)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(c); msg != "" {
				t.Error(msg)
			}
			if c.Hash() == base.Hash() {
				t.Error("the override set does not change the hash")
			}
		})
	}
}

// TestWithOverridesOwnCell: an override that repeats the registry's value
// still makes a cell of its own, and no override keeps the hash.
func TestWithOverridesOwnCell(t *testing.T) {
	r := loadBase(t)
	base, err := r.Resolve(1, "a.s1", "paper")
	if err != nil {
		t.Fatal(err)
	}
	same, err := ParseOverrides([]string{"train.epochs=" + strconv.FormatFloat(base.Train.Epochs, 'g', -1, 64)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := base.WithOverrides(same)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash() == base.Hash() || c.Train.Epochs != base.Train.Epochs {
		t.Error("a repeated value did not make its own cell")
	}
	if none, _ := base.WithOverrides(nil); none.Hash() != base.Hash() {
		t.Error("no overrides changed the hash")
	}
	if base.Overrides != nil {
		t.Error("WithOverrides modified its receiver")
	}
}

// TestConfigTOMLRoundTrip: every variant of the real registry under every
// profile writes TOML that decodes strictly back into the same settings.
func TestConfigTOMLRoundTrip(t *testing.T) {
	r, err := Load(filepath.Join("..", "experiments.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Stages() {
		for _, v := range s.Variants {
			for _, p := range r.Profiles() {
				c, err := r.Resolve(s.ID, v.Name, p)
				if err != nil {
					t.Fatal(err)
				}
				text := c.TOML()
				var raw map[string]any
				if _, err := toml.Decode(text, &raw); err != nil {
					t.Fatalf("%s/%s: %v\n%s", v.Name, p, err, text)
				}
				var got settings
				if errs := decodeTable(&got, raw); len(errs) > 0 {
					t.Fatalf("%s/%s: %v\n%s", v.Name, p, errs, text)
				}
				want := settings{Kind: c.Kind, Net: c.Net, Train: c.Train, Data: c.Data, Analysis: c.Analysis}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s/%s: round trip differs:\n got %+v\nwant %+v\n%s", v.Name, p, got, want, text)
				}
			}
		}
	}
}

// TestConfigTOMLGolden keeps p8.s10's resolved config at smoke, with an
// override, as `runner config` prints it.
func TestConfigTOMLGolden(t *testing.T) {
	r, err := Load(filepath.Join("..", "experiments.toml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Resolve(8, "p8.s10", "smoke")
	if err != nil {
		t.Fatal(err)
	}
	ovs, err := ParseOverrides([]string{"train.epochs=2", "data.cutout=0"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err = c.WithOverrides(ovs); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "p8.s10-smoke.toml")
	got := c.TOML()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("TOML differs from %s (go test -update if intended):\n%s", golden, got)
	}
}

// FuzzOverride: ParseOverride and WithOverrides never panic, an accepted
// override's canonical form parses back to itself, and a config that
// takes it still validates and hashes.
func FuzzOverride(f *testing.F) {
	for _, s := range []string{"train.epochs=12", "data.cutout=0", "net.act=celu", "train.lr=[[0,0],[5,0.4]]",
		"net={width=0.5}", `net.name="x\"y"`, "train.epochs=1.5", "analysis.lr_grid=[0.1, 0.2]", "a=b=c", "x.y=1979-05-27",
		"train.tta=[true]", "data={}", "kind=train", "train.precision=inf"} {
		f.Add(s)
	}
	r, err := Load(filepath.Join("testdata", "base.toml"))
	if err != nil {
		f.Fatal(err)
	}
	base, err := r.Resolve(1, "a.s1", "paper")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		o, err := ParseOverride(arg)
		if err != nil {
			return
		}
		again, err := ParseOverride(o.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", o.String(), arg, err)
		}
		if again.String() != o.String() {
			t.Fatalf("canonical form not stable: %q -> %q", o.String(), again.String())
		}
		c, err := base.WithOverrides([]Override{o})
		if err != nil {
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("accepted %q but the config does not validate: %v", arg, err)
		}
		_ = c.Hash()
		_ = c.TOML()
	})
}
