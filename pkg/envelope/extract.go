package envelope

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/vbatts/tar-split/tar/asm"
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
	// Reassembled is "sha256:HEX" of layer.tar as reassembled from the
	// staged files, when the handler is a Stager.
	Reassembled string
	// Headers is the sha256 of layer.tar's bytes but its file contents
	// (tar-split's segments, in order), when the handler is a Stager: what
	// overlay.Plan.Headers gives for a tree that would write the same tar.
	Headers [sha256.Size]byte
}

// Extract reads an envelope strictly, in one pass: every member in order,
// each sha256 compared with SHA256SUMS, nothing after the end. Any fault is
// an error naming the member. The handler sees envelope.json and layer.tar
// on the way; nothing it made may be trusted unless Extract returns nil.
func Extract(ctx context.Context, r io.Reader, h Handler) (*Extracted, error) {
	er, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	defer er.release()
	out := &Extracted{Compression: er.Compression}
	digests := map[string]string{}
	var sums []byte
	for i, want := range Members {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := er.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, errCut) {
			return nil, fmt.Errorf("%w: member %s missing", ErrStructure, want)
		}
		if err != nil {
			return nil, err
		}
		if m.Name != want {
			return nil, fmt.Errorf("%w: member %d is %q, want %s", ErrStructure, i+1, m.Name, want)
		}
		switch m.Name {
		case MemberEnvelope:
			if out.Meta, err = readMeta(m); err != nil {
				return nil, err
			}
			if err := h.Meta(ctx, out.Meta); err != nil {
				return nil, err
			}
		case MemberContainer, MemberInfo:
			data, err := readCapped(m, MaxJSONMember)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrStructure, err)
			}
			if err := checkJSON(data); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrStructure, m.Name, err)
			}
		case MemberLayer:
			if m.Size != out.Meta.Layer.Size {
				return nil, fmt.Errorf("%w: %s: %d bytes, %s says %d", ErrStructure, m.Name, m.Size, MemberEnvelope, out.Meta.Layer.Size)
			}
			if out.Reassembled, out.Headers, err = extractLayer(ctx, m, h); err != nil {
				return nil, err
			}
		case MemberTarSplit:
			if max := maxSplitSize(out.Meta.Layer.Size); m.Size > max {
				return nil, fmt.Errorf("%w: %s: %d bytes, more than the metadata of a %d-byte layer can take (%d)", ErrStructure, m.Name, m.Size, out.Meta.Layer.Size, max)
			}
		case MemberSums:
			if sums, err = readCapped(m, maxSums); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrStructure, err)
			}
		}
		if _, err := io.Copy(io.Discard, m); err != nil {
			return nil, err
		}
		digests[m.Name] = m.Digest()
	}
	if m, err := er.Next(); err == nil {
		return nil, fmt.Errorf("%w: unexpected member %q after %s", ErrStructure, m.Name, MemberSums)
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := er.Close(); err != nil {
		return nil, err
	}
	if err := compareSums(sums, digests); err != nil {
		return nil, err
	}
	out.LayerDigest = "sha256:" + digests[MemberLayer]
	if out.Reassembled != "" && out.Reassembled != out.LayerDigest {
		return nil, fmt.Errorf("%s: reassembled %s, read %s: %w", MemberLayer, out.Reassembled, out.LayerDigest, ErrReassembly)
	}
	return out, nil
}

// readMeta decodes and checks envelope.json.
func readMeta(m *Member) (*Meta, error) {
	data, err := readCapped(m, MaxJSONMember)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStructure, err)
	}
	if err := checkJSON(data); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStructure, m.Name, err)
	}
	var meta Meta
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStructure, m.Name, err)
	}
	if meta.Format != Format {
		return nil, fmt.Errorf("%w: %s: format %q, this tool reads %q", ErrStructure, m.Name, meta.Format, Format)
	}
	if err := checkLayerCounts(meta.Layer); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrStructure, m.Name, err)
	}
	return &meta, nil
}

// extractLayer hands layer.tar to the handler. For a Stager, tar-split
// records the same bytes in its own goroutine and the reassembler rebuilds
// layer.tar from them and the staged files, in constant memory; it returns
// the reassembled digest.
func extractLayer(ctx context.Context, m *Member, h Handler) (digest string, headers [sha256.Size]byte, err error) {
	st, ok := h.(Stager)
	if !ok {
		return "", headers, h.Layer(ctx, m)
	}
	re := &reassembler{h: sha256.New(), hdrs: sha256.New(), staged: st.Staged, buf: make([]byte, 1<<20)}
	// No crc64s: the reassembly's sha256 against layer.tar's decides.
	putter := newBoundedPutter(m.Size, false)
	tee, done, err := asm.NewInputTarStreamWithDone(m, re, putter)
	if err != nil {
		return "", headers, err
	}
	// Closing the tee on an early return stops tar-split's goroutine,
	// which would otherwise wait on the pipe forever.
	defer func() {
		if done != nil {
			putter.stop.Store(true)
			tee.Close()
			<-done
		}
	}()
	if err := h.Layer(ctx, tee); err != nil {
		return "", headers, err
	}
	// The handler stops at the tar's end; tar-split wants the padding too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", headers, fmt.Errorf("%s: %w", MemberLayer, err)
	}
	// tar-split's goroutine is done with its last entry only now.
	tee.Close()
	if err := <-done; err != nil {
		return "", headers, fmt.Errorf("%s: %w", MemberLayer, err)
	}
	done = nil
	re.hdrs.Sum(headers[:0])
	return "sha256:" + hex.EncodeToString(re.h.Sum(nil)), headers, nil
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
