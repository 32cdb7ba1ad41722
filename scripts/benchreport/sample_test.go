package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSampleLine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		time     string
		size     string
		want     string
		wantFail bool
	}{
		{name: "with size", time: "3.41 3.10 0.92 18456\n", size: "221298176\n", want: "3.41 4.02 18456 221298176"},
		{name: "wc -c padding", time: "0.50 0.01 0.02 3520\n", size: "  1234 \n", want: "0.50 0.03 3520 1234"},
		{name: "no size", time: "5.10 1.20 1.00 20480\n", want: "5.10 2.20 20480 -"},
		{name: "no trailing newline", time: "1.00 0.00 0.00 100", want: "1.00 0.00 100 -"},
		// GNU time puts a line before the numbers when the command failed
		// or was signalled; the numbers are on the last line.
		{name: "last line", time: "Command exited with non-zero status 1\n2.00 1.50 0.25 512\n", want: "2.00 1.75 512 -"},
		{name: "sum rounds like printf", time: "1.00 0.125 0.0 1\n", want: "1.00 0.12 1 -"},
		{name: "empty", time: "", wantFail: true},
		{name: "too few values", time: "1.00 0.10 0.20\n", wantFail: true},
		{name: "not a number", time: "1.00 x 0.20 100\n", wantFail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sampleLine(tc.time, tc.size)
			if tc.wantFail {
				if err == nil {
					t.Fatalf("sampleLine(%q) = %q, want an error", tc.time, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("sampleLine(%q, %q) = %q, %v; want %q", tc.time, tc.size, got, err, tc.want)
			}
		})
	}
}

func TestSampleFromFiles(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "time.out")
	sf := filepath.Join(dir, "size.out")
	if err := os.WriteFile(tf, []byte("2.00 1.00 0.50 4096\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sizeFile, want string
	}{
		{"no size file given", "", "2.00 1.50 4096 -"},
		{"size file missing", sf, "2.00 1.50 4096 -"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sampleFromFiles(tf, tc.sizeFile)
			if err != nil || got != tc.want {
				t.Errorf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if err := os.WriteFile(sf, []byte("99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := sampleFromFiles(tf, sf); err != nil || got != "2.00 1.50 4096 99" {
		t.Errorf("with a size file: %q, %v", got, err)
	}
	if _, err := sampleFromFiles(filepath.Join(dir, "nope"), sf); err == nil {
		t.Error("no error for a missing GNU time file")
	}
}
