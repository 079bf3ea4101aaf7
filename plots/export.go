package plots

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"speedrun/results"
	"speedrun/stages"
)

// ColumnType is what an exported column holds. Whatever the type, an
// absent value is an empty CSV cell and null in JSON.
type ColumnType string

// The column types.
const (
	TypeInt    ColumnType = "int"    // a decimal integer (seeds: unsigned 64-bit)
	TypeFloat  ColumnType = "float"  // a decimal or exponent float, shortest round-trip form
	TypeBool   ColumnType = "bool"   // true or false
	TypeString ColumnType = "string" // text
	TypeTime   ColumnType = "time"   // RFC 3339 in UTC, nanoseconds
	TypeJSON   ColumnType = "json"   // a JSON value, as text in CSV and as itself in JSON
)

// Column is one exported column.
type Column struct {
	Name string
	Type ColumnType
}

// Table is one exported table: what `runner report --format csv|json`
// writes and the report's runs.csv and variants.csv hold. A row's values
// are nil (absent), int, int64, uint64, float64 (NaN: absent), bool,
// string, time.Time (zero: absent) or, in a json column, JSON text.
type Table struct {
	Name    string
	Columns []Column
	Rows    [][]any
}

// TableNames are the tables `runner report --table` exports.
var TableNames = []string{"runs", "variants", "epochs", "measurements", "layer_stats"}

// runField is one per-run column and its value.
type runField struct {
	Column
	get func(r results.Run, label string) any
}

// nullZero is absent when a value is zero and the run did not finish:
// a time never measured, not a time of 0 s.
func nullZero(r results.Run, x float64) any {
	if x == 0 && !r.Status.Final() {
		return nil
	}
	return x
}

func nullEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// runFields are the runs table's columns before the config's.
var runFields = []runField{
	{Column{"id", TypeInt}, func(r results.Run, _ string) any { return r.ID }},
	{Column{"stage", TypeInt}, func(r results.Run, _ string) any { return r.Stage }},
	{Column{"variant", TypeString}, func(r results.Run, _ string) any { return r.Variant }},
	{Column{"profile", TypeString}, func(r results.Run, _ string) any { return r.Profile }},
	{Column{"series", TypeString}, func(_ results.Run, label string) any { return label }},
	{Column{"repeat", TypeInt}, func(r results.Run, _ string) any { return r.Repeat }},
	{Column{"seed", TypeInt}, func(r results.Run, _ string) any { return r.Seed }},
	{Column{"status", TypeString}, func(r results.Run, _ string) any { return string(r.Status) }},
	{Column{"error", TypeString}, func(r results.Run, _ string) any { return nullEmpty(r.Error) }},
	{Column{"accuracy", TypeFloat}, func(r results.Run, _ string) any { return Accuracy(r) }},
	{Column{"test_acc", TypeFloat}, func(r results.Run, _ string) any { return r.TestAcc }},
	{Column{"tta_acc", TypeFloat}, func(r results.Run, _ string) any { return r.TTAAcc }},
	{Column{"test_loss", TypeFloat}, func(r results.Run, _ string) any { return r.TestLoss }},
	{Column{"diverged_epoch", TypeInt}, func(r results.Run, _ string) any {
		if r.Status != results.StatusDiverged && r.DivergedEpoch == 0 {
			return nil
		}
		return r.DivergedEpoch
	}},
	{Column{"preprocess_s", TypeFloat}, func(r results.Run, _ string) any { return nullZero(r, r.PreprocessSeconds) }},
	{Column{"train_s", TypeFloat}, func(r results.Run, _ string) any { return nullZero(r, r.TrainSeconds) }},
	{Column{"eval_s", TypeFloat}, func(r results.Run, _ string) any { return nullZero(r, r.EvalSeconds) }},
	{Column{"total_s", TypeFloat}, func(r results.Run, _ string) any { return nullZero(r, r.TotalSeconds) }},
	{Column{"time_train_eval_s", TypeFloat}, func(r results.Run, _ string) any { return nullZero(r, TimeIn(r, TimingTrainEval)) }},
	{Column{"time_dawn_s", TypeFloat}, func(r results.Run, _ string) any { return nullZero(r, TimeIn(r, TimingDawn)) }},
	{Column{"cpu_s", TypeFloat}, func(r results.Run, _ string) any { return r.CPUSeconds }},
	{Column{"load_start", TypeFloat}, func(r results.Run, _ string) any { return r.LoadStart }},
	{Column{"peak_rss", TypeInt}, func(r results.Run, _ string) any {
		if r.PeakRSSBytes == 0 {
			return nil
		}
		return r.PeakRSSBytes
	}},
	{Column{"attempts", TypeInt}, func(r results.Run, _ string) any { return r.Attempts }},
	{Column{"precision", TypeString}, func(r results.Run, _ string) any { return nullEmpty(r.Precision) }},
	{Column{"overrides", TypeString}, func(r results.Run, _ string) any { return nullEmpty(strings.Join(RunOverrides(r), " ")) }},
	{Column{"config_hash", TypeString}, func(r results.Run, _ string) any { return r.ConfigHash }},
	{Column{"dataset", TypeString}, func(r results.Run, _ string) any { return r.Dataset }},
	{Column{"dataset_sum", TypeString}, func(r results.Run, _ string) any { return r.DataSum }},
	{Column{"host", TypeString}, func(r results.Run, _ string) any { return r.Host }},
	{Column{"backend", TypeString}, func(r results.Run, _ string) any { return r.Backend }},
	{Column{"device", TypeString}, func(r results.Run, _ string) any { return r.Device }},
	{Column{"git_rev", TypeString}, func(r results.Run, _ string) any { return r.GitRev }},
	{Column{"git_dirty", TypeBool}, func(r results.Run, _ string) any { return r.GitDirty }},
	{Column{"go_version", TypeString}, func(r results.Run, _ string) any { return r.GoVersion }},
	{Column{"lib_version", TypeString}, func(r results.Run, _ string) any { return r.LibVersion }},
	{Column{"started", TypeTime}, func(r results.Run, _ string) any { return r.Started }},
	{Column{"finished", TypeTime}, func(r results.Run, _ string) any { return r.Finished }},
}

