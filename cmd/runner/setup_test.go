package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"speedrun/runner"
	"speedrun/stages"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantPos []string
		wantDB  string
		wantErr bool
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, "def", false},
		{[]string{"a", "--db", "x", "b"}, []string{"a", "b"}, "x", false},
		{[]string{"--db", "x", "a"}, []string{"a"}, "x", false},
		{[]string{"a", "--", "--db"}, []string{"a", "--db"}, "def", false},
		{[]string{"a", "--nosuch"}, nil, "def", true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		db := fs.String("db", "def", "")
		pos, err := parseArgs(fs, tc.args)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseArgs(%q) error %v, want error %v", tc.args, err, tc.wantErr)
			continue
		}
		if err == nil && (!slices.Equal(pos, tc.wantPos) || *db != tc.wantDB) {
			t.Errorf("parseArgs(%q) = %q, db %q; want %q, db %q", tc.args, pos, *db, tc.wantPos, tc.wantDB)
		}
	}
}

// FuzzParseArgs: any argument list either parses or fails cleanly, and
// every non-flag argument comes back in order.
func FuzzParseArgs(f *testing.F) {
	f.Add("a\x00--db\x00x\x00b")
	f.Add("--\x00-x")
	f.Add("--db=\x00\x00-")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("db", "", "")
		pos, err := parseArgs(fs, args)
		if err != nil {
			return
		}
		for _, p := range pos {
			if !slices.Contains(args, p) {
				t.Fatalf("positional %q not among the arguments %q", p, args)
			}
		}
	})
}

func TestStringsFlag(t *testing.T) {
	var s stringsFlag
	for _, v := range []string{"a,b", " c ", ",,d,"} {
		s.Set(v)
	}
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(s, want) {
		t.Fatalf("got %q, want %q", s, want)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"sweep", "--stage", "1,2", "a b", "it's", "", "$HOME"})
	want := `sweep --stage 1,2 'a b' 'it'\''s' '' '$HOME'`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if got := sanitizeName("speedrun-Quick-stage1,4_x"); got != "speedrun-quick-stage1-4-x" {
		t.Fatalf("sanitizeName: %s", got)
	}
}

func TestStagePicks(t *testing.T) {
	reg, err := stages.Load("../../experiments.toml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := reg.Stage("4")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Variants) < 2 {
		t.Fatalf("stage 4 has %d variants; the test needs several", len(st.Variants))
	}
	last := st.Variants[len(st.Variants)-1].Name
	for _, tc := range []struct {
		name     string
		stages   string
		variants []string
		only     string
		want     []string // variant names; nil: all of stage 4
		wantErr  string
	}{
		{name: "whole stage", stages: "4"},
		{name: "by name", stages: "architecture"},
		{name: "final", stages: "4", only: "final", want: []string{last}},
		{name: "filter", stages: "4", variants: []string{last, st.Variants[0].Name}, want: []string{st.Variants[0].Name, last}},
		{name: "filter beats final", stages: "4", variants: []string{st.Variants[0].Name}, only: "final", want: []string{st.Variants[0].Name}},
		{name: "unknown variant", stages: "4", variants: []string{"zz", "aa"}, wantErr: "--variant aa, zz: no such variant"},
		{name: "unknown stage", stages: "4,99", wantErr: "no stage \"99\""},
	} {
		picks, err := stagePicks(reg, tc.stages, tc.variants, tc.only)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := tc.want
		if want == nil {
			for _, v := range st.Variants {
				want = append(want, v.Name)
			}
		}
		var got []string
		for _, p := range picks {
			if p.Stage != 4 {
				t.Errorf("%s: pick of stage %d", tc.name, p.Stage)
			}
			got = append(got, p.Variant)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, want)
		}
	}
}

// --precision rewrites each planned config's train.precision, so the
// runs are cells of their own; a bad value is a usage error.
func TestPrecisionFlag(t *testing.T) {
	reg, err := stages.Load("../../experiments.toml")
	if err != nil {
		t.Fatal(err)
	}
	plan := func(prec string) []runner.Cell {
		t.Helper()
		o := sweepOptions{stages: "8", repeats: 1, train: trainFlags{profile: "smoke", precision: prec}}
		o.variants = []string{"p8.s10"}
		cells, err := planSweep(reg, o)
		if err != nil {
			t.Fatal(err)
		}
		return cells
	}
	base, bf, fp := plan(""), plan("bf16"), plan("fp32")
	if bf[0].Config.Train.Precision != "bf16" || fp[0].Config.Train.Precision != "fp32" {
		t.Errorf("precisions %q and %q, want bf16 and fp32", bf[0].Config.Train.Precision, fp[0].Config.Train.Precision)
	}
	if bf[0].Hash == fp[0].Hash {
		t.Error("bf16 and fp32 cells share a hash")
	}
	if base[0].Config.Train.Precision != "fp32" || base[0].Hash != fp[0].Hash {
		t.Errorf("smoke is fp32 already: --precision fp32 should change nothing (%q, %v)", base[0].Config.Train.Precision, base[0].Hash == fp[0].Hash)
	}
	o := sweepOptions{stages: "8", repeats: 1, train: trainFlags{profile: "smoke", precision: "fp8"}}
	if _, err := planSweep(reg, o); err == nil || !strings.Contains(err.Error(), `--precision "fp8"`) {
		t.Errorf("fp8: %v", err)
	}
}
