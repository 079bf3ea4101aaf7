// Command runner runs the speedrun experiment registry: single runs,
// resumable sweeps, reports, benchmarks and dataset management.
//
// Each subcommand lives in its own file with an options struct and a
// runX(ctx, opts) error function; main only wires flags, signals and exit
// codes.
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
	"syscall"

	"speedrun/backend"
)

// Exit codes, documented in `runner help`.
const (
	exitOK          = 0
	exitFailed      = 1   // a run or command failed
	exitUsage       = 2   // bad flags, bad config or bad input
	exitDiverged    = 3   // `runner run`: the run diverged (NaN/Inf loss)
	exitInterrupted = 130 // SIGINT or SIGTERM: the current run is marked interrupted
)

// command is one subcommand.
type command struct {
	name  string
	short string // one line for `runner help`
	// run parses args (everything after the subcommand name) and runs.
	run func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what every subcommand gets from main.
type cmdEnv struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	// extraBackends are selectable by --backend besides the real engines.
	// Only the test binary sets it (a test double for the runner's own
	// fault tests); the production binary has none.
	extraBackends map[string]func() (backend.Backend, error)
}

func commands() []command {
	return []command{
		listCommand(),
		runCommand(),
		sweepCommand(),
		reportCommand(),
		benchCommand(),
		dataCommand(),
		tuneCommand(),
		mergeCommand(),
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
	env := &cmdEnv{stdout: stdout, stderr: stderr, log: newLogger(stderr), extraBackends: extra}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		return exitCode(ctx, err, stderr)
	}
	fmt.Fprintf(stderr, "runner: unknown command %q; run 'runner help'\n", args[0])
	return exitUsage
}

// exitCode maps an error to an exit code and prints it.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	switch {
	case errors.Is(err, flag.ErrHelp):
		// The flag package has already printed the command's usage.
		return exitOK
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		fmt.Fprintf(stderr, "runner: interrupted: %v\n", err)
		return exitInterrupted
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "runner: %v\n", ee.err)
		return ee.code
	default:
		fmt.Fprintf(stderr, "runner: %v\n", err)
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

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: runner <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "global flags (accepted by every command):")
	fmt.Fprintln(w, "  --config FILE   experiment registry (default experiments.toml)")
	fmt.Fprintln(w, "  --db FILE       results database (default results/speedrun.sqlite)")
	fmt.Fprintln(w, "  --reports DIR   report folder (default reports/)")
	fmt.Fprintln(w, "  --data DIR      CIFAR-10 folder, or 'synthetic' for the generated set")
	fmt.Fprintln(w, "                  (default: the user's CIFAR-10 folder when present, else synthetic)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "exit codes:")
	fmt.Fprintln(w, "  0    success")
	fmt.Fprintln(w, "  1    a run or command failed")
	fmt.Fprintln(w, "  2    bad flags, bad config or bad input")
	fmt.Fprintln(w, "  3    runner run: the run diverged (NaN or Inf loss)")
	fmt.Fprintln(w, "  130  interrupted (SIGINT/SIGTERM); the current run is marked interrupted")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'runner <command> -h' for a command's flags.")
}
