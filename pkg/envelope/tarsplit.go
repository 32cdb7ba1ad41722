package envelope

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/vbatts/tar-split/tar/storage"
)

// splitDigest is a tar-split Packer that keeps no entries: it folds each
// into a sha256, so that two streams of tar-split entries can be compared
// in constant memory. Equal digests mean equal entries: the same raw
// header bytes and padding, and files of the same names, sizes and crc64s.
type splitDigest struct {
	h   hash.Hash
	pos int
}

func newSplitDigest() *splitDigest { return &splitDigest{h: sha256.New()} }

// AddEntry implements storage.Packer.
func (d *splitDigest) AddEntry(e storage.Entry) (int, error) {
	var n [8]byte
	write := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		d.h.Write(n[:])
		d.h.Write(b)
	}
	binary.BigEndian.PutUint64(n[:], uint64(e.Type))
	d.h.Write(n[:])
	switch e.Type {
	case storage.SegmentType:
		write(e.Payload)
	case storage.FileType:
		write(e.GetNameBytes())
		binary.BigEndian.PutUint64(n[:], uint64(e.Size))
		d.h.Write(n[:])
		write(e.Payload)
	default:
		return 0, fmt.Errorf("tar-split entry %d: unknown type %d", d.pos, e.Type)
	}
	d.pos++
	return d.pos - 1, nil
}

func (d *splitDigest) sum() []byte { return d.h.Sum(nil) }

// maxSplitLine bounds one line of tar-split metadata: one entry, whose
// largest is a segment holding a PAX header, which archive/tar caps at
// 1 MiB, base64-encoded.
const maxSplitLine = 4 << 20

// digestTarSplit reads gzipped tar-split metadata, entry by entry with a
// bounded line length, and returns its digest.
func digestTarSplit(r io.Reader, layerSize int64) ([]byte, int, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, 0, fmt.Errorf("gzip: %w", err)
	}
	defer zr.Close()
	zr.Multistream(false)
	d := newSplitDigest()
	// The JSON itself is bounded like the member (before gzip): a small
	// member must not inflate without end.
	limit := maxSplitSize(layerSize)
	sc := bufio.NewScanner(&cappedReader{r: zr, left: limit})
	sc.Buffer(make([]byte, 64<<10), maxSplitLine)
	for sc.Scan() {
		var e storage.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, d.pos, fmt.Errorf("entry %d: %w", d.pos, err)
		}
		if e.Position != d.pos {
			return nil, d.pos, fmt.Errorf("entry %d: position %d", d.pos, e.Position)
		}
		if _, err := d.AddEntry(e); err != nil {
			return nil, d.pos, err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, d.pos, fmt.Errorf("entry %d: longer than %d bytes", d.pos, maxSplitLine)
		}
		return nil, d.pos, err
	}
	return d.sum(), d.pos, nil
}

// splitWriter is an overlay.Recorder that writes tar-split metadata: the
// same JSON lines that tar-split's disassembler and storage.NewJSONPacker
// write for the tar being recorded, without parsing it again and without
// keeping every name it has seen.
//
// In recording mode it computes each file's crc64 from the contents it is
// shown and keeps the checksums (8 bytes a file); in replay mode it takes
// them from a recording, so that a pass that reads no file data can write
// the same metadata again. That is how an envelope carries tar-split
// metadata after layer.tar without holding it: the first pass only
// measures the compressed metadata, the replay writes it.
type splitWriter struct {
	enc     *json.Encoder
	pos     int
	pending *storage.Entry
	crc     hash.Hash64
	crcs    []byte
	replay  bool
}

func newSplitWriter(w io.Writer) *splitWriter {
	return &splitWriter{enc: json.NewEncoder(w), crc: crc64.New(storage.CRCTable)}
}

// replaying returns a writer to w that replays the checksums of s.
func (s *splitWriter) replaying(w io.Writer) *splitWriter {
	return &splitWriter{enc: json.NewEncoder(w), crcs: s.crcs, replay: true}
}

func (s *splitWriter) Entry(raw []byte, hdr *tar.Header) error {
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.segment(raw); err != nil {
		return err
	}
	e := &storage.Entry{Type: storage.FileType, Size: hdr.Size}
	e.SetName(hdr.Name)
	s.pending = e
	if !s.replay {
		s.crc.Reset()
	}
	return nil
}

func (s *splitWriter) Contents(p []byte) { s.crc.Write(p) }

