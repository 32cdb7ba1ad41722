package envelope

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/layer-tool/layer-tool/pkg/internal/tally"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Status is the outcome of one check.
type Status string

// The outcomes of a check.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Warn Status = "warn"
	Skip Status = "skip"
)

// Check is one named check of a report.
type Check struct {
	Name    string `json:"name"`
	Status  Status `json:"status"`
	Message string `json:"message"`
}

// LayerReport sums up layer.tar.
type LayerReport struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	overlay.Stats
}

// VolumeReport sums up a volume's tar.
type VolumeReport struct {
	Name        string `json:"name,omitempty"`
	Type        string `json:"type"`
	Destination string `json:"destination"`
	LayerReport
}

// Report is what Verify found.
type Report struct {
	Valid       bool        `json:"valid"`
	Format      string      `json:"format"`
	Compression Compression `json:"compression"`
	Container   *Container  `json:"container,omitempty"`
	Host        *Host       `json:"host,omitempty"`
	Layer       LayerReport `json:"layer"`
	// Volumes (v2) sum up each volume's tar, in envelope order.
	Volumes []VolumeReport `json:"volumes,omitempty"`
	// Omitted (v2) lists the mounts the envelope does not carry.
	Omitted []Omitted `json:"omitted,omitempty"`
	Checks  []Check   `json:"checks"`
	// Meta is envelope.json as read, if it could be decoded.
	Meta *Meta `json:"-"`
	// Inspect is container.json as read, if it is well-formed JSON.
	Inspect []byte `json:"-"`
}

// Add records a check and keeps Valid up to date.
func (r *Report) Add(name string, s Status, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: s, Message: fmt.Sprintf(format, args...)})
	r.Valid = r.Valid && s != Fail
}

// Names of the checks Verify makes.
const (
	CheckStructure = "structure"
	CheckMetadata  = "metadata"
	CheckChecksums = "checksums"
	CheckLayer     = "layer"
	CheckTarSplit  = "tar-split"
	CheckPolicy    = "policy"
)

// MaxJSONMember bounds envelope.json, container.json and docker-info.json.
const MaxJSONMember = 8 << 20

// maxSums bounds SHA256SUMS for an envelope of n members: a line of a
// 64-digit hex and a name for each (v1's five lines fit in 4 KiB).
func maxSums(n int) int64 { return 4<<10 + int64(n)*160 }

// Verify reads an envelope from r to its end and checks its structure,
// metadata, checksums, layer and tar-split metadata, by the rules Extract
// applies, collecting every finding instead of stopping at the first.
// Whatever is wrong with the envelope is in the report; Verify fails only
// when r itself cannot be read or ctx ends, and then returns that error.
func Verify(ctx context.Context, r io.Reader) (*Report, error) {
	return VerifyProgress(ctx, r, nil)
}

// VerifyProgress is Verify telling p (if not nil) how far it has come:
// phase "verifying", the totals envelope.json declares, and the bytes and
// entries of each tree's tar as they are checked.
func VerifyProgress(ctx context.Context, r io.Reader, p Progress) (*Report, error) {
	c := &checker{progress: p}
	w := newWalk(collect, c)
	w.run(ctx, &source{r: r})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range w.faults {
		var se *sourceError
		if errors.As(err, &se) {
			return nil, se
		}
	}
	return c.report(w), nil
}

// source marks the errors of the reader an envelope comes from, which are
// no finding about the envelope.
type source struct{ r io.Reader }

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &sourceError{err}
	}
	return n, err
}

// sourceError is an error of the envelope's reader.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "read envelope: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// checker is Verify's handler: it reads each tree's tar as an import
// would, validating every header, and counts what it holds.
type checker struct {
	// stats are per tree: the layer's first, then each volume's.
	stats []overlay.Stats
	// notable lists setuid/setgid files and device nodes: legal in a
	// layer, but what an operator wants to know about before importing.
	notable []string
	inspect []byte
	// progress, if set, is told the totals and what each tree's pass read.
	progress Progress
}

// maxNotable bounds how many notable paths a report lists by name.
const maxNotable = 32

func (c *checker) Meta(_ context.Context, m *Meta) error {
	if c.progress != nil {
		c.progress.Total(Total(m))
		c.progress.Phase("verifying")
	}
	return nil
}

// Container keeps container.json for the report (layer-check --create
// plans a container from it).
func (c *checker) Container(_ context.Context, raw []byte) error {
	c.inspect = raw
	return nil
}

func (c *checker) Tree(ctx context.Context, t TreeRef, r io.Reader) error {
	for len(c.stats) <= t.Index {
		c.stats = append(c.stats, overlay.Stats{})
	}
	st := &c.stats[t.Index]
	count := tally.New(c.progress)
	defer count.Flush()
	tr := tar.NewReader(tally.Reader(r, count))
	val := overlay.Validator{Plain: t.Plain()}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrStructure) {
				return err
			}
			return fmt.Errorf("entry %d unreadable: %w", val.Count()+1, err)
		}
		if err := val.Entry(hdr); err != nil {
			// Stop here: a refused entry's contents are not to be read
			// (a sparse one would expand holes without end).
			return fmt.Errorf("entry %d: %w", val.Count(), err)
		}
		if t.Plain() {
			st.AddPlain(hdr)
		} else {
			st.Add(hdr)
		}
		c.note(t, hdr)
		count.Entries(1)
		if _, err := io.Copy(io.Discard, tr); err != nil {
			if errors.Is(err, ErrStructure) {
				return err
			}
			return fmt.Errorf("entry %q: contents unreadable: %w", hdr.Name, err)
		}
	}
}

