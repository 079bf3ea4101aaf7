package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHelp compares `runner help` and `runner help CMD` for every command
// with the golden files in testdata/help (rewritten by go test -update),
// and checks that `runner CMD -h` prints the same as `runner help CMD`.
func TestHelp(t *testing.T) {
	cases := [][]string{nil}
	for _, c := range commands() {
		cases = append(cases, strings.Fields(c.LongName()))
		for _, s := range c.Commands {
			cases = append(cases, strings.Fields(s.LongName()))
		}
	}
	for _, names := range cases {
		name := strings.Join(append([]string{"runner"}, names...), "_")
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := mainCode(context.Background(), append([]string{"help"}, names...), &out, &errOut, nil); code != exitOK || errOut.Len() != 0 {
				t.Fatalf("runner help %s: exit %d, stderr %s", strings.Join(names, " "), code, errOut.String())
			}
			golden := filepath.Join("testdata", "help", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if want, err := os.ReadFile(golden); err != nil || out.String() != string(want) {
				t.Errorf("runner help %s differs from %s (%v; go test -run TestHelp -update rewrites it):\n%s", strings.Join(names, " "), golden, err, out.String())
			}
			if len(names) == 0 || names[len(names)-1] == "help" {
				return
			}
			var h bytes.Buffer
			if code := mainCode(context.Background(), append(names, "-h"), &h, &errOut, nil); code != exitOK || h.String() != out.String() {
				t.Errorf("runner %s -h: exit %d, printed\n%s\nwant what runner help prints", strings.Join(names, " "), code, h.String())
			}
		})
	}
}

// Every command's help has a usage line, a summary, an example and says
// what it writes where.
func TestHelpContent(t *testing.T) {
	var all []*command
	for _, c := range commands() {
		all = append(all, c)
		all = append(all, c.Commands...)
	}
	for _, c := range all {
		if !strings.HasPrefix(c.UsageLine, "runner "+c.LongName()) || c.Short == "" || strings.HasSuffix(c.Short, ".") {
			t.Errorf("%s: usage line %q, summary %q", c.LongName(), c.UsageLine, c.Short)
		}
		if !strings.Contains(c.Long, "\nExample") || !strings.Contains(c.Long, "\trunner "+c.LongName()) {
			t.Errorf("%s: the help has no example of the command:\n%s", c.LongName(), c.Long)
		}
		if c.LongName() != "help" && !regexp.MustCompile(`\b(writes?|reads)\b`).MatchString(c.Long) {
			t.Errorf("%s: the help does not say what it writes where:\n%s", c.LongName(), c.Long)
		}
	}
}

// The overview lists every exit code constant with its meaning.
func TestHelpExitCodes(t *testing.T) {
	var out bytes.Buffer
	printHelp(&out, commands())
	for _, code := range []int{exitOK, exitFailed, exitUsage, exitDiverged, exitInterrupted} {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^  %-4d [a-z]`, code)).MatchString(out.String()) {
			t.Errorf("runner help lacks exit code %d:\n%s", code, out.String())
		}
	}
}

// Every error starts with the name of the command that failed.
func TestErrorsNameTheCommand(t *testing.T) {
	config := filepath.Join("..", "..", "experiments.toml")
	tests := []struct {
		args []string
		code int
		want string // the start of stderr
	}{
		{[]string{"list", "--nosuch"}, exitUsage, "runner list: flag provided but not defined: -nosuch\nusage: runner list "},
		{[]string{"list", "--config", config, "--stage", "99"}, exitUsage, "runner list: --stage: "},
		{[]string{"run", "--config", config}, exitUsage, "runner run: --stage is required"},
		{[]string{"sweep", "--config", config, "--repeats", "0"}, exitUsage, "runner sweep: --repeats 0: want at least 1"},
		{[]string{"tune", "--config", config, "--max-runs", "-1"}, exitUsage, "runner tune: --max-runs -1"},
		{[]string{"report", "--format", "pdf"}, exitUsage, `runner report: --format "pdf"`},
		{[]string{"bench", "--batch", "0"}, exitUsage, "runner bench: --batch 0"},
		{[]string{"data"}, exitUsage, "runner data: expected a subcommand: 'fetch' or 'check'"},
		{[]string{"data", "frobnicate"}, exitUsage, `runner data: unknown subcommand "frobnicate"`},
		{[]string{"data", "check", "extra"}, exitUsage, `runner data check: unexpected arguments ["extra"]`},
		{[]string{"merge"}, exitUsage, "runner merge: no shards given"},
		{[]string{"help", "nosuch"}, exitUsage, `runner help: unknown command "nosuch"`},
		{[]string{"nosuch"}, exitUsage, `runner: unknown command "nosuch"`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := mainCode(context.Background(), tt.args, &out, &errOut, nil)
		if code != tt.code || !strings.HasPrefix(errOut.String(), tt.want) {
			t.Errorf("runner %s: exit %d, stderr\n%s\nwant exit %d and stderr starting %q", strings.Join(tt.args, " "), code, errOut.String(), tt.code, tt.want)
		}
	}
}
