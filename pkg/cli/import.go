package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/internal/failpoint"
	"github.com/layer-tool/layer-tool/pkg/overlay"
	"golang.org/x/sys/unix"
)

const importUsage = `usage: layer-import [flags] CONTAINER < FILE
       layer-tool import [flags] FILE CONTAINER

Replace a stopped container's read-write layer with the one in an envelope
(stdin, -i FILE, or FILE; compression detected from its first bytes). The
target must exist, be stopped, be an overlay upper dir (Docker's overlay2,
Podman's overlay, a containerd overlayfs snapshot), and come from an image with
the same rootfs layers as the source's. Nothing is changed unless the whole
envelope verified; the old layer is kept as a backup beside it.

Flags:
  -i FILE          read the envelope from FILE instead of stdin
  --no-backup      delete the old layer after a successful swap
  --rollback       swap the newest backup back in (no envelope read)
  --list-backups   list the kept backups (no envelope read)
  --skip-image     accept an image with other rootfs layers
  --skip-storage   accept an envelope whose source was not overlay2 (Docker),
                   overlay (Podman) or overlayfs (containerd)
  --containerd-address SOCK
                   use containerd at SOCK instead of the Docker API; CONTAINER
                   is an id, a nerdctl name or a unique id prefix
  --namespace NS   containerd namespace (default $CONTAINERD_NAMESPACE, else
                   "default")
  --skip-os        accept an envelope from another OS
  --skip-arch      accept an envelope from another architecture
  --expect sha256:HEX
                   refuse the envelope unless the input, as stored, has this
                   sha256 (as layer-export printed it); checked before the swap
  -q               no progress line

Examples:
  ssh old-host layer-export web | layer-import web
  layer-import web < web.layer.zst
  layer-import --rollback web
  layer-tool import web.layer.gz target-container --no-backup
  layer-import --containerd-address /run/containerd/containerd.sock web < web.layer
`

// importFlags are the flags of the import command.
type importFlags struct {
	input       string
	noBackup    bool
	rollback    bool
	listBackups bool
	quiet       bool
	expect      string
	host        hostChecks
	engine      *engine.Options
}

func importCommand(name string) *command {
	cmd := &command{name: name, usage: importUsage}
	fileArg := name != "layer-import"
	cmd.exec = func(ctx context.Context, args []string, s Streams) error {
		fs := newFlags(name, importUsage, s)
		var f importFlags
		fs.StringVar(&f.input, "i", "", "input file")
		fs.BoolVar(&f.noBackup, "no-backup", false, "delete the old layer")
		fs.BoolVar(&f.rollback, "rollback", false, "swap the newest backup back in")
		fs.BoolVar(&f.listBackups, "list-backups", false, "list backups")
		fs.BoolVar(&f.quiet, "q", false, "no progress")
		fs.StringVar(&f.expect, "expect", "", "sha256 the input must have")
		f.host = addHostFlags(fs)
		f.engine = addEngineFlags(fs)
		pos, err := parse(fs, importUsage, args, s)
		if err != nil {
			return err
		}
		if err := checkEngineFlags(f.engine); err != nil {
			return err
		}
		ref := ""
		switch {
		case f.rollback || f.listBackups:
			if len(pos) != 1 {
				return usagef("want CONTAINER")
			}
			ref = pos[0]
		case fileArg:
			if len(pos) != 2 {
				return usagef("want FILE CONTAINER, got %d arguments", len(pos))
			}
			if f.input != "" {
				return usagef("give the input either as FILE or as -i, not both")
			}
			f.input, ref = pos[0], pos[1]
		default:
			if len(pos) != 1 {
				return usagef("want CONTAINER, got %d arguments", len(pos))
			}
			ref = pos[0]
		}
		if f.input == "-" {
			f.input = ""
		}
		if f.expect != "" {
			if f.expect, err = envelope.ParseDigest(f.expect); err != nil {
				return usagef("--expect: %v", err)
			}
		}
		return importLayer(ctx, name, ref, f, s)
	}
	return cmd
}

