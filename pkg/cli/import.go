package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
	"golang.org/x/sys/unix"
)

const importUsage = `usage: layer-import [flags] CONTAINER < FILE
       layer-tool import [flags] FILE CONTAINER

Replace a stopped container's read-write layer with the one in an envelope
(stdin, -i FILE, or FILE; compression detected from its first bytes). The
target must exist, be stopped, use overlay2, and come from an image with
the same rootfs layers as the source's. Nothing is changed unless the whole
envelope verified; the old layer is kept as a backup beside it.

Flags:
  -i FILE          read the envelope from FILE instead of stdin
  --no-backup      delete the old layer after a successful swap
  --rollback       swap the newest backup back in (no envelope read)
  --list-backups   list the kept backups (no envelope read)
  --skip-image     accept an image with other rootfs layers
  --skip-storage   accept an envelope whose source was not overlay2
  --skip-os        accept an envelope from another OS
  --skip-arch      accept an envelope from another architecture
  -q               no progress line

Examples:
  ssh old-host layer-export web | layer-import web
  layer-import web < web.layer.zst
  layer-import --rollback web
  layer-tool import web.layer.gz target-container --no-backup
`

// importFlags are the flags of the import command.
type importFlags struct {
	input       string
	noBackup    bool
	rollback    bool
	listBackups bool
	quiet       bool
	host        hostChecks
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
		f.host = addHostFlags(fs)
		pos, err := parse(fs, importUsage, args, s)
		if err != nil {
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
		return importLayer(ctx, ref, f, s)
	}
	return cmd
}

