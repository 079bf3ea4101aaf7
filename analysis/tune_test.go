package analysis

import (
	"context"
	"errors"
	"math"
	"testing"
)

// bowl is a made-up accuracy with its optimum on the ridge
// lambda*alpha/(1-rho) = 0.512*0.000625/0.125, best at 1-rho = 0.125 and
// alpha = 0.000625 (points the factor-2 grid from the blog's start
// reaches).
func bowl(p Point) float64 {
	l := math.Log2(p.LR * p.WD / (1 - p.Momentum) / (0.512 * 0.000625 / 0.125))
	m := math.Log2((1 - p.Momentum) / 0.125)
	a := math.Log2(p.WD / 0.000625)
	return 0.95 - 0.02*l*l - 0.005*m*m - 0.003*a*a
}

func TestTunerFindsOptimum(t *testing.T) {
	tu := Tuner{Name: "t", Start: Point{LR: 0.001, Momentum: 0.5, WD: 0.01}, Factor: 2, Order: []string{"lr", "momentum", "wd"},
		Invariant: "lr*wd/(1-momentum)", MaxRuns: 100}
	evals := map[string]int{}
	var steps []TuneStep
	best, err := tu.Run(context.Background(), func(_ context.Context, p Point) (float64, error) {
		evals[p.key()]++
		return bowl(p), nil
	}, func(s TuneStep) error {
		steps = append(steps, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range evals {
		if n != 1 {
			t.Errorf("point %s trained %d times", k, n)
		}
	}
	if len(steps) != len(evals) {
		t.Errorf("%d steps reported for %d trainings", len(steps), len(evals))
	}
	if want := (Point{LR: 0.512, Momentum: 0.875, WD: 0.000625}); best.key() != want.key() || math.Abs(float64(best.Acc)-0.95) > 1e-9 {
		t.Errorf("best %+v acc %g; want %+v at 0.95 (after %d runs)", best.Point, best.Acc, want, len(steps))
	}
	for i, s := range steps {
		if s.Run != i+1 {
			t.Errorf("step %d has run %d", i, s.Run)
		}
	}
	// Every accepted step improves on the one before.
	prev := math.Inf(-1)
	for _, s := range steps {
		if s.Accepted {
			if float64(s.Acc) <= prev {
				t.Errorf("run %d accepted at %g after %g", s.Run, s.Acc, prev)
			}
			prev = float64(s.Acc)
		}
	}
}

func TestTunerMoves(t *testing.T) {
	tu := Tuner{Factor: 2, Invariant: "lr*wd/(1-momentum)"}
	p := Point{LR: 0.1, Momentum: 0.5, WD: 0.01}
	inv := func(p Point) float64 { return p.LR * p.WD / (1 - p.Momentum) }
	for _, c := range []struct {
		axis string
		up   bool
		want Point
		ok   bool
	}{
		{"lr", true, Point{0.2, 0.5, 0.01}, true},
		{"lr", false, Point{0.05, 0.5, 0.01}, true},
		{"momentum", false, Point{0.05, 0.75, 0.01}, true}, // 1-rho halved, lambda follows
		{"momentum", true, Point{0.2, 0, 0.01}, true},      // 1-rho doubled to 1
		{"wd", true, Point{0.05, 0.5, 0.02}, true},
	} {
		q, ok := tu.move(p, c.axis, c.up)
		if ok != c.ok || math.Abs(q.LR-c.want.LR) > 1e-12 || math.Abs(q.Momentum-c.want.Momentum) > 1e-12 || math.Abs(q.WD-c.want.WD) > 1e-12 {
			t.Errorf("move %s up=%v: %+v %v, want %+v %v", c.axis, c.up, q, ok, c.want, c.ok)
		}
		if c.axis != "lr" && math.Abs(inv(q)-inv(p)) > 1e-12 {
			t.Errorf("move %s: invariant %g -> %g", c.axis, inv(p), inv(q))
		}
	}
	if _, ok := tu.move(Point{LR: 1, Momentum: 0}, "momentum", true); ok {
		t.Error("1-rho above 1 allowed")
	}
}

func TestTunerBudgetAndErrors(t *testing.T) {
	tu := Tuner{Start: Point{LR: 0.001, Momentum: 0.5, WD: 0.01}, Factor: 2, Order: []string{"lr"}, MaxRuns: 3}
	n := 0
	_, err := tu.Run(context.Background(), func(_ context.Context, p Point) (float64, error) {
		n++
		return p.LR, nil // always better uphill
	}, func(TuneStep) error { return nil })
	if err != nil || n != 3 {
		t.Errorf("ran %d trainings (err %v), want the budget of 3", n, err)
	}
	boom := errors.New("boom")
	if _, err := tu.Run(context.Background(), func(context.Context, Point) (float64, error) { return 0, boom }, func(TuneStep) error { return nil }); !errors.Is(err, boom) {
		t.Errorf("eval error: got %v", err)
	}
	bad := tu
	bad.Invariant = "lr*momentum"
	if _, err := bad.Run(context.Background(), nil, nil); err == nil {
		t.Error("bad invariant: no error")
	}
	// A diverged (NaN) start is replaced by the first finite result.
	tu.MaxRuns = 2
	best, err := tu.Run(context.Background(), func(_ context.Context, p Point) (float64, error) {
		if p.LR == 0.001 {
			return math.NaN(), nil
		}
		return 0.5, nil
	}, func(TuneStep) error { return nil })
	if err != nil || best.LR != 0.002 {
		t.Errorf("after a diverged start: best %+v err %v", best, err)
	}
}