// importLayer replaces the layer of container ref.
func importLayer(ctx context.Context, prog, ref string, f importFlags, s Streams) (err error) {
	eng, c, err := openContainer(ctx, *f.engine, ref)
	if err != nil {
		return err
	}
	defer eng.Close()
	upper, err := c.Layer()
	if err != nil {
		return err
	}
	if mounted, err := overlay.Mounted(upper); err != nil {
		return err
	} else if mounted {
		if c.Store == engine.StoreContainerd {
			// A task that has exited keeps the rootfs mounted until
			// it is deleted.
			return fmt.Errorf("container %s: %w (a stopped task still holds it: ctr -n %s tasks rm %s)", c.Name, overlay.ErrMounted, c.Namespace, c.ID)
		}
		return fmt.Errorf("container %s: %w", c.Name, overlay.ErrMounted)
	}
	host, err := eng.Host(ctx)
	if err != nil {
		return err
	}
	t, err := overlay.OpenTarget(upper)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.Name, err)
	}
	defer t.Close()
	for _, msg := range t.Recovered {
		fmt.Fprintf(s.Stderr, "%s: %s\n", prog, msg)
	}
	switch {
	case f.listBackups:
		return listBackups(t, s)
	case f.rollback:
		restored, displaced, err := t.Rollback()
		if err != nil {
			return err
		}
		fmt.Fprintf(s.Stderr, "%s: %s: restored %s; the layer it replaced is kept at %s\n", prog, c.Name, restored, displaced)
		return nil
	}

	in := s.Stdin
	if f.input != "" {
		file, err := os.Open(f.input)
		if err != nil {
			return err
		}
		defer file.Close()
		in = file
	}
	in = ctxReader(ctx, in)
	if f.expect != "" {
		in = envelope.Expect(in, f.expect)
	}
	opts := overlay.Options{UserXattr: host.UserXattr || c.UserXattr}
	var meter *progress
	if !f.quiet && isTerminal(s.Stderr) {
		meter = newProgress(s.Stderr)
		defer meter.stop()
		in = meter.reader(in)
		opts.Applied = func(*tar.Header) { meter.entries.Add(1) }
	}
	gate := func(ctx context.Context, m *envelope.Meta) error {
		return gateImport(ctx, eng, c, host, f.host, m)
	}
	res, err := replaceLayer(ctx, t, in, gate, opts, !f.noBackup)
	meter.stop() // its last line goes before any message
	if err != nil {
		return err
	}
	msg := "old layer deleted (--no-backup)"
	if res.backup != "" {
		msg = "old layer kept at " + res.backup
	}
	fmt.Fprintf(s.Stderr, "%s: %s: imported %s (%d entries); %s\n", prog, c.Name, res.digest, res.entries, msg)
	return nil
}

// imported is what a successful replacement did.
type imported struct {
	digest  string
	entries int64
	backup  string
}

// replaceLayer extracts the envelope read from in into a staging dir beside
// t's upper dir, verifies it, and swaps it in. gate sees envelope.json
// before anything is written. On any error the staging dir is removed and
// the upper dir is as it was.
func replaceLayer(ctx context.Context, t *overlay.Target, in io.Reader, gate func(context.Context, *envelope.Meta) error, opts overlay.Options, keep bool) (res imported, err error) {
	im := &importer{target: t, gate: gate, opts: opts, written: make(chan string, 64)}
	defer func() {
		if err != nil && im.staging != "" {
			if derr := t.Discard(im.staging); derr != nil {
				err = fmt.Errorf("%w (and removing the staging dir: %v)", err, derr)
			}
		}
	}()
	ex, err := envelope.Extract(ctx, in, im)
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
	backup, err := t.Swap(staging, keep)
	if err != nil {
		return res, err
	}
	return imported{digest: ex.LayerDigest, entries: ex.Meta.Layer.Entries, backup: backup}, nil
}

// gateImport refuses an envelope that does not fit the target container.
func gateImport(ctx context.Context, eng engine.Engine, c *engine.Container, host *engine.Host, hc hostChecks, m *envelope.Meta) error {
	skip := hc.skip
	if !*skip[checkOS] && m.Host.OS != host.OS {
		return fmt.Errorf("envelope is from %s, this host is %s (--skip-os)", m.Host.OS, host.OS)
	}
	if !*skip[checkArch] && m.Host.Arch != host.Arch {
		return fmt.Errorf("envelope is from %s, this host is %s (--skip-arch)", m.Host.Arch, host.Arch)
	}
	if !*skip[checkStorage] && !engine.Overlay(m.Container.StorageDriver) {
		return fmt.Errorf("envelope's layer comes from storage driver %q, not overlay2, overlay or overlayfs (--skip-storage)", m.Container.StorageDriver)
	}
	if !*skip[checkImage] {
		_, layers, err := eng.ContainerImage(ctx, c)
		if err != nil {
			return fmt.Errorf("%w (--skip-image)", err)
		}
		if !slices.Equal(layers, m.Container.ImageLayers) {
			return fmt.Errorf("container %s's image %s has other rootfs layers than the envelope's source image %s (--skip-image)", c.Name, c.Image, m.Container.Image)
		}
	}
	return nil
}

