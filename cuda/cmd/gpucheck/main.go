// Command gpucheck checks the CUDA backend on a GPU machine and moves data
// there. It is built here with CGO_ENABLED=0 and carried to the machine,
// which has no Go (see scripts/gpu-check.sh).
//
//	gpucheck env                   driver, device and library facts (JSON)
//	gpucheck constants             the enum values and layouts we assume ("NAME VALUE")
//	gpucheck kernels|blas|conv|all each check against its Go reference (JSON lines)
//	gpucheck bench                 N3's convs (cuDNN) and BN kernels at batch 512, timed
//	gpucheck train [-variant p8.s10 -data DIR -seeds 0,1,2 -epochs N -prec bf16|f32]
//	                               the GPU training engine on a registry variant (JSON lines)
//	gpucheck split -out DIR FILE…  chunk files for transfer, with a manifest
//	gpucheck join -dir DIR -out DIR check chunks and rebuild the files
//
// Results go to stdout; the exit status is 1 when any check fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"

	"speedrun/cuda"
	"speedrun/cuda/cublas"
	"speedrun/cuda/cudnn"
	"speedrun/cuda/driver"
	"speedrun/cuda/internal/chunk"
	"speedrun/cuda/launch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpucheck:", err)
		os.Exit(1)
	}
}

// options are the flags shared by the device subcommands.
type options struct {
	seed    uint64
	libPath string
	small   bool
}

func (o *options) register(fs *flag.FlagSet) {
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the random test tensors")
	fs.StringVar(&o.libPath, "lib-path", "", "extra library folders, colon-separated (also $"+driver.EnvLibPath+")")
	fs.BoolVar(&o.small, "small", false, "small tensors (for tests of this program)")
}

func (o *options) cuda() cuda.Options {
	var paths []string
	for _, p := range strings.Split(o.libPath, ":") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	return cuda.Options{Search: driver.Search{LibPaths: paths}, Checks: true}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: gpucheck env|constants|kernels|blas|conv|all|bench|train|split|join [flags]")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("gpucheck "+cmd, flag.ContinueOnError)
	var o options
	var tf trainFlags
	switch cmd {
	case "split":
		out := fs.String("out", "", "folder for the chunks and manifest.json")
		size := fs.Int64("size", 40_000_000, "chunk size in bytes")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *out == "" || fs.NArg() == 0 {
			return errors.New("split: want -out DIR and at least one file")
		}
		m, err := chunk.Split(fs.Args(), *out, *size)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d files in %d chunks under %s\n", len(m.Files), len(m.Chunks), *out)
		return nil
	case "join":
		dir := fs.String("dir", "", "folder with the chunks and manifest.json")
		out := fs.String("out", "", "folder for the rebuilt files")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *dir == "" || *out == "" {
			return errors.New("join: want -dir DIR -out DIR")
		}
		m, err := chunk.Join(*dir, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rebuilt and verified %d files in %s\n", len(m.Files), *out)
		return nil
	case "constants":
		for _, c := range constants() {
			fmt.Fprintf(stdout, "%s %d\n", c.Name, c.Value)
		}
		return nil
	case "env", "kernels", "blas", "conv", "all", "bench", "train":
		o.register(fs)
		if cmd == "train" {
			tf.register(fs)
		}
		if err := fs.Parse(args); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown subcommand %q", cmd)
	}
	opts := o.cuda()
	opts.Precision = tf.prec
	if cmd == "train" {
		// stderr lands in gpu-check.sh's run.log: which cuDNN algorithms
		// each conv got on this card.
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := cuda.New(opts)
	if err != nil {
		return err
	}
	defer b.Close()
	if cmd == "train" {
		return runTrain(ctx, b, tf, stdout)
	}
	if cmd == "env" {
		return b.Do(ctx, func() error { return writeEnv(b, stdout) })
	}
	c := &checker{d: b.Driver, rng: rand.New(rand.NewPCG(o.seed, 0x9e3779b97f4a7c15)), out: stdout, small: o.small}
	err = b.Do(ctx, func() error {
		defer c.freeAll()
		if cmd == "kernels" || cmd == "all" || cmd == "bench" {
			k, err := launch.Load(b.Driver)
			if err != nil {
				return err
			}
			defer k.Close()
			if cmd == "bench" {
				runBench(c, b, k)
				return nil
			}
			runKernelChecks(c, k)
		}
		if cmd == "blas" || cmd == "all" {
			runBLASChecks(c, b)
		}
		if cmd == "conv" || cmd == "all" {
			runConvChecks(c, b)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gpucheck %s: %d of %d comparisons passed\n", cmd, c.total-c.failed, c.total)
	if c.failed > 0 {
		return fmt.Errorf("%d of %d comparisons failed", c.failed, c.total)
	}
	return nil
}

// constants lists the values and layouts the bindings assume, in the
// order scripts/gpu-probe.c prints them from the machine's headers.
func constants() []driver.Constant {
	return slices.Concat(driver.Constants(), cublas.Constants(), cudnn.Constants())
}

// writeEnv prints what the backend found, as one JSON object.
func writeEnv(b *cuda.Backend, w io.Writer) error {
	d := b.Driver
	env := map[string]any{
		"libcuda": d.Path, "device": b.Device(), "name": b.GPU,
		"compute_capability": fmt.Sprintf("%d.%d", b.CC[0], b.CC[1]), "memory_bytes": b.Memory,
	}
	if v, err := d.Version(); err == nil {
		env["driver_cuda_version"] = v
	}
	for _, a := range []struct {
		name string
		attr driver.DeviceAttr
	}{{"sm_count", driver.AttrMultiprocessorCount}, {"l2_bytes", driver.AttrL2CacheSize},
		{"max_threads_per_block", driver.AttrMaxThreadsPerBlock}, {"max_shared_per_block", driver.AttrMaxSharedMemoryPerBlock},
		{"clock_khz", driver.AttrClockRate}} {
		if v, err := d.Attribute(b.Dev, a.attr); err == nil {
			env[a.name] = v
		} else {
			env[a.name+"_error"] = err.Error()
		}
	}
	if b.BLAS != nil {
		env["libcublas"] = b.BLAS.Path
		if h, err := b.BLAS.Create(); err == nil {
			if v, err := b.BLAS.Version(h); err == nil {
				env["cublas_version"] = v
			}
			b.BLAS.Destroy(h)
		} else {
			env["cublas_error"] = err.Error()
		}
	}
	if b.DNN != nil {
		env["libcudnn"] = b.DNN.Path
		env["cudnn_version"] = b.DNN.Version()
	}
	if free, total, err := d.MemInfo(); err == nil {
		env["mem_free_bytes"], env["mem_total_bytes"] = free, total
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(out))
	return err
}
