package plots

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"speedrun/plots/plottest"
	"speedrun/results"
)

// bigSeed is a seed above 2^63: stored bit for bit as a negative int64 in
// SQLite, it must read back unsigned everywhere.
const bigSeed uint64 = 10194869907676980233

// exportFixture is the fixture with one big seed.
func exportFixture(t *testing.T) *Data {
	d := loadFixture(t)
	d.Runs[0].Seed = bigSeed
	return d
}

// TestTablesCSVGolden writes every table of the fixture as CSV, compares
// it with its golden file (-update rewrites them), and has Python's csv
// module read it back and check every cell against its column's declared
// type (testdata/csvtypes.py); the column listing it prints is golden
// too.
func TestTablesCSVGolden(t *testing.T) {
	d := exportFixture(t)
	ms := map[int64][]results.Measurement{d.Runs[0].ID: {{RunID: d.Runs[0].ID, Name: "grid", JSON: `{"lr":[0.1,0.2],"acc":[0.9,null]}`}}}
	ls := map[int64][]results.LayerStat{d.Runs[0].ID: {{RunID: d.Runs[0].ID, Step: 10, Epoch: 0.5, Layer: "conv1", WeightNorm: 3.5, GradNorm: 0.25, UpdateRatio: 1e-3}}}
	python, pyErr := exec.LookPath("python3")
	for _, tb := range []Table{RunsTable(d), VariantsTable(VariantRows(d)), EpochsTable(d), MeasurementsTable(d, ms), LayerStatsTable(d, ls)} {
		t.Run(tb.Name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tb.WriteCSV(&buf); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", tb.Name+".csv")
			if want := plottest.GoldenFile(t, golden, buf.Bytes(), *update); want != nil && !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from %s (go test -update if intended)\n%s", tb.Name, golden, firstDiff(buf.Bytes(), want))
			}
			if pyErr != nil {
				t.Skipf("python3 not found (%v): skipping the check of the column types with Python's csv module", pyErr)
			}
			dir := t.TempDir()
			types := make([][2]string, len(tb.Columns))
			for i, c := range tb.Columns {
				types[i] = [2]string{c.Name, string(c.Type)}
			}
			tj, err := json.Marshal(types)
			if err != nil {
				t.Fatal(err)
			}
			csvPath, typesPath := filepath.Join(dir, tb.Name+".csv"), filepath.Join(dir, "types.json")
			if err := os.WriteFile(csvPath, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(typesPath, tj, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(python, filepath.Join("testdata", "csvtypes.py"), csvPath, typesPath).CombinedOutput()
			if err != nil {
				t.Fatalf("csvtypes.py: %v\n%s", err, out)
			}
			golden = filepath.Join("testdata", "golden", tb.Name+"-columns.txt")
			if want := plottest.GoldenFile(t, golden, out, *update); want != nil && !bytes.Equal(out, want) {
				t.Errorf("the column types differ from %s (go test -update if intended)\n%s", golden, firstDiff(out, want))
			}
		})
	}
}

// TestRunsTableValues checks what the columns mean: unsigned seeds,
// nulls for absent values, registry order and the flattened config.
func TestRunsTableValues(t *testing.T) {
	d := exportFixture(t)
	tb := RunsTable(d)
	col := func(name string) int {
		i := slices.IndexFunc(tb.Columns, func(c Column) bool { return c.Name == name })
		if i < 0 {
			t.Fatalf("runs has no column %s", name)
		}
		return i
	}
	var buf bytes.Buffer
	if err := tb.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs)-1 != len(d.Runs) {
		t.Fatalf("%d rows, want %d", len(recs)-1, len(d.Runs))
	}
	byID := map[string][]string{}
	for _, r := range recs[1:] {
		byID[r[col("id")]] = r
	}
	if got := byID["1"][col("seed")]; got != "10194869907676980233" {
		t.Errorf("seed = %q, want the unsigned 10194869907676980233", got)
	}
	for _, r := range d.Runs {
		rec := byID[strconv.FormatInt(r.ID, 10)]
		div := rec[col("diverged_epoch")]
		if (r.Status == results.StatusDiverged) != (div != "") {
			t.Errorf("run %d (%s): diverged_epoch %q: want empty unless it diverged", r.ID, r.Status, div)
		}
		if r.Status == results.StatusInterrupted && (rec[col("accuracy")] != "" || rec[col("test_acc")] != "") {
			t.Errorf("run %d (%s): an accuracy %q, want none", r.ID, r.Status, rec[col("accuracy")])
		}
		if rec[col("train.epochs")] == "" || rec[col("net.name")] == "" || !strings.HasPrefix(rec[col("train.lr")], "[{") {
			t.Errorf("run %d: config columns train.epochs %q net.name %q train.lr %q", r.ID, rec[col("train.epochs")], rec[col("net.name")], rec[col("train.lr")])
		}
	}
	for _, name := range []string{"test_loss", "peak_rss", "attempts", "precision", "overrides", "series"} {
		col(name)
	}
	// The GPU series records its override.
	found := false
	for _, r := range recs[1:] {
		found = found || r[col("overrides")] == "train.epochs=2" && r[col("precision")] == "bf16"
	}
	if !found {
		t.Error("no run with its override and precision")
	}
	// Registry order: p4.s9 before p4.s10 (alphabetical order would put
	// p4.s10 first), stage 4 before stage 8.
	var order []string
	for _, r := range recs[1:] {
		if k := r[col("stage")] + " " + r[col("variant")]; !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	if want := []string{"4 p4.s9", "4 p4.s10", "8 p8.s7", "8 p8.s8", "8 " + hostileName}; !slices.Equal(order, want) {
		t.Errorf("row order %q, want registry order %q", order, want)
	}
}

