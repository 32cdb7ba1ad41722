// Package tally counts the bytes and entries of a pass over a tree in
// batches, for a progress line: the goroutine doing the work adds to plain
// fields and tells the sink (a few atomic counters read by a ticker) only
// every batchBytes bytes or batchEntries entries, so that a progress line
// costs the hot path an addition and a comparison.
package tally

import "io"

// Sink is told what a Counter counted since it last told it.
type Sink interface {
	Add(bytes, entries int64)
}

// The batch sizes: at a few hundred MB/s, a sink hears a few hundred
// times a second, far more than a line printed twice a second needs, and
// far less than once a tar block or an entry.
const (
	batchBytes   = 256 << 10
	batchEntries = 256
)

// Counter counts for one goroutine. A nil Counter counts nothing.
type Counter struct {
	sink           Sink
	bytes, entries int64
}

// New returns a counter for s, or nil when s is nil.
func New(s Sink) *Counter {
	if s == nil {
		return nil
	}
	return &Counter{sink: s}
}

// Bytes counts n bytes.
func (c *Counter) Bytes(n int) {
	if c == nil {
		return
	}
	c.bytes += int64(n)
	if c.bytes >= batchBytes {
		c.Flush()
	}
}

// Entries counts n entries.
func (c *Counter) Entries(n int64) {
	if c == nil {
		return
	}
	c.entries += n
	if c.entries >= batchEntries {
		c.Flush()
	}
}

// Flush tells the sink what is counted and not yet told: at the end of a
// pass, so that the sink's sums come out whole.
func (c *Counter) Flush() {
	if c == nil || c.bytes == 0 && c.entries == 0 {
		return
	}
	c.sink.Add(c.bytes, c.entries)
	c.bytes, c.entries = 0, 0
}

// Reader counts the bytes read through it. With a nil counter it returns
// r itself.
func Reader(r io.Reader, c *Counter) io.Reader {
	if c == nil {
		return r
	}
	return &reader{r: r, c: c}
}

type reader struct {
	r io.Reader
	c *Counter
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.c.Bytes(n)
	return n, err
}
