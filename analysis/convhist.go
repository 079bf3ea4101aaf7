package analysis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"speedrun/backend"
	"speedrun/data"
	"speedrun/model"
	"speedrun/stages"
	"speedrun/train"
)

// histBins is the number of bins of every stored histogram.
const histBins = 40

// runConvHistograms is E7.2 (bn_histograms: the config's net, a CIFAR
// batch, the named layers) and E7.4 (conv_histograms: the 8-layer net with
// and without BN, on N(0,1) and CIFAR inputs, every conv and BN layer),
// both at initialisation with BN in training mode (batch statistics).
func runConvHistograms(ctx context.Context, req Request) (Outcome, error) {
	a := req.Config.Analysis
	batch := a.Batch
	if batch <= 0 {
		batch = 512
	}
	channels := a.Channels
	if channels <= 0 {
		channels = 10
	}
	bns, inputs := a.BNs, a.Inputs
	if req.Config.Kind == stages.KindBNHistograms || len(bns) == 0 {
		bns = []string{req.Config.Net.BN}
	}
	if len(inputs) == 0 {
		inputs = []string{"cifar"}
	}
	pr, err := backend.ProberOf(req.Backend, req.Config)
	if err != nil {
		return none(), err
	}
	var cifar []float32
	for _, bn := range bns {
		for _, in := range inputs {
			if err := ctx.Err(); err != nil {
				return none(), err
			}
			x, n := []float32(nil), batch
			switch in {
			case "cifar":
				if cifar == nil {
					var err error
					if cifar, n, err = cifarBatch(req.Data, batch, req.Seed); err != nil {
						return none(), err
					}
				}
				x, n = cifar, len(cifar)/data.ImageLen
			case "gaussian":
				x = gaussian(batch*data.ImageLen, req.Seed)
			default:
				return none(), fmt.Errorf("analysis.inputs: %q: want \"gaussian\" or \"cifar\"", in)
			}
			net := req.Config.Net
			if bn != "" {
				net.BN = bn
			}
			group := fmt.Sprintf("bn=%s input=%s", orDefault(net.BN, "bn"), in)
			if err := convHistograms(ctx, req, pr, net, x, n, group, a.Layers, channels); err != nil {
				return none(), fmt.Errorf("%s: %w", group, err)
			}
		}
	}
	return none(), nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// convHistograms records the histograms of one network at init on x.
func convHistograms(ctx context.Context, req Request, pr backend.Prober, net model.Net, x []float32, n int, group string, layers []string, channels int) error {
	spec, err := model.Build(net)
	if err != nil {
		return err
	}
	cfg := trainConfig(req.Config)
	cfg.Net = net
	params, err := train.InitParams(backend.Request{Config: cfg, Spec: spec, Seed: req.Seed})
	if err != nil {
		return err
	}
	want := func(l model.Layer) bool {
		if len(layers) > 0 {
			return slices.Contains(layers, l.Name)
		}
		return l.Op == model.OpConv || (l.Op == model.OpBN && !l.BN.Identity)
	}
	found := 0
	err = pr.Forward(spec, params, x, n, func(i int, y []float32) error {
		l := spec.Layers[i]
		if !want(l) {
			return nil
		}
		found++
		h, err := ChannelHistogram(y, l.Out[0], channels, histBins)
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Name, err)
		}
		h.Group, h.Layer, h.Order = group, l.Name, i
		return put(ctx, req, "hist/"+group+"/"+l.Name, h)
	})
	if err != nil {
		return err
	}
	if len(layers) > 0 && found != len(layers) {
		return fmt.Errorf("analysis.layers %q: found %d of them in %s", layers, found, spec.Name)
	}
	return nil
}

// cifarBatch returns up to n normalised NHWC training images of ds, a
// class-balanced subset chosen by seed, and their count.
func cifarBatch(ds *data.Set, n int, seed uint64) ([]float32, int, error) {
	if ds.Train.Len() > n {
		var err error
		if ds, err = ds.Subset(n, min(ds.Test.Len(), 10), seed); err != nil {
			return nil, 0, err
		}
	}
	p, err := data.Prepare(ds, 0)
	if err != nil {
		return nil, 0, err
	}
	return p.Train, p.TrainLen(), nil
}

// gaussian returns n N(0,1) values from seed's stream.
func gaussian(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x9a55))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}
