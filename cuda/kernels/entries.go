package kernels

import (
	"bytes"
	"fmt"
	"strings"
)

// Entry is one kernel as a PTX module declares it.
type Entry struct {
	Name  string
	Types []string // PTX parameter types in order, e.g. ".u64", ".f32"
	Line  int      // 1-based line of the .entry directive
}

// ParseEntries reads the .entry directives of a PTX module and their
// parameter lists, as clang's NVPTX back end writes them:
//
//	.visible .entry name(
//		.param .u64 name_param_0,
//		.param .f32 name_param_1
//	)
func ParseEntries(ptx []byte) ([]Entry, error) {
	lines := bytes.Split(ptx, []byte("\n"))
	var out []Entry
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(string(lines[i]))
		at := strings.Index(l, ".entry ")
		if at < 0 || strings.HasPrefix(l, "//") {
			continue
		}
		rest := strings.TrimSpace(l[at+len(".entry "):])
		open := strings.IndexByte(rest, '(')
		if open <= 0 {
			return nil, fmt.Errorf("ptx line %d: .entry without '(' after its name: %q", i+1, l)
		}
		e := Entry{Name: strings.TrimSpace(rest[:open]), Line: i + 1}
		// Parameters follow on their own lines until ')'; "()" on the
		// entry line means none.
		tail := strings.TrimSpace(rest[open+1:])
		closed := strings.HasPrefix(tail, ")")
		for !closed {
			i++
			if i >= len(lines) {
				return nil, fmt.Errorf("ptx line %d: parameter list of %s not closed", e.Line, e.Name)
			}
			p := strings.TrimSpace(string(lines[i]))
			if p == ")" || strings.HasPrefix(p, ")") {
				break
			}
			f := strings.Fields(strings.TrimSuffix(p, ","))
			if len(f) < 3 || f[0] != ".param" {
				return nil, fmt.Errorf("ptx line %d: in %s: want \".param .TYPE NAME\", got %q", i+1, e.Name, p)
			}
			// Skip state spaces and alignment: ".param .align 8 .b8 x[16]".
			typ := f[1]
			if typ == ".align" && len(f) >= 5 {
				typ = f[3]
			}
			e.Types = append(e.Types, typ)
		}
		out = append(out, e)
	}
	return out, nil
}

// Check compares s with a PTX entry's parameter types.
func (s Signature) Check(e Entry) error {
	if len(s.Params) != len(e.Types) {
		return fmt.Errorf("kernel %s: Go table has %d params, PTX (line %d) has %d", s.Name, len(s.Params), e.Line, len(e.Types))
	}
	for i, p := range s.Params {
		if !p.Kind.matches(e.Types[i]) {
			return fmt.Errorf("kernel %s param %d (%s): Go table says %s, PTX (line %d) says %s", s.Name, i, p.Name, p.Kind, e.Line, e.Types[i])
		}
	}
	return nil
}

func (k Kind) matches(ptxType string) bool {
	switch k {
	case Ptr:
		return ptxType == ".u64" || ptxType == ".b64"
	case I32:
		return ptxType == ".u32" || ptxType == ".s32" || ptxType == ".b32"
	case F32:
		return ptxType == ".f32"
	}
	return false
}
