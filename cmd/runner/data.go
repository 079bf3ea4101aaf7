package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"speedrun/data"
)

// dataFetchOptions are the flags of `runner data fetch`.
type dataFetchOptions struct {
	global   globalOptions
	dir      string // destination; "" = data.DefaultDir()
	url, md5 string // archive and its MD5; "" = the official ones
	progress io.Writer
	terminal bool // progress is a terminal: draw a bar, not lines
}

// dataCheckOptions are the flags of `runner data check`.
type dataCheckOptions struct {
	global globalOptions
	dir    string // a CIFAR-10 folder or "synthetic"; "" = the --data rule
	out    io.Writer
}

func dataCommand() *command {
	return &command{
		UsageLine: "runner data fetch|check [flags]",
		Short:     "fetch the CIFAR-10 dataset, or check a dataset's counts and statistics",
		Long: `
Data manages the image sets the runs train on: 'data fetch' downloads
CIFAR-10 and writes it into the user's data folder, and 'data check'
reads a set and prints its images per class and per-channel statistics.

Examples:

	runner data fetch
	runner data check --dir synthetic`,
		Commands: []*command{dataFetchCommand(), dataCheckCommand()},
	}
}

func dataFetchCommand() *command {
	return &command{
		UsageLine: "runner data fetch [--dir DIR] [--url URL] [--md5 HEX]",
		Short:     "download CIFAR-10 and check its MD5",
		Long: `
Fetch downloads the official CIFAR-10 binary archive (170 MB), checks
its published MD5 and unpacks it. Nothing is done when the folder is
already complete. Offline, it fails within its 10 s connect timeout and
prints the steps to fetch the archive by hand.

Example:

	runner data fetch --dir /data/cifar-10-batches-bin

It writes the cifar-10-batches-bin files into --dir (default
$SPEEDRUN_DATA, else $XDG_DATA_HOME/speedrun/cifar-10-batches-bin, else
~/.local/share/speedrun/cifar-10-batches-bin), through a temporary folder
beside it that is renamed into place only when complete. Progress goes to
stderr.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o dataFetchOptions
			o.global.register(fs)
			fs.StringVar(&o.dir, "dir", "", "destination `folder` (default $SPEEDRUN_DATA, else $XDG_DATA_HOME/speedrun/cifar-10-batches-bin, else ~/.local/share/speedrun/cifar-10-batches-bin)")
			fs.StringVar(&o.url, "url", data.CIFAR10URL, "archive `URL` (a mirror)")
			fs.StringVar(&o.md5, "md5", data.CIFAR10MD5, "expected hex `MD5` of the archive")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				o.progress, o.terminal = env.stderr, isTerminal(env.stderr)
				return runDataFetch(ctx, o)
			}
		},
	}
}

func dataCheckCommand() *command {
	return &command{
		UsageLine: "runner data check [--dir DIR|synthetic]",
		Short:     "print a dataset's images per class and per-channel mean and std",
		Long: `
Check opens a CIFAR-10 folder, or the generated synthetic set, and prints
its name, image counts and checksum (part of every run's results key),
the images per class in the training and test sets, and the training
set's per-channel mean and std on the 0-1 scale.

Example:

	runner data check --dir ~/.local/share/speedrun/cifar-10-batches-bin

It reads only, and writes to stdout.`,
		Flags: func(fs *flag.FlagSet) runFunc {
			var o dataCheckOptions
			o.global.register(fs)
			fs.StringVar(&o.dir, "dir", "", "CIFAR-10 `folder`, or 'synthetic' (default: --data, else the user's CIFAR-10 folder when present, else synthetic)")
			return func(ctx context.Context, env *cmdEnv, pos []string) error {
				o.out = env.stdout
				return runDataCheck(ctx, o)
			}
		},
	}
}

// isTerminal reports whether w is a character device, so that progress
// can be a redrawn bar rather than plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runDataFetch downloads and unpacks CIFAR-10 (see data.Fetch).
func runDataFetch(ctx context.Context, o dataFetchOptions) error {
	return data.Fetch(ctx, data.FetchOptions{Dir: o.dir, URL: o.url, MD5: o.md5, Progress: o.progress, Terminal: o.terminal})
}

// runDataCheck prints a dataset's images per class and its training set's
// per-channel mean and std on the 0-1 scale.
func runDataCheck(ctx context.Context, o dataCheckOptions) error {
	spec := o.dir
	if spec == "" {
		spec = o.global.data
	}
	s, err := data.Open(ctx, spec)
	if err != nil {
		return usageErr(err)
	}
	w := o.out
	fmt.Fprintf(w, "dataset %s: %d train, %d test images\n", s.Name, s.Train.Len(), s.Test.Len())
	fmt.Fprintf(w, "checksum %s\n", s.Checksum)
	var train, test [data.Classes]int
	for _, l := range s.Train.Labels {
		train[l]++
	}
	for _, l := range s.Test.Labels {
		test[l]++
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "label\tclass\ttrain\ttest\t")
	for c := range data.Classes {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t\n", c, s.Classes[c], train[c], test[c])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	mean, std := data.ChannelStats(s.Train)
	fmt.Fprintf(w, "train mean (R G B, 0-1): %.4f %.4f %.4f\n", mean[0], mean[1], mean[2])
	fmt.Fprintf(w, "train std  (R G B, 0-1): %.4f %.4f %.4f\n", std[0], std[1], std[2])
	return nil
}
