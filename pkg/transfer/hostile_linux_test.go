package transfer

// Hostile envelopes against Import (the engine-free core of
// layer-import) and envelope.Verify. Every case runs in a layer dir L with
// its upper dir L/diff, a victim file beside the upper dir and one beside
// L: a refused envelope must leave the upper dir byte for byte as it was,
// nothing (no staging dir, no journal, no backup) beside it, and the
// victims untouched. Verify must call the same envelopes invalid, and
// neither may panic. Where an envelope is a decompression bomb, the input
// is served through a budget: reading past it is itself a failure, and
// keeps the test fast whatever the code under test does.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"

	"github.com/layer-tool/layer-tool/pkg/envelope"
	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// errHxBudget: the code under test read more of the input than the case
// allows.
var errHxBudget = errors.New("read past the input budget of the test")

// hxBudget serves an input, failing once more than limit bytes were read
// while more remain.
type hxBudget struct {
	r     *bytes.Reader
	limit int64
	n     atomic.Int64
	over  atomic.Bool
}

func newHxBudget(b []byte, limit int64) *hxBudget {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	return &hxBudget{r: bytes.NewReader(b), limit: limit}
}

func (b *hxBudget) Read(p []byte) (int, error) {
	if b.r.Len() == 0 {
		return 0, io.EOF
	}
	left := b.limit - b.n.Load()
	if left <= 0 {
		b.over.Store(true)
		return 0, errHxBudget
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// hxMember is one member of a hand-built envelope. A member with raw set
// is written as those bytes, headers included.
type hxMember struct {
	name string
	data []byte
	typ  byte
	raw  []byte
}

var hxCreated = time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)

// hxBaseLayer is the small canonical layer the hand-built envelopes carry.
func hxBaseLayer(t *testing.T) []byte { return handLayer(t, nil, 0) }

// hxBase returns the members of a valid envelope around hxBaseLayer.
func hxBase(t *testing.T) []hxMember {
	t.Helper()
	return hxMembers(t, rawEnvelope(t, hxBaseLayer(t), 2))
}

// hxMembers splits an uncompressed envelope into its members.
func hxMembers(t *testing.T, env []byte) []hxMember {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(env))
	var ms []hxMember
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return ms
		}
		must(t, err)
		data, err := io.ReadAll(tr)
		must(t, err)
		ms = append(ms, hxMember{name: hdr.Name, data: data})
	}
}

// hxTar writes members as an envelope writes them: PAX headers, mode 0644,
// owner 0:0, the created time, then the tar's end.
func hxTar(t *testing.T, ms []hxMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range ms {
		if m.raw != nil {
			buf.Write(m.raw)
			continue
		}
		buf.Write(hxEntry(t, m))
	}
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}

// hxEntry is the header and padded data of one member.
func hxEntry(t *testing.T, m hxMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	typ := m.typ
	if typ == 0 {
		typ = tar.TypeReg
	}
	hdr := &tar.Header{Name: m.name, Typeflag: typ, Mode: 0o644, ModTime: hxCreated, Format: tar.FormatPAX}
	switch typ {
	case tar.TypeReg:
		hdr.Size = int64(len(m.data))
	case tar.TypeSymlink, tar.TypeLink:
		hdr.Linkname = "/etc/passwd"
	case tar.TypeChar:
		hdr.Devmajor, hdr.Devminor = 1, 3
	}
	must(t, tw.WriteHeader(hdr))
	if hdr.Size > 0 {
		_, err := tw.Write(m.data)
		must(t, err)
	}
	must(t, tw.Flush())
	return buf.Bytes()
}

// hxResum recomputes SHA256SUMS over the other members, in their order.
func hxResum(ms []hxMember) []hxMember {
	var sums bytes.Buffer
	for _, m := range ms {
		if m.name == envelope.MemberSums {
			continue
		}
		h := sha256.Sum256(m.data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(h[:]), m.name)
	}
	out := make([]hxMember, len(ms))
	copy(out, ms)
	for i := range out {
		if out[i].name == envelope.MemberSums && out[i].raw == nil {
			out[i].data = sums.Bytes()
		}
	}
	return out
}

// hxEdit returns the base members changed by edit, with SHA256SUMS made
// right again, as an envelope.
func hxEdit(edit func(t *testing.T, ms []hxMember) []hxMember) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		return hxTar(t, hxResum(edit(t, hxBase(t))))
	}
}

func hxIndex(ms []hxMember, name string) int {
	for i, m := range ms {
		if m.name == name {
			return i
		}
	}
	panic("no member " + name)
}

func hxDrop(name string) func(*testing.T, []hxMember) []hxMember {
	return func(_ *testing.T, ms []hxMember) []hxMember {
		i := hxIndex(ms, name)
		return append(ms[:i:i], ms[i+1:]...)
	}
}

func hxInsert(at int, m hxMember) func(*testing.T, []hxMember) []hxMember {
	return func(_ *testing.T, ms []hxMember) []hxMember {
		out := append([]hxMember(nil), ms[:at]...)
		out = append(out, m)
		return append(out, ms[at:]...)
	}
}

func hxSwap(i, j int) func(*testing.T, []hxMember) []hxMember {
	return func(_ *testing.T, ms []hxMember) []hxMember {
		ms[i], ms[j] = ms[j], ms[i]
		return ms
	}
}

func hxSet(name string, f func(m *hxMember)) func(*testing.T, []hxMember) []hxMember {
	return func(_ *testing.T, ms []hxMember) []hxMember {
		f(&ms[hxIndex(ms, name)])
		return ms
	}
}

// hxMetaText is envelope.json as compact JSON, for a layer of the given
// size and entry count.
func hxMetaText(t *testing.T, size, entries int64) string {
	t.Helper()
	b, err := json.Marshal(testMeta(size, entries))
	must(t, err)
	return string(b)
}

// hxMeta returns an envelope whose envelope.json is edit applied to the
// compact JSON of the base envelope's meta (layer "size":N,"entries":2).
func hxMeta(edit func(meta string, size int64) string) func(*testing.T) []byte {
	return hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
		size := int64(len(ms[hxIndex(ms, envelope.MemberLayer)].data))
		meta := hxMetaText(t, size, 2)
		if !strings.Contains(meta, fmt.Sprintf(`"layer":{"size":%d,"entries":2}`, size)) {
			t.Fatalf("unexpected envelope.json form %s", meta)
		}
		ms[0].data = []byte(edit(meta, size))
		return ms
	})
}

// hxLayerJSON replaces the "layer" object.
func hxLayerJSON(format string) func(meta string, size int64) string {
	return func(meta string, size int64) string {
		i := strings.Index(meta, `"layer":`)
		return meta[:i] + `"layer":` + strings.ReplaceAll(format, "SIZE", fmt.Sprint(size)) + "}"
	}
}

// hxSums replaces SHA256SUMS (after the resum) by edit of its text.
func hxSums(edit func(sums string) string) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		ms := hxResum(hxBase(t))
		i := hxIndex(ms, envelope.MemberSums)
		ms[i].data = []byte(edit(string(ms[i].data)))
		return hxTar(t, ms)
	}
}

