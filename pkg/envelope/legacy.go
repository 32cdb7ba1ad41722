package envelope

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Files of the original layer-tool (the Rust tool this one re-implements):
// see "Files of the original layer-tool" in doc.go.

// FormatLegacy names a file of the original layer-tool. A report's and a
// synthesized Meta's format is FormatLegacy+"/"+metadata.json's version,
// as in "layer-tool-rs/0.3.0"; just FormatLegacy when metadata.json is
// unreadable.
const FormatLegacy = "layer-tool-rs"

// LegacyMetadata is the first member of such a file: where an envelope
// has envelope.json.
const LegacyMetadata = "metadata.json"

// CheckNotCarried is the report's check that lists what a file of the
// original layer-tool cannot hold: always a warning, never a failure.
const CheckNotCarried = "not-carried"

// LegacyNotCarried says what a file of the original layer-tool cannot
// carry, for a report and for layer-import's warning.
const LegacyNotCarried = "deleted files (whiteouts), symlinks (it followed them: copies of their targets stand in their place), " +
	"owners (not reliable), special files (devices, fifos, sockets), extended attributes, sub-second mtimes, volumes"

// IsLegacy tells whether m was synthesized from a file of the original
// layer-tool rather than read from an envelope.json.
func IsLegacy(m *Meta) bool {
	return m != nil && strings.HasPrefix(m.Format, FormatLegacy+"/")
}

// legacyRead is what the walk learnt of a file of the original layer-tool.
type legacyRead struct {
	format string
	// ok: metadata.json passed its rules, so the handler may see it.
	ok bool
	// checksum is layer_checksum in lower-case hex.
	checksum string
	// inspect stands in for container.json.
	inspect []byte
	// scan is what the second reading of layer.tar found, once it was
	// read to its end.
	scan *legacyScan
}

// readLegacy walks a file of the original layer-tool once read has seen
// its first member, metadata.json: then layer.tar, then the end. The
// layer goes through tree, to the handler, as an envelope's does.
func (w *walk) readLegacy(ctx context.Context, er *Reader, first *Member) {
	l := &legacyRead{format: FormatLegacy}
	w.legacy = l
	w.plan = []planned{{name: LegacyMetadata, kind: kindJSON}, {name: MemberLayer, kind: kindTar}}
	t := &treeRead{ref: TreeRef{Member: MemberLayer}}
	w.trees = []*treeRead{t}
	if w.legacyMeta(first) {
		return
	}
	w.digests[LegacyMetadata] = first.Digest()
	if err := ctx.Err(); err != nil {
		w.fault(CheckStructure, fmt.Errorf("interrupted: %w", err))
		return
	}
	m, err := er.Next()
	switch {
	case errors.Is(err, io.EOF):
		w.structural("member %s missing", MemberLayer)
		return
	case errors.Is(err, errCut):
		w.structural("member %s missing: the stream stops after %s", MemberLayer, LegacyMetadata)
		return
	case err != nil:
		w.fault(CheckStructure, err)
		return
	case m.Name != MemberLayer:
		w.structural("unexpected member %q: expected %s", m.Name, MemberLayer)
		return
	}
	if w.legacyHandler(ctx, m.Size) || w.legacyTree(ctx, m, t) {
		return
	}
	if _, err := io.Copy(io.Discard, m); err != nil {
		w.fault(CheckStructure, err)
		return
	}
	w.digests[MemberLayer] = m.Digest()
	switch next, err := er.Next(); {
	case err == nil:
		w.structural("unexpected member %q: expected the end after %s", next.Name, MemberLayer)
		return
	case !errors.Is(err, io.EOF):
		w.fault(CheckStructure, err)
		return
	}
	if err := er.Close(); err != nil {
		w.fault(CheckStructure, err)
	}
}

