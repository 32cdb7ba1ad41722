package envelope

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/layer-tool/layer-tool/pkg/overlay"
	"github.com/vbatts/tar-split/tar/asm"
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

// Report is what Verify found.
type Report struct {
	Valid       bool        `json:"valid"`
	Format      string      `json:"format"`
	Compression Compression `json:"compression"`
	Container   *Container  `json:"container,omitempty"`
	Host        *Host       `json:"host,omitempty"`
	Layer       LayerReport `json:"layer"`
	Checks      []Check     `json:"checks"`
	// Meta is envelope.json as read, if it could be decoded.
	Meta *Meta `json:"-"`
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

// maxSums bounds SHA256SUMS: five lines of a 64-digit hex and a name.
const maxSums = 4 << 10

// Verify reads an envelope from r to its end and checks its structure,
// metadata, checksums, layer and tar-split metadata. It fails only when r
// cannot be read; whatever is wrong with the envelope is in the report.
func Verify(ctx context.Context, r io.Reader) (*Report, error) {
	v := &verifier{rep: &Report{Valid: true}, digests: map[string]string{}, fails: map[string]string{}}
	v.read(ctx, r)
	return v.finish(), nil
}

type verifier struct {
	rep       *Report
	digests   map[string]string // member name -> computed sha256
	sums      []byte
	fails     map[string]string // check name -> first failure
	layerSize int64
	localTS   []byte // tar-split digest of layer.tar as read
	envTS     []byte // digest of the envelope's tar-split metadata
	tsEntries int
	// notable lists setuid/setgid files and device nodes: legal in a
	// layer, but what an operator wants to know about before importing.
	notable []string
}

// maxNotable bounds how many notable paths a report lists by name.
const maxNotable = 32

func (v *verifier) fail(check, format string, args ...any) {
	if _, ok := v.fails[check]; !ok {
		v.fails[check] = fmt.Sprintf(format, args...)
	}
}

// read walks the members in order. A structural error stops the walk.
func (v *verifier) read(ctx context.Context, r io.Reader) {
	er, err := NewReader(r)
	if err != nil {
		v.fail(CheckStructure, "%v", err)
		return
	}
	defer er.release()
	v.rep.Compression = er.Compression
	next := 0
	for {
		if err := ctx.Err(); err != nil {
			v.fail(CheckStructure, "interrupted: %v", err)
			return
		}
		m, err := er.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errCut) && next < len(Members) {
			v.fail(CheckStructure, "member %s missing: the stream stops after %s", Members[next], orStart(er.last))
			return
		}
		if err != nil {
			v.fail(CheckStructure, "%v", err)
			return
		}
		switch {
		case next < len(Members) && m.Name == Members[next]:
			next++
		case indexOf(Members, m.Name) >= 0:
			v.fail(CheckStructure, "member %s out of order: expected %s", m.Name, expected(next))
			return
		default:
			v.fail(CheckStructure, "unexpected member %q: expected %s", m.Name, expected(next))
			return
		}
		if err := v.member(ctx, m); err != nil {
			v.fail(CheckStructure, "%v", err)
			return
		}
		if _, err := io.Copy(io.Discard, m); err != nil {
			v.fail(CheckStructure, "%v", err)
			return
		}
		if m.Name != MemberSums {
			v.digests[m.Name] = m.Digest()
		}
	}
	if next < len(Members) {
		v.fail(CheckStructure, "member %s missing", Members[next])
		return
	}
	if err := er.Close(); err != nil {
		v.fail(CheckStructure, "%v", err)
	}
}