func listBackups(t *overlay.Target, s Streams) error {
	backups, err := t.Backups()
	if err != nil {
		return err
	}
	for _, b := range backups {
		fmt.Fprintf(s.Stdout, "%s\t%s\n", b.Time.Format(time.RFC3339Nano), b.Path)
	}
	return nil
}

// importer gates an envelope as it arrives and extracts its layer into a
// staging directory.
type importer struct {
	target  *overlay.Target
	gate    func(context.Context, *envelope.Meta) error
	opts    overlay.Options
	staging string
	stats   overlay.Stats
	// written carries the names of the files with contents that Layer has
	// written, in order, to Staged, which opens them beneath root.
	written chan string
	root    *overlay.Root
}

// ErrNoSpace: the file system cannot hold the layer.
var ErrNoSpace = errors.New("not enough free space")

// Meta refuses an envelope that does not fit the target, or the free
// space, before anything is written.
func (im *importer) Meta(ctx context.Context, m *envelope.Meta) error {
	if err := im.gate(ctx, m); err != nil {
		return err
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
	// Extract has checked that every entry can have its 512-byte header
	// (entries <= size/512), which keeps the sums below small.
	var fs unix.Statfs_t
	if err := unix.Statfs(staging, &fs); err != nil {
		return fmt.Errorf("statfs %s: %w", staging, err)
	}
	if m.Layer.Entries > (math.MaxInt64-m.Layer.Size)/fs.Bsize {
		return fmt.Errorf("layer declares %d entries: %w", m.Layer.Entries, ErrNoSpace)
	}
	need := m.Layer.Size + m.Layer.Entries*fs.Bsize
	if free := int64(fs.Bavail) * fs.Bsize; free < need {
		return fmt.Errorf("layer needs up to %d bytes, %s has %d free: %w", need, staging, free, ErrNoSpace)
	}
	if fs.Files > 0 && uint64(m.Layer.Entries) > fs.Ffree {
		return fmt.Errorf("layer has %d entries, %s has %d free inodes: %w", m.Layer.Entries, staging, fs.Ffree, ErrNoSpace)
	}
	return nil
}

// Layer extracts layer.tar into the staging directory, announcing each
// file with contents to Staged once it is written.
func (im *importer) Layer(ctx context.Context, r io.Reader) error {
	r = &killAfter{r: r, n: 64 << 10, kill: func() { failpoint.Hit("extract") }}
	defer close(im.written)
	opts := im.opts
	opts.Applied = func(hdr *tar.Header) {
		if im.opts.Applied != nil {
			im.opts.Applied(hdr)
		}
		if overlay.Classify(hdr) == overlay.KindFile && hdr.Size > 0 {
			im.written <- hdr.Name
		}
	}
	st, err := overlay.Apply(ctx, im.staging, r, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", envelope.MemberLayer, err)
	}
	im.stats = st
	return nil
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

// ErrVerify: the staged layer does not reproduce the envelope's layer.tar.
var ErrVerify = errors.New("staged layer does not match layer.tar")

// verify proves the staged directory holds exactly layer.tar, which is
// what writing its canonical layer again would show, at half the reading.
// Extract has reassembled layer.tar from the staged files as they were
// written: every file's contents, at its place, gave layer.tar's digest.
// What is left is everything but contents: a stat-only pass over the
// staged directory must produce the very bytes layer.tar has around the
// contents (headers, PAX records with owners, modes, xattrs and mtimes,
// padding, end blocks). Same contents and same surroundings make the same
// tar, so the canonical layer of the staged directory has layer.tar's
// digest.
func (im *importer) verify(ctx context.Context, ex *envelope.Extracted) error {
	if im.stats.Entries != ex.Meta.Layer.Entries {
		return fmt.Errorf("%s: %d entries, %s says %d: %w", envelope.MemberLayer, im.stats.Entries, envelope.MemberEnvelope, ex.Meta.Layer.Entries, envelope.ErrStructure)
	}
	if ex.Reassembled != ex.LayerDigest {
		return fmt.Errorf("%w: tar-split reassembles %s, want %s", ErrVerify, ex.Reassembled, ex.LayerDigest)
	}
	plan, err := overlay.Measure(ctx, im.staging, im.opts)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if plan.Headers() != ex.Headers || plan.Size != ex.Meta.Layer.Size {
		return fmt.Errorf("%w: the staged directory would write other headers than layer.tar has (owners, modes, xattrs, mtimes or names differ)", ErrVerify)
	}
	return nil
}

// killAfter calls kill once more than n bytes have been read (and on every
// read after that): the "extract" failpoint.
type killAfter struct {
	r    io.Reader
	n    int64
	kill func()
}

func (k *killAfter) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if k.n -= int64(n); k.n < 0 {
		k.kill()
	}
	return n, err
}