// configLeaf is one hyperparameter column: a leaf of stages.Config's
// JSON form, named by its dotted path ("train.epochs").
type configLeaf struct {
	Column
	index    []int // the field's index path in stages.Config
	analysis bool  // under Config.Analysis, a pointer
}

// configLeaves lists the leaves of stages.Config in field order, except
// the run's own columns (stage, variant, profile, title, overrides) and
// what is not part of the config (published, dataset).
func configLeaves() []configLeaf {
	var out []configLeaf
	var walk func(t reflect.Type, prefix string, index []int, analysis bool)
	walk = func(t reflect.Type, prefix string, index []int, analysis bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			path := prefix + name
			idx := append(append([]int(nil), index...), i)
			if prefix == "" && (name == "stage" || name == "variant" || name == "profile" || name == "title" || name == "overrides") {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(stages.Knot{}) {
				walk(ft, path+".", idx, analysis || name == "analysis")
				continue
			}
			var typ ColumnType
			switch ft.Kind() {
			case reflect.Int, reflect.Int64:
				typ = TypeInt
			case reflect.Float64:
				typ = TypeFloat
			case reflect.Bool:
				typ = TypeBool
			case reflect.String:
				typ = TypeString
			default:
				typ = TypeJSON
			}
			out = append(out, configLeaf{Column: Column{path, typ}, index: idx, analysis: analysis})
		}
	}
	walk(reflect.TypeOf(stages.Config{}), "", nil, false)
	return out
}

