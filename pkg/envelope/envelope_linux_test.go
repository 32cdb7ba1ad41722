package envelope

import (
	"archive/tar"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

var testCreated = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// makeUpper builds a small upper directory; variant changes one file so
// that two variants give two different layers.
func makeUpper(t *testing.T, variant string) string {
	t.Helper()
	root := t.TempDir()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("fixture: %s: %v", what, err)
		}
	}
	p := func(rel string) string { return filepath.Join(root, rel) }
	must("mkdir", os.Mkdir(p("etc"), 0o755))
	must("write hosts", os.WriteFile(p("etc/hosts"), []byte("127.0.0.1 localhost "+variant+"\n"), 0o644))
	must("write data", os.WriteFile(p("data.bin"), bytes.Repeat([]byte{0xa5, 0x5a, 0x01}, 4000), 0o600))
	must("symlink", os.Symlink("/etc/hosts", p("hosts")))
	must("whiteout", unix.Mknod(p("removed"), unix.S_IFCHR, 0))
	must("fifo", unix.Mkfifo(p("pipe"), 0o600))
	i := 0
	for _, rel := range []string{"etc/hosts", "data.bin", "hosts", "removed", "pipe", "etc"} {
		i++
		mtime := testCreated.Add(-time.Duration(i) * time.Minute).Add(time.Duration(i) * 1111 * time.Nanosecond)
		ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		must("utimes", unix.UtimesNanoAt(unix.AT_FDCWD, p(rel), ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	return root
}

// fixture is a layer and the Contents of an envelope that carries it.
type envFixture struct {
	root  string
	layer []byte
	plan  overlay.Plan
	c     Contents
}

func newEnvFixture(t *testing.T, variant string) *envFixture {
	t.Helper()
	root := makeUpper(t, variant)
	ctx := context.Background()
	plan, err := overlay.Measure(ctx, root, overlay.Options{})
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	var layer bytes.Buffer
	if _, err := overlay.Write(ctx, root, &layer, overlay.Options{}); err != nil {
		t.Fatalf("overlay.Write: %v", err)
	}
	meta := Meta{
		Format:   Format,
		Created:  testCreated,
		Producer: "layer-tool test",
		Container: Container{
			ID:            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Name:          "/web",
			Image:         "nginx:latest",
			ImageID:       "sha256:" + strings.Repeat("ab", 32),
			ImageLayers:   []string{"sha256:" + strings.Repeat("01", 32), "sha256:" + strings.Repeat("02", 32)},
			Created:       testCreated.Add(-time.Hour),
			StorageDriver: "overlay2",
		},
		Host:  Host{OS: "linux", Arch: "amd64", Kernel: "6.1.0", DockerVersion: "27.0.3", APIVersion: "1.46", StorageDriver: "overlay2"},
		Layer: Layer{Size: plan.Size, Entries: plan.Stats.Entries},
	}
	return &envFixture{
		root:  root,
		layer: layer.Bytes(),
		plan:  plan,
		c: Contents{
			Meta:      meta,
			Container: []byte(`{"Id":"0123","Name":"/web","Config":{"Env":["A=1"]}}`),
			Info:      []byte(`{"ID":"host","Driver":"overlay2","OSType":"linux"}`),
			WriteLayer: func(ctx context.Context, w io.Writer) error {
				_, err := overlay.Write(ctx, root, w, overlay.Options{})
				return err
			},
		},
	}
}

func writeEnvelope(t *testing.T, c Contents, comp Compression) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, c, WriteOptions{Compression: comp}); err != nil {
		t.Fatalf("Write %s: %v", comp, err)
	}
	return buf.Bytes()
}

func mustVerify(t *testing.T, b []byte) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func checkOf(rep *Report, name string) (Check, bool) {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func describeReport(rep *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "valid=%v compression=%s", rep.Valid, rep.Compression)
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "\n  %-10s %-4s %s", c.Name, c.Status, c.Message)
	}
	return b.String()
}

var coreChecks = []string{CheckStructure, CheckMetadata, CheckChecksums, CheckLayer, CheckTarSplit}

// member is one member of an envelope tar, with where it stands.
type tarMember struct {
	name    string
	typ     byte
	hdrOff  int
	dataOff int
	data    []byte
}

// parseMembers parses an uncompressed envelope. archive/tar reads headers
// block by block without reading ahead, so the position of a bytes.Reader
// right after Next is where the member's data starts; a header starts
// where the padded data of the member before it ends.
func parseMembers(t *testing.T, b []byte) []tarMember {
	t.Helper()
	r := bytes.NewReader(b)
	tr := tar.NewReader(r)
	var out []tarMember
	hdrOff := 0
	for {
		if len(out) > 0 {
			last := out[len(out)-1]
			hdrOff = last.dataOff + (len(last.data)+511)/512*512
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("parse envelope: %v", err)
		}
		m := tarMember{name: hdr.Name, typ: hdr.Typeflag, hdrOff: hdrOff, dataOff: len(b) - r.Len()}
		if m.data, err = io.ReadAll(tr); err != nil {
			t.Fatalf("parse envelope member %s: %v", hdr.Name, err)
		}
		out = append(out, m)
	}
}

func memberNamed(t *testing.T, ms []tarMember, name string) tarMember {
	t.Helper()
	for _, m := range ms {
		if m.name == name {
			return m
		}
	}
	t.Fatalf("no member %s", name)
	return tarMember{}
}