// importLayer replaces the layer of container ref.
func importLayer(ctx context.Context, ref string, f importFlags, s Streams) (err error) {
	eng, err := engine.Open(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	c, err := eng.Container(ctx, ref)
	if err != nil {
		return err
	}
	upper, err := c.Layer()
	if err != nil {
		return err
	}
	if mounted, err := overlay.Mounted(upper); err != nil {
		return err
	} else if mounted {
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
		fmt.Fprintf(s.Stderr, "layer-import: %s\n", msg)
	}
	switch {
	case f.listBackups:
		return listBackups(t, s)
	case f.rollback:
		restored, displaced, err := t.Rollback()
		if err != nil {
			return err
		}
		fmt.Fprintf(s.Stderr, "layer-import: %s: restored %s; the layer it replaced is kept at %s\n", c.Name, restored, displaced)
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
	im := &importer{eng: eng, target: t, c: c, host: host, flags: f}
	defer func() {
		if err != nil && im.staging != "" {
			if derr := t.Discard(im.staging); derr != nil {
				fmt.Fprintf(s.Stderr, "layer-import: remove staging dir: %v\n", derr)
			}
		}
	}()
	if !f.quiet && isTerminal(s.Stderr) {
		p := newProgress(s.Stderr)
		defer p.stop()
		in = p.reader(in)
	}
	ex, err := envelope.Extract(ctx, in, im)
	if err != nil {
		return err
	}
	if err := im.verify(ctx, ex); err != nil {
		return err
	}
	if err := t.CopyRootAttrs(im.staging); err != nil {
		return fmt.Errorf("set root of staged layer: %w", err)
	}
	backup, err := t.Swap(im.staging, !f.noBackup)
	if err != nil {
		return err
	}
	im.staging = ""
	msg := "old layer deleted (--no-backup)"
	if backup != "" {
		msg = "old layer kept at " + backup
	}
	fmt.Fprintf(s.Stderr, "layer-import: %s: imported %s (%d entries); %s\n", c.Name, ex.LayerDigest, ex.Meta.Layer.Entries, msg)
	return nil
}

func listBackups(t *overlay.Target, s Streams) error {
	backups, err := t.Backups()
	if err != nil {
		return err
	}
	for _, b := range backups {
		fmt.Fprintf(s.Stdout, "%s\t%s\n", b.Time.Format(time.RFC3339), b.Path)
	}
	return nil
}

// importer gates an envelope as it arrives and extracts its layer into a
// staging directory.
type importer struct {
	eng     *engine.Engine
	target  *overlay.Target
	c       *engine.Container
	host    *engine.Host
	flags   importFlags
	staging string
	stats   overlay.Stats
}

// ErrNoSpace: the file system cannot hold the layer.
var ErrNoSpace = errors.New("not enough free space")

// Meta refuses an envelope that does not fit the target, before anything
// is written.
func (im *importer) Meta(ctx context.Context, m *envelope.Meta) error {
	skip := im.flags.host.skip
	if !*skip[checkOS] && m.Host.OS != im.host.OS {
		return fmt.Errorf("envelope is from %s, this host is %s (--skip-os)", m.Host.OS, im.host.OS)
	}
	if !*skip[checkArch] && m.Host.Arch != im.host.Arch {
		return fmt.Errorf("envelope is from %s, this host is %s (--skip-arch)", m.Host.Arch, im.host.Arch)
	}
	if !*skip[checkStorage] && m.Container.StorageDriver != engine.Overlay2 {
		return fmt.Errorf("envelope's layer comes from storage driver %q, not overlay2 (--skip-storage)", m.Container.StorageDriver)
	}
	if !*skip[checkImage] {
		layers, err := im.eng.ImageLayers(ctx, im.c.ImageID)
		if err != nil {
			return err
		}
		if !slices.Equal(layers, m.Container.ImageLayers) {
			return fmt.Errorf("container %s's image %s has other rootfs layers than the envelope's source image %s (--skip-image)", im.c.Name, im.c.Image, m.Container.Image)
		}
	}
	staging, err := im.target.Stage()
	if err != nil {
		return err
	}
	im.staging = staging
	var fs unix.Statfs_t
	if err := unix.Statfs(staging, &fs); err != nil {
		return fmt.Errorf("statfs %s: %w", staging, err)
	}
	if free := int64(fs.Bavail) * fs.Bsize; free < m.Layer.Size {
		return fmt.Errorf("layer needs up to %d bytes, %s has %d free: %w", m.Layer.Size, staging, free, ErrNoSpace)
	}
	return nil
}

// Layer extracts layer.tar into the staging directory.
func (im *importer) Layer(ctx context.Context, r io.Reader) error {
	st, err := overlay.Apply(ctx, im.staging, r, overlay.Options{UserXattr: im.host.UserXattr})
	if err != nil {
		return fmt.Errorf("%s: %w", envelope.MemberLayer, err)
	}
	im.stats = st
	return nil
}

// ErrVerify: the staged layer does not reproduce the envelope's layer.tar.
var ErrVerify = errors.New("staged layer does not match layer.tar")

// verify proves the staged directory holds exactly layer.tar: the tar-split
// metadata recorded from the stream reassembles it from the staged files,
// and writing the canonical layer of the staged directory gives the same
// digest, which covers owners, modes, xattrs and mtimes.
func (im *importer) verify(ctx context.Context, ex *envelope.Extracted) error {
	if im.stats.Entries != ex.Meta.Layer.Entries {
		return fmt.Errorf("%s: %d entries, %s says %d: %w", envelope.MemberLayer, im.stats.Entries, envelope.MemberEnvelope, ex.Meta.Layer.Entries, envelope.ErrStructure)
	}
	got, err := envelope.Reassemble(ex.TarSplit, stagedFiles(im.staging))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if got != ex.LayerDigest {
		return fmt.Errorf("%w: tar-split reassembles %s, want %s", ErrVerify, got, ex.LayerDigest)
	}
	h := sha256.New()
	if _, err := overlay.Write(ctx, im.staging, h, overlay.Options{UserXattr: im.host.UserXattr}); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != ex.LayerDigest {
		return fmt.Errorf("%w: the staged directory's layer is %s, want %s", ErrVerify, got, ex.LayerDigest)
	}
	return nil
}

// stagedFiles serves tar-split the staged files, opened beneath the
// staging directory only.
type stagedFiles string

func (d stagedFiles) Get(name string) (io.ReadCloser, error) {
	return overlay.OpenBeneath(string(d), name)
}
