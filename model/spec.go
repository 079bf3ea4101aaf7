package model

// Op is the kind of a layer in a Spec.
type Op string

// The layer kinds. Every backend implements all of them; a Spec uses only
// these, so a new network needs no backend change unless it needs a new Op.
const (
	OpInput         Op = "input"         // the (normalised) image batch, N x C x H x W
	OpConv          Op = "conv"          // Conv: 2-D convolution, optional bias
	OpBN            Op = "bn"            // BN: batch norm (plain or ghost), affine
	OpAct           Op = "act"           // Act: ReLU or CELU (or identity)
	OpMaxPool       Op = "maxpool"       // Pool: K x K max pool with stride K
	OpAvgPool       Op = "avgpool"       // Pool: K x K average pool with stride K
	OpGlobalMaxPool Op = "globalmaxpool" // max over H, W -> N x C
	OpGlobalAvgPool Op = "globalavgpool" // mean over H, W -> N x C
	OpConcat        Op = "concat"        // concat inputs along channels (N x C tensors)
	OpAdd           Op = "add"           // elementwise sum of two inputs
	OpLinear        Op = "linear"        // Linear: N x In -> N x Out
	OpScale         Op = "scale"         // multiply by the constant Scale
	OpFlatten       Op = "flatten"       // N x C x 1 x 1 -> N x C
)

// ParamRole groups parameters for the optimizer: BN biases get their own LR
// and weight-decay multipliers from p8.s6 on; frozen params are not updated.
type ParamRole string

const (
	RoleWeight  ParamRole = "weight"   // conv / linear weights
	RoleBias    ParamRole = "bias"     // conv / linear biases
	RoleBNScale ParamRole = "bn_scale" // BN gamma
	RoleBNBias  ParamRole = "bn_bias"  // BN beta
	RoleWhiten  ParamRole = "whiten"   // frozen whitening filters, set from data
	// RoleWhitenBias is the whitening conv's learnable bias (airbench94).
	RoleWhitenBias ParamRole = "whiten_bias"
)

// Init says how a parameter is initialised from the run's seeded RNG.
type Init string

const (
	InitUniformFanIn Init = "uniform_fan_in" // PyTorch default: U(±1/sqrt(fan_in)), fan_in = in*k*k
	InitUniform01    Init = "uniform01"      // U[0,1] (PyTorch 0.4 BN scale)
	InitOnes         Init = "ones"
	InitZeros        Init = "zeros"
	InitWhiten       Init = "whiten"     // computed from training data by the backend (data.Whitening)
	InitHeUniform    Init = "he_uniform" // U(±sqrt(6/fan_in)): post-7 nets (PyTorch default x sqrt(6))
	// InitDirac is InitUniformFanIn, then the first In filters of the conv
	// set to the identity (torch.nn.init.dirac_ on w[:In], airbench).
	InitDirac Init = "dirac"
	// InitUnitStd is InitUniformFanIn rescaled to unit standard deviation
	// (airbench94_muon's head).
	InitUnitStd Init = "unit_std"
)

// Param is one learnable (or frozen) tensor.
type Param struct {
	Name   string // unique, e.g. "layer1.conv.weight"
	Shape  []int  // conv: Out, In, K, K; linear: Out, In; BN: C
	Role   ParamRole
	Init   Init
	FanIn  int  // for fan-in inits
	Frozen bool // never updated by the optimizer (EMA still copies it)
}

// Layer is one node of the network graph. Inputs index earlier layers of
// the same Spec (topological order); the OpInput layer has none.
type Layer struct {
	Name   string
	Op     Op
	Inputs []int
	// Shape of this layer's output for one example: C, H, W (or C for 2-D).
	Out []int

	Conv   *Conv
	BN     *BN
	Act    *Act
	Pool   *Pool
	Linear *Linear
	Scale  float64

	// Params index Spec.Params: conv/linear: weight[, bias]; BN: scale, bias.
	Params []int
}

// Conv parameters. Weight layout is Out x In x K x K (PyTorch's).
type Conv struct {
	In, Out, K, Stride, Pad int
	Bias                    bool
}

// BN parameters, PyTorch conventions: Momentum is the weight of the new
// batch in the running stats, running var uses the unbiased batch var.
type BN struct {
	C        int
	Eps      float64
	Momentum float64
	// Ghost > 0 splits the batch into groups of Ghost samples, each with its
	// own statistics; running stats are kept per split and averaged at eval.
	Ghost       int
	FreezeScale bool
	// Identity makes the layer a no-op (post-7 "no BN" nets keep the layer
	// so that both variants have the same Spec shape).
	Identity bool
}

// ActKind names an activation.
type ActKind string

const (
	ActReLU           ActKind = "relu"
	ActCELU           ActKind = "celu"
	ActShiftScaleReLU ActKind = "shiftscale_relu" // (relu(x) - sqrt(1/pi)) / sqrt(1 - 1/pi), post 7
	ActGELU           ActKind = "gelu"            // x * Phi(x), the exact (erf) GELU, airbench
	// ActSoftplus is log(1 + exp(Beta x)) / Beta, and x where Beta x >
	// Threshold (PyTorch's Softplus): post 7's partly trained models
	// (E7.5) use it for a Hessian that is smooth everywhere.
	ActSoftplus ActKind = "softplus"
	ActIdentity ActKind = "identity"
)

// Act parameters.
type Act struct {
	Kind  ActKind
	Alpha float64 // CELU alpha
	// Beta and Threshold parameterise ActSoftplus.
	Beta, Threshold float64
}

// Pool parameters: a K x K window with stride K (no padding).
type Pool struct{ K int }

// Linear parameters. Weight layout is Out x In.
type Linear struct {
	In, Out int
	Bias    bool
}

// Spec is a whole network: Layers[0] is the input, the last layer gives the
// logits (N x Classes).
type Spec struct {
	Name    string
	Input   []int // C, H, W
	Classes int
	Layers  []Layer
	Params  []Param
}
