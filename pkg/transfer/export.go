package transfer

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Tree is a directory an envelope carries, with the options it is read or
// written with: for the container's layer, an overlay upper dir.
type Tree struct {
	// Dir is the directory: for the layer, the overlay upper dir.
	Dir string
	// Opts are how it is read or written (UserXattr, Warn).
	Opts overlay.Options
}

// Source is what an export puts in an envelope.
type Source struct {
	// Meta is envelope.json. Export fills in Meta.Layer from its
	// measuring pass.
	Meta envelope.Meta
	// Container and Info are the engine's inspect and /info documents.
	Container, Info []byte
	// Layer is the container's read-write layer.
	Layer Tree
}

// Export writes the envelope of src to w and returns the sha256 of the
// bytes written ("sha256:HEX"), the digest that --expect later checks.
// The layer is measured first (sizes, entry count, warnings) and then read
// twice, for layer.tar and for its tar-split metadata; a tree that changes
// in between fails the export with overlay.ErrChanged.
func Export(ctx context.Context, w io.Writer, src Source, opts envelope.WriteOptions) (digest string, err error) {
	plan, err := overlay.Measure(ctx, src.Layer.Dir, src.Layer.Opts)
	if err != nil {
		return "", fmt.Errorf("read layer of %s: %w", src.Meta.Container.Name, err)
	}
	meta := src.Meta
	meta.Layer = envelope.Layer{Size: plan.Size, Entries: plan.Stats.Entries}
	quiet := src.Layer.Opts
	quiet.Warn = nil // the measuring pass has warned already
	contents := envelope.Contents{
		Meta:      meta,
		Container: src.Container,
		Info:      src.Info,
		Layer:     &treeLayer{tree: Tree{Dir: src.Layer.Dir, Opts: quiet}, plan: plan},
	}
	// One write a megabyte to the pipe and the digest, not one for each
	// tar block.
	d := envelope.NewDigestWriter(w)
	bw := bufio.NewWriterSize(d, 1<<20)
	if err := envelope.Write(ctx, bw, contents, opts); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	return d.Digest(), nil
}

// treeLayer is a layer directory as the source of layer.tar. Both passes
// must find the tree as the measuring pass did.
type treeLayer struct {
	tree Tree
	plan overlay.Plan
}

func (l *treeLayer) WriteLayer(ctx context.Context, w io.Writer, rec overlay.Recorder) error {
	opts := l.tree.Opts
	opts.Record = rec
	got, err := overlay.Write(ctx, l.tree.Dir, w, opts)
	if err != nil {
		return err
	}
	return l.same(got)
}

func (l *treeLayer) ReplayLayer(ctx context.Context, rec overlay.Recorder) error {
	opts := l.tree.Opts
	opts.Record = rec
	got, err := overlay.Measure(ctx, l.tree.Dir, opts)
	if err != nil {
		return err
	}
	return l.same(got)
}

func (l *treeLayer) same(got overlay.Plan) error {
	if !got.Same(l.plan) {
		return overlay.ErrChanged
	}
	return nil
}
