package runner

import (
	"bytes"
	"log/slog"
	"math"
	"strings"
	"testing"

	"speedrun/backend"
)

func TestRunProgress(t *testing.T) {
	for _, tc := range []struct {
		name string
		tty  bool
		want []string // substrings of the output
		not  []string
	}{
		{name: "log lines", tty: false, want: []string{"msg=epoch", "epoch=2/4", "train_loss=1.5", "test_acc=0.6", "eta=2s"}, not: []string{"loss 1.5"}},
		{name: "bar", tty: true, want: []string{"stage 4 x loss 1.500", "/8)"}, not: []string{"msg=epoch"}},
	} {
		var logBuf, barBuf bytes.Buffer
		p := newRunProgress(slog.New(slog.NewTextHandler(&logBuf, nil)), &barBuf, tc.tty, "stage 4 x", 4)
		p.step(3, 8, 1.5)
		p.epoch(backend.Epoch{Epoch: 1, TrainLoss: 2, TestAcc: math.NaN()})
		p.epoch(backend.Epoch{Epoch: 2, TrainLoss: 1.5, TestAcc: 0.6, Elapsed: 2})
		out := logBuf.String() + barBuf.String()
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("%s: output has %q:\n%s", tc.name, w, out)
			}
		}
		p.done()
	}
}