// assemble writes members as Write does: PAX-preferring headers, mode
// 0644, owner 0:0, the created time.
func assembleMembers(t *testing.T, parts []tarMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range parts {
		typ := p.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Typeflag: typ, Name: p.name, Mode: 0o644, ModTime: testCreated, Format: tar.FormatPAX}
		switch typ {
		case tar.TypeReg:
			hdr.Size = int64(len(p.data))
		case tar.TypeSymlink, tar.TypeLink:
			hdr.Linkname = "envelope.json"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("assemble %s: %v", p.name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(p.data); err != nil {
				t.Fatalf("assemble %s: %v", p.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sumsOf gives a correct SHA256SUMS for members 1 to 5 of parts.
func sumsOf(parts []tarMember) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		if p.name != MemberSums {
			fmt.Fprintf(&b, "%s  %s\n", sha256Hex(p.data), p.name)
		}
	}
	return b.Bytes()
}

// replace returns a copy of ms with member name's data replaced and, if
// resum, SHA256SUMS recomputed.
func replaceMember(ms []tarMember, name string, data []byte, resum bool) []tarMember {
	out := make([]tarMember, len(ms))
	copy(out, ms)
	for i := range out {
		if out[i].name == name {
			out[i].data = data
		}
	}
	if resum {
		for i := range out {
			if out[i].name == MemberSums {
				out[i].data = sumsOf(out[:i])
			}
		}
	}
	return out
}

func decompressAll(t *testing.T, b []byte, comp Compression) []byte {
	t.Helper()
	switch comp {
	case None:
		return b
	case Gzip:
		zr, err := stdgzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("unknown compression %q", comp)
	return nil
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := stdgzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// ---------------------------------------------------------------------------

func TestRoundTrip(t *testing.T) {
	fx := newEnvFixture(t, "one")
	for _, comp := range []Compression{None, Gzip, Zstd} {
		t.Run(string(comp), func(t *testing.T) {
			env := writeEnvelope(t, fx.c, comp)

			rep := mustVerify(t, env)
			if !rep.Valid {
				t.Fatalf("good envelope invalid:\n%s", describeReport(rep))
			}
			if rep.Compression != comp {
				t.Errorf("compression %q, want %q", rep.Compression, comp)
			}
			if rep.Format != Format {
				t.Errorf("format %q", rep.Format)
			}
			// The five checks come first, in order, and pass; checks added
			// after them may warn but not fail.
			var got []string
			for i, c := range rep.Checks {
				got = append(got, c.Name)
				if i < len(coreChecks) && c.Status != Pass || c.Status == Fail {
					t.Errorf("check %s: %s %s", c.Name, c.Status, c.Message)
				}
			}
			if len(got) < len(coreChecks) || strings.Join(got[:len(coreChecks)], ",") != strings.Join(coreChecks, ",") {
				t.Errorf("checks %q, want %q first", got, coreChecks)
			}
			if want := "sha256:" + sha256Hex(fx.layer); rep.Layer.Digest != want {
				t.Errorf("layer digest %s, want %s", rep.Layer.Digest, want)
			}
			if rep.Layer.Size != int64(len(fx.layer)) {
				t.Errorf("layer size %d, want %d", rep.Layer.Size, len(fx.layer))
			}
			if rep.Layer.Stats != fx.plan.Stats {
				t.Errorf("layer stats\n got %+v\nwant %+v", rep.Layer.Stats, fx.plan.Stats)
			}
			if rep.Layer.Entries != 6 || rep.Layer.Whiteouts != 1 || rep.Layer.Fifos != 1 || rep.Layer.Symlinks != 1 {
				t.Errorf("layer stats %+v: want 6 entries, a whiteout, a fifo and a symlink", rep.Layer.Stats)
			}
			if rep.Container == nil || rep.Container.ID != fx.c.Meta.Container.ID || rep.Host == nil || rep.Host.Kernel != "6.1.0" {
				t.Errorf("report container %+v host %+v", rep.Container, rep.Host)
			}

			if comp == Gzip {
				if flg := env[3]; flg&(0x08|0x10) != 0 {
					t.Errorf("gzip header has a name or comment (FLG %#x)", flg)
				}
				if !bytes.Equal(env[4:8], []byte{0, 0, 0, 0}) {
					t.Errorf("gzip header has a time: % x", env[4:8])
				}
			}

			plain := decompressAll(t, env, comp)
			ms := parseMembers(t, plain)
			var names []string
			for _, m := range ms {
				names = append(names, m.name)
			}
			if strings.Join(names, ",") != strings.Join(Members, ",") {
				t.Fatalf("members %q, want %q", names, Members)
			}
			tr := tar.NewReader(bytes.NewReader(plain))
			for i := range Members {
				hdr, err := tr.Next()
				if err != nil {
					t.Fatal(err)
				}
				if hdr.Typeflag != tar.TypeReg || hdr.Mode != 0o644 || hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
					t.Errorf("member %d %s: type %q mode %#o owner %d:%d %q:%q", i, hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
				}
				if !hdr.ModTime.Equal(testCreated) {
					t.Errorf("member %s mtime %s, want %s", hdr.Name, hdr.ModTime, testCreated)
				}
				if !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() {
					t.Errorf("member %s has atime/ctime", hdr.Name)
				}
			}
			if _, err := tr.Next(); err != io.EOF {
				t.Errorf("after SHA256SUMS: %v, want EOF", err)
			}

			var meta Meta
			if err := json.Unmarshal(ms[0].data, &meta); err != nil {
				t.Fatalf("envelope.json: %v", err)
			}
			wantMeta, _ := json.Marshal(fx.c.Meta)
			gotMeta, _ := json.Marshal(meta)
			if !bytes.Equal(wantMeta, gotMeta) {
				t.Errorf("envelope.json\n got %s\nwant %s", gotMeta, wantMeta)
			}
			if !bytes.Equal(ms[1].data, fx.c.Container) || !bytes.Equal(ms[2].data, fx.c.Info) {
				t.Errorf("container.json / docker-info.json not carried verbatim")
			}
			if !bytes.Equal(ms[3].data, fx.layer) {
				t.Errorf("layer.tar differs from overlay.Write's output")
			}
			want := sumsOf(ms)
			if !bytes.Equal(ms[5].data, want) {
				t.Errorf("SHA256SUMS\n got %q\nwant %q", ms[5].data, want)
			}
			if n := bytes.Count(ms[5].data, []byte("\n")); n != 5 {
				t.Errorf("SHA256SUMS has %d lines", n)
			}

			// The tar-split metadata and the layer's files give layer.tar
			// back byte for byte.
			zr, err := stdgzip.NewReader(bytes.NewReader(ms[4].data))
			if err != nil {
				t.Fatalf("tar-split member: %v", err)
			}
			rc := asm.NewOutputTarStream(storage.NewPathFileGetter(fx.root), storage.NewJSONUnpacker(zr))
			again, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("reassemble layer.tar: %v", err)
			}
			if !bytes.Equal(again, fx.layer) {
				t.Errorf("tar-split reassembles %d bytes that differ from layer.tar (%d)", len(again), len(fx.layer))
			}
		})
	}
}

func TestReproducible(t *testing.T) {
	fx := newEnvFixture(t, "one")
	for _, comp := range []Compression{None, Gzip, Zstd} {
		t.Run(string(comp), func(t *testing.T) {
			a := writeEnvelope(t, fx.c, comp)
			b := writeEnvelope(t, fx.c, comp)
			if !bytes.Equal(a, b) {
				t.Errorf("two envelopes of the same contents differ (%d and %d bytes)", len(a), len(b))
			}
			c := fx.c
			c.Meta.Created = testCreated.Add(time.Second)
			if bytes.Equal(a, writeEnvelope(t, c, comp)) {
				t.Errorf("envelopes with different created times are identical")
			}
		})
	}
}

func TestLayerSize(t *testing.T) {
	fx := newEnvFixture(t, "one")
	errBoom := errors.New("boom")
	n := int64(len(fx.layer))
	chunked := func(ctx context.Context, w io.Writer) error {
		for b := fx.layer; len(b) > 0; {
			k := min(len(b), 100)
			if _, err := w.Write(b[:k]); err != nil {
				return err
			}
			b = b[k:]
		}
		return nil
	}
	for _, tc := range []struct {
		name  string
		size  int64
		write func(context.Context, io.Writer) error
		want  error
	}{
		{"fewer, overlay.Write", n + 512, nil, ErrLayerSize},
		{"fewer by one, overlay.Write", n + 1, nil, ErrLayerSize},
		{"fewer, chunked", n + 10, chunked, ErrLayerSize},
		{"more, overlay.Write", n - 512, nil, ErrLayerSize},
		{"more by one, chunked", n - 1, chunked, ErrLayerSize},
		{"more, padding after the tar", n, func(ctx context.Context, w io.Writer) error {
			if err := chunked(ctx, w); err != nil {
				return err
			}
			_, err := w.Write(make([]byte, 512))
			return err
		}, ErrLayerSize},
		{"writer fails", n, func(ctx context.Context, w io.Writer) error {
			w.Write(fx.layer[:1024])
			return errBoom
		}, errBoom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, comp := range []Compression{None, Gzip, Zstd} {
				c := fx.c
				c.Meta.Layer.Size = tc.size
				if tc.write != nil {
					c.WriteLayer = tc.write
				}
				err := Write(context.Background(), io.Discard, c, WriteOptions{Compression: comp})
				if !errors.Is(err, tc.want) {
					t.Errorf("%s: Write = %v, want %v", comp, err, tc.want)
				}
			}
		})
	}
}

func TestWriteOptions(t *testing.T) {
	fx := newEnvFixture(t, "one")
	for _, tc := range []struct {
		opts WriteOptions
		ok   bool
	}{
		{WriteOptions{Compression: ""}, true},
		{WriteOptions{Compression: Gzip, Level: 9}, true},
		{WriteOptions{Compression: Gzip, Level: 10}, false},
		{WriteOptions{Compression: Zstd, Level: 19}, true},
		{WriteOptions{Compression: Zstd, Level: 23}, false},
		{WriteOptions{Compression: Zstd, Level: -1}, false},
		{WriteOptions{Compression: "xz"}, false},
	} {
		t.Run(fmt.Sprintf("%s_%d", tc.opts.Compression, tc.opts.Level), func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(context.Background(), &buf, fx.c, tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("Write = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok {
				if rep := mustVerify(t, buf.Bytes()); !rep.Valid {
					t.Errorf("invalid:\n%s", describeReport(rep))
				}
			}
		})
	}
}

// handLayer writes a layer tar from headers, for layers overlay.Write
// would never produce.
func handLayer(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// envelopeOf writes an envelope around a hand-made layer; Write does not
// validate the layer, so its tar-split metadata matches.
func envelopeOf(t *testing.T, layer []byte) []byte {
	t.Helper()
	c := newEnvFixture(t, "one").c
	c.Meta.Layer = Layer{Size: int64(len(layer)), Entries: -1}
	tr := tar.NewReader(bytes.NewReader(layer))
	for c.Meta.Layer.Entries = 0; ; c.Meta.Layer.Entries++ {
		if _, err := tr.Next(); err != nil {
			break
		}
	}
	c.WriteLayer = func(ctx context.Context, w io.Writer) error {
		_, err := w.Write(layer)
		return err
	}
	return writeEnvelope(t, c, None)
}

// renameInTarSplit rewrites gzipped tar-split metadata with one file
// entry renamed and everything else, raw header bytes included, kept.
func renameInTarSplit(t *testing.T, split []byte, from, to string) []byte {
	t.Helper()
	zr, err := stdgzip.NewReader(bytes.NewReader(split))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	renamed := false
	for _, line := range bytes.SplitAfter(plain, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e storage.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("tar-split line %q: %v", line, err)
		}
		if e.Type == storage.FileType && e.GetName() == from {
			e.SetName(to)
			renamed = true
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(b, '\n'))
	}
	if !renamed {
		t.Fatalf("test bug: no tar-split entry %s", from)
	}
	return gzipBytes(t, out.Bytes())
}

type corruption struct {
	name  string
	env   func(t *testing.T) []byte
	valid bool
	check string   // the check that must fail
	msg   []string // what its message must name
	only  bool     // no other check may fail
}

func runCorruptions(t *testing.T, cases []corruption) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env(t)
			rep := mustVerify(t, env)
			// One walker, two modes: Extract (import) refuses what
			// Verify (check) finds, in the same words, except the
			// envelope's own tar-split metadata, which an import never
			// reads (it records its own from layer.tar).
			_, exErr := Extract(context.Background(), bytes.NewReader(env), &checker{})
			if tc.valid {
				if !rep.Valid {
					t.Fatalf("want valid:\n%s", describeReport(rep))
				}
				if exErr != nil {
					t.Fatalf("Verify says valid, Extract says %v", exErr)
				}
				return
			}
			if tc.check != CheckTarSplit && exErr == nil {
				t.Errorf("Verify finds %s failing, Extract accepts:\n%s", tc.check, describeReport(rep))
			}
			if c, _ := checkOf(rep, tc.check); tc.only && exErr != nil && c.Message != message(exErr) {
				t.Errorf("check %s says %q, Extract %q", tc.check, c.Message, exErr)
			}
			if rep.Valid {
				t.Fatalf("want invalid, %s fails:\n%s", tc.check, describeReport(rep))
			}
			c, ok := checkOf(rep, tc.check)
			if !ok || c.Status != Fail {
				t.Fatalf("check %s did not fail:\n%s", tc.check, describeReport(rep))
			}
			for _, m := range tc.msg {
				if !strings.Contains(c.Message, m) {
					t.Errorf("check %s message %q does not name %q", tc.check, c.Message, m)
				}
			}
			if tc.only {
				for _, other := range rep.Checks {
					if other.Name != tc.check && other.Status == Fail {
						t.Errorf("check %s fails too: %s", other.Name, other.Message)
					}
				}
			}
		})
	}
}

