package stages

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"

	"speedrun/model"
)

// Registry is a parsed, validated experiments.toml: stages in order, each
// with its variants resolved against their predecessors, and the profiles.
type Registry struct {
	file     string
	stages   []stageEntry
	profiles map[string]Profile
	order    []string // profile names in file order
}

type stageEntry struct {
	Stage
	variants []variantEntry
}

type variantEntry struct {
	info   VariantInfo
	config Config // resolved, before any profile
}

// Stage is one post of the series (or the fenwicks recipe).
type Stage struct {
	ID       int
	Name     string // short key, e.g. "architecture" or "fenwicks"
	Title    string
	Variants []VariantInfo // in order; the last is the stage's result
}

// VariantInfo describes one registered variant.
type VariantInfo struct {
	Name      string // e.g. "p4.s10"
	Title     string // what it changes, in words
	Kind      Kind   // KindTrain or an analysis kind
	Published Published
	// Base is the variant this one is written as a change on: its from,
	// else the one before it in the file; empty for the first.
	Base string
}

// Error is a registry error with its place in the source. Line and Col
// are 1-based, or 0 when the error has no single place.
type Error struct {
	File      string
	Line, Col int
	Variant   string // the variant concerned, if any
	Msg       string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads and parses the registry at path.
func Load(path string) (*Registry, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stages: %w", err)
	}
	return Parse(path, src)
}

// settings is the part of a variant (or of [defaults]) that is inherited
// and merged.
type settings struct {
	Kind     Kind      `toml:"kind"`
	Net      model.Net `toml:"net"`
	Train    Train     `toml:"train"`
	Data     Data      `toml:"data"`
	Analysis *Analysis `toml:"analysis"`
}

// settingKeys are the keys of settings: those a variant inherits.
var settingKeys = []string{"kind", "net", "train", "data", "analysis"}

// variantDoc is the schema of one [[stage.variant]] table.
type variantDoc struct {
	Name      string    `toml:"name"`
	Title     string    `toml:"title"`
	From      string    `toml:"from"`
	Kind      Kind      `toml:"kind"`
	Net       model.Net `toml:"net"`
	Train     Train     `toml:"train"`
	Data      Data      `toml:"data"`
	Analysis  *Analysis `toml:"analysis"`
	Published Published `toml:"published"`
}

// stageDoc is the schema of one [[stage]] table without its variants.
type stageDoc struct {
	ID    int    `toml:"id"`
	Name  string `toml:"name"`
	Title string `toml:"title"`
}

// parser holds the state of one Parse.
type parser struct {
	sm   *sourceMap
	errs []error
}

func (p *parser) errorf(sc scope, path []string, variant, format string, args ...any) *Error {
	line, col := p.sm.pos(sc, path)
	return &Error{File: p.sm.file, Line: line, Col: col, Variant: variant, Msg: fmt.Sprintf(format, args...)}
}

// where names a scope in messages.
func where(sc scope, stageID int, variant string) string {
	switch sc.kind {
	case "defaults":
		return "[defaults]"
	case "profile":
		if !isWord(sc.profile) {
			return fmt.Sprintf("profile %q", sc.profile)
		}
		return "profile " + sc.profile
	case "stage":
		return fmt.Sprintf("stage %d", stageID)
	case "variant":
		switch {
		case variant == "":
			return fmt.Sprintf("stage %d variant %d", stageID, sc.variant+1)
		case !isWord(variant):
			return fmt.Sprintf("stage %d variant %q", stageID, variant)
		}
		return fmt.Sprintf("stage %d variant %s", stageID, variant)
	}
	return "the top level"
}

