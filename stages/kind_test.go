package stages

import "testing"

// TestKindProbes: exactly post 7's measurements at given weights probe
// (the forward-only ones and E7.5-E7.10's), and exactly E7.6-E7.10 read
// the models E7.5 keeps.
func TestKindProbes(t *testing.T) {
	probes := map[Kind]bool{KindBNHistograms: true, KindConvHistograms: true, KindDeepFC: true,
		KindPartialTrain: true, KindLogitGrads: true, KindHessian: true, KindEigenPerturb: true, KindOverlap: true}
	reads := map[Kind]bool{KindLogitGrads: true, KindHessian: true, KindEigenPerturb: true, KindOverlap: true}
	for _, k := range Kinds() {
		if k.Probes() != probes[k] {
			t.Errorf("%s.Probes() = %v, want %v", k, k.Probes(), probes[k])
		}
		if k.ReadsModels() != reads[k] {
			t.Errorf("%s.ReadsModels() = %v, want %v", k, k.ReadsModels(), reads[k])
		}
	}
	if len(Kinds()) != 17 {
		t.Errorf("%d kinds, want 17", len(Kinds()))
	}
}