func TestCorruptions(t *testing.T) {
	fx := newEnvFixture(t, "one")
	base := writeEnvelope(t, fx.c, None)
	ms := parseMembers(t, base)
	if !bytes.Equal(assembleMembers(t, ms), base) {
		t.Fatalf("test bug: the assembler does not reproduce Write's envelope")
	}
	other := parseMembers(t, writeEnvelope(t, newEnvFixture(t, "two").c, None))

	flip := func(off int) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			b := bytes.Clone(base)
			b[off] ^= 0x01
			return b
		}
	}
	cut := func(n int) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return bytes.Clone(base[:n]) }
	}
	appendB := func(tail []byte) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return append(bytes.Clone(base), tail...) }
	}
	parts := func(f func() []tarMember) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return assembleMembers(t, f()) }
	}
	without := func(name string) []tarMember {
		var out []tarMember
		for _, m := range ms {
			if m.name != name {
				out = append(out, m)
			}
		}
		return out
	}
	swap := func(i, j int) []tarMember {
		out := append([]tarMember(nil), ms...)
		out[i], out[j] = out[j], out[i]
		return out
	}
	insert := func(at int, m tarMember) []tarMember {
		out := append([]tarMember(nil), ms[:at]...)
		out = append(out, m)
		return append(out, ms[at:]...)
	}
	metaWith := func(edit func(*Meta)) []byte {
		m := fx.c.Meta
		edit(&m)
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return append(b, '\n')
	}

	envM, layerM, splitM, sumsM := memberNamed(t, ms, MemberEnvelope), memberNamed(t, ms, MemberLayer), memberNamed(t, ms, MemberTarSplit), memberNamed(t, ms, MemberSums)
	// Where etc/hosts's contents stand inside layer.tar.
	lr := bytes.NewReader(layerM.data)
	ltr := tar.NewReader(lr)
	hostsOff := -1
	for {
		hdr, err := ltr.Next()
		if err != nil {
			t.Fatalf("test bug: no etc/hosts in layer: %v", err)
		}
		if hdr.Name == "etc/hosts" {
			hostsOff = layerM.dataOff + len(layerM.data) - lr.Len()
			break
		}
	}

	var cases []corruption
	// One byte flipped inside each member's data.
	for _, m := range ms {
		cases = append(cases, corruption{
			name:  "flip in " + m.name,
			env:   flip(m.dataOff + len(m.data)/2),
			check: CheckChecksums,
			msg:   []string{m.name},
		})
	}
	cases = append(cases, []corruption{
		{name: "flip in layer.tar's first header", env: flip(layerM.dataOff + 3), check: CheckLayer, msg: []string{MemberLayer}},
		{name: "flip in a file of layer.tar", env: flip(hostsOff + 2), check: CheckTarSplit, msg: []string{MemberTarSplit, MemberLayer}},
		{name: "flip in the first header", env: flip(envM.hdrOff + 2), check: CheckStructure, msg: []string{"at the start"}},
		{name: "flip in SHA256SUMS's header", env: flip(sumsM.hdrOff + 1), check: CheckStructure, msg: []string{MemberTarSplit}},

		// Cut short.
		{name: "cut to nothing", env: cut(0), check: CheckStructure, msg: []string{MemberEnvelope}},
		{name: "cut in the first header", env: cut(100), check: CheckStructure, msg: []string{"at the start"}},
		{name: "cut in envelope.json", env: cut(envM.dataOff + 10), check: CheckStructure, msg: []string{MemberEnvelope}},
		{name: "cut before container.json", env: cut(memberNamed(t, ms, MemberContainer).hdrOff), check: CheckStructure, msg: []string{MemberContainer}},
		{name: "cut in layer.tar's first block", env: cut(layerM.dataOff + 1), check: CheckStructure, msg: []string{MemberLayer}},
		{name: "cut in layer.tar", env: cut(layerM.dataOff + len(layerM.data)/2), check: CheckStructure, msg: []string{MemberLayer}},
		{name: "cut in layer.tar's end blocks", env: cut(layerM.dataOff + len(layerM.data) - 10), check: CheckStructure, msg: []string{MemberLayer}},
		{name: "cut in the tar-split", env: cut(splitM.dataOff + len(splitM.data)/2), check: CheckStructure, msg: []string{MemberTarSplit}},
		{name: "cut before SHA256SUMS", env: cut(sumsM.hdrOff), check: CheckStructure, msg: []string{MemberSums}},
		{name: "cut in SHA256SUMS", env: cut(sumsM.dataOff + 5), check: CheckStructure, msg: []string{MemberSums}},
		{name: "cut in the end blocks", env: cut(len(base) - 1), check: CheckStructure},
		{name: "cut after one end block", env: cut(len(base) - 512), check: CheckStructure},
		{name: "cut before the end blocks", env: cut(len(base) - 1024), check: CheckStructure},

		// After the end.
		{name: "garbage after the end", env: appendB([]byte("garbage")), check: CheckStructure, msg: []string{"after the tar's end"}},
		{name: "one byte after the end", env: appendB([]byte{1}), check: CheckStructure, msg: []string{"after the tar's end"}},
		{name: "garbage after zero padding", env: appendB(append(make([]byte, 100000), 'x')), check: CheckStructure, msg: []string{"after the tar's end"}},
		{name: "a second envelope after the end", env: appendB(base), check: CheckStructure, msg: []string{"after the tar's end"}},
		{name: "zero padding to a record", env: appendB(make([]byte, 10240-len(base)%10240)), valid: true},
		{name: "odd zero padding", env: appendB(make([]byte, 7)), valid: true},
		{name: "much zero padding", env: appendB(make([]byte, 100000)), valid: true},

		// Members.
		{name: "reassembled unchanged", env: parts(func() []tarMember { return ms }), valid: true},
		{name: "container.json and docker-info.json swapped", env: parts(func() []tarMember { return swap(1, 2) }), check: CheckStructure, msg: []string{MemberInfo, MemberContainer, "out of order"}},
		{name: "layer.tar and its tar-split swapped", env: parts(func() []tarMember { return swap(3, 4) }), check: CheckStructure, msg: []string{MemberTarSplit, MemberLayer}},
		{name: "SHA256SUMS first", env: parts(func() []tarMember { return swap(0, 5) }), check: CheckStructure, msg: []string{MemberSums}},
		{name: "duplicate container.json", env: parts(func() []tarMember { return insert(2, ms[1]) }), check: CheckStructure, msg: []string{MemberContainer}},
		{name: "duplicate envelope.json first", env: parts(func() []tarMember { return insert(0, ms[0]) }), check: CheckStructure, msg: []string{MemberEnvelope}},
		{name: "duplicate SHA256SUMS", env: parts(func() []tarMember { return insert(6, ms[5]) }), check: CheckStructure, msg: []string{MemberSums}},
		{name: "extra member at the end", env: parts(func() []tarMember { return insert(6, tarMember{name: "extra.txt", data: []byte("x")}) }), check: CheckStructure, msg: []string{"extra.txt"}},
		{name: "extra member in the middle", env: parts(func() []tarMember { return insert(3, tarMember{name: "notes.txt", data: []byte("x")}) }), check: CheckStructure, msg: []string{"notes.txt"}},
		{name: "extra member with a path", env: parts(func() []tarMember { return insert(0, tarMember{name: "./envelope.json", data: ms[0].data}) }), check: CheckStructure, msg: []string{"./envelope.json"}},
		{name: "docker-info.json a directory", env: parts(func() []tarMember {
			out := append([]tarMember(nil), ms...)
			out[2] = tarMember{name: MemberInfo, typ: tar.TypeDir}
			return out
		}), check: CheckStructure, msg: []string{MemberInfo}},
		{name: "layer.tar a symlink", env: parts(func() []tarMember {
			out := append([]tarMember(nil), ms...)
			out[3] = tarMember{name: MemberLayer, typ: tar.TypeSymlink}
			return out
		}), check: CheckStructure, msg: []string{MemberLayer}},
		{name: "container.json a hard link", env: parts(func() []tarMember {
			out := append([]tarMember(nil), ms...)
			out[1] = tarMember{name: MemberContainer, typ: tar.TypeLink}
			return out
		}), check: CheckStructure, msg: []string{MemberContainer}},
	}...)
	for i, name := range Members {
		cases = append(cases, corruption{
			name:  "without " + name,
			env:   parts(func() []tarMember { return without(Members[i]) }),
			check: CheckStructure,
			msg:   []string{name},
		})
	}

	// Contents, with SHA256SUMS made to match so that only the content
	// check speaks.
	resum := func(name string, data []byte) func(t *testing.T) []byte {
		return parts(func() []tarMember { return replaceMember(ms, name, data, true) })
	}
	cases = append(cases, []corruption{
		{name: "format v3", env: resum(MemberEnvelope, metaWith(func(m *Meta) { m.Format = "layer-tool.envelope/v3" })), check: CheckMetadata, msg: []string{MemberEnvelope, "v3"}, only: true},
		{name: "v1 with volumes", env: resum(MemberEnvelope, metaWith(func(m *Meta) { m.Omitted = []Omitted{{Type: "tmpfs", Destination: "/t", Reason: "r"}} })), check: CheckMetadata, msg: []string{MemberEnvelope, "omitted"}, only: true},
		{name: "envelope.json not JSON", env: resum(MemberEnvelope, []byte("{not json")), check: CheckMetadata, msg: []string{MemberEnvelope}, only: true},
		{name: "envelope.json an array", env: resum(MemberEnvelope, []byte(`[{"format":"layer-tool.envelope/v1"}]`)), check: CheckMetadata, msg: []string{MemberEnvelope}, only: true},
		{name: "envelope.json without container id", env: resum(MemberEnvelope, metaWith(func(m *Meta) { m.Container.ID = "" })), check: CheckMetadata, msg: []string{MemberEnvelope, "container.id"}, only: true},
		{name: "envelope.json with a wrong field type", env: resum(MemberEnvelope, bytes.Replace(metaWith(func(*Meta) {}), []byte(`"entries": 6`), []byte(`"entries": "6"`), 1)), check: CheckMetadata, msg: []string{MemberEnvelope}, only: true},
		{name: "container.json not JSON", env: resum(MemberContainer, []byte("nope")), check: CheckMetadata, msg: []string{MemberContainer}, only: true},
		{name: "docker-info.json empty", env: resum(MemberInfo, nil), check: CheckMetadata, msg: []string{MemberInfo}, only: true},
		{name: "docker-info.json a string", env: resum(MemberInfo, []byte(`"info"`)), check: CheckMetadata, msg: []string{MemberInfo}, only: true},
		{name: "layer.size wrong", env: resum(MemberEnvelope, metaWith(func(m *Meta) { m.Layer.Size++ })), check: CheckStructure, msg: []string{MemberLayer, MemberEnvelope}, only: true},
		{name: "layer.entries wrong", env: resum(MemberEnvelope, metaWith(func(m *Meta) { m.Layer.Entries-- })), check: CheckLayer, msg: []string{MemberLayer, MemberEnvelope}, only: true},
		{name: "tar-split of another layer", env: resum(MemberTarSplit, memberNamed(t, other, MemberTarSplit).data), check: CheckTarSplit, msg: []string{MemberTarSplit, MemberLayer}, only: true},
		{name: "tar-split with a renamed file", env: resum(MemberTarSplit, renameInTarSplit(t, splitM.data, "etc/hosts", "etc/hostz")), check: CheckTarSplit, msg: []string{MemberTarSplit}, only: true},
		{name: "tar-split not gzip", env: resum(MemberTarSplit, []byte("hello")), check: CheckTarSplit, msg: []string{MemberTarSplit}, only: true},
		{name: "tar-split empty gzip", env: resum(MemberTarSplit, gzipBytes(t, nil)), check: CheckTarSplit, msg: []string{MemberTarSplit}, only: true},
		{name: "tar-split not JSON", env: resum(MemberTarSplit, gzipBytes(t, []byte("{\n"))), check: CheckTarSplit, msg: []string{MemberTarSplit}, only: true},
		{name: "layer.tar not a tar", env: func(t *testing.T) []byte {
			junk := bytes.Repeat([]byte("junk"), len(layerM.data)/4)
			return assembleMembers(t, replaceMember(replaceMember(ms, MemberLayer, junk, false), MemberEnvelope, metaWith(func(m *Meta) { m.Layer.Size = int64(len(junk)) }), true))
		}, check: CheckLayer, msg: []string{MemberLayer}, only: true},
		{name: "layer with an unsafe name", env: func(t *testing.T) []byte {
			return envelopeOf(t, handLayer(t, &tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644}))
		}, check: CheckLayer, msg: []string{MemberLayer, "../evil"}, only: true},
		{name: "layer with a hard link to a later entry", env: func(t *testing.T) []byte {
			return envelopeOf(t, handLayer(t, &tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a"}, &tar.Header{Name: "a", Typeflag: tar.TypeReg}))
		}, check: CheckLayer, msg: []string{MemberLayer, `"b"`, "no earlier entry"}, only: true},
		{name: "layer with a char 0:0", env: func(t *testing.T) []byte {
			return envelopeOf(t, handLayer(t, &tar.Header{Name: "c", Typeflag: tar.TypeChar}))
		}, check: CheckLayer, msg: []string{MemberLayer}, only: true},
		{name: "hand-made valid layer", env: func(t *testing.T) []byte {
			return envelopeOf(t, handLayer(t, &tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}, &tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Size: 5, Mode: 0o644}))
		}, valid: true},
	}...)

	// SHA256SUMS itself.
	goodSums := string(sumsM.data)
	lines := strings.SplitAfter(strings.TrimSuffix(goodSums, "\n"), "\n")
	sumsCase := func(name, sums string, msg ...string) corruption {
		return corruption{name: name, env: parts(func() []tarMember { return replaceMember(ms, MemberSums, []byte(sums), false) }), check: CheckChecksums, msg: msg, only: true}
	}
	cases = append(cases, []corruption{
		sumsCase("SHA256SUMS without its last line", strings.Join(lines[:4], ""), MemberSums),
		sumsCase("SHA256SUMS with a line more", goodSums+goodSums[:len(lines[0])], MemberSums),
		sumsCase("SHA256SUMS with lines swapped", lines[1]+lines[0]+strings.Join(lines[2:], ""), MemberSums),
		sumsCase("SHA256SUMS with one space", strings.Replace(goodSums, "  ", " ", 1), MemberSums),
		sumsCase("SHA256SUMS with a short digest", goodSums[1:], MemberSums),
		sumsCase("SHA256SUMS empty", "", MemberSums),
		sumsCase("SHA256SUMS with a blank line", goodSums+"\n", MemberSums),
		sumsCase("SHA256SUMS with a wrong digest", strings.Replace(goodSums, sha256Hex(layerM.data), sha256Hex(nil), 1), MemberLayer, ErrDigestMismatch.Error()),
	}...)
	runCorruptions(t, cases)
}

