package analysis

import (
	"context"
	"hash/fnv"
	"math"
	"testing"

	"speedrun/backend"
)

// countingBackend is a test double that trains nothing: it counts calls
// and reports an accuracy made from the config hash.
type countingBackend struct{ calls int }

func (*countingBackend) Name() string   { return "counting" }
func (*countingBackend) Device() string { return "test double" }
func (b *countingBackend) Train(_ context.Context, req backend.Request) (backend.Result, error) {
	b.calls++
	h := fnv.New32a()
	h.Write([]byte(req.Config.Hash()))
	return backend.Result{TestAcc: float64(h.Sum32()%1000) / 1000, TTAAcc: math.NaN()}, nil
}

// TestCellsResume runs the E5.1 and E5.2 cells twice on the same run: the
// second pass reads every stored point back and trains nothing.
func TestCellsResume(t *testing.T) {
	e := newSmokeEnv(t)
	for _, v := range []string{"p5.e1.momentum", "p5.e2"} {
		cfg, err := e.reg.Resolve(5, v, "quick")
		if err != nil {
			t.Fatal(err)
		}
		id := e.claim(t, cfg)
		be := &countingBackend{}
		req := Request{Config: cfg, Data: e.set, Seed: 1, Backend: be, DB: e.db, RunID: id}
		first, err := Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		n := be.calls
		if n == 0 {
			t.Fatalf("%s: nothing trained", v)
		}
		second, err := Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if be.calls != n {
			t.Errorf("%s: the second pass trained %d more times", v, be.calls-n)
		}
		if first.Accuracy != second.Accuracy {
			t.Errorf("%s: headline %g then %g", v, first.Accuracy, second.Accuracy)
		}
	}
}
