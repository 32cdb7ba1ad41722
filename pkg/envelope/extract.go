package envelope

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Handler is told about an envelope as it streams past Extract.
type Handler interface {
	// Meta gets envelope.json before anything else is read: the place to
	// refuse an envelope before touching anything.
	Meta(ctx context.Context, m *Meta) error
	// Tree gets each tree's tar in turn, the layer's first, then each
	// volume's; it must read r to the end of the tar, and returns the
	// number of the tar's entries (every header archive/tar returns).
	Tree(ctx context.Context, t TreeRef, r io.Reader) (entries int64, err error)
}

// ContainerHandler is a Handler that also gets container.json, after
// envelope.json and before any tree: an import that creates its target
// container from the source's configuration does it there.
type ContainerHandler interface {
	Handler
	Container(ctx context.Context, raw []byte) error
}

// TreeRef names a tree of an envelope: the layer (Index 0, Volume nil) or
// a volume (Index i+1 for the i-th of Meta.Volumes).
type TreeRef struct {
	Index  int
	Member string
	Volume *Volume
}

// Plain tells whether the tree is a plain directory (a volume), whose tar
// has a root entry and no overlay whiteouts, rather than the layer.
func (t TreeRef) Plain() bool { return t.Volume != nil }

// Extracted is what Extract learnt of an envelope that passed.
type Extracted struct {
	Meta        *Meta
	Compression Compression
	// LayerDigest is "sha256:HEX" of layer.tar.
	LayerDigest string
	// Root is the envelope's digest (see [Root]).
	Root string
	// Trees are the layer (0) and each volume (1...).
	Trees []TreeExtracted
	// Unchecked says what the format allowed to pass without a check,
	// each a sentence for a warning: a file of the original layer-tool
	// whose layer_checksum could not be recomputed (legacy.go).
	Unchecked []string
}

// TreeExtracted is what Extract learnt of one tree.
type TreeExtracted struct {
	// Digest is "sha256:HEX" of the tree's tar.
	Digest string
	// Entries is the number of the tar's entries.
	Entries int64
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
	ex := &Extracted{Meta: w.meta, Compression: w.compression, LayerDigest: "sha256:" + w.digests[MemberLayer], Unchecked: w.unchecked()}
	if w.sums != nil {
		ex.Root = Root(w.sums)
	}
	for _, t := range w.trees {
		ex.Trees = append(ex.Trees, TreeExtracted{Digest: "sha256:" + w.digests[t.ref.Member], Entries: t.entries})
	}
	return ex, nil
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
	if m.Format != Format && m.Format != FormatV2 {
		return fmt.Errorf("format %q, this tool reads %q and %q", m.Format, Format, FormatV2)
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
	if err := checkLayerCounts(m.Layer); err != nil {
		return err
	}
	if m.Format == Format && (m.Volumes != nil || m.Omitted != nil) {
		return fmt.Errorf("volumes or omitted mounts in a %s envelope", Format)
	}
	return checkVolumes(m)
}

// maxVolumes bounds how many volumes an envelope may carry: each is two
// members and a journal entry on import.
const maxVolumes = 256

// checkVolumes applies the rules of v2's volume list: member names fixed
// by position, sizes that fit their entries, one tree per destination,
// and destinations an import can find.
func checkVolumes(m *Meta) error {
	if len(m.Volumes) > maxVolumes {
		return fmt.Errorf("%d volumes, more than the %d allowed", len(m.Volumes), maxVolumes)
	}
	seen := map[string]bool{}
	for i, v := range m.Volumes {
		where := fmt.Sprintf("volumes[%d]", i)
		switch {
		case v.Type != "volume" && v.Type != "bind":
			return fmt.Errorf("%s: type %q, want volume or bind", where, v.Type)
		case v.Type == "volume" && v.Name == "":
			return fmt.Errorf("%s: a volume without a name", where)
		case v.Tar != VolumeTar(i) || v.TarSplit != VolumeTarSplit(i):
			return fmt.Errorf("%s: members %q and %q, want %q and %q", where, v.Tar, v.TarSplit, VolumeTar(i), VolumeTarSplit(i))
		case !cleanAbs(v.Destination):
			return fmt.Errorf("%s: destination %q is not a clean absolute path below /", where, v.Destination)
		case seen[v.Destination]:
			return fmt.Errorf("%s: destination %s carried twice", where, v.Destination)
		}
		seen[v.Destination] = true
		if err := checkLayerCounts(Layer{Size: v.Size, Entries: v.Entries}); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	for i, o := range m.Omitted {
		if o.Destination == "" || o.Reason == "" {
			return fmt.Errorf("omitted[%d]: a destination and a reason are required", i)
		}
	}
	return nil
}

// cleanAbs tells whether p is an absolute, clean path other than "/".
func cleanAbs(p string) bool {
	return len(p) > 1 && path.IsAbs(p) && path.Clean(p) == p
}

// compareSums checks SHA256SUMS against the digests computed while reading:
// exactly one line per member before it (members lists them all, in
// order, SHA256SUMS last), in member order.
func compareSums(sums []byte, digests map[string]string, members []string) error {
	lines := strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n")
	want := members[:len(members)-1]
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
