package overlay_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"unsafe"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// lendingSink is a writer and a recorder that lends, as the envelope's
// stream does: at most chunk bytes at a time, from a buffer of its own;
// a write of lent bytes is taken in place. hook runs once, when the
// header of the entry named name has been written.
type lendingSink struct {
	buf    []byte
	chunk  int
	lent   int // writes taken in place
	name   string
	hook   func()
	hooked bool
}

func (l *lendingSink) Lend(n int) []byte {
	if cap(l.buf)-len(l.buf) < l.chunk {
		nb := make([]byte, len(l.buf), 2*cap(l.buf)+l.chunk)
		copy(nb, l.buf)
		l.buf = nb
	}
	return l.buf[len(l.buf) : len(l.buf)+min(n, l.chunk)]
}

func (l *lendingSink) Write(p []byte) (int, error) {
	if len(p) > 0 && len(p) <= cap(l.buf)-len(l.buf) && unsafe.SliceData(p) == unsafe.SliceData(l.buf[len(l.buf):cap(l.buf)]) {
		l.buf = l.buf[:len(l.buf)+len(p)]
		l.lent++
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	return len(p), nil
}

func (l *lendingSink) Entry(_ []byte, hdr *tar.Header) error {
	if !l.hooked && l.hook != nil && hdr.Name == l.name {
		l.hooked = true
		l.hook()
	}
	return nil
}
func (l *lendingSink) Contents([]byte)  {}
func (l *lendingSink) End([]byte) error { return nil }

// Files read into lent space make the same tar, whatever the lender's
// chunks, and growth or shrinking is still seen when the last read had no
// room for the byte past the size.
func TestWriteIntoLentSpace(t *testing.T) {
	f := buildPlain(t)
	want, _ := writeLayer(t, f.root, overlay.Options{})
	for _, chunk := range []int{7, 511, 512, 4096, 3<<19 - 1, 3 << 19, 3<<19 + 1, 1<<20 + 1} {
		l := &lendingSink{chunk: chunk}
		if _, err := overlay.Write(context.Background(), f.root, l, overlay.Options{Record: l}); err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if !bytes.Equal(l.buf, want) {
			t.Fatalf("chunk %d: %d bytes, not the %d of a Write without lending", chunk, len(l.buf), len(want))
		}
		if l.lent == 0 {
			t.Fatalf("chunk %d: no write was taken in place", chunk)
		}
		for _, change := range []struct {
			name string
			fn   func(p string) error
		}{
			{"grows", func(p string) error { return appendTo(p, "x") }},
			{"shrinks", func(p string) error { return os.Truncate(p, 3<<19-1) }},
		} {
			f := buildPlain(t)
			var hookErr error
			l := &lendingSink{chunk: chunk, name: "big", hook: func() { hookErr = change.fn(f.p("big")) }}
			_, err := overlay.Write(context.Background(), f.root, l, overlay.Options{Record: l})
			if hookErr != nil {
				t.Fatal(hookErr)
			}
			if !errors.Is(err, overlay.ErrChanged) {
				t.Fatalf("chunk %d, big %s while read: %v, want ErrChanged", chunk, change.name, err)
			}
		}
	}
}