func hxGzip(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

func hxZstd(t *testing.T, b []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, opts...)
	must(t, err)
	_, err = zw.Write(b)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

func hxCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// hxBombSize is what a bomb decompresses to.
const hxBombSize = 1 << 30

// hxBomb builds an envelope around hxBombSize zero bytes at the given
// place, compressed as a stream (zeros go in 1 MiB at a time): about 1 MB
// of gzip, 100 KB of zstd. gzip uses its default level: on zeros,
// BestCompression gives the same ratio fifteen times slower.
func hxBomb(c envelope.Compression, place string) func(*testing.T) []byte {
	return func(t *testing.T) []byte {
		ms := hxResum(hxBase(t))
		var buf bytes.Buffer
		var zw io.WriteCloser
		var err error
		switch c {
		case envelope.Gzip:
			zw = gzip.NewWriter(&buf)
		case envelope.Zstd:
			zw, err = zstd.NewWriter(&buf)
			must(t, err)
		}
		zero := make([]byte, 1<<20)
		zeros := func(w io.Writer) {
			for range hxBombSize / len(zero) {
				_, err := w.Write(zero)
				must(t, err)
			}
		}
		tw := tar.NewWriter(zw)
		member := func(name string, size int64, body func(io.Writer)) {
			must(t, tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: size, Mode: 0o644, ModTime: hxCreated, Format: tar.FormatPAX}))
			body(tw)
		}
		plain := func(m hxMember) {
			member(m.name, int64(len(m.data)), func(w io.Writer) {
				_, err := w.Write(m.data)
				must(t, err)
			})
		}
		if place == "start" {
			zeros(zw)
		}
		for _, m := range ms {
			switch {
			case place == m.name:
				member(m.name, hxBombSize, zeros)
			default:
				plain(m)
			}
		}
		if place == "padding" {
			must(t, tw.Close())
			zeros(zw)
		} else {
			must(t, tw.Close())
		}
		must(t, zw.Close())
		t.Logf("%s bomb at %s: %d bytes", c, place, buf.Len())
		return buf.Bytes()
	}
}

// hxZstdFrame is a hand-made zstd frame: magic, frame header descriptor,
// the header fields, and one empty last raw block.
func hxZstdFrame(fhd byte, fields ...byte) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, fhd}
	b = append(b, fields...)
	return append(b, 0x01, 0x00, 0x00)
}

// hxZstdWindow decodes the window size of a zstd frame without the
// single-segment flag (RFC 8878, 3.1.1.1.2).
func hxZstdWindow(t *testing.T, b []byte) int64 {
	t.Helper()
	if len(b) < 6 || !bytes.Equal(b[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) || b[4]&0x20 != 0 {
		t.Fatalf("not a zstd frame with a window descriptor: % x", b[:min(len(b), 6)])
	}
	exp, mant := int64(b[5]>>3), int64(b[5]&7)
	base := int64(1) << (10 + exp)
	return base + base/8*mant
}

// hxCase is one envelope.
type hxCase struct {
	name string
	env  func(t *testing.T) []byte
	// want: nil, the import must succeed (a control); hxAny, it must fail;
	// hxMay, either; else the error must match one of the sentinels.
	want []error
	// budget, if set, is how many input bytes the import and Verify may
	// read.
	budget int64
}

var (
	hxAnyErr = errors.New("some error")
	hxEither = errors.New("success or failure")
	hxValid  = errors.New("imports, and check calls it valid")
)

func hxOK() []error { return nil }

// hxSplitAll is the tar-split metadata of a tar, gzipped, as the
// envelope carries it, also for a tar that names a path twice (which
// tar-split's own JSON packer refuses to record, and a layer may do).
func hxSplitAll(t *testing.T, tarData []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	p := &hxPacker{enc: json.NewEncoder(zw)}
	tee, err := asm.NewInputTarStream(bytes.NewReader(tarData), p, storage.NewDiscardFilePutter())
	must(t, err)
	_, err = io.Copy(io.Discard, tee)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

// hxPacker writes tar-split entries as JSON lines, as storage's packer
// does, without its check for names seen twice.
type hxPacker struct {
	enc *json.Encoder
	pos int
}

func (p *hxPacker) AddEntry(e storage.Entry) (int, error) {
	e.Position = p.pos
	p.pos++
	return e.Position, p.enc.Encode(e)
}

// Entries for the layer table.
func hxF(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644} }
func hxD(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755} }
func hxS(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}
}
func hxRefused(e ...error) []error { return e }
func hxFails() []error             { return []error{hxAnyErr} }
func hxMay() []error               { return []error{hxEither} }

// hxImports: a valid layer that is not canonical imports, and check calls
// it valid; its re-export is canonical, so its digest differs.
func hxImports() []error { return []error{hxValid} }

// hxVictims are files beside the upper dir and beside L.
type hxVictims struct{ snaps []hxSnapshot }

type hxSnapshot struct {
	path string
	st   unix.Stat_t
	data string
}

func newHxVictims(t *testing.T, paths ...string) *hxVictims {
	t.Helper()
	v := &hxVictims{}
	for _, p := range paths {
		must(t, os.WriteFile(p, []byte("victim"), 0o600))
		must(t, os.Chown(p, 4242, 4243))
		stamp := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		must(t, os.Chtimes(p, stamp, stamp))
		v.snaps = append(v.snaps, hxSnap(t, p))
	}
	return v
}

func hxSnap(t *testing.T, p string) hxSnapshot {
	t.Helper()
	s := hxSnapshot{path: p}
	must(t, unix.Lstat(p, &s.st))
	data, err := os.ReadFile(p)
	must(t, err)
	s.data = string(data)
	return s
}

func (v *hxVictims) check(t *testing.T) {
	t.Helper()
	for _, before := range v.snaps {
		after := hxSnap(t, before.path)
		b, a := before.st, after.st
		if after.data != before.data || a.Ino != b.Ino || a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid || a.Nlink != b.Nlink || a.Mtim != b.Mtim || a.Ctim != b.Ctim {
			t.Errorf("victim %s changed: %+v %q, was %+v %q", before.path, a, after.data, b, before.data)
		}
	}
}