// legacyMeta reads metadata.json, keeping what it says even when a rule
// then refuses it (a report still shows it).
func (w *walk) legacyMeta(m *Member) (stop bool) {
	data, err := readCapped(m, MaxJSONMember)
	if err != nil {
		return w.fault(CheckStructure, err)
	}
	lm, err := decodeLegacy(data)
	if lm != nil {
		w.meta, w.legacy.inspect = lm.meta(), lm.inspect()
		w.legacy.format = w.meta.Format
		w.legacy.checksum = lm.sum
	}
	if err != nil {
		return w.fault(CheckMetadata, fmt.Errorf("%w: %s: %w", ErrStructure, LegacyMetadata, err))
	}
	w.legacy.ok = true
	return false
}

// legacyHandler tells the handler, once layer.tar's size is known, what
// an envelope's envelope.json and container.json would have.
//
// The format declares no entry count, and an import bounds what it
// writes (Options.MaxEntries) and checks the free space by the count
// declared. A tar entry takes at least its 512-byte header inside the
// member, so size/512 bounds the count: Apply refuses any entry beyond
// it, and the free-space check counts that many entries (a block and an
// inode each), which asks for more room than the layer needs, never
// less.
func (w *walk) legacyHandler(ctx context.Context, size int64) (stop bool) {
	t := w.trees[0]
	t.size = size
	if w.meta == nil {
		return false
	}
	w.meta.Layer = Layer{Size: size, Entries: size / 512}
	t.declared = w.meta.Layer
	if !w.legacy.ok {
		return false
	}
	if err := w.h.Meta(ctx, w.meta); err != nil {
		return w.fault(CheckPolicy, err)
	}
	if ch, ok := w.h.(ContainerHandler); ok {
		if err := ch.Container(ctx, w.legacy.inspect); err != nil {
			return w.fault(CheckPolicy, err)
		}
	}
	return false
}

// legacyTree hands layer.tar to tree, as an envelope's, while a second
// tar reader goes over the same bytes for what only this format asks.
func (w *walk) legacyTree(ctx context.Context, m *Member, t *treeRead) (stop bool) {
	scan, pw := startLegacyScan()
	r := m.r
	m.r = io.TeeReader(r, pw)
	stop = w.tree(ctx, m, t)
	m.r = r
	pw.Close()
	<-scan.done
	if stop || !t.done {
		return stop
	}
	// Nothing declared the count; the bound stood in for it.
	t.declared.Entries = t.entries
	if w.meta != nil {
		w.meta.Layer.Entries = t.entries
	}
	if scan.whiteout != "" {
		err := fmt.Errorf("%s: entry %q: a whiteout's name, but a %s file holds no deleted files: %w", MemberLayer, scan.whiteout, FormatLegacy, overlay.ErrBadEntry)
		if w.fault(CheckLayer, err) {
			return true
		}
	}
	w.legacy.scan = scan
	if w.legacy.checksum == "" || scan.unsorted != "" {
		return false
	}
	if got := hex.EncodeToString(scan.h.Sum(nil)); got != w.legacy.checksum {
		return w.fault(CheckChecksums, fmt.Errorf("%s: layer_checksum %s over %d files and directories, %s says %s: %w",
			MemberLayer, got, scan.hashed, LegacyMetadata, w.legacy.checksum, ErrDigestMismatch))
	}
	return false
}

// unchecked says what a strict walk let pass without checking it: a
// legacy layer_checksum over a layer.tar not in sorted order.
func (w *walk) unchecked() []string {
	if w.legacy == nil || w.legacy.scan == nil || w.legacy.scan.unsorted == "" {
		return nil
	}
	return []string{"layer_checksum not recomputed: " + w.legacy.scan.unsorted}
}

// legacyScan reads layer.tar a second time, beside the walk's reading,
// in constant memory: it recomputes layer_checksum for as long as the
// entries come in sorted order, and notes a name that would be a
// whiteout.
type legacyScan struct {
	h hash.Hash
	// last is the path last hashed; hashed counts them.
	last   string
	hashed int64
	// unsorted says why layer_checksum cannot be recomputed in one pass.
	unsorted string
	// whiteout is the first entry named like a whiteout.
	whiteout string
	done     chan struct{}
}

