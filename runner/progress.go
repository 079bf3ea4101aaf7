package runner

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"speedrun/backend"
)

// isTerminal reports whether w is a character device (a terminal), where a
// live progress bar makes sense; elsewhere progress is plain log lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runProgress shows one run: a bar over its steps on a terminal, one log
// line per epoch otherwise.
type runProgress struct {
	log    *slog.Logger
	w      io.Writer
	tty    bool
	label  string
	epochs int
	bar    *progressbar.ProgressBar
}

func newRunProgress(log *slog.Logger, w io.Writer, tty bool, label string, epochs int) *runProgress {
	return &runProgress{log: log, w: w, tty: tty, label: label, epochs: epochs}
}

func (p *runProgress) step(k, total int, loss float64) {
	if !p.tty || total <= 0 {
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.label),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	p.bar.Describe(fmt.Sprintf("%s loss %.3f", p.label, loss))
	p.bar.Set(k)
}

func (p *runProgress) epoch(e backend.Epoch) {
	if p.tty {
		return
	}
	eta := time.Duration(0)
	if e.Epoch > 0 && p.epochs > e.Epoch {
		eta = time.Duration(e.Elapsed / float64(e.Epoch) * float64(p.epochs-e.Epoch) * float64(time.Second))
	}
	attrs := []any{"run", p.label, "epoch", fmt.Sprintf("%d/%d", e.Epoch, p.epochs), "lr", round(e.LR),
		"train_loss", round(e.TrainLoss), "train_acc", round(e.TrainAcc)}
	if !math.IsNaN(e.TestAcc) {
		attrs = append(attrs, "test_loss", round(e.TestLoss), "test_acc", round(e.TestAcc))
	}
	attrs = append(attrs, "elapsed", time.Duration(e.Elapsed*float64(time.Second)).Round(time.Millisecond), "eta", eta.Round(time.Second))
	p.log.Info("epoch", attrs...)
}

func (p *runProgress) done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

func round(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	return math.Round(f*1e4) / 1e4
}
