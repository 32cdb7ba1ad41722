package tally

import (
	"bytes"
	"io"
	"testing"
)

type sum struct{ bytes, entries, calls int64 }

func (s *sum) Add(b, e int64) { s.bytes += b; s.entries += e; s.calls++ }

func TestCounterBatches(t *testing.T) {
	var s sum
	c := New(&s)
	for i := 0; i < 1000; i++ {
		c.Bytes(1000)
		c.Entries(1)
	}
	if s.calls == 0 || s.calls > 10 {
		t.Errorf("sink told %d times for 1000 entries; want a few batches", s.calls)
	}
	c.Flush()
	if s.bytes != 1000*1000 || s.entries != 1000 {
		t.Errorf("sink has %d bytes, %d entries; want 1000000, 1000", s.bytes, s.entries)
	}
	calls := s.calls
	c.Flush()
	if s.calls != calls {
		t.Error("a flush with nothing counted told the sink")
	}
}

func TestReader(t *testing.T) {
	var s sum
	c := New(&s)
	n, err := io.Copy(io.Discard, Reader(bytes.NewReader(make([]byte, 12345)), c))
	c.Flush()
	if err != nil || n != 12345 || s.bytes != 12345 {
		t.Errorf("copied %d (%v), counted %d; want 12345", n, err, s.bytes)
	}
}

func TestNil(t *testing.T) {
	c := New(nil)
	c.Bytes(1)
	c.Entries(1)
	c.Flush()
	r := bytes.NewReader(nil)
	if Reader(r, c) != io.Reader(r) {
		t.Error("Reader with a nil counter wraps its reader")
	}
}
