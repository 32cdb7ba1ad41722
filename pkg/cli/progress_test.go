package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMeterLine(t *testing.T) {
	const (
		KiB = 1 << 10
		MiB = 1 << 20
		GiB = 1 << 30
	)
	for _, tc := range []struct {
		name  string
		s     meterState
		width int
		want  string
	}{
		{"measuring: entries only", meterState{phase: "measuring", entries: 12345}, 120,
			"measuring  12345 entries"},
		{"reading", meterState{phase: "reading", done: 1239 * MiB, total: 4 * GiB, entries: 12005, totalEntries: 40000, elapsed: 10 * time.Second}, 120,
			"reading    1.21 GiB / 4.00 GiB   30%  12005/40000 entries  124 MiB/s  0:24 left"},
		{"small sizes", meterState{phase: "reading", done: 512, total: 1536, entries: 1, totalEntries: 3, elapsed: time.Second}, 120,
			"reading    512 B / 1.50 KiB   33%  1/3 entries  512 B/s  0:02 left"},
		{"percent rounds down", meterState{phase: "reading", done: 999, total: 1000, elapsed: time.Second}, 120,
			"reading    999 B / 1000 B   99%  0 entries  999 B/s  0:01 left"},
		{"a declared total overrun shows 100%", meterState{phase: "reading", done: 2 * KiB, total: KiB, elapsed: time.Second}, 120,
			"reading    2.00 KiB / 1.00 KiB  100%  0 entries  2.00 KiB/s"},
		{"hours left", meterState{phase: "reading", done: 10 * MiB, total: 50 * GiB, entries: 7, totalEntries: 9000000, elapsed: 10 * time.Second}, 120,
			"reading    10.0 MiB / 50.0 GiB    0%  7/9000000 entries  1.00 MiB/s  14:13:10 left"},
		{"verifying: all in, no time left", meterState{phase: "verifying", done: 257 * MiB, total: 257 * MiB, entries: 26000, totalEntries: 26000, elapsed: 2 * time.Second}, 120,
			"verifying  257 MiB / 257 MiB  100%  26000/26000 entries  128 MiB/s"},
		{"no total: bytes only", meterState{phase: "verifying", done: 3 * MiB, entries: 40, elapsed: time.Second}, 120,
			"verifying  3.00 MiB  40 entries  3.00 MiB/s"},
		{"before the first byte", meterState{phase: "reading", total: 5 * GiB, totalEntries: 10}, 120,
			"reading    0 B / 5.00 GiB    0%  0/10 entries"},
		{"80 columns: all of it", meterState{phase: "reading", done: 1239 * MiB, total: 4 * GiB, entries: 12005, totalEntries: 40000, elapsed: 10 * time.Second}, 80,
			"reading    1.21 GiB / 4.00 GiB   30%  12005/40000 entries  124 MiB/s  0:24 left"},
		{"72 columns: time left dropped", meterState{phase: "reading", done: 1239 * MiB, total: 4 * GiB, entries: 12005, totalEntries: 40000, elapsed: 10 * time.Second}, 72,
			"reading    1.21 GiB / 4.00 GiB   30%  12005/40000 entries  124 MiB/s"},
		{"60 columns: rate dropped", meterState{phase: "reading", done: 1239 * MiB, total: 4 * GiB, entries: 12005, totalEntries: 40000, elapsed: 10 * time.Second}, 60,
			"reading    1.21 GiB / 4.00 GiB   30%  12005/40000 entries"},
		{"40 columns: bytes and percent", meterState{phase: "reading", done: 1239 * MiB, total: 4 * GiB, entries: 12005, totalEntries: 40000, elapsed: 10 * time.Second}, 40,
			"reading    1.21 GiB / 4.00 GiB   30%"},
		{"20 columns: cut", meterState{phase: "reading", done: 1239 * MiB, total: 4 * GiB}, 20,
			"reading    1.21 GiB"},
		{"8 columns: the phase, cut", meterState{phase: "swapping", done: 1239 * MiB, total: 4 * GiB}, 8,
			"swappin"},
		{"unknown width: 80", meterState{phase: "reading", done: 1239 * MiB, total: 4 * GiB, entries: 12005, totalEntries: 40000, elapsed: 10 * time.Second}, 0,
			"reading    1.21 GiB / 4.00 GiB   30%  12005/40000 entries  124 MiB/s  0:24 left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.line(tc.width)
			if got != tc.want {
				t.Errorf("line(%d) =\n%q\nwant\n%q", tc.width, got, tc.want)
			}
			w := tc.width
			if w == 0 {
				w = 80
			}
			if len(got) >= w {
				t.Errorf("%d columns for a terminal of %d", len(got), w)
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.00 KiB", 10234: "9.99 KiB", 10235: "10.0 KiB",
		1<<20 - 1: "1024 KiB", 257 << 20: "257 MiB", 5 << 40: "5.00 TiB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newTestMeter(w *bytes.Buffer) (*meter, *fakeClock) {
	c := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newMeter(w, c.now, func() int { return 100 }), c
}

// The meter draws nothing before a phase, then one line rewritten in
// place (carriage return, the line, erase to its end); the rate is of the
// time bytes moved, so a long verification after the last byte does not
// lower it; stop ends the line, and draws no more.
func TestMeterDraws(t *testing.T) {
	var out bytes.Buffer
	m, clock := newTestMeter(&out)
	m.draw()
	if out.Len() != 0 {
		t.Fatalf("drew %q before any phase", out.String())
	}
	m.Phase("measuring")
	m.Add(0, 300)
	m.draw()
	m.Total(100<<20, 1000)
	m.Phase("reading")
	clock.add(2 * time.Second)
	m.Add(50<<20, 500)
	m.draw()
	clock.add(2 * time.Second)
	m.Add(50<<20, 500)
	m.draw()
	m.Phase("verifying")
	clock.add(time.Minute)
	m.draw()
	m.stop()
	m.stop()
	m.draw()
	want := "\rmeasuring  300 entries\x1b[K" +
		"\rreading    50.0 MiB / 100 MiB   50%  500/1000 entries  25.0 MiB/s  0:02 left\x1b[K" +
		"\rreading    100 MiB / 100 MiB  100%  1000/1000 entries  25.0 MiB/s\x1b[K" +
		"\rverifying  100 MiB / 100 MiB  100%  1000/1000 entries  25.0 MiB/s\x1b[K" +
		"\rverifying  100 MiB / 100 MiB  100%  1000/1000 entries  25.0 MiB/s\x1b[K\n"
	if got := out.String(); got != want {
		t.Errorf("drew\n%q\nwant\n%q", got, want)
	}
}

// A message written while the line is up replaces it instead of running
// on after it; one written after stop is left alone.
func TestMeterMessages(t *testing.T) {
	var out bytes.Buffer
	m, _ := newTestMeter(&out)
	stderr := m.stderr(&out)
	stderr.Write([]byte("before\n"))
	m.Phase("reading")
	m.draw()
	stderr.Write([]byte("warning\n"))
	stderr.Write([]byte("again\n"))
	m.draw()
	m.stop()
	stderr.Write([]byte("result\n"))
	want := "before\n\rreading    0 entries\x1b[K\r\x1b[Kwarning\nagain\n\rreading    0 entries\x1b[K\rreading    0 entries\x1b[K\nresult\n"
	if got := out.String(); got != want {
		t.Errorf("wrote\n%q\nwant\n%q", got, want)
	}
	if !strings.HasSuffix(out.String(), "\nresult\n") {
		t.Error("the result is not the last line")
	}
}

// A meter stopped without ever drawing writes nothing, not even a
// newline: an export that fails before it starts prints only its error.
func TestMeterStopUndrawn(t *testing.T) {
	var out bytes.Buffer
	m, _ := newTestMeter(&out)
	m.stop()
	if out.Len() != 0 {
		t.Errorf("wrote %q", out.String())
	}
}

// Without a terminal, or with -q, there is no meter, and a nil meter does
// nothing: stderr is left as it is.
func TestNoMeter(t *testing.T) {
	var out bytes.Buffer
	for _, quiet := range []bool{false, true} {
		m := startMeter(quiet, &out)
		if m != nil {
			t.Fatalf("startMeter(%v, a buffer) made a meter", quiet)
		}
		if w := m.stderr(&out); w != &out {
			t.Errorf("a nil meter wraps stderr")
		}
		m.stop()
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q", out.String())
	}
}
