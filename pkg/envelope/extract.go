package envelope

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/vbatts/tar-split/tar/storage"
)

// Handler is told about an envelope as it streams past Extract.
type Handler interface {
	// Meta gets envelope.json before anything else is read: the place to
	// refuse an envelope before touching anything.
	Meta(ctx context.Context, m *Meta) error
	// Layer gets layer.tar's bytes; it must read them to the end of the tar.
	Layer(ctx context.Context, r io.Reader) error
}

// Stager is a Handler that writes the layer's files where they can be read
// back. Extract then reassembles layer.tar as it streams: tar-split
// metadata recorded from the incoming stream (never the envelope's copy)
// with each file's contents read back from where Layer wrote it, which
// must give layer.tar's exact sha256.
type Stager interface {
	Handler
	// Staged opens the regular file name as Layer wrote it. Extract calls
	// it for each file with contents, in layer order, as tar-split meets
	// it; it waits until Layer has written the file.
	Staged(name string) (io.ReadCloser, error)
}

// ErrReassembly: the files as written do not reassemble layer.tar.
var ErrReassembly = errors.New("tar-split reassembly of the written files differs from layer.tar")

// Extracted is what Extract learnt of an envelope that passed.
type Extracted struct {
	Meta        *Meta
	Compression Compression
	// LayerDigest is "sha256:HEX" of layer.tar.
	LayerDigest string
	// Entries is the number of layer.tar's entries.
	Entries int64
	// Reassembled is "sha256:HEX" of layer.tar as reassembled from the
	// staged files, when the handler is a Stager.
	Reassembled string
	// Headers is the sha256 of layer.tar's bytes but its file contents
	// (tar-split's segments, in order), when the handler is a Stager: what
	// overlay.Plan.Headers gives for a tree that would write the same tar.
	Headers [sha256.Size]byte
}

// Extract reads an envelope strictly, in one pass: every member in order,
// each sha256 compared with SHA256SUMS, nothing after the end. The first
// fault ends it, as an error naming the member; the rules are Verify's. The
// handler sees envelope.json and layer.tar on the way; nothing it made may
// be trusted unless Extract returns nil.
func Extract(ctx context.Context, r io.Reader, h Handler) (*Extracted, error) {
	w := newWalk(strict, h)
	w.run(ctx, r)
	if w.first != nil {
		return nil, w.first
	}
	return &Extracted{
		Meta:        w.meta,
		Compression: w.compression,
		LayerDigest: "sha256:" + w.digests[MemberLayer],
		Entries:     w.entries,
		Reassembled: w.reassembled,
		Headers:     w.headers,
	}, nil
}

// decodeMeta decodes envelope.json.
func decodeMeta(data []byte) (*Meta, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	var meta Meta
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, err
	}
	return &meta, nil
}

// checkMeta applies the rules of envelope.json: its format, the fields a
// reader needs, and a layer size and entry count that fit together.
func checkMeta(m *Meta) error {
	if m.Format != Format {
		return fmt.Errorf("format %q, this tool reads %q", m.Format, Format)
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"created", m.Created.IsZero()},
		{"container.id", m.Container.ID == ""},
		{"container.imageId", m.Container.ImageID == ""},
		{"container.imageLayers", m.Container.ImageLayers == nil},
		{"host.os", m.Host.OS == ""},
		{"host.arch", m.Host.Arch == ""},
	} {
		if f.missing {
			return fmt.Errorf("required field %s missing", f.name)
		}
	}
	return checkLayerCounts(m.Layer)
}

// reassembler is a tar-split Packer that, instead of storing entries,
// writes what they describe into a sha256: raw segments as they are, files
// as read back from the staging area. The sum must be layer.tar's: that is
// the whole check (tar-split's own assembler also compares each file's
// crc64, an early warning the final sha256 makes redundant).
type reassembler struct {
	h      hash.Hash
	hdrs   hash.Hash // the segments alone
	staged func(name string) (io.ReadCloser, error)
	buf    []byte
	pos    int
}

func (re *reassembler) AddEntry(e storage.Entry) (int, error) {
	re.pos++
	switch e.Type {
	case storage.SegmentType:
		re.h.Write(e.Payload)
		re.hdrs.Write(e.Payload)
	case storage.FileType:
		if e.Size == 0 {
			break
		}
		name := e.GetName()
		rc, err := re.staged(name)
		if err != nil {
			return 0, fmt.Errorf("reassemble %q: %w", name, err)
		}
		defer rc.Close()
		n, err := io.CopyBuffer(re.h, io.LimitReader(rc, e.Size+1), re.buf)
		if err != nil {
			return 0, fmt.Errorf("reassemble %q: %w", name, err)
		}
		if n != e.Size {
			return 0, fmt.Errorf("reassemble %q: %d bytes as written, want %d: %w", name, n, e.Size, ErrReassembly)
		}
	}
	return re.pos - 1, nil
}

// compareSums checks SHA256SUMS against the digests computed while reading:
// exactly one line per member before it, in member order.
func compareSums(sums []byte, digests map[string]string) error {
	lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
	want := Members[:len(Members)-1]
	if len(lines) != len(want) {
		return fmt.Errorf("%w: %s: %d lines, want %d", ErrStructure, MemberSums, len(lines), len(want))
	}
	for i, line := range lines {
		hexsum, name, ok := strings.Cut(line, "  ")
		if !ok || !isHex64(hexsum) || name != want[i] {
			return fmt.Errorf("%w: %s line %d: want \"<sha256>  %s\"", ErrStructure, MemberSums, i+1, want[i])
		}
		if got := digests[name]; got != hexsum {
			return fmt.Errorf("%s: sha256 %s, %s says %s: %w", name, got, MemberSums, hexsum, ErrDigestMismatch)
		}
	}
	return nil
}

// isHex64 tells whether s is a sha256 in lower-case hex, as sha256sum writes it.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkLayerCounts checks envelope.json's layer size and entry count
// against each other: every entry takes at least one 512-byte header.
func checkLayerCounts(l Layer) error {
	switch {
	case l.Size < 0 || l.Entries < 0:
		return errors.New("negative layer size or entry count")
	case l.Entries > l.Size/512:
		return fmt.Errorf("%d entries cannot fit in %d bytes", l.Entries, l.Size)
	}
	return nil
}
