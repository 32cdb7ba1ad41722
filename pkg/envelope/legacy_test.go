package envelope

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/internal/legacytest"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// legacyEntries is the layer of the files the tests write: sorted, and
// with names the current layer rules take ("/" after a directory).
var legacyEntries = []legacytest.Entry{
	{Name: "etc/"},
	{Name: "etc/hosts", Data: "127.0.0.1 localhost\n"},
	{Name: "etc/motd", Data: "hello\n", Mode: 0o600},
	{Name: "srv/"},
	{Name: "srv/data/"},
	{Name: "srv/data/payload", Data: strings.Repeat("payload ", 1000)},
	{Name: "srv/empty", Data: ""},
}

// rustFile is a file of the original layer-tool around entries, with
// edit applied to its metadata.
func rustFile(entries []legacytest.Entry, gz bool, edit func(*legacytest.Meta)) []byte {
	m := legacytest.DefaultMeta(entries)
	if edit != nil {
		edit(&m)
	}
	return legacytest.File(m, legacytest.GNULayer(entries, false), gz)
}

// legacyMembers is a file of the members given, uncompressed.
func legacyMembers(t *testing.T, ms ...legacytest.Member) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := legacytest.Write(&buf, false, ms...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func legacyVerify(t *testing.T, b []byte) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func legacyCheck(rep *Report, name string) (Check, bool) {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func legacyDescribe(rep *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "valid=%v format=%s compression=%s", rep.Valid, rep.Format, rep.Compression)
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "\n  %-11s %-4s %s", c.Name, c.Status, c.Message)
	}
	return b.String()
}

// goodMetadata is a valid metadata.json for legacyEntries.
func goodMetadata() []byte { return legacytest.DefaultMeta(legacyEntries).JSON() }

