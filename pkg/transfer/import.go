package transfer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
	"github.com/layer-tool/layer-tool/pkg/internal/tally"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Errors an import's callers may branch on.
var (
	// ErrNoSpace: the file system cannot hold the layer.
	ErrNoSpace = errors.New("not enough free space")
	// ErrVerify: a staged tree is not what the envelope's tar says: a node
	// Apply wrote did not read back as its entry says (a file system
	// that cannot keep it, or the kernel adding to it), or the tree holds
	// more names than the tar makes.
	ErrVerify = overlay.ErrMismatch
)

// ImportOptions say how an import goes.
type ImportOptions struct {
	// Gate sees envelope.json before anything is written, and refuses an
	// envelope that does not fit the target by returning an error.
	Gate func(context.Context, *envelope.Meta) error
	// Create, for an import given no target, makes the target container
	// from envelope.json and container.json (read before any tree) and
	// returns its layer's target. Whoever made it removes it if Import
	// fails.
	// It returns the layer's overlay options too (UserXattr), which only the
	// made container can tell.
	Create func(ctx context.Context, m *envelope.Meta, container []byte) (*overlay.Target, overlay.Options, error)
	// Volumes, called after Gate (and Create), finds the directory each of the
	// envelope's volumes replaces: a target for each of meta.Volumes, in
	// order, nil to leave that volume out (its tar is still read and
	// verified). Without it, an envelope that carries volumes is refused.
	Volumes func(context.Context, *envelope.Meta) ([]*overlay.Target, error)
	// Opts are the layer's overlay options (UserXattr, and an Applied hook
	// told of each entry written). MaxEntries is set from envelope.json.
	Opts overlay.Options
	// Progress, if set, is told the totals envelope.json declares, the
	// bytes and entries of each tree's tar as they are read and written,
	// and the phases: "creating" (with Create), "reading" (which proves
	// each entry as it lands), "syncing" (the staged trees to disk) and
	// "swapping".
	Progress envelope.Progress
	// Keep keeps each replaced directory as a backup beside the new one.
	Keep bool
	// Expect, if set, is the envelope's digest ("sha256:HEX"), checked
	// before anything is swapped in: its root (envelope.Root), or the
	// sha256 of the stream as read, which layer-export printed before.
	Expect string
}

// Imported is what a successful import did.
type Imported struct {
	// Digest is layer.tar's "sha256:HEX", its diffID.
	Digest string
	// Entries is layer.tar's number of entries, as envelope.json says.
	Entries int64
	// Backup is where the replaced layer is kept, or "" without Keep.
	Backup string
	// Volumes are the volumes replaced, in envelope order.
	Volumes []ImportedVolume
	// Unchecked says what the envelope's format let pass unchecked, for
	// warnings (envelope.Extracted.Unchecked).
	Unchecked []string
}

// ImportedVolume is what an import did to one volume.
type ImportedVolume struct {
	Destination string
	Digest      string
	Entries     int64
	// Backup is where the replaced directory is kept, or "".
	Backup string
}

// ErrVolumes: the envelope carries volumes and the import was given no
// way to place them.
var ErrVolumes = errors.New("envelope carries volumes")

