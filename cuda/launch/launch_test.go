package launch

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"

	"speedrun/cuda/driver"
	"speedrun/cuda/internal/fakecuda"
	"speedrun/cuda/kernels"
)

// TestKernelHelpersFake loads the real embedded PTX into the fake driver
// (which counts each entry's .param lines) and calls every launch helper:
// each must pass its signature check and hand the driver exactly as many
// parameters as the PTX declares, and together they must cover the table.
func TestKernelHelpersFake(t *testing.T) {
	d := fakecuda.Context(t)
	h, err := purego.Dlopen(d.Path, purego.RTLD_NOW)
	if err != nil {
		t.Fatal(err)
	}
	lastLaunch, _ := purego.Dlsym(h, "fake_last_launch")
	lastName, _ := purego.Dlsym(h, "fake_last_name")
	k, err := Load(d)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	const p = driver.DevicePtr(0x1000)
	bn := BNShape{G: 2, R: 64, C: 40}
	act := BNAct{Kind: kernels.ActCELU, Alpha: 0.3}
	seen := map[string]bool{}
	var rec [10]uint64
	call := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		n, _, _ := purego.SyscallN(lastLaunch, uintptr(unsafe.Pointer(&rec[0])))
		np, _, _ := purego.SyscallN(lastName)
		name := driver.GoString(*(**byte)(unsafe.Pointer(&np)))
		sig, _ := kernels.Lookup(name)
		if int(n) != len(sig.Params) {
			t.Errorf("%s launched %s with %d params, PTX declares %d", what, name, n, len(sig.Params))
		}
		if rec[0] < 1 || rec[3] < 1 || rec[3]*rec[4]*rec[5] > 1024 {
			t.Errorf("%s: grid %v block %v", what, rec[0:3], rec[3:6])
		}
		seen[name] = true
	}
	for _, pr := range []Prec{F32, BF16} {
		call("Add", k.Add(0, pr, p, p, p, 10))
		call("BNStats", k.BNStats(0, pr, bn, p, p, p, p))
		call("BNActFwd", k.BNActFwd(0, pr, bn, p, p, p, p, p, p, 1e-5, act))
		call("BNActBwd", k.BNActBwd(0, pr, bn, p, p, p, p, p, p, p, p, p, p, 1e-5, act))
		call("MaxPoolFwd", k.MaxPoolFwd(0, pr, p, p, 2, 4, 4, 3, 2))
		call("MaxPoolBwd", k.MaxPoolBwd(0, pr, p, p, p, 2, 4, 4, 3, 4))
		call("GAvgPoolFwd", k.GAvgPoolFwd(0, pr, p, p, 2, 16, 3))
		call("GAvgPoolBwd", k.GAvgPoolBwd(0, pr, p, p, 2, 16, 3))
		call("ActFwd", k.ActFwd(0, pr, p, p, 10, act))
		call("ActBwd", k.ActBwd(0, pr, p, p, p, 10, act))
		call("ColsCopy", k.ColsCopy(0, pr, p, p, 4, 8, 3, 5, 0, 5))
		call("GMaxPoolFwd", k.GMaxPoolFwd(0, pr, p, p, 2, 16, 3))
		call("GMaxPoolBwd", k.GMaxPoolBwd(0, pr, p, p, p, 2, 16, 3))
		call("Augment", k.Augment(0, pr, AugShape{N: 2, PH: 40, PW: 40, H: 32, W: 32, C: 3}, p, p, p, p))
		call("BiasRows", k.BiasRows(0, pr, p, p, 8, 10))
		call("MuonScale", k.MuonScale(0, pr, p, p, p, p, 100))
		call("MuonUpdate", k.MuonUpdate(0, pr, p, p, 100, 0.24))
	}
	// BNStats and BNActBwd launch two and three kernels: record the
	// ones before the last too.
	seen["bn_stats_part_f32"], seen["bn_stats_part_bf16"], seen["bn_act_bwd_combine"] = true, true, true
	seen["bn_act_bwd_part_f32"], seen["bn_act_bwd_part_bf16"] = true, true
	call("Fill", k.Fill(0, p, 1, 1<<24))
	if rec[0] != maxGrid {
		t.Errorf("Fill of 2^24: grid %d, want the cap %d", rec[0], maxGrid)
	}
	call("CastF32BF16", k.CastF32BF16(0, p, p, 10))
	call("CastBF16F32", k.CastBF16F32(0, p, p, 10))
	call("Sum", k.Sum(0, p, p, 10))
	call("Scale f32", k.Scale(0, F32, p, F32, p, 2, 10))
	call("Scale bf16", k.Scale(0, BF16, p, BF16, p, 2, 10))
	call("Scale to f32", k.Scale(0, F32, p, BF16, p, 2, 10))
	call("Scale to bf16", k.Scale(0, BF16, p, F32, p, 2, 10))
	call("MuonMomentum", k.MuonMomentum(0, p, p, p, 100, 0.6, true))
	call("MuonNorms", k.MuonNorms(0, p, p, p, 16, 1e-7))
	call("ColSum", k.ColSum(0, p, p, 8, 10))
	call("BNParamGrad", k.BNParamGrad(0, p, p, p, p, 2, 40))
	call("BNRunningUpdate", k.BNRunningUpdate(0, p, p, p, p, 80, 0.1, 64.0/63))
	call("BNSplitAverage", k.BNSplitAverage(0, p, p, p, p, 2, 40))
	call("XentLS", k.XentLS(0, p, p, p, p, p, 512, 10, 0.2, 1))
	call("SGD", k.SGD(0, p, p, p, 100, 0.1, 5e-4, 0.9, true))
	call("PrepNHWC", k.PrepNHWC(0, p, p, p, 2, 4))
	call("WhitenPatches", k.WhitenPatches(0, p, p, 2, 40, 4, 3))
	call("EMA", k.EMA(0, p, p, 100, 0.99))
	call("RowNorms", k.RowNorms(0, p, p, 0, 64, 27))
	call("SGDLARS", k.SGDLARS(0, p, p, p, p, p, 64*27, 27, 0.1, 5e-4, 0.9, false))
	for _, s := range kernels.Signatures {
		if !seen[s.Name] {
			t.Errorf("kernel %s has no launch helper exercised here", s.Name)
		}
	}
	// A wrong argument list is caught before the driver sees it.
	k.args.Reset().Ptr(p).I32(1).I32(1)
	if err := k.launch(0, "fill_f32", driver.Dim3{X: 1}, driver.Dim3{X: 1}); err == nil || !strings.Contains(err.Error(), "arg 1 is i32, signature says f32") {
		t.Errorf("bad args: got %v", err)
	}
}

