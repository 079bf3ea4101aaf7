package plots

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"speedrun/results"
)

// column is one exported field: its name and its value for a row.
type column[T any] struct {
	name string
	get  func(T) any
}

// runColumns are the per-run table's columns, shared by CSV and JSON.
var runColumns = []column[results.Run]{
	{"id", func(r results.Run) any { return r.ID }},
	{"stage", func(r results.Run) any { return r.Stage }},
	{"variant", func(r results.Run) any { return r.Variant }},
	{"profile", func(r results.Run) any { return r.Profile }},
	{"repeat", func(r results.Run) any { return r.Repeat }},
	{"seed", func(r results.Run) any { return r.Seed }},
	{"status", func(r results.Run) any { return string(r.Status) }},
	{"error", func(r results.Run) any { return r.Error }},
	{"accuracy", func(r results.Run) any { return Accuracy(r) }},
	{"test_acc", func(r results.Run) any { return r.TestAcc }},
	{"tta_acc", func(r results.Run) any { return r.TTAAcc }},
	{"diverged_epoch", func(r results.Run) any { return r.DivergedEpoch }},
	{"preprocess_s", func(r results.Run) any { return r.PreprocessSeconds }},
	{"train_s", func(r results.Run) any { return r.TrainSeconds }},
	{"eval_s", func(r results.Run) any { return r.EvalSeconds }},
	{"total_s", func(r results.Run) any { return r.TotalSeconds }},
	{"time_train_eval_s", func(r results.Run) any { return TimeIn(r, TimingTrainEval) }},
	{"time_dawn_s", func(r results.Run) any { return TimeIn(r, TimingDawn) }},
	{"cpu_s", func(r results.Run) any { return r.CPUSeconds }},
	{"load_start", func(r results.Run) any { return r.LoadStart }},
	{"config_hash", func(r results.Run) any { return r.ConfigHash }},
	{"dataset", func(r results.Run) any { return r.Dataset }},
	{"dataset_sum", func(r results.Run) any { return r.DataSum }},
	{"host", func(r results.Run) any { return r.Host }},
	{"backend", func(r results.Run) any { return r.Backend }},
	{"device", func(r results.Run) any { return r.Device }},
	{"git_rev", func(r results.Run) any { return r.GitRev }},
	{"git_dirty", func(r results.Run) any { return r.GitDirty }},
	{"go_version", func(r results.Run) any { return r.GoVersion }},
	{"lib_version", func(r results.Run) any { return r.LibVersion }},
	{"started", func(r results.Run) any { return r.Started }},
	{"finished", func(r results.Run) any { return r.Finished }},
}

// VariantRow is one row of the per-variant table: a Group's statistics
// with the blog's numbers beside them.
type VariantRow struct {
	Group *Group
	Stats *Stats
}