// message is a fault as a report shows it: the check's name already says
// that the envelope is malformed.
func message(err error) string {
	return strings.TrimPrefix(err.Error(), ErrStructure.Error()+": ")
}

// report turns what the walk found into the report's checks.
func (c *checker) report(w *walk) *Report {
	if w.legacy != nil {
		return c.legacyReport(w)
	}
	rep := &Report{Valid: true, Compression: w.compression, Meta: w.meta, Inspect: c.inspect}
	if m := w.meta; m != nil {
		rep.Format, rep.Container, rep.Host = m.Format, &m.Container, &m.Host
	}
	for i, t := range w.trees {
		lr := LayerReport{Size: t.size}
		if i < len(c.stats) {
			lr.Stats = c.stats[i]
		}
		if d, ok := w.digests[t.ref.Member]; ok {
			lr.Digest = "sha256:" + d
		}
		if v := t.ref.Volume; v != nil {
			rep.Volumes = append(rep.Volumes, VolumeReport{Name: v.Name, Type: v.Type, Destination: v.Destination, LayerReport: lr})
		} else {
			rep.Layer = lr
		}
	}
	if w.meta != nil {
		rep.Omitted = w.meta.Omitted
	}
	structural := w.faults[CheckStructure] != nil
	reached := map[string]bool{
		CheckMetadata: w.meta != nil && w.digests[MemberInfo] != "",
		CheckLayer:    w.digests[MemberLayer] != "",
	}
	result := func(name, ok string) {
		switch {
		case w.faults[name] != nil:
			rep.Add(name, Fail, "%s", message(w.faults[name]))
		case structural && name != CheckStructure && !reached[name]:
			rep.Add(name, Skip, "not reached: the envelope is malformed")
		default:
			rep.Add(name, Pass, "%s", ok)
		}
	}
	format := Format
	if w.meta != nil && w.meta.Format == FormatV2 {
		format = FormatV2
	}
	result(CheckStructure, fmt.Sprintf("%d members in order, nothing after the end", len(w.plan)))
	result(CheckMetadata, "JSON members well-formed, "+format)
	result(CheckChecksums, "every SHA256SUMS line matches")
	result(CheckLayer, w.layerSummary(rep))
	layerUnread := w.faults[CheckLayer] != nil || !w.allSplit()
	if layerUnread && w.faults[CheckTarSplit] == nil && !structural {
		rep.Add(CheckTarSplit, Skip, "not checked: %s could not be read", MemberLayer)
	} else {
		result(CheckTarSplit, w.splitSummary())
	}
	if layerUnread {
		rep.Add(CheckPolicy, Skip, "not checked: %s could not be read", MemberLayer)
		return rep
	}
	c.policy(rep)
	return rep
}

// note remembers a setuid or setgid file or a device node.
func (c *checker) note(t TreeRef, hdr *tar.Header) {
	what := ""
	switch {
	case kind(t, hdr) == overlay.KindDevice:
		what = "device"
	case hdr.Typeflag != tar.TypeDir && hdr.Mode&04000 != 0:
		what = "setuid"
	case hdr.Typeflag != tar.TypeDir && hdr.Mode&02000 != 0:
		what = "setgid"
	default:
		return
	}
	if len(c.notable) < maxNotable {
		where := hdr.Name
		if t.Volume != nil {
			where = path.Join(t.Volume.Destination, hdr.Name)
		}
		c.notable = append(c.notable, what+" "+where)
	}
}

// policy adds a warning, not a failure, for setuid/setgid files and device
// nodes: legal in layers, and worth a look before an import.
func (c *checker) policy(rep *Report) {
	l := rep.Layer.Stats
	for _, v := range rep.Volumes {
		l.Setuid += v.Setuid
		l.Devices += v.Devices
	}
	n := l.Setuid + l.Devices
	if n == 0 {
		rep.Add(CheckPolicy, Pass, "no setuid/setgid files, no device nodes")
		return
	}
	more := ""
	if int64(len(c.notable)) < n {
		more = fmt.Sprintf(" and %d more", n-int64(len(c.notable)))
	}
	rep.Add(CheckPolicy, Warn, "%d setuid/setgid files, %d device nodes: %s%s", l.Setuid, l.Devices, strings.Join(c.notable, ", "), more)
}

// allSplit tells whether tar-split recorded every tree's tar whole.
func (w *walk) allSplit() bool {
	for _, t := range w.trees {
		if t.localSplit == nil {
			return false
		}
	}
	return len(w.trees) > 0
}

// splitSummary is the tar-split check's message when it passes.
func (w *walk) splitSummary() string {
	n := 0
	for _, t := range w.trees {
		n += t.splitEntries
	}
	if len(w.trees) == 1 {
		return fmt.Sprintf("%d entries reassemble %s exactly", n, MemberLayer)
	}
	return fmt.Sprintf("%d entries reassemble %s and %d volume tars exactly", n, MemberLayer, len(w.trees)-1)
}

// layerSummary is the layer check's message when it passes.
func (w *walk) layerSummary(rep *Report) string {
	msg := fmt.Sprintf("%d entries readable, names safe, canonical order, no duplicates", rep.Layer.Entries)
	if len(rep.Volumes) > 0 {
		var n int64
		for _, v := range rep.Volumes {
			n += v.Entries
		}
		msg += fmt.Sprintf("; %d volumes, %d entries, likewise", len(rep.Volumes), n)
	}
	return msg
}

// kind classifies an entry of tree t: by type alone in a plain tree.
func kind(t TreeRef, hdr *tar.Header) overlay.Kind {
	if t.Plain() {
		return overlay.ClassifyPlain(hdr)
	}
	return overlay.Classify(hdr)
}
