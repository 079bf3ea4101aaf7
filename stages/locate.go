package stages

import (
	"strings"
)

// The TOML decoder reports keys but not where they are, so errors about a
// key find its position by scanning the source: first the region of the
// table it belongs to (a [[stage]], the j-th [[stage.variant]] within it,
// [defaults], [profile.NAME]), then the key as a bare word inside it.

// header is one [table] or [[array]] header line.
type header struct {
	line  int // 0-based
	name  string
	array bool
}

// sourceMap indexes a registry source for error positions.
type sourceMap struct {
	file    string
	lines   []string
	headers []header
	stages  []stageRegion
}

// stageRegion is where the i-th [[stage]] table lies: its own keys in
// [start, firstVariant), each [[stage.variant]] (with its subtables) in
// variants[j] = [start, end).
type stageRegion struct {
	start, firstVariant, end int
	variants                 [][2]int
}

func newSourceMap(file string, src []byte) *sourceMap {
	sm := &sourceMap{file: file, lines: strings.Split(string(src), "\n")}
	for i, l := range sm.lines {
		t := strings.TrimSpace(stripComment(l))
		if !strings.HasPrefix(t, "[") {
			continue
		}
		h := header{line: i}
		if strings.HasPrefix(t, "[[") {
			h.array = true
			t = strings.TrimPrefix(t, "[[")
			t, _, _ = strings.Cut(t, "]]")
		} else {
			t = strings.TrimPrefix(t, "[")
			t, _, _ = strings.Cut(t, "]")
		}
		h.name = strings.NewReplacer(" ", "", "\t", "", `"`, "").Replace(t)
		sm.headers = append(sm.headers, h)
	}
	sm.indexStages()
	return sm
}

// indexStages finds every stage and variant region in one pass, so that
// placing an error costs no more than scanning its region.
func (sm *sourceMap) indexStages() {
	inStage, inVariant := false, false
	closeVariant := func(line int) {
		if inVariant {
			st := &sm.stages[len(sm.stages)-1]
			st.variants[len(st.variants)-1][1] = line
			inVariant = false
		}
	}
	closeStage := func(line int) {
		closeVariant(line)
		if inStage {
			st := &sm.stages[len(sm.stages)-1]
			st.end = line
			if len(st.variants) == 0 {
				st.firstVariant = line
			}
			inStage = false
		}
	}
	for _, h := range sm.headers {
		switch {
		case h.array && h.name == "stage":
			closeStage(h.line)
			sm.stages = append(sm.stages, stageRegion{start: h.line})
			inStage = true
		case inStage && h.array && h.name == "stage.variant":
			closeVariant(h.line)
			st := &sm.stages[len(sm.stages)-1]
			if len(st.variants) == 0 {
				st.firstVariant = h.line
			}
			st.variants = append(st.variants, [2]int{h.line, 0})
			inVariant = true
		case inVariant && !h.array && strings.HasPrefix(h.name, "stage.variant."):
			// A subtable of the current variant.
		case inStage && strings.HasPrefix(h.name, "stage."):
			closeVariant(h.line)
		default:
			closeStage(h.line)
		}
	}
	closeStage(len(sm.lines))
}

// scope names a table of the registry.
type scope struct {
	kind    string // "top", "defaults", "profile", "stage", "variant"
	profile string
	stage   int // index among [[stage]] tables
	variant int // index among the stage's [[stage.variant]] tables
}

// region returns the line range [start, end) of a scope, or ok false.
func (sm *sourceMap) region(sc scope) (start, end int, ok bool) {
	n := len(sm.lines)
	// after returns the index of the first header at or after line l that
	// is not inside the table named prefix.
	after := func(from int, inside func(h header) bool) int {
		for _, h := range sm.headers {
			if h.line > from && !inside(h) {
				return h.line
			}
		}
		return n
	}
	switch sc.kind {
	case "top":
		if len(sm.headers) > 0 {
			return 0, sm.headers[0].line, true
		}
		return 0, n, true
	case "defaults":
		for _, h := range sm.headers {
			if h.name == "defaults" {
				return h.line, after(h.line, func(h header) bool { return strings.HasPrefix(h.name, "defaults.") }), true
			}
		}
	case "profile":
		for _, name := range []string{"profile." + sc.profile, "profile"} {
			for _, h := range sm.headers {
				if h.name == name {
					return h.line, after(h.line, func(h header) bool { return strings.HasPrefix(h.name, name+".") }), true
				}
			}
		}
	case "stage":
		if sc.stage >= 0 && sc.stage < len(sm.stages) {
			st := sm.stages[sc.stage]
			return st.start, st.firstVariant, true
		}
	case "variant":
		if sc.stage >= 0 && sc.stage < len(sm.stages) {
			vs := sm.stages[sc.stage].variants
			if sc.variant >= 0 && sc.variant < len(vs) {
				return vs[sc.variant][0], vs[sc.variant][1], true
			}
		}
	}
	return 0, 0, false
}

// pos returns the 1-based line and column of the key path inside the
// scope: the last key of path as a bare word, else its parents, else the
// scope's first line. A scope written in a form the scan does not see
// (inline tables, say) is searched for in the whole file.
func (sm *sourceMap) pos(sc scope, path []string) (line, col int) {
	start, end, ok := sm.region(sc)
	if !ok {
		start, end = 0, len(sm.lines)
	}
	keys := make([]string, 0, len(path))
	for _, k := range path {
		if !strings.HasPrefix(k, "[") {
			keys = append(keys, k)
		}
	}
	for i := len(keys) - 1; i >= 0; i-- {
		for l := start; l < end; l++ {
			if c := findKey(stripComment(sm.lines[l]), keys[i]); c >= 0 {
				return l + 1, c + 1
			}
		}
	}
	return start + 1, 1
}

// findKey returns the byte offset of key used as a bare key in line (before
// "=", "." or "]"), or -1.
func findKey(line, key string) int {
	if key == "" {
		return -1
	}
	for from := 0; ; {
		i := strings.Index(line[from:], key)
		if i < 0 {
			return -1
		}
		i += from
		from = i + 1
		if i > 0 && !strings.ContainsRune(" \t{,.[", rune(line[i-1])) {
			continue
		}
		rest := strings.TrimLeft(line[i+len(key):], " \t")
		if rest != "" && strings.ContainsRune("=.]", rune(rest[0])) {
			return i
		}
	}
}

// stripComment cuts a "#" comment that is not inside a string.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return line[:i]
		}
	}
	return line
}
