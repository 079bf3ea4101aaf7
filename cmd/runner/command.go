package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"speedrun/internal/suggest"
)

// command is one subcommand, modelled on cmd/go's base.Command: its
// usage line, a one-line summary for `runner help`, and the long help
// that `runner help NAME` and `runner NAME -h` print.
type command struct {
	// UsageLine is the one-line usage. Its lower-case words after
	// "runner" name the command: "runner data fetch [--dir DIR]" is
	// "data fetch".
	UsageLine string
	// Short is the one line `runner help` shows.
	Short string
	// Long is the help text: what the command does, an example, and what
	// it writes where.
	Long string
	// Flags registers the command's flags on fs, bound to a fresh options
	// value, and returns the function that runs the command once fs has
	// parsed the arguments; it gets the positional arguments. Nil for a
	// command that only groups Commands.
	Flags func(fs *flag.FlagSet) runFunc
	// Commands are the subcommands (runner data fetch, runner data check).
	Commands []*command
	// Args says the command takes positional arguments (merge's shards);
	// the others refuse any.
	Args bool
}

// runFunc runs a command with its positional arguments.
type runFunc func(ctx context.Context, env *cmdEnv, args []string) error

// LongName is the command's name with its parents': "data fetch".
func (c *command) LongName() string {
	var words []string
	for _, w := range strings.Fields(strings.TrimPrefix(c.UsageLine, "runner ")) {
		if strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
			break
		}
		words = append(words, w)
	}
	return strings.Join(words, " ")
}

// Name is the last word of LongName: "fetch".
func (c *command) Name() string {
	n := c.LongName()
	return n[strings.LastIndex(n, " ")+1:]
}

// lookup finds the command that args name and returns it with the
// arguments left after its name. A group whose subcommand is missing or
// unknown is returned as it is, with args starting at the unknown word.
func lookup(cmds []*command, args []string) (*command, []string) {
	for _, c := range cmds {
		if len(args) == 0 || c.Name() != args[0] {
			continue
		}
		if len(c.Commands) > 0 && len(args) > 1 {
			if sub, rest := lookup(c.Commands, args[1:]); sub != nil {
				return sub, rest
			}
		}
		return c, args[1:]
	}
	return nil, args
}

// newFlagSet returns c's flag set, its flags registered, and the function
// that runs c. The flag package prints nothing itself: errors go back to
// the caller, and -h prints c's help on stdout.
func (c *command) newFlagSet() (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet(c.LongName(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs, c.Flags(fs)
}

// execute parses args with c's flags and runs c. Its errors do not name
// the command; mainCode adds the name.
func (c *command) execute(ctx context.Context, env *cmdEnv, args []string) error {
	if len(c.Commands) > 0 {
		if len(args) > 0 && isHelpFlag(args[0]) {
			return c.printHelp(env.stdout)
		}
		what := "expected a subcommand"
		if len(args) > 0 {
			what = fmt.Sprintf("unknown subcommand %q", args[0])
		}
		return usageErr(fmt.Errorf("%s: %s; run 'runner help %s'", what, strings.Join(c.subNames(), " or "), c.LongName()))
	}
	fs, run := c.newFlagSet()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return c.printHelp(env.stdout)
	}
	if err != nil {
		return usageErr(fmt.Errorf("%w%s\nusage: %s\nRun 'runner help %s' for details", err, flagSuggestion(fs, err), c.UsageLine, c.LongName()))
	}
	if len(pos) > 0 && !c.Args {
		return usageErr(fmt.Errorf("unexpected arguments %q", pos))
	}
	return run(ctx, env, pos)
}

func isHelpFlag(s string) bool { return s == "-h" || s == "--help" || s == "-help" }

func (c *command) subNames() []string {
	var names []string
	for _, s := range c.Commands {
		names = append(names, "'"+s.Name()+"'")
	}
	return names
}

// printHelp writes c's usage line, summary, long help and flags.
func (c *command) printHelp(w io.Writer) error {
	var b strings.Builder
	short := strings.ToUpper(c.Short[:1]) + c.Short[1:]
	fmt.Fprintf(&b, "usage: %s\n\n%s.\n\n%s\n", c.UsageLine, short, strings.TrimSpace(c.Long))
	if len(c.Commands) > 0 {
		b.WriteString("\nCommands:\n")
		for _, s := range c.Commands {
			fmt.Fprintf(&b, "  %-12s %s\n", s.Name(), s.Short)
		}
		fmt.Fprintf(&b, "\nRun 'runner help %s <command>' for a command's help.\n", c.LongName())
	}
	if c.Flags != nil {
		fs, _ := c.newFlagSet()
		b.WriteString("\nFlags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// helpCommand is `runner help [CMD]`.
func helpCommand() *command {
	return &command{
		UsageLine: "runner help [COMMAND [SUBCOMMAND]]",
		Short:     "print the commands, or one command's help",
		Long: `
With no argument, help lists the commands, the global flags and the exit
codes. With a command's name it prints that command's usage, what it does,
an example, what it writes where, and its flags: the same as 'runner
COMMAND -h'. It writes to stdout only.

Example:

	runner help sweep
	runner help data fetch`,
	}
}

// flagSuggestion is "; did you mean --stage?" for the flag package's
// error about an undefined flag close to a defined one, else "".
func flagSuggestion(fs *flag.FlagSet, err error) string {
	const prefix = "flag provided but not defined: "
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return ""
	}
	name := strings.TrimLeft(strings.TrimPrefix(msg, prefix), "-")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := suggest.Closest(name, names); s != "" {
		return "; did you mean --" + s + "?"
	}
	return ""
}
