package main

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vals   []float64
		want   float64
		wantOK bool
	}{
		{"none", nil, 0, false},
		{"single", []float64{3.41}, 3.41, true},
		{"odd", []float64{3.41, 3.38, 3.52, 3.40, 3.45}, 3.41, true},
		{"even", []float64{1.00, 1.01, 1.20, 0.99}, 1.005, true},
		{"two", []float64{12, 13}, 12.5, true},
		{"duplicates", []float64{2, 2, 1, 2}, 2, true},
		{"three unsorted", []float64{9.95, 10.20, 9.80}, 9.95, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.vals...)
			got, ok := median(tc.vals)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("median(%v) = %v, %v; want %v, %v", tc.vals, got, ok, tc.want, tc.wantOK)
			}
			for i := range in { // the caller's order is left alone
				if tc.vals[i] != in[i] {
					t.Fatalf("median reordered its input: %v", tc.vals)
				}
			}
		})
	}
}

func TestMedianText(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals []float64
		want string
	}{
		{"none", nil, "-"},
		{"single", []float64{0.995}, "0.99"}, // 0.995 is 0.99499... in binary, as awk saw it
		{"odd", []float64{5.10, 5.30, 5.00, 5.20, 5.15}, "5.15"},
		{"even, mean below the tie", []float64{1.00, 1.01}, "1.00"},
		{"even, exact tie down to even", []float64{0.125, 0.125}, "0.12"},
		{"odd, exact tie up to even", []float64{0.375}, "0.38"},
		{"integers", []float64{18456, 18460, 18452}, "18456.00"},
		{"even integers", []float64{2560, 1536}, "2048.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := medianText(tc.vals); got != tc.want {
				t.Errorf("medianText(%v) = %q, want %q", tc.vals, got, tc.want)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals []float64
		want string
	}{
		{"none", nil, "-"},
		{"single", []float64{48.12}, "48.12–48.12"},
		{"odd", []float64{3.41, 3.38, 3.52}, "3.38–3.52"},
		{"even", []float64{0.995, 1.00, 1.20, 0.99}, "0.99–1.20"},
		{"equal", []float64{0, 0}, "0.00–0.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := spread(tc.vals); got != tc.want {
				t.Errorf("spread(%v) = %q, want %q", tc.vals, got, tc.want)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		a, b float64
		want string
	}{
		{3.41, 2.95, "1.16×"},
		{3.41, 21.34, "0.16×"},
		{7.2, 3.6, "2.00×"},
		{0, 1, "0.00×"},
		{5.15, 0, "∞"},
		{0, 0, "∞"},
		{1, -1, "∞"},
		{1, math.Inf(1), "0.00×"},
	} {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(string) string
		in   string
		want string
	}{
		{"mib none", mib, "-", "-"},
		{"mib not a number", mib, "", "-"},
		{"mib zero", mib, "0", "0.0"},
		{"mib bytes", mib, "221298176", "211.0"},
		{"mib median text", mib, "80000000.50", "76.3"},
		{"mib just under a tenth", mib, "104857", "0.1"},
		{"mib tie down to even", mib, "262144", "0.2"},
		{"mib tie up to even", mib, "786432", "0.8"},
		{"rss none", kibToMiB, "-", "-"},
		{"rss", kibToMiB, "18456.00", "18"},
		{"rss tie down to even", kibToMiB, "2560.00", "2"},
		{"rss tie up to even", kibToMiB, "1536.00", "2"},
		{"rss tie 3.5", kibToMiB, "3584.00", "4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f(tc.in); got != tc.want {
				t.Errorf("(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
