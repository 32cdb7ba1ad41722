package envelope

import (
	"archive/tar"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"unsafe"
)

// An export's bytes each go through one sha256 for their member, one
// crc64 for tar-split (layer files) and, uncompressed, one more sha256 for
// the stream digest: about three times the CPU of reading them. The writer
// appends the envelope's uncompressed tar stream to blocks of blockSize
// and hands each full block, without copying it, to stages that run in
// goroutines of their own, in order: the output (compression and the
// write), the member digests, the tar-split records and, uncompressed, the
// stream digest. The writer marks in the stream where members and layer
// entries begin and end; a stage reads the marks with the bytes. So each
// hash runs on whichever core is free, fed a megabyte at a time, and an
// entry costs the writing goroutine an append to a slice, not a handoff.
const (
	blockSize = 1 << 20
	blocks    = 4 // in flight: 4 MiB
)

type markKind int

const (
	markMemberStart markKind = iota // a member's data begins
	markMemberEnd                   // a member's data ends
	markLayerStart                  // a tree's tar begins; rec records it
	markEntry                       // a tar header ends; name and size follow
	markLayerEnd                    // the tree's tar ends
)

// mark is a place in the stream, with what begins or ends there.
type mark struct {
	off  int64 // stream offset
	kind markKind
	name string
	size int64
	rec  *splitRecording
}

type block struct {
	buf   []byte
	off   int64 // stream offset of buf[0]
	marks []mark
	refs  int // stages that have not yet released it
}

// stage consumes the stream's blocks in order in its own goroutine.
type stage interface {
	run(b *block) error
}

// stream is the envelope's tar stream on its way to the stages.
type stream struct {
	cur    *block
	off    int64 // stream offset of the end of cur
	free   chan *block
	made   int
	stages []stage
	in     []chan *block
	wg     sync.WaitGroup
	mu     sync.Mutex
	refs   sync.Cond // signalled when a block comes back
	out    int       // blocks handed out and not yet back
	err    error     // the first stage error
	closed bool
}

func newStream(stages ...stage) *stream {
	s := &stream{free: make(chan *block, blocks), stages: stages}
	s.refs.L = &s.mu
	for _, st := range stages {
		in := make(chan *block, blocks)
		s.in = append(s.in, in)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for b := range in {
				if s.failed() == nil {
					if err := st.run(b); err != nil {
						s.fail(err)
					}
				}
				s.release(b)
			}
		}()
	}
	return s
}

func (s *stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *stream) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *stream) release(b *block) {
	s.mu.Lock()
	b.refs--
	last := b.refs == 0
	if last {
		s.out--
		s.refs.Broadcast()
	}
	s.mu.Unlock()
	if last {
		b.buf, b.marks = b.buf[:0], b.marks[:0]
		s.free <- b
	}
}

// block returns the block being filled, taking a free one (and waiting
// for one while all are in flight) if there is none.
func (s *stream) block() *block {
	if s.cur != nil {
		return s.cur
	}
	var b *block
	select {
	case b = <-s.free:
	default:
		if s.made < blocks {
			s.made++
			b = &block{buf: make([]byte, 0, blockSize)}
		} else {
			b = <-s.free
		}
	}
	b.off = s.off
	s.cur = b
	return b
}

// lend returns the free space at the end of the block being filled, at
// most n bytes: a file read into it and then written (the same bytes)
// is not copied again.
func (s *stream) lend(n int) []byte {
	b := s.block()
	return b.buf[len(b.buf):min(cap(b.buf), len(b.buf)+n)]
}

