package envelope

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"

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
func digestTarSplit(r io.Reader) ([]byte, int, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, 0, fmt.Errorf("gzip: %w", err)
	}
	defer zr.Close()
	zr.Multistream(false)
	d := newSplitDigest()
	sc := bufio.NewScanner(zr)
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
