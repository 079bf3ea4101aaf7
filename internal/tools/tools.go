//go:build tools

// Package tools pins the project's chosen libraries in go.mod before every
// package that uses them exists, so that `go mod tidy` keeps the exact
// versions the reference notes validated (gorgonia's go4 pin in particular).
package tools

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/ebitengine/purego"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "go4.org/unsafe/assume-no-moving-gc"
	_ "golang.org/x/perf/benchmath"
	_ "gonum.org/v1/plot"
	_ "gorgonia.org/gorgonia"
	_ "gorgonia.org/tensor"
)