// Import extracts the envelope read from r into staging dirs beside t's
// layer (or, with t nil, the layer of the container opts.Create makes) and
// beside each volume's directory, verifies every one, and swaps them in
// together: all old or all new, even across a kill (the next OpenTarget of
// any of them finishes the swap). On any error the staging dirs are
// removed and every directory is as it was.
func Import(ctx context.Context, t *overlay.Target, r io.Reader, opts ImportOptions) (res Imported, err error) {
	if t == nil && opts.Create == nil {
		return res, errors.New("import: no target and no way to create one")
	}
	im := &importer{layer: t, o: opts}
	defer func() {
		if err == nil {
			return
		}
		for _, st := range im.trees {
			if st == nil || st.staging == "" {
				continue
			}
			if derr := st.target.Discard(st.staging); derr != nil {
				err = fmt.Errorf("%w (and removing the staging dir %s: %v)", err, st.staging, derr)
			}
		}
	}()
	var stream *envelope.Digester
	if opts.Expect != "" {
		// Only an old digest needs the stream's own sha256.
		stream = envelope.NewDigestReader(r)
		r = stream
	}
	ex, err := envelope.Extract(ctx, r, im)
	if err == nil {
		// Canceled after the last byte: still nothing swapped.
		err = ctx.Err()
	}
	if err == nil && stream != nil && !envelope.Expected(opts.Expect, ex.Root, stream.Digest()) {
		err = fmt.Errorf("envelope %s (input %s), --expect %s: %w", orNone(ex.Root), stream.Digest(), opts.Expect, envelope.ErrExpect)
	}
	if err != nil {
		return res, err
	}
	t = im.layer
	layer := im.trees[0]
	im.phase("syncing")
	if err := t.CopyRootAttrs(layer.staging); err != nil {
		return res, fmt.Errorf("set root of staged layer: %w", err)
	}
	var targets []*overlay.Target
	var stagings []string
	for _, st := range im.trees {
		if st != nil {
			targets = append(targets, st.target)
			stagings = append(stagings, st.staging)
		}
	}
	// Swap syncs each staging dir too; doing it first, apart, lets a
	// progress line say which of the two a long wait is.
	if opts.Progress != nil {
		for _, dir := range stagings {
			if err := overlay.Sync(dir); err != nil {
				return res, err
			}
		}
	}
	im.phase("swapping")
	for _, st := range im.trees {
		if st != nil {
			st.staging = "" // Swap owns it now
		}
	}
	var backups []string
	if len(targets) == 1 {
		var b string
		b, err = t.Swap(stagings[0], opts.Keep)
		backups = []string{b}
	} else {
		backups, err = (&overlay.Group{Targets: targets}).Swap(stagings, opts.Keep)
	}
	if err != nil {
		return res, err
	}
	res = Imported{Digest: ex.LayerDigest, Entries: ex.Trees[0].Entries, Unchecked: ex.Unchecked}
	k := 0
	for i, st := range im.trees {
		if st == nil {
			continue
		}
		b := ""
		if opts.Keep && k < len(backups) {
			b = backups[k]
		}
		k++
		if i == 0 {
			res.Backup = b
			continue
		}
		v := ex.Meta.Volumes[i-1]
		res.Volumes = append(res.Volumes, ImportedVolume{Destination: v.Destination, Digest: ex.Trees[i].Digest, Entries: ex.Trees[i].Entries, Backup: b})
	}
	return res, nil
}

// importer gates an envelope as it arrives and extracts each tree it
// replaces into a staging directory.
type importer struct {
	layer *overlay.Target
	o     ImportOptions
	meta  *envelope.Meta
	// trees are the layer's (0) and each volume's (1...) staging; nil for
	// a volume left out.
	trees []*stagedTree
}

// stagedTree is one tree being extracted.
type stagedTree struct {
	target  *overlay.Target
	staging string
	opts    overlay.Options
}

// Meta refuses an envelope that does not fit the target before anything
// is written.
func (im *importer) Meta(ctx context.Context, m *envelope.Meta) error {
	im.meta = m
	if p := im.o.Progress; p != nil {
		p.Total(envelope.Total(m))
	}
	if im.o.Gate != nil {
		return im.o.Gate(ctx, m)
	}
	return nil
}

// Container, once container.json is read, makes the target container if
// asked to, finds the volumes' directories, checks the free space and
// makes the staging dirs: all before the first tree.
func (im *importer) Container(ctx context.Context, raw []byte) error {
	m := im.meta
	if im.layer == nil {
		im.phase("creating")
		t, opts, err := im.o.Create(ctx, m, raw)
		if err != nil {
			return err
		}
		im.layer = t
		im.o.Opts.UserXattr = opts.UserXattr
	}
	defer im.phase("reading")
	targets := []*overlay.Target{im.layer}
	if len(m.Volumes) > 0 {
		if im.o.Volumes == nil {
			return fmt.Errorf("%w (%d) and this import places none", ErrVolumes, len(m.Volumes))
		}
		vt, err := im.o.Volumes(ctx, m)
		if err != nil {
			return err
		}
		if len(vt) != len(m.Volumes) {
			return fmt.Errorf("%d targets for %d volumes", len(vt), len(m.Volumes))
		}
		targets = append(targets, vt...)
	}
	declared := []envelope.Layer{m.Layer}
	for _, v := range m.Volumes {
		declared = append(declared, envelope.Layer{Size: v.Size, Entries: v.Entries})
	}
	space := spaceNeeds{}
	for i, t := range targets {
		if t == nil {
			im.trees = append(im.trees, nil)
			continue
		}
		staging, err := t.Stage()
		if err != nil {
			return err
		}
		opts := im.o.Opts
		if i > 0 {
			opts = overlay.Options{Plain: true, Applied: im.o.Opts.Applied, Warn: im.o.Opts.Warn}
		}
		// Apply refuses entries beyond the declared count, so the
		// declared size and count bound what the import can write: file
		// data within the tar's size, and at most one block and one
		// inode per entry.
		opts.MaxEntries = declared[i].Entries
		if opts.MaxEntries == 0 {
			opts.MaxEntries = -1
		}
		im.trees = append(im.trees, &stagedTree{target: t, staging: staging, opts: opts})
		what := "layer"
		if i > 0 {
			what = fmt.Sprintf("volume at %s", m.Volumes[i-1].Destination)
		}
		if err := space.add(what, staging, declared[i]); err != nil {
			return err
		}
	}
	return nil
}

