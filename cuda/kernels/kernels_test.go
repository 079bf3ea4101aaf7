package kernels

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestPTXUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the check of the committed PTX (clang-16)")
	}
	if _, err := exec.LookPath("clang-16"); err != nil {
		t.Skip("clang-16 not found (apt-get install clang-16): cannot check the committed PTX")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "run", "./internal/ptxgen", "-src", ".", "-out", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ptxgen: %v\n%s", err, out)
	}
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.ptx"))
	mods, err := Modules()
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != len(mods) {
		t.Errorf("clang made %d PTX files, %d are embedded: run go generate ./cuda/kernels", len(fresh), len(mods))
	}
	for _, m := range mods {
		b, err := os.ReadFile(filepath.Join(dir, m.Name+".ptx"))
		if err != nil {
			t.Errorf("%s.ptx is embedded but has no %s.cu: %v", m.Name, m.Name, err)
			continue
		}
		if !bytes.Equal(b, m.PTX) {
			t.Errorf("%s.ptx differs from a fresh clang-16 build of %s.cu: run go generate ./cuda/kernels", m.Name, m.Name)
		}
	}
}

func TestSignatures(t *testing.T) {
	mods, err := Modules()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range mods {
		entries, err := ParseEntries(m.PTX)
		if err != nil {
			t.Fatalf("%s.ptx: %v", m.Name, err)
		}
		for _, e := range entries {
			s, ok := Lookup(e.Name)
			if !ok {
				t.Errorf("%s.ptx line %d: kernel %s has no Go signature", m.Name, e.Line, e.Name)
				continue
			}
			if s.Module != m.Name {
				t.Errorf("kernel %s: Go table says module %s, found in %s.ptx", e.Name, s.Module, m.Name)
			}
			if err := s.Check(e); err != nil {
				t.Error(err)
			}
			seen[e.Name] = true
		}
	}
	for _, s := range Signatures {
		if !seen[s.Name] {
			t.Errorf("Go signature %s has no kernel in the PTX", s.Name)
		}
	}
}

func TestParseEntries(t *testing.T) {
	tests := []struct {
		name, ptx string
		want      []Entry
		wantErr   bool
	}{
		{"two", ".visible .entry a(\n\t.param .u64 a_param_0,\n\t.param .f32 a_param_1\n)\n{\n}\n.visible .entry b()\n{}\n",
			[]Entry{{Name: "a", Types: []string{".u64", ".f32"}, Line: 1}, {Name: "b", Line: 7}}, false},
		{"align", ".entry k(\n.param .align 8 .b8 k_param_0[16]\n)\n", []Entry{{Name: "k", Types: []string{".b8"}, Line: 1}}, false},
		{"comment", "// .entry fake(\n", nil, false},
		{"unclosed", ".entry k(\n.param .u32 p\n", nil, true},
		{"noparen", ".entry k\n", nil, true},
		{"junk", ".entry k(\nfoo\n)\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEntries([]byte(tt.ptx))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Name != w.Name || g.Line != w.Line || len(g.Types) != len(w.Types) {
					t.Fatalf("entry %d: got %+v, want %+v", i, g, w)
				}
				for j := range g.Types {
					if g.Types[j] != w.Types[j] {
						t.Errorf("entry %d type %d: got %s, want %s", i, j, g.Types[j], w.Types[j])
					}
				}
			}
		})
	}
}

func FuzzParseEntries(f *testing.F) {
	mods, _ := Modules()
	for _, m := range mods {
		f.Add(m.PTX)
	}
	f.Add([]byte(".entry k(\n"))
	f.Add([]byte(".entry ("))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := ParseEntries(b)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Name == "" || e.Line < 1 {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
