package transfer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/internal/tally"
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
	// Volumes are the volumes (and directory binds) the envelope carries,
	// each a plain tree; Export completes their metadata (member names,
	// sizes, entries) and puts it in Meta.Volumes.
	Volumes []VolumeTree
}

// VolumeTree is a volume's directory and what envelope.json says of it.
type VolumeTree struct {
	Meta envelope.Volume
	Dir  string
}

// ExportOptions say how an export goes.
type ExportOptions struct {
	// WriteOptions are the envelope's compression and level.
	envelope.WriteOptions
	// Progress, if set, is told the phases ("measuring" every tree, then
	// for each "reading" it into its tar and, for a tree of more entries
	// than its tar-split metadata can be held for, "indexing" it again for
	// that metadata), the entries measured, the totals once every
	// tree is measured, and then the bytes and entries of each tree's tar
	// as they are written.
	Progress envelope.Progress
}

// Export writes the envelope of src to w and returns its digest
// ("sha256:HEX" of its SHA256SUMS, see envelope.Root), which --expect
// later checks.
// Each tree (the layer, then each volume) is measured first (sizes, entry
// count, warnings) and then read for its tar, and the tar-split metadata
// recorded on the way; a tree too large for that metadata to be held is
// gone over a third time for it. What the measuring passes see is kept
// (overlay.Listing, within listMemory), so that the writing pass opens
// only directories and files with contents instead of walking again, and
// the third pass makes no system call; a tree past that bound is walked
// again. A tree that changes in between fails the export with
// overlay.ErrChanged. With volumes or omitted mounts the envelope is v2.
func Export(ctx context.Context, w io.Writer, src Source, opts ExportOptions) (digest string, err error) {
	prog := opts.Progress
	if prog != nil {
		prog.Phase("measuring")
	}
	var skipped skips
	budget := listMemory
	plan, list, err := measure(ctx, src.Layer, prog, &skipped, &budget)
	if err != nil {
		return "", fmt.Errorf("read layer of %s: %w", src.Meta.Container.Name, err)
	}
	meta := src.Meta
	meta.Layer = envelope.Layer{Size: plan.Size, Entries: plan.Stats.Entries, Skipped: skipped.names()}
	contents := envelope.Contents{
		Meta:      meta,
		Container: src.Container,
		Info:      src.Info,
		Layer:     newTreeLayer(src.Layer, plan, list, prog),
	}
	if len(src.Volumes) > 0 || len(meta.Omitted) > 0 {
		contents.Meta.Format = envelope.FormatV2
	}
	contents.Meta.Volumes = nil
	for i, v := range src.Volumes {
		tree := Tree{Dir: v.Dir, Opts: overlay.Options{Plain: true, Warn: warnAt(src.Layer.Opts.Warn, v.Meta.Destination)}}
		var vskipped skips
		vplan, vlist, err := measure(ctx, tree, prog, &vskipped, &budget)
		if err != nil {
			return "", fmt.Errorf("read volume at %s: %w", v.Meta.Destination, err)
		}
		vm := v.Meta
		vm.Tar, vm.TarSplit = envelope.VolumeTar(i), envelope.VolumeTarSplit(i)
		vm.Size, vm.Entries, vm.Skipped = vplan.Size, vplan.Stats.Entries, vskipped.names()
		contents.Meta.Volumes = append(contents.Meta.Volumes, vm)
		contents.Volumes = append(contents.Volumes, newTreeLayer(tree, vplan, vlist, prog))
	}
	if prog != nil {
		prog.Total(envelope.Total(&contents.Meta))
	}
	return envelope.WriteDigest(ctx, w, contents, opts.WriteOptions)
}

// listMemory bounds what an export keeps of its trees' measuring passes
// (overlay.Listing, about 120 bytes an entry: some 70,000 entries in all),
// so that their writing passes read only file contents; a tree past what
// is left of it is walked again.
var listMemory = 8 << 20