// run imports the case's envelope and verifies it.
func (c hxCase) run(t *testing.T) {
	env := c.env(t)
	base := t.TempDir()
	l := filepath.Join(base, "L")
	must(t, os.Mkdir(l, 0o755))
	victims := newHxVictims(t, filepath.Join(base, "victim"), filepath.Join(l, "victim"))
	lo := newLayout(t, l)

	budget := c.budget
	in := newHxBudget(env, budget)
	start := time.Now()
	res, err := func() (res Imported, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("PANIC: %v", r)
				t.Errorf("import panicked: %v", r)
			}
		}()
		return Import(context.Background(), lo.tg, in, ImportOptions{Gate: okGate, Keep: true})
	}()
	t.Logf("import: %v (%v, %d of %d input bytes read)", err, time.Since(start).Round(time.Millisecond), in.n.Load(), len(env))
	if in.over.Load() {
		t.Errorf("import read more than %d of the %d input bytes", budget, len(env))
	}
	switch {
	case c.want == nil:
		if err != nil {
			t.Errorf("import of a good envelope failed: %v", err)
		} else if got := layerDigest(t, lo.upper); got != res.Digest {
			t.Errorf("Imported %s, the upper dir's layer is %s", res.Digest, got)
		}
	case c.want[0] == hxEither:
		if err == nil {
			t.Logf("Imported %s", res.Digest)
		}
	case c.want[0] == hxValid:
		if err != nil {
			t.Errorf("import of a valid, not canonical layer failed: %v", err)
		}
	case c.want[0] == hxAnyErr:
		if err == nil {
			t.Errorf("imported; want a refusal")
		}
	default:
		match := false
		for _, e := range c.want {
			match = match || errors.Is(err, e)
		}
		if !match {
			t.Errorf("import: error %v, want one of %v", err, c.want)
		}
	}
	if err != nil {
		lo.unchanged(t)
	}
	victims.check(t)

	in = newHxBudget(env, budget)
	start = time.Now()
	rep, verr := func() (rep *envelope.Report, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("PANIC: %v", r)
				t.Errorf("Verify panicked: %v", r)
			}
		}()
		return envelope.Verify(context.Background(), in)
	}()
	took := time.Since(start).Round(time.Millisecond)
	if verr != nil || rep == nil {
		t.Errorf("Verify: %v", verr)
		return
	}
	var fails []string
	for _, ch := range rep.Checks {
		if ch.Status == envelope.Fail {
			fails = append(fails, ch.Name+": "+ch.Message)
		}
	}
	t.Logf("verify: valid=%v %q (%v, %d bytes read)", rep.Valid, fails, took, in.n.Load())
	if in.over.Load() {
		t.Errorf("Verify read more than %d of the %d input bytes", budget, len(env))
	}
	switch {
	case c.want == nil && !rep.Valid:
		t.Errorf("Verify calls a good envelope invalid")
	case c.want != nil && c.want[0] == hxValid && !rep.Valid:
		t.Errorf("Verify calls a valid layer invalid")
	case c.want != nil && c.want[0] == hxValid && (rep.Layer.Canonical == nil || *rep.Layer.Canonical):
		t.Errorf("Verify calls a layer that is not canonical canonical")
	case c.want != nil && c.want[0] != hxEither && c.want[0] != hxValid && rep.Valid:
		t.Errorf("Verify calls a hostile envelope valid")
	}
}