func TestCompressedCorruptions(t *testing.T) {
	fx := newEnvFixture(t, "one")
	gz := writeEnvelope(t, fx.c, Gzip)
	zs := writeEnvelope(t, fx.c, Zstd)
	plain := writeEnvelope(t, fx.c, None)
	cat := func(parts ...[]byte) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return bytes.Join(parts, nil) }
	}
	// A zstd skippable frame: magic 0x184D2A50, little endian, a length and
	// that many bytes.
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 'j', 'u', 'n', 'k'}
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*131 + i/7 + 3)
	}
	runCorruptions(t, []corruption{
		{name: "gzip", env: cat(gz), valid: true},
		{name: "zstd", env: cat(zs), valid: true},
		{name: "gzip of a zero-padded tar", env: cat(gzipBytes(t, append(bytes.Clone(plain), make([]byte, 4096)...))), valid: true},
		{name: "zstd of a zero-padded tar", env: cat(zstdBytes(t, append(bytes.Clone(plain), make([]byte, 4096)...))), valid: true},
		{name: "gzip of a tar without its end blocks", env: cat(gzipBytes(t, plain[:len(plain)-1024])), check: CheckStructure},
		{name: "zstd of a tar without its end blocks", env: cat(zstdBytes(t, plain[:len(plain)-1024])), check: CheckStructure},
		{name: "gzip with a second member", env: cat(gz, gzipBytes(t, []byte("hello"))), check: CheckStructure, msg: []string{"after the end"}},
		{name: "gzip with a second member of zeros", env: cat(gz, gzipBytes(t, make([]byte, 1024))), check: CheckStructure, msg: []string{"after the end"}},
		{name: "gzip with an empty second member", env: cat(gz, gzipBytes(t, nil)), check: CheckStructure, msg: []string{"after the end"}},
		{name: "gzip with garbage after", env: cat(gz, []byte("garbage")), check: CheckStructure, msg: []string{"after the end"}},
		{name: "gzip with zeros after", env: cat(gz, make([]byte, 512)), check: CheckStructure, msg: []string{"after the end"}},
		{name: "gzip cut short", env: cat(gz[:len(gz)/2]), check: CheckStructure},
		{name: "gzip without its trailer", env: cat(gz[:len(gz)-4]), check: CheckStructure},
		{name: "gzip with a bad CRC", env: func(t *testing.T) []byte { b := bytes.Clone(gz); b[len(b)-6] ^= 0xff; return b }, check: CheckStructure},
		{name: "gzip magic then garbage", env: cat([]byte{0x1f, 0x8b}, random), check: CheckStructure, msg: []string{"gzip"}},
		{name: "zstd with garbage after", env: cat(zs, []byte("garbage")), check: CheckStructure},
		{name: "zstd with a second frame", env: cat(zs, zstdBytes(t, []byte("hello"))), check: CheckStructure},
		{name: "zstd with a second frame of zeros", env: cat(zs, zstdBytes(t, make([]byte, 1024))), check: CheckStructure},
		{name: "zstd with a skippable frame after", env: cat(zs, skippable), check: CheckStructure},
		{name: "zstd with zeros after", env: cat(zs, make([]byte, 512)), check: CheckStructure},
		{name: "zstd cut short", env: cat(zs[:len(zs)/2]), check: CheckStructure},
		{name: "zstd magic then garbage", env: cat([]byte{0x28, 0xb5, 0x2f, 0xfd}, random), check: CheckStructure},
		{name: "random bytes", env: cat(random), check: CheckStructure},
		{name: "empty", env: cat(nil), check: CheckStructure, msg: []string{MemberEnvelope}},
	})
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestVerifyReadError(t *testing.T) {
	fx := newEnvFixture(t, "one")
	errIO := errors.New("disk on fire")
	for _, comp := range []Compression{None, Gzip, Zstd} {
		t.Run(string(comp), func(t *testing.T) {
			env := writeEnvelope(t, fx.c, comp)
			// A reader that fails is no finding about the envelope: Verify
			// returns its error, not a report.
			for _, n := range []int{0, len(env) / 2} {
				rep, err := Verify(context.Background(), &failingReader{data: env[:n], err: errIO})
				if !errors.Is(err, errIO) || rep != nil {
					t.Fatalf("after %d bytes: Verify = %v, %v; want no report and an error wrapping %v", n, rep, err, errIO)
				}
			}
		})
	}
}

