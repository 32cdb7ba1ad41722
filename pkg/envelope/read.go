package envelope

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors that readers of an envelope return.
var (
	// ErrStructure: the stream is not a well-formed envelope: a member
	// missing, extra, out of order, not a regular file, or the stream cut.
	ErrStructure = errors.New("malformed envelope")
	// ErrDigestMismatch: a member's sha256 differs from SHA256SUMS.
	ErrDigestMismatch = errors.New("digest mismatch")
)

// maxPadding bounds the zeros allowed after a tar's end blocks. GNU tar pads
// to its record size, 10 KiB by default; more is a compressed bomb's way of
// making a reader decompress without end.
const maxPadding = 1 << 20

// errCut: the stream stops at a member boundary without the tar's end.
var errCut = errors.New("truncated")

// Reader reads the members of an envelope in stream order. Each member's
// sha256 is computed as it is read.
type Reader struct {
	// Compression is what the stream was compressed with.
	Compression Compression
	d           *decompressed
	counted     *countingReader
	tr          *tar.Reader
	cur         *Member
	last        string
}

// Member is one member of an envelope, readable once.
type Member struct {
	Name string
	Size int64
	r    io.Reader
	h    *asyncHash
	read int64
}

func (m *Member) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.h.Write(p[:n]) // hashed on another core
	m.read += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%s: stream ends after %d of %d bytes: %w", m.Name, m.read, m.Size, ErrStructure)
	}
	return n, err
}

// Digest is the hex sha256 of the member; it is complete once the member
// has been read to its end.
func (m *Member) Digest() string { return hex.EncodeToString(m.h.Sum()) }

// NewReader starts reading an envelope from r, telling its compression
// from its first bytes.
func NewReader(r io.Reader) (*Reader, error) {
	d, err := decompress(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStructure, err)
	}
	cr := &countingReader{r: d}
	return &Reader{Compression: d.compression, d: d, counted: cr, tr: tar.NewReader(cr)}, nil
}

// Next skips what is left of the current member and returns the next one,
// or io.EOF at the end of the tar.
func (r *Reader) Next() (*Member, error) {
	if r.cur != nil {
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			return nil, err
		}
		r.cur.h.Sum() // stops its worker; Digest still answers
		r.last = r.cur.Name
		r.cur = nil
	}
	before := r.counted.n
	hdr, err := r.tr.Next()
	if errors.Is(err, io.EOF) {
		// archive/tar takes a stream that simply stops for a proper end;
		// a tar ends with two zero blocks, and without them it was cut.
		if r.counted.n-before < 1024 {
			return nil, fmt.Errorf("%w: the stream stops after %s without the tar's end blocks: %w", ErrStructure, orStart(r.last), errCut)
		}
		return nil, io.EOF
	}
	if err != nil {
		where := "at the start"
		if r.last != "" {
			where = "after " + r.last
		}
		var tarErr bool
		for _, e := range []error{tar.ErrHeader, tar.ErrInsecurePath, tar.ErrFieldTooLong} {
			tarErr = tarErr || errors.Is(err, e)
		}
		if r.counted.n <= 512 && r.Compression == None && tarErr {
			return nil, fmt.Errorf("%w: not a tar, gzip or zstd stream (bad tar header at the start: %w)", ErrStructure, err)
		}
		return nil, fmt.Errorf("%w: bad tar header %s: %w", ErrStructure, where, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%w: member %q is not a regular file", ErrStructure, hdr.Name)
	}
	for k := range hdr.PAXRecords {
		// archive/tar expands a PAX sparse member's holes without reading
		// input: a few bytes could claim exabytes of zeros to hash.
		if strings.HasPrefix(k, "GNU.sparse.") {
			return nil, fmt.Errorf("%w: member %q is a sparse file", ErrStructure, hdr.Name)
		}
	}
	r.cur = &Member{Name: hdr.Name, Size: hdr.Size, r: r.tr, h: newAsyncHash(sha256.New())}
	return r.cur, nil
}

// release stops the hashing of the member being read, for a reader
// abandoned half-way.
func (r *Reader) release() {
	if r.cur != nil {
		r.cur.h.Sum()
	}
}

// Close reads the stream to its end once the tar is done: only zero
// padding may follow the tar's end, and nothing the compressed stream.
func (r *Reader) Close() error {
	buf := make([]byte, 32<<10)
	var padding int64
	for {
		n, err := r.counted.Read(buf)
		if padding += int64(n); padding > maxPadding {
			return fmt.Errorf("%w: %w: more than %d bytes of padding after the tar's end", ErrStructure, ErrTrailingData, maxPadding)
		}
		if !allZero(buf[:n]) {
			return fmt.Errorf("%w: %w: non-zero bytes after the tar's end", ErrStructure, ErrTrailingData)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrExpect) {
			return err
		}
		if err != nil {
			return fmt.Errorf("%w: reading past the tar's end: %w", ErrStructure, err)
		}
	}
	if err := r.d.finish(); err != nil {
		if errors.Is(err, ErrExpect) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrStructure, err)
	}
	return nil
}

func orStart(member string) string {
	if member == "" {
		return "the start"
	}
	return member
}

func allZero(b []byte) bool {
	return len(bytes.Trim(b, "\x00")) == 0
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
