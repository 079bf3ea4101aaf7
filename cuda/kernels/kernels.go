// Package kernels holds the GPU backend's own kernels: CUDA C sources
// (*.cu with prelude.h), the PTX that clang-16 makes from them (committed
// and embedded), the table of kernel signatures that the Go launch sites
// are checked against, and a plain Go reference of every kernel.
//
// Regenerate the PTX after editing a .cu file with
//
//	go generate ./cuda/kernels
//
// TestPTXUpToDate fails when the committed PTX differs from a fresh build.
package kernels

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:generate go run ./internal/ptxgen -src . -out .

//go:embed *.ptx
var ptxFiles embed.FS

// Module is one compiled source file.
type Module struct {
	Name string // the source's base name, e.g. "bn"
	PTX  []byte
}

// Modules returns every embedded PTX module, sorted by name.
func Modules() ([]Module, error) {
	names, err := fs.Glob(ptxFiles, "*.ptx")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Module
	for _, n := range names {
		b, err := ptxFiles.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("kernels: %s: %w", n, err)
		}
		out = append(out, Module{Name: strings.TrimSuffix(n, ".ptx"), PTX: b})
	}
	return out, nil
}
