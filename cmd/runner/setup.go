package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"speedrun/data"
	"speedrun/internal/suggest"
	"speedrun/results"
	"speedrun/runner"
	"speedrun/stages"
)

// Set by the linker (-ldflags "-X main.gitRevision=... -X main.gitDirty=true")
// when the binary is built outside a git checkout; otherwise git is asked.
var (
	gitRevision string
	gitDirty    string
)

// trainFlags are the flags run and sweep share.
type trainFlags struct {
	profile   string
	precision string // empty: each variant's train.precision
	seed      string // empty: derived from the config hash and repeat
	// overrides are the command line's key=value arguments.
	overrides []string
	backend   string
	// lease and heartbeat are knobs for the crash tests; maxPages caps the
	// database to simulate a full disk.
	lease, heartbeat time.Duration
	maxPages         int
}

func (t *trainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.profile, "profile", "quick", "`profile` of the registry (paper, quick, smoke, ...)")
	fs.StringVar(&t.precision, "precision", "", "train every selected variant in `fp32` or bf16 (rewrites train.precision, so such runs are cells of their own; default: the variant's and profile's)")
	fs.StringVar(&t.seed, "seed", "", "seed base: run seeds are `S`+repeat (default: derived from the config hash and the repeat); a finished cell is not rerun for a new seed")
	fs.StringVar(&t.backend, "backend", "auto", "training engine: auto, cpu or cuda")
	fs.DurationVar(&t.lease, "lease", 2*time.Minute, "how long a claimed cell stays taken without a heartbeat")
	fs.DurationVar(&t.heartbeat, "heartbeat", 5*time.Second, "how often a running cell renews its lease")
	fs.IntVar(&t.maxPages, "db-max-pages", 0, "for tests: cap the database at `N` pages to simulate a full disk")
}

// resolver is the registry, with train.precision rewritten when
// --precision is given and the command line's key=value overrides
// (t.overrides) laid over each resolved config: part of each config and
// so of its hash, a bf16 run and an fp32 run of one variant, or a run
// with train.epochs=12, are cells of their own. The overrides are checked
// here, once, against the registry's rules.
func (t trainFlags) resolver(reg *stages.Registry) (runner.Resolver, error) {
	var res runner.Resolver = reg
	switch t.precision {
	case "":
	case "fp32", "bf16":
		res = precisionResolver{res, t.precision}
	default:
		return nil, usageErr(fmt.Errorf("--precision %q: want fp32 or bf16", t.precision))
	}
	if len(t.overrides) == 0 {
		return res, nil
	}
	ovs, err := stages.ParseOverrides(t.overrides)
	if err != nil {
		return nil, usageErr(err)
	}
	for _, o := range ovs {
		if o.Key == "train.precision" && t.precision != "" || o.Key == "train" && t.precision != "" {
			return nil, usageErr(fmt.Errorf("override %s and --precision %s both set the precision; give one", o, t.precision))
		}
	}
	return overrideResolver{res, ovs}, nil
}

type precisionResolver struct {
	reg       runner.Resolver
	precision string
}

func (p precisionResolver) Resolve(stage int, variant, profile string) (stages.Config, error) {
	cfg, err := p.reg.Resolve(stage, variant, profile)
	cfg.Train.Precision = p.precision
	return cfg, err
}

// overrideResolver lays key=value overrides over what reg resolves.
type overrideResolver struct {
	reg       runner.Resolver
	overrides []stages.Override
}

func (o overrideResolver) Resolve(stage int, variant, profile string) (stages.Config, error) {
	cfg, err := o.reg.Resolve(stage, variant, profile)
	if err != nil {
		return cfg, err
	}
	return cfg.WithOverrides(o.overrides)
}

// overrideArgs takes a command's positional arguments as key=value
// overrides, refusing any other word.
func overrideArgs(pos []string) ([]string, error) {
	for _, a := range pos {
		if !strings.Contains(a, "=") {
			return nil, usageErr(fmt.Errorf("unexpected argument %q: only key=value overrides (such as train.epochs=12) follow the flags", a))
		}
	}
	return pos, nil
}

// parseArgs parses flags that may come before, between or after the
// positional arguments and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// session is what run and sweep share: the registry, the database and a
// Runner wired to a backend.
type session struct {
	reg *stages.Registry
	db  *results.DB
	run *runner.Runner
}

