package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
	"github.com/layer-tool/layer-tool/pkg/transfer"
)

var importDoc = doc{
	synopsis: `usage: layer-import [flags] CONTAINER < FILE
       layer-tool import [flags] FILE CONTAINER
       layer-import --create [flags] [NAME] < FILE
       layer-tool restore [flags] FILE [NAME]

Replace a stopped container's read-write layer, and its volumes, with the
ones in an envelope (stdin, -i FILE, or FILE; compression detected from its
first bytes). The target must exist, be stopped, be an overlay upper dir
(Docker's overlay2, Podman's overlay, a containerd overlayfs snapshot), and
come from an image with the same rootfs layers as the source's. Nothing is
changed unless the whole envelope verified; the old layer and volumes are
kept as backups beside them.

With --create, the target is made first, stopped, from the envelope: the
source's image (found here by id, reference or layers), configuration and
volumes; if anything fails after that, it is removed again.

`,
	examples: `  ssh old-host layer-export web | layer-import web
  ssh old-host layer-export --pause web | layer-import --create web && docker start web
  layer-tool restore web.layer.zst web2
  layer-import web < web.layer.zst
  layer-import --rollback web
  layer-tool import web.layer.gz target-container --no-backup
  layer-import --containerd-address /run/containerd/containerd.sock web < web.layer
`,
}

// importFlags are the flags of the import command.
type importFlags struct {
	input       string
	noBackup    bool
	rollback    bool
	listBackups bool
	quiet       bool
	expect      string
	skip        *skips
	engine      *engine.Options
	volumes     *volumeFilter
	binds       bool
	shared      bool
	// meter is the progress line; nil with -q or without a terminal.
	meter *meter
	// --create and its flags
	create         bool
	name           string
	reuseVolumes   bool
	dropHostConfig bool
}

