package main

import (
	"fmt"
	"slices"
	"strconv"
)

// The numbers come out as bench.sh's awk programs printed them: C's printf
// and Go's strconv both round the exact binary value, ties to even, so a
// report reads the same whichever of the two made it.

// median is the middle of vals, or the mean of the two middle values for an
// even count; ok is false when vals is empty.
func median(vals []float64) (m float64, ok bool) {
	if len(vals) == 0 {
		return 0, false
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// medianText is the median with two decimals, or "-" when vals is empty.
func medianText(vals []float64) string {
	m, ok := median(vals)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", m)
}

// spread is "min–max" of vals with two decimals, or "-" when vals is empty.
func spread(vals []float64) string {
	if len(vals) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(vals), slices.Max(vals))
}

// ratio is a/b with two decimals and a times sign, or "∞" when b is not
// positive (a peer that took no measurable time).
func ratio(a, b float64) string {
	if b > 0 {
		return fmt.Sprintf("%.2f×", a/b)
	}
	return "∞"
}

// mib is a byte count in MiB with one decimal; "-" (no count) and anything
// that is not a number stay "-".
func mib(bytes string) string {
	return scaled(bytes, 1<<20, "%.1f")
}

// kibToMiB is a KiB count in whole MiB; "-" stays "-".
func kibToMiB(kib string) string {
	return scaled(kib, 1<<10, "%.0f")
}

func scaled(v string, unit float64, format string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return "-"
	}
	return fmt.Sprintf(format, f/unit)
}
