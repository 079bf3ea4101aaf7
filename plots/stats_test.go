package plots

import (
	"math"
	"strings"
	"testing"

	"speedrun/results"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Clopper-Pearson 95% intervals from published tables (e.g. the exact
// binomial intervals tabulated by Newcombe 1998 and the R binom.test
// reference values).
func TestClopperPearson(t *testing.T) {
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		{0, 10, 0, 0.3085},
		{10, 10, 0.6915, 1},
		{7, 10, 0.3475, 0.9333},
		{3, 5, 0.1466, 0.9473},
		{1, 2, 0.0126, 0.9874},
		{15, 148, 0.0578, 0.1617}, // Newcombe's example 15/148
		{0, 20, 0, 0.1684},
	} {
		lo, hi, err := ClopperPearson(tc.k, tc.n, 0.95)
		if err != nil {
			t.Fatalf("ClopperPearson(%d, %d): %v", tc.k, tc.n, err)
		}
		if !near(lo, tc.lo, 5e-5) || !near(hi, tc.hi, 5e-5) {
			t.Errorf("ClopperPearson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	for _, bad := range [][2]int{{1, 0}, {-1, 3}, {4, 3}} {
		if _, _, err := ClopperPearson(bad[0], bad[1], 0.95); err == nil {
			t.Errorf("ClopperPearson(%d, %d): no error", bad[0], bad[1])
		}
	}
}

// Mann-Whitney against exact values counted by hand: with no ties the
// two-sided p is 2·P(U <= u) over the C(n1+n2, n1) equally likely
// rankings.
func TestMannWhitney(t *testing.T) {
	for _, tc := range []struct {
		a, b   []float64
		p      float64
		tooFew bool
	}{
		// U = 0: 1 ranking of 20 as extreme on each side.
		{[]float64{1, 2, 3}, []float64{4, 5, 6}, 2.0 / 20, true},
		// U = 1: rankings with U <= 1 are 2 of 20.
		{[]float64{1, 2, 4}, []float64{3, 5, 6}, 4.0 / 20, true},
		// 4 vs 4, fully separated: 2/70.
		{[]float64{10, 11, 12, 13}, []float64{1, 2, 3, 4}, 2.0 / 70, false},
		// 5 vs 5, U = 3 (5>4, 7>4, 7>6): P(U <= 3) = 7/252
		// (U=0: 1 ranking, U=1: 1, U=2: 2, U=3: 3).
		{[]float64{1, 2, 3, 5, 7}, []float64{4, 6, 8, 9, 10}, 2 * 7.0 / 252, false},
	} {
		got, err := MannWhitney(tc.a, tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got.P, tc.p, 1e-9) {
			t.Errorf("MannWhitney(%v, %v).P = %v, want %v", tc.a, tc.b, got.P, tc.p)
		}
		if got.TooFew != tc.tooFew {
			t.Errorf("MannWhitney(%v, %v).TooFew = %v, want %v", tc.a, tc.b, got.TooFew, tc.tooFew)
		}
	}
	if _, err := MannWhitney(nil, []float64{1}); err == nil {
		t.Error("MannWhitney with an empty sample: no error")
	}
}

func TestMinUTestSize(t *testing.T) {
	if got := minUTestSize(0.05); got != 4 {
		t.Errorf("minUTestSize(0.05) = %d, want 4 (2/C(8,4) = 0.029)", got)
	}
	if got := minUTestSize(0.01); got != 5 {
		t.Errorf("minUTestSize(0.01) = %d, want 5 (2/C(10,5) = 0.0079)", got)
	}
}

func run(id int64, status results.Status, acc, train float64) results.Run {
	return results.Run{ID: id, Stage: 4, Variant: "v", Profile: "smoke", Status: status,
		TestAcc: acc, TTAAcc: math.NaN(), TrainSeconds: train, EvalSeconds: 1, PreprocessSeconds: 0.5}
}

func TestSummarize(t *testing.T) {
	g := &Group{Stage: 4, Variant: Variant{Name: "v"}, Profile: "smoke", Runs: []results.Run{
		run(1, results.StatusDone, 0.93, 10),
		run(2, results.StatusDone, 0.94, 12),
		run(3, results.StatusDone, 0.95, 14),
		run(4, results.StatusDiverged, math.NaN(), 3),
		run(5, results.StatusFailed, math.NaN(), 0),
	}}
	s := Summarize(g)
	if s.Runs != 5 || s.Done != 3 || s.Diverged != 1 || s.Other != 1 || s.N != 3 {
		t.Errorf("counts = runs %d done %d diverged %d other %d n %d, want 5 3 1 1 3", s.Runs, s.Done, s.Diverged, s.Other, s.N)
	}
	if !near(s.AccMean, 0.94, 1e-12) || !near(s.AccStd, 0.01, 1e-12) {
		t.Errorf("acc = %v ± %v, want 0.94 ± 0.01", s.AccMean, s.AccStd)
	}
	// 0.94 itself counts; the diverged run is in the denominator.
	if s.Reached94.K != 2 || s.Reached94.N != 4 {
		t.Errorf("reached94 = %d/%d, want 2/4", s.Reached94.K, s.Reached94.N)
	}
	if s.Timing != TimingTrainEval || !near(s.Time, 13, 1e-12) || !near(s.TrainEvalMean, 13, 1e-12) || !near(s.DawnMean, 12.5, 1e-12) {
		t.Errorf("time %q %v, train+eval %v, dawn %v; want train+eval 13, 13, 12.5", s.Timing, s.Time, s.TrainEvalMean, s.DawnMean)
	}
	// Student t with 2 degrees of freedom: t(0.975) = 4.302653.
	if h := 4.302653 * 0.01 / math.Sqrt(3); !near(s.Mean.Center, 0.94, 1e-12) || !near(s.Mean.Lo, 0.94-h, 1e-6) || !near(s.Mean.Hi, 0.94+h, 1e-6) {
		t.Errorf("mean interval %v [%v, %v], want 0.94 ± %v", s.Mean.Center, s.Mean.Lo, s.Mean.Hi, h)
	}
	if s.TimeMin != 11 || s.TimeMax != 15 {
		t.Errorf("time range [%v, %v], want [11, 15]", s.TimeMin, s.TimeMax)
	}
	if s.Median.Center != 0.94 {
		t.Errorf("median = %v, want 0.94", s.Median.Center)
	}
	// Three values are too few for a finite 95% interval of the median.
	if len(s.Median.Warnings) == 0 || !math.IsInf(s.Median.Lo, -1) {
		t.Errorf("median interval [%v, %v], warnings %v: want -Inf and a warning", s.Median.Lo, s.Median.Hi, s.Median.Warnings)
	}
}

func TestMedianInterval(t *testing.T) {
	// For n = 10 the distribution-free 95% interval of the median runs
	// from the 2nd to the 9th order statistic (coverage 97.85%).
	xs := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	m := median(xs)
	if m.Center != 5.5 || m.Lo != 2 || m.Hi != 9 || !near(m.Confidence, 0.9785, 1e-4) {
		t.Errorf("median = %v [%v, %v] at %v, want 5.5 [2, 9] at 0.9785", m.Center, m.Lo, m.Hi, m.Confidence)
	}
}

func TestVerdict(t *testing.T) {
	mk := func(name string, accs, times []float64) (*Group, *Stats) {
		g := &Group{Stage: 4, Variant: Variant{Name: name}, Profile: "p"}
		for i := range accs {
			g.Runs = append(g.Runs, run(int64(i), results.StatusDone, accs[i], times[i]-1))
		}
		return g, Summarize(g)
	}
	ga, sa := mk("a", []float64{0.940, 0.942, 0.938, 0.941, 0.939}, []float64{100, 101, 99, 100.5, 99.5})
	gb, sb := mk("b", []float64{0.941, 0.939, 0.940, 0.942, 0.938}, []float64{80, 81, 79, 80.5, 79.5})
	gc, sc := mk("c", []float64{0.93, 0.94}, []float64{50, 51})
	gd, sd := mk("d", []float64{0.95, 0.96}, []float64{40, 41})
	for _, tc := range []struct {
		from, to *Group
		fs, ts   *Stats
		want     []string
	}{
		{ga, gb, sa, sb, []string{"faster (-20", "p=0.00794", "accuracy unchanged (p=1)", "n=5 vs 5"}},
		{gb, ga, sb, sa, []string{"slower (+20"}},
		{gc, gd, sc, sd, []string{"too few runs to tell (n=2 vs 2)"}},
	} {
		c := Compare(tc.from, tc.to, tc.fs, tc.ts)
		if tooFew := strings.Contains(c.Verdict, "too few"); tooFew != (c.NeedRuns == 4) || strings.Contains(c.Verdict, ">=") {
			t.Errorf("%s -> %s: verdict %q with NeedRuns %d: the rule belongs in the page's note, once", c.From, c.To, c.Verdict, c.NeedRuns)
		}
		for _, w := range tc.want {
			if !strings.Contains(c.Verdict, w) {
				t.Errorf("%s -> %s: verdict %q lacks %q", c.From, c.To, c.Verdict, w)
			}
		}
	}
}