// startLegacyScan starts a scan of what is written to pw, which must be
// closed once the tar is through.
func startLegacyScan() (*legacyScan, *io.PipeWriter) {
	pr, pw := io.Pipe()
	s := &legacyScan{h: sha256.New(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.run(pr)
		// The walk's tee writes until the tar is through: keep taking it.
		io.Copy(io.Discard, pr)
	}()
	return s, pw
}

// run reads the tar until its end or its first fault, which is the
// walk's to report: its own reading of the same bytes meets it too.
func (s *legacyScan) run(r io.Reader) {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err != nil {
			return
		}
		name := legacyPath(hdr.Name)
		if s.whiteout == "" && strings.HasPrefix(path.Base(name), overlay.WhiteoutPrefix) {
			s.whiteout = hdr.Name
		}
		if s.unsorted != "" || name == "" || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir) {
			continue
		}
		if sparse(hdr) {
			// archive/tar would expand its holes without reading input.
			s.unsorted = fmt.Sprintf("entry %q is sparse", hdr.Name)
			continue
		}
		if s.hashed > 0 && comparePaths(s.last, name) >= 0 {
			s.unsorted = fmt.Sprintf("%s's entries are not in sorted path order (%q after %q), and it can only be recomputed in that order without holding the layer", MemberLayer, hdr.Name, s.last)
			continue
		}
		s.h.Write([]byte(name))
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(s.h, tr); err != nil {
				return
			}
		}
		s.last = name
		s.hashed++
	}
}

func sparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// legacyPath is an entry's path as layer_checksum hashes it: relative,
// without "./" in front or "/" behind; "" for the root.
func legacyPath(name string) string {
	name = strings.TrimSuffix(name, "/")
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if name == "." {
		return ""
	}
	return name
}

// comparePaths orders two relative paths component by component,
// bytewise: the order of Rust's Path, and of a depth-first walk with
// sorted directory listings, in which a directory comes right before
// what it holds ("a/b" before "a-b", since "a" < "a-b").
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		switch ca, cb := a[i], b[i]; {
		case ca == cb:
		case ca == '/':
			return -1
		case cb == '/':
			return 1
		default:
			return cmp.Compare(ca, cb)
		}
	}
	return cmp.Compare(len(a), len(b))
}

// legacyDoc is metadata.json as the original layer-tool wrote it; fields
// it may have added since are ignored.
type legacyDoc struct {
	Version   json.RawMessage `json:"version"`
	Created   string          `json:"created"`
	Container legacyContainer `json:"container_metadata"`
	Info      legacyInfo      `json:"docker_info"`
	Checksum  string          `json:"layer_checksum"`
	// Compressed says whether the tool gzipped the file. It is decoded,
	// so that it must be a boolean, and not compared: a file gunzipped
	// since is as good.
	Compressed *bool `json:"compressed"`
}

type legacyContainer struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Image       string            `json:"image"`
	ImageID     string            `json:"image_id"`
	ImageSHA256 string            `json:"image_sha256"`
	Created     string            `json:"created"`
	State       json.RawMessage   `json:"state"`
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Mounts      []legacyMount     `json:"mounts"`
}

// legacyMount is one of the source container's mounts, in Docker's
// inspect shape (keys match regardless of case).
type legacyMount struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
}

// legacyInfo is what is used of docker_info, Docker's /info in snake case.
type legacyInfo struct {
	OSType        string `json:"os_type"`
	Architecture  string `json:"architecture"`
	KernelVersion string `json:"kernel_version"`
	ServerVersion string `json:"server_version"`
	Driver        string `json:"driver"`
}

// legacyFile is a decoded metadata.json.
type legacyFile struct {
	doc     legacyDoc
	version string
	created time.Time
	cCreate time.Time
	sum     string
}

// versionRE bounds what a version may be: it becomes part of a format name.
var versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)