func expected(next int) string {
	if next < len(Members) {
		return Members[next]
	}
	return "the end after " + MemberSums
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// member checks the content of one member as it streams past.
func (v *verifier) member(ctx context.Context, m *Member) error {
	switch m.Name {
	case MemberEnvelope, MemberContainer, MemberInfo:
		data, err := readCapped(m, MaxJSONMember)
		if err != nil {
			return err
		}
		v.json(m.Name, data)
	case MemberLayer:
		v.layerSize = m.Size
		v.rep.Layer.Size = m.Size
		if meta := v.rep.Meta; meta != nil && meta.Layer.Size != m.Size {
			return fmt.Errorf("%s: %d bytes, but %s says %d", MemberLayer, m.Size, MemberEnvelope, meta.Layer.Size)
		}
		return v.layer(ctx, m)
	case MemberTarSplit:
		if max := maxSplitSize(v.layerSize); m.Size > max {
			return fmt.Errorf("%s: %d bytes, more than the metadata of a %d-byte layer can take (%d)", m.Name, m.Size, v.layerSize, max)
		}
		sum, n, err := digestTarSplit(m, v.layerSize)
		if err != nil {
			v.fail(CheckTarSplit, "%s: %v", m.Name, err)
			return nil
		}
		v.envTS, v.tsEntries = sum, n
	case MemberSums:
		data, err := readCapped(m, maxSums)
		if err != nil {
			return err
		}
		v.sums = data
	}
	return nil
}

// readCapped reads a whole small member, refusing one larger than max.
func readCapped(m *Member, max int64) ([]byte, error) {
	if m.Size > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", m.Name, m.Size, max)
	}
	return io.ReadAll(m)
}

// json checks a JSON member; envelope.json is decoded into the report.
func (v *verifier) json(name string, data []byte) {
	if err := checkJSON(data); err != nil {
		v.fail(CheckMetadata, "%s: %v", name, err)
		return
	}
	if name != MemberEnvelope {
		return
	}
	var meta Meta
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&meta); err != nil {
		v.fail(CheckMetadata, "%s: %v", name, err)
		return
	}
	v.rep.Meta = &meta
	v.rep.Format = meta.Format
	v.rep.Container = &meta.Container
	v.rep.Host = &meta.Host
	if meta.Format != Format {
		v.fail(CheckMetadata, "%s: format %q, this tool reads %q", name, meta.Format, Format)
		return
	}
	for field, missing := range map[string]bool{
		"created":               meta.Created.IsZero(),
		"container.id":          meta.Container.ID == "",
		"container.imageId":     meta.Container.ImageID == "",
		"container.imageLayers": meta.Container.ImageLayers == nil,
		"host.os":               meta.Host.OS == "",
		"host.arch":             meta.Host.Arch == "",
	} {
		if missing {
			v.fail(CheckMetadata, "%s: required field %s missing", name, field)
		}
	}
	if err := checkLayerCounts(meta.Layer); err != nil {
		v.fail(CheckMetadata, "%s: %v", name, err)
	}
}

// layer reads layer.tar entry by entry, validating every header, while
// tar-split records the same bytes in its own goroutine.
func (v *verifier) layer(ctx context.Context, m *Member) error {
	split := newSplitDigest()
	putter := newBoundedPutter(m.Size, true)
	tee, done, err := asm.NewInputTarStreamWithDone(m, split, putter)
	if err != nil {
		return err
	}
	// Closing the tee on an early return stops tar-split's goroutine,
	// which would otherwise wait on the pipe forever.
	defer func() { putter.stop.Store(true); tee.Close(); <-done }()
	tr := tar.NewReader(tee)
	var val overlay.Validator
	st := &v.rep.Layer.Stats
	bad := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, ErrStructure) {
				return err
			}
			bad = fmt.Sprintf("entry %d unreadable: %v", val.Count()+1, err)
			break
		}
		if err := val.Entry(hdr); err != nil {
			// Stop here: a refused entry's contents are not to be read
			// (a sparse one would expand holes without end).
			bad = fmt.Sprintf("entry %d: %v", val.Count(), err)
			break
		}
		st.Add(hdr)
		v.note(hdr)
		if _, err := io.Copy(io.Discard, tr); err != nil {
			if errors.Is(err, ErrStructure) {
				return err
			}
			bad = fmt.Sprintf("entry %q: contents unreadable: %v", hdr.Name, err)
			break
		}
	}
	if bad != "" {
		// tar-split is stopped on return; the reader skips the rest of
		// the member without parsing it.
		v.fail(CheckLayer, "%s: %s", MemberLayer, bad)
		return nil
	}
	// Drain the tee so that tar-split sees the end padding too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		if errors.Is(err, ErrStructure) {
			return err
		}
		bad = fmt.Sprintf("after the last entry: %v", err)
	}
	if bad != "" {
		v.fail(CheckLayer, "%s: %s", MemberLayer, bad)
		return nil
	}
	v.localTS = split.sum()
	return nil
}