var variantColumns = []column[VariantRow]{
	{"stage", func(v VariantRow) any { return v.Group.Stage }},
	{"variant", func(v VariantRow) any { return v.Group.Variant.Name }},
	{"profile", func(v VariantRow) any { return v.Group.Profile }},
	{"title", func(v VariantRow) any { return v.Group.Variant.Title }},
	{"registered", func(v VariantRow) any { return v.Group.Registered }},
	{"runs", func(v VariantRow) any { return v.Stats.Runs }},
	{"done", func(v VariantRow) any { return v.Stats.Done }},
	{"diverged", func(v VariantRow) any { return v.Stats.Diverged }},
	{"other", func(v VariantRow) any { return v.Stats.Other }},
	{"n", func(v VariantRow) any { return v.Stats.N }},
	{"acc_mean", func(v VariantRow) any { return v.Stats.AccMean }},
	{"acc_std", func(v VariantRow) any { return v.Stats.AccStd }},
	{"acc_median", func(v VariantRow) any { return v.Stats.Median.Center }},
	{"acc_median_lo", func(v VariantRow) any { return v.Stats.Median.Lo }},
	{"acc_median_hi", func(v VariantRow) any { return v.Stats.Median.Hi }},
	{"acc_median_confidence", func(v VariantRow) any { return v.Stats.Median.Confidence }},
	{"reached94", func(v VariantRow) any { return v.Stats.Reached94.K }},
	{"reached94_of", func(v VariantRow) any { return v.Stats.Reached94.N }},
	{"reached94_lo", func(v VariantRow) any { return v.Stats.Reached94.Lo }},
	{"reached94_hi", func(v VariantRow) any { return v.Stats.Reached94.Hi }},
	{"timing", func(v VariantRow) any { return v.Stats.Timing }},
	{"time_mean_s", func(v VariantRow) any { return v.Stats.Time }},
	{"time_std_s", func(v VariantRow) any { return v.Stats.TimeStd }},
	{"time_train_eval_mean_s", func(v VariantRow) any { return v.Stats.TrainEvalMean }},
	{"time_dawn_mean_s", func(v VariantRow) any { return v.Stats.DawnMean }},
	{"published_time_s", func(v VariantRow) any { return zeroNaN(v.Group.Variant.Published.TimeSeconds) }},
	{"published_acc", func(v VariantRow) any { return zeroNaN(v.Group.Variant.Published.Accuracy) }},
	{"published_epochs", func(v VariantRow) any { return v.Group.Variant.Published.Epochs }},
	{"published_hardware", func(v VariantRow) any { return v.Group.Variant.Published.Hardware }},
	{"published_runs94", func(v VariantRow) any { return v.Group.Variant.Published.Runs94 }},
	{"published_source", func(v VariantRow) any { return v.Group.Variant.Published.Source }},
	{"published_unverified", func(v VariantRow) any { return v.Group.Variant.Published.Unverified }},
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

// csvCell formats a value for CSV: floats in shortest round-trip form,
// NaN and Inf as an empty cell, times in RFC 3339 (empty when zero).
func csvCell(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if !finite(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(x)
	}
}

// jsonValue maps NaN and Inf to null, which JSON cannot carry otherwise.
func jsonValue(v any) any {
	switch x := v.(type) {
	case float64:
		if !finite(x) {
			return nil
		}
	case time.Time:
		if x.IsZero() {
			return nil
		}
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}

func writeCSV[T any](w io.Writer, cols []column[T], rows []T) error {
	cw := csv.NewWriter(w)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.name
	}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	rec := make([]string, len(cols))
	for _, r := range rows {
		for i, c := range cols {
			rec[i] = csvCell(c.get(r))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}

func jsonRows[T any](cols []column[T], rows []T) []map[string]any {
	out := make([]map[string]any, 0, len(rows))
	for _, r := range rows {
		m := make(map[string]any, len(cols))
		for _, c := range cols {
			m[c.name] = jsonValue(c.get(r))
		}
		out = append(out, m)
	}
	return out
}

// WriteRunsCSV writes the per-run table: a header line, then one line per
// run in runs' order. Empty cells are NaN (no accuracy) or unset times.
func WriteRunsCSV(w io.Writer, runs []results.Run) error {
	return writeCSV(w, runColumns, runs)
}

// WriteVariantsCSV writes the per-variant table: one line per (stage,
// profile, variant) with runs.
func WriteVariantsCSV(w io.Writer, rows []VariantRow) error {
	return writeCSV(w, variantColumns, rows)
}

// WriteJSON writes {"runs": [...], "variants": [...]} with the same
// columns as the CSV tables as object keys, and null for NaN.
func WriteJSON(w io.Writer, runs []results.Run, rows []VariantRow) error {
	doc := struct {
		Runs     []map[string]any `json:"runs"`
		Variants []map[string]any `json:"variants"`
	}{jsonRows(runColumns, runs), jsonRows(variantColumns, rows)}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	if err := e.Encode(doc); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}