// decodeLegacy decodes metadata.json and applies its rules. It returns
// what it could decode (nil if nothing) along with the first rule broken.
func decodeLegacy(data []byte) (*legacyFile, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	f := &legacyFile{}
	if err := json.Unmarshal(data, &f.doc); err != nil {
		return nil, err
	}
	var err error
	f.version, err = legacyVersion(f.doc.Version)
	if err != nil {
		return nil, err
	}
	d := &f.doc
	if d.Created == "" {
		return f, errors.New("required field created missing")
	}
	if f.created, err = time.Parse(time.RFC3339, d.Created); err != nil {
		return f, fmt.Errorf("created %.40q: not an RFC 3339 time", d.Created)
	}
	if d.Container.ID == "" {
		return f, errors.New("required field container_metadata.id missing")
	}
	if c := d.Container.Created; c != "" {
		if f.cCreate, err = time.Parse(time.RFC3339, c); err != nil {
			return f, fmt.Errorf("container_metadata.created %.40q: not an RFC 3339 time", c)
		}
	}
	sum := strings.ToLower(strings.TrimPrefix(d.Checksum, "sha256:"))
	switch {
	case d.Checksum == "":
		return f, errors.New("required field layer_checksum missing")
	case !isHex64(sum):
		return f, fmt.Errorf("layer_checksum %.80q: want 64 hex digits, with or without sha256: in front", d.Checksum)
	}
	f.sum = sum
	return f, nil
}

// legacyVersion reads version, a string or a number.
func legacyVersion(raw json.RawMessage) (string, error) {
	v := string(bytes.TrimSpace(raw))
	switch {
	case v == "" || v == "null":
		return "", errors.New("required field version missing")
	case v[0] == '"':
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", err
		}
		if v == "" {
			return "", errors.New("required field version missing")
		}
	case v[0] == '-' || '0' <= v[0] && v[0] <= '9':
	default:
		return "", errors.New("version: want a string or a number")
	}
	if !versionRE.MatchString(v) {
		return "", fmt.Errorf("version %.80q: want letters, digits and .+_- only, at most 64", v)
	}
	return v, nil
}

// meta maps metadata.json onto what an envelope.json says. What the file
// does not say stays empty: the image's rootfs layers (ImageLayers nil,
// which no envelope.json has: the image check compares image ids
// instead), the API version, and with no docker_info the host's os, arch
// and storage driver, whose checks then fail (a --skip flag overrides
// each). Layer is set once layer.tar's size is known.
func (f *legacyFile) meta() *Meta {
	d, c := &f.doc, &f.doc.Container
	m := &Meta{
		Format:   FormatLegacy + "/" + f.version,
		Created:  f.created,
		Producer: "layer-tool (Rust) " + f.version,
		Container: Container{
			ID: c.ID, Name: c.Name, Image: c.Image, ImageID: legacyImageID(c),
			Created: f.cCreate, StorageDriver: d.Info.Driver,
			// The tool read Docker's overlay2 upper dir.
			Store: "graphdriver",
		},
		Host: Host{
			Engine: "docker", OS: d.Info.OSType, Arch: goArch(d.Info.Architecture),
			Kernel: d.Info.KernelVersion, DockerVersion: d.Info.ServerVersion, StorageDriver: d.Info.Driver,
		},
	}
	for _, mt := range c.Mounts {
		m.Omitted = append(m.Omitted, Omitted{Type: mt.Type, Name: mt.Name, Source: mt.Source, Destination: mt.Destination,
			Reason: "a " + FormatLegacy + " file carries no volumes"})
	}
	return m
}

// legacyImageID is the image's id as Docker writes it, "sha256:HEX".
func legacyImageID(c *legacyContainer) string {
	id := c.ImageID
	if id == "" {
		id = c.ImageSHA256
	}
	if isHex64(strings.ToLower(id)) {
		id = "sha256:" + id
	}
	return strings.ToLower(id)
}

