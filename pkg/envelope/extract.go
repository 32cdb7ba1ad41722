package envelope

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
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

// Extracted is what Extract learnt of an envelope that passed.
type Extracted struct {
	Meta        *Meta
	Compression Compression
	// LayerDigest is "sha256:HEX" of layer.tar.
	LayerDigest string
	// TarSplit is tar-split metadata (gzipped JSON) recorded from layer.tar
	// as it streamed past, never the envelope's own copy.
	TarSplit []byte
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
			if out.TarSplit, err = extractLayer(ctx, m, h); err != nil {
				return nil, err
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
	if meta.Layer.Size < 0 || meta.Layer.Entries < 0 {
		return nil, fmt.Errorf("%w: %s: negative layer size or entry count", ErrStructure, m.Name)
	}
	return &meta, nil
}

// extractLayer hands layer.tar to the handler while tar-split records it.
func extractLayer(ctx context.Context, m *Member, h Handler) ([]byte, error) {
	var split bytes.Buffer
	zw := gzip.NewWriter(&split)
	tee, done, err := asm.NewInputTarStreamWithDone(m, storage.NewJSONPacker(zw), storage.NewDiscardFilePutter())
	if err != nil {
		return nil, err
	}
	// Closing the tee on an early return stops tar-split's goroutine,
	// which would otherwise wait on the pipe forever.
	defer func() { tee.Close(); <-done }()
	if err := h.Layer(ctx, tee); err != nil {
		return nil, err
	}
	// The handler stops at the tar's end; tar-split wants the padding too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return nil, fmt.Errorf("%s: %w", MemberLayer, err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return split.Bytes(), nil
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
		if !ok || len(hexsum) != 64 || name != want[i] {
			return fmt.Errorf("%w: %s line %d: want \"<sha256>  %s\"", ErrStructure, MemberSums, i+1, want[i])
		}
		if got := digests[name]; got != hexsum {
			return fmt.Errorf("%s: sha256 %s, %s says %s: %w", name, got, MemberSums, hexsum, ErrDigestMismatch)
		}
	}
	return nil
}