func (s *splitWriter) End(raw []byte) error {
	if err := s.flush(); err != nil {
		return err
	}
	return s.segment(raw)
}

func (s *splitWriter) segment(raw []byte) error {
	if len(raw) == 0 {
		return nil
	}
	return s.add(storage.Entry{Type: storage.SegmentType, Payload: raw})
}

// flush writes the file entry whose contents are now complete.
func (s *splitWriter) flush() error {
	e := s.pending
	if e == nil {
		return nil
	}
	s.pending = nil
	if e.Size > 0 {
		if s.replay {
			if len(s.crcs) < crc64.Size {
				return fmt.Errorf("tar-split replay: no checksum left for %q", e.GetName())
			}
			e.Payload, s.crcs = s.crcs[:crc64.Size], s.crcs[crc64.Size:]
		} else {
			e.Payload = s.crc.Sum(nil)
			s.crcs = append(s.crcs, e.Payload...)
		}
	}
	return s.add(*e)
}

func (s *splitWriter) add(e storage.Entry) error {
	e.Position = s.pos
	s.pos++
	return s.enc.Encode(e)
}

// splitRecording is a tree's tar-split metadata as the split stage
// records it: gzipped into buf, which keeps it up to a bound and counts it
// all.
type splitRecording struct {
	w   *splitWriter
	zw  *gzip.Writer
	buf boundedBuffer
}

func newSplitRecording(limit int) (*splitRecording, error) {
	r := &splitRecording{buf: boundedBuffer{limit: limit}}
	zw, err := gzip.NewWriterLevel(&r.buf, splitLevel)
	if err != nil {
		return nil, err
	}
	r.zw, r.w = zw, newSplitWriter(zw)
	return r, nil
}

// boundedBuffer keeps what is written to it up to limit bytes, and past
// that drops it all (over) and only counts (n).
type boundedBuffer struct {
	b     []byte
	n     int64
	limit int
	over  bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.n += int64(len(p))
	switch {
	case b.over:
	case len(b.b)+len(p) > b.limit:
		b.over, b.b = true, nil
	default:
		b.b = append(b.b, p...)
	}
	return len(p), nil
}

// maxSplitSize bounds layer.tar-split.json.gz for a layer.tar of layerSize
// bytes: its JSON is base64 of the headers (at most the layer's size, 4/3
// larger) plus a line per entry (at most one per 512 bytes), and gzip only
// shrinks that. Anything larger is not this layer's metadata.
func maxSplitSize(layerSize int64) int64 { return 2*layerSize + 64<<10 }

// boundedPutter is tar-split's FilePutter for hostile input. It computes
// each file's crc64 as storage.NewDiscardFilePutter does, but fails once
// the contents of all entries add up to more than the layer member holds:
// only a sparse entry can, by expanding holes without reading input, and a
// few bytes could make it spin for ever. It also stops when told to.
type boundedPutter struct {
	left int64
	stop atomic.Bool
	buf  []byte
	crc  hash.Hash64 // nil: no checksums wanted
}

// newBoundedPutter stops after limit bytes of contents; withCRC computes
// the crc64s that tar-split metadata records.
func newBoundedPutter(limit int64, withCRC bool) *boundedPutter {
	p := &boundedPutter{left: limit, buf: make([]byte, 64<<10)}
	if withCRC {
		p.crc = crc64.New(storage.CRCTable)
	}
	return p
}

// errStopped: the reader of the layer gave up; tar-split must too.
var errStopped = errors.New("stopped")

func (p *boundedPutter) Put(name string, r io.Reader) (int64, []byte, error) {
	if p.crc != nil {
		p.crc.Reset()
	}
	var n int64
	for {
		if p.stop.Load() {
			return n, nil, errStopped
		}
		k, err := r.Read(p.buf)
		if p.crc != nil {
			p.crc.Write(p.buf[:k])
		}
		n += int64(k)
		if p.left -= int64(k); p.left < 0 {
			return n, nil, fmt.Errorf("entry %q: more contents than %s holds (a sparse entry?)", name, MemberLayer)
		}
		if errors.Is(err, io.EOF) {
			if p.crc == nil {
				return n, nil, nil
			}
			return n, p.crc.Sum(nil), nil
		}
		if err != nil {
			return n, nil, err
		}
	}
}

// cappedReader fails once more than left bytes were read.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.left -= int64(n); c.left < 0 {
		return n, errors.New("inflates past any size this layer's metadata can have")
	}
	return n, err
}