// decode decodes raw into dst strictly and records every key error; id
// gives the stage id for messages once dst is decoded.
func (p *parser) decode(dst any, raw map[string]any, sc scope, id func() int, variant string) bool {
	errs := decodeTable(dst, raw)
	for _, e := range errs {
		w := where(sc, id(), variant)
		if e.unknown {
			msg := fmt.Sprintf("unknown key %q in %s", joinPath(e.path), w)
			if e.suggest != "" {
				s := clonePath(e.path)
				s[len(s)-1] = e.suggest
				msg += fmt.Sprintf("; did you mean %q?", joinPath(s))
			}
			p.errs = append(p.errs, p.errorf(sc, e.path, variant, "%s", msg))
			continue
		}
		p.errs = append(p.errs, p.errorf(sc, e.path, variant, "%s: key %s: %s", w, joinPath(e.path), e.msg))
	}
	return len(errs) == 0
}

// Parse parses and validates a registry; name is used in error messages.
// Every variant is resolved under every profile, so a registry that
// parses resolves everywhere.
func Parse(name string, src []byte) (*Registry, error) {
	p := &parser{sm: newSourceMap(name, src)}
	var raw map[string]any
	if _, err := toml.Decode(string(src), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			col := max(pe.Position.Col, 1)
			// The message may quote the input, newlines included; keep
			// the error on one line.
			msg := strings.ReplaceAll(pe.Message, "\n", `\n`)
			if pe.LastKey != "" {
				msg += fmt.Sprintf(" (after key %q)", pe.LastKey)
			}
			return nil, &Error{File: name, Line: pe.Position.Line, Col: col, Msg: "TOML syntax: " + msg}
		}
		return nil, &Error{File: name, Line: 1, Col: 1, Msg: strings.ReplaceAll(err.Error(), "\n", `\n`)}
	}
	r := &Registry{file: name, profiles: map[string]Profile{}}
	top := scope{kind: "top"}
	var (
		defaults    map[string]any
		stagesRaw   []map[string]any
		profilesRaw map[string]any
	)
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		var ok bool
		switch k {
		case "defaults":
			defaults, ok = raw[k].(map[string]any)
		case "profile":
			profilesRaw, ok = raw[k].(map[string]any)
		case "stage":
			stagesRaw, ok = raw[k].([]map[string]any)
		default:
			msg := fmt.Sprintf("unknown key %q at the top level (want defaults, profile, stage)", k)
			if s := closest(k, []string{"defaults", "profile", "stage"}); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			p.errs = append(p.errs, p.errorf(top, []string{k}, "", "%s", msg))
			continue
		}
		if !ok {
			want := "a table"
			if k == "stage" {
				want = "an array of tables ([[stage]])"
			}
			p.errs = append(p.errs, p.errorf(top, []string{k}, "", "key %s: want %s, got %s", k, want, describe(raw[k])))
		}
	}
	if len(stagesRaw) == 0 && len(p.errs) == 0 {
		p.errs = append(p.errs, &Error{File: name, Line: 1, Col: 1, Msg: "no [[stage]] tables"})
	}
	p.parseProfiles(r, profilesRaw)

	var base settings
	if defaults != nil {
		p.decode(&base, defaults, scope{kind: "defaults"}, noID, "")
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}

	// raws keeps each variant's fully merged settings table, for "from"
	// and for the variant after it.
	raws := map[string]map[string]any{}
	prev := settingsOnly(defaults)
	type seenVariant struct {
		scope scope
		id    int
	}
	seen := map[string]seenVariant{}
	lastName := "" // the variant parsed last, the base of one without from
	// reported holds validation messages already given: a bad value
	// inherited by later variants is reported once, where it first fails.
	reported := map[string]bool{}
	invalid := func(sc scope, name, prefix string, err error) {
		if reported[err.Error()] {
			return
		}
		reported[err.Error()] = true
		p.errs = append(p.errs, p.errorf(sc, errPath(err), name, "%s: %v", prefix, err))
	}
	for i, sr := range stagesRaw {
		sc := scope{kind: "stage", stage: i}
		head := maps.Clone(sr)
		delete(head, "variant")
		var sd stageDoc
		p.decode(&sd, head, sc, func() int { return sd.ID }, "")
		st := stageEntry{Stage: Stage{ID: sd.ID, Name: sd.Name, Title: sd.Title}}
		switch {
		case sd.ID <= 0:
			p.errs = append(p.errs, p.errorf(sc, []string{"id"}, "", "stage %d: id must be a positive integer, got %d", i+1, sd.ID))
		case len(r.stages) > 0 && sd.ID <= r.stages[len(r.stages)-1].ID:
			p.errs = append(p.errs, p.errorf(sc, []string{"id"}, "", "stage %d: ids must increase through the file (previous stage is %d)", sd.ID, r.stages[len(r.stages)-1].ID))
		}
		if !isWord(sd.Name) {
			p.errs = append(p.errs, p.errorf(sc, []string{"name"}, "", "stage %d: name must be a non-empty word, got %q", sd.ID, sd.Name))
		} else if _, err := strconv.Atoi(sd.Name); err == nil {
			p.errs = append(p.errs, p.errorf(sc, []string{"name"}, "", "stage %d: name %q must not be a number (it would clash with stage ids)", sd.ID, sd.Name))
		}
		for _, other := range r.stages {
			if other.Name == sd.Name && sd.Name != "" {
				p.errs = append(p.errs, p.errorf(sc, []string{"name"}, "", "stage %d: name %q is already used by stage %d", sd.ID, sd.Name, other.ID))
			}
		}
		stageID := func() int { return sd.ID }
		var vlist []map[string]any
		switch v := sr["variant"].(type) {
		case []map[string]any:
			vlist = v
		case nil:
		default:
			p.errs = append(p.errs, p.errorf(sc, []string{"variant"}, "", "stage %d: key variant: want an array of tables ([[stage.variant]]), got %s", sd.ID, describe(v)))
		}
		if len(vlist) == 0 {
			p.errs = append(p.errs, p.errorf(sc, nil, "", "stage %d has no [[stage.variant]] tables", sd.ID))
		}
		for j, vr := range vlist {
			vsc := scope{kind: "variant", stage: i, variant: j}
			vname, _ := vr["name"].(string)
			var vd variantDoc
			if !p.decode(&vd, vr, vsc, stageID, vname) {
				continue
			}
			if !isWord(vd.Name) {
				p.errs = append(p.errs, p.errorf(vsc, []string{"name"}, "", "%s: name must be a non-empty word, got %q", where(vsc, sd.ID, ""), vd.Name))
				continue
			}
			if strings.TrimSpace(vd.Title) == "" {
				p.errs = append(p.errs, p.errorf(vsc, []string{"name"}, vd.Name, "%s: title is missing (say in words what the variant changes)", where(vsc, sd.ID, vd.Name)))
			}
			if first, dup := seen[vd.Name]; dup {
				fl, _ := p.sm.pos(first.scope, nil)
				p.errs = append(p.errs, p.errorf(vsc, []string{"name"}, vd.Name, "%s: duplicate variant name (first defined in stage %d at line %d)", where(vsc, sd.ID, vd.Name), first.id, fl))
				continue
			}
			seen[vd.Name] = seenVariant{vsc, sd.ID}
			base := lastName
			lastName = vd.Name
			if vd.From != "" {
				base = vd.From
				b, ok := raws[vd.From]
				if !ok {
					p.errs = append(p.errs, p.errorf(vsc, []string{"from"}, vd.Name, "%s: from = %q names no earlier variant", where(vsc, sd.ID, vd.Name), vd.From))
					continue
				}
				prev = b
			}
			merged := merge(prev, settingsOnly(vr))
			prev = merged
			raws[vd.Name] = merged
			var s settings
			if !p.decode(&s, merged, vsc, stageID, vd.Name) {
				continue
			}
			c := Config{
				Stage: sd.ID, Variant: vd.Name, Title: vd.Title, Kind: s.Kind,
				Net: s.Net, Train: s.Train, Data: s.Data, Analysis: s.Analysis,
				Published: vd.Published, Profile: "paper", Dataset: "cifar10",
			}
			if c.Analysis == nil && c.Kind != KindTrain {
				c.Analysis = &Analysis{}
			}
			if err := validatePublished(vd.Published); err != nil {
				p.errs = append(p.errs, p.errorf(vsc, append([]string{"published"}, errPath(err)...), vd.Name, "%s: published.%v", where(vsc, sd.ID, vd.Name), err))
			}
			if err := c.validate(); err != nil {
				invalid(vsc, vd.Name, where(vsc, sd.ID, vd.Name), err)
				continue
			}
			for _, pn := range r.order {
				pc := c.withProfile(pn, r.profiles[pn])
				if err := pc.validate(); err != nil {
					invalid(vsc, vd.Name, fmt.Sprintf("%s under profile %s", where(vsc, sd.ID, vd.Name), pn), err)
					break
				}
			}
			st.variants = append(st.variants, variantEntry{
				info:   VariantInfo{Name: vd.Name, Title: vd.Title, Kind: c.Kind, Published: vd.Published, Base: base},
				config: c,
			})
			st.Variants = append(st.Variants, st.variants[len(st.variants)-1].info)
		}
		r.stages = append(r.stages, st)
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return r, nil
}

