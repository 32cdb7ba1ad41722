package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
	"github.com/layer-tool/layer-tool/pkg/transfer"
)

var exportDoc = doc{
	synopsis: `usage: layer-export [flags] CONTAINER > FILE
       layer-tool export [flags] CONTAINER FILE

Write a stopped (or, with --pause, running) container's read-write layer,
its volumes and its metadata as an envelope (to stdout, to -o FILE, or to
FILE; - is stdout). CONTAINER is a name, id or unique id prefix.

Volumes the engine keeps as plain directories (Docker's and Podman's local
volumes, nerdctl's) go in by default; every other mount (binds without
--binds, tmpfs, other drivers, local volumes with mount options) is named
on stderr and in the envelope as not carried.

`,
	notes: `Docker's containerd image store (Docker 29) needs no flags: the layer is
found through the containerd that the daemon names.

Environment: DOCKER_HOST picks the daemon; SOURCE_DATE_EPOCH fixes the
envelope's "created" time; LAYER_TOOL_COMPRESS, LAYER_TOOL_LEVEL set flags.
`,
	examples: `  layer-export web > web.layer
  layer-export --compress zstd web | ssh backup 'cat > web.layer.zst'
  layer-tool export web web.layer.gz --compress
  layer-export --pause db | aws s3 cp - s3://bucket/db.layer
  layer-export --containerd-address /run/containerd/containerd.sock \
      --namespace k8s.io db > db.layer
`,
}

// compressFlag is --compress: bare means gzip.
type compressFlag struct{ c envelope.Compression }

func (f *compressFlag) String() string   { return string(f.c) }
func (f *compressFlag) IsBoolFlag() bool { return true }
func (f *compressFlag) Accepts(s string) bool {
	_, err := envelope.ParseCompression(s)
	return err == nil
}

func (f *compressFlag) Set(s string) error {
	switch s {
	case "true":
		f.c = envelope.Gzip
		return nil
	case "false":
		f.c = envelope.None
		return nil
	}
	c, err := envelope.ParseCompression(s)
	if err != nil {
		return err
	}
	f.c = c
	return nil
}

func exportCommand(name string, fileArg bool) *command {
	cmd := &command{name: name, doc: exportDoc}
	cmd.exec = func(ctx context.Context, args []string, s Streams) error {
		fs := cmd.newFlags()
		out := fs.String("o", "", "write `FILE` atomically (mode 0600) instead of stdout")
		comp := &compressFlag{c: envelope.None}
		fs.Var(comp, "compress", "compress the whole envelope with `[none|gzip|zstd]`; bare --compress means gzip")
		level := fs.Int("level", 0, "compression level `N`: gzip 1-9, zstd 1-22; 0 is the default, gzip 1 and zstd 3")
		digestFile := fs.String("digest-file", "", "write the envelope's digest (sha256:HEX of its SHA256SUMS) to `FILE` instead of printing it on stderr; give it to layer-check or layer-import --expect")
		pause := fs.Bool("pause", false, "freeze a running container (docker pause) while its layer and volumes are read, and unpause it however export ends; a container paused already stays paused")
		volumes := fs.String("volumes", "all", "which volumes to carry: `all|none|NAME,...` (names or mount destinations)")
		binds := fs.Bool("binds", false, "carry directory bind mounts too")
		quiet := fs.Bool("q", false, "no progress line")
		eopts := addEngineFlags(fs)
		pos, err := parse(cmd, args, s)
		if err != nil {
			return err
		}
		if err := checkEngineFlags(eopts); err != nil {
			return err
		}
		want := 1
		if fileArg {
			want = 2
		}
		if len(pos) != want {
			return usagef("want %d argument(s), got %d", want, len(pos))
		}
		if fileArg && pos[1] != "-" {
			if *out != "" {
				return usagef("give the output either as FILE or as -o, not both")
			}
			*out = pos[1]
		}
		vf, err := parseVolumeFilter(*volumes)
		if err != nil {
			return usagef("--volumes %v", err)
		}
		return export(ctx, exportJob{prog: name, ref: pos[0], engine: *eopts, out: *out, digestFile: *digestFile, pause: *pause, volumes: vf, binds: *binds, quiet: *quiet,
			opts: envelope.WriteOptions{Compression: comp.c, Level: *level}}, s)
	}
	return cmd
}

// exportJob is what one export is asked to do.
type exportJob struct {
	prog       string // the command's name, for messages
	ref        string
	engine     engine.Options
	out        string // file, or "" for stdout
	digestFile string
	pause      bool
	volumes    *volumeFilter
	binds      bool
	quiet      bool // no progress line
	opts       envelope.WriteOptions
}

