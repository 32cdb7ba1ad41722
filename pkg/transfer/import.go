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
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Errors an import's callers may branch on.
var (
	// ErrNoSpace: the file system cannot hold the layer.
	ErrNoSpace = errors.New("not enough free space")
	// ErrVerify: the staged layer does not reproduce the envelope's
	// layer.tar.
	ErrVerify = errors.New("staged layer does not match layer.tar")
)

// ImportOptions say how an import goes.
type ImportOptions struct {
	// Gate sees envelope.json before anything is written, and refuses an
	// envelope that does not fit the target by returning an error.
	Gate func(context.Context, *envelope.Meta) error
	// Opts are the layer's overlay options (UserXattr, and an Applied hook
	// told of each entry written). MaxEntries is set from envelope.json.
	Opts overlay.Options
	// OnEntry, if set, is called after each entry is written: a
	// progress meter's count.
	OnEntry func()
	// Keep keeps the replaced layer as a backup beside the new one.
	Keep bool
}

// Imported is what a successful import did.
type Imported struct {
	// Digest is layer.tar's "sha256:HEX", its diffID.
	Digest string
	// Entries is layer.tar's number of entries, as envelope.json says.
	Entries int64
	// Backup is where the replaced layer is kept, or "" without Keep.
	Backup string
}

// Import extracts the envelope read from r into a staging dir beside t's
// layer, verifies it, and swaps it in. On any error the staging dir is
// removed and the layer is as it was.
func Import(ctx context.Context, t *overlay.Target, r io.Reader, opts ImportOptions) (res Imported, err error) {
	im := &importer{target: t, gate: opts.Gate, opts: opts.Opts, onEntry: opts.OnEntry, written: make(chan string, 64)}
	defer func() {
		if err != nil && im.staging != "" {
			if derr := t.Discard(im.staging); derr != nil {
				err = fmt.Errorf("%w (and removing the staging dir: %v)", err, derr)
			}
		}
	}()
	ex, err := envelope.Extract(ctx, r, im)
	if im.root != nil {
		im.root.Close()
	}
	if err != nil {
		return res, err
	}
	if err := im.verify(ctx, ex); err != nil {
		return res, err
	}
	if err := t.CopyRootAttrs(im.staging); err != nil {
		return res, fmt.Errorf("set root of staged layer: %w", err)
	}
	staging := im.staging
	im.staging = "" // Swap owns it now
	backup, err := t.Swap(staging, opts.Keep)
	if err != nil {
		return res, err
	}
	return Imported{Digest: ex.LayerDigest, Entries: ex.Entries, Backup: backup}, nil
}

// importer gates an envelope as it arrives and extracts its layer into a
// staging directory.
type importer struct {
	target  *overlay.Target
	gate    func(context.Context, *envelope.Meta) error
	opts    overlay.Options
	onEntry func()
	staging string
	// written carries the names of the files with contents that Layer has
	// written, in order, to Staged, which opens them beneath root.
	written chan string
	root    *overlay.Root
}

// Meta refuses an envelope that does not fit the target, or the free
// space, before anything is written.
func (im *importer) Meta(ctx context.Context, m *envelope.Meta) error {
	if im.gate != nil {
		if err := im.gate(ctx, m); err != nil {
			return err
		}
	}
	staging, err := im.target.Stage()
	if err != nil {
		return err
	}
	im.staging = staging
	// Apply refuses entries beyond the declared count, so the declared
	// size and count bound what the import can write: file data within
	// the tar's size, and at most one block and one inode per entry.
	im.opts.MaxEntries = m.Layer.Entries
	if m.Layer.Entries == 0 {
		im.opts.MaxEntries = -1
	}
	return checkSpace(staging, m.Layer)
}

// checkSpace refuses a layer that dir's file system cannot hold: its
// size, a block for each entry, and an inode for each entry.
func checkSpace(dir string, l envelope.Layer) error {
	fs, err := statfs(dir)
	if err != nil {
		return err
	}
	// Extract has checked that every entry can have its 512-byte header
	// (entries <= size/512), which keeps the sums below small.
	if l.Entries > (math.MaxInt64-l.Size)/fs.blockSize {
		return fmt.Errorf("layer declares %d entries: %w", l.Entries, ErrNoSpace)
	}
	need := l.Size + l.Entries*fs.blockSize
	if fs.freeBytes < need {
		return fmt.Errorf("layer needs up to %d bytes, %s has %d free: %w", need, dir, fs.freeBytes, ErrNoSpace)
	}
	if fs.limitsInodes && uint64(l.Entries) > fs.freeInodes {
		return fmt.Errorf("layer has %d entries, %s has %d free inodes: %w", l.Entries, dir, fs.freeInodes, ErrNoSpace)
	}
	return nil
}

// space is what statfs tells of a file system.
type space struct {
	blockSize    int64
	freeBytes    int64
	freeInodes   uint64
	limitsInodes bool // some file systems (btrfs) report no inode count
}

// Layer extracts layer.tar into the staging directory, announcing each
// file with contents to Staged once it is written.
func (im *importer) Layer(ctx context.Context, r io.Reader) error {
	r = &killAfter{r: r, n: 64 << 10}
	defer close(im.written)
	opts := im.opts
	opts.Applied = func(hdr *tar.Header) {
		if im.onEntry != nil {
			im.onEntry()
		}
		if im.opts.Applied != nil {
			im.opts.Applied(hdr)
		}
		if overlay.Classify(hdr) == overlay.KindFile && hdr.Size > 0 {
			im.written <- hdr.Name
		}
	}
	_, err := overlay.Apply(ctx, im.staging, r, opts)
	return err
}

// Staged opens a staged file for Extract's reassembly, once Layer has
// written it. Both walk the same tar, so the names come in the same order;
// a difference means the two tar readers disagree, and the import fails.
func (im *importer) Staged(name string) (io.ReadCloser, error) {
	got, ok := <-im.written
	if !ok {
		return nil, fmt.Errorf("the layer ended before %q was written", name)
	}
	if got != name {
		return nil, fmt.Errorf("tar-split read %q where the layer had %q", name, got)
	}
	if im.root == nil {
		root, err := overlay.OpenRoot(im.staging)
		if err != nil {
			return nil, err
		}
		im.root = root
	}
	return im.root.Open(name)
}

// verify proves the staged directory holds exactly layer.tar, which is
// what writing its canonical layer again would show, at half the reading.
// Extract has reassembled layer.tar from the staged files as they were
// written: every file's contents, at its place, gave layer.tar's digest,
// and the entry count is envelope.json's. What is left is everything but
// contents: a stat-only pass over the staged directory must produce the
// very bytes layer.tar has around the contents (headers, PAX records with
// owners, modes, xattrs and mtimes, padding, end blocks). Same contents
// and same surroundings make the same tar, so the canonical layer of the
// staged directory has layer.tar's digest.
func (im *importer) verify(ctx context.Context, ex *envelope.Extracted) error {
	plan, err := overlay.Measure(ctx, im.staging, im.opts)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if plan.Headers() != ex.Headers || plan.Size != ex.Meta.Layer.Size {
		return fmt.Errorf("%w: the staged directory would write other headers than layer.tar has (owners, modes, xattrs, mtimes or names differ)", ErrVerify)
	}
	return nil
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
