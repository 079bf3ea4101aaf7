// Command ptxgen compiles every *.cu file in a folder to PTX with clang-16
// (CUDA C in freestanding mode: no NVIDIA headers or libraries), writing
// NAME.ptx beside NAME.cu. `go generate ./cuda/kernels` runs it; a test
// reruns it into a temporary folder and compares bytes.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	src := flag.String("src", ".", "folder with the .cu files")
	out := flag.String("out", ".", "folder for the .ptx files")
	clang := flag.String("clang", "clang-16", "clang binary")
	flag.Parse()
	if err := run(*clang, *src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ptxgen:", err)
		os.Exit(1)
	}
}

// Args are clang's arguments for one file; sm_90 (Hopper) PTX that the
// driver JIT-compiles at load.
func Args(in, out string) []string {
	return []string{"-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_90", "-nocudainc", "-nocudalib",
		"-O3", "-std=c++17", "-Wall", "-Werror", "-S", in, "-o", out}
}

func run(clang, src, out string) error {
	files, err := filepath.Glob(filepath.Join(src, "*.cu"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .cu files in %s", src)
	}
	for _, f := range files {
		dst := filepath.Join(out, strings.TrimSuffix(filepath.Base(f), ".cu")+".ptx")
		cmd := exec.Command(clang, Args(filepath.Base(f), dst)...)
		cmd.Dir = src
		if abs, err := filepath.Abs(dst); err == nil {
			cmd.Args[len(cmd.Args)-1] = abs
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", f, err, b)
		}
	}
	return nil
}