func TestHostileEnvelopes(t *testing.T) {
	needRoot(t)
	// The source envelope, bigger than a zstd block (128 KiB), so that a
	// zstd stream of it has a window descriptor.
	srcEnv := func(t *testing.T) []byte { e, _ := sourceEnv(t, envelope.None); return e }
	base := func(t *testing.T) []byte { return hxTar(t, hxResum(hxBase(t))) }
	// What of a bomb may be read: a tenth of it, some 100 MiB of zeros.
	// The refusals need less than the first 64 KiB that the envelope
	// reader buffers.
	const gzBudget, zstdBudget = 128 << 10, 12 << 10

	compression := []hxCase{
		{name: "control none", env: base, want: hxOK()},
		{name: "control gzip", env: func(t *testing.T) []byte { return hxGzip(t, base(t)) }, want: hxOK()},
		{name: "control zstd", env: func(t *testing.T) []byte { return hxZstd(t, base(t)) }, want: hxOK()},
		{name: "gzip header names a file", env: func(t *testing.T) []byte {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Name, zw.Comment, zw.ModTime = "../victim", "/etc/passwd", time.Unix(1, 0)
			_, err := zw.Write(base(t))
			must(t, err)
			must(t, zw.Close())
			return buf.Bytes()
		}, want: hxOK()},
		{name: "gzip bomb as layer.tar", env: hxBomb(envelope.Gzip, envelope.MemberLayer), want: hxRefused(envelope.ErrStructure), budget: gzBudget},
		{name: "gzip bomb as container.json", env: hxBomb(envelope.Gzip, envelope.MemberContainer), want: hxRefused(envelope.ErrStructure), budget: gzBudget},
		{name: "gzip bomb before the tar", env: hxBomb(envelope.Gzip, "start"), want: hxRefused(envelope.ErrStructure), budget: gzBudget},
		{name: "gzip bomb as tar-split", env: hxBomb(envelope.Gzip, envelope.MemberTarSplit), want: hxFails(), budget: gzBudget},
		{name: "gzip bomb after the tar", env: hxBomb(envelope.Gzip, "padding"), want: hxFails(), budget: gzBudget},
		{name: "zstd bomb as layer.tar", env: hxBomb(envelope.Zstd, envelope.MemberLayer), want: hxRefused(envelope.ErrStructure), budget: zstdBudget},
		{name: "zstd bomb as tar-split", env: hxBomb(envelope.Zstd, envelope.MemberTarSplit), want: hxFails(), budget: zstdBudget},
		{name: "zstd bomb after the tar", env: hxBomb(envelope.Zstd, "padding"), want: hxFails(), budget: zstdBudget},
		{name: "zstd window 64 MiB", env: func(t *testing.T) []byte {
			z := hxZstd(t, srcEnv(t), zstd.WithWindowSize(64<<20))
			if w := hxZstdWindow(t, z); w != 64<<20 {
				t.Fatalf("frame declares a window of %d", w)
			}
			return z
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd window 32 MiB", env: func(t *testing.T) []byte {
			z := hxZstd(t, srcEnv(t), zstd.WithWindowSize(envelope.MaxZstdWindow))
			if w := hxZstdWindow(t, z); w != envelope.MaxZstdWindow {
				t.Fatalf("frame declares a window of %d", w)
			}
			return z
		}, want: hxOK()},
		{name: "zstd window descriptor F8", env: func(*testing.T) []byte { return hxZstdFrame(0x00, 0xf8) }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd window descriptor 80", env: func(*testing.T) []byte { return hxZstdFrame(0x00, 0x80) }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd single segment 1 GiB", env: func(*testing.T) []byte { return hxZstdFrame(0xa0, 0, 0, 0, 0x40) }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd single segment 2^40", env: func(*testing.T) []byte { return hxZstdFrame(0xe0, 0, 0, 0, 0, 0, 1, 0, 0) }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd reserved block type", env: func(*testing.T) []byte {
			return []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x50, 0x07, 0x00, 0x00}
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "gzip members concatenated", env: func(t *testing.T) []byte { g := hxGzip(t, base(t)); return hxCat(g, g) }, want: hxRefused(envelope.ErrStructure)},
		{name: "gzip envelope split over members", env: func(t *testing.T) []byte {
			b := base(t)
			return hxCat(hxGzip(t, b[:len(b)/2]), hxGzip(t, b[len(b)/2:]))
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd frames concatenated", env: func(t *testing.T) []byte { z := hxZstd(t, base(t)); return hxCat(z, z) }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd envelope split over frames", env: func(t *testing.T) []byte {
			b := base(t)
			return hxCat(hxZstd(t, b[:len(b)/2]), hxZstd(t, b[len(b)/2:]))
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd skippable frame after", env: func(t *testing.T) []byte {
			return hxCat(hxZstd(t, base(t)), []byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0}, []byte("skip"))
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd skippable frame before", env: func(t *testing.T) []byte {
			return hxCat([]byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0}, []byte("skip"), hxZstd(t, base(t)))
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "garbage after gzip", env: func(t *testing.T) []byte { return hxCat(hxGzip(t, base(t)), []byte("garbage")) }, want: hxRefused(envelope.ErrStructure)},
		{name: "zeros after gzip", env: func(t *testing.T) []byte { return hxCat(hxGzip(t, base(t)), make([]byte, 512)) }, want: hxRefused(envelope.ErrStructure)},
		{name: "garbage after zstd", env: func(t *testing.T) []byte { return hxCat(hxZstd(t, base(t)), []byte("garbage")) }, want: hxRefused(envelope.ErrStructure)},
		{name: "garbage after tar", env: func(t *testing.T) []byte { return hxCat(base(t), []byte("garbage")) }, want: hxRefused(envelope.ErrStructure)},
		{name: "gzip cut in half", env: func(t *testing.T) []byte { g := hxGzip(t, base(t)); return g[:len(g)/2] }, want: hxRefused(envelope.ErrStructure)},
		{name: "gzip without trailer", env: func(t *testing.T) []byte { g := hxGzip(t, base(t)); return g[:len(g)-8] }, want: hxRefused(envelope.ErrStructure)},
		{name: "gzip without last byte", env: func(t *testing.T) []byte { g := hxGzip(t, base(t)); return g[:len(g)-1] }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd cut in half", env: func(t *testing.T) []byte { z := hxZstd(t, base(t)); return z[:len(z)/2] }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd without checksum", env: func(t *testing.T) []byte { z := hxZstd(t, base(t)); return z[:len(z)-4] }, want: hxRefused(envelope.ErrStructure)},
		{name: "gzip CRC flipped", env: func(t *testing.T) []byte { g := hxGzip(t, base(t)); g[len(g)-8] ^= 1; return g }, want: hxRefused(envelope.ErrStructure)},
		{name: "gzip size flipped", env: func(t *testing.T) []byte { g := hxGzip(t, base(t)); g[len(g)-1] ^= 1; return g }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd checksum flipped", env: func(t *testing.T) []byte { z := hxZstd(t, base(t)); z[len(z)-1] ^= 1; return z }, want: hxRefused(envelope.ErrStructure)},
		{name: "magic bzip2", env: func(t *testing.T) []byte { return hxCat([]byte("BZh91AY&SY"), base(t)) }, want: hxRefused(envelope.ErrStructure)},
		{name: "magic xz", env: func(t *testing.T) []byte { return hxCat([]byte("\xfd7zXZ\x00"), base(t)) }, want: hxRefused(envelope.ErrStructure)},
		{name: "magic lz4", env: func(t *testing.T) []byte { return hxCat([]byte{0x04, 0x22, 0x4d, 0x18}, base(t)) }, want: hxRefused(envelope.ErrStructure)},
		{name: "magic zip", env: func(t *testing.T) []byte { return hxCat([]byte("PK\x03\x04"), base(t)) }, want: hxRefused(envelope.ErrStructure)},
		{name: "gzip magic only", env: func(*testing.T) []byte { return []byte{0x1f, 0x8b} }, want: hxRefused(envelope.ErrStructure)},
		{name: "zstd magic only", env: func(*testing.T) []byte { return []byte{0x28, 0xb5, 0x2f, 0xfd} }, want: hxRefused(envelope.ErrStructure)},
		{name: "empty input", env: func(*testing.T) []byte { return nil }, want: hxRefused(envelope.ErrStructure)},
		{name: "one byte", env: func(*testing.T) []byte { return []byte{0x1f} }, want: hxRefused(envelope.ErrStructure)},
	}

	var (
		env0, cont1, info2, layer3, split4, sums5 = 0, 1, 2, 3, 4, 5
	)
	sparseMember := func(t *testing.T, name string) []byte {
		// A GNU sparse (type 'S') member: not a regular file.
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		must(t, tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: hxCreated, Format: tar.FormatGNU}))
		must(t, tw.Flush())
		b := buf.Bytes()
		b[156] = tar.TypeGNUSparse
		hxChecksum(b[:512])
		return b
	}
	structure := []hxCase{
		{name: "control rebuilt", env: base, want: hxOK()},
		{name: "control padding 10 KiB", env: func(t *testing.T) []byte { return hxCat(base(t), make([]byte, 10<<10)) }, want: hxOK()},
		{name: "missing envelope.json", env: hxEdit(hxDrop(envelope.MemberEnvelope)), want: hxRefused(envelope.ErrStructure)},
		{name: "missing container.json", env: hxEdit(hxDrop(envelope.MemberContainer)), want: hxRefused(envelope.ErrStructure)},
		{name: "missing docker-info.json", env: hxEdit(hxDrop(envelope.MemberInfo)), want: hxRefused(envelope.ErrStructure)},
		{name: "missing layer.tar", env: hxEdit(hxDrop(envelope.MemberLayer)), want: hxRefused(envelope.ErrStructure)},
		{name: "missing tar-split", env: hxEdit(hxDrop(envelope.MemberTarSplit)), want: hxRefused(envelope.ErrStructure)},
		{name: "missing SHA256SUMS", env: hxEdit(hxDrop(envelope.MemberSums)), want: hxRefused(envelope.ErrStructure)},
		{name: "no members", env: func(*testing.T) []byte { return make([]byte, 1024) }, want: hxRefused(envelope.ErrStructure)},
		{name: "extra member at the end", env: hxEdit(hxInsert(6, hxMember{name: "extra", data: []byte("x")})), want: hxRefused(envelope.ErrStructure)},
		{name: "extra member in the middle", env: hxEdit(hxInsert(2, hxMember{name: "extra.json", data: []byte("{}")})), want: hxRefused(envelope.ErrStructure)},
		{name: "duplicate envelope.json", env: hxEdit(func(t *testing.T, ms []hxMember) []hxMember { return hxInsert(1, ms[0])(t, ms) }), want: hxRefused(envelope.ErrStructure)},
		{name: "duplicate layer.tar", env: hxEdit(func(t *testing.T, ms []hxMember) []hxMember { return hxInsert(4, ms[layer3])(t, ms) }), want: hxRefused(envelope.ErrStructure)},
		{name: "duplicate SHA256SUMS", env: func(t *testing.T) []byte {
			ms := hxResum(hxBase(t))
			return hxTar(t, append(ms, ms[sums5]))
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "container and info swapped", env: hxEdit(hxSwap(cont1, info2)), want: hxRefused(envelope.ErrStructure)},
		{name: "layer and tar-split swapped", env: hxEdit(hxSwap(layer3, split4)), want: hxRefused(envelope.ErrStructure)},
		{name: "SHA256SUMS first", env: hxEdit(hxSwap(env0, sums5)), want: hxRefused(envelope.ErrStructure)},
		{name: "layer.tar first", env: hxEdit(hxSwap(env0, layer3)), want: hxRefused(envelope.ErrStructure)},
		{name: "container.json a directory", env: hxEdit(hxSet(envelope.MemberContainer, func(m *hxMember) { m.typ, m.data = tar.TypeDir, nil })), want: hxRefused(envelope.ErrStructure)},
		{name: "layer.tar a symlink", env: hxEdit(hxSet(envelope.MemberLayer, func(m *hxMember) { m.typ, m.data = tar.TypeSymlink, nil })), want: hxRefused(envelope.ErrStructure)},
		{name: "layer.tar a hard link", env: hxEdit(hxSet(envelope.MemberLayer, func(m *hxMember) { m.typ, m.data = tar.TypeLink, nil })), want: hxRefused(envelope.ErrStructure)},
		{name: "SHA256SUMS a device", env: hxEdit(hxSet(envelope.MemberSums, func(m *hxMember) { m.typ, m.data = tar.TypeChar, nil })), want: hxRefused(envelope.ErrStructure)},
		{name: "member named ./envelope.json", env: hxEdit(hxSet(envelope.MemberEnvelope, func(m *hxMember) { m.name = "./envelope.json" })), want: hxRefused(envelope.ErrStructure)},
		{name: "member named /envelope.json", env: hxEdit(hxSet(envelope.MemberEnvelope, func(m *hxMember) { m.name = "/envelope.json" })), want: hxRefused(envelope.ErrStructure)},
		{name: "member named ../layer.tar", env: hxEdit(hxSet(envelope.MemberLayer, func(m *hxMember) { m.name = "../layer.tar" })), want: hxRefused(envelope.ErrStructure)},
		{name: "tar-split a GNU sparse member", env: func(t *testing.T) []byte {
			return hxEdit(hxSet(envelope.MemberTarSplit, func(m *hxMember) { m.raw = sparseMember(t, m.name) }))(t)
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "member larger than the stream", env: func(t *testing.T) []byte {
			ms := hxResum(hxBase(t))
			var buf bytes.Buffer
			for _, m := range ms[:split4] {
				buf.Write(hxEntry(t, m))
			}
			b := hxEntry(t, hxMember{name: envelope.MemberTarSplit, data: make([]byte, 1)})
			clear(b[124:136])
			binary.BigEndian.PutUint64(b[128:136], 1<<40)
			b[124] = 0x80
			hxChecksum(b[:512])
			buf.Write(b[:512])
			buf.Write(make([]byte, 4096))
			return buf.Bytes()
		}, want: hxRefused(envelope.ErrStructure)},
		{name: "layer.size larger than the member", env: hxMeta(func(m string, size int64) string {
			return hxLayerJSON(fmt.Sprintf(`{"size":%d,"entries":2}`, size+512))(m, size)
		}), want: hxRefused(envelope.ErrStructure)},
		{name: "layer.size smaller than the member", env: hxMeta(func(m string, size int64) string {
			return hxLayerJSON(fmt.Sprintf(`{"size":%d,"entries":2}`, size-512))(m, size)
		}), want: hxRefused(envelope.ErrStructure)},
		{name: "layer.tar longer than its tar", env: hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
			ms[layer3].data = hxCat(ms[layer3].data, []byte("trailing data in the member"))
			ms[env0].data = []byte(hxMetaText(t, int64(len(ms[layer3].data)), 2))
			return ms
		}), want: hxRefused(envelope.ErrStructure)},
		{name: "non-zero byte after the end", env: func(t *testing.T) []byte { return hxCat(base(t), []byte{0, 0, 1}) }, want: hxRefused(envelope.ErrStructure)},
		{name: "second envelope after the end", env: func(t *testing.T) []byte { return hxCat(base(t), base(t)) }, want: hxRefused(envelope.ErrStructure)},
		{name: "no end blocks", env: func(t *testing.T) []byte { b := base(t); return b[:len(b)-1024] }, want: hxRefused(envelope.ErrStructure)},
		{name: "one end block", env: func(t *testing.T) []byte { b := base(t); return b[:len(b)-512] }, want: hxRefused(envelope.ErrStructure)},
	}

	nest := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	bigJSON := func(size int) []byte {
		return []byte(`{"a":"` + strings.Repeat("x", size-8) + `"}`)
	}
	meta := func(edit func(string) string) func(*testing.T) []byte {
		return hxMeta(func(m string, _ int64) string { return edit(m) })
	}
	replace := func(old, new string) func(string) string {
		return func(m string) string {
			if !strings.Contains(m, old) {
				panic(fmt.Sprintf("%q not in %s", old, m))
			}
			return strings.Replace(m, old, new, 1)
		}
	}
	format := `"format":"` + envelope.Format + `"`
	jsonCases := []hxCase{
		{name: "control compact envelope.json", env: meta(func(m string) string { return m }), want: hxOK()},
		{name: "container.json of 8 MiB", env: hxEdit(hxSet(envelope.MemberContainer, func(m *hxMember) { m.data = bigJSON(envelope.MaxJSONMember) })), want: hxOK()},
		{name: "envelope.json over 8 MiB", env: meta(func(m string) string { return m + strings.Repeat(" ", envelope.MaxJSONMember) }), want: hxRefused(envelope.ErrStructure), budget: 1 << 20},
		{name: "container.json over 8 MiB", env: hxEdit(hxSet(envelope.MemberContainer, func(m *hxMember) { m.data = bigJSON(envelope.MaxJSONMember + 1) })), want: hxRefused(envelope.ErrStructure), budget: 1 << 20},
		{name: "docker-info.json over 8 MiB", env: hxEdit(hxSet(envelope.MemberInfo, func(m *hxMember) { m.data = bigJSON(envelope.MaxJSONMember + 1) })), want: hxRefused(envelope.ErrStructure), budget: 1 << 20},
		{name: "container.json nested 65 deep", env: hxEdit(hxSet(envelope.MemberContainer, func(m *hxMember) { m.data = []byte(nest(65)) })), want: hxRefused(envelope.ErrStructure)},
		{name: "docker-info.json nested 1e6 deep", env: hxEdit(hxSet(envelope.MemberInfo, func(m *hxMember) { m.data = []byte(`{"a":` + strings.Repeat("[", 1e6)) })), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json nested 100 deep", env: meta(replace(format, format+`,"x":`+nest(100))), want: hxRefused(envelope.ErrStructure)},
		{name: "duplicate format", env: meta(replace(format, format+`,"format":"other"`)), want: hxRefused(envelope.ErrStructure)},
		{name: "duplicate layer", env: meta(func(m string) string { return strings.TrimSuffix(m, "}") + `,"layer":{"size":1,"entries":1}}` }), want: hxRefused(envelope.ErrStructure)},
		{name: "duplicate layer.size", env: hxMeta(func(m string, size int64) string {
			return hxLayerJSON(`{"size":SIZE,"entries":2,"size":SIZE}`)(m, size)
		}), want: hxRefused(envelope.ErrStructure)},
		// encoding/json matches keys without regard to case: "Entries"
		// overrides "entries" for this tool, while jq or Python see
		// entries 999. A checker and the importer must not disagree.
		{name: "entries and Entries", env: hxMeta(func(m string, size int64) string {
			return hxLayerJSON(`{"size":SIZE,"entries":999,"Entries":2}`)(m, size)
		}), want: hxRefused(envelope.ErrStructure)},
		{name: "layer and LAYER", env: hxMeta(func(m string, size int64) string {
			return hxLayerJSON(`{"size":1,"entries":999},"LAYER":{"size":SIZE,"entries":2}`)(m, size)
		}), want: hxRefused(envelope.ErrStructure)},
		{name: "size a string", env: hxMeta(func(m string, size int64) string { return hxLayerJSON(`{"size":"SIZE","entries":2}`)(m, size) }), want: hxRefused(envelope.ErrStructure)},
		{name: "entries a float", env: hxMeta(func(m string, size int64) string { return hxLayerJSON(`{"size":SIZE,"entries":2.5}`)(m, size) }), want: hxRefused(envelope.ErrStructure)},
		{name: "entries in exponent form", env: hxMeta(func(m string, size int64) string { return hxLayerJSON(`{"size":SIZE,"entries":2e0}`)(m, size) }), want: hxRefused(envelope.ErrStructure)},
		{name: "size overflows", env: hxMeta(func(m string, size int64) string {
			return hxLayerJSON(`{"size":99999999999999999999,"entries":2}`)(m, size)
		}), want: hxRefused(envelope.ErrStructure)},
		{name: "size negative", env: hxMeta(func(m string, size int64) string { return hxLayerJSON(`{"size":-1,"entries":2}`)(m, size) }), want: hxRefused(envelope.ErrStructure)},
		{name: "entries negative", env: hxMeta(func(m string, size int64) string { return hxLayerJSON(`{"size":SIZE,"entries":-2}`)(m, size) }), want: hxRefused(envelope.ErrStructure)},
		{name: "layer null", env: hxMeta(func(m string, size int64) string { return hxLayerJSON(`null`)(m, size) }), want: hxRefused(envelope.ErrStructure)},
		{name: "entries null", env: hxMeta(func(m string, size int64) string { return hxLayerJSON(`{"size":SIZE,"entries":null}`)(m, size) }), want: hxRefused(overlay.ErrLimit, envelope.ErrStructure)},
		{name: "format v9", env: meta(replace(format, `"format":"layer-tool.envelope/v9"`)), want: hxRefused(envelope.ErrStructure)},
		{name: "v2 with a volume not in the stream", env: meta(replace(format, `"format":"layer-tool.envelope/v2","volumes":[{"type":"volume","name":"x","destination":"/x","rw":true,"tar":"volumes/0.tar","tarSplit":"volumes/0.tar-split.json.gz","size":1024,"entries":0}]`)), want: hxRefused(envelope.ErrStructure, ErrVolumes)},
		{name: "v2 volume member named by a path", env: meta(replace(format, `"format":"layer-tool.envelope/v2","volumes":[{"type":"volume","name":"x","destination":"/x","rw":true,"tar":"../../etc/passwd","tarSplit":"volumes/0.tar-split.json.gz","size":1024,"entries":0}]`)), want: hxRefused(envelope.ErrStructure)},
		{name: "format with a space", env: meta(replace(format, `"format":"`+envelope.Format+` "`)), want: hxRefused(envelope.ErrStructure)},
		{name: "format a number", env: meta(replace(format, `"format":1`)), want: hxRefused(envelope.ErrStructure)},
		{name: "format missing", env: meta(replace(format+",", "")), want: hxRefused(envelope.ErrStructure)},
		{name: "created not a time", env: meta(replace(`"created":"2024-02-03T04:05:06Z"`, `"created":"yesterday"`)), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json an array", env: meta(func(string) string { return "[]" }), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json null", env: meta(func(string) string { return "null" }), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json empty", env: meta(func(string) string { return "" }), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json twice", env: meta(func(m string) string { return m + m }), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json with trailing garbage", env: meta(func(m string) string { return m + "x" }), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json with a BOM", env: meta(func(m string) string { return "\ufeff" + m }), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json cut", env: meta(func(m string) string { return m[:len(m)-1] }), want: hxRefused(envelope.ErrStructure)},
		{name: "envelope.json unknown field", env: meta(replace(format, format+`,"future":{"x":[1,2]}`)), want: hxMay()},
		{name: "container.json an array", env: hxEdit(hxSet(envelope.MemberContainer, func(m *hxMember) { m.data = []byte("[]") })), want: hxRefused(envelope.ErrStructure)},
		{name: "container.json cut", env: hxEdit(hxSet(envelope.MemberContainer, func(m *hxMember) { m.data = []byte(`{"Id":`) })), want: hxRefused(envelope.ErrStructure)},
		{name: "docker-info.json duplicate key", env: hxEdit(hxSet(envelope.MemberInfo, func(m *hxMember) { m.data = []byte(`{"a":{"b":1,"b":2}}`) })), want: hxRefused(envelope.ErrStructure)},
	}

	lines := func(f func([]string) []string) func(*testing.T) []byte {
		return hxSums(func(s string) string {
			return strings.Join(f(strings.Split(strings.TrimSuffix(s, "\n"), "\n")), "\n") + "\n"
		})
	}
	sums := []hxCase{
		{name: "extra line", env: lines(func(l []string) []string { return append(l, l[len(l)-1]) }), want: hxRefused(envelope.ErrStructure)},
		{name: "line for itself", env: lines(func(l []string) []string { return append(l, strings.Repeat("0", 64)+"  SHA256SUMS") }), want: hxRefused(envelope.ErrStructure)},
		{name: "missing line", env: lines(func(l []string) []string { return l[:len(l)-1] }), want: hxRefused(envelope.ErrStructure)},
		{name: "empty", env: hxSums(func(string) string { return "" }), want: hxRefused(envelope.ErrStructure)},
		{name: "uppercase hex", env: lines(func(l []string) []string {
			for i := range l {
				l[i] = strings.ToUpper(l[i][:64]) + l[i][64:]
			}
			return l
		}), want: hxRefused(envelope.ErrStructure, envelope.ErrDigestMismatch)},
		{name: "wrong name", env: lines(func(l []string) []string { l[0] = strings.Replace(l[0], "envelope.json", "envelope.JSON", 1); return l }), want: hxRefused(envelope.ErrStructure)},
		{name: "dot slash name", env: lines(func(l []string) []string { l[3] = strings.Replace(l[3], "  layer.tar", "  ./layer.tar", 1); return l }), want: hxRefused(envelope.ErrStructure)},
		{name: "lines swapped", env: lines(func(l []string) []string { l[1], l[2] = l[2], l[1]; return l }), want: hxRefused(envelope.ErrStructure)},
		{name: "one space", env: lines(func(l []string) []string { l[0] = strings.Replace(l[0], "  ", " ", 1); return l }), want: hxRefused(envelope.ErrStructure)},
		{name: "binary marker", env: lines(func(l []string) []string { l[0] = strings.Replace(l[0], "  ", " *", 1); return l }), want: hxRefused(envelope.ErrStructure)},
		{name: "CRLF", env: hxSums(func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }), want: hxRefused(envelope.ErrStructure)},
		{name: "blank line at the end", env: hxSums(func(s string) string { return s + "\n" }), want: hxRefused(envelope.ErrStructure)},
		{name: "comment line", env: hxSums(func(s string) string { return "# sums\n" + s }), want: hxRefused(envelope.ErrStructure)},
		{name: "no final newline", env: hxSums(func(s string) string { return strings.TrimSuffix(s, "\n") }), want: hxMay()},
		{name: "wrong digest", env: lines(func(l []string) []string {
			l[3] = strings.Repeat("0", 64) + l[3][64:]
			return l
		}), want: hxRefused(envelope.ErrDigestMismatch)},
		{name: "over 4 KiB", env: hxSums(func(s string) string { return s + strings.Repeat(" ", 4<<10) }), want: hxRefused(envelope.ErrStructure)},
	}

	// bigLayer is the base layer with an entry that claims 1 GiB: its
	// contents are not in layer.tar.
	bigEntry := func(t *testing.T) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		// WriteHeader writes the header at once; the contents never come.
		must(t, tw.WriteHeader(&tar.Header{Name: "big", Typeflag: tar.TypeReg, Size: 1 << 30, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}))
		buf.Write(bytes.Repeat([]byte("x"), 4096))
		return buf.Bytes()
	}
	declared := func(size, entries int64) func(*testing.T) []byte {
		return hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
			real := int64(len(ms[layer3].data))
			s := size
			if s < 0 {
				s = real
			}
			ms[env0].data = []byte(hxMetaText(t, s, entries))
			return ms
		})
	}
	bounds := []hxCase{
		{name: "layer.size 1 PiB", env: declared(1<<50, 2), want: hxRefused(ErrNoSpace), budget: 64 << 10},
		{name: "layer.size max int64", env: declared(math.MaxInt64, 2), want: hxRefused(ErrNoSpace, envelope.ErrStructure), budget: 64 << 10},
		{name: "entries 2^40", env: declared(-1, 1<<40), want: hxRefused(envelope.ErrStructure, ErrNoSpace), budget: 64 << 10},
		{name: "entries max int64", env: declared(-1, math.MaxInt64), want: hxRefused(envelope.ErrStructure, ErrNoSpace), budget: 64 << 10},
		{name: "entries more than size/512", env: hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
			size := int64(len(ms[layer3].data))
			ms[env0].data = []byte(hxMetaText(t, size, size/512+1))
			return ms
		}), want: hxRefused(envelope.ErrStructure), budget: 64 << 10},
		{name: "entries 1 of 2", env: declared(-1, 1), want: hxRefused(overlay.ErrLimit)},
		{name: "entries 0 of 2", env: declared(-1, 0), want: hxRefused(overlay.ErrLimit)},
		{name: "entries 3 of 2", env: declared(-1, 3), want: hxRefused(envelope.ErrStructure)},
		{name: "entry larger than layer.tar", env: hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
			ms[layer3].data = bigEntry(t)
			ms[env0].data = []byte(hxMetaText(t, int64(len(ms[layer3].data)), 1))
			return ms
		}), want: hxFails(), budget: 64 << 10},
		// An empty member is an empty tar to archive/tar and tar-split
		// alike: an empty layer, if the tar-split member says so too.
		{name: "empty layer.tar", env: hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
			ms[layer3].data = nil
			ms[env0].data = []byte(hxMetaText(t, 0, 0))
			return ms
		}), want: hxMay()},
	}

	// Layers that Apply accepts but no canonical layer has: the import
	// must refuse them before the swap.
	layerOf := func(hdrs ...*tar.Header) func(*testing.T) []byte {
		return hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range hdrs {
				h := *h
				h.Format, h.ModTime = tar.FormatPAX, time.Unix(1700000000, 0)
				must(t, tw.WriteHeader(&h))
			}
			must(t, tw.Close())
			ms[layer3].data = buf.Bytes()
			ms[split4].data = hxSplitAll(t, buf.Bytes())
			ms[env0].data = []byte(hxMetaText(t, int64(buf.Len()), int64(len(hdrs))))
			return ms
		})
	}
	layers := []hxCase{
		{name: "symlink named as a whiteout", env: layerOf(&tar.Header{Name: ".wh.x", Typeflag: tar.TypeSymlink, Linkname: "../victim", Mode: 0o777}), want: hxFails()},
		{name: "fifo named as an opaque marker", env: layerOf(&tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}, &tar.Header{Name: "d/.wh..wh..opq", Typeflag: tar.TypeFifo, Mode: 0o600}), want: hxFails()},
		{name: "hard link named as a whiteout", env: layerOf(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644}, &tar.Header{Name: ".wh.b", Typeflag: tar.TypeLink, Linkname: "a"}), want: hxFails()},
		{name: "symlink to the victim", env: layerOf(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../../victim", Mode: 0o777, Uid: 4321}), want: hxOK()},
		{name: "entry below a symlink", env: layerOf(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../..", Mode: 0o777}, &tar.Header{Name: "l/victim", Typeflag: tar.TypeReg, Mode: 0o644}), want: hxRefused(overlay.ErrOrder)},
		{name: "hard link out", env: layerOf(&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../victim"}), want: hxRefused(overlay.ErrUnsafePath)},

		// What a layer in any order allows: the OCI rules where they are
		// clear, a refusal where an entry would go through what the
		// layer made.
		{name: "path repeated as file then directory", env: layerOf(hxF("d"), hxD("d/"), hxF("d/victim")), want: hxImports()},
		{name: "path repeated as directory then file", env: layerOf(hxD("d/"), hxF("d/x"), hxF("d")), want: hxRefused(overlay.ErrOrder)},
		{name: "symlink replaced by a directory", env: layerOf(hxS("l", "../.."), hxD("l/"), hxF("l/victim")), want: hxImports()},
		{name: "hard link to a later entry", env: layerOf(&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "f"}, hxF("f")), want: hxRefused(overlay.ErrOrder)},
		{name: "parents implied below a symlink", env: layerOf(hxS("l", "../.."), hxF("l/a/victim")), want: hxRefused(overlay.ErrOrder)},
		{name: "whiteout below a symlink", env: layerOf(hxS("l", "../.."), hxF("l/.wh.victim")), want: hxRefused(overlay.ErrOrder)},
		{name: "hard link through a symlink of the layer", env: layerOf(hxD("d/"), hxF("d/f"), hxS("s", "d"), &tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "s/f"}), want: hxRefused(overlay.ErrOrder)},
		{name: "hard link, then its target replaced by a symlink out", env: layerOf(hxF("f"), &tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "f"}, hxS("f", "../../victim")), want: hxImports()},
		{name: "parents implied", env: layerOf(hxF("a/b/c")), want: hxImports()},
		{name: "whiteout then directory", env: layerOf(hxF(".wh.d"), hxD("d/"), hxF("d/x")), want: hxImports()},
		{name: "child before its directory", env: layerOf(hxF("d/x"), hxD("d/")), want: hxImports()},
	}

	for _, class := range []struct {
		name  string
		cases []hxCase
	}{
		{"compression", compression}, {"structure", structure}, {"json", jsonCases}, {"sums", sums}, {"bounds", bounds}, {"layer", layers},
	} {
		t.Run(class.name, func(t *testing.T) {
			t.Logf("%d cases", len(class.cases))
			for _, c := range class.cases {
				t.Run(c.name, c.run)
			}
		})
	}
}

// hxChecksum sets the checksum of a raw tar header block.
func hxChecksum(b []byte) {
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
}

// hxSparseEntry is a raw tar entry: an old GNU sparse file (type 'S') of
// realsize bytes, all of them a hole, that takes one 512-byte block.
func hxSparseEntry(name string, realsize int64) []byte {
	b := make([]byte, 512)
	copy(b, name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], "00000000000\x00")
	copy(b[136:], "14525512000\x00")
	b[156] = tar.TypeGNUSparse
	copy(b[257:], "ustar  \x00")
	// GNU realsize, base-256.
	b[483] = 0x80
	binary.BigEndian.PutUint64(b[487:495], uint64(realsize))
	hxChecksum(b)
	return b
}

