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
	// Canonical tells whether the tar is, byte for byte, the one
	// layer-export writes for the tree it makes (information: any valid
	// layer imports); NotCanonical says why not. Absent when the tar
	// could not be read to its end.
	Canonical    *bool  `json:"canonical,omitempty"`
	NotCanonical string `json:"notCanonical,omitempty"`
}

// canonical fills in Canonical from what the checker found and the
// tar's own header bytes as tar-split read them.
func (lr *LayerReport) canonical(tc *treeCheck, raw [32]byte) {
	ok := tc.canonical && tc.encoded && tc.headers == raw
	lr.Canonical = &ok
	switch {
	case !tc.canonical:
		lr.NotCanonical = tc.why
	case !ok:
		lr.NotCanonical = "header bytes differ from layer-export's (header format, PAX records, owner names or padding)"
	}
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
	// Root is the envelope's digest (see [Root]), what layer-export
	// printed and --expect takes; absent if SHA256SUMS was not read.
	Root      string      `json:"root,omitempty"`
	Container *Container  `json:"container,omitempty"`
	Host      *Host       `json:"host,omitempty"`
	Layer     LayerReport `json:"layer"`
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
	meta *Meta
	// trees are the layer's (0) and each volume's findings.
	trees []*treeCheck
	// notable lists setuid/setgid files and device nodes: legal in a
	// layer, but what an operator wants to know about before importing.
	notable []string
	inspect []byte
	// progress, if set, is told the totals and what each tree's pass read.
	progress Progress
}

// maxNotable bounds how many notable paths a report lists by name.
const maxNotable = 32

// declared is the number of entries envelope.json gives tree t.
func (c *checker) declared(t TreeRef) int64 {
	switch {
	case t.Volume != nil:
		return t.Volume.Entries
	case c.meta != nil:
		return c.meta.Layer.Entries
	}
	return 0
}

func (c *checker) Meta(_ context.Context, m *Meta) error {
	c.meta = m
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

// Tree validates a tree's tar by the rules Apply follows, entry by entry
// (the same Validator decides), counts what it holds, and re-encodes each
// entry as layer-export would write it, to tell whether the tar is
// canonical.
func (c *checker) Tree(ctx context.Context, t TreeRef, r io.Reader) (int64, error) {
	for len(c.trees) <= t.Index {
		c.trees = append(c.trees, &treeCheck{})
	}
	tc := c.trees[t.Index]
	count := tally.New(c.progress)
	defer count.Flush()
	tr := tar.NewReader(tally.Reader(r, count))
	val := &tc.val
	val.Plain = t.Plain()
	val.Reserve(c.declared(t))
	enc := overlay.NewCanonicalHeaders()
	defer func() {
		tc.canonical, tc.why = val.Canonical()
		tc.headers, tc.encoded = enc.Sum()
	}()
	for {
		if err := ctx.Err(); err != nil {
			return val.Count(), err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return val.Count(), nil
		}
		if err != nil {
			if errors.Is(err, ErrStructure) {
				return val.Count(), err
			}
			return val.Count(), fmt.Errorf("layer entry %d: %w", val.Count()+1, err)
		}
		if cm, ok := r.(contentsMarker); ok {
			// archive/tar reads contents for every type but these
			// (isHeaderOnlyType in its reader.go).
			data := hdr.Size
			switch hdr.Typeflag {
			case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
				data = 0
			}
			cm.Contents(hdr.Name, hdr.Size, data)
		}
		act, err := val.Entry(hdr)
		if err != nil {
			// Stop here: a refused entry's contents are not to be read
			// (a sparse one would expand holes without end).
			return val.Count(), fmt.Errorf("layer entry %d: %w", val.Count(), err)
		}
		if act.Op != overlay.OpSkip {
			enc.Add(hdr)
		}
		if t.Plain() {
			tc.stats.AddPlain(hdr)
		} else {
			tc.stats.Add(hdr)
		}
		c.note(t, hdr)
		count.Entries(1)
		if n, err := io.Copy(io.Discard, tr); err != nil {
			if errors.Is(err, ErrStructure) {
				return val.Count(), err
			}
			return val.Count(), fmt.Errorf("layer entry %q: contents end at byte %d of %d: %w", hdr.Name, n, hdr.Size, err)
		}
	}
}

// repeats counts the entries, over every tree, that name a path an
// earlier entry of their tree named.
func (c *checker) repeats() int64 {
	var n int64
	for _, tc := range c.trees {
		n += tc.val.Repeats()
	}
	return n
}

// treeCheck is what the checker learnt of one tree.
type treeCheck struct {
	val   overlay.Validator
	stats overlay.Stats
	// canonical and why are the Validator's verdict on the entries;
	// headers is the sha256 of their canonical encoding, encoded false if
	// it could not be made.
	canonical bool
	why       string
	headers   [32]byte
	encoded   bool
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
	if w.sums != nil {
		rep.Root = Root(w.sums)
	}
	if m := w.meta; m != nil {
		rep.Format, rep.Container, rep.Host = m.Format, &m.Container, &m.Host
	}
	for i, t := range w.trees {
		lr := LayerReport{Size: t.size}
		if i < len(c.trees) {
			lr.Stats = c.trees[i].stats
			if t.done {
				lr.canonical(c.trees[i], t.rawHeaders)
			}
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
	} else if n := c.repeats(); n > 0 && w.faults[CheckTarSplit] == nil && !structural {
		// The metadata matches, but tar-split's unpacker refuses a name
		// twice (ErrDuplicatePath) and finds files by name.
		rep.Add(CheckTarSplit, Warn, "%s; but %d entries name a path an earlier one named, which tar-split's unpacker refuses: it cannot reassemble the tar", w.splitSummary(), n)
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
	msg := fmt.Sprintf("%d entries readable, names safe, every entry applicable", rep.Layer.Entries)
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
