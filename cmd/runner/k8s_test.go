package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// emitK8s runs `runner sweep ... --emit k8s` with extra flags and returns
// the manifests.
func emitK8s(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{"sweep", "--config", "../../experiments.toml", "--stage", "8", "--profile", "smoke", "--repeats", "2", "--emit", "k8s"}, extra...)
	return runnerOK(t, args...)
}

// TestK8sManifests checks what --emit k8s writes: a ReadWriteMany claim,
// the Indexed Job with resource requests, a GPU limit under --backend
// cuda only, the parallelism cap, and the merge Job; a fresh name each
// time unless --k8s-name gives one. Where PyYAML is installed the three
// documents are parsed and checked field by field; where kubectl and a
// cluster are at hand, kubectl apply --dry-run=client validates them.
func TestK8sManifests(t *testing.T) {
	gpu := emitK8s(t, "--backend", "cuda", "--k8s-name", "sr-gpu", "--k8s-parallelism", "3", "--k8s-image", "registry.example/speedrun:v1")
	cpu := emitK8s(t, "--backend", "cpu", "--k8s-name", "sr-cpu", "--k8s-cpu", "500m", "--k8s-mem", "2Gi", "--k8s-storage-class", "nfs")
	for _, w := range []string{"kind: PersistentVolumeClaim", "accessModes: [ReadWriteMany]", "name: sr-gpu\n", "completions: 26", "parallelism: 3",
		"nvidia.com/gpu: 1", "image: registry.example/speedrun:v1", "name: sr-gpu-merge", "speedrun/step: merge", "runner merge --db /local/speedrun.sqlite",
		"--config /speedrun/experiments.toml", `cpu: "8"`, "memory: 16Gi"} {
		if !strings.Contains(gpu, w) {
			t.Errorf("--backend cuda manifests lack %q", w)
		}
	}
	for _, w := range []string{`cpu: "500m"`, "memory: 2Gi", "storageClassName: nfs", "parallelism: 8", `value: "1"`} {
		if !strings.Contains(cpu, w) {
			t.Errorf("--backend cpu manifests lack %q", w)
		}
	}
	if strings.Contains(cpu, "nvidia.com/gpu") {
		t.Error("--backend cpu asks for a GPU")
	}
	a, b := emitK8s(t), emitK8s(t)
	name := regexp.MustCompile(`(?m)^  name: (speedrun-smoke-stage8-[0-9a-f]{6})$`)
	ma, mb := name.FindStringSubmatch(a), name.FindStringSubmatch(b)
	if ma == nil || mb == nil || ma[1] == mb[1] {
		t.Errorf("default Job names %v and %v: want speedrun-smoke-stage8-XXXXXX, a fresh one each time", ma, mb)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "sweep.yaml")
	if err := os.WriteFile(path, []byte(gpu), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("yaml", func(t *testing.T) {
		if err := exec.Command("python3", "-c", "import yaml").Run(); err != nil {
			t.Skip("python3 with PyYAML not found: skipping the structural check of the manifests")
		}
		out, err := exec.Command("python3", "-c", `
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Job", "Job"], [d["kind"] for d in docs]
pvc, job, merge = docs
assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
spec = job["spec"]
assert spec["completionMode"] == "Indexed" and spec["completions"] == 26 and spec["parallelism"] == 3
c = spec["template"]["spec"]["containers"][0]
assert c["resources"]["requests"]["cpu"] == "8" and c["resources"]["limits"]["nvidia.com/gpu"] == 1
assert "--cell-index" in c["args"][0]
claims = [v["persistentVolumeClaim"]["claimName"] for d in (job, merge) for v in d["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v]
assert claims == [pvc["metadata"]["name"]] * 2, claims
assert merge["metadata"]["labels"]["speedrun/step"] == "merge"
print("ok")
`, path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("the manifests do not parse as expected: %v\n%s", err, out)
		}
	})
	t.Run("kubectl", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Skip("kubectl not found: skipping kubectl apply --dry-run=client")
		}
		out, err := exec.Command(kubectl, "apply", "--dry-run=client", "-f", path).CombinedOutput()
		if err != nil && regexp.MustCompile(`connection refused|unable to recognize|couldn't get current server|no configuration has been provided|dial tcp`).Match(out) {
			t.Skipf("kubectl found, but no cluster to check against (client-side dry runs still need its API discovery): %s", firstLine(out))
		}
		if err != nil {
			t.Fatalf("kubectl apply --dry-run=client: %v\n%s", err, out)
		}
		for _, w := range []string{"persistentvolumeclaim/speedrun-shards", "job.batch/sr-gpu ", "job.batch/sr-gpu-merge"} {
			if !strings.Contains(string(out), w) {
				t.Errorf("kubectl: %q lacks %q", out, w)
			}
		}
	})
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndex(s, "\n")+1:]
}

func TestK8sFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--k8s-name", "Bad_Name"}, "want lower-case letters"},
		{[]string{"--k8s-parallelism", "0"}, "want at least 1"},
		{[]string{"--k8s-mem", "16 GB"}, "want a Kubernetes quantity"},
		{[]string{"--k8s-image", "a b"}, "not an image reference"},
	} {
		args := append([]string{"sweep", "--config", "../../experiments.toml", "--stage", "8", "--profile", "smoke", "--emit", "k8s"}, tt.args...)
		var stdout, stderr bytes.Buffer
		if code := mainCode(context.Background(), args, &stdout, &stderr, nil); code != exitUsage || !strings.Contains(stderr.String(), tt.want) || stdout.Len() > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q and no manifest", tt.args, code, stderr.String(), tt.want)
		}
	}
}

// TestDockerfile checks the Dockerfile the manifests' image comes from:
// Debian images, the libraries the binary links, every file it copies
// present in the repository. Where a Docker daemon answers, it builds it
// (without CIFAR-10).
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, from := range regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1) {
		if !strings.Contains(from[1], "bookworm") {
			t.Errorf("FROM %s: want a Debian 12 (bookworm) image", from[1])
		}
	}
	for _, pkg := range []string{"libopenblas0-pthread", "libdnnl2", "libopenblas-dev", "libdnnl-dev", "ca-certificates"} {
		if !strings.Contains(df, pkg) {
			t.Errorf("the Dockerfile does not install %s", pkg)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY (?:--from=\S+ )?(\S+)`).FindAllStringSubmatch(df, -1) {
		if strings.HasPrefix(m[0], "COPY --from") || m[1] == "." {
			continue
		}
		if _, err := os.Stat(filepath.Join("../..", m[1])); err != nil {
			t.Errorf("COPY %s: %v", m[1], err)
		}
	}
	if !strings.Contains(df, "/speedrun/experiments.toml") {
		t.Error("the image lacks the registry where --k8s-config looks for it")
	}
	if testing.Short() {
		t.Skip("-short: not building the image")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker not found: skipping docker build")
	}
	if out, err := exec.Command(docker, "info").CombinedOutput(); err != nil {
		t.Skipf("docker found, but no daemon answers: skipping docker build: %s", lastLine(out))
	}
	cmd := exec.Command(docker, "build", "--build-arg", "FETCH_CIFAR=0", "-t", "speedrun:test", "../..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
}