// hxPAXSparseMember is a raw envelope member: a PAX GNU sparse 1.0 file
// that archive/tar reads as a regular file of realsize bytes, all a hole,
// from 1.5 KiB of input.
func hxPAXSparseMember(name string, realsize int64) []byte {
	var recs []byte
	for _, kv := range [][2]string{
		{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"},
		{"GNU.sparse.name", name}, {"GNU.sparse.realsize", fmt.Sprint(realsize)},
	} {
		body := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(body)
		for len(fmt.Sprint(n)+body) != n {
			n = len(fmt.Sprint(n) + body)
		}
		recs = append(recs, fmt.Sprint(n)+body...)
	}
	hdr := func(name string, typ byte, size int) []byte {
		b := make([]byte, 512)
		copy(b, name)
		copy(b[100:], "0000644\x00")
		copy(b[108:], "0000000\x00")
		copy(b[116:], "0000000\x00")
		copy(b[124:], fmt.Sprintf("%011o\x00", size))
		copy(b[136:], "14525512000\x00")
		b[156] = typ
		copy(b[257:], "ustar\x0000")
		hxChecksum(b)
		return b
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }
	sparseMap := pad([]byte("0\n"))
	return hxCat(hdr("PaxHeaders.0/"+name, 'x', len(recs)), pad(recs), hdr("GNUSparseFile.0/"+name, tar.TypeReg, len(sparseMap)), sparseMap)
}

// The work an import or a verification does must be bounded by the bytes
// of the envelope, not by sizes its headers claim: a GNU sparse file is a
// few blocks of tar that archive/tar (and tar-split's fork of it) expand to
// its claimed size in zeros, with no input read and no context checked.
// Each case is run with a small claimed size and one 32 times larger, and
// the CPU time of the process compared (the machine may be busy, and the
// work happens in goroutines): if it grows with the claim, a claim of
// 2^62 bytes never ends.
func TestHostileSparseWork(t *testing.T) {
	needRoot(t)
	const small, big = 16 << 20, 512 << 20
	layerEnv := func(realsize int64) []byte {
		layer := hxCat(hxSparseEntry("s", realsize), make([]byte, 1024))
		return rawEnvelope(t, layer, 1)
	}
	memberEnv := func(realsize int64) []byte {
		ms := hxResum(hxBase(t))
		ms[4].raw = hxPAXSparseMember(envelope.MemberTarSplit, realsize)
		return hxTar(t, ms)
	}
	for _, tc := range []struct {
		name string
		env  func(realsize int64) []byte
	}{
		{"sparse entry in layer.tar", layerEnv},
		{"sparse tar-split member", memberEnv},
	} {
		for _, how := range []string{"import", "verify"} {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				run := func(realsize int64) time.Duration {
					env := tc.env(realsize)
					var lo *layout
					if how == "import" {
						lo = newLayout(t, "")
					}
					start, wall := hxCPU(t), time.Now()
					var err error
					valid := false
					if how == "import" {
						_, err = Import(context.Background(), lo.tg, bytes.NewReader(env), ImportOptions{Gate: okGate, Keep: true})
					} else {
						var rep *envelope.Report
						rep, err = envelope.Verify(context.Background(), bytes.NewReader(env))
						valid = rep != nil && rep.Valid
					}
					cpu := hxCPU(t) - start
					t.Logf("claim of %d MiB: %v, valid=%v (%v CPU, %v)", realsize>>20, err, valid, cpu.Round(time.Millisecond), time.Since(wall).Round(time.Millisecond))
					switch {
					case how == "import" && err == nil:
						t.Errorf("Imported a sparse claim of %d bytes", realsize)
					case how == "verify" && (err != nil || valid):
						t.Errorf("Verify: valid=%v, %v", valid, err)
					}
					if lo != nil {
						lo.unchanged(t)
					}
					return cpu
				}
				cSmall := run(small)
				cBig := run(big)
				if cBig > 4*cSmall+50*time.Millisecond {
					t.Errorf("%s takes %v of CPU for a sparse claim of %d MiB and %v for %d MiB: the work grows with a size a header claims, so a claim of 2^62 bytes never ends (and no context is checked)", how, cSmall.Round(time.Millisecond), small>>20, cBig.Round(time.Millisecond), big>>20)
				}
			})
		}
	}
}

