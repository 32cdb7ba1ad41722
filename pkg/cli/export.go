package cli

import (
	"bufio"
	"context"
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
)

const exportUsage = `usage: layer-export [flags] CONTAINER > FILE
       layer-tool export [flags] CONTAINER FILE

Write a stopped (or, with --pause, running) container's read-write layer and metadata as an envelope
(to stdout, to -o FILE, or to FILE; - is stdout). CONTAINER is a name, id or
unique id prefix.

Flags:
  -o FILE                  write FILE atomically (mode 0600) instead of stdout
  --compress [none|gzip|zstd]
                           compress the whole envelope; bare --compress means gzip
  --level N                compression level (gzip 1-9, zstd 1-22; 0 = default:
                           gzip 1, zstd 3)
  --pause                  freeze a running container (docker pause) while its
                           layer is read, and unpause it however export ends;
                           a container paused already stays paused
  --digest-file FILE       write the sha256 of the output (sha256:HEX) to FILE
                           instead of printing it on stderr; give it to
                           layer-check or layer-import --expect
  --containerd-address SOCK
                           use containerd at SOCK instead of the Docker API;
                           CONTAINER is an id, a nerdctl name or a unique id
                           prefix
  --namespace NS           containerd namespace (default $CONTAINERD_NAMESPACE,
                           else "default")

Docker's containerd image store (Docker 29) needs no flags: the layer is
found through the containerd that the daemon names.

Environment: DOCKER_HOST picks the daemon; SOURCE_DATE_EPOCH fixes the
envelope's "created" time; LAYER_TOOL_COMPRESS, LAYER_TOOL_LEVEL set flags.

Examples:
  layer-export web > web.layer
  layer-export --compress zstd web | ssh backup 'cat > web.layer.zst'
  layer-tool export web web.layer.gz --compress
  layer-export --pause db | aws s3 cp - s3://bucket/db.layer
  layer-export --containerd-address /run/containerd/containerd.sock \
      --namespace k8s.io db > db.layer
`

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
	cmd := &command{name: name, usage: exportUsage}
	cmd.exec = func(ctx context.Context, args []string, s Streams) error {
		fs := newFlags(name, exportUsage, s)
		out := fs.String("o", "", "output file")
		comp := &compressFlag{c: envelope.None}
		fs.Var(comp, "compress", "compression")
		level := fs.Int("level", 0, "compression level")
		digestFile := fs.String("digest-file", "", "write the output's sha256 here")
		pause := fs.Bool("pause", false, "freeze a running container while its layer is read")
		eopts := addEngineFlags(fs)
		pos, err := parse(fs, exportUsage, args, s)
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
		return export(ctx, exportJob{prog: name, ref: pos[0], engine: *eopts, out: *out, digestFile: *digestFile, pause: *pause,
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
	opts       envelope.WriteOptions
}

// export writes the envelope of container job.ref.
func export(ctx context.Context, job exportJob, s Streams) (err error) {
	ref, out, digestFile, opts := job.ref, job.out, job.digestFile, job.opts
	if out == "" && isTerminal(s.Stdout) {
		return usagef("refusing to write an envelope to a terminal; redirect stdout or use -o FILE")
	}
	created, err := createdTime()
	if err != nil {
		return err
	}
	eng, c, err := openContainer(ctx, job.engine, ref)
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
	var upper string
	var pausedAt *time.Time
	switch {
	case !job.pause:
		upper, err = c.Layer()
	case c.Paused:
		// Paused by someone else: it stays paused.
		upper, err = c.FrozenLayer()
	case c.Running:
		if err := eng.Pause(ctx, c); err != nil {
			return err
		}
		at := time.Now().UTC()
		pausedAt = &at
		var once sync.Once
		var uerr error
		unpause := func() {
			once.Do(func() {
				// ctx may be cancelled; the daemon must still be told.
				uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				uerr = eng.Unpause(uctx, c)
				fmt.Fprintf(s.Stderr, "%s: %s was paused for %s\n", job.prog, c.Name, time.Since(at).Round(time.Millisecond))
			})
		}
		// On Ctrl-C or SIGTERM, unpause at once: the export may be
		// blocked writing to a pipe nobody reads, and the container must
		// not wait for it.
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				unpause()
			case <-done:
			}
		}()
		defer func() {
			close(done)
			unpause()
			if err == nil {
				err = uerr
			}
		}()
		upper, err = c.FrozenLayer()
	default:
		upper, err = c.Layer()
	}
	if err != nil {
		return err
	}
	lopts := overlay.Options{
		UserXattr: host.UserXattr || c.UserXattr,
		Warn:      func(msg string) { fmt.Fprintf(s.Stderr, "%s: warning: %s\n", job.prog, msg) },
	}
	plan, err := overlay.Measure(ctx, upper, lopts)
	if err != nil {
		return fmt.Errorf("read layer of %s: %w", c.Name, err)
	}
	contents := envelope.Contents{
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
			Layer: envelope.Layer{Size: plan.Size, Entries: plan.Stats.Entries},
		},
		Container: c.Inspect,
		Info:      host.Info,
		Layer:     &upperLayer{dir: upper, opts: lopts, plan: plan},
	}
	var digest string
	write := func(w io.Writer) error {
		// One write a megabyte to the pipe and the digest, not one for
		// each tar block.
		d := envelope.NewDigestWriter(w)
		bw := bufio.NewWriterSize(d, 1<<20)
		if err := envelope.Write(ctx, bw, contents, opts); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		digest = d.Digest()
		return nil
	}
	if out == "" {
		err = write(s.Stdout)
	} else {
		err = writeFileAtomic(out, write)
	}
	if err != nil {
		return err
	}
	// The digest of the stream as written is what proves, later, that an
	// envelope is this one: keep it apart from the envelope.
	if digestFile != "" {
		return writeFileAtomic(digestFile, func(w io.Writer) error {
			_, err := fmt.Fprintln(w, digest)
			return err
		})
	}
	fmt.Fprintf(s.Stderr, "%s: %s %s\n", job.prog, c.Name, digest)
	return nil
}

// upperLayer is a container's upper dir as the source of layer.tar. Both
// passes must find the tree as the measuring pass did.
type upperLayer struct {
	dir  string
	opts overlay.Options
	plan overlay.Plan
}

func (u *upperLayer) WriteLayer(ctx context.Context, w io.Writer, rec overlay.Recorder) error {
	opts := u.opts
	opts.Record = rec
	opts.Warn = nil // the measuring pass has warned already
	got, err := overlay.Write(ctx, u.dir, w, opts)
	if err != nil {
		return err
	}
	if !got.Same(u.plan) {
		return overlay.ErrChanged
	}
	return nil
}

func (u *upperLayer) ReplayLayer(ctx context.Context, rec overlay.Recorder) error {
	opts := u.opts
	opts.Record = rec
	opts.Warn = nil
	got, err := overlay.Measure(ctx, u.dir, opts)
	if err != nil {
		return err
	}
	if !got.Same(u.plan) {
		return overlay.ErrChanged
	}
	return nil
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