// goArch turns Docker's /info architecture (uname -m) into the Go name
// that the Engine API's version, and so Host.Arch, uses.
func goArch(uname string) string {
	switch uname {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "i386", "i686":
		return "386"
	case "armv7l", "armv6l", "armv5tel":
		return "arm"
	}
	return uname
}

// inspect is the container.json that an envelope of the same container
// would hold, in the Engine API's shape, from what metadata.json says.
func (f *legacyFile) inspect() []byte {
	c := &f.doc.Container
	status := c.Status
	if status == "" {
		_ = json.Unmarshal(c.State, &status) // a string, in some versions
	}
	doc := map[string]any{
		"Id": c.ID, "Name": c.Name, "Image": legacyImageID(c),
		"Config": map[string]any{"Image": c.Image, "Labels": c.Labels},
		"State":  map[string]any{"Status": status},
		"Driver": f.doc.Info.Driver,
	}
	if c.Created != "" {
		doc["Created"] = c.Created
	}
	if len(c.Mounts) > 0 {
		doc["Mounts"] = c.Mounts
	}
	out, _ := json.Marshal(doc) // strings and maps of strings: cannot fail
	return out
}

// legacyReport turns what the walk found in a file of the original
// layer-tool into a report: the checks of an envelope, with
// layer_checksum for SHA256SUMS, no tar-split metadata, and what the
// format cannot carry.
func (c *checker) legacyReport(w *walk) *Report {
	l := w.legacy
	rep := &Report{Valid: true, Format: l.format, Compression: w.compression, Meta: w.meta}
	if m := w.meta; m != nil {
		rep.Container, rep.Host, rep.Omitted = &m.Container, &m.Host, m.Omitted
	}
	t := w.trees[0]
	rep.Layer = LayerReport{Size: t.size}
	if len(c.trees) > 0 {
		rep.Layer.Stats = c.trees[0].stats
		if t.done {
			rep.Layer.canonical(c.trees[0], t.rawHeaders)
		}
	}
	if d, ok := w.digests[MemberLayer]; ok {
		rep.Layer.Digest = "sha256:" + d
	}
	structural := w.faults[CheckStructure] != nil
	reached := map[string]bool{CheckMetadata: w.meta != nil, CheckLayer: t.done}
	result := func(name, ok string) {
		switch {
		case w.faults[name] != nil:
			rep.Add(name, Fail, "%s", message(w.faults[name]))
		case structural && name != CheckStructure && !reached[name]:
			rep.Add(name, Skip, "not reached: the file is malformed")
		default:
			rep.Add(name, Pass, "%s", ok)
		}
	}
	result(CheckStructure, fmt.Sprintf("%s and %s in order, nothing after the end", LegacyMetadata, MemberLayer))
	result(CheckMetadata, LegacyMetadata+" well-formed, "+l.format)
	layerUnread := w.faults[CheckLayer] != nil || !t.done
	switch {
	case w.faults[CheckChecksums] != nil:
		rep.Add(CheckChecksums, Fail, "%s", message(w.faults[CheckChecksums]))
	case !l.ok:
		rep.Add(CheckChecksums, Skip, "not checked: no valid layer_checksum in %s", LegacyMetadata)
	case l.scan == nil:
		rep.Add(CheckChecksums, Skip, "not checked: %s could not be read", MemberLayer)
	case l.scan.unsorted != "":
		rep.Add(CheckChecksums, Warn, "layer_checksum not recomputed: %s", l.scan.unsorted)
	default:
		rep.Add(CheckChecksums, Pass, "layer_checksum matches %s's %d files and directories", MemberLayer, l.scan.hashed)
	}
	result(CheckLayer, w.layerSummary(rep))
	rep.Add(CheckTarSplit, Skip, "a %s file has no tar-split metadata", FormatLegacy)
	if layerUnread {
		rep.Add(CheckPolicy, Skip, "not checked: %s could not be read", MemberLayer)
	} else {
		c.policy(rep)
	}
	rep.Add(CheckNotCarried, Warn, "a %s file cannot carry %s", FormatLegacy, LegacyNotCarried)
	return rep
}
