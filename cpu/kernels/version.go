package kernels

// #include <oneapi/dnnl/dnnl.h>
// #include <cblas.h>
import "C"

import (
	"fmt"
	"strings"
)

// Versions names the kernel libraries as loaded at run time (not as built
// against), e.g. "oneDNN 2.6.3; OpenBLAS 0.3.21 DYNAMIC_ARCH ... Cooperlake",
// so that every run's provenance says which kernels produced it.
func Versions() string {
	v := C.dnnl_version()
	blas := strings.TrimSpace(C.GoString(C.openblas_get_config()))
	return fmt.Sprintf("oneDNN %d.%d.%d; %s", int(v.major), int(v.minor), int(v.patch), blas)
}