func TestLegacyVerify(t *testing.T) {
	layer := legacytest.GNULayer(legacyEntries, false)
	unsorted := []legacytest.Entry{legacyEntries[0], legacyEntries[2], legacyEntries[1]}
	// Sorted both as paths and as the layer rules sort a whiteout.
	whiteout := append(legacyEntries[:2:2], legacytest.Entry{Name: "z/"}, legacytest.Entry{Name: "z/.wh.a"})
	cases := []struct {
		name string
		file []byte
		// want maps a check to its status and a substring of its message.
		want map[string][2]string
		// compression, when not "none".
		comp Compression
	}{
		{name: "valid", file: rustFile(legacyEntries, false, nil), want: map[string][2]string{
			CheckStructure:  {"pass", "metadata.json and layer.tar in order"},
			CheckMetadata:   {"pass", "layer-tool-rs/0.3.0"},
			CheckChecksums:  {"pass", "layer_checksum matches layer.tar's 7 files and directories"},
			CheckLayer:      {"pass", "7 entries"},
			CheckTarSplit:   {"skip", "no tar-split"},
			CheckPolicy:     {"pass", ""},
			CheckNotCarried: {"warn", "deleted files (whiteouts), symlinks"},
		}},
		{name: "valid gzip", comp: Gzip, file: rustFile(legacyEntries, true, nil), want: map[string][2]string{
			CheckStructure: {"pass", ""}, CheckChecksums: {"pass", ""}, CheckLayer: {"pass", ""},
		}},
		{name: "checksum with sha256: and upper case", file: rustFile(legacyEntries, false, func(m *legacytest.Meta) {
			m.Checksum = "sha256:" + strings.ToUpper(m.Checksum)
		}), want: map[string][2]string{CheckChecksums: {"pass", ""}}},
		{name: "bad checksum", file: rustFile(legacyEntries, false, func(m *legacytest.Meta) {
			m.Checksum = strings.Repeat("0", 64)
		}), want: map[string][2]string{
			CheckChecksums: {"fail", "layer.tar: layer_checksum " + legacytest.Checksum(legacyEntries) + " over 7 files and directories, metadata.json says 0000"},
			CheckLayer:     {"pass", ""},
		}},
		{name: "checksum of other contents", file: legacytest.File(legacytest.DefaultMeta(legacyEntries[:6]), layer, false), want: map[string][2]string{
			CheckChecksums: {"fail", "digest mismatch"},
		}},
		{name: "truncated in layer.tar", file: rustFile(legacyEntries, false, nil)[:3000], want: map[string][2]string{
			CheckStructure: {"fail", "layer.tar: stream ends after"},
			CheckMetadata:  {"pass", ""},
			CheckChecksums: {"skip", "could not be read"},
			CheckLayer:     {"skip", "not reached"},
		}},
		{name: "truncated in metadata.json", file: rustFile(legacyEntries, false, nil)[:600], want: map[string][2]string{
			CheckStructure: {"fail", "metadata.json: stream ends after 88 of"},
			CheckMetadata:  {"skip", "not reached"},
			CheckChecksums: {"skip", "no valid layer_checksum"},
		}},
		{name: "oversized metadata.json", file: legacyMembers(t,
			legacytest.Member{Name: LegacyMetadata, Data: append(append([]byte(`{"pad":"`), bytes.Repeat([]byte{'x'}, MaxJSONMember)...), `"}`...)},
			legacytest.Member{Name: MemberLayer, Data: layer}), want: map[string][2]string{
			CheckStructure: {"fail", "metadata.json: 8388618 bytes, more than the 8388608 allowed"},
		}},
		{name: "layer.tar missing", file: legacyMembers(t, legacytest.Member{Name: LegacyMetadata, Data: goodMetadata()}), want: map[string][2]string{
			CheckStructure: {"fail", "member layer.tar missing"},
			CheckMetadata:  {"pass", ""},
			CheckLayer:     {"skip", "not reached"},
		}},
		{name: "other member for layer.tar", file: legacyMembers(t,
			legacytest.Member{Name: LegacyMetadata, Data: goodMetadata()},
			legacytest.Member{Name: "container.json", Data: []byte("{}")}), want: map[string][2]string{
			CheckStructure: {"fail", `unexpected member "container.json": expected layer.tar`},
		}},
		{name: "member after layer.tar", file: legacyMembers(t,
			legacytest.Member{Name: LegacyMetadata, Data: goodMetadata()},
			legacytest.Member{Name: MemberLayer, Data: layer},
			legacytest.Member{Name: "SHA256SUMS", Data: []byte("x")}), want: map[string][2]string{
			CheckStructure: {"fail", `unexpected member "SHA256SUMS": expected the end after layer.tar`},
			CheckChecksums: {"pass", ""},
		}},
		{name: "trailing garbage", file: append(rustFile(legacyEntries, false, nil), "garbage"...), want: map[string][2]string{
			CheckStructure: {"fail", "non-zero bytes after the tar's end"},
			CheckChecksums: {"pass", ""},
			CheckLayer:     {"pass", ""},
		}},
		{name: "trailing garbage after gzip", comp: Gzip, file: append(rustFile(legacyEntries, true, nil), "garbage"...), want: map[string][2]string{
			CheckStructure: {"fail", "data after the end"},
		}},
		{name: "metadata.json not JSON", file: legacyMembers(t,
			legacytest.Member{Name: LegacyMetadata, Data: []byte("version=1")},
			legacytest.Member{Name: MemberLayer, Data: layer}), want: map[string][2]string{
			CheckMetadata:  {"fail", "metadata.json: invalid character"},
			CheckChecksums: {"skip", "no valid layer_checksum"},
			// The layer is still read and checked.
			CheckLayer: {"pass", "7 entries"},
		}},
		{name: "metadata.json with a key twice", file: legacyMembers(t,
			legacytest.Member{Name: LegacyMetadata, Data: []byte(`{"version":"1","Version":"2"}`)},
			legacytest.Member{Name: MemberLayer, Data: layer}), want: map[string][2]string{
			CheckMetadata: {"fail", `key "Version" appears twice`},
		}},
		{name: "no layer_checksum", file: rustFile(legacyEntries, false, func(m *legacytest.Meta) { m.Checksum = "" }), want: map[string][2]string{
			CheckMetadata:  {"fail", "required field layer_checksum missing"},
			CheckChecksums: {"skip", ""},
		}},
		{name: "layer_checksum not a sha256", file: rustFile(legacyEntries, false, func(m *legacytest.Meta) { m.Checksum = "md5:abc" }), want: map[string][2]string{
			CheckMetadata: {"fail", `layer_checksum "md5:abc": want 64 hex digits`},
		}},
		{name: "version that cannot name a format", file: rustFile(legacyEntries, false, func(m *legacytest.Meta) { m.Version = "1.0 beta/2" }), want: map[string][2]string{
			CheckMetadata: {"fail", `version "1.0 beta/2": want letters, digits`},
		}},
		{name: "no container id", file: rustFile(legacyEntries, false, func(m *legacytest.Meta) { m.ID = "" }), want: map[string][2]string{
			CheckMetadata: {"fail", "required field container_metadata.id missing"},
		}},
		{name: "os_type not a string", file: legacyMembers(t,
			legacytest.Member{Name: LegacyMetadata, Data: bytes.Replace(goodMetadata(), []byte(`"os_type": "linux"`), []byte(`"os_type": 7`), 1)},
			legacytest.Member{Name: MemberLayer, Data: layer}), want: map[string][2]string{
			CheckMetadata: {"fail", "cannot unmarshal number"},
		}},
		{name: "a whiteout's name", file: rustFile(whiteout, false, nil), want: map[string][2]string{
			CheckLayer:     {"fail", `layer.tar: entry "z/.wh.a": a whiteout's name, but a layer-tool-rs file holds no deleted files`},
			CheckChecksums: {"pass", ""},
		}},
		// Until layer entries may come in any order the layer check
		// refuses this file; see TestLegacyUnsorted for what happens then.
		{name: "unsorted", file: rustFile(unsorted, false, nil), want: map[string][2]string{
			CheckStructure: {"pass", ""},
			CheckMetadata:  {"pass", ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := legacyVerify(t, tc.file)
			desc := legacyDescribe(rep)
			comp := tc.comp
			if comp == "" {
				comp = None
			}
			if rep.Compression != comp {
				t.Errorf("compression %s, want %s", rep.Compression, comp)
			}
			if !strings.HasPrefix(rep.Format, FormatLegacy) {
				t.Errorf("format %q, want %s...", rep.Format, FormatLegacy)
			}
			valid := true
			for name, w := range tc.want {
				c, ok := legacyCheck(rep, name)
				if !ok {
					t.Fatalf("no %s check:\n%s", name, desc)
				}
				if string(c.Status) != w[0] || !strings.Contains(c.Message, w[1]) {
					t.Errorf("%s: %s %q, want %s containing %q", name, c.Status, c.Message, w[0], w[1])
				}
				if strings.Contains(c.Message, "\n") {
					t.Errorf("%s: message of more than one line: %q", name, c.Message)
				}
				valid = valid && w[0] != "fail"
			}
			if tc.name != "unsorted" && rep.Valid != valid {
				t.Errorf("valid %v, want %v:\n%s", rep.Valid, valid, desc)
			}
		})
	}
}

// A valid file's report says what its metadata.json says, as an
// envelope's would.
func TestLegacyReport(t *testing.T) {
	file := rustFile(legacyEntries, false, func(m *legacytest.Meta) {
		m.Architecture = "aarch64"
		m.ImageID = strings.Repeat("ab", 32)
		m.Mounts = []map[string]any{{"Type": "volume", "Name": "data", "Source": "/var/lib/docker/volumes/data/_data", "Destination": "/srv/db"}}
	})
	rep := legacyVerify(t, file)
	if !rep.Valid || rep.Format != "layer-tool-rs/0.3.0" {
		t.Fatalf("valid %v, format %q:\n%s", rep.Valid, rep.Format, legacyDescribe(rep))
	}
	if h := rep.Host; h == nil || h.OS != "linux" || h.Arch != "arm64" || h.StorageDriver != "overlay2" || h.DockerVersion != "24.0.7" || h.Engine != "docker" {
		t.Errorf("host %+v", rep.Host)
	}
	c := rep.Container
	if c == nil || c.ID != strings.Repeat("c0", 32) || c.Name != "/web" || c.ImageID != "sha256:"+strings.Repeat("ab", 32) || c.ImageLayers != nil || c.StorageDriver != "overlay2" || c.Created.IsZero() {
		t.Errorf("container %+v", rep.Container)
	}
	if len(rep.Omitted) != 1 || rep.Omitted[0].Destination != "/srv/db" || rep.Omitted[0].Name != "data" || !strings.Contains(rep.Omitted[0].Reason, "carries no volumes") {
		t.Errorf("omitted %+v", rep.Omitted)
	}
	l := rep.Layer
	if l.Files != 4 || l.Dirs != 3 || l.Entries != 7 || l.Size != int64(len(legacytest.GNULayer(legacyEntries, false))) || !strings.HasPrefix(l.Digest, "sha256:") {
		t.Errorf("layer %+v", l)
	}
	if rep.Meta == nil || rep.Meta.Layer.Entries != 7 {
		t.Errorf("meta %+v", rep.Meta)
	}
}

// recorder is a handler that notes what it is told, in order.
type recorder struct {
	events  []string
	meta    Meta
	inspect []byte
	names   []string
	refuse  error
}

func (r *recorder) Meta(_ context.Context, m *Meta) error {
	r.events = append(r.events, "meta")
	r.meta = *m
	return r.refuse
}

func (r *recorder) Container(_ context.Context, raw []byte) error {
	r.events = append(r.events, "container")
	r.inspect = raw
	return nil
}

func (r *recorder) Tree(_ context.Context, t TreeRef, rd io.Reader) (int64, error) {
	r.events = append(r.events, "tree "+t.Member)
	tr := tar.NewReader(rd)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return int64(len(r.names)), nil
		}
		if err != nil {
			return int64(len(r.names)), err
		}
		r.names = append(r.names, hdr.Name)
	}
}

