package plots

import (
	"errors"
	"fmt"
	"math"

	"golang.org/x/perf/benchmath"
	"gonum.org/v1/gonum/stat/distuv"

	"speedrun/results"
)

// Target is the accuracy the series chases (94%).
const Target = 0.94

// Confidence is the level of every interval in the report.
const Confidence = 0.95

// targetEps absorbs float rounding in accuracies such as 9400/10000.
const targetEps = 1e-9

// Interval is a point estimate with a confidence interval.
type Interval struct {
	Center, Lo, Hi float64
	Confidence     float64  // the actual level, >= the requested one
	Warnings       []string // e.g. too few samples for a finite interval
}

// Proportion is K successes out of N with a Clopper-Pearson interval.
type Proportion struct {
	K, N   int
	Lo, Hi float64 // NaN when N == 0
}

// P is K/N, NaN when N == 0.
func (p Proportion) P() float64 {
	if p.N == 0 {
		return math.NaN()
	}
	return float64(p.K) / float64(p.N)
}

// Stats summarises one Group.
type Stats struct {
	Runs     int // every run of the group, whatever its status
	Done     int // finished normally
	Diverged int
	Other    int // failed, interrupted, queued or still running

	// N counts the accuracies the summaries below are computed over: the
	// done runs with a finite accuracy.
	N       int
	AccMean float64
	AccStd  float64 // sample standard deviation (n-1); NaN when N < 2
	// Mean is AccMean with its Student t interval at Confidence (NaN
	// bounds when N < 2).
	Mean   Interval
	Median Interval
	// Reached94 counts done runs at or above Target out of done plus
	// diverged runs: a diverged run is a run that missed.
	Reached94 Proportion

	// Timing is the group's convention; Time and TimeStd are in it. Every
	// convention's mean is always given, over done runs.
	Timing        string
	Time, TimeStd float64
	// TimeMin and TimeMax are the fastest and slowest done run, in Timing.
	TimeMin, TimeMax float64
	TrainEvalMean    float64
	DawnMean         float64
	AirbenchMean     float64
	accs, times      []float64
}

// Accs returns the accuracy sample (done runs, ascending).
func (s *Stats) Accs() []float64 { return s.accs }

// Times returns the time sample in the group's convention (done runs,
// ascending).
func (s *Stats) Times() []float64 { return s.times }

// Summarize computes a group's statistics.
func Summarize(g *Group) *Stats {
	s := &Stats{Runs: len(g.Runs), Timing: g.Timing()}
	var te, dawn, ab []float64
	for _, r := range g.Runs {
		switch r.Status {
		case results.StatusDone:
			s.Done++
			acc := Accuracy(r)
			if !math.IsNaN(acc) && !math.IsInf(acc, 0) {
				s.accs = append(s.accs, acc)
				if acc >= Target-targetEps {
					s.Reached94.K++
				}
			}
			s.times = append(s.times, TimeIn(r, s.Timing))
			te = append(te, TimeIn(r, TimingTrainEval))
			dawn = append(dawn, TimeIn(r, TimingDawn))
			ab = append(ab, TimeIn(r, TimingAirbench))
		case results.StatusDiverged:
			s.Diverged++
		default:
			s.Other++
		}
	}
	s.Reached94.N = s.Done + s.Diverged
	s.Reached94.Lo, s.Reached94.Hi = math.NaN(), math.NaN()
	if s.Reached94.N > 0 {
		// The inputs are valid by construction, so the error cannot occur.
		s.Reached94.Lo, s.Reached94.Hi, _ = ClopperPearson(s.Reached94.K, s.Reached94.N, Confidence)
	}
	s.N = len(s.accs)
	s.AccMean, s.AccStd = meanStd(s.accs)
	s.Mean = tInterval(s.accs)
	s.Time, s.TimeStd = meanStd(s.times)
	s.TimeMin, s.TimeMax = math.NaN(), math.NaN()
	if len(s.times) > 0 {
		s.TimeMin, s.TimeMax = minMax(s.times)
	}
	s.TrainEvalMean, _ = meanStd(te)
	s.DawnMean, _ = meanStd(dawn)
	s.AirbenchMean, _ = meanStd(ab)
	s.Median = median(s.accs)
	// NewSample sorts in place; keep the ascending copies for charts.
	return s
}

