package stages

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// Override is one command-line change to a resolved config, Hydra style:
// "train.epochs=12", "data.cutout=0", "net.act=celu",
// "train.lr=[[0, 0], [5, 0.4], [10, 0]]". The value is TOML; a bare word
// that is not TOML (celu, bf16) is taken as a string.
type Override struct {
	Key   string // dotted key path, e.g. "train.epochs"
	Value string // the value in canonical TOML ("12", "\"celu\"")
	raw   any    // the decoded value, as toml.Decode gives it
}

// String is the override as WithOverrides records it: "train.epochs=12".
func (o Override) String() string { return o.Key + "=" + o.Value }

// ParseOverride parses one KEY=VALUE argument. It checks the syntax only:
// whether the key exists and the value fits is WithOverrides' business,
// which knows the config.
func ParseOverride(arg string) (Override, error) {
	key, val, ok := strings.Cut(arg, "=")
	if !ok {
		return Override{}, fmt.Errorf("override %q: want KEY=VALUE, such as train.epochs=12", arg)
	}
	key = strings.TrimSpace(key)
	if !validKeyPath(key) {
		return Override{}, fmt.Errorf("override %q: key %q: want a dotted path of lower-case TOML keys, such as train.epochs", arg, key)
	}
	val = strings.TrimSpace(val)
	if val == "" {
		return Override{}, fmt.Errorf("override %q: empty value (write a string as key=\"\")", arg)
	}
	// One TOML line holds one value: a newline would smuggle in other keys.
	if strings.ContainsAny(val, "\n\r") {
		return Override{}, fmt.Errorf("override %q: the value must be on one line", arg)
	}
	var doc map[string]any
	if _, err := toml.Decode("v = "+val, &doc); err != nil {
		if !bareWord(val) {
			return Override{}, fmt.Errorf("override %q: value %s is not TOML (a number, true or false, a \"string\", an [array] or a {table}): %v",
				arg, val, strings.ReplaceAll(err.Error(), "\n", " "))
		}
		doc = map[string]any{"v": val}
	}
	raw, ok := doc["v"]
	if !ok || len(doc) != 1 {
		return Override{}, fmt.Errorf("override %q: want one value after =", arg)
	}
	return Override{Key: key, Value: tomlRaw(raw), raw: raw}, nil
}

// ParseOverrides parses KEY=VALUE arguments; a key given twice, or a key
// given with one of its parents (train=... and train.epochs=...), is an
// error.
func ParseOverrides(args []string) ([]Override, error) {
	var out []Override
	for _, a := range args {
		o, err := ParseOverride(a)
		if err != nil {
			return nil, err
		}
		for _, p := range out {
			if p.Key == o.Key || strings.HasPrefix(o.Key, p.Key+".") || strings.HasPrefix(p.Key, o.Key+".") {
				return nil, fmt.Errorf("override %q: %s is already set by %q", a, p.Key, p.String())
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// validKeyPath reports whether key is a dotted path of bare TOML keys
// made of lower-case letters, digits and underscores.
func validKeyPath(key string) bool {
	if key == "" {
		return false
	}
	for _, part := range strings.Split(key, ".") {
		if part == "" || strings.Trim(part, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return false
		}
	}
	return true
}

// bareWord is a value taken as a string although it is not TOML: a word
// of letters, digits and -_.+ that starts with a letter (celu, bf16,
// conv-bn-act-pool, extra:L1+L2 is not one: quote it).
func bareWord(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+") == ""
}

// overridable are the top-level keys an override may set: a variant's
// settings, as experiments.toml writes them.
var overridable = settingKeys

// WithOverrides returns c with the overrides applied to its final values
// (after the profile's scaling: train.epochs=12 trains 12 epochs under
// every profile), checked by the registry's own rules: every key must be
// a key of experiments.toml's variant tables (with a did-you-mean for a
// misspelled one), every value of its type, and the result must pass the
// registry's validation. The overrides are recorded in c.Overrides, sorted
// by key, and so are part of its hash. c is not modified.
func (c Config) WithOverrides(os []Override) (Config, error) {
	if len(os) == 0 {
		return c, nil
	}
	c = c.clone()
	table := map[string]any{}
	for _, o := range os {
		parts := strings.Split(o.Key, ".")
		if !slices.Contains(overridable, parts[0]) {
			msg := fmt.Sprintf("override %s: unknown key %q (want a key under %s)", o, o.Key, strings.Join(overridable, ", "))
			if s := closest(parts[0], slices.Clone(overridable)); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", strings.Join(append([]string{s}, parts[1:]...), "."))
			}
			return Config{}, errors.New(msg)
		}
		m := table
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = o.raw
	}
	s := settings{Kind: c.Kind, Net: c.Net, Train: c.Train, Data: c.Data, Analysis: c.Analysis}
	if errs := decodeTable(&s, table); len(errs) > 0 {
		var msgs []error
		for _, e := range errs {
			key := joinPath(e.path)
			o := overrideFor(os, key)
			switch {
			case e.unknown && e.suggest != "":
				sug := clonePath(e.path)
				sug[len(sug)-1] = e.suggest
				msgs = append(msgs, fmt.Errorf("override %s: unknown key %q; did you mean %q?", o, key, joinPath(sug)))
			case e.unknown:
				msgs = append(msgs, fmt.Errorf("override %s: unknown key %q", o, key))
			default:
				msgs = append(msgs, fmt.Errorf("override %s: key %s: %s", o, key, e.msg))
			}
		}
		return Config{}, errors.Join(msgs...)
	}
	c.Kind, c.Net, c.Train, c.Data, c.Analysis = s.Kind, s.Net, s.Train, s.Data, s.Analysis
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("overrides %s: stage %d variant %s under profile %s: %w", strings.Join(overrideStrings(os), " "), c.Stage, c.Variant, c.Profile, err)
	}
	set := slices.Clone(c.Overrides)
	for _, o := range os {
		set = slices.DeleteFunc(set, func(s string) bool { k, _, _ := strings.Cut(s, "="); return k == o.Key })
		set = append(set, o.String())
	}
	slices.Sort(set)
	c.Overrides = set
	return c, nil
}

// overrideFor finds the override that set key (or a table above it).
func overrideFor(os []Override, key string) string {
	for _, o := range os {
		if o.Key == key || strings.HasPrefix(key, o.Key+".") || strings.HasPrefix(key, o.Key+"[") {
			return o.String()
		}
	}
	return key
}

func overrideStrings(os []Override) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.String()
	}
	return out
}
