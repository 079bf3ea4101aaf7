package plots

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
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

// ConfigDiff compares two resolved configs given as JSON (a run's
// config_json) and returns their differences sorted by path. Arrays are
// compared whole (an LR schedule's knots are one value).
func ConfigDiff(from, to string) ([]Change, error) {
	var a, b map[string]any
	if err := decodeJSON(from, &a); err != nil {
		return nil, fmt.Errorf("config diff: first config: %w", err)
	}
	if err := decodeJSON(to, &b); err != nil {
		return nil, fmt.Errorf("config diff: second config: %w", err)
	}
	fa, fb := map[string]string{}, map[string]string{}
	flatten("", a, fa)
	flatten("", b, fb)
	var out []Change
	for k, va := range fa {
		if identityKeys[k] {
			continue
		}
		if vb := fb[k]; vb != va {
			out = append(out, Change{Path: k, From: va, To: vb})
		}
	}
	for k, vb := range fb {
		if _, ok := fa[k]; !ok && !identityKeys[k] {
			out = append(out, Change{Path: k, To: vb})
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

func flatten(prefix string, v any, out map[string]string) {
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
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		out[prefix] = fmt.Sprint(v)
		return
	}
	out[prefix] = strings.TrimSpace(buf.String())
}