// A launch through the helpers allocates at most what purego.SyscallN
// itself does (one small object per call): the training loop's launches
// stay allocation-free on our side.
func TestLaunchAllocs(t *testing.T) {
	k, err := Load(fakecuda.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	bn := BNShape{G: 16, R: 32 * 16, C: 128}
	act := BNAct{Kind: kernels.ActCELU, Alpha: 0.3}
	allocs := testing.AllocsPerRun(100, func() {
		k.BNActFwd(0, BF16, bn, 1, 2, 3, 4, 5, 6, 1e-5, act)
	})
	t.Logf("allocations per BNActFwd launch: %v", allocs)
	if allocs > 1 {
		t.Errorf("BNActFwd allocates %v objects per launch, want <= 1 (purego's)", allocs)
	}
}

// BenchmarkLaunchFake is the host-side cost of one launch through the
// helpers (signature check, Args, purego.SyscallN) against the fake driver,
// whose cuLaunchKernel only records its arguments.
func BenchmarkLaunchFake(b *testing.B) {
	k, err := Load(fakecuda.Context(b))
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	bn := BNShape{G: 16, R: 32 * 16, C: 128}
	act := BNAct{Kind: kernels.ActCELU, Alpha: 0.3}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.BNActFwd(0, BF16, bn, 1, 2, 3, 4, 5, 6, 1e-5, act); err != nil {
			b.Fatal(err)
		}
	}
}
