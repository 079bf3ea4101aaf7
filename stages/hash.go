package stages

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Hash is the hex SHA-256 of the config's canonical JSON (struct field
// order, Go's shortest float formatting). Published, Dataset and Title are
// not part of it: they describe a run rather than change it, so rewording a
// title must not turn finished cells into new ones.
func (c Config) Hash() string {
	c.Title = ""
	b, err := json.Marshal(c)
	if err != nil {
		// Config holds only strings, numbers, bools and slices of them,
		// and the registry rejects non-finite floats.
		return "unhashable:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Change is one difference between two configs.
type Change struct {
	Path     string // key path, e.g. "train.lr" or "net.name"
	Old, New string // the values as written in experiments.toml; "" when absent
}

func (ch Change) String() string {
	show := func(s string) string {
		if s == "" {
			return "(unset)"
		}
		return s
	}
	return fmt.Sprintf("%s: %s -> %s", ch.Path, show(ch.Old), show(ch.New))
}

// identity keys name a config rather than describe it; Diff leaves them out.
var identityKeys = []string{"stage", "variant", "profile", "title"}

// Diff lists the key paths whose values differ from c to other, in key
// order. Lists (LR knots, grids) compare whole; the identity keys (stage,
// variant, profile, title) are left out.
func (c Config) Diff(other Config) []Change {
	a, b := flatten(c), flatten(other)
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []Change
	for _, k := range keys {
		if a[k] != b[k] {
			out = append(out, Change{Path: k, Old: a[k], New: b[k]})
		}
	}
	return out
}

// flatten maps every leaf key path of c's JSON form to its value written in
// TOML syntax.
func flatten(c Config) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x)
			}
			return
		}
		out[prefix] = tomlValue(v)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return out
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return out
	}
	for _, k := range identityKeys {
		delete(m, k)
	}
	walk("", m)
	return out
}

// tomlValue writes a decoded JSON value in TOML syntax; knots (objects
// with epoch and lr) become [epoch, lr] pairs.
func tomlValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return tomlArray(len(x), func(i int) string { return tomlValue(x[i]) })
	case map[string]any:
		if e, ok := x["epoch"]; ok && len(x) == 2 {
			return "[" + tomlValue(e) + ", " + tomlValue(x["lr"]) + "]"
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " = " + tomlValue(x[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return fmt.Sprint(reflect.ValueOf(v))
}
