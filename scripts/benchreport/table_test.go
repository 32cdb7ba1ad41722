package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTablesGolden prints the tables of a recorded run and compares them
// with testdata/tables.golden, which is what bench.sh's awk programs (before
// they moved here) printed for the same samples, plus the output size ratio
// of the zstd row: the same calls of its table function, each table after
// an empty line.
func TestTablesGolden(t *testing.T) {
	exp := []string{"exp", "exp_zstd", "exp_gzip", "tar", "tar_gzip1", "tar_pigz", "tar_zstd", "commit_save", "docker_export"}
	imp := []string{"imp", "tarx", "tarx_sync", "check"}
	var got bytes.Buffer
	for _, tc := range []struct {
		fixture string
		keys    []string
	}{
		{"small", exp}, {"small", imp},
		{"large", exp}, {"large", imp},
		{"million", []string{"m_exp", "m_check", "m_imp"}},
	} {
		got.WriteString("\n")
		if err := writeTable(&got, filepath.Join("testdata", "results"), tc.fixture, tc.keys); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(filepath.Join("testdata", "tables.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("tables differ from testdata/tables.golden\ngot:\n%s\nwant:\n%s", got.String(), want)
	}
}

func TestParseRow(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		walls     []float64
		sizes     int
		runs      int
		fails     int
		wantError bool
	}{
		{name: "empty", in: ""},
		{name: "single", in: "1.00 2.00 3 4\n", walls: []float64{1}, sizes: 1, runs: 1},
		{name: "no size", in: "1.00 2.00 3 -\n2.00 2.00 3 -\n", walls: []float64{1, 2}, runs: 2},
		{name: "fails", in: "FAIL\n1.00 2.00 3 4\nFAIL\n", walls: []float64{1}, sizes: 1, runs: 3, fails: 2},
		{name: "all failed", in: "FAIL\nFAIL\n", runs: 2, fails: 2},
		{name: "too few values", in: "1.00 2.00 3\n", wantError: true},
		{name: "not a number", in: "1.00 x 3 4\n", wantError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rw, err := parseRow(strings.NewReader(tc.in))
			if tc.wantError {
				if err == nil {
					t.Fatalf("no error for %q", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rw.cols[colWall]) != len(tc.walls) || rw.runs != tc.runs || rw.fails != tc.fails || len(rw.cols[colSize]) != tc.sizes {
				t.Fatalf("parseRow(%q) = %+v", tc.in, rw)
			}
			for i, w := range tc.walls {
				if rw.cols[colWall][i] != w {
					t.Errorf("wall %d = %v, want %v", i, rw.cols[colWall][i], w)
				}
			}
		})
	}
}

func TestRowLine(t *testing.T) {
	runs := func(in string) row {
		rw, err := parseRow(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		return rw
	}
	for _, tc := range []struct {
		name  string
		rw    row
		peers []peerWall
		want  string
	}{
		{
			name: "single run, no peers",
			rw:   runs("48.12 40.33 38912 183500800\n"),
			want: "| L | 48.12 | 48.12–48.12 | 40.33 | 38 | 175.0 |  |",
		},
		{
			name:  "odd runs, two peers",
			rw:    runs("3.41 4.02 18456 1048576\n3.38 3.97 18460 1048576\n3.52 4.10 18452 1048576\n"),
			peers: []peerWall{{name: "tar", wall: "2.95"}, {name: "commit+save", wall: "21.34"}},
			want:  "| L | 3.41 | 3.38–3.52 | 4.02 | 18 | 1.0 | 1.16× tar; 0.16× commit+save |",
		},
		{
			name:  "even runs, a peer of no time",
			rw:    runs("5.10 2.20 20480 -\n5.30 2.25 20484 -\n"),
			peers: []peerWall{{name: "tar -x+sync", wall: "0.00"}},
			want:  "| L | 5.20 | 5.10–5.30 | 2.23 | 20 | - | ∞ tar -x+sync |",
		},
		{
			name:  "ratio of the printed medians",
			rw:    runs("1.004 1 1024 -\n"), // printed 1.00: the ratio is 1.00/0.50
			peers: []peerWall{{name: "p", wall: "0.50"}},
			want:  "| L | 1.00 | 1.00–1.00 | 1.00 | 1 | - | 2.00× p |",
		},
		{
			name:  "a peer without runs",
			rw:    runs("1.00 1.00 1024 -\n"),
			peers: []peerWall{{name: "p", wall: "-"}},
			want:  "| L | 1.00 | 1.00–1.00 | 1.00 | 1 | - |  |",
		},
		{
			name:  "some failed",
			rw:    runs("2.50 3.10 25600 80000000\nFAIL\n2.70 3.30 25601 80000001\n"),
			peers: []peerWall{{name: "tar\\|pigz", wall: "4.20"}},
			want:  "| L | 2.60 | 2.50–2.70 | 3.20 | 25 | 76.3 | 0.62× tar\\|pigz; **1 of 3 runs FAILED** |",
		},
		{
			name:  "output size",
			rw:    runs("2.00 3.00 25600 104857600\n"),
			peers: []peerWall{{name: "tar\\|zstd", wall: "2.50"}, {name: "tar\\|zstd", wall: "98.0", size: true}},
			want:  "| L | 2.00 | 2.00–2.00 | 3.00 | 25 | 100.0 | 0.80× tar\\|zstd; output 1.02× tar\\|zstd |",
		},
		{
			name:  "all failed",
			rw:    runs("FAIL\nFAIL\n"),
			peers: []peerWall{{name: "tar", wall: "2.95"}},
			want:  "| L | - | - | - | - | - | **2 of 2 runs FAILED** |",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rowLine("L", tc.rw, tc.peers); got != tc.want+"\n" {
				t.Errorf("rowLine =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestWriteTableRows(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("f.exp", "2.00 1.00 1024 1048576\n")
	write("f.commit_save", "FAIL\n")
	var b bytes.Buffer
	// tar has no file: its row is left out, and so is exp's ratio to it;
	// commit_save failed every run: it has no median to compare with.
	if err := writeTable(&b, dir, "f", []string{"exp", "tar", "commit_save"}); err != nil {
		t.Fatal(err)
	}
	want := tableHeader +
		"| `layer-export C` | 2.00 | 2.00–2.00 | 1.00 | 1 | 1.0 |  |\n" +
		"| `docker commit` + `docker save` | - | - | - | - | - | **1 of 1 runs FAILED** |\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	if err := writeTable(&b, dir, "f", []string{"nope"}); err == nil {
		t.Error("no error for an unknown row")
	}
	write("f.tar", "1.00 oops 1 1\n")
	if err := writeTable(&b, dir, "f", []string{"exp"}); err == nil || !strings.Contains(err.Error(), "f.tar") {
		t.Errorf("a peer's bad sample file: error %v, want one naming f.tar", err)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "time.out")
	if err := os.WriteFile(tf, []byte("1.50 1.00 0.25 2048\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{args: []string{"-h"}, code: 0, stdout: usage},
		{args: nil, code: 2, stderrPart: "no command"},
		{args: []string{"frobnicate"}, code: 2, stderrPart: `unknown command "frobnicate"`},
		{args: []string{"mib"}, code: 2, stderrPart: "wrong number of arguments for mib"},
		{args: []string{"table", dir, "f"}, code: 2, stderrPart: "wrong number of arguments for table"},
		{args: []string{"table", dir, "f", "nope"}, code: 2, stderrPart: `unknown row "nope"`},
		{args: []string{"mib", "1572864"}, code: 0, stdout: "1.5\n"},
		{args: []string{"sample", tf}, code: 0, stdout: "1.50 1.25 2048 -\n"},
		{args: []string{"sample", filepath.Join(dir, "nope")}, code: 1, stderrPart: "read GNU time output"},
		{args: []string{"table", dir, "f", "exp"}, code: 0, stdout: tableHeader},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code || stdout.String() != tc.stdout || !strings.Contains(stderr.String(), tc.stderrPart) {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q", tc.args, code, stdout.String(), stderr.String())
			}
		})
	}
}