func openSession(ctx context.Context, env *cmdEnv, g globalOptions, t trainFlags) (*session, error) {
	reg, err := stages.Load(g.config)
	if err != nil {
		return nil, usageErr(err)
	}
	if _, err := reg.Profile(t.profile); err != nil {
		return nil, usageErr(fmt.Errorf("--profile: %w", err))
	}
	var seed uint64
	haveSeed := t.seed != ""
	if haveSeed {
		if seed, err = strconv.ParseUint(t.seed, 0, 64); err != nil {
			return nil, usageErr(fmt.Errorf("--seed %q: want an unsigned 64-bit integer", t.seed))
		}
	}
	if t.lease <= 0 || t.heartbeat <= 0 || t.heartbeat >= t.lease {
		return nil, usageErr(fmt.Errorf("--heartbeat %v must be positive and shorter than --lease %v", t.heartbeat, t.lease))
	}
	owner, err := results.NewOwner()
	if err != nil {
		return nil, err
	}
	be, err := openBackend(t.backend, env)
	if err != nil {
		return nil, err
	}
	db, err := results.OpenWith(ctx, g.db, results.Options{MaxPages: t.maxPages})
	if err != nil {
		return nil, errors.Join(err, closeBackend(be))
	}
	var versions string
	if v, ok := be.(runner.Versioner); ok {
		versions = v.Versions()
	}
	prov := runner.CollectProvenance(ctx, gitRevision, gitDirty == "true", versions)
	env.log.Debug("provenance", "prov", prov.String(), "owner", owner.ID)
	r := &runner.Runner{
		DB: db, Backend: be, Data: datasets(g.data), Owner: owner, Provenance: prov,
		Seed: seed, HaveSeed: haveSeed, Lease: t.lease, Heartbeat: t.heartbeat,
		Log: env.log, Progress: env.stderr,
	}
	return &session{reg: reg, db: db, run: r}, nil
}

// Close closes the database and the backend (both engines under auto).
func (s *session) Close() error {
	return errors.Join(s.db.Close(), closeBackend(s.run.Backend))
}

// datasets returns the runner's dataset source: the --data choice, or the
// profile's (a "synthetic" profile gets the synthetic set unless --data
// names a folder), subset to each config's sizes. Sets are loaded once per
// process. A synthetic set is generated at the config's sizes directly:
// generating the full 60,000 images first would dominate a smoke run.
func datasets(flagData string) runner.DataFunc {
	var mu sync.Mutex
	cache := map[string]*data.Set{}
	return func(ctx context.Context, cfg stages.Config) (*data.Set, error) {
		spec := flagData
		if spec == "" && cfg.Dataset == data.SyntheticSpec {
			spec = data.SyntheticSpec
		}
		key := fmt.Sprintf("%s|%d|%d", spec, cfg.Data.TrainSize, cfg.Data.TestSize)
		mu.Lock()
		defer mu.Unlock()
		if s, ok := cache[key]; ok {
			return s, nil
		}
		if spec == data.SyntheticSpec {
			s, err := data.Synthetic(data.SyntheticOptions{Train: cfg.Data.TrainSize, Test: cfg.Data.TestSize})
			if err != nil {
				return nil, err
			}
			cache[key] = s
			return s, nil
		}
		base, ok := cache[spec]
		if !ok {
			var err error
			if base, err = data.Open(ctx, spec); err != nil {
				return nil, err
			}
			cache[spec] = base
		}
		// The engines' own subset: the same images in every run, so its
		// checksum (part of the results key) is stable.
		s, err := base.Sized(cfg.Data.TrainSize, cfg.Data.TestSize)
		if err != nil {
			return nil, err
		}
		cache[key] = s
		return s, nil
	}
}

// stagePicks turns --stage and --variant into picks: every variant of
// each selected stage (all stages when none), filtered by the variant
// names when given. Without a variant filter, only is "" for all, or
// "final" for each stage's last variant.
func stagePicks(reg *stages.Registry, stageList string, variants []string, only string) ([]runner.Pick, error) {
	var sel []stages.Stage
	if strings.TrimSpace(stageList) == "" {
		sel = reg.Stages()
	} else {
		for _, key := range strings.Split(stageList, ",") {
			st, err := reg.Stage(strings.TrimSpace(key))
			if err != nil {
				return nil, usageErr(fmt.Errorf("--stage: %w", err))
			}
			sel = append(sel, st)
		}
	}
	filter := len(variants) > 0
	want := map[string]bool{}
	for _, v := range variants {
		want[v] = false
	}
	var picks []runner.Pick
	for _, st := range sel {
		if len(st.Variants) == 0 {
			continue
		}
		vs := st.Variants
		if only == "final" && !filter {
			vs = vs[len(vs)-1:]
		}
		for _, v := range vs {
			if _, ok := want[v.Name]; filter && !ok {
				continue
			}
			if filter {
				want[v.Name] = true
			}
			picks = append(picks, runner.Pick{Stage: st.ID, Variant: v.Name})
		}
	}
	var missing []string
	for v, found := range want {
		if !found {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		var names []string
		for _, st := range sel {
			for _, v := range st.Variants {
				names = append(names, v.Name)
			}
		}
		msg := fmt.Sprintf("--variant %s: no such variant in the selected stages", strings.Join(missing, ", "))
		if s := suggest.Closest(missing[0], names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return nil, usageErr(errors.New(msg))
	}
	if len(picks) == 0 {
		return nil, usageErr(errors.New("nothing selected: the selected stages have no variants"))
	}
	return picks, nil
}

// stringsFlag is a repeatable flag that also splits on commas.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*s = append(*s, x)
		}
	}
	return nil
}
