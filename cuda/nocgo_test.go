package cuda

import (
	"os"
	"os/exec"
	"testing"
)

// The binary is built with CGO_ENABLED=0 for the GPU machine, which has no
// Go; purego's fakecgo must keep that build working.
func TestBuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the CGO_ENABLED=0 vet")
	}
	cmd := exec.Command("go", "vet", ".", "./driver", "./cublas", "./cudnn", "./launch", "./cmd/gpucheck", "./internal/chunk")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go vet: %v\n%s", err, out)
	}
}
