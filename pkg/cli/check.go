package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
)

const checkUsage = `usage: layer-check [flags] [FILE] < FILE
       layer-tool check [flags] FILE

Read an envelope once, to its end (compression detected from its first
bytes), and report whether it is valid: structure, metadata, checksums,
layer, tar-split, and whether this host's Docker could take it (image,
storage, os, arch). Exits 1 when the envelope is invalid.

Flags:
  --format json|text  report format (layer-check: json, layer-tool check: text)
  --skip-image        do not look for the source image on this host
  --skip-storage      do not require an overlay store here
  --skip-os           do not compare the operating system
  --skip-arch         do not compare the architecture
  --offline           skip all four host checks (no daemon needed)
  --containerd-address SOCK
                      ask containerd at SOCK instead of the Docker API
  --namespace NS      containerd namespace (default $CONTAINERD_NAMESPACE,
                      else "default")
  --expect sha256:HEX the input as stored must have this sha256 (as
                      layer-export printed it); adds an "expect" check

Examples:
  layer-check < web.layer.zst | jq .valid
  layer-tool check web.layer.gz --skip-os --skip-arch
`

// Names of the host checks.
const (
	checkImage   = "image"
	checkStorage = "storage"
	checkOS      = "os"
	checkArch    = "arch"
	checkExpect  = "expect"
)

// hostChecks says which host checks to skip.
type hostChecks struct {
	skip map[string]*bool
}

func addHostFlags(fs interface {
	Bool(string, bool, string) *bool
}) hostChecks {
	hc := hostChecks{skip: map[string]*bool{}}
	for _, name := range []string{checkImage, checkStorage, checkOS, checkArch} {
		hc.skip[name] = fs.Bool("skip-"+name, false, "skip the "+name+" check")
	}
	return hc
}

