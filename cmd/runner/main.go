// Command runner runs the speedrun experiment registry: single runs,
// resumable sweeps, reports, benchmarks and dataset management.
//
// Each subcommand lives in its own file: a command value with its usage
// line, summary and help (command.go), an options struct and a
// runX(ctx, env, opts) error function. main only wires commands, signals
// and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"speedrun/backend"
)

// Exit codes; `runner help` lists them from exitCodes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitDiverged    = 3
	exitInterrupted = 130
)

// exitCode is one documented exit code.
type exitCodeDoc struct {
	code    int
	meaning string
}

// exitCodes is what each exit code means, in the order `runner help`
// lists them.
func exitCodes() []exitCodeDoc {
	return []exitCodeDoc{
		{exitOK, "success"},
		{exitFailed, "a run or command failed"},
		{exitUsage, "bad flags, bad config or bad input"},
		{exitDiverged, "runner run: the run diverged (NaN or Inf loss)"},
		{exitInterrupted, "interrupted (SIGINT/SIGTERM); the current run is marked interrupted"},
	}
}

// cmdEnv is what every subcommand gets from main.
type cmdEnv struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	// engines opens the real training engines (tests substitute them).
	engines engines
	// extraBackends are selectable by --backend besides the real engines.
	// Only the test binary sets it (a test double for the runner's own
	// fault tests); the production binary has none.
	extraBackends map[string]func() (backend.Backend, error)
}

func commands() []*command {
	return []*command{
		listCommand(),
		runCommand(),
		sweepCommand(),
		tuneCommand(),
		configCommand(),
		reportCommand(),
		benchCommand(),
		dataCommand(),
		mergeCommand(),
		helpCommand(),
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := mainCode(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// mainCode runs the command line and returns the exit code.
func mainCode(ctx context.Context, args []string, stdout, stderr io.Writer, extra map[string]func() (backend.Backend, error)) int {
	env := &cmdEnv{stdout: stdout, stderr: stderr, log: newLogger(stderr), engines: realEngines(), extraBackends: extra}
	cmds := commands()
	switch {
	case len(args) == 0:
		printHelp(stderr, cmds)
		return exitUsage
	case isHelpFlag(args[0]):
		printHelp(stdout, cmds)
		return exitOK
	case args[0] == "help":
		return exitCode(ctx, "help", help(stdout, cmds, args[1:]), stderr)
	}
	c, rest := lookup(cmds, args)
	if c == nil {
		fmt.Fprintf(stderr, "runner: unknown command %q; run 'runner help'\n", args[0])
		return exitUsage
	}
	return exitCode(ctx, c.LongName(), c.execute(ctx, env, rest), stderr)
}

// help prints the help of the command that names name, or the overview.
func help(w io.Writer, cmds []*command, names []string) error {
	if len(names) == 0 {
		printHelp(w, cmds)
		return nil
	}
	c, rest := lookup(cmds, names)
	if c == nil || len(rest) > 0 {
		return usageErr(fmt.Errorf("unknown command %q; run 'runner help' for the list", strings.Join(names, " ")))
	}
	return c.printHelp(w)
}

// exitCode prints err, starting with the name of the command that
// returned it, and maps it to an exit code.
func exitCode(ctx context.Context, name string, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	switch {
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		fmt.Fprintf(stderr, "runner %s: interrupted: %v\n", name, err)
		return exitInterrupted
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "runner %s: %v\n", name, ee.err)
		return ee.code
	default:
		fmt.Fprintf(stderr, "runner %s: %v\n", name, err)
		return exitFailed
	}
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or input error (exit 2).
func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

func newLogger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("SPEEDRUN_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// printHelp writes the overview: the commands, the global flags and the
// exit codes.
func printHelp(w io.Writer, cmds []*command) {
	var b strings.Builder
	b.WriteString("usage: runner <command> [flags]\n\ncommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-8s %s\n", c.Name(), c.Short)
	}
	b.WriteString("\nglobal flags (accepted by every command):\n")
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(&b)
	var g globalOptions
	g.register(fs)
	fs.PrintDefaults()
	b.WriteString("\nexit codes:\n")
	for _, e := range exitCodes() {
		fmt.Fprintf(&b, "  %-4d %s\n", e.code, e.meaning)
	}
	b.WriteString("\nRun 'runner help <command>' or 'runner <command> -h' for a command's usage, an example and its flags.\n")
	io.WriteString(w, b.String())
}