// median is benchmath's median with its distribution-free interval.
func median(xs []float64) Interval {
	if len(xs) == 0 {
		return Interval{Center: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), Warnings: []string{"no runs"}}
	}
	sample := benchmath.NewSample(xs, &benchmath.DefaultThresholds)
	sum := benchmath.AssumeNothing.Summary(sample, Confidence)
	return Interval{Center: sum.Center, Lo: sum.Lo, Hi: sum.Hi, Confidence: sum.Confidence, Warnings: errStrings(sum.Warnings)}
}

// tInterval is the sample mean with its two-sided Student t interval at
// Confidence: mean ± t(1-alpha/2, n-1)·s/√n. With fewer than two values
// the bounds are NaN and a warning says so.
func tInterval(xs []float64) Interval {
	m, sd := meanStd(xs)
	iv := Interval{Center: m, Lo: math.NaN(), Hi: math.NaN()}
	if len(xs) < 2 {
		iv.Warnings = []string{"need at least 2 runs for an interval of the mean"}
		return iv
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(xs) - 1)}.Quantile(1 - (1-Confidence)/2)
	h := t * sd / math.Sqrt(float64(len(xs)))
	iv.Lo, iv.Hi, iv.Confidence = m-h, m+h, Confidence
	return iv
}

func meanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

func errStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// ClopperPearson returns the exact (Clopper-Pearson) two-sided interval
// for a binomial proportion with k successes out of n trials, at the given
// confidence: the alpha/2 quantile of Beta(k, n-k+1) and the 1-alpha/2
// quantile of Beta(k+1, n-k), with the bounds pinned to 0 and 1 when k is
// 0 or n.
func ClopperPearson(k, n int, confidence float64) (lo, hi float64, err error) {
	if n <= 0 || k < 0 || k > n {
		return math.NaN(), math.NaN(), fmt.Errorf("clopper-pearson: need 0 <= k <= n and n > 0, got k=%d n=%d", k, n)
	}
	if !(confidence > 0 && confidence < 1) {
		return math.NaN(), math.NaN(), fmt.Errorf("clopper-pearson: confidence %v outside (0, 1)", confidence)
	}
	alpha := 1 - confidence
	lo, hi = 0, 1
	if k > 0 {
		lo = distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(alpha / 2)
	}
	if k < n {
		hi = distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - alpha/2)
	}
	return lo, hi, nil
}

// Test is one Mann-Whitney U test between two samples.
type Test struct {
	P      float64
	N1, N2 int
	Alpha  float64
	// TooFew is set when the samples are too small for the test to
	// reject at Alpha even if they did not overlap at all.
	TooFew   bool
	Warnings []string
}

// Significant reports whether the test rejects "same distribution".
func (t Test) Significant() bool { return !t.TooFew && t.P <= t.Alpha }

// errNoSamples is returned by MannWhitney for an empty sample.
var errNoSamples = errors.New("mann-whitney: a sample is empty")

// MannWhitney runs benchmath's non-parametric comparison (a two-sided
// Mann-Whitney U test) on copies of a and b.
func MannWhitney(a, b []float64) (Test, error) {
	if len(a) == 0 || len(b) == 0 {
		return Test{P: math.NaN(), N1: len(a), N2: len(b), Alpha: benchmath.DefaultThresholds.CompareAlpha, TooFew: true}, errNoSamples
	}
	sa := benchmath.NewSample(append([]float64(nil), a...), &benchmath.DefaultThresholds)
	sb := benchmath.NewSample(append([]float64(nil), b...), &benchmath.DefaultThresholds)
	c := benchmath.AssumeNothing.Compare(sa, sb)
	t := Test{P: c.P, N1: c.N1, N2: c.N2, Alpha: c.Alpha, Warnings: errStrings(c.Warnings)}
	// benchmath warns exactly when the samples are too small to ever
	// reach Alpha; a failed test (e.g. all values tied) also warns but
	// is an honest "no difference".
	t.TooFew = c.P > c.Alpha && minUTestSize(c.Alpha) > max(c.N1, c.N2)
	return t, nil
}

// minUTestSize is the smallest equal sample size at which a two-sided U
// test can reach p <= alpha: the exact minimum p for n vs n is
// 2/C(2n, n).
func minUTestSize(alpha float64) int {
	for n := 1; n < 64; n++ {
		if 2/binom(2*n, n) <= alpha {
			return n
		}
	}
	return 64
}

func binom(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}