// An import sees a file of the original layer-tool as it sees an
// envelope: Meta, then container.json, then the layer's tree, through
// the handler of an envelope.
func TestLegacyExtract(t *testing.T) {
	for _, gz := range []bool{false, true} {
		file := rustFile(legacyEntries, gz, nil)
		layer := legacytest.GNULayer(legacyEntries, false)
		rec := &recorder{}
		ex, err := Extract(context.Background(), bytes.NewReader(file), rec)
		if err != nil {
			t.Fatalf("gzip %v: Extract: %v", gz, err)
		}
		if got := strings.Join(rec.events, ", "); got != "meta, container, tree layer.tar" {
			t.Errorf("handler saw %s", got)
		}
		m := rec.meta
		if m.Format != "layer-tool-rs/0.3.0" || !IsLegacy(&m) || m.Host.OS != "linux" || m.Host.Arch != runtime.GOARCH || m.Container.StorageDriver != "overlay2" || m.Container.ImageLayers != nil {
			t.Errorf("meta %+v", m)
		}
		// The count is bounded by the tar's size, not declared.
		if m.Layer.Size != int64(len(layer)) || m.Layer.Entries != int64(len(layer))/512 {
			t.Errorf("layer %+v, want size %d, entries %d", m.Layer, len(layer), len(layer)/512)
		}
		var inspect struct {
			ID     string `json:"Id"`
			Config struct{ Labels map[string]string }
			State  struct{ Status string }
		}
		if err := json.Unmarshal(rec.inspect, &inspect); err != nil || inspect.ID != m.Container.ID || inspect.Config.Labels["app"] != "web" || inspect.State.Status != "exited" {
			t.Errorf("container.json %s (%v)", rec.inspect, err)
		}
		if len(rec.names) != len(legacyEntries) {
			t.Errorf("tree entries %q", rec.names)
		}
		sum := sha256.Sum256(layer)
		if ex.LayerDigest != "sha256:"+hex.EncodeToString(sum[:]) || ex.Trees[0].Entries != int64(len(legacyEntries)) || ex.Meta.Layer.Entries != int64(len(legacyEntries)) {
			t.Errorf("extracted %s, %d entries (meta %d)", ex.LayerDigest, ex.Trees[0].Entries, ex.Meta.Layer.Entries)
		}
		if ex.Unchecked != nil {
			t.Errorf("unchecked %q", ex.Unchecked)
		}
	}
}