// spaceNeeds adds up what the trees need on each file system: two volumes
// on one file system must fit there together.
type spaceNeeds map[uint64]*need

type need struct {
	dir            string
	free           space
	bytes, entries int64
}

// add counts l (the tree named what) against dir's file system and
// refuses what it cannot hold, with all counted there before it:
// the tars' sizes, a block for each entry, and an inode for each entry.
func (s spaceNeeds) add(what, dir string, l envelope.Layer) error {
	fs, err := statfs(dir)
	if err != nil {
		return err
	}
	n := s[fs.id]
	if n == nil {
		n = &need{dir: dir, free: fs}
		s[fs.id] = n
	}
	// Extract has checked that every entry can have its 512-byte header
	// (entries <= size/512), and bounds the number of trees, which keeps
	// the sums below small.
	n.bytes += l.Size
	n.entries += l.Entries
	if n.entries > (math.MaxInt64-n.bytes)/fs.blockSize {
		return fmt.Errorf("%s declares %d entries: %w", what, n.entries, ErrNoSpace)
	}
	want := n.bytes + n.entries*fs.blockSize
	if fs.freeBytes < want {
		return fmt.Errorf("%s needs up to %d bytes, %s has %d free: %w", what, want, dir, fs.freeBytes, ErrNoSpace)
	}
	if fs.limitsInodes && uint64(n.entries) > fs.freeInodes {
		return fmt.Errorf("%s has %d entries, %s has %d free inodes: %w", what, n.entries, dir, fs.freeInodes, ErrNoSpace)
	}
	return nil
}

// space is what statfs tells of a file system.
type space struct {
	id           uint64 // tells file systems apart
	blockSize    int64
	freeBytes    int64
	freeInodes   uint64
	limitsInodes bool // some file systems (btrfs) report no inode count
}

// Tree extracts a tree's tar into its staging directory, where Apply
// proves each entry as it lands. A tree left out is only read.
func (im *importer) Tree(ctx context.Context, t envelope.TreeRef, r io.Reader) (int64, error) {
	st := im.trees[t.Index]
	count := tally.New(im.o.Progress)
	defer count.Flush()
	r = tally.Reader(r, count)
	if st == nil {
		// Read, and checked for its digest, but not applied: counted by
		// archive/tar alone.
		return countEntries(ctx, r, count)
	}
	if t.Index == 0 {
		r = &killAfter{r: r, n: 64 << 10}
	}
	opts := st.opts
	opts.Applied = func(hdr *tar.Header) {
		count.Entries(1)
		if st.opts.Applied != nil {
			st.opts.Applied(hdr)
		}
	}
	stats, err := overlay.Apply(ctx, st.staging, r, opts)
	return stats.Entries, err
}

// countEntries reads a tar to its end, counting its entries.
func countEntries(ctx context.Context, r io.Reader, count *tally.Counter) (int64, error) {
	tr := tar.NewReader(r)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("layer entry %d: %w", n+1, err)
		}
		n++
		count.Entries(1)
	}
}

// orNone is s, or "without SHA256SUMS" for a file that has none.
func orNone(s string) string {
	if s == "" {
		return "without SHA256SUMS"
	}
	return s
}

// phase tells the progress, if any, what the import does now.
func (im *importer) phase(name string) {
	if im.o.Progress != nil {
		im.o.Progress.Phase(name)
	}
}

// killAfter hits the "extract" failpoint once more than n bytes have been
// read, and on every read after that: a test's way to kill an import in
// the middle of the layer.
type killAfter struct {
	r io.Reader
	n int64
}

func (k *killAfter) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if k.n -= int64(n); k.n < 0 {
		failpoint.Hit("extract")
	}
	return n, err
}
