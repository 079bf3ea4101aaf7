package main

import (
	"errors"
	"speedrun/backend"
	"testing"

	"speedrun/model"
	"speedrun/stages"
)

// auto's chooser: every registered variant whose network the GPU engine
// runs goes to it, except the analyses that run the CPU engine.
func TestGPUSupports(t *testing.T) {
	reg, err := stages.Load("../../experiments.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stage   int
		variant string
		gpu     bool
	}{
		{8, "p8.s10", true},
		{1, "p1.s0", true},
		{7, "p7.e1.nobn", true}, // LR stress trains through the backend
		{7, "p7.e2", false},     // histograms of a CPU forward pass
		{6, "p6.e1", true},      // per-layer statistics through the Observer
		{6, "p6.e2", true},      // LARS
		{7, "p7.e3", false},
	} {
		c, err := reg.Resolve(tc.stage, tc.variant, "smoke")
		if err != nil {
			t.Fatal(err)
		}
		spec, err := model.Build(c.Net)
		if err != nil {
			t.Fatal(err)
		}
		err = gpuSupports(c, spec)
		if (err == nil) != tc.gpu {
			t.Errorf("%s: gpuSupports = %v, want GPU %v", tc.variant, err, tc.gpu)
		}
		if err != nil && !errors.Is(err, backend.ErrUnsupported) {
			t.Errorf("%s: %v does not wrap backend.ErrUnsupported", tc.variant, err)
		}
	}
}