func checkCommand(name string, fileArg bool) *command {
	cmd := &command{name: name, usage: checkUsage}
	cmd.exec = func(ctx context.Context, args []string, s Streams) error {
		fs := newFlags(name, checkUsage, s)
		format := "json"
		if fileArg {
			format = "text"
		}
		fs.StringVar(&format, "format", format, "report format")
		hc := addHostFlags(fs)
		eopts := addEngineFlags(fs)
		offline := fs.Bool("offline", false, "skip the host checks")
		expect := fs.String("expect", "", "sha256 the input must have")
		pos, err := parse(fs, checkUsage, args, s)
		if err != nil {
			return err
		}
		if err := checkEngineFlags(eopts); err != nil {
			return err
		}
		if format != "json" && format != "text" {
			return usagef("--format %q: want json or text", format)
		}
		if len(pos) > 1 || (fileArg && len(pos) != 1) {
			return usagef("want one FILE, got %d arguments", len(pos))
		}
		in := s.Stdin
		if len(pos) == 1 && pos[0] != "-" {
			f, err := os.Open(pos[0])
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		want := ""
		if *expect != "" {
			if want, err = envelope.ParseDigest(*expect); err != nil {
				return usagef("--expect: %v", err)
			}
		}
		raw := envelope.NewDigestReader(ctxReader(ctx, in))
		if *offline {
			for _, p := range hc.skip {
				*p = true
			}
		}
		rep, err := envelope.Verify(ctx, raw)
		if err != nil {
			return err
		}
		if want != "" {
			// Verify may stop early on a broken envelope; the digest is of
			// the whole input.
			if _, err := io.Copy(io.Discard, raw); err != nil {
				return err
			}
			if got := raw.Digest(); got == want {
				rep.Add(checkExpect, envelope.Pass, "input is %s", got)
			} else {
				rep.Add(checkExpect, envelope.Fail, "input is %s, --expect %s", got, want)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		checkHost(ctx, rep, hc, *eopts)
		if err := printReport(s.Stdout, rep, format); err != nil {
			return err
		}
		if !rep.Valid {
			return errInvalid
		}
		return nil
	}
	return cmd
}

// checkHost adds the checks of whether this host's daemon could take the
// envelope.
func checkHost(ctx context.Context, rep *envelope.Report, hc hostChecks, eopts engine.Options) {
	names := []string{checkImage, checkStorage, checkOS, checkArch}
	var todo []string
	for _, n := range names {
		if *hc.skip[n] {
			rep.Add(n, envelope.Skip, "skipped by --skip-%s", n)
		} else {
			todo = append(todo, n)
		}
	}
	if len(todo) == 0 {
		return
	}
	meta := rep.Meta
	if meta == nil {
		for _, n := range todo {
			rep.Add(n, envelope.Skip, "no readable %s to compare", envelope.MemberEnvelope)
		}
		return
	}
	eng, err := engine.Open(ctx, eopts)
	if err != nil {
		for _, n := range todo {
			rep.Add(n, envelope.Fail, "%v (use --offline to skip the host checks)", err)
		}
		return
	}
	defer eng.Close()
	host, err := eng.Host(ctx)
	if err != nil {
		for _, n := range todo {
			rep.Add(n, envelope.Fail, "%v (use --offline to skip the host checks)", err)
		}
		return
	}
	for _, n := range todo {
		switch n {
		case checkImage:
			checkImageHere(ctx, rep, eng, meta)
		case checkStorage:
			// The same test as layer-import's: the source and this
			// daemon both keep overlayfs upper dirs.
			switch {
			case !engine.Overlay(meta.Container.StorageDriver):
				rep.Add(n, envelope.Fail, "the layer comes from storage driver %q, not overlay2, overlay or overlayfs (--skip-storage)", meta.Container.StorageDriver)
			case !engine.Overlay(host.Driver):
				rep.Add(n, envelope.Fail, "this daemon uses %q, not overlay2, overlay or overlayfs (--skip-storage)", host.DriverDescription())
			default:
				rep.Add(n, envelope.Pass, "%s here, %s at the source: the same on-disk format", host.Driver, meta.Container.StorageDriver)
			}
		case checkOS:
			compareHost(rep, n, meta.Host.OS, host.OS)
		case checkArch:
			compareHost(rep, n, meta.Host.Arch, host.Arch)
		}
	}
}

func compareHost(rep *envelope.Report, name, theirs, ours string) {
	if theirs == ours {
		rep.Add(name, envelope.Pass, "%s here too", ours)
		return
	}
	rep.Add(name, envelope.Fail, "envelope is from %s, this host is %s (--skip-%s)", theirs, ours, name)
}

// checkImageHere looks for the source image by id, then by reference, and
// compares its rootfs diffIDs with the envelope's.
func checkImageHere(ctx context.Context, rep *envelope.Report, eng engine.Engine, meta *envelope.Meta) {
	var layers []string
	var err error
	for _, ref := range []string{meta.Container.ImageID, meta.Container.Image} {
		if ref == "" {
			continue
		}
		if layers, err = eng.ImageLayers(ctx, ref); err == nil {
			break
		}
	}
	switch {
	case err != nil:
		rep.Add(checkImage, envelope.Fail, "source image %s (%s) not on this host: %v (--skip-image)", meta.Container.Image, short(meta.Container.ImageID), err)
	case !slices.Equal(layers, meta.Container.ImageLayers):
		rep.Add(checkImage, envelope.Fail, "image %s here has other rootfs layers than the source's (--skip-image)", meta.Container.Image)
	default:
		rep.Add(checkImage, envelope.Pass, "image %s here has the same %d rootfs layers", meta.Container.Image, len(layers))
	}
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func printReport(w io.Writer, rep *envelope.Report, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	valid := "INVALID"
	if rep.Valid {
		valid = "valid"
	}
	fmt.Fprintf(w, "envelope: %s (%s, compression %s)\n", valid, orDash(rep.Format), rep.Compression)
	if c := rep.Container; c != nil {
		fmt.Fprintf(w, "container: %s (%s), image %s (%s)\n", c.Name, short(c.ID), c.Image, short(c.ImageID))
	}
	if h := rep.Host; h != nil {
		fmt.Fprintf(w, "host: %s/%s, kernel %s, docker %s, %s\n", h.OS, h.Arch, h.Kernel, h.DockerVersion, h.StorageDriver)
	}
	l := rep.Layer
	fmt.Fprintf(w, "layer: %s, %d bytes, %d entries: %d files, %d dirs, %d symlinks, %d hardlinks, %d whiteouts, %d opaque dirs, %d devices, %d fifos, %d setuid/setgid, %d xattrs\n",
		orDash(l.Digest), l.Size, l.Entries, l.Files, l.Dirs, l.Symlinks, l.Hardlinks, l.Whiteouts, l.Opaques, l.Devices, l.Fifos, l.Setuid, l.Xattrs)
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "%-4s  %-10s %s\n", strings.ToUpper(string(c.Status)), c.Name, c.Message)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