// TestWriteJSONTables: JSON holds the tables asked for, with nulls, the
// unsigned seed exact and json columns as values.
func TestWriteJSONTables(t *testing.T) {
	d := exportFixture(t)
	ms := map[int64][]results.Measurement{1: {{RunID: 1, Name: "grid", JSON: `{"lr":[0.1]}`}}}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, VariantsTable(VariantRows(d)), MeasurementsTable(d, ms)); err != nil {
		t.Fatal(err)
	}
	var doc map[string][]map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.Bytes())
	}
	if len(doc) != 2 || doc["variants"] == nil || doc["measurements"] == nil {
		t.Fatalf("tables %v, want variants and measurements", slices.Collect(maps.Keys(doc)))
	}
	if got := string(doc["measurements"][0]["value"]); got != `{"lr":[0.1]}` {
		t.Errorf("measurement value %s, want the JSON itself", got)
	}
	buf.Reset()
	if err := WriteJSON(&buf, RunsTable(d)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"seed": 10194869907676980233,`) {
		t.Error("the big seed is not written as an unsigned integer")
	}
}

func TestSeriesLabels(t *testing.T) {
	cpuA := SeriesKey{Profile: "demo", Dataset: "synthetic", Backend: "cpu", Device: "AMD EPYC", Precision: "f32"}
	cpuB := SeriesKey{Profile: "demo", Dataset: "synthetic", Backend: "cpu", Device: "Intel Xeon", Precision: "f32"}
	gpu := SeriesKey{Profile: "paper", Dataset: "cifar10", Backend: "cuda", Device: "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)", Precision: "bf16"}
	old := SeriesKey{Profile: "quick", Dataset: "cifar10", Backend: "cpu", Device: "AMD EPYC"}
	bf := SeriesKey{Profile: "quick", Dataset: "cifar10", Backend: "cpu", Device: "AMD EPYC", Precision: "bf16"}
	ov := SeriesKey{Profile: "smoke", Dataset: "synthetic", Backend: "cpu", Device: "AMD EPYC", Precision: "f32", Overrides: "train.epochs=1"}
	tests := []struct {
		keys []SeriesKey
		want []string
	}{
		{[]SeriesKey{cpuA}, []string{"demo · synthetic · CPU"}},
		{[]SeriesKey{cpuA, cpuB}, []string{"demo · synthetic · CPU AMD EPYC", "demo · synthetic · CPU Intel Xeon"}},
		{[]SeriesKey{gpu}, []string{"paper · cifar10 · GPU · bf16"}},
		{[]SeriesKey{old, bf}, []string{"quick · cifar10 · CPU", "quick · cifar10 · CPU · bf16"}},
		{[]SeriesKey{ov}, []string{"smoke · synthetic · CPU · train.epochs=1"}},
	}
	for _, tt := range tests {
		got := SeriesLabels(tt.keys)
		for i, k := range tt.keys {
			if got[k] != tt.want[i] {
				t.Errorf("SeriesLabels(%v)[%d] = %q, want %q", tt.keys, i, got[k], tt.want[i])
			}
		}
	}
	for in, want := range map[string]string{"synthetic(seed=0,512/256)": "synthetic", "cifar10[8000/2000]": "cifar10", "cifar10": "cifar10", "": "unknown data"} {
		if got := DatasetName(in); got != want {
			t.Errorf("DatasetName(%q) = %q, want %q", in, got, want)
		}
	}
}