// Extract refuses what Verify fails, with one line naming the member.
func TestLegacyExtractRefuses(t *testing.T) {
	layer := legacytest.GNULayer(legacyEntries, false)
	refused := errors.New("policy says no")
	cases := []struct {
		name    string
		file    []byte
		refuse  error
		is      error
		msg     string
		handled string
	}{
		{name: "bad checksum", file: rustFile(legacyEntries, false, func(m *legacytest.Meta) { m.Checksum = strings.Repeat("1", 64) }),
			is: ErrDigestMismatch, msg: "layer.tar: layer_checksum ", handled: "meta, container, tree layer.tar"},
		{name: "gate refuses", file: rustFile(legacyEntries, false, nil), refuse: refused, is: refused, handled: "meta"},
		{name: "bad metadata", file: rustFile(legacyEntries, false, func(m *legacytest.Meta) { m.Version = "" }),
			is: ErrStructure, msg: "malformed envelope: metadata.json: required field version missing"},
		{name: "layer.tar missing", file: legacyMembers(t, legacytest.Member{Name: LegacyMetadata, Data: goodMetadata()}),
			is: ErrStructure, msg: "member layer.tar missing"},
		{name: "trailing garbage", file: append(rustFile(legacyEntries, false, nil), 1), is: ErrTrailingData, handled: "meta, container, tree layer.tar"},
		{name: "truncated", file: rustFile(legacyEntries, false, nil)[:2600], is: ErrStructure, msg: "layer.tar: stream ends after", handled: "meta, container, tree layer.tar"},
		{name: "a whiteout's name", file: legacytest.File(legacytest.DefaultMeta(nil), legacytest.GNULayer([]legacytest.Entry{{Name: ".wh.etc"}}, false), false),
			is: overlay.ErrBadEntry, msg: "a whiteout's name", handled: "meta, container, tree layer.tar"},
		{name: "metadata.json last", file: legacyMembers(t, legacytest.Member{Name: MemberLayer, Data: layer}, legacytest.Member{Name: LegacyMetadata, Data: goodMetadata()}),
			is: ErrStructure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{refuse: tc.refuse}
			_, err := Extract(context.Background(), bytes.NewReader(tc.file), rec)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Extract: %v, want %v containing %q on one line", err, tc.is, tc.msg)
			}
			if got := strings.Join(rec.events, ", "); got != tc.handled {
				t.Errorf("handler saw %q, want %q", got, tc.handled)
			}
		})
	}
}

