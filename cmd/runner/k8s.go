package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"text/template"
)

// k8sOptions are the flags of `runner sweep --emit k8s`: the Job's name,
// image, resources and how many pods run at once, and the volume the
// shards go to.
type k8sOptions struct {
	name        string
	image       string
	parallelism int
	cpu, mem    string
	gpus        int // -1: one with --backend cuda, none otherwise
	pvc         string
	storage     string
	class       string
	config      string
}

func (k *k8sOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&k.name, "k8s-name", "", "--emit k8s: the Job's `NAME` (default speedrun-PROFILE-stageN-XXXXXX, a fresh random suffix each time, so that two sweeps never clash)")
	fs.StringVar(&k.image, "k8s-image", "speedrun:latest", "--emit k8s: the container `IMAGE`, built from the repository's Dockerfile")
	fs.IntVar(&k.parallelism, "k8s-parallelism", 8, "--emit k8s: at most `N` pods at once")
	fs.StringVar(&k.cpu, "k8s-cpu", "8", "--emit k8s: CPUs each pod requests (`QUANTITY`; the runner's BLAS and OpenMP threads follow it)")
	fs.StringVar(&k.mem, "k8s-mem", "16Gi", "--emit k8s: memory each pod requests and is limited to (`QUANTITY`)")
	fs.IntVar(&k.gpus, "k8s-gpus", -1, "--emit k8s: nvidia.com/gpu per pod (`N`; default 1 with --backend cuda, else 0)")
	fs.StringVar(&k.pvc, "k8s-pvc", "speedrun-shards", "--emit k8s: the ReadWriteMany PersistentVolumeClaim (`NAME`) the shards, the merged database and the report go to, under a folder per Job")
	fs.StringVar(&k.storage, "k8s-storage", "10Gi", "--emit k8s: the claim's size (`QUANTITY`)")
	fs.StringVar(&k.class, "k8s-storage-class", "", "--emit k8s: the claim's storage `CLASS` (default: the cluster's default class)")
	fs.StringVar(&k.config, "k8s-config", "/speedrun/experiments.toml", "--emit k8s: the registry the pods read, a `PATH` in the image (the Dockerfile copies the repository's there; --config is this machine's)")
}

// k8sQuantity is a Kubernetes resource quantity: 8, 500m, 16Gi, 1.5G.
var k8sQuantity = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`)

// k8sName is a DNS-1123 label, what a Job's name must be to name its pods.
var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// check validates the flags and fills the defaults that depend on the
// backend; base is the name a Job gets without --k8s-name, before its
// random suffix.
func (k *k8sOptions) check(backend, base string) error {
	if k.gpus < 0 {
		k.gpus = 0
		if backend == "cuda" {
			k.gpus = 1
		}
	}
	if k.parallelism < 1 {
		return fmt.Errorf("--k8s-parallelism %d: want at least 1", k.parallelism)
	}
	for name, v := range map[string]string{"--k8s-cpu": k.cpu, "--k8s-mem": k.mem, "--k8s-storage": k.storage} {
		if !k8sQuantity.MatchString(v) {
			return fmt.Errorf("%s %q: want a Kubernetes quantity such as 8, 500m or 16Gi", name, v)
		}
	}
	if k.name == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("--k8s-name: a random suffix: %w", err)
		}
		// 63 characters at most, and the merge Job adds "-merge".
		k.name = truncateName(base, 63-len("-merge")-7) + "-" + hex.EncodeToString(b[:])
	}
	// The pods of an Indexed Job are named NAME-INDEX-xxxxx, their
	// hostnames NAME-INDEX: both must stay DNS labels.
	if !k8sName.MatchString(k.name) || len(k.name) > 63-len("-merge") {
		return fmt.Errorf("--k8s-name %q: want lower-case letters, digits and '-', starting and ending with a letter or digit, at most %d characters", k.name, 63-len("-merge"))
	}
	if !k8sName.MatchString(k.pvc) {
		return fmt.Errorf("--k8s-pvc %q: want lower-case letters, digits and '-'", k.pvc)
	}
	if k.class != "" && !regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`).MatchString(k.class) {
		return fmt.Errorf("--k8s-storage-class %q: not a storage class name", k.class)
	}
	if k.image == "" || !regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@-]*$`).MatchString(k.image) {
		return fmt.Errorf("--k8s-image %q: not an image reference", k.image)
	}
	return nil
}

// truncateName cuts a name to n characters without a trailing '-'.
func truncateName(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	for len(s) > 0 && s[len(s)-1] == '-' {
		s = s[:len(s)-1]
	}
	return s
}

// k8sData is what the manifests are written from.
type k8sData struct {
	emitData
	Image               string
	Parallelism         int
	CPU, Mem            string
	Threads             string // OMP_NUM_THREADS: the CPUs, rounded down, at least 1
	GPUs                int
	PVC, Storage, Class string
	ConfigQ             string
	MergeCPU, MergeMem  string
}

func newK8sData(d emitData, k k8sOptions, config string) k8sData {
	threads := "1"
	if f, err := strconv.ParseFloat(k.cpu, 64); err == nil && f >= 1 {
		threads = strconv.Itoa(int(f))
	}
	return k8sData{emitData: d, Image: k.image, Parallelism: min(k.parallelism, d.Cells), CPU: k.cpu, Mem: k.mem,
		Threads: threads, GPUs: k.gpus, PVC: k.pvc, Storage: k.storage, Class: k.class,
		ConfigQ: shellJoin([]string{config}), MergeCPU: "1", MergeMem: "4Gi"}
}

// k8sTemplate writes three objects: the claim for the shards, the
// Indexed Job with one index per cell, and the merge Job, which its
// labels let a user apply once the sweep has ended.
var k8sTemplate = template.Must(template.Must(template.New("volumes").Parse(`          volumeMounts:
            - name: local
              mountPath: /local
            - name: shards
              mountPath: /shards
      volumes:
        - name: local
          emptyDir: {}
        - name: shards
          persistentVolumeClaim:
            claimName: {{.PVC}}`)).New("k8s").Parse(`# Generated by 'runner sweep --emit k8s'. The Indexed Job