// value reads the leaf from a config; nil when the config has no
// analysis table and the leaf is under it.
func (l configLeaf) value(c *stages.Config) any {
	v := reflect.ValueOf(c).Elem()
	for _, i := range l.index {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	if l.Type == TypeJSON {
		b, err := json.Marshal(v.Interface())
		if err != nil {
			return nil
		}
		return string(b)
	}
	return v.Interface()
}

// RunsTable is the per-run table in registry order (Data.OrderedRuns):
// results, timings, provenance and the series label, then the resolved
// config's hyperparameters as dotted columns (net.*, train.*, data.*, and
// analysis.* when a run has an analysis table), absent for a run without
// a config.
func RunsTable(d *Data) Table {
	runs := d.OrderedRuns()
	labels := d.SeriesLabels()
	configs := make([]*stages.Config, len(runs))
	anyConfig, anyAnalysis := false, false
	for i, r := range runs {
		if r.ConfigJSON == "" {
			continue
		}
		var c stages.Config
		if json.Unmarshal([]byte(r.ConfigJSON), &c) == nil {
			configs[i] = &c
			anyConfig = true
			anyAnalysis = anyAnalysis || c.Analysis != nil
		}
	}
	var leaves []configLeaf
	for _, l := range configLeaves() {
		if anyConfig && (!l.analysis || anyAnalysis) {
			leaves = append(leaves, l)
		}
	}
	t := Table{Name: "runs"}
	for _, f := range runFields {
		t.Columns = append(t.Columns, f.Column)
	}
	for _, l := range leaves {
		t.Columns = append(t.Columns, l.Column)
	}
	for i, r := range runs {
		row := make([]any, 0, len(t.Columns))
		label := labels[SeriesOf(r)]
		for _, f := range runFields {
			row = append(row, f.get(r, label))
		}
		for _, l := range leaves {
			if configs[i] == nil {
				row = append(row, nil)
				continue
			}
			row = append(row, l.value(configs[i]))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// VariantRow is one row of the per-variant table: a Group's statistics
// with the blog's numbers beside them.
type VariantRow struct {
	Group *Group
	Stats *Stats
}

type variantField struct {
	Column
	get func(VariantRow) any
}

var variantFields = []variantField{
	{Column{"stage", TypeInt}, func(v VariantRow) any { return v.Group.Stage }},
	{Column{"variant", TypeString}, func(v VariantRow) any { return v.Group.Variant.Name }},
	{Column{"profile", TypeString}, func(v VariantRow) any { return v.Group.Profile }},
	{Column{"series", TypeString}, func(v VariantRow) any { return v.Group.Label }},
	{Column{"dataset", TypeString}, func(v VariantRow) any { return v.Group.Series.Dataset }},
	{Column{"backend", TypeString}, func(v VariantRow) any { return v.Group.Series.Backend }},
	{Column{"device", TypeString}, func(v VariantRow) any { return v.Group.Series.Device }},
	{Column{"precision", TypeString}, func(v VariantRow) any { return nullEmpty(v.Group.Series.Precision) }},
	{Column{"overrides", TypeString}, func(v VariantRow) any { return nullEmpty(v.Group.Series.Overrides) }},
	{Column{"title", TypeString}, func(v VariantRow) any { return v.Group.Variant.Title }},
	{Column{"registered", TypeBool}, func(v VariantRow) any { return v.Group.Registered }},
	{Column{"runs", TypeInt}, func(v VariantRow) any { return v.Stats.Runs }},
	{Column{"done", TypeInt}, func(v VariantRow) any { return v.Stats.Done }},
	{Column{"diverged", TypeInt}, func(v VariantRow) any { return v.Stats.Diverged }},
	{Column{"other", TypeInt}, func(v VariantRow) any { return v.Stats.Other }},
	{Column{"n", TypeInt}, func(v VariantRow) any { return v.Stats.N }},
	{Column{"acc_mean", TypeFloat}, func(v VariantRow) any { return v.Stats.AccMean }},
	{Column{"acc_mean_lo", TypeFloat}, func(v VariantRow) any { return v.Stats.Mean.Lo }},
	{Column{"acc_mean_hi", TypeFloat}, func(v VariantRow) any { return v.Stats.Mean.Hi }},
	{Column{"acc_std", TypeFloat}, func(v VariantRow) any { return v.Stats.AccStd }},
	{Column{"acc_median", TypeFloat}, func(v VariantRow) any { return v.Stats.Median.Center }},
	{Column{"acc_median_lo", TypeFloat}, func(v VariantRow) any { return v.Stats.Median.Lo }},
	{Column{"acc_median_hi", TypeFloat}, func(v VariantRow) any { return v.Stats.Median.Hi }},
	{Column{"acc_median_confidence", TypeFloat}, func(v VariantRow) any { return zeroNaN(v.Stats.Median.Confidence) }},
	{Column{"reached94", TypeInt}, func(v VariantRow) any { return v.Stats.Reached94.K }},
	{Column{"reached94_of", TypeInt}, func(v VariantRow) any { return v.Stats.Reached94.N }},
	{Column{"reached94_lo", TypeFloat}, func(v VariantRow) any { return v.Stats.Reached94.Lo }},
	{Column{"reached94_hi", TypeFloat}, func(v VariantRow) any { return v.Stats.Reached94.Hi }},
	{Column{"timing", TypeString}, func(v VariantRow) any { return v.Stats.Timing }},
	{Column{"time_mean_s", TypeFloat}, func(v VariantRow) any { return v.Stats.Time }},
	{Column{"time_std_s", TypeFloat}, func(v VariantRow) any { return v.Stats.TimeStd }},
	{Column{"time_min_s", TypeFloat}, func(v VariantRow) any { return v.Stats.TimeMin }},
	{Column{"time_max_s", TypeFloat}, func(v VariantRow) any { return v.Stats.TimeMax }},
	{Column{"time_train_eval_mean_s", TypeFloat}, func(v VariantRow) any { return v.Stats.TrainEvalMean }},
	{Column{"time_dawn_mean_s", TypeFloat}, func(v VariantRow) any { return v.Stats.DawnMean }},
	{Column{"published_time_s", TypeFloat}, func(v VariantRow) any { return zeroNaN(v.Group.Variant.Published.TimeSeconds) }},
	{Column{"published_acc", TypeFloat}, func(v VariantRow) any { return zeroNaN(v.Group.Variant.Published.Accuracy) }},
	{Column{"published_epochs", TypeInt}, func(v VariantRow) any {
		if v.Group.Variant.Published.Epochs == 0 {
			return nil
		}
		return v.Group.Variant.Published.Epochs
	}},
	{Column{"published_hardware", TypeString}, func(v VariantRow) any { return nullEmpty(v.Group.Variant.Published.Hardware) }},
	{Column{"published_runs94", TypeString}, func(v VariantRow) any { return nullEmpty(v.Group.Variant.Published.Runs94) }},
	{Column{"published_source", TypeString}, func(v VariantRow) any { return nullEmpty(v.Group.Variant.Published.Source) }},
	{Column{"published_unverified", TypeBool}, func(v VariantRow) any { return v.Group.Variant.Published.Unverified }},
}

func zeroNaN(x float64) float64 {
	if x == 0 {
		return math.NaN()
	}
	return x
}

// VariantRows computes the per-variant table over every section.
func VariantRows(d *Data) []VariantRow {
	var out []VariantRow
	for _, sec := range d.Sections() {
		for _, g := range sec.Groups {
			out = append(out, VariantRow{Group: g, Stats: Summarize(g)})
		}
	}
	return out
}

// VariantsTable is the per-variant table: one row per stage, series and
// variant, in registry order.
func VariantsTable(rows []VariantRow) Table {
	t := Table{Name: "variants"}
	for _, f := range variantFields {
		t.Columns = append(t.Columns, f.Column)
	}
	for _, v := range rows {
		row := make([]any, len(variantFields))
		for i, f := range variantFields {
			row[i] = f.get(v)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// runKeyColumns lead every per-run child table: which run a row is of.
var runKeyColumns = []Column{{"run_id", TypeInt}, {"stage", TypeInt}, {"variant", TypeString}, {"series", TypeString}, {"repeat", TypeInt}}

// childTable is a table of rows that belong to runs, in the runs' registry
// order, each row led by its run's key columns.
func childTable(d *Data, name string, cols []Column, rows func(r results.Run) [][]any) Table {
	t := Table{Name: name, Columns: append(append([]Column(nil), runKeyColumns...), cols...)}
	labels := d.SeriesLabels()
	for _, r := range d.OrderedRuns() {
		key := []any{r.ID, r.Stage, r.Variant, labels[SeriesOf(r)], r.Repeat}
		for _, row := range rows(r) {
			t.Rows = append(t.Rows, append(append([]any(nil), key...), row...))
		}
	}
	return t
}

// EpochsTable is every run's per-epoch metrics.
func EpochsTable(d *Data) Table {
	return childTable(d, "epochs", []Column{{"epoch", TypeInt}, {"lr", TypeFloat}, {"train_loss", TypeFloat}, {"train_acc", TypeFloat},
		{"test_loss", TypeFloat}, {"test_acc", TypeFloat}, {"elapsed_s", TypeFloat}}, func(r results.Run) [][]any {
		var out [][]any
		for _, e := range d.Epochs[r.ID] {
			out = append(out, []any{e.Epoch, e.LR, e.TrainLoss, e.TrainAcc, e.TestLoss, e.TestAcc, e.Elapsed})
		}
		return out
	})
}

// MeasurementsTable is every run's named measurements (posts 5-7), each
// value the JSON the analysis stored.
func MeasurementsTable(d *Data, ms map[int64][]results.Measurement) Table {
	return childTable(d, "measurements", []Column{{"name", TypeString}, {"value", TypeJSON}}, func(r results.Run) [][]any {
		var out [][]any
		for _, m := range ms[r.ID] {
			out = append(out, []any{m.Name, m.JSON})
		}
		return out
	})
}

// LayerStatsTable is every run's per-layer statistics (post 6).
func LayerStatsTable(d *Data, ls map[int64][]results.LayerStat) Table {
	return childTable(d, "layer_stats", []Column{{"step", TypeInt}, {"epoch", TypeFloat}, {"layer", TypeString},
		{"weight_norm", TypeFloat}, {"grad_norm", TypeFloat}, {"update_ratio", TypeFloat}}, func(r results.Run) [][]any {
		var out [][]any
		for _, s := range ls[r.ID] {
			out = append(out, []any{s.Step, s.Epoch, s.Layer, s.WeightNorm, s.GradNorm, s.UpdateRatio})
		}
		return out
	})
}

// cellText formats a value for CSV: "" for an absent one.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if !finite(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case uint64:
		return strconv.FormatUint(x, 10)
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(x)
	}
}

// WriteCSV writes the table: a header line, then one line per row.
func (t Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		head[i] = c.Name
	}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("%s csv: %w", t.Name, err)
	}
	rec := make([]string, len(t.Columns))
	for _, row := range t.Rows {
		for i, v := range row {
			rec[i] = cellText(v)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("%s csv: %w", t.Name, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("%s csv: %w", t.Name, err)
	}
	return nil
}

// jsonCell encodes a value for JSON: null for an absent one, a json
// column's text as the value itself.
func jsonCell(v any, typ ColumnType) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return []byte("null"), nil
	case float64:
		if !finite(x) {
			return []byte("null"), nil
		}
	case time.Time:
		if x.IsZero() {
			return []byte("null"), nil
		}
		v = x.UTC().Format(time.RFC3339Nano)
	case string:
		if typ == TypeJSON && json.Valid([]byte(x)) {
			return []byte(x), nil
		}
	}
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// WriteJSON writes the tables as one object, {"runs": [...], ...}, each
// row an object with the table's columns as keys in column order.
func WriteJSON(w io.Writer, tables ...Table) error {
	var buf bytes.Buffer
	buf.WriteString("{")
	for ti, t := range tables {
		if ti > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, "\n  %q: [", t.Name)
		for ri, row := range t.Rows {
			if ri > 0 {
				buf.WriteString(",")
			}
			buf.WriteString("\n    {")
			for i, c := range t.Columns {
				if i > 0 {
					buf.WriteString(", ")
				}
				b, err := jsonCell(row[i], c.Type)
				if err != nil {
					return fmt.Errorf("%s json: column %s: %w", t.Name, c.Name, err)
				}
				fmt.Fprintf(&buf, "%q: %s", c.Name, b)
			}
			buf.WriteString("}")
		}
		if len(t.Rows) > 0 {
			buf.WriteString("\n  ")
		}
		buf.WriteString("]")
	}
	buf.WriteString("\n}\n")
	if !json.Valid(buf.Bytes()) {
		return fmt.Errorf("json: the export is not valid JSON")
	}
	_, err := w.Write(buf.Bytes())
	return err
}
