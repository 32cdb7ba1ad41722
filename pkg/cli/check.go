package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/layer-tool/layer-tool/pkg/engine"
	"github.com/layer-tool/layer-tool/pkg/envelope"
)

var checkDoc = doc{
	synopsis: `usage: layer-check [flags] [FILE] < FILE
       layer-tool check [flags] FILE

Read an envelope once, to its end (compression detected from its first
bytes), and report whether it is valid: structure, metadata, checksums,
layer, tar-split, and whether this host's Docker could take it (image,
storage, os, arch). Exits 1 when the envelope is invalid.

`,
	examples: `  layer-check < web.layer.zst | jq .valid
  layer-tool check web.layer.gz --skip-os --skip-arch
`,
}

func checkCommand(name string, fileArg bool) *command {
	cmd := &command{name: name, doc: checkDoc}
	cmd.exec = func(ctx context.Context, args []string, s Streams) error {
		fs := cmd.newFlags()
		format := "json"
		if fileArg {
			format = "text"
		}
		fs.StringVar(&format, "format", format, "report as `json|text` (layer-check: json, layer-tool check: text)")
		skip := addSkipFlags(fs, map[string]string{
			checkOS:      "do not compare the operating system",
			checkArch:    "do not compare the architecture",
			checkStorage: "do not require an overlay store here",
			checkImage:   "do not look for the source image on this host",
		})
		eopts := addEngineFlags(fs)
		offline := fs.Bool("offline", false, "skip all four host checks (no daemon needed)")
		create := fs.Bool("create", false, "also check that layer-import --create could make the container here (image, name, volumes, networks, settings); adds a \"create\" check")
		quiet := fs.Bool("q", false, "no progress line")
		expect := fs.String("expect", "", "the envelope must have this digest, `sha256:HEX` as layer-export printed it (or, from earlier versions, the sha256 of the file as stored); adds an \"expect\" check")
		pos, err := parse(cmd, args, s)
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
		if len(pos) == 0 || pos[0] == "-" {
			growPipe(in)
		}
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
		// The stream's own sha256 only for an --expect: an old digest is
		// that; a new one is the envelope's root, in the report.
		var raw io.Reader = ctxReader(ctx, in)
		var stream *envelope.Digester
		if want != "" {
			stream = envelope.NewDigestReader(raw)
			raw = stream
		}
		if *offline {
			*skip = skipAll
		}
		meter := startMeter(*quiet, s.Stderr)
		defer meter.stop()
		var prog envelope.Progress
		if meter != nil {
			meter.Phase("verifying")
			prog = meter
		}
		rep, err := envelope.VerifyProgress(ctx, raw, prog)
		if err != nil {
			return err
		}
		if want != "" {
			// Verify may stop early on a broken envelope; the digest is of
			// the whole input.
			if _, err := io.Copy(io.Discard, raw); err != nil {
				return err
			}
			switch got := stream.Digest(); {
			case want == rep.Root:
				rep.Add(checkExpect, envelope.Pass, "envelope is %s", want)
			case want == got:
				rep.Add(checkExpect, envelope.Pass, "input is %s (a stream digest, as layer-export printed them before the envelope's root)", want)
			default:
				rep.Add(checkExpect, envelope.Fail, "envelope is %s (input %s), --expect %s", orDash(rep.Root), got, want)
			}
		}
		if meter != nil {
			meter.Phase("done")
		}
		meter.stop() // its last line goes before the host checks' wait
		if ctx.Err() != nil {
			return ctx.Err()
		}
		checkHost(ctx, rep, *skip, *eopts)
		if *create {
			checkCreate(ctx, rep, *eopts)
		}
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

// reportOrder is the order of the host checks in a report: what the
// envelope needs here first. (They are made in hostChecks order.)
var reportOrder = []string{checkImage, checkStorage, checkOS, checkArch}

// checkHost adds the host checks: whether this host's engine could take
// the envelope. Checks that cannot be made (no readable envelope.json, no
// engine) say why.
func checkHost(ctx context.Context, rep *envelope.Report, skip skips, eopts engine.Options) {
	unmade := func(s envelope.Status, format string, args ...any) {
		for _, n := range reportOrder {
			if skip.has(n) {
				rep.Add(n, envelope.Skip, "skipped by --skip-%s", n)
			} else {
				rep.Add(n, s, format, args...)
			}
		}
	}
	switch {
	case skip == skipAll:
		unmade(envelope.Skip, "")
		return
	case rep.Meta == nil && strings.HasPrefix(rep.Format, envelope.FormatLegacy):
		unmade(envelope.Skip, "no readable %s to compare", envelope.LegacyMetadata)
		return
	case rep.Meta == nil:
		unmade(envelope.Skip, "no readable %s to compare", envelope.MemberEnvelope)
		return
	}
	eng, err := engine.Open(ctx, eopts)
	if err != nil {
		unmade(envelope.Fail, "%v (use --offline to skip the host checks)", err)
		return
	}
	defer eng.Close()
	host, err := eng.Host(ctx)
	if err != nil {
		unmade(envelope.Fail, "%v (use --offline to skip the host checks)", err)
		return
	}
	checks, _ := compatibility(ctx, rep.Meta, checkHere(eng, host, rep.Meta), skip, false)
	for _, name := range reportOrder {
		for _, c := range checks {
			if c.Name == name {
				rep.Add(c.Name, c.Status, "%s", c.Message)
			}
		}
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
		// DockerVersion is the version of the engine the envelope names
		// (containerd's for a plain-containerd layer); envelopes from before
		// host.engine are Docker's.
		engine := h.Engine
		if engine == "" {
			engine = "docker"
		}
		fmt.Fprintf(w, "host: %s/%s, kernel %s, %s %s, %s\n", h.OS, h.Arch, h.Kernel, engine, h.DockerVersion, h.StorageDriver)
	}
	l := rep.Layer
	fmt.Fprintf(w, "layer: %s, %d bytes, %d entries: %d files, %d dirs, %d symlinks, %d hardlinks, %d whiteouts, %d opaque dirs, %d devices, %d fifos, %d setuid/setgid, %d xattrs\n",
		orDash(l.Digest), l.Size, l.Entries, l.Files, l.Dirs, l.Symlinks, l.Hardlinks, l.Whiteouts, l.Opaques, l.Devices, l.Fifos, l.Setuid, l.Xattrs)
	if l.Canonical != nil && !*l.Canonical {
		fmt.Fprintf(w, "layer form: not canonical (%s); imports as any valid layer, a re-export gives another digest\n", l.NotCanonical)
	}
	for _, v := range rep.Volumes {
		fmt.Fprintf(w, "volume %s (%s %s): %s, %d bytes, %d entries: %d files, %d dirs, %d symlinks, %d hardlinks, %d devices, %d fifos, %d setuid/setgid, %d xattrs\n",
			v.Destination, v.Type, orDash(v.Name), orDash(v.Digest), v.Size, v.Entries, v.Files, v.Dirs, v.Symlinks, v.Hardlinks, v.Devices, v.Fifos, v.Setuid, v.Xattrs)
	}
	for _, o := range rep.Omitted {
		fmt.Fprintf(w, "not carried: %s: %s\n", describeMount(o), o.Reason)
	}
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

// checkCreate adds the "create" check: what layer-import --create would
// do here, planned without making anything. A plan that cannot be carried
// out fails; one that drops settings or misses networks warns.
func checkCreate(ctx context.Context, rep *envelope.Report, eopts engine.Options) {
	const name = "create"
	m := rep.Meta
	if envelope.IsLegacy(m) {
		rep.Add(name, envelope.Skip, "%v", errLegacyCreate)
		return
	}
	if m == nil || rep.Inspect == nil {
		rep.Add(name, envelope.Skip, "no readable %s and %s to plan from", envelope.MemberEnvelope, envelope.MemberContainer)
		return
	}
	eng, err := engine.Open(ctx, eopts)
	if err != nil {
		rep.Add(name, envelope.Fail, "%v", err)
		return
	}
	defer eng.Close()
	cname := strings.TrimPrefix(m.Container.Name, "/")
	plan, err := eng.PlanCreate(ctx, rep.Inspect, m.Container.ImageID, m.Container.Image, m.Container.ImageLayers, engine.CreateOptions{Name: cname})
	switch {
	case errors.Is(err, engine.ErrCreateUnsupported):
		rep.Add(name, envelope.Skip, "%v", err)
		return
	case err != nil:
		rep.Add(name, envelope.Fail, "%s", oneLine(err.Error()))
		return
	}
	msg := fmt.Sprintf("layer-import --create would make %s from image %s, carrying %d settings", cname, short(plan.Image), len(plan.Carried))
	if len(plan.Networks) > 0 {
		msg += ", joining " + strings.Join(plan.Networks, ", ")
	}
	var notes []string
	if len(plan.Dropped) > 0 {
		notes = append(notes, "not carried: "+strings.Join(plan.Dropped, "; "))
	}
	if len(plan.Missing) > 0 {
		notes = append(notes, "networks not here (default network instead): "+strings.Join(plan.Missing, ", "))
	}
	if len(notes) > 0 {
		rep.Add(name, envelope.Warn, "%s; %s", msg, strings.Join(notes, "; "))
		return
	}
	rep.Add(name, envelope.Pass, "%s", msg)
}