// The layer goes through the envelope's tree, as an envelope's layer does:
// the handler counts its entries, and they are the Extracted's.
func TestLegacyExtractCounts(t *testing.T) {
	ex, err := Extract(context.Background(), bytes.NewReader(rustFile(legacyEntries, true, nil)), validatingHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Trees[0].Entries != int64(len(legacyEntries)) {
		t.Fatalf("%d entries extracted, want %d", ex.Trees[0].Entries, len(legacyEntries))
	}
}

// A layer.tar whose entries are not in sorted order (the Rust tar crate
// writes them in directory order) cannot have its layer_checksum
// recomputed in one pass: an import goes on and says so, and a report
// warns, once the layer rules take such a layer.
func TestLegacyUnsorted(t *testing.T) {
	// As the crate walks: a stack of read_dir's entries.
	entries := []legacytest.Entry{legacyEntries[3], legacyEntries[6], legacyEntries[4], legacyEntries[5], legacyEntries[0], legacyEntries[2], legacyEntries[1]}
	file := rustFile(entries, false, nil)
	// The layer rules take any order.
	ex, err := Extract(context.Background(), bytes.NewReader(file), validatingHandler{})
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if len(ex.Unchecked) != 1 || !strings.Contains(ex.Unchecked[0], `layer_checksum not recomputed: layer.tar's entries are not in sorted path order ("srv/data/" after "srv/empty")`) {
		t.Errorf("unchecked %q", ex.Unchecked)
	}
	rep := legacyVerify(t, file)
	c, _ := legacyCheck(rep, CheckChecksums)
	if l, _ := legacyCheck(rep, CheckLayer); l.Status == Pass {
		if c.Status != Warn || !strings.Contains(c.Message, "not in sorted path order") || !rep.Valid {
			t.Errorf("layer passes; checksums %s %q, want warn:\n%s", c.Status, c.Message, legacyDescribe(rep))
		}
	} else if c.Status != Skip {
		t.Errorf("layer refused; checksums %s %q, want skip", c.Status, c.Message)
	}
	// A mismatch behind an unsorted layer goes unseen, and is said so.
	bad := rustFile(entries, false, func(m *legacytest.Meta) { m.Checksum = strings.Repeat("2", 64) })
	if _, err := Extract(context.Background(), bytes.NewReader(bad), validatingHandler{}); err != nil {
		t.Errorf("Extract unsorted with a wrong checksum: %v", err)
	}
}

func TestLegacyPathOrder(t *testing.T) {
	ordered := []string{"", "a", "a/b", "a/b/c", "a-b", "a.b", "ab", "b"}
	for i := range ordered {
		for j := range ordered {
			if got, want := comparePaths(ordered[i], ordered[j]), cmpInt(i, j); got != want {
				t.Errorf("comparePaths(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	for name, want := range map[string]string{"./etc/": "etc", "etc/hosts": "etc/hosts", "./": "", ".": "", "././a": "a"} {
		if got := legacyPath(name); got != want {
			t.Errorf("legacyPath(%q) = %q, want %q", name, got, want)
		}
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FuzzVerifyLegacy feeds files of the original layer-tool, cut and
// altered: no panic, and valid only what Extract also takes.
func FuzzVerifyLegacy(f *testing.F) {
	for _, gz := range []bool{false, true} {
		file := rustFile(legacyEntries, gz, nil)
		f.Add(file)
		f.Add(file[:len(file)/2])
		f.Add(append(append([]byte(nil), file...), 0, 1))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(context.Background(), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		_, exErr := Extract(context.Background(), bytes.NewReader(data), validatingHandler{})
		if rep.Valid && exErr != nil {
			t.Fatalf("Verify says valid, Extract says %v", exErr)
		}
	})
}

// A progress line counts entries without a total: the file has none,
// only a bound.
func TestLegacyTotal(t *testing.T) {
	rec := &recorder{}
	if _, err := Extract(context.Background(), bytes.NewReader(rustFile(legacyEntries, false, nil)), rec); err != nil {
		t.Fatal(err)
	}
	if b, n := Total(&rec.meta); b != rec.meta.Layer.Size || n != 0 {
		t.Errorf("Total %d bytes, %d entries; want %d, 0", b, n, rec.meta.Layer.Size)
	}
}