// measure is the measuring pass over tree, counting its entries for prog
// (if set). It keeps the tree's listing if it fits in *budget, and takes
// it from there.
func measure(ctx context.Context, tree Tree, prog envelope.Progress, skipped *skips, budget *int) (overlay.Plan, *overlay.Listing, error) {
	opts := tree.Opts
	opts.Skipped = skipped.add
	count := tally.New(prog)
	if count != nil {
		opts.Record = &countingRecorder{count: count}
		defer count.Flush()
	}
	plan, list, err := overlay.MeasureList(ctx, tree.Dir, opts, *budget)
	if list != nil {
		*budget -= list.Bytes()
	}
	return plan, list, err
}

// newTreeLayer is tree as the source of its tar, measured as plan (and
// listed, if list is not nil); the measuring pass has warned already.
func newTreeLayer(tree Tree, plan overlay.Plan, list *overlay.Listing, prog envelope.Progress) *treeLayer {
	tree.Opts.Warn = nil
	return &treeLayer{tree: tree, plan: plan, list: list, progress: prog}
}

// treeLayer is a layer directory as the source of layer.tar. Both passes
// must find the tree as the measuring pass did.
type treeLayer struct {
	tree     Tree
	plan     overlay.Plan
	list     *overlay.Listing  // or nil: walk the tree again
	progress envelope.Progress // or nil
}

func (l *treeLayer) WriteLayer(ctx context.Context, w io.Writer, rec overlay.Recorder) error {
	opts := l.tree.Opts
	opts.Record = rec
	if count := tally.New(l.progress); count != nil {
		l.progress.Phase("reading")
		opts.Record = &countingRecorder{next: rec, count: count}
		defer count.Flush()
	}
	var got overlay.Plan
	var err error
	if l.list != nil {
		got, err = overlay.WriteListed(ctx, l.list, w, opts)
	} else {
		got, err = overlay.Write(ctx, l.tree.Dir, w, opts)
	}
	if err != nil {
		return err
	}
	return l.same(got)
}

func (l *treeLayer) ReplayLayer(ctx context.Context, rec overlay.Recorder) error {
	if l.progress != nil {
		l.progress.Phase("indexing")
	}
	opts := l.tree.Opts
	opts.Record = rec
	var got overlay.Plan
	var err error
	if l.list != nil {
		got, err = overlay.WriteListed(ctx, l.list, nil, opts)
	} else {
		got, err = overlay.Measure(ctx, l.tree.Dir, opts)
	}
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

// countingRecorder counts a tar's entries and bytes (all of them: the
// bytes before each entry's contents, the contents, the end) on their way
// to next, if any: the one place that sees every byte of a tree's tar
// without a writer of its own.
type countingRecorder struct {
	next  overlay.Recorder
	count *tally.Counter
}

func (r *countingRecorder) Entry(raw []byte, hdr *tar.Header) error {
	r.count.Bytes(len(raw))
	r.count.Entries(1)
	if r.next == nil {
		return nil
	}
	return r.next.Entry(raw, hdr)
}

func (r *countingRecorder) Contents(p []byte) {
	r.count.Bytes(len(p))
	if r.next != nil {
		r.next.Contents(p)
	}
}

// Lend passes on next's lending (overlay.Lender), if it lends.
func (r *countingRecorder) Lend(n int) []byte {
	if l, ok := r.next.(overlay.Lender); ok {
		return l.Lend(n)
	}
	return nil
}

func (r *countingRecorder) End(raw []byte) error {
	r.count.Bytes(len(raw))
	if r.next == nil {
		return nil
	}
	return r.next.End(raw)
}

// warnAt is warn with the volume's destination before each message, so
// that "skipping socket mysql.sock" says which volume.
func warnAt(warn func(string), dest string) func(string) {
	if warn == nil {
		return nil
	}
	return func(msg string) { warn("volume at " + dest + ": " + msg) }
}

// skips collects the entries a measuring pass skipped, for envelope.json:
// nothing an export cannot carry goes unrecorded.
type skips struct {
	list []string
	more int
}

func (s *skips) add(name string) {
	if len(s.list) < envelope.MaxSkipped-1 {
		s.list = append(s.list, name)
		return
	}
	s.more++
}

func (s *skips) names() []string {
	if s.more > 0 {
		return append(s.list, fmt.Sprintf("... and %d more", s.more))
	}
	return s.list
}