// export writes the envelope of container job.ref.
func export(ctx context.Context, job exportJob, s Streams) (err error) {
	if job.out == "" && isTerminal(s.Stdout) {
		return usagef("refusing to write an envelope to a terminal; redirect stdout or use -o FILE")
	}
	// Started first, so that every message (warnings, the pause) goes
	// past the line; it draws once the export names its first phase.
	meter := startMeter(job.quiet, s.Stderr)
	defer meter.stop()
	s.Stderr = meter.stderr(s.Stderr)
	created, err := createdTime()
	if err != nil {
		return err
	}
	eng, c, err := openContainer(ctx, job.engine, job.ref)
	if err != nil {
		return err
	}
	defer eng.Close()
	// Before any pause: a container must not be frozen for an export that
	// cannot name its image's layers.
	imageID, imageLayers, err := eng.ContainerImage(ctx, c)
	if err != nil {
		return err
	}
	host, err := eng.Host(ctx)
	if err != nil {
		return err
	}
	mounts := planMounts(c, job.volumes, job.binds)
	if err := job.volumes.unused("container " + c.Name); err != nil {
		return err
	}
	if err := checkNotShared(ctx, eng, c, mounts.carried); err != nil {
		return err
	}
	for _, o := range mounts.omitted {
		fmt.Fprintf(s.Stderr, "%s: warning: %s not carried: %s\n", job.prog, describeMount(o), o.Reason)
	}
	upper, pausedAt, unpause, err := readableLayer(ctx, eng, c, job, s)
	defer func() {
		// An export that failed must still say that the container may
		// be left frozen.
		if uerr := unpause(); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	if err != nil {
		return err
	}
	src := transfer.Source{
		Meta: envelope.Meta{
			Format:   envelope.Format,
			Created:  created,
			Producer: "layer-tool/" + Version(),
			Container: envelope.Container{
				ID: c.ID, Name: c.Name, Image: c.Image, ImageID: imageID,
				ImageLayers: imageLayers, Created: c.Created, StorageDriver: c.Driver,
				Store: c.Store, Namespace: c.Namespace, PausedAt: pausedAt,
			},
			Host: envelope.Host{
				Engine: host.Engine, OS: host.OS, Arch: host.Arch, Kernel: host.Kernel,
				DockerVersion: host.Version, APIVersion: host.APIVersion,
				StorageDriver: host.DriverDescription(),
			},
			Omitted: mounts.omitted,
		},
		Container: c.Inspect,
		Info:      host.Info,
		Layer: transfer.Tree{Dir: upper, Opts: overlay.Options{
			UserXattr: host.UserXattr || c.UserXattr,
			Warn:      warnTo(job.prog, s),
		}},
	}
	for _, v := range mounts.carried {
		src.Volumes = append(src.Volumes, transfer.VolumeTree{Meta: v.meta, Dir: v.dir})
	}
	var digest string
	opts := transfer.ExportOptions{WriteOptions: job.opts}
	if meter != nil {
		opts.Progress = meter
	}
	write := func(w io.Writer) (err error) {
		digest, err = transfer.Export(ctx, w, src, opts)
		if err == nil && meter != nil && job.out != "" {
			meter.Phase("syncing") // writeFileAtomic's fsync
		}
		return err
	}
	if job.out == "" {
		growPipe(s.Stdout)
		err = write(s.Stdout)
	} else {
		err = writeFileAtomic(job.out, write)
	}
	if err == nil && meter != nil {
		meter.Phase("done")
	}
	meter.stop() // its last line goes before any message
	if err != nil {
		return err
	}
	// The digest of the stream as written is what proves, later, that an
	// envelope is this one: keep it apart from the envelope.
	if job.digestFile != "" {
		return writeFileAtomic(job.digestFile, func(w io.Writer) error {
			_, err := fmt.Fprintln(w, digest)
			return err
		})
	}
	fmt.Fprintf(s.Stderr, "%s: %s %s\n", job.prog, c.Name, digest)
	return nil
}

// readableLayer returns the upper dir of container c once it holds still:
// stopped, or with --pause, frozen. A container this export pauses is
// unpaused by the returned function (always non-nil), which also prints
// how long it was frozen; one that was paused already stays paused.
func readableLayer(ctx context.Context, eng engine.Engine, c *engine.Container, job exportJob, s Streams) (upper string, pausedAt *time.Time, unpause func() error, err error) {
	unpause = func() error { return nil }
	if !job.pause || !c.Running || c.Paused {
		if job.pause && c.Paused {
			// Paused by someone else: it stays paused.
			upper, err = c.FrozenLayer()
		} else {
			upper, err = c.Layer()
		}
		return upper, nil, unpause, err
	}
	if err := eng.Pause(ctx, c); err != nil {
		return "", nil, unpause, err
	}
	at := time.Now().UTC()
	var once sync.Once
	var uerr error
	resume := func() {
		once.Do(func() {
			// ctx may be cancelled; the daemon must still be told.
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if uerr = eng.Unpause(uctx, c); uerr != nil {
				uerr = fmt.Errorf("unpause %s (it may still be paused: docker unpause %s): %w", c.Name, c.Name, uerr)
				return
			}
			fmt.Fprintf(s.Stderr, "%s: %s was paused for %s\n", job.prog, c.Name, time.Since(at).Round(time.Millisecond))
		})
	}
	// On Ctrl-C or SIGTERM, unpause at once: the export may be blocked
	// writing to a pipe nobody reads, and the container must not wait for
	// it.
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			resume()
		case <-done:
		}
	}()
	unpause = func() error {
		close(done)
		resume()
		return uerr
	}
	upper, err = c.FrozenLayer()
	return upper, &at, unpause, err
}

// createdTime is now, or SOURCE_DATE_EPOCH when set
// (https://reproducible-builds.org/specs/source-date-epoch/).
func createdTime() (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Now().UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, usagef("SOURCE_DATE_EPOCH=%q: not a whole number of seconds", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// writeFileAtomic writes name through a temporary file beside it (mode
// 0600) and renames it into place only when write succeeded; otherwise the
// temporary file is removed and name is untouched.
func writeFileAtomic(name string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("rename into %s: %w", name, err)
	}
	return nil
}

// openContainer connects to the engine and finds container ref.
func openContainer(ctx context.Context, opts engine.Options, ref string) (engine.Engine, *engine.Container, error) {
	eng, err := engine.Open(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	c, err := eng.Container(ctx, ref)
	if err != nil {
		eng.Close()
		return nil, nil, err
	}
	return eng, c, nil
}
