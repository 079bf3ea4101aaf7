package stages

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"speedrun/internal/suggest"
)

// keyError is one problem with a key found while decoding a raw TOML table
// into a typed struct. Path is relative to the decoded table.
type keyError struct {
	path    []string
	unknown bool   // the last element of path is not a known key
	suggest string // for unknown keys: the closest known key, or ""
	msg     string
}

// decodeTable decodes the raw table m (as produced by toml.Decode into a
// map) into the struct dst points to, strictly: every key must match a
// toml tag exactly (case included) and every value must have the field's
// type. It never panics on any input and returns every problem it finds,
// in key order.
func decodeTable(dst any, m map[string]any) []keyError {
	var errs []keyError
	decodeStruct(reflect.ValueOf(dst).Elem(), m, nil, &errs)
	return errs
}

func decodeValue(v reflect.Value, raw any, path []string, errs *[]keyError) {
	fail := func(want string) {
		*errs = append(*errs, keyError{path: clonePath(path), msg: fmt.Sprintf("want %s, got %s", want, describe(raw))})
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		decodeValue(v.Elem(), raw, path, errs)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(Knot{}) {
			decodeKnot(v, raw, path, errs)
			return
		}
		m, ok := raw.(map[string]any)
		if !ok {
			fail("a table")
			return
		}
		decodeStruct(v, m, path, errs)
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			fail("a string")
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			fail("a boolean")
			return
		}
		v.SetBool(b)
	case reflect.Int:
		i, ok := raw.(int64)
		if !ok {
			fail("an integer")
			return
		}
		if i < math.MinInt32 || i > math.MaxInt32 {
			*errs = append(*errs, keyError{path: clonePath(path), msg: fmt.Sprintf("integer %d is out of range", i)})
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, ok := number(raw)
		if !ok {
			fail("a number")
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			*errs = append(*errs, keyError{path: clonePath(path), msg: fmt.Sprintf("want a finite number, got %v", f)})
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		list, ok := raw.([]any)
		if !ok {
			if maps, isMaps := raw.([]map[string]any); isMaps {
				list = make([]any, len(maps))
				for i, m := range maps {
					list[i] = m
				}
			} else {
				fail("an array")
				return
			}
		}
		s := reflect.MakeSlice(v.Type(), len(list), len(list))
		for i, el := range list {
			decodeValue(s.Index(i), el, append(clonePath(path), "["+strconv.Itoa(i)+"]"), errs)
		}
		v.Set(s)
	default:
		// Only the kinds above occur in the registry's types.
		*errs = append(*errs, keyError{path: clonePath(path), msg: fmt.Sprintf("unsupported field kind %s", v.Kind())})
	}
}

// decodeKnot decodes an [epoch, lr] pair.
func decodeKnot(v reflect.Value, raw any, path []string, errs *[]keyError) {
	list, ok := raw.([]any)
	if !ok || len(list) != 2 {
		*errs = append(*errs, keyError{path: clonePath(path), msg: fmt.Sprintf("want an [epoch, lr] pair, got %s", describe(raw))})
		return
	}
	var xs [2]float64
	for i, el := range list {
		f, ok := number(el)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			*errs = append(*errs, keyError{path: clonePath(path), msg: fmt.Sprintf("want an [epoch, lr] pair of finite numbers, got %s", describe(el))})
			return
		}
		xs[i] = f
	}
	v.Set(reflect.ValueOf(Knot{Epoch: xs[0], LR: xs[1]}))
}

func decodeStruct(v reflect.Value, m map[string]any, path []string, errs *[]keyError) {
	fields := tomlFields(v.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := append(clonePath(path), k)
		idx, ok := fields[k]
		if !ok {
			names := make([]string, 0, len(fields))
			for n := range fields {
				names = append(names, n)
			}
			*errs = append(*errs, keyError{path: p, unknown: true, suggest: closest(k, names)})
			continue
		}
		decodeValue(v.Field(idx), m[k], p, errs)
	}
}

// tomlFields maps toml tag names to field indexes.
func tomlFields(t reflect.Type) map[string]int {
	out := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

func number(raw any) (float64, bool) {
	switch x := raw.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// describe names a raw TOML value's type (and the value, when short) for
// error messages.
func describe(raw any) string {
	switch x := raw.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("a %T", raw)
}

func clonePath(p []string) []string { return append([]string(nil), p...) }

// joinPath writes a key path as "train.lr[2]".
func joinPath(p []string) string {
	var b strings.Builder
	for i, k := range p {
		if i > 0 && !strings.HasPrefix(k, "[") {
			b.WriteByte('.')
		}
		b.WriteString(k)
	}
	return b.String()
}

// closest returns the candidate nearest to key, or "" when none is close
// (suggest.Closest).
func closest(key string, candidates []string) string { return suggest.Closest(key, candidates) }