func (p *parser) parseProfiles(r *Registry, raw map[string]any) {
	// Profiles are listed in file order, which a map loses: order them by
	// their header lines.
	names := slices.Collect(maps.Keys(raw))
	line := make(map[string]int, len(names))
	for _, n := range names {
		line[n], _ = p.sm.pos(scope{kind: "profile", profile: n}, []string{n})
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := line[a] - line[b]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		sc := scope{kind: "profile", profile: n}
		t, ok := raw[n].(map[string]any)
		if !ok {
			p.errs = append(p.errs, p.errorf(sc, []string{n}, "", "profile %s: want a table, got %s", n, describe(raw[n])))
			continue
		}
		var pr Profile
		if !p.decode(&pr, t, sc, noID, "") {
			continue
		}
		if err := pr.validate(); err != nil {
			p.errs = append(p.errs, p.errorf(sc, errPath(err), "", "profile %s: %v", n, err))
			continue
		}
		r.profiles[n] = pr
		r.order = append(r.order, n)
	}
	if _, ok := r.profiles["paper"]; !ok && len(p.errs) == 0 {
		p.errs = append(p.errs, &Error{File: p.sm.file, Line: 1, Col: 1, Msg: "no [profile.paper] table (the unscaled blog recipe)"})
	}
}

