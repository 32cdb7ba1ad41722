package envelope

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"hash"
	"io"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/layer-tool/layer-tool/pkg/internal/crc64iso"
	"github.com/vbatts/tar-split/tar/storage"
)

// maxSplitLine bounds one line of tar-split metadata: one entry, whose
// largest is a segment holding a PAX header, which archive/tar caps at
// 1 MiB, base64-encoded.
const maxSplitLine = 4 << 20

// digestTarSplit reads gzipped tar-split metadata, entry by entry with a
// bounded line length, and returns its splitSum and number of entries.
func digestTarSplit(r io.Reader, layerSize int64) ([]byte, int, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, 0, fmt.Errorf("gzip: %w", err)
	}
	defer zr.Close()
	// Every gzip member counts, as for tar-split's own reader: a second
	// member would otherwise be bytes no check read and a reassembly
	// would use.
	d := newSplitSum()
	// The JSON itself is bounded like the member (before gzip): a small
	// member must not inflate without end.
	limit := maxSplitSize(layerSize)
	sc := bufio.NewScanner(&cappedReader{r: zr, left: limit})
	sc.Buffer(make([]byte, 64<<10), maxSplitLine)
	pos := 0
	for sc.Scan() {
		var e storage.Entry
		if err := decodeSplitEntry(sc.Bytes(), &e); err != nil {
			return nil, pos, fmt.Errorf("entry %d: %w", pos, err)
		}
		if e.Position != pos {
			return nil, pos, fmt.Errorf("entry %d: position %d", pos, e.Position)
		}
		switch e.Type {
		case storage.SegmentType:
			d.segment(e.Payload)
		case storage.FileType:
			d.file(e.GetNameBytes(), e.Size, e.Payload)
		default:
			return nil, pos, fmt.Errorf("entry %d: unknown type %d", pos, e.Type)
		}
		pos++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, pos, fmt.Errorf("entry %d: longer than %d bytes", pos, maxSplitLine)
		}
		return nil, pos, err
	}
	return d.sum(), pos, nil
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
	enc  splitEncoder
	pos  int
	crc  hash.Hash64
	crcs []byte
	// pending is the file entry whose contents are being written, if
	// hasPending; nameRaw holds its name when that is not UTF-8. Both are
	// reused from file to file, as is the encoder's line.
	pending    storage.Entry
	hasPending bool
	nameRaw    []byte
	replay     bool
}

func newSplitWriter(w io.Writer) *splitWriter {
	return &splitWriter{enc: splitEncoder{w: w}, crc: crc64iso.New()}
}

// replaying returns a writer to w that replays the checksums of s.
func (s *splitWriter) replaying(w io.Writer) *splitWriter {
	return &splitWriter{enc: splitEncoder{w: w}, crcs: s.crcs, replay: true}
}

func (s *splitWriter) Entry(raw []byte, hdr *tar.Header) error {
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.segment(raw); err != nil {
		return err
	}
	s.pending = storage.Entry{Type: storage.FileType, Size: hdr.Size}
	// What storage.Entry.SetName does, but into a buffer kept from file
	// to file instead of a new slice for each name that is not UTF-8.
	if utf8.ValidString(hdr.Name) {
		s.pending.Name = hdr.Name
	} else {
		s.nameRaw = append(s.nameRaw[:0], hdr.Name...)
		s.pending.NameRaw = s.nameRaw
	}
	s.hasPending = true
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
	if !s.hasPending {
		return nil
	}
	s.hasPending = false
	e := s.pending
	if e.Size > 0 {
		if s.replay {
			if len(s.crcs) < crc64iso.Size {
				return fmt.Errorf("tar-split replay: no checksum left for %q", e.GetName())
			}
			e.Payload, s.crcs = s.crcs[:crc64iso.Size], s.crcs[crc64iso.Size:]
		} else {
			// The checksum goes straight onto the recording, and the
			// entry's payload is its last 8 bytes there.
			s.crcs = s.crc.Sum(s.crcs)
			e.Payload = s.crcs[len(s.crcs)-crc64iso.Size:]
		}
	}
	return s.add(e)
}

func (s *splitWriter) add(e storage.Entry) error {
	e.Position = s.pos
	s.pos++
	return s.enc.encode(&e)
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
