package plots

import (
	"fmt"
	"math"
	"strings"

	"speedrun/results"
)

// Comparison sets one variant against the one before it in the same
// stage and profile.
type Comparison struct {
	From, To string // variant names

	// DeltaAcc is the change in mean accuracy (fraction; +0.001 = +0.1
	// points); DeltaTime the change in mean time in To's convention, in
	// seconds, and DeltaTimePct relative to From.
	DeltaAcc     float64
	DeltaTime    float64
	DeltaTimePct float64
	// SameTiming is false when the two variants use different timing
	// conventions; the time comparison is then in To's convention for
	// both.
	SameTiming bool
	Timing     string // the convention both times are in (To's)

	Acc, Time Test
	Verdict   string
	// NeedRuns, when a test had too few runs to ever reject, is how many
	// runs per variant a U test needs at its alpha: the page says it
	// once, not in every verdict.
	NeedRuns int
}

// Compare tests To against From: Mann-Whitney U tests on accuracy and
// on time, and a verdict in plain words.
func Compare(from, to *Group, fs, ts *Stats) Comparison {
	c := Comparison{From: from.Variant.Name, To: to.Variant.Name, SameTiming: from.Timing() == to.Timing(), Timing: ts.Timing}
	c.DeltaAcc = ts.AccMean - fs.AccMean
	// Time both in To's convention so the difference is like for like.
	fromTimes := fs.times
	if !c.SameTiming {
		fromTimes = nil
		for _, r := range from.Runs {
			if r.Status == results.StatusDone {
				fromTimes = append(fromTimes, TimeIn(r, ts.Timing))
			}
		}
	}
	fromTime, _ := meanStd(fromTimes)
	c.DeltaTime = ts.Time - fromTime
	c.DeltaTimePct = 100 * c.DeltaTime / fromTime
	c.Acc, _ = MannWhitney(fs.accs, ts.accs)
	c.Time, _ = MannWhitney(fromTimes, ts.times)
	c.Verdict = verdict(c)
	if c.Acc.TooFew || c.Time.TooFew {
		c.NeedRuns = minUTestSize(c.Acc.Alpha)
	}
	return c
}

// verdict says what the tests show, e.g. "faster (-12.3 s, -8%,
// p=0.008), accuracy unchanged (p=0.41), n=10 vs 10".
func verdict(c Comparison) string {
	n := fmt.Sprintf("n=%d vs %d", c.Acc.N1, c.Acc.N2)
	if c.Time.N1 != c.Acc.N1 || c.Time.N2 != c.Acc.N2 {
		n += fmt.Sprintf(" (time: %d vs %d)", c.Time.N1, c.Time.N2)
	}
	if min(c.Acc.N1, c.Acc.N2) == 0 && min(c.Time.N1, c.Time.N2) == 0 {
		return "cannot compare: a variant has no finished runs (" + n + ")"
	}
	if c.Acc.TooFew && c.Time.TooFew {
		return fmt.Sprintf("too few runs to tell (%s)", n)
	}
	var parts []string
	switch {
	case c.Time.TooFew || math.IsNaN(c.Time.P):
		parts = append(parts, "time: too few runs to tell")
	case c.Time.Significant() && c.DeltaTime < 0:
		parts = append(parts, fmt.Sprintf("faster (%+.3g s, %+.3g%%, p=%s)", c.DeltaTime, c.DeltaTimePct, fmtP(c.Time.P)))
	case c.Time.Significant():
		parts = append(parts, fmt.Sprintf("slower (%+.3g s, %+.3g%%, p=%s)", c.DeltaTime, c.DeltaTimePct, fmtP(c.Time.P)))
	default:
		parts = append(parts, fmt.Sprintf("time unchanged (p=%s)", fmtP(c.Time.P)))
	}
	switch {
	case c.Acc.TooFew || math.IsNaN(c.Acc.P):
		parts = append(parts, "accuracy: too few runs to tell")
	case c.Acc.Significant() && c.DeltaAcc > 0:
		parts = append(parts, fmt.Sprintf("more accurate (%+.2f points, p=%s)", 100*c.DeltaAcc, fmtP(c.Acc.P)))
	case c.Acc.Significant():
		parts = append(parts, fmt.Sprintf("less accurate (%+.2f points, p=%s)", 100*c.DeltaAcc, fmtP(c.Acc.P)))
	default:
		parts = append(parts, fmt.Sprintf("accuracy unchanged (p=%s)", fmtP(c.Acc.P)))
	}
	s := strings.Join(parts, ", ") + ", " + n
	if !c.SameTiming {
		s += fmt.Sprintf("; the variants use different timing conventions, both timed here as %q", c.Timing)
	}
	return s
}

func fmtP(p float64) string {
	if p < 0.001 {
		return fmt.Sprintf("%.1g", p)
	}
	return fmt.Sprintf("%.3g", p)
}
