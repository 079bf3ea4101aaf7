package plots

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Change is one difference between two resolved configs, at a dotted key
// path such as "train.lr" or "net.bn", with both values as JSON text
// ("" when absent on one side).
type Change struct {
	Path     string
	From, To string
}

// identityKeys name a variant rather than describe it.
var identityKeys = map[string]bool{"variant": true, "title": true}

// RelTol is the relative tolerance at which ConfigDiff takes two numbers
// for the same: a profile's scaling leaves float noise such as 1.6 and
// 1.5999999999999999, which is no change.
const RelTol = 1e-9

// ConfigDiff compares two resolved configs given as JSON (a run's
// config_json) and returns their differences sorted by path. Arrays are
// compared whole (an LR schedule's knots are one value), numbers at the
// relative tolerance RelTol.
func ConfigDiff(from, to string) ([]Change, error) {
	var a, b map[string]any
	if err := decodeJSON(from, &a); err != nil {
		return nil, fmt.Errorf("config diff: first config: %w", err)
	}
	if err := decodeJSON(to, &b); err != nil {
		return nil, fmt.Errorf("config diff: second config: %w", err)
	}
	fa, fb := map[string]any{}, map[string]any{}
	flatten("", a, fa)
	flatten("", b, fb)
	var out []Change
	for k, va := range fa {
		if identityKeys[k] {
			continue
		}
		vb, ok := fb[k]
		switch {
		case !ok:
			out = append(out, Change{Path: k, From: jsonText(va)})
		case !sameValue(va, vb):
			from, to := jsonText(va), jsonText(vb)
			if from == to { // the reader's form hides the difference
				from, to = rawJSON(va), rawJSON(vb)
			}
			out = append(out, Change{Path: k, From: from, To: to})
		}
	}
	for k, vb := range fb {
		if _, ok := fa[k]; !ok && !identityKeys[k] {
			out = append(out, Change{Path: k, To: jsonText(vb)})
		}
	}
	slices.SortFunc(out, func(x, y Change) int { return strings.Compare(x.Path, y.Path) })
	return out, nil
}

func decodeJSON(s string, v any) error {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	return nil
}

// flatten maps every leaf key path of a decoded JSON object to its value;
// arrays are leaves.
func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x, out)
		}
		return
	}
	out[prefix] = v
}

// sameValue compares decoded JSON values, numbers at RelTol.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, errx := x.Float64()
		fy, erry := y.Float64()
		return errx == nil && erry == nil && nearRel(fx, fy)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

// nearRel reports whether x and y agree to RelTol of the larger.
func nearRel(x, y float64) bool {
	return math.Abs(x-y) <= RelTol*math.Max(math.Abs(x), math.Abs(y))
}

// jsonText writes a decoded JSON value for a reader, as experiments.toml
// would: numbers to 12 significant digits (1.5999999999999999 is 1.6;
// the tolerance already called such noise no change), an LR knot as its
// [epoch, lr] pair, strings quoted, null as null.
func jsonText(v any) string {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return strconv.FormatFloat(f, 'g', 12, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = jsonText(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		if e, ok := x["epoch"]; ok && len(x) == 2 {
			if lr, ok := x["lr"]; ok {
				return "[" + jsonText(e) + ", " + jsonText(lr) + "]"
			}
		}
		keys := slices.Sorted(maps.Keys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " = " + jsonText(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case nil:
		return "null"
	}
	return rawJSON(v)
}

// rawJSON writes a decoded JSON value back as compact JSON.
func rawJSON(v any) string {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(buf.String())
}