func TestVerifyCanceled(t *testing.T) {
	fx := newEnvFixture(t, "one")
	env := writeEnvelope(t, fx.c, None)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Verify(ctx, bytes.NewReader(env))
	if !errors.Is(err, context.Canceled) || rep != nil {
		t.Errorf("canceled Verify = %v, %v; want no report and context.Canceled", rep, err)
	}
}

func TestReader(t *testing.T) {
	fx := newEnvFixture(t, "one")
	plain := writeEnvelope(t, fx.c, None)
	ms := parseMembers(t, plain)

	t.Run("members and digests", func(t *testing.T) {
		for _, comp := range []Compression{None, Gzip, Zstd} {
			r, err := NewReader(bytes.NewReader(writeEnvelope(t, fx.c, comp)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Compression != comp {
				t.Errorf("compression %s, want %s", r.Compression, comp)
			}
			for i := 0; ; i++ {
				m, err := r.Next()
				if err == io.EOF {
					if i != len(ms) {
						t.Errorf("%s: %d members", comp, i)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				// Read only part of envelope.json: Next must skip the rest.
				if i == 0 {
					m.Read(make([]byte, 3))
					continue
				}
				if _, err := io.Copy(io.Discard, m); err != nil {
					t.Fatal(err)
				}
				if m.Name != ms[i].name || m.Size != int64(len(ms[i].data)) || m.Digest() != sha256Hex(ms[i].data) {
					t.Errorf("%s: member %d: %s %d %s, want %s %d %s", comp, i, m.Name, m.Size, m.Digest(), ms[i].name, len(ms[i].data), sha256Hex(ms[i].data))
				}
			}
			if err := r.Close(); err != nil {
				t.Errorf("%s: Close = %v", comp, err)
			}
		}
	})

	t.Run("cut member", func(t *testing.T) {
		layer := memberNamed(t, ms, MemberLayer)
		r, err := NewReader(bytes.NewReader(plain[:layer.dataOff+100]))
		if err != nil {
			t.Fatal(err)
		}
		var last error
		for {
			m, err := r.Next()
			if err != nil {
				last = err
				break
			}
			if _, err := io.Copy(io.Discard, m); err != nil {
				last = err
				if !strings.Contains(err.Error(), MemberLayer) {
					t.Errorf("error %q does not name %s", err, MemberLayer)
				}
				break
			}
		}
		if !errors.Is(last, ErrStructure) {
			t.Errorf("cut envelope: %v, want ErrStructure", last)
		}
	})

	t.Run("directory member", func(t *testing.T) {
		out := append([]tarMember(nil), ms...)
		out[0] = tarMember{name: MemberEnvelope, typ: tar.TypeDir}
		r, err := NewReader(bytes.NewReader(assembleMembers(t, out)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); !errors.Is(err, ErrStructure) {
			t.Errorf("Next = %v, want ErrStructure", err)
		}
	})

	for _, tc := range []struct {
		name    string
		env     []byte
		newErr  error
		closeEr []error
	}{
		{"gzip magic, bad header", []byte{0x1f, 0x8b, 0, 0, 0}, ErrStructure, nil},
		{"trailing garbage", append(bytes.Clone(plain), 'x'), nil, []error{ErrStructure, ErrTrailingData}},
		{"gzip, trailing member", append(writeEnvelope(t, fx.c, Gzip), gzipBytes(t, nil)...), nil, []error{ErrStructure, ErrTrailingData}},
		{"gzip, trailing zeros", append(writeEnvelope(t, fx.c, Gzip), 0, 0), nil, []error{ErrStructure, ErrTrailingData}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.env))
			if tc.newErr != nil {
				if !errors.Is(err, tc.newErr) {
					t.Errorf("NewReader = %v, want %v", err, tc.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := r.Next(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			err = r.Close()
			for _, want := range tc.closeEr {
				if !errors.Is(err, want) {
					t.Errorf("Close = %v, want %v", err, want)
				}
			}
		})
	}
}

func TestParseCompression(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Compression
		ok   bool
	}{
		{"none", None, true},
		{"gzip", Gzip, true},
		{"zstd", Zstd, true},
		{"", "", false},
		{"GZIP", "", false},
		{"gz", "", false},
		{"xz", "", false},
		{"zstd ", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCompression(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseCompression(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestDecompressMagic(t *testing.T) {
	payload := []byte("a tar would be here, but any bytes will do")
	for _, tc := range []struct {
		name string
		in   []byte
		want Compression
		ok   bool
		out  []byte // nil: reading must fail
	}{
		{"gzip", gzipBytes(t, payload), Gzip, true, payload},
		{"zstd", zstdBytes(t, payload), Zstd, true, payload},
		{"plain", payload, None, true, payload},
		{"empty", nil, None, true, []byte{}},
		{"one gzip byte", []byte{0x1f}, None, true, []byte{0x1f}},
		{"three zstd bytes", []byte{0x28, 0xb5, 0x2f}, None, true, []byte{0x28, 0xb5, 0x2f}},
		{"gzip magic, garbage", []byte{0x1f, 0x8b, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!', '!'}, "", false, nil},
		{"zstd magic, garbage", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, bytes.Repeat([]byte{0xff}, 64)...), Zstd, true, nil},
		{"reversed zstd magic", []byte{0xfd, 0x2f, 0xb5, 0x28, 0}, None, true, []byte{0xfd, 0x2f, 0xb5, 0x28, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decompress(bytes.NewReader(tc.in))
			if !tc.ok {
				if err == nil {
					t.Errorf("decompress succeeded on %q", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("decompress: %v", err)
			}
			if d.compression != tc.want {
				t.Errorf("compression %q, want %q", d.compression, tc.want)
			}
			out, err := io.ReadAll(d)
			if tc.out == nil {
				if err == nil {
					t.Errorf("reading garbage succeeded: %q", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(out, tc.out) {
				t.Errorf("read %q, want %q", out, tc.out)
			}
			if err := d.finish(); err != nil {
				t.Errorf("finish: %v", err)
			}
		})
	}

	t.Run("gzip trailing data", func(t *testing.T) {
		d, err := decompress(bytes.NewReader(append(gzipBytes(t, payload), gzipBytes(t, payload)...)))
		if err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(d)
		if err != nil || !bytes.Equal(out, payload) {
			t.Fatalf("read %q, %v: want only the first member", out, err)
		}
		if err := d.finish(); !errors.Is(err, ErrTrailingData) {
			t.Errorf("finish = %v, want ErrTrailingData", err)
		}
	})
}

func TestCompressorRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte("layer-tool "), 1000)
	for _, tc := range []struct {
		c     Compression
		level int
		ok    bool
	}{
		{None, 0, true},
		{"", 0, true},
		{Gzip, 0, true},
		{Gzip, 1, true},
		{Gzip, 9, true},
		{Gzip, 10, false},
		{Zstd, 0, true},
		{Zstd, 1, true},
		{Zstd, 22, true},
		{Zstd, 23, false},
		{"bzip2", 0, false},
	} {
		t.Run(fmt.Sprintf("%s_%d", tc.c, tc.level), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := compressor(&buf, tc.c, tc.level)
			if !tc.ok {
				if err == nil {
					t.Errorf("compressor accepted %s level %d", tc.c, tc.level)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w.Write(payload)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			d, err := decompress(&buf)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.c
			if want == "" {
				want = None
			}
			if d.compression != want {
				t.Errorf("detected %q, want %q", d.compression, want)
			}
			out, err := io.ReadAll(d)
			if err != nil || !bytes.Equal(out, payload) {
				t.Errorf("round trip: %d bytes, %v", len(out), err)
			}
		})
	}
}
