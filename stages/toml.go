package stages

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// TOML writes the config as experiments.toml writes a variant's settings:
// kind, then the [net], [train], [data] and (for an analysis) [analysis]
// tables in field order, LR knots as [epoch, lr] pairs, headed by comments
// naming the stage, variant, profile, title, overrides and hash. Fields
// the JSON form leaves out when zero are left out here too. The result
// parses back (toml.Decode, then the registry's strict decoding) into the
// same settings.
func (c Config) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# stage %d, variant %s, profile %s\n", c.Stage, c.Variant, c.Profile)
	if c.Title != "" {
		fmt.Fprintf(&b, "# %s\n", oneLine(c.Title))
	}
	if len(c.Overrides) > 0 {
		fmt.Fprintf(&b, "# overrides: %s\n", oneLine(strings.Join(c.Overrides, " ")))
	}
	fmt.Fprintf(&b, "# config hash %s\n", c.Hash())
	fmt.Fprintf(&b, "kind = %s\n", tomlString(string(c.Kind)))
	tables := []struct {
		name string
		v    any
	}{{"net", c.Net}, {"train", c.Train}, {"data", c.Data}}
	if c.Analysis != nil {
		tables = append(tables, struct {
			name string
			v    any
		}{"analysis", *c.Analysis})
	}
	for _, t := range tables {
		fmt.Fprintf(&b, "\n[%s]\n", t.name)
		for _, kv := range tomlFieldsOf(reflect.ValueOf(t.v)) {
			fmt.Fprintf(&b, "%s\n", kv)
		}
	}
	return b.String()
}

// tomlFieldsOf writes a config struct's fields as "key = value" in field
// order, leaving out the fields the JSON form leaves out when zero.
func tomlFieldsOf(v reflect.Value) []string {
	var kvs []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			continue
		}
		_, jopts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if strings.Contains(jopts, "omitempty") && v.Field(i).IsZero() {
			continue
		}
		kvs = append(kvs, tomlKey(key)+" = "+tomlGo(v.Field(i)))
	}
	return kvs
}

// oneLine keeps user text in a comment on one line.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

// tomlGo writes a config field's value in TOML.
func tomlGo(v reflect.Value) string {
	if v.Type() == reflect.TypeOf(Knot{}) {
		k := v.Interface().(Knot)
		return "[" + tomlFloat(k.Epoch) + ", " + tomlFloat(k.LR) + "]"
	}
	switch v.Kind() {
	case reflect.String:
		return tomlString(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return tomlFloat(v.Float())
	case reflect.Slice:
		return tomlArray(v.Len(), func(i int) string { return tomlGo(v.Index(i)) })
	case reflect.Pointer:
		if v.IsNil() {
			return "{}"
		}
		return tomlGo(v.Elem())
	case reflect.Struct:
		// An inline table (train.groups, train.lookahead).
		return "{" + strings.Join(tomlFieldsOf(v), ", ") + "}"
	}
	return tomlString(fmt.Sprint(v.Interface()))
}

// tomlRaw writes a value decoded by toml.Decode back in TOML, canonically:
// an override's value as the config records it. A string that is a bare
// word and no other TOML value stays bare (net.act=celu).
func tomlRaw(v any) string {
	switch x := v.(type) {
	case string:
		if bareWord(x) {
			var doc map[string]any
			if _, err := toml.Decode("v = "+x, &doc); err != nil {
				return x
			}
		}
		return tomlString(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return tomlFloat(x)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		return tomlArray(len(x), func(i int) string { return tomlRaw(x[i]) })
	case []map[string]any:
		return tomlArray(len(x), func(i int) string { return tomlRaw(x[i]) })
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = tomlKey(k) + " = " + tomlRaw(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return tomlString(fmt.Sprint(v))
}

// tomlFloat writes a float so that TOML reads it back as the same float:
// the shortest round-trip form, with ".0" on whole numbers.
func tomlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlKey writes a key bare when TOML allows it, else quoted.
func tomlKey(k string) string {
	if k != "" && strings.Trim(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == "" {
		return k
	}
	return tomlString(k)
}

// tomlArray writes n elements, element i as elem(i), as a TOML array.
func tomlArray(n int, elem func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = elem(i)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