func importCommand(name string) *command {
	cmd := &command{name: name, doc: importDoc}
	fileArg := name != "layer-import"
	cmd.exec = func(ctx context.Context, args []string, s Streams) error {
		fs := cmd.newFlags()
		var f importFlags
		fs.StringVar(&f.input, "i", "", "read the envelope from `FILE` instead of stdin")
		fs.BoolVar(&f.noBackup, "no-backup", false, "delete the old layer after a successful swap")
		fs.BoolVar(&f.rollback, "rollback", false, "swap the newest backup back in (no envelope read)")
		fs.BoolVar(&f.listBackups, "list-backups", false, "list the kept backups (no envelope read)")
		fs.BoolVar(&f.quiet, "q", false, "no progress line")
		fs.StringVar(&f.expect, "expect", "", "refuse the envelope unless it has this digest, `sha256:HEX` as layer-export printed it (or, from earlier versions, the sha256 of the file as stored); checked before the swap")
		f.skip = addSkipFlags(fs, map[string]string{
			checkOS:      "accept an envelope from another OS",
			checkArch:    "accept an envelope from another architecture",
			checkStorage: "accept an envelope whose source was not overlay2 (Docker), overlay (Podman) or overlayfs (containerd)",
			checkImage:   "accept an image with other rootfs layers",
		})
		f.engine = addEngineFlags(fs)
		volumes := fs.String("volumes", "all", "which of the envelope's volumes to restore: `all|none|NAME,...` (names or mount destinations)")
		fs.BoolVar(&f.binds, "binds", false, "restore directory bind mounts too, into the target's own bind source at the same destination")
		fs.BoolVar(&f.shared, "shared-volumes", false, "replace a volume that other containers use too (their data changes with it)")
		fs.BoolVar(&f.create, "create", false, "create the container from the envelope (the source's image, configuration and volumes), stopped, then import into it; CONTAINER, if given, names it")
		fs.StringVar(&f.name, "name", "", "with --create: the new container's `NAME` (default: the source's)")
		fs.BoolVar(&f.reuseVolumes, "reuse-volumes", false, "with --create: use an existing named volume of the same name instead of refusing")
		fs.BoolVar(&f.dropHostConfig, "drop-host-config", false, "with --create: drop settings that cannot hold on this host (devices, other containers' namespaces) instead of refusing, and list them")
		pos, err := parse(cmd, args, s)
		if err != nil {
			return err
		}
		if err := checkEngineFlags(f.engine); err != nil {
			return err
		}
		ref := ""
		switch {
		case !f.create && (f.name != "" || f.reuseVolumes || f.dropHostConfig):
			return usagef("%v", errCreateFlags)
		case f.create && (f.rollback || f.listBackups):
			return usagef("--create makes a new container: no backups to list or roll back")
		case f.create && fileArg:
			if len(pos) < 1 || len(pos) > 2 {
				return usagef("want FILE [NAME], got %d arguments", len(pos))
			}
			f.input = pos[0]
			if len(pos) == 2 {
				ref = pos[1]
			}
		case f.create:
			if len(pos) > 1 {
				return usagef("want [NAME], got %d arguments", len(pos))
			}
			if len(pos) == 1 {
				ref = pos[0]
			}
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
		if f.volumes, err = parseVolumeFilter(*volumes); err != nil {
			return usagef("--volumes %v", err)
		}
		if f.expect != "" {
			if f.expect, err = envelope.ParseDigest(f.expect); err != nil {
				return usagef("--expect: %v", err)
			}
		}
		// Started before the engine is asked anything, so that every
		// message goes past the line; it draws once the envelope's
		// totals are read.
		f.meter = startMeter(f.quiet, s.Stderr)
		defer f.meter.stop()
		s.Stderr = f.meter.stderr(s.Stderr)
		if f.create {
			if f.name != "" && ref != "" && f.name != ref {
				return usagef("give the new container's name either as NAME or as --name, not both")
			}
			if f.name == "" {
				f.name = ref
			}
			return importCreate(ctx, name, f.name, f, s)
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
	if f.listBackups || f.rollback {
		return backups(prog, c, upper, f.rollback, f.binds, s)
	}
	t, err := overlay.OpenTarget(upper)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.Name, err)
	}
	defer t.Close()
	for _, msg := range t.Recovered {
		fmt.Fprintf(s.Stderr, "%s: %s\n", prog, msg)
	}

	var vols volumeTargets
	defer vols.close()
	opts := transfer.ImportOptions{
		Opts: overlay.Options{UserXattr: host.UserXattr || c.UserXattr, Warn: warnTo(prog, s)},
		Gate: func(ctx context.Context, m *envelope.Meta) error {
			warnLegacy(prog, c.Name, m, s)
			return gateImport(ctx, eng, c, host, *f.skip, m)
		},
		Volumes: func(ctx context.Context, m *envelope.Meta) ([]*overlay.Target, error) {
			return vols.open(ctx, prog, eng, c, m, f, s)
		},
		Keep: !f.noBackup,
	}
	res, err := runImport(ctx, t, opts, f, s)
	if err != nil {
		return err
	}
	printImported(prog, c.Name, res, s)
	return nil
}

// runImport reads the envelope (stdin or -i, checked against --expect)
// into transfer.Import, telling the progress line, if any.
func runImport(ctx context.Context, t *overlay.Target, opts transfer.ImportOptions, f importFlags, s Streams) (transfer.Imported, error) {
	in := s.Stdin
	if f.input == "" {
		growPipe(in)
	}
	if f.input != "" {
		file, err := os.Open(f.input)
		if err != nil {
			return transfer.Imported{}, err
		}
		defer file.Close()
		in = file
	}
	in = ctxReader(ctx, in)
	opts.Expect = f.expect
	if f.meter != nil {
		opts.Progress = f.meter
	}
	res, err := transfer.Import(ctx, t, in, opts)
	if err == nil && f.meter != nil {
		f.meter.Phase("done")
	}
	f.meter.stop() // its last line goes before any message
	return res, err
}

// printImported says what an import did: a line a volume, then the
// layer's, last.
func printImported(prog, name string, res transfer.Imported, s Streams) {
	for _, v := range res.Volumes {
		msg := "old data deleted (--no-backup)"
		if v.Backup != "" {
			msg = "old data kept at " + v.Backup
		}
		fmt.Fprintf(s.Stderr, "%s: %s: volume at %s: imported %s (%d entries); %s\n", prog, name, v.Destination, v.Digest, v.Entries, msg)
	}
	for _, u := range res.Unchecked {
		fmt.Fprintf(s.Stderr, "%s: warning: %s: %s\n", prog, name, u)
	}
	msg := "old layer deleted (--no-backup)"
	if res.Backup != "" {
		msg = "old layer kept at " + res.Backup
	}
	fmt.Fprintf(s.Stderr, "%s: %s: imported %s (%d entries); %s\n", prog, name, res.Digest, res.Entries, msg)
}

// volumeTargets are the volume directories an import opened, locked
// together (two binds may share a parent directory).
type volumeTargets struct{ g *overlay.Group }

// open finds and opens (locks, recovers) the directory of each of the
// envelope's volumes in container c: a target for each, nil for one left
// out.
func (vs *volumeTargets) open(ctx context.Context, prog string, eng engine.Engine, c *engine.Container, m *envelope.Meta, f importFlags, s Streams) ([]*overlay.Target, error) {
	dirs, err := importDests(ctx, eng, c, m, f)
	if err != nil {
		return nil, err
	}
	var open []string
	for _, d := range dirs {
		if d != "" {
			open = append(open, d)
		}
	}
	out := make([]*overlay.Target, len(dirs))
	if len(open) == 0 {
		return out, nil
	}
	if vs.g, err = overlay.OpenGroup(open[0], open[1:]...); err != nil {
		return nil, fmt.Errorf("container %s's volumes: %w", c.Name, err)
	}
	for _, msg := range vs.g.Recovered {
		fmt.Fprintf(s.Stderr, "%s: %s\n", prog, msg)
	}
	k := 0
	for i, d := range dirs {
		if d != "" {
			out[i] = vs.g.Targets[k]
			k++
		}
	}
	return out, nil
}

func (vs *volumeTargets) close() {
	if vs.g != nil {
		vs.g.Close()
	}
}

// backups lists the backups of the container's layer and volumes, or
// with rollback swaps the newest set back in: the layer's newest backup
// and the backups of the volumes that were replaced with it, together.
func backups(prog string, c *engine.Container, upper string, rollback, binds bool, s Streams) error {
	var dirs []string
	for _, m := range c.Mounts {
		// A bind's host directory takes part only with --binds: its
		// parent is the host's, not the engine's.
		if plainDir(m) && (m.Type == "volume" || binds) {
			dirs = append(dirs, m.Source)
		}
	}
	g, err := openGroup(prog, c, upper, dirs, s)
	if err != nil {
		return err
	}
	sets, err := g.Backups()
	if err != nil {
		g.Close()
		return err
	}
	if !rollback {
		defer g.Close()
		for _, set := range sets {
			for _, p := range set.Paths {
				if p != "" {
					fmt.Fprintf(s.Stdout, "%s\t%s\n", set.Time.Format(time.RFC3339Nano), p)
				}
			}
		}
		return nil
	}
	// The newest set with the layer in it, and the volumes replaced with it.
	var members []string
	for i := len(sets) - 1; i >= 0 && members == nil; i-- {
		if sets[i].Paths[0] == "" {
			continue
		}
		members = []string{upper}
		for j, p := range sets[i].Paths[1:] {
			if p != "" {
				members = append(members, dirs[j])
			}
		}
	}
	g.Close()
	if members == nil {
		members = []string{upper} // Rollback says there is no backup
	}
	if g, err = openGroup(prog, c, members[0], members[1:], s); err != nil {
		return err
	}
	defer g.Close()
	restored, displaced, err := g.Rollback()
	if err != nil {
		return err
	}
	for i := range restored[1:] {
		fmt.Fprintf(s.Stderr, "%s: %s: restored %s; the data it replaced is kept at %s\n", prog, c.Name, restored[i+1], displaced[i+1])
	}
	fmt.Fprintf(s.Stderr, "%s: %s: restored %s; the layer it replaced is kept at %s\n", prog, c.Name, restored[0], displaced[0])
	return nil
}

// openGroup locks the layer's directory and the volumes' together,
// printing what it recovered from a killed run.
func openGroup(prog string, c *engine.Container, upper string, dirs []string, s Streams) (*overlay.Group, error) {
	g, err := overlay.OpenGroup(upper, dirs...)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	for _, msg := range g.Recovered {
		fmt.Fprintf(s.Stderr, "%s: %s\n", prog, msg)
	}
	return g, nil
}

// warnTo prints warnings on stderr: an export's entries it cannot carry,
// an import's entries it skips.
func warnTo(prog string, s Streams) func(string) {
	return func(msg string) { fmt.Fprintf(s.Stderr, "%s: warning: %s\n", prog, msg) }
}
