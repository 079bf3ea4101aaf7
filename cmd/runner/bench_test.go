package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunBench(t *testing.T) {
	var out bytes.Buffer
	o := benchOptions{net: "resnet9", batch: 4, steps: 2, warmup: 1, width: 1.0 / 16, seed: 1, peak: fmaPeakGFLOPS}
	if err := runBench(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"images/s", "GFLOP per training image", "of the 232.7 GFLOP/s FMA peak", "peak RSS", "conv.bwd_weights", "bn_act.bwd", "(graph, optimizer)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
	o.net = "nope"
	if err := runBench(context.Background(), &out, o); err == nil {
		t.Error("bench --net nope succeeded")
	}
}
