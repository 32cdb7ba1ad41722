package envelope

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression names how an envelope is compressed as a whole.
type Compression string

// The compressions an envelope may have.
const (
	None Compression = "none"
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
)

// MaxZstdWindow bounds the window a zstd envelope may ask its reader to
// keep: a hostile frame header could otherwise claim gigabytes. zstd's
// levels up to 19 use at most 8 MiB; `zstd --long` streams need more and
// are refused.
const MaxZstdWindow = 32 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// ParseCompression turns a flag value into a Compression.
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case None, Gzip, Zstd:
		return c, nil
	}
	return "", fmt.Errorf("unknown compression %q (want none, gzip or zstd)", s)
}

// compressor wraps w so that what is written to it is compressed with c at
// level (0 picks the default: gzip 1, zstd 3, the levels that keep a
// pipeline's pace; layers are mostly recompressed downstream anyway). Its output depends only on the input, c and
// level, so envelopes stay reproducible.
func compressor(w io.Writer, c Compression, level int) (io.WriteCloser, error) {
	switch c {
	case None, "":
		return nopCloser{w}, nil
	case Gzip:
		if level == 0 {
			level = gzip.BestSpeed
		}
		zw, err := gzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", level, err)
		}
		return zw, nil
	case Zstd:
		if level == 0 {
			level = 3
		}
		if level < 1 || level > 22 {
			return nil, fmt.Errorf("zstd level %d: want 1 to 22", level)
		}
		// A 4 MiB window keeps export's peak RSS near 50 MiB (the default
		// 8 MiB reached 66 MiB on many small files, over the 64 MiB
		// target) at full speed; WithLowerEncoderMem did too, but at a
		// third of the speed. One goroutine: the other core hashes, and
		// BenchmarkZstd puts one goroutine of this encoder at about C
		// zstd -3's speed and size, where two are slower in wall time on
		// 2 cores (the concurrent encoder's handoffs) and use more memory.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithWindowSize(4<<20), zstd.WithEncoderConcurrency(1))
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// ErrTrailingData: bytes follow the end of a compressed stream.
var ErrTrailingData = errors.New("data after the end of the envelope")

// decompressed is the envelope's tar stream, with the compression it came in.
type decompressed struct {
	io.Reader
	compression Compression
	// finish checks, once the tar is read, that nothing follows the
	// compressed stream, and releases the decoder.
	finish func() error
}

// decompress tells the compression from the first bytes of r.
func decompress(r io.Reader) (*decompressed, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read envelope: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		// One gzip member only: a second one appended to a valid envelope
		// would otherwise be read as part of it.
		zr.Multistream(false)
		return &decompressed{Reader: zr, compression: Gzip, finish: func() error {
			if err := atEOF(br); err != nil {
				return fmt.Errorf("gzip: %w", err)
			}
			return zr.Close()
		}}, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(&firstFrame{br: br},
			zstd.WithDecoderMaxWindow(MaxZstdWindow),
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return &decompressed{Reader: zr, compression: Zstd, finish: func() error {
			defer zr.Close()
			if err := atEOF(br); err != nil {
				return fmt.Errorf("zstd: %w", err)
			}
			return nil
		}}, nil
	}
	return &decompressed{Reader: br, compression: None, finish: func() error { return atEOF(br) }}, nil
}

// atEOF checks that the raw stream has nothing left, reading it to its
// end so that a reader below (an --expect digest) sees all of it.
func atEOF(br *bufio.Reader) error {
	_, err := br.Peek(1)
	switch {
	case err == nil:
		return ErrTrailingData
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// firstFrame passes on the first zstd frame of br and then reports io.EOF,
// leaving what follows in br, where atEOF finds it. The decoder alone
// would read a second frame, or skip a skippable one, as if it belonged to
// the envelope (RFC 8878, section 3.1: frames may be concatenated).
type firstFrame struct {
	br       *bufio.Reader
	left     int // bytes of the current section not yet passed on
	state    int
	checksum bool
}

// States of firstFrame: where the next section begins.
const (
	frameHeader = iota
	blockHeader
	frameChecksum
	frameDone
)

func (f *firstFrame) Read(p []byte) (int, error) {
	for f.left == 0 {
		if f.state == frameDone {
			return 0, io.EOF
		}
		if err := f.next(); err != nil {
			return 0, err
		}
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.br.Read(p)
	f.left -= n
	if errors.Is(err, io.EOF) && f.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// next sizes the section that starts here from its header (RFC 8878,
// sections 3.1.1.1 and 3.1.1.2).
func (f *firstFrame) next() error {
	peek := func(n int) ([]byte, error) {
		b, err := f.br.Peek(n)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return b, err
	}
	switch f.state {
	case frameHeader:
		b, err := peek(5)
		if err != nil {
			return err
		}
		fhd := b[4]
		single := fhd&0x20 != 0
		f.checksum = fhd&0x04 != 0
		size := 5 + [4]int{0, 1, 2, 4}[fhd&3]
		if !single {
			size++ // window descriptor
		}
		switch fcs := fhd >> 6; {
		case fcs == 0 && single:
			size++
		case fcs > 0:
			size += [4]int{0, 2, 4, 8}[fcs]
		}
		f.left, f.state = size, blockHeader
	case blockHeader:
		b, err := peek(3)
		if err != nil {
			return err
		}
		h := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
		body := h >> 3
		switch (h >> 1) & 3 {
		case 1: // RLE: one byte, repeated
			body = 1
		case 3:
			return errors.New("zstd: reserved block type")
		}
		f.left = 3 + body
		if h&1 != 0 {
			f.state = frameChecksum
		}
	case frameChecksum:
		f.state = frameDone
		if f.checksum {
			f.left = 4
		}
	}
	return nil
}