// hxCPU is the CPU time this process has used, all threads.
func hxCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	must(t, unix.Getrusage(unix.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The hand-built envelopes are what they claim: the base rebuilt by hxTar
// is byte for byte what envelope.Write produced.
func TestHostileBuilder(t *testing.T) {
	want := rawEnvelope(t, hxBaseLayer(t), 2)
	if got := hxTar(t, hxResum(hxMembers(t, want))); !bytes.Equal(got, want) {
		t.Errorf("rebuilt envelope differs from envelope.Write's (%d vs %d bytes)", len(got), len(want))
	}
}

// A layer that names a path twice is valid and imports, but its tar-split
// metadata cannot reassemble it (tar-split's unpacker refuses a name
// twice): check says so, as a warning.
func TestRepeatedPathTarSplitWarns(t *testing.T) {
	env := hxEdit(func(t *testing.T, ms []hxMember) []hxMember {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range []*tar.Header{hxF("d"), hxD("d/"), hxF("d/x")} {
			h.Format, h.ModTime = tar.FormatPAX, time.Unix(1700000000, 0)
			must(t, tw.WriteHeader(h))
		}
		must(t, tw.Close())
		ms[3].data = buf.Bytes()
		ms[4].data = hxSplitAll(t, buf.Bytes())
		ms[0].data = []byte(hxMetaText(t, int64(buf.Len()), 3))
		return ms
	})(t)
	rep, err := envelope.Verify(context.Background(), bytes.NewReader(env))
	must(t, err)
	for _, c := range rep.Checks {
		if c.Name == envelope.CheckTarSplit {
			if c.Status != envelope.Warn || !strings.Contains(c.Message, "1 entries name a path an earlier one named") {
				t.Errorf("tar-split check: %s %q", c.Status, c.Message)
			}
		}
	}
	if !rep.Valid {
		t.Errorf("a valid layer that repeats a path is invalid: %+v", rep.Checks)
	}
}