#   {{.Name}}
# runs {{.Cells}} cells of the plan's {{.Planned}}, one index per cell, at most {{.Parallelism}} pods
# at once; the claim {{.PVC}} (ReadWriteMany) holds their shards, and
# the Job {{.Name}}-merge merges them. Build and push the image from
# the repository's Dockerfile first:
#   docker build -t {{.Image}} --build-arg GIT_REV=$(git rev-parse HEAD) .
#   docker push {{.Image}}
# then run the sweep, wait for it to end, and merge:
#   kubectl apply -f sweep.yaml -l speedrun/step=sweep
#   kubectl wait --for=condition=complete --timeout=24h job/{{.Name}}
#   kubectl apply -f sweep.yaml -l speedrun/step=merge
#   kubectl logs -f job/{{.Name}}-merge
# Apply the merge Job also when the sweep failed: it merges what there is
# and lists the cells left unfinished. Each pod writes its SQLite shard on
# an emptyDir (SQLite must not be shared over network storage) and copies
# it into the claim, folder {{.Name}}/, when it ends; the merge Job
# folds the shards into {{.Name}}/speedrun.sqlite and writes the
# report into {{.Name}}/report/ there.
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{.PVC}}
  labels:
    app.kubernetes.io/part-of: speedrun
    speedrun/step: sweep
spec:
  accessModes: [ReadWriteMany]
{{- if .Class}}
  storageClassName: {{.Class}}
{{- end}}
  resources:
    requests:
      storage: {{.Storage}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{.Name}}
  labels:
    app.kubernetes.io/part-of: speedrun
    speedrun/step: sweep
spec:
  completionMode: Indexed
  completions: {{.Cells}}
  parallelism: {{.Parallelism}}
  backoffLimitPerIndex: 1
  maxFailedIndexes: {{.Cells}}
  template:
    metadata:
      labels:
        app.kubernetes.io/part-of: speedrun
        speedrun/job: {{.Name}}
    spec:
      restartPolicy: Never
      containers:
        - name: runner
          image: {{.Image}}
          command: ["/bin/sh", "-c"]
          args:
            - |
              rc=0
              mkdir -p /shards/{{.Name}}
              runner {{.Args}} \
                --cell-index "$JOB_COMPLETION_INDEX" --db /local/shard.sqlite || rc=$?
              for f in /local/shard.sqlite /local/shard.sqlite-wal; do
                if [ -e "$f" ]; then
                  dst=/shards/{{.Name}}/shard-$JOB_COMPLETION_INDEX${f#/local/shard}
                  cp "$f" "$dst.part" && mv "$dst.part" "$dst"
                fi
              done
              exit $rc
          env:
            - name: OMP_NUM_THREADS
              value: "{{.Threads}}"
            - name: OPENBLAS_NUM_THREADS
              value: "{{.Threads}}"
          resources:
            requests:
              cpu: "{{.CPU}}"
              memory: {{.Mem}}
            limits:
              memory: {{.Mem}}
{{- if gt .GPUs 0}}
              nvidia.com/gpu: {{.GPUs}}
{{- end}}
{{template "volumes" .}}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{.Name}}-merge
  labels:
    app.kubernetes.io/part-of: speedrun
    speedrun/step: merge
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/part-of: speedrun
        speedrun/job: {{.Name}}-merge
    spec:
      restartPolicy: Never
      containers:
        - name: merge
          image: {{.Image}}
          command: ["/bin/sh", "-c"]
          args:
            - |
              rc=0
              dir=/shards/{{.Name}}
              mkdir -p /local/shards
              for f in "$dir"/shard-*.sqlite "$dir"/shard-*.sqlite-wal; do
                if [ -e "$f" ]; then cp "$f" /local/shards/; fi
              done
              set -- /local/shards/shard-*.sqlite
              if [ ! -e "$1" ]; then echo "speedrun: no shards in $dir" >&2; exit 1; fi
              runner merge --db /local/speedrun.sqlite "$@" || rc=$?
              runner report --config {{.ConfigQ}} --db /local/speedrun.sqlite --reports /local/report || rc=$?
              cp /local/speedrun.sqlite "$dir/speedrun.sqlite.part" && mv "$dir/speedrun.sqlite.part" "$dir/speedrun.sqlite"
              rm -rf "$dir/report" && cp -r /local/report "$dir/report"
              echo "speedrun: the database is $dir/speedrun.sqlite, the report $dir/report/index.html, on volume {{.PVC}}" >&2
              exit $rc
          resources:
            requests:
              cpu: "{{.MergeCPU}}"
              memory: {{.MergeMem}}
            limits:
              memory: {{.MergeMem}}
{{template "volumes" .}}
`))