// Write appends p to the stream. If p is the start of what lend returned,
// its bytes are in place already.
func (s *stream) Write(p []byte) (int, error) {
	if b := s.cur; b != nil && len(p) > 0 && len(p) <= cap(b.buf)-len(b.buf) &&
		unsafe.SliceData(p) == unsafe.SliceData(b.buf[len(b.buf):cap(b.buf)]) {
		b.buf = b.buf[:len(b.buf)+len(p)]
		s.off += int64(len(p))
		if len(b.buf) == cap(b.buf) {
			return len(p), s.flush()
		}
		return len(p), nil
	}
	if b := s.cur; b != nil && len(p) > 0 && overlaps(p, b.buf[len(b.buf):cap(b.buf)]) {
		// Lent space written by something other than its borrower's
		// write: its bytes would be overwritten before they are read.
		return 0, errors.New("stream: a write overlaps the space lent for it but does not start it")
	}
	n := len(p)
	for len(p) > 0 {
		b := s.block()
		k := copy(b.buf[len(b.buf):cap(b.buf)], p)
		b.buf = b.buf[:len(b.buf)+k]
		s.off += int64(k)
		p = p[k:]
		if len(b.buf) == cap(b.buf) {
			if err := s.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// mark puts m at the current end of the stream.
func (s *stream) mark(m mark) {
	m.off = s.off
	b := s.block()
	b.marks = append(b.marks, m)
}

// flush hands the block being filled to every stage.
func (s *stream) flush() error {
	b := s.cur
	if b == nil {
		return s.failed()
	}
	s.cur = nil
	s.mu.Lock()
	b.refs = len(s.stages)
	s.out++
	err := s.err
	s.mu.Unlock()
	for _, in := range s.in {
		in <- b
	}
	return err
}

// sync hands over what is buffered and waits until every stage has
// processed all of it.
func (s *stream) sync() error {
	if err := s.flush(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.out > 0 {
		s.refs.Wait()
	}
	return s.err
}

// close stops the stages, after they have processed what they were given.
func (s *stream) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.cur = nil // not handed over: a failed export stops here
	for _, in := range s.in {
		close(in)
	}
	s.wg.Wait()
}

// overlaps tells whether p and q share any byte.
func overlaps(p, q []byte) bool {
	if len(p) == 0 || len(q) == 0 {
		return false
	}
	p0, q0 := uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(unsafe.Pointer(unsafe.SliceData(q)))
	return p0 < q0+uintptr(len(q)) && q0 < p0+uintptr(len(p))
}

// eachSpan calls data for the bytes of b between its marks and at for
// each mark, in stream order.
func (b *block) eachSpan(data func(p []byte) error, at func(m *mark) error) error {
	pos := 0
	for i := range b.marks {
		m := &b.marks[i]
		end := int(m.off - b.off)
		if end > pos {
			if err := data(b.buf[pos:end]); err != nil {
				return err
			}
			pos = end
		}
		if err := at(m); err != nil {
			return err
		}
	}
	if pos < len(b.buf) {
		return data(b.buf[pos:])
	}
	return nil
}

// outputStage writes the stream to the compressor (or straight out).
type outputStage struct{ w io.Writer }

func (o *outputStage) run(b *block) error {
	_, err := o.w.Write(b.buf)
	return err
}

// sumStage computes the sha256 of each member's data.
type sumStage struct {
	h    hash.Hash
	in   bool // inside a member's data
	sums [][]byte
}

func (s *sumStage) run(b *block) error {
	return b.eachSpan(func(p []byte) error {
		if s.in {
			s.h.Write(p)
		}
		return nil
	}, func(m *mark) error {
		switch m.kind {
		case markMemberStart:
			s.h.Reset()
			s.in = true
		case markMemberEnd:
			s.sums = append(s.sums, s.h.Sum(nil))
			s.in = false
		}
		return nil
	})
}

// splitStage turns a tree's tar, as it passes, into tar-split records:
// the bytes before each entry's contents (padding and headers) are a
// segment, the contents are checksummed.
type splitStage struct {
	rec  *splitRecording // nil outside a tree's tar
	seg  []byte          // the segment so far
	left int64           // contents of the current entry still to come
	hdr  tar.Header
}

func (s *splitStage) run(b *block) error {
	return b.eachSpan(s.data, s.at)
}

func (s *splitStage) data(p []byte) error {
	if s.rec == nil {
		return nil
	}
	for len(p) > 0 {
		if s.left == 0 {
			s.seg = append(s.seg, p...)
			return nil
		}
		k := int(min(int64(len(p)), s.left))
		s.rec.w.Contents(p[:k])
		s.left -= int64(k)
		p = p[k:]
	}
	return nil
}

func (s *splitStage) at(m *mark) error {
	switch m.kind {
	case markLayerStart:
		s.rec, s.seg, s.left = m.rec, s.seg[:0], 0
	case markEntry:
		if s.rec == nil || s.left != 0 {
			return errors.New("tar-split: entry inside another's contents")
		}
		s.hdr.Name, s.hdr.Size = m.name, m.size
		if err := s.rec.w.Entry(s.seg, &s.hdr); err != nil {
			return err
		}
		s.seg, s.left = s.seg[:0], m.size
	case markLayerEnd:
		if s.rec == nil || s.left != 0 {
			return fmt.Errorf("tar-split: tar ends %d bytes into an entry's contents", s.left)
		}
		rec := s.rec
		s.rec = nil
		if err := rec.w.End(s.seg); err != nil {
			return err
		}
		return rec.zw.Close()
	}
	return nil
}

// streamRecorder is the overlay.Recorder of a tree written into the
// stream: it marks where each entry's contents begin, for the split
// stage, and sees nothing of the bytes themselves, which are in the
// stream already when it is called.
type streamRecorder struct{ s *stream }

func (r streamRecorder) Entry(_ []byte, hdr *tar.Header) error {
	r.s.mark(mark{kind: markEntry, name: hdr.Name, size: hdr.Size})
	return nil
}

func (r streamRecorder) Contents([]byte) {}

// Lend lends the stream's free space to the tree's writer (see
// overlay.Lender).
func (r streamRecorder) Lend(n int) []byte { return r.s.lend(n) }

func (r streamRecorder) End([]byte) error {
	r.s.mark(mark{kind: markLayerEnd})
	return nil
}
