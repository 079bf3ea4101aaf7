// Package cpu is the CPU training engine. It compiles a model.Spec into a
// gorgonia ExprGraph, with gorgonia's symbolic Grad for the backward graph,
// run in gorgonia's order by our own allocation-free tape (plan.go), and
// adds our optimizer, LR schedule, EMA and TTA.
//
// Every layer is one of our own gorgonia Ops over package kernels (oneDNN
// and OpenBLAS): conv (conv_op.go), BN or ghost BN fused with the
// activation that follows it (bnact_op.go), pools (pool_op.go), a
// standalone activation (act_op.go), add, scale, concat, flatten, linear
// and the summed, label-smoothed softmax cross-entropy (loss_op.go). Each
// backward pass is its own Op, applied in SymDiff, and only for inputs
// that need it: the image, frozen whitening filters and frozen BN scales
// cost no gradient work.
//
// What the ops do about gorgonia's traps (shared/reference/gorgonia-notes.md):
//   - Each op hashes as its kind plus an id unique within the compiled
//     model, so hash-consing never merges two stateful ops.
//   - Each op returns the same op-owned tensor every step and never an
//     input, so the steady state allocates no tensors; backward ops take
//     what they need (x for dW, x for BN's xhat) as graph inputs, so
//     liveness keeps those values intact.
//   - The activation-sized outputs live in one arena per Trainer, placed by
//     liveness over the tape (plan.go): outputs whose lifetimes do not
//     overlap share memory, largest first, and all graphs of a Trainer
//     share the arena. An op's scratch gets a place for its own step only,
//     and an output or scratch the kernel lets alias a dying input (BN's
//     backward over its dy) takes that input's place.
//   - Beside bf16 convolutions, the convs' operands are bf16 tensors
//     (uint16 storage, which gorgonia carries without reading it): each
//     conv's input is converted by its own conv.in_bf16 op, and the conv
//     and its weight gradient read that copy, so the float32 input dies
//     with the conversion instead of living until the backward; and a BN's
//     input gradient bound for the conv before it is written in bf16
//     (graph.go's gradBF16). The roundings are the ones the convs would
//     make themselves, so training takes the same bits as with float32
//     operands (TestBF16Operands).
//   - The BN running stats live in state shared by all graphs of a model
//     and are switched by our own train/eval graphs, not by TrainModeOp:
//     compiling a graph never resets them, and there is no eval backward.
//   - Gradients are read from the gradient nodes' values in the tape after
//     each run; no dual values are bound, so nothing accumulates across
//     steps.
//
// The Trainer holds one model: Params, Grads and BNStats alias its live
// state for the PyTorch cross-check, Step takes one optimizer step, and
// Eval runs the eval graph. Backend.Train drives a Trainer over a
// data.Loader and reports through a backend.Observer.
package cpu