// finish turns what was seen into the report's checks.
func (v *verifier) finish() *Report {
	rep := v.rep
	rep.Layer.Digest = ""
	if d, ok := v.digests[MemberLayer]; ok {
		rep.Layer.Digest = "sha256:" + d
	}
	structural := v.fails[CheckStructure] != ""
	if meta := rep.Meta; meta != nil && !structural && v.fails[CheckMetadata] == "" {
		if meta.Layer.Size != v.layerSize {
			v.fail(CheckStructure, "%s: %d bytes, but %s says %d", MemberLayer, v.layerSize, MemberEnvelope, meta.Layer.Size)
		}
		if v.fails[CheckLayer] == "" && meta.Layer.Entries != rep.Layer.Entries {
			v.fail(CheckLayer, "%s: %d entries, but %s says %d", MemberLayer, rep.Layer.Entries, MemberEnvelope, meta.Layer.Entries)
		}
	}
	v.checkSums()

	result := func(name, ok string) {
		switch {
		case v.fails[name] != "":
			rep.Add(name, Fail, "%s", v.fails[name])
		case structural && name != CheckStructure && !v.done(name):
			rep.Add(name, Skip, "not reached: the envelope is malformed")
		default:
			rep.Add(name, Pass, "%s", ok)
		}
	}
	result(CheckStructure, "six members in order, nothing after the end")
	result(CheckMetadata, "JSON members well-formed, "+Format)
	result(CheckChecksums, "every SHA256SUMS line matches")
	result(CheckLayer, fmt.Sprintf("%d entries readable, names safe, canonical order, no duplicates", rep.Layer.Entries))
	if v.fails[CheckTarSplit] == "" && !structural && !bytes.Equal(v.localTS, v.envTS) && v.fails[CheckLayer] == "" {
		v.fail(CheckTarSplit, "%s does not describe %s as read (%d entries)", MemberTarSplit, MemberLayer, v.tsEntries)
	}
	layerUnread := v.fails[CheckLayer] != "" || v.localTS == nil
	if layerUnread && v.fails[CheckTarSplit] == "" && !structural {
		rep.Add(CheckTarSplit, Skip, "not checked: %s could not be read", MemberLayer)
	} else {
		result(CheckTarSplit, fmt.Sprintf("%d entries reassemble %s exactly", v.tsEntries, MemberLayer))
	}
	if layerUnread {
		rep.Add(CheckPolicy, Skip, "not checked: %s could not be read", MemberLayer)
		return rep
	}
	v.policy()
	return rep
}

// note remembers a setuid or setgid file or a device node.
func (v *verifier) note(hdr *tar.Header) {
	what := ""
	switch {
	case overlay.Classify(hdr) == overlay.KindDevice:
		what = "device"
	case hdr.Typeflag != tar.TypeDir && hdr.Mode&04000 != 0:
		what = "setuid"
	case hdr.Typeflag != tar.TypeDir && hdr.Mode&02000 != 0:
		what = "setgid"
	default:
		return
	}
	if len(v.notable) < maxNotable {
		v.notable = append(v.notable, what+" "+hdr.Name)
	}
}

// policy adds a warning, not a failure, for setuid/setgid files and device
// nodes: legal in layers, and worth a look before an import.
func (v *verifier) policy() {
	l := v.rep.Layer
	n := l.Setuid + l.Devices
	if n == 0 {
		v.rep.Add(CheckPolicy, Pass, "no setuid/setgid files, no device nodes")
		return
	}
	more := ""
	if int64(len(v.notable)) < n {
		more = fmt.Sprintf(" and %d more", n-int64(len(v.notable)))
	}
	v.rep.Add(CheckPolicy, Warn, "%d setuid/setgid files, %d device nodes: %s%s", l.Setuid, l.Devices, strings.Join(v.notable, ", "), more)
}

// done tells whether the data a check needs was read before the envelope
// broke off.
func (v *verifier) done(check string) bool {
	switch check {
	case CheckMetadata:
		return v.rep.Meta != nil && v.digests[MemberInfo] != ""
	case CheckLayer:
		return v.digests[MemberLayer] != ""
	}
	return false
}

// checkSums compares SHA256SUMS with the digests computed while reading.
func (v *verifier) checkSums() {
	if v.sums == nil {
		if v.fails[CheckStructure] == "" {
			v.fail(CheckChecksums, "%s missing", MemberSums)
		}
		return
	}
	if err := compareSums(v.sums, v.digests); err != nil {
		v.fail(CheckChecksums, "%v", err)
	}
}
