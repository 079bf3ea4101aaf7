package kernels

import "strings"

// Kind is a kernel parameter's type as the launch helpers pass it.
type Kind string

// Parameter kinds and the PTX types they must appear as.
const (
	Ptr Kind = "ptr" // device pointer: .u64
	I32 Kind = "i32" // int: .u32 or .s32
	F32 Kind = "f32" // float: .f32
)

// Signature is one kernel's parameter list, in order.
type Signature struct {
	Module string // source base name, e.g. "bn"
	Name   string // the extern "C" name
	Params []Param
}

// Param is one parameter.
type Param struct {
	Name string
	Kind Kind
}

// sig builds a Signature from "name:kind" pairs.
func sig(module, name string, params ...string) Signature {
	s := Signature{Module: module, Name: name}
	for _, p := range params {
		n, k, _ := strings.Cut(p, ":")
		s.Params = append(s.Params, Param{Name: n, Kind: Kind(k)})
	}
	return s
}

// Both precisions of a kernel taking activations.
func both(module, name string, params ...string) []Signature {
	return []Signature{sig(module, name+"_f32", params...), sig(module, name+"_bf16", params...)}
}

// Signatures lists every kernel. The Go launch helpers (package launch) check
// each launch against it, and TestSignatures checks it against the PTX.
var Signatures = func() []Signature {
	bnStats := []string{"x:ptr", "pm:ptr", "pm2:ptr", "R:i32", "C:i32", "chunk:i32"}
	bnFwd := []string{"x:ptr", "y:ptr", "mean:ptr", "var:ptr", "gamma:ptr", "beta:ptr", "R:i32", "C:i32", "n:i32", "eps:f32", "act:i32", "alpha:f32"}
	bnRed := []string{"x:ptr", "dy:ptr", "mean:ptr", "var:ptr", "gamma:ptr", "beta:ptr", "pa:ptr", "pb:ptr", "R:i32", "C:i32", "chunk:i32", "eps:f32", "act:i32", "alpha:f32"}
	bnDx := []string{"x:ptr", "dy:ptr", "dx:ptr", "mean:ptr", "var:ptr", "gamma:ptr", "beta:ptr", "sdz:ptr", "sdzx:ptr", "R:i32", "C:i32", "n:i32", "eps:f32", "act:i32", "alpha:f32"}
	nhwc := []string{"N:i32", "H:i32", "W:i32", "C:i32"}
	aug := []string{"src:ptr", "idx:ptr", "par:ptr", "y:ptr", "N:i32", "PH:i32", "PW:i32", "H:i32", "W:i32", "C:i32"}
	var s []Signature
	s = append(s,
		sig("elementwise", "fill_f32", "y:ptr", "v:f32", "n:i32"),
		sig("elementwise", "add_f32", "y:ptr", "a:ptr", "b:ptr", "n:i32"),
		sig("elementwise", "add_bf16", "y:ptr", "a:ptr", "b:ptr", "n:i32"),
		sig("elementwise", "cast_f32_bf16", "y:ptr", "x:ptr", "n:i32"),
		sig("elementwise", "cast_bf16_f32", "y:ptr", "x:ptr", "n:i32"),
		sig("elementwise", "sum_f32", "out:ptr", "x:ptr", "n:i32"),
		sig("elementwise", "scale_f32_f32", "y:ptr", "x:ptr", "a:f32", "n:i32"),
		sig("elementwise", "scale_bf16_bf16", "y:ptr", "x:ptr", "a:f32", "n:i32"),
		sig("elementwise", "scale_bf16_f32", "y:ptr", "x:ptr", "a:f32", "n:i32"),
		sig("elementwise", "scale_f32_bf16", "y:ptr", "x:ptr", "a:f32", "n:i32"),
		sig("elementwise", "bias_rows_f32", "y:ptr", "b:ptr", "rows:i32", "C:i32"),
		sig("elementwise", "bias_rows_bf16", "y:ptr", "b:ptr", "rows:i32", "C:i32"),
		sig("elementwise", "col_sum_f32", "out:ptr", "x:ptr", "rows:i32", "C:i32"),
	)
	s = append(s, both("elementwise", "act_fwd", "x:ptr", "y:ptr", "n:i32", "act:i32", "alpha:f32")...)
	s = append(s, both("elementwise", "act_bwd", "x:ptr", "dy:ptr", "dx:ptr", "n:i32", "act:i32", "alpha:f32")...)
	s = append(s, both("elementwise", "cols_copy", "dst:ptr", "src:ptr", "rows:i32", "dC:i32", "dc0:i32", "sC:i32", "sc0:i32", "width:i32")...)
	s = append(s, both("bn", "bn_stats_part", bnStats...)...)
	s = append(s, both("bn", "bn_act_fwd", bnFwd...)...)
	s = append(s, both("bn", "bn_act_bwd_part", bnRed...)...)
	s = append(s, both("bn", "bn_act_bwd_dx", bnDx...)...)
	s = append(s,
		sig("bn", "bn_stats_combine", "mean:ptr", "var:ptr", "pm:ptr", "pm2:ptr", "G:i32", "S:i32", "R:i32", "C:i32", "chunk:i32"),
		sig("bn", "bn_act_bwd_combine", "sdz:ptr", "sdzx:ptr", "pa:ptr", "pb:ptr", "G:i32", "S:i32", "C:i32"),
		sig("bn", "bn_param_grad", "dgamma:ptr", "dbeta:ptr", "sdz:ptr", "sdzx:ptr", "G:i32", "C:i32"),
		sig("bn", "bn_running_update", "run_mean:ptr", "run_var:ptr", "mean:ptr", "var:ptr", "n:i32", "momentum:f32", "unbias:f32"),
		sig("bn", "bn_split_average", "mean:ptr", "var:ptr", "run_mean:ptr", "run_var:ptr", "G:i32", "C:i32"),
	)
	s = append(s, both("pool", "maxpool_fwd", append(append([]string{"x:ptr", "y:ptr"}, nhwc...), "K:i32")...)...)
	s = append(s, both("pool", "maxpool_bwd", append(append([]string{"x:ptr", "dy:ptr", "dx:ptr"}, nhwc...), "K:i32")...)...)
	s = append(s, both("pool", "gmaxpool_fwd", "x:ptr", "y:ptr", "N:i32", "HW:i32", "C:i32")...)
	s = append(s, both("pool", "gmaxpool_bwd", "x:ptr", "dy:ptr", "dx:ptr", "N:i32", "HW:i32", "C:i32")...)
	s = append(s, both("pool", "gavgpool_fwd", "x:ptr", "y:ptr", "N:i32", "HW:i32", "C:i32")...)
	s = append(s, both("pool", "gavgpool_bwd", "dy:ptr", "dx:ptr", "N:i32", "HW:i32", "C:i32")...)
	s = append(s,
		sig("loss", "xent_ls_f32", "logits:ptr", "labels:ptr", "dlogits:ptr", "loss:ptr", "correct:ptr", "N:i32", "K:i32", "eps:f32", "scale:f32"),
		sig("optim", "sgd_f32", "w:ptr", "g:ptr", "v:ptr", "n:i32", "lr:f32", "wd:f32", "mom:f32", "nesterov:i32"),
		sig("optim", "ema_f32", "ema:ptr", "w:ptr", "n:i32", "rho:f32"),
		sig("optim", "row_norms_f32", "out:ptr", "x:ptr", "y:ptr", "rows:i32", "n:i32"),
		sig("optim", "sgd_lars_f32", "w:ptr", "g:ptr", "v:ptr", "wn:ptr", "gn:ptr", "n:i32", "rowLen:i32", "lr:f32", "wd:f32", "mom:f32", "nesterov:i32"),
		sig("optim", "muon_momentum_f32", "g:ptr", "v:ptr", "u:ptr", "n:i32", "mom:f32", "nesterov:i32"),
		sig("optim", "muon_norms", "s:ptr", "wn:ptr", "un:ptr", "rows:i32", "eps:f32"),
	)
	s = append(s, both("optim", "muon_scale", "w:ptr", "u:ptr", "X:ptr", "s:ptr", "n:i32")...)
	s = append(s, both("optim", "muon_update", "w:ptr", "X:ptr", "n:i32", "lr:f32")...)
	s = append(s, both("augment", "augment", aug...)...)
	s = append(s, sig("augment", "prep_nhwc", "src:ptr", "lut:ptr", "dst:ptr", "N:i32", "pad:i32"))
	s = append(s, sig("augment", "whiten_patches_f64", "imgs:ptr", "X:ptr", "N:i32", "side:i32", "pad:i32", "K:i32"))
	return s
}()

// Lookup finds a kernel's signature by name.
func Lookup(name string) (Signature, bool) {
	for _, s := range Signatures {
		if s.Name == name {
			return s, true
		}
	}
	return Signature{}, false
}

// Activation codes (prelude.h's ACT_*).
const (
	ActIdentity = 0
	ActReLU     = 1
	ActCELU     = 2
	// ActShiftScaleReLU is (relu(z) - sqrt(1/pi)) / sqrt(1 - 1/pi).
	ActShiftScaleReLU = 3
	// ActGELU is z Phi(z), the exact GELU (Phi to 1.5e-7).
	ActGELU = 4
)

// AugParams is the number of int32 parameters per sample of augment_*:
// oy, ox, flip, cy, cx, ch, cw.
const AugParams = 7
