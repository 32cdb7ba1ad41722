package envelope

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

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
// metadata, checksums, layer and tar-split metadata, by the rules Extract
// applies, collecting every finding instead of stopping at the first.
// Whatever is wrong with the envelope is in the report; Verify fails only
// when r itself cannot be read or ctx ends, and then returns that error.
func Verify(ctx context.Context, r io.Reader) (*Report, error) {
	c := &checker{}
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

// checker is Verify's handler: it reads layer.tar as an import would,
// validating every header, and counts what it holds.
type checker struct {
	stats overlay.Stats
	// notable lists setuid/setgid files and device nodes: legal in a
	// layer, but what an operator wants to know about before importing.
	notable []string
}

// maxNotable bounds how many notable paths a report lists by name.
const maxNotable = 32

func (*checker) Meta(context.Context, *Meta) error { return nil }

func (c *checker) Layer(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	var val overlay.Validator
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
		c.stats.Add(hdr)
		c.note(hdr)
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
	rep := &Report{Valid: true, Compression: w.compression, Meta: w.meta}
	if m := w.meta; m != nil {
		rep.Format, rep.Container, rep.Host = m.Format, &m.Container, &m.Host
	}
	rep.Layer.Size = w.layerSize
	rep.Layer.Stats = c.stats
	if d, ok := w.digests[MemberLayer]; ok {
		rep.Layer.Digest = "sha256:" + d
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
	result(CheckStructure, "six members in order, nothing after the end")
	result(CheckMetadata, "JSON members well-formed, "+Format)
	result(CheckChecksums, "every SHA256SUMS line matches")
	result(CheckLayer, fmt.Sprintf("%d entries readable, names safe, canonical order, no duplicates", rep.Layer.Entries))
	layerUnread := w.faults[CheckLayer] != nil || w.localSplit == nil
	if layerUnread && w.faults[CheckTarSplit] == nil && !structural {
		rep.Add(CheckTarSplit, Skip, "not checked: %s could not be read", MemberLayer)
	} else {
		result(CheckTarSplit, fmt.Sprintf("%d entries reassemble %s exactly", w.splitEntries, MemberLayer))
	}
	if layerUnread {
		rep.Add(CheckPolicy, Skip, "not checked: %s could not be read", MemberLayer)
		return rep
	}
	c.policy(rep)
	return rep
}

// note remembers a setuid or setgid file or a device node.
func (c *checker) note(hdr *tar.Header) {
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
	if len(c.notable) < maxNotable {
		c.notable = append(c.notable, what+" "+hdr.Name)
	}
}

// policy adds a warning, not a failure, for setuid/setgid files and device
// nodes: legal in layers, and worth a look before an import.
func (c *checker) policy(rep *Report) {
	l := rep.Layer
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
