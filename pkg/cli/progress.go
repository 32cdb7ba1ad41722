package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// meter is the progress line of an export, import or check on a terminal
// stderr: the phase, bytes of tree tars done of the total, percent,
// entries, rate and time left, rewritten in place twice a second by its
// own goroutine. The work only adds to its counters (in batches, through
// the transfer.ExportOptions, transfer.ImportOptions or
// envelope.VerifyProgress hooks), so the line costs the hot path next to
// nothing. A nil meter does nothing: that is the meter without a terminal
// or with -q.
type meter struct {
	bytes, entries atomic.Int64

	now   func() time.Time
	width func() int // the terminal's columns, 0 if unknown

	mu        sync.Mutex // guards what follows, and the writes to w
	w         io.Writer
	phase     string
	total     int64
	totalEnts int64
	start     time.Time // when Total was told: the rate's start
	moved     time.Time // when the bytes last grew, as a tick saw it
	seen      int64     // the bytes at that tick
	drawn     bool      // a line is on the screen, not ended
	stopped   bool
	done      chan struct{}
	once      sync.Once
}

// tick is how often the line is rewritten.
const tick = 500 * time.Millisecond

// startMeter starts the progress line on stderr, or returns nil when
// quiet or when stderr is no terminal. It draws nothing until the work
// names its first phase.
func startMeter(quiet bool, stderr io.Writer) *meter {
	if quiet || !isTerminal(stderr) {
		return nil
	}
	m := newMeter(stderr, time.Now, func() int { return termWidth(stderr) })
	go m.run()
	return m
}

// newMeter is a meter that draws only when told to (draw, stop without
// run): the tests' clock and width go in here.
func newMeter(w io.Writer, now func() time.Time, width func() int) *meter {
	return &meter{w: w, now: now, width: width, done: make(chan struct{})}
}

func (m *meter) run() {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			m.draw()
		case <-m.done:
			return
		}
	}
}

// Total starts the count (envelope.Progress).
func (m *meter) Total(bytes, entries int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytes.Store(0)
	m.entries.Store(0)
	m.total, m.totalEnts = bytes, entries
	m.start = m.now()
	m.moved, m.seen = m.start, 0
}

// Add counts work done (envelope.Progress).
func (m *meter) Add(bytes, entries int64) {
	m.bytes.Add(bytes)
	m.entries.Add(entries)
}

// Phase names what is being done (envelope.Progress).
func (m *meter) Phase(name string) {
	m.mu.Lock()
	m.phase = name
	m.mu.Unlock()
}

// draw rewrites the line: a carriage return, the line, and "erase to the
// end of the line" for what a longer line before it left.
func (m *meter) draw() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.phase == "" || m.stopped {
		return
	}
	fmt.Fprintf(m.w, "\r%s\x1b[K", m.stateLocked().line(m.width()))
	m.drawn = true
}

// stateLocked is what the line shows now. The rate is of the time that
// bytes moved: a phase after the last byte (verifying, syncing) does not
// drag it down.
func (m *meter) stateLocked() meterState {
	s := meterState{phase: m.phase, done: m.bytes.Load(), total: m.total, entries: m.entries.Load(), totalEntries: m.totalEnts}
	if !m.start.IsZero() {
		if s.done != m.seen {
			m.moved, m.seen = m.now(), s.done
		}
		s.elapsed = m.moved.Sub(m.start)
	}
	return s
}

// stop draws the line a last time and ends it with a newline, so that
// whatever is printed next starts on a line of its own. It may be called
// more than once, and on a nil meter.
func (m *meter) stop() {
	if m == nil {
		return
	}
	m.once.Do(func() {
		close(m.done)
		m.draw()
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.drawn {
			fmt.Fprintln(m.w)
			m.drawn = false
		}
		m.stopped = true
	})
}

// stderr is w with the line kept out of the way: a message written while
// the line is on the screen replaces it (the next tick draws it again
// below). A nil meter returns w.
func (m *meter) stderr(w io.Writer) io.Writer {
	if m == nil {
		return w
	}
	return meterWriter{m: m, w: w}
}

type meterWriter struct {
	m *meter
	w io.Writer
}

func (mw meterWriter) Write(p []byte) (int, error) {
	mw.m.mu.Lock()
	defer mw.m.mu.Unlock()
	if mw.m.drawn {
		io.WriteString(mw.w, "\r\x1b[K")
		mw.m.drawn = false
	}
	return mw.w.Write(p)
}

// meterState is one reading of a meter.
type meterState struct {
	phase                 string
	done, total           int64 // bytes of tree tars; total 0 when unknown
	entries, totalEntries int64
	elapsed               time.Duration // of moving bytes
}

// line formats s in at most width-1 columns (a full last column makes
// some terminals wrap), dropping the least useful fields first: time
// left, rate, entries. For example:
//
//	reading    1.21 GiB / 4.00 GiB  30%  12005/40000 entries  125 MiB/s  0:23 left
func (s meterState) line(width int) string {
	if width <= 0 {
		width = 80
	}
	fields := make([]string, 0, 6)
	fields = append(fields, fmt.Sprintf("%-9s", s.phase))
	switch {
	case s.total > 0:
		fields = append(fields, humanBytes(s.done)+" / "+humanBytes(s.total), fmt.Sprintf("%3d%%", percent(s.done, s.total)))
	case s.done > 0:
		fields = append(fields, humanBytes(s.done))
	}
	if s.totalEntries > 0 {
		fields = append(fields, fmt.Sprintf("%d/%d entries", s.entries, s.totalEntries))
	} else {
		fields = append(fields, fmt.Sprintf("%d entries", s.entries))
	}
	var rate float64
	if s.elapsed > 0 && s.done > 0 {
		rate = float64(s.done) / s.elapsed.Seconds()
		fields = append(fields, humanBytes(int64(rate))+"/s")
	}
	if rate > 0 && s.total > s.done {
		left := time.Duration(float64(s.total-s.done) / rate * float64(time.Second))
		fields = append(fields, clock(left)+" left")
	}
	// The phase and the bytes stay, cut if they must.
	n := len(fields)
	for n > 2 && len(strings.Join(fields[:n], "  ")) >= width {
		n--
	}
	l := strings.Join(fields[:n], "  ")
	if len(l) >= width {
		l = l[:width-1]
	}
	return l
}

// percent is done of total in whole percent, rounded down, so that 100%
// means all of it; at most 100 whatever an envelope declared.
func percent(done, total int64) int64 {
	if done >= total {
		return 100
	}
	return int64(float64(done) / float64(total) * 100)
}

// humanBytes is n in binary units with three significant digits:
// "512 B", "1.50 KiB", "25.6 MiB", "257 MiB", "1.21 GiB".
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	unit := 0
	for v >= 1024 && unit < len(binaryUnits)-1 {
		v /= 1024
		unit++
	}
	switch {
	case v < 9.995:
		return fmt.Sprintf("%.2f %s", v, binaryUnits[unit])
	case v < 99.95:
		return fmt.Sprintf("%.1f %s", v, binaryUnits[unit])
	}
	return fmt.Sprintf("%.0f %s", v, binaryUnits[unit])
}

var binaryUnits = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// clock is d as m:ss or h:mm:ss, rounded up to the second: "0:23",
// "12:05", "1:02:03".
func clock(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	h, m, s := secs/3600, secs/60%60, secs%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
