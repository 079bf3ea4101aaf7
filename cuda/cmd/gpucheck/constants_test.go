package main

import (
	"os"
	"regexp"
	"testing"
)

// The header probe that gpu-check.sh compiles on the GPU machine must
// print exactly the names that gpucheck constants prints, in order, or
// its diff means nothing.
func TestProbeMatchesConstants(t *testing.T) {
	src, err := os.ReadFile("../../../scripts/gpu-probe.c")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`P\(([A-Za-z0-9_]+)\)|printf\("([^ "]+) %zu`)
	var names []string
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		if m[1] != "" && m[1] != "name" {
			names = append(names, m[1])
		} else if m[2] != "" {
			names = append(names, m[2])
		}
	}
	cs := constants()
	if len(names) != len(cs) {
		t.Fatalf("probe prints %d names, gpucheck %d", len(names), len(cs))
	}
	for i, c := range cs {
		if names[i] != c.Name {
			t.Errorf("entry %d: probe prints %s, gpucheck %s", i, names[i], c.Name)
		}
	}
}