func noID() int { return 0 }

// isWord reports whether a stage or variant name is usable as a key on a
// command line: non-empty printable text without spaces.
func isWord(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) })
}

// errPath reads the key path that a validation message starts with
// ("train.lr[2]: ..." or "net.ghost_batch 24 ..."), to place the error.
func errPath(err error) []string {
	tok, _, _ := strings.Cut(err.Error(), " ")
	tok = strings.TrimSuffix(tok, ":")
	var path []string
	for _, k := range strings.Split(tok, ".") {
		k, _, _ = strings.Cut(k, "[")
		if k != "" {
			path = append(path, k)
		}
	}
	return path
}

// settingsOnly keeps the inherited keys of a raw variant table.
func settingsOnly(m map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range settingKeys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// merge returns base with change laid over it: tables merge key by key,
// recursively; every other value (lists included) replaces. Neither input
// is modified.
func merge(base, change map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range change {
		bm, bok := out[k].(map[string]any)
		cm, cok := v.(map[string]any)
		if bok && cok {
			out[k] = merge(bm, cm)
			continue
		}
		out[k] = v
	}
	return out
}

// Stages returns the stages in order.
func (r *Registry) Stages() []Stage {
	out := make([]Stage, len(r.stages))
	for i, s := range r.stages {
		out[i] = s.Stage
		out[i].Variants = slices.Clone(s.Variants)
	}
	return out
}

// Stage finds a stage by id ("4") or name ("fenwicks").
func (r *Registry) Stage(key string) (Stage, error) {
	s, err := r.stage(key)
	if err != nil {
		return Stage{}, err
	}
	out := s.Stage
	out.Variants = slices.Clone(s.Variants)
	return out, nil
}

func (r *Registry) stage(key string) (*stageEntry, error) {
	id, numErr := strconv.Atoi(key)
	var known, names []string
	for i := range r.stages {
		s := &r.stages[i]
		if (numErr == nil && s.ID == id) || s.Name == key {
			return s, nil
		}
		known = append(known, fmt.Sprintf("%d (%s)", s.ID, s.Name))
		names = append(names, s.Name)
	}
	err := fmt.Errorf("%s: no stage %q (known: %s)", r.file, key, strings.Join(known, ", "))
	if s := closest(key, names); s != "" && numErr != nil {
		err = fmt.Errorf("%w; did you mean %q?", err, s)
	}
	return nil, err
}

// Profiles returns the profile names in file order.
func (r *Registry) Profiles() []string { return slices.Clone(r.order) }

// Profile returns the named profile's scaling rules.
func (r *Registry) Profile(name string) (Profile, error) {
	p, ok := r.profiles[name]
	if !ok {
		err := fmt.Errorf("%s: unknown profile %q (known: %s)", r.file, name, strings.Join(r.order, ", "))
		if s := closest(name, slices.Clone(r.order)); s != "" {
			err = fmt.Errorf("%w; did you mean %q?", err, s)
		}
		return Profile{}, err
	}
	return p, nil
}

// Resolve returns the full config of a variant of a stage under a profile.
// An empty variant means the stage's final variant.
func (r *Registry) Resolve(stage int, variant, profile string) (Config, error) {
	s, err := r.stage(strconv.Itoa(stage))
	if err != nil {
		return Config{}, err
	}
	p, err := r.Profile(profile)
	if err != nil {
		return Config{}, err
	}
	if variant == "" {
		return s.variants[len(s.variants)-1].config.withProfile(profile, p), nil
	}
	var names []string
	for _, v := range s.variants {
		if v.info.Name == variant {
			return v.config.withProfile(profile, p), nil
		}
		names = append(names, v.info.Name)
	}
	err = fmt.Errorf("%s: stage %d has no variant %q (known: %s)", r.file, stage, variant, strings.Join(names, ", "))
	if s := closest(variant, names); s != "" {
		err = fmt.Errorf("%w; did you mean %q?", err, s)
	}
	return Config{}, err
}

// withProfile returns a copy of c scaled by the profile named name.
func (c Config) withProfile(name string, p Profile) Config {
	c = c.clone()
	c.Profile = name
	p.apply(&c)
	return c
}

// clone returns a deep copy of c, so that callers may change what Resolve
// returns without touching the registry.
func (c Config) clone() Config {
	c.Train.LR = slices.Clone(c.Train.LR)
	c.Overrides = slices.Clone(c.Overrides)
	c.Train.Groups = slices.Clone(c.Train.Groups)
	for i := range c.Train.Groups {
		c.Train.Groups[i].LR = slices.Clone(c.Train.Groups[i].LR)
	}
	if la := c.Train.Lookahead; la != nil {
		l := *la
		c.Train.Lookahead = &l
	}
	c.Published.UnverifiedFields = slices.Clone(c.Published.UnverifiedFields)
	if c.Analysis != nil {
		a := *c.Analysis
		a.LRGrid = slices.Clone(a.LRGrid)
		a.AxisGrid = slices.Clone(a.AxisGrid)
		a.Depths = slices.Clone(a.Depths)
		a.Order = slices.Clone(a.Order)
		a.InitScales = slices.Clone(a.InitScales)
		a.Layers = slices.Clone(a.Layers)
		a.Inputs = slices.Clone(a.Inputs)
		a.Acts = slices.Clone(a.Acts)
		a.BNs = slices.Clone(a.BNs)
		a.Models = slices.Clone(a.Models)
		c.Analysis = &a
	}
	return c
}
