package envelope

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"

	"github.com/layer-tool/layer-tool/pkg/internal/crc64iso"
)

// splitSum folds what tar-split metadata says of a tar into a digest that
// does not depend on where its raw bytes are cut into segments: the
// sha256 of every raw byte (all but file contents) in order, and the
// sha256 of a record per file entry: how many raw bytes came before it,
// its name, size and crc64. Equal sums mean equal reassembly: the same
// raw bytes around the same files at the same places.
//
// layer-check computes one from the envelope's tar-split member, and one
// from layer.tar as its own archive/tar reading cuts it (splitReader):
// one parse of the tar, not a second one by tar-split's.
type splitSum struct {
	raw  hash.Hash
	recs hash.Hash
	off  int64
}

func newSplitSum() *splitSum { return &splitSum{raw: sha256.New(), recs: sha256.New()} }

// segment adds raw bytes.
func (s *splitSum) segment(p []byte) {
	s.raw.Write(p)
	s.off += int64(len(p))
}

// file adds a file entry; crc is nil for an entry without contents.
func (s *splitSum) file(name []byte, size int64, crc []byte) {
	var n [8]byte
	for _, v := range []int64{s.off, int64(len(name))} {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		s.recs.Write(n[:])
	}
	s.recs.Write(name)
	binary.BigEndian.PutUint64(n[:], uint64(size))
	s.recs.Write(n[:])
	n[0] = byte(len(crc))
	s.recs.Write(n[:1])
	s.recs.Write(crc)
}

func (s *splitSum) sum() []byte { return s.recs.Sum(s.raw.Sum(nil)) }

// headers is the sha256 of the raw bytes alone.
func (s *splitSum) headers() (h [sha256.Size]byte) {
	s.raw.Sum(h[:0])
	return h
}

// splitReader is the reader a collecting walk hands a tree's handler: it
// folds what the handler's tar reader reads into a splitSum, raw bytes
// as segments, and an entry's contents, which the handler announces with
// Contents before reading them, into the entry's crc64, as tar-split
// records them.
type splitReader struct {
	r    io.Reader
	sum  *splitSum
	name []byte
	size int64
	left int64
	crc  hash.Hash64
}

func newSplitReader(r io.Reader) *splitReader {
	return &splitReader{r: r, sum: newSplitSum(), crc: crc64iso.New()}
}

// Contents announces the entry just read: its name and size as the
// header gives them, and data, the bytes of contents that follow it.
func (r *splitReader) Contents(name string, size, data int64) {
	r.name, r.size, r.left = []byte(name), size, data
	r.crc.Reset()
	if data <= 0 {
		r.left = 0
		r.done()
	}
}

func (r *splitReader) done() {
	var crc []byte
	if r.size > 0 {
		crc = r.crc.Sum(nil)
	}
	r.sum.file(r.name, r.size, crc)
}

func (r *splitReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		n, err := r.r.Read(p)
		r.sum.segment(p[:n])
		return n, err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.r.Read(p)
	r.crc.Write(p[:n])
	if r.left -= int64(n); r.left == 0 {
		r.done()
	}
	return n, err
}

// contentsMarker is what a handler may find its reader to be, to say
// where an entry's contents are.
type contentsMarker interface {
	Contents(name string, size, data int64)
}
