package stages

import "testing"

// TestKindProbes: exactly post 7's forward-only measurements probe.
func TestKindProbes(t *testing.T) {
	probes := map[Kind]bool{KindBNHistograms: true, KindConvHistograms: true, KindDeepFC: true}
	for _, k := range Kinds() {
		if k.Probes() != probes[k] {
			t.Errorf("%s.Probes() = %v, want %v", k, k.Probes(), probes[k])
		}
	}
	if len(Kinds()) != 12 {
		t.Errorf("%d kinds, want 12", len(Kinds()))
	}
}
