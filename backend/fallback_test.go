package backend

import (
	"context"
	"errors"
	"strings"
	"testing"

	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
)

type named struct {
	name   string
	trains int
}

func (n *named) Name() string   { return n.name }
func (n *named) Device() string { return n.name + "-device" }
func (n *named) Train(context.Context, Request) (Result, error) {
	n.trains++
	return Result{}, nil
}

// capable is a named backend that says what it runs.
type capable struct {
	named
	caps Caps
}

func (c *capable) Caps() Caps { return c.caps }

// probing is a named backend with a Prober.
type probing struct{ named }

func (*probing) Forward(*model.Spec, [][]float32, []float32, int, func(int, []float32) error) error {
	return nil
}
func (*probing) Act(model.Act, []float32, []float32) error                         { return nil }
func (*probing) MatMul(bool, int, int, int, []float32, []float32, []float32) error { return nil }
func (*probing) Logits(Frozen, []float32, int, []float32) error                    { return nil }
func (*probing) Grad(Frozen, []float32, int, func([]float32, []float32) (float64, error), [][]float64) (float64, error) {
	return 0, nil
}

func TestFallback(t *testing.T) {
	errNo := errors.New("unsupported")
	gpu := &capable{named: named{name: "cuda"}, caps: Caps{Name: "cuda", Supports: func(cfg stages.Config, _ *model.Spec) error {
		if cfg.Train.Optimizer == "lars" {
			return errNo
		}
		return nil
	}}}
	cpu := &probing{named{name: "cpu"}}
	f := &Fallback{Primary: gpu, Secondary: cpu}
	net := model.Net{Name: "resnet9", Width: 0.125, BN: "bn", BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 0.125}
	sgd := stages.Config{Net: net, Train: stages.Train{Optimizer: "sgd"}}
	lars := stages.Config{Net: net, Train: stages.Train{Optimizer: "lars"}}
	bad := stages.Config{Net: model.Net{Name: "no-such-net"}, Train: stages.Train{Optimizer: "lars"}}
	spec, err := model.Build(net)
	if err != nil {
		t.Fatal(err)
	}
	hist := sgd
	hist.Kind = stages.KindConvHistograms
	tests := []struct {
		name string
		cfg  stages.Config
		want Backend
	}{
		{"supported", sgd, gpu},
		{"unsupported", lars, cpu},
		{"network does not build", bad, gpu},
		{"probes", hist, cpu},
	}
	for _, tt := range tests {
		if got := f.For(tt.cfg); got != tt.want {
			t.Errorf("%s: For chose %s, want %s", tt.name, got.Name(), tt.want.Name())
		}
	}
	for _, cfg := range []stages.Config{sgd, lars, lars} {
		if _, err := f.Train(context.Background(), Request{Config: cfg, Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	if gpu.trains != 1 || cpu.trains != 2 {
		t.Errorf("Train: primary ran %d, secondary %d; want 1 and 2", gpu.trains, cpu.trains)
	}
	if f.Name() != "cuda" || f.Device() != "cuda-device" {
		t.Errorf("Name/Device = %s/%s, want the primary's", f.Name(), f.Device())
	}
	// The probing analysis finds the secondary's Prober; the primary alone
	// has none.
	if p, err := ProberOf(f, hist); err != nil || p != Prober(cpu) {
		t.Errorf("ProberOf(fallback, histograms) = %v, %v; want the CPU's", p, err)
	}
	if _, err := ProberOf(gpu, hist); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ProberOf(gpu) = %v, want ErrUnsupported", err)
	}
}

// TestCheck is the one rule of which engine runs which config.
func TestCheck(t *testing.T) {
	errNo := errors.New("no")
	train, hist := stages.Config{Kind: stages.KindTrain}, stages.Config{Kind: stages.KindBNHistograms}
	no := func(stages.Config, *model.Spec) error { return errNo }
	for _, tt := range []struct {
		name string
		caps Caps
		cfg  stages.Config
		want error
	}{
		{"trains anything", Caps{Name: "x"}, train, nil},
		{"no probes", Caps{Name: "x"}, hist, ErrUnsupported},
		{"probes", Caps{Name: "x", Probes: true}, hist, nil},
		{"supports says no", Caps{Name: "x", Probes: true, Supports: no}, train, errNo},
	} {
		if err := Check(tt.caps, tt.cfg, nil); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
	if c := CapsOf(&probing{named{name: "cpu"}}); !c.Probes || c.Name != "cpu" {
		t.Errorf("CapsOf(a Prober) = %+v", c)
	}
}

// A primary that says nothing of what it runs (no Caps, no Prober) trains
// every non-probing config, through For and Train.
func TestFallbackPrimaryWithoutCaps(t *testing.T) {
	gpu, cpu := &named{name: "cuda"}, &named{name: "cpu"}
	f := &Fallback{Primary: gpu, Secondary: cpu}
	net := model.Net{Name: "resnet9", Width: 0.125, BN: "bn", BNScaleInit: "one", Act: "relu", Order: "conv-bn-act-pool", ClassifierScale: 0.125}
	spec, err := model.Build(net)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stages.Config{Net: net, Train: stages.Train{Optimizer: "lars"}}
	if got := f.For(cfg); got != gpu {
		t.Errorf("For chose %s, want the primary", got.Name())
	}
	if _, err := f.Train(context.Background(), Request{Config: cfg, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	if gpu.trains != 1 || cpu.trains != 0 {
		t.Errorf("Train: primary ran %d, secondary %d; want 1 and 0", gpu.trains, cpu.trains)
	}
}

// closing counts its Close calls and fails them with err.
type closing struct {
	named
	closed int
	err    error
}

func (c *closing) Close() error {
	c.closed++
	return c.err
}

// Close closes each engine that holds resources once, the secondary even
// when the primary fails, and joins their errors.
func TestFallbackClose(t *testing.T) {
	errGPU, errCPU := errors.New("gpu close"), errors.New("cpu close")
	tests := []struct {
		name            string
		primary, second *closing // nil: an engine with no Close
		wantErr         []error
		wantP, wantS    int
	}{
		{"both close", &closing{}, &closing{}, nil, 1, 1},
		{"primary fails", &closing{err: errGPU}, &closing{}, []error{errGPU}, 1, 1},
		{"both fail", &closing{err: errGPU}, &closing{err: errCPU}, []error{errGPU, errCPU}, 1, 1},
		{"secondary holds nothing", &closing{}, nil, nil, 1, 0},
	}
	for _, tt := range tests {
		f := &Fallback{Primary: tt.primary, Secondary: &named{name: "cpu"}}
		if tt.second != nil {
			f.Secondary = tt.second
		}
		err := f.Close()
		for _, want := range tt.wantErr {
			if !errors.Is(err, want) {
				t.Errorf("%s: Close() = %v, want it to wrap %v", tt.name, err, want)
			}
		}
		if tt.wantErr == nil && err != nil {
			t.Errorf("%s: Close() = %v", tt.name, err)
		}
		if tt.primary.closed != tt.wantP || (tt.second != nil && tt.second.closed != tt.wantS) {
			t.Errorf("%s: closed primary %d, secondary %v times; want %d and %d", tt.name, tt.primary.closed, tt.second, tt.wantP, tt.wantS)
		}
	}
}

func TestRequestValidate(t *testing.T) {
	spec := &model.Spec{}
	set := &data.Set{}
	ok := stages.Train{Epochs: 1, BatchSize: 8}
	tests := []struct {
		name string
		req  Request
		want string // "" = valid
	}{
		{"valid", Request{Spec: spec, Data: set, Config: stages.Config{Train: ok}}, ""},
		{"no spec", Request{Data: set, Config: stages.Config{Train: ok}}, "needs a spec"},
		{"no data", Request{Spec: spec, Config: stages.Config{Train: ok}}, "needs a spec"},
		{"no epochs", Request{Spec: spec, Data: set, Config: stages.Config{Train: stages.Train{BatchSize: 8}}}, "epochs 0"},
		{"no batch", Request{Spec: spec, Data: set, Config: stages.Config{Train: stages.Train{Epochs: 1}}}, "batch_size 0"},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
}
