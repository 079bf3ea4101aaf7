package cpu

import (
	"math/rand/v2"
	"slices"
	"testing"

	"speedrun/backend"
	"speedrun/cpu/kernels"
	"speedrun/model"
	"speedrun/train"
)

// unshare rebinds every planned output of a to a place of its own, the
// layout before the memory plan.
func unshare(a *arena) (planned int) {
	for _, p := range a.plans {
		for i := range p.slots {
			p.slots[i].off = planned
			planned += (p.slots[i].shape.TotalSize() + planAlign - 1) / planAlign * planAlign
		}
	}
	a.mem = make([]float32, planned)
	for _, p := range a.plans {
		p.bind(a.mem)
	}
	return planned
}

// TestPlanSharesSafely trains two steps (two batch sizes, so two training
// graphs share the arena with the eval graph) of every catalogue network
// with the memory plan and with every output in a place of its own: the
// losses, gradients, parameters and eval logits must match bit for bit. It
// also checks that the plan shares memory: the ResNet-9 arena must be well
// under the sum of its outputs.
func TestPlanSharesSafely(t *testing.T) {
	libs := []kernels.ConvLib{kernels.ConvAuto}
	if kernels.HasBF16() {
		libs = append(libs, kernels.ConvOneDNNBF16) // bf16 values and in-place scratch
	} else {
		t.Log("this CPU has no avx512_bf16: the plan of bf16 graphs is not tested")
	}
	for _, lib := range libs {
		t.Run(lib.String(), func(t *testing.T) { testPlanSharesSafely(t, lib) })
	}
}

func testPlanSharesSafely(t *testing.T, lib kernels.ConvLib) {
	const batch, short = 4, 2
	for _, name := range model.Names() {
		spec, err := model.Build(testNet(name, 1.0/16))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		run := func(shared bool) (losses []float64, grads, params [][]float32, logits []float32, arenaBytes, planned int64) {
			tr, err := newTrainer(spec, testConfig(batch), batch, lib)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			defer tr.Close()
			init, err := train.InitParams(backend.Request{Config: testConfig(batch), Spec: spec, Seed: 1})
			if err == nil {
				err = tr.setParams(init)
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := tr.trainGraph(short); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := tr.compileEval(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			arenaBytes = tr.arena.bytes()
			if !shared {
				planned = 4 * int64(unshare(tr.arena))
			}
			rng := rand.New(rand.NewPCG(7, 7))
			for _, n := range []int{batch, short} {
				x, y := randBatch(rng, n, tr.inputLen(), spec.Classes)
				loss, err := tr.Step(x, y, 0.1)
				if err != nil {
					t.Fatalf("%s: step at batch %d: %v", name, n, err)
				}
				losses = append(losses, loss)
				for _, g := range tr.Grads() {
					grads = append(grads, slices.Clone(g.Data))
				}
			}
			for _, p := range tr.Params() {
				params = append(params, slices.Clone(p.Data))
			}
			x, _ := randBatch(rng, batch+1, tr.inputLen(), spec.Classes)
			if logits, err = tr.Eval(x, batch+1); err != nil {
				t.Fatalf("%s: eval: %v", name, err)
			}
			return losses, grads, params, logits, arenaBytes, planned
		}
		l1, g1, p1, e1, arenaBytes, _ := run(true)
		l2, g2, p2, e2, _, planned := run(false)
		if !slices.Equal(l1, l2) {
			t.Errorf("%s: losses %v with the plan, %v without", name, l1, l2)
		}
		for i := range g1 {
			if !slices.Equal(g1[i], g2[i]) {
				t.Errorf("%s: gradient %d differs with the plan", name, i)
			}
		}
		for i := range p1 {
			if !slices.Equal(p1[i], p2[i]) {
				t.Errorf("%s: parameter %d differs with the plan", name, i)
			}
		}
		if !slices.Equal(e1, e2) {
			t.Errorf("%s: eval logits differ with the plan", name)
		}
		if name == "resnet9" && 2*arenaBytes > planned {
			t.Errorf("%s: arena %d bytes for %d bytes of planned outputs: want under half", name, arenaBytes, planned)
		}
		t.Logf("%s: arena %d bytes, %d unshared", name, arenaBytes, planned)
	}
}
