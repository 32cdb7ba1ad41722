package overlay_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// ---------------------------------------------------------------------------
// Fixture helpers

// fx builds an upper directory by hand, failing the test on any error.
type fx struct {
	t    *testing.T
	root string
}

func newFx(t *testing.T) *fx {
	t.Helper()
	return &fx{t: t, root: t.TempDir()}
}

func (f *fx) p(rel string) string { return filepath.Join(f.root, rel) }

func (f *fx) check(what string, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("fixture: %s: %v", what, err)
	}
}

func (f *fx) dir(rel string, mode uint32) {
	f.t.Helper()
	f.check("mkdir "+rel, os.Mkdir(f.p(rel), 0o700))
	f.chmod(rel, mode)
}

func (f *fx) file(rel string, mode uint32, data []byte) {
	f.t.Helper()
	f.check("write "+rel, os.WriteFile(f.p(rel), data, 0o600))
	f.chmod(rel, mode)
}

func (f *fx) symlink(rel, target string) {
	f.t.Helper()
	f.check("symlink "+rel, os.Symlink(target, f.p(rel)))
}

func (f *fx) link(existing, rel string) {
	f.t.Helper()
	f.check("link "+rel, unix.Link(f.p(existing), f.p(rel)))
}

func (f *fx) mknod(rel string, kind, mode uint32, major, minor uint32) {
	f.t.Helper()
	f.check("mknod "+rel, unix.Mknod(f.p(rel), kind|0o600, int(unix.Mkdev(major, minor))))
	f.chmod(rel, mode)
}

func (f *fx) whiteout(rel string, mode uint32) {
	f.t.Helper()
	f.check("mknod whiteout "+rel, unix.Mknod(f.p(rel), unix.S_IFCHR, 0))
	f.chmod(rel, mode)
}

func (f *fx) fifo(rel string, mode uint32) {
	f.t.Helper()
	f.check("mkfifo "+rel, unix.Mkfifo(f.p(rel), 0o600))
	f.chmod(rel, mode)
}

// chmod uses fchmodat so that setuid, setgid and sticky bits are set
// exactly, whatever the umask.
func (f *fx) chmod(rel string, mode uint32) {
	f.t.Helper()
	f.check("chmod "+rel, unix.Fchmodat(unix.AT_FDCWD, f.p(rel), mode, 0))
}

// chown must come before chmod of setuid/setgid files and before
// security.capability: the kernel clears those on chown.
func (f *fx) chown(rel string, uid, gid int) {
	f.t.Helper()
	f.check("lchown "+rel, os.Lchown(f.p(rel), uid, gid))
}

func (f *fx) xattr(rel, name, value string) {
	f.t.Helper()
	f.check("setxattr "+name+" on "+rel, unix.Lsetxattr(f.p(rel), name, []byte(value), 0))
}

func (f *fx) times(rel string, atime, mtime time.Time) {
	f.t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	f.check("utimensat "+rel, unix.UtimesNanoAt(unix.AT_FDCWD, f.p(rel), ts, unix.AT_SYMLINK_NOFOLLOW))
}

// requireXattr skips the test if the file system under dir refuses an
// extended attribute of the given name (trusted.* needs CAP_SYS_ADMIN and
// a file system that supports it).
func requireXattr(t *testing.T, dir, name string) {
	t.Helper()
	probe := filepath.Join(dir, ".xattr-probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(probe)
	if err := unix.Lsetxattr(probe, name, []byte("y"), 0); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EACCES) {
			t.Skipf("file system under %s refuses xattr %s: %v", dir, name, err)
		}
		t.Fatalf("probe xattr %s: %v", name, err)
	}
}

// mt gives entry i of a fixture a distinct mtime with nanoseconds.
func mt(i int) time.Time {
	return time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC).Add(time.Duration(i) * time.Hour).Add(time.Duration(100000*i+123457) * time.Nanosecond)
}

var atime = time.Date(2030, 1, 1, 0, 0, 0, 987654321, time.UTC)

// pattern gives n bytes of non-zero, non-repeating-per-MiB data.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) | 1
	}
	return b
}

// A v2 security.capability value: cap_net_bind_service, effective.
var capValue = string([]byte{
	0x01, 0x00, 0x00, 0x02, // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	0x00, 0x04, 0x00, 0x00, // permitted[0]: bit 10
	0x00, 0x00, 0x00, 0x00, // inheritable[0]
	0x00, 0x00, 0x00, 0x00, // permitted[1]
	0x00, 0x00, 0x00, 0x00, // inheritable[1]
})

// wantEntry is what one entry of the canonical tar must look like.
type wantEntry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	size     int64
	link     string
	major    int64
	minor    int64
	xattrs   map[string]string
	mtime    time.Time
	data     []byte
}

var (
	name150 = strings.Repeat("f", 150)
	dir200  = strings.Repeat("d", 200)
	file200 = strings.Repeat("g", 200)
	bigData = pattern(5<<19 + 7) // 2.5 MiB + 7: three reads of the copy buffer
	nonUTF8 = "x\xff"
)

// buildRich makes the rich upper directory and returns it with the exact
// sequence of entries its canonical tar must hold.
func buildRich(t *testing.T) (string, []wantEntry) {
	t.Helper()
	f := newFx(t)
	requireXattr(t, f.root, "trusted.overlay.probe")
	requireXattr(t, f.root, "user.probe")

	// Regular files.
	f.file("big", 0o644, bigData)
	f.chown("big", 1000, 1001)
	f.xattr("big", "trusted.other", "kept")

	f.chown(".", 0, 0)
	f.file("caps", 0o644, []byte("cap"))
	f.chown("caps", 0, 0)
	f.chmod("caps", 0o755)
	f.xattr("caps", "security.capability", capValue)
	f.xattr("caps", "user.mime_type", "text/plain")
	f.xattr("caps", "trusted.overlay.origin", "\x00\xfb\x21\x01\x00")

	// Devices and a fifo.
	f.mknod("blk", unix.S_IFBLK, 0o660, 8, 1)
	f.chown("blk", 0, 6)
	f.chmod("blk", 0o660)
	f.mknod("chr", unix.S_IFCHR, 0o666, 1, 3)
	f.fifo("fifo", 0o640)
	f.chown("fifo", 33, 34)
	f.chmod("fifo", 0o640)

	// Nested directories, an opaque one.
	f.dir("dir", 0o755)
	f.dir("dir/nested", 0o750)
	f.chown("dir/nested", 5, 6)
	f.chmod("dir/nested", 0o2750)
	f.file("dir/nested/deep.txt", 0o600, []byte("deep\n"))
	f.chown("dir/nested/deep.txt", 5, 6)
	f.dir("dir/opq", 0o750)
	f.chown("dir/opq", 11, 12)
	f.chmod("dir/opq", 0o750)
	f.xattr("dir/opq", "trusted.overlay.opaque", "y")
	f.xattr("dir/opq", "trusted.overlay.origin", "\x00\xfb\x21\x01\x00")
	f.xattr("dir/opq", "user.note", "opq")
	f.file("dir/opq/#first", 0o644, []byte("sorts before the marker's name"))
	f.file("dir/opq/kept", 0o644, []byte("kept"))

	// A whiteout, and a second name for the same whiteout inode.
	f.whiteout("gone", 0o600)
	f.chown("gone", 7, 8)
	f.chmod("gone", 0o600)
	f.dir("sub", 0o755)
	f.link("gone", "sub/removed")

	// A hard link pair.
	f.file("hard1", 0o640, []byte("linked"))
	f.chown("hard1", 3, 4)
	f.chmod("hard1", 0o640)
	f.link("hard1", "hard2")

	// A directory with other overlay attributes, which are dropped.
	f.dir("impure", 0o755)
	f.xattr("impure", "trusted.overlay.impure", "y")
	f.xattr("impure", "trusted.overlay.origin", "\x00\xfb")
	f.xattr("impure", "user.comment", "hello")

	// Long names.
	f.dir("long", 0o755)
	f.file("long/"+name150, 0o644, []byte("150"))
	f.dir("long/"+dir200, 0o755)
	f.file("long/"+dir200+"/"+file200, 0o644, []byte("406"))

	// Special modes.
	f.file("sgid", 0o755, []byte("sgid"))
	f.chown("sgid", 0, 50)
	f.chmod("sgid", 0o2755)
	f.dir("sticky", 0o755)
	f.chmod("sticky", 0o1777)
	f.file("suid", 0o755, []byte("suid"))
	f.chmod("suid", 0o4755)

	// A socket: skipped.
	f.check("mknod sock", unix.Mknod(f.p("sock"), unix.S_IFSOCK|0o644, 0))

	// Symlinks, never followed.
	f.symlink("symabs", "/etc")
	f.chown("symabs", 42, 43)
	f.symlink("symrel", "../dir/nested")

	// A name that is not UTF-8.
	f.file(nonUTF8, 0o644, []byte("\xff"))

	// Times last: creating entries changes their directory's mtime.
	stamps := []string{
		"big", "blk", "caps", "chr", "dir", "dir/nested", "dir/nested/deep.txt",
		"dir/opq", "dir/opq/#first", "dir/opq/kept", "fifo", "gone", "hard1",
		"impure", "long", "long/" + name150, "long/" + dir200,
		"long/" + dir200 + "/" + file200, "sgid", "sticky", "sub", "suid",
		"symabs", "symrel", nonUTF8, "sock",
	}
	mtimes := map[string]time.Time{}
	for i, rel := range stamps {
		f.times(rel, atime, mt(i))
		mtimes[rel] = mt(i)
	}
	m := func(rel string) time.Time { return mtimes[rel] }

	want := []wantEntry{
		{name: "big", typ: tar.TypeReg, mode: 0o644, uid: 1000, gid: 1001, size: int64(len(bigData)), xattrs: map[string]string{"trusted.other": "kept"}, mtime: m("big"), data: bigData},
		{name: "blk", typ: tar.TypeBlock, mode: 0o660, uid: 0, gid: 6, major: 8, minor: 1, mtime: m("blk")},
		{name: "caps", typ: tar.TypeReg, mode: 0o755, size: 3, xattrs: map[string]string{"security.capability": capValue, "user.mime_type": "text/plain"}, mtime: m("caps"), data: []byte("cap")},
		{name: "chr", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3, mtime: m("chr")},
		{name: "dir/", typ: tar.TypeDir, mode: 0o755, mtime: m("dir")},
		{name: "dir/nested/", typ: tar.TypeDir, mode: 0o2750, uid: 5, gid: 6, mtime: m("dir/nested")},
		{name: "dir/nested/deep.txt", typ: tar.TypeReg, mode: 0o600, uid: 5, gid: 6, size: 5, mtime: m("dir/nested/deep.txt"), data: []byte("deep\n")},
		{name: "dir/opq/", typ: tar.TypeDir, mode: 0o750, uid: 11, gid: 12, xattrs: map[string]string{"user.note": "opq"}, mtime: m("dir/opq")},
		{name: "dir/opq/.wh..wh..opq", typ: tar.TypeReg, mode: 0o750, uid: 11, gid: 12, mtime: m("dir/opq")},
		{name: "dir/opq/#first", typ: tar.TypeReg, mode: 0o644, size: 30, mtime: m("dir/opq/#first"), data: []byte("sorts before the marker's name")},
		{name: "dir/opq/kept", typ: tar.TypeReg, mode: 0o644, size: 4, mtime: m("dir/opq/kept"), data: []byte("kept")},
		{name: "fifo", typ: tar.TypeFifo, mode: 0o640, uid: 33, gid: 34, mtime: m("fifo")},
		{name: ".wh.gone", typ: tar.TypeReg, mode: 0o600, uid: 7, gid: 8, mtime: m("gone")},
		{name: "hard1", typ: tar.TypeReg, mode: 0o640, uid: 3, gid: 4, size: 6, mtime: m("hard1"), data: []byte("linked")},
		{name: "hard2", typ: tar.TypeLink, mode: 0o640, uid: 3, gid: 4, link: "hard1", mtime: m("hard1")},
		{name: "impure/", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{"user.comment": "hello"}, mtime: m("impure")},
		{name: "long/", typ: tar.TypeDir, mode: 0o755, mtime: m("long")},
		{name: "long/" + dir200 + "/", typ: tar.TypeDir, mode: 0o755, mtime: m("long/" + dir200)},
		{name: "long/" + dir200 + "/" + file200, typ: tar.TypeReg, mode: 0o644, size: 3, mtime: m("long/" + dir200 + "/" + file200), data: []byte("406")},
		{name: "long/" + name150, typ: tar.TypeReg, mode: 0o644, size: 3, mtime: m("long/" + name150), data: []byte("150")},
		{name: "sgid", typ: tar.TypeReg, mode: 0o2755, gid: 50, size: 4, mtime: m("sgid"), data: []byte("sgid")},
		{name: "sticky/", typ: tar.TypeDir, mode: 0o1777, mtime: m("sticky")},
		{name: "sub/", typ: tar.TypeDir, mode: 0o755, mtime: m("sub")},
		{name: "sub/.wh.removed", typ: tar.TypeReg, mode: 0o600, uid: 7, gid: 8, mtime: m("gone")},
		{name: "suid", typ: tar.TypeReg, mode: 0o4755, size: 4, mtime: m("suid"), data: []byte("suid")},
		{name: "symabs", typ: tar.TypeSymlink, mode: 0o777, uid: 42, gid: 43, link: "/etc", mtime: m("symabs")},
		{name: "symrel", typ: tar.TypeSymlink, mode: 0o777, link: "../dir/nested", mtime: m("symrel")},
		{name: nonUTF8, typ: tar.TypeReg, mode: 0o644, size: 1, mtime: m(nonUTF8), data: []byte("\xff")},
	}
	return f.root, want
}

// readLayer reads a tar fully, returning its headers and the contents of
// its regular files.
func readLayer(t *testing.T, b []byte) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var hdrs []*tar.Header
	data := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read back layer: entry %d: %v", len(hdrs)+1, err)
		}
		hdrs = append(hdrs, hdr)
		d, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read back %q: %v", hdr.Name, err)
		}
		data[hdr.Name] = d
	}
	return hdrs, data
}

func xattrsOf(hdr *tar.Header) map[string]string {
	m := map[string]string{}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			m[name] = v
		}
	}
	return m
}

func names(hdrs []*tar.Header) []string {
	var out []string
	for _, h := range hdrs {
		out = append(out, h.Name)
	}
	return out
}

func writeLayer(t *testing.T, root string, opts overlay.Options) ([]byte, overlay.Plan) {
	t.Helper()
	var buf bytes.Buffer
	plan, err := overlay.Write(context.Background(), root, &buf, opts)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), plan
}

// rawHeader is one header block as it stands in the tar stream.
type rawHeader struct {
	off  int
	name string
	typ  byte
	size int64
}

// rawHeaders walks the header blocks of a tar without interpreting PAX.
func rawHeaders(t *testing.T, b []byte) (hdrs []rawHeader, end int) {
	t.Helper()
	off := 0
	for {
		if off+512 > len(b) {
			t.Fatalf("raw tar: cut at %d", off)
		}
		blk := b[off : off+512]
		if bytes.Equal(blk, make([]byte, 512)) {
			return hdrs, off
		}
		name := string(bytes.TrimRight(blk[:100], "\x00"))
		sizeField := strings.TrimRight(strings.TrimSpace(string(bytes.TrimRight(blk[124:136], "\x00"))), "\x00")
		size, err := strconv.ParseInt(sizeField, 8, 64)
		if err != nil {
			t.Fatalf("raw tar: size field %q at %d: %v", sizeField, off, err)
		}
		hdrs = append(hdrs, rawHeader{off: off, name: name, typ: blk[156], size: size})
		off += 512 + int((size+511)/512*512)
	}
}

// ---------------------------------------------------------------------------
// Tests

func TestWriteRichFixture(t *testing.T) {
	root, want := buildRich(t)
	var warnings []string
	opts := overlay.Options{Warn: func(msg string) { warnings = append(warnings, msg) }}
	out, plan := writeLayer(t, root, opts)
	hdrs, data := readLayer(t, out)

	// The exact sequence of names first: it is the most telling failure.
	var wantNames []string
	for _, w := range want {
		wantNames = append(wantNames, w.name)
	}
	if got := names(hdrs); strings.Join(got, "\n") != strings.Join(wantNames, "\n") {
		t.Fatalf("entry names:\n got %q\nwant %q", got, wantNames)
	}

	for i, w := range want {
		h := hdrs[i]
		t.Run(fmt.Sprintf("%02d_%.40s", i, strings.ReplaceAll(w.name, "/", "|")), func(t *testing.T) {
			if h.Typeflag != w.typ {
				t.Errorf("typeflag %q, want %q", h.Typeflag, w.typ)
			}
			if h.Mode != w.mode {
				t.Errorf("mode %#o, want %#o", h.Mode, w.mode)
			}
			if h.Uid != w.uid || h.Gid != w.gid {
				t.Errorf("owner %d:%d, want %d:%d", h.Uid, h.Gid, w.uid, w.gid)
			}
			if h.Uname != "" || h.Gname != "" {
				t.Errorf("uname/gname %q/%q, want empty", h.Uname, h.Gname)
			}
			if h.Size != w.size {
				t.Errorf("size %d, want %d", h.Size, w.size)
			}
			if h.Linkname != w.link {
				t.Errorf("linkname %q, want %q", h.Linkname, w.link)
			}
			if w.typ == tar.TypeChar || w.typ == tar.TypeBlock {
				if h.Devmajor != w.major || h.Devminor != w.minor {
					t.Errorf("device %d:%d, want %d:%d", h.Devmajor, h.Devminor, w.major, w.minor)
				}
			}
			if !h.ModTime.Equal(w.mtime) {
				t.Errorf("mtime %s, want %s", h.ModTime.Format(time.RFC3339Nano), w.mtime.Format(time.RFC3339Nano))
			}
			if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
				t.Errorf("atime %v, ctime %v: want both zero", h.AccessTime, h.ChangeTime)
			}
			for _, k := range []string{"atime", "ctime"} {
				if _, ok := h.PAXRecords[k]; ok {
					t.Errorf("PAX record %s present", k)
				}
			}
			if h.Format != tar.FormatPAX {
				t.Errorf("format %v, want PAX", h.Format)
			}
			got := xattrsOf(h)
			if len(got) != len(w.xattrs) {
				t.Errorf("xattrs %q, want %q", got, w.xattrs)
			}
			for k, v := range w.xattrs {
				if got[k] != v {
					t.Errorf("xattr %s = %q, want %q (all: %q)", k, got[k], v, got)
				}
			}
			if w.typ == tar.TypeReg && !bytes.Equal(data[h.Name], w.data) {
				t.Errorf("contents differ: %d bytes, want %d", len(data[h.Name]), len(w.data))
			}
		})
	}

	if len(warnings) != 1 || !strings.Contains(warnings[0], "sock") {
		t.Errorf("Warn calls %q, want one naming the socket", warnings)
	}
	if plan.Size != int64(len(out)) {
		t.Errorf("plan size %d, wrote %d bytes", plan.Size, len(out))
	}
	if plan.Stats.Entries != int64(len(want)) {
		t.Errorf("plan counts %d entries, tar has %d", plan.Stats.Entries, len(want))
	}

	// PAX headers are named after a fixed "PaxHeaders.0", never a pid, and
	// there is no global header.
	raw, end := rawHeaders(t, out)
	sawPax := false
	pid := regexp.MustCompile(`PaxHeaders\.[0-9]*[1-9]`)
	for _, r := range raw {
		switch r.typ {
		case tar.TypeXGlobalHeader:
			t.Errorf("global PAX header %q at %d", r.name, r.off)
		case tar.TypeXHeader:
			if strings.Contains(r.name, "PaxHeaders.0/") {
				sawPax = true
			}
			if pid.MatchString(r.name) {
				t.Errorf("PAX header named %q", r.name)
			}
		}
	}
	if !sawPax {
		t.Errorf("no PAX header named PaxHeaders.0/NAME")
	}
	if len(out)-end != 1024 || !bytes.Equal(out[end:], make([]byte, 1024)) {
		t.Errorf("tar ends with %d bytes after the last entry, want two zero blocks", len(out)-end)
	}
}

func TestWriteMatchesValidator(t *testing.T) {
	root, _ := buildRich(t)
	out, plan := writeLayer(t, root, overlay.Options{})
	hdrs, _ := readLayer(t, out)
	var v overlay.Validator
	for i, h := range hdrs {
		if _, err := v.Entry(h); err != nil {
			t.Errorf("entry %d %q: export and validator disagree: %v", i+1, h.Name, err)
		}
	}
	if v.Count() != plan.Stats.Entries {
		t.Errorf("validator counted %d entries, plan %d", v.Count(), plan.Stats.Entries)
	}
	if ok, why := v.Canonical(); !ok {
		t.Errorf("Write's own tar is not canonical to the validator: %s", why)
	}
}

func TestStatsRichFixture(t *testing.T) {
	root, _ := buildRich(t)
	out, plan := writeLayer(t, root, overlay.Options{})
	want := overlay.Stats{
		Entries:   28,
		Files:     11, // big caps deep.txt #first kept hard1 g200 f150 sgid suid x\xff
		Dirs:      8,  // dir nested opq impure long d200 sticky sub
		Symlinks:  2,
		Hardlinks: 1,
		Whiteouts: 2,
		Opaques:   1,
		Devices:   2,
		Fifos:     1,
		Setuid:    2, // suid, sgid; not the setgid or sticky directories
		Xattrs:    5, // trusted.other, security.capability, user.mime_type, user.note, user.comment
		Bytes:     int64(len(bigData)) + 3 + 5 + 30 + 4 + 6 + 3 + 3 + 4 + 4 + 1,
	}
	if plan.Stats != want {
		t.Errorf("plan stats\n got %+v\nwant %+v", plan.Stats, want)
	}
	hdrs, _ := readLayer(t, out)
	var again overlay.Stats
	for _, h := range hdrs {
		again.Add(h)
	}
	if again != want {
		t.Errorf("stats of the tar read back\n got %+v\nwant %+v", again, want)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  byte
		want overlay.Kind
	}{
		{"a", tar.TypeReg, overlay.KindFile},
		{"d/.wh.a", tar.TypeReg, overlay.KindWhiteout},
		{".wh.a", tar.TypeReg, overlay.KindWhiteout},
		{"d/.wh..wh..opq", tar.TypeReg, overlay.KindOpaque},
		{"d/", tar.TypeDir, overlay.KindDir},
		{"l", tar.TypeSymlink, overlay.KindSymlink},
		{"h", tar.TypeLink, overlay.KindHardlink},
		{"c", tar.TypeChar, overlay.KindDevice},
		{"b", tar.TypeBlock, overlay.KindDevice},
		{"p", tar.TypeFifo, overlay.KindFifo},
		{"s", tar.TypeGNUSparse, overlay.KindOther},
		{"x", tar.TypeXHeader, overlay.KindOther},
	} {
		t.Run(fmt.Sprintf("%s_%c", strings.ReplaceAll(tc.name, "/", "|"), tc.typ), func(t *testing.T) {
			if got := overlay.Classify(&tar.Header{Name: tc.name, Typeflag: tc.typ}); got != tc.want {
				t.Errorf("Classify = %v, want %v", got, tc.want)
			}
		})
	}
}

// buildPlain makes a small tree without xattrs, for the two-pass tests.
func buildPlain(t *testing.T) *fx {
	t.Helper()
	f := newFx(t)
	f.dir("etc", 0o755)
	f.file("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n"))
	f.file("big", 0o644, pattern(3<<19))
	f.whiteout("gone", 0o000)
	f.symlink("lnk", "etc/hosts")
	f.times("etc/hosts", atime, mt(1))
	f.times("big", atime, mt(2))
	f.times("etc", atime, mt(3))
	return f
}

func TestMeasureMatchesWrite(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		build func(t *testing.T) string
	}{
		{"plain", func(t *testing.T) string { return buildPlain(t).root }},
		{"rich", func(t *testing.T) string { r, _ := buildRich(t); return r }},
		{"empty", func(t *testing.T) string { return t.TempDir() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.build(t)
			measured, err := overlay.Measure(ctx, root, overlay.Options{})
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			out1, p1 := writeLayer(t, root, overlay.Options{})
			out2, p2 := writeLayer(t, root, overlay.Options{})
			if !measured.Same(p1) {
				t.Errorf("Measure plan %+v differs from Write plan %+v", measured, p1)
			}
			if !p1.Same(p2) {
				t.Errorf("two Writes give different plans")
			}
			if measured.Size != int64(len(out1)) {
				t.Errorf("Measure size %d, Write produced %d bytes", measured.Size, len(out1))
			}
			if !bytes.Equal(out1, out2) {
				t.Errorf("two Writes of the same tree differ (%d and %d bytes)", len(out1), len(out2))
			}
		})
	}
}

func TestPlanDetectsChanges(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(f *fx)
	}{
		{"mtime", func(f *fx) { f.times("etc/hosts", atime, mt(1).Add(time.Nanosecond)) }},
		{"size", func(f *fx) {
			f.check("append", os.WriteFile(f.p("etc/hosts"), []byte("127.0.0.1 localhost\n::1 x\n"), 0o644))
			f.times("etc/hosts", atime, mt(1))
		}},
		{"big size", func(f *fx) {
			f.check("truncate", os.Truncate(f.p("big"), 3<<19-1))
			f.times("big", atime, mt(2))
		}},
		{"mode", func(f *fx) { f.chmod("etc/hosts", 0o600) }},
		{"owner", func(f *fx) { f.chown("etc/hosts", 1, 1) }},
		{"xattr", func(f *fx) { f.xattr("etc/hosts", "user.new", "1") }},
		{"symlink target", func(f *fx) {
			f.check("rm", os.Remove(f.p("lnk")))
			f.symlink("lnk", "etc/hostz")
		}},
		{"new file", func(f *fx) {
			f.file("etc/new", 0o644, nil)
			f.times("etc", atime, mt(3))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := buildPlain(t)
			before, err := overlay.Measure(ctx, f.root, overlay.Options{})
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			tc.change(f)
			out, after := writeLayer(t, f.root, overlay.Options{})
			if before.Same(after) {
				t.Errorf("plan unchanged after the tree changed")
			}
			// The plan still describes what was written.
			if after.Size != int64(len(out)) {
				t.Errorf("plan size %d, wrote %d", after.Size, len(out))
			}
			again, err := overlay.Measure(ctx, f.root, overlay.Options{})
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if !again.Same(after) {
				t.Errorf("Measure after the change differs from Write after it")
			}
		})
	}
}

// hookWriter calls hook once, when the header block of the entry named
// name goes by.
type hookWriter struct {
	bytes.Buffer
	name string
	hook func()
	done bool
}

func (h *hookWriter) Write(p []byte) (int, error) {
	if !h.done && len(p) == 512 && p[156] == tar.TypeReg && string(bytes.TrimRight(p[:100], "\x00")) == h.name {
		h.done = true
		h.hook()
	}
	return h.Buffer.Write(p)
}

// appendTo appends s to the file at p.
func appendTo(p, s string) error {
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = fh.WriteString(s)
	return err
}

func TestWriteFileChangesWhileCopied(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		change func(path string) error
	}{
		{"big shrinks", "big", func(p string) error { return os.Truncate(p, 1<<20+5) }},
		{"big grows", "big", func(p string) error { return appendTo(p, "more") }},
		{"small shrinks", "etc/hosts", func(p string) error { return os.Truncate(p, 3) }},
		{"small grows", "etc/hosts", func(p string) error { return os.WriteFile(p, []byte("127.0.0.1 localhost\nmore\n"), 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := buildPlain(t)
			var hookErr error
			w := &hookWriter{name: tc.file, hook: func() { hookErr = tc.change(f.p(tc.file)) }}
			_, err := overlay.Write(context.Background(), f.root, w, overlay.Options{})
			if hookErr != nil {
				t.Fatalf("change: %v", hookErr)
			}
			if !w.done {
				t.Fatalf("header of %s never written", tc.file)
			}
			if !errors.Is(err, overlay.ErrChanged) {
				t.Errorf("Write = %v, want ErrChanged", err)
			}
		})
	}
}

func TestWriteNilWriter(t *testing.T) {
	if _, err := overlay.Write(context.Background(), t.TempDir(), nil, overlay.Options{}); err == nil {
		t.Errorf("Write with a nil writer succeeded")
	}
}

func TestWriteRootErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{filepath.Join(dir, "missing"), file} {
		if _, err := overlay.Measure(context.Background(), root, overlay.Options{}); err == nil {
			t.Errorf("Measure(%s) succeeded", root)
		}
	}
}

func TestWriteCanceled(t *testing.T) {
	f := buildPlain(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := overlay.Write(ctx, f.root, io.Discard, overlay.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a canceled context = %v, want context.Canceled", err)
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		xattr   string // which namespace must work for the case to run
		opts    overlay.Options
		build   func(f *fx)
		wantMsg string
	}{
		{"redirect", "trusted.overlay.probe", overlay.Options{}, func(f *fx) {
			f.dir("moved", 0o755)
			f.xattr("moved", "trusted.overlay.redirect", "/old")
		}, "trusted.overlay.redirect"},
		{"metacopy", "trusted.overlay.probe", overlay.Options{}, func(f *fx) {
			f.dir("d", 0o755)
			f.file("d/meta", 0o644, nil)
			f.xattr("d/meta", "trusted.overlay.metacopy", "")
		}, "trusted.overlay.metacopy"},
		{"metacopy with userxattr", "user.probe", overlay.Options{UserXattr: true}, func(f *fx) {
			f.file("meta", 0o644, nil)
			f.xattr("meta", "user.overlay.metacopy", "")
		}, "user.overlay.metacopy"},
		{"redirect with userxattr", "user.probe", overlay.Options{UserXattr: true}, func(f *fx) {
			f.dir("moved", 0o755)
			f.xattr("moved", "user.overlay.redirect", "/old")
		}, "user.overlay.redirect"},
		{"file named like a whiteout", "", overlay.Options{}, func(f *fx) {
			f.dir("d", 0o755)
			f.file("d/.wh.foo", 0o644, nil)
		}, ".wh.foo"},
		{"aufs opaque marker on disk", "", overlay.Options{}, func(f *fx) {
			f.dir("d", 0o755)
			f.file("d/.wh..wh..opq", 0o644, nil)
		}, ".wh..wh..opq"},
		{"directory named like a whiteout", "", overlay.Options{}, func(f *fx) {
			f.dir(".wh.dir", 0o755)
		}, ".wh.dir"},
		{"opaque n", "trusted.overlay.probe", overlay.Options{}, func(f *fx) {
			f.dir("d", 0o755)
			f.xattr("d", "trusted.overlay.opaque", "n")
		}, "trusted.overlay.opaque"},
		{"opaque x", "trusted.overlay.probe", overlay.Options{}, func(f *fx) {
			f.dir("d", 0o755)
			f.xattr("d", "trusted.overlay.opaque", "x")
		}, "trusted.overlay.opaque"},
		{"opaque empty", "trusted.overlay.probe", overlay.Options{}, func(f *fx) {
			f.dir("d", 0o755)
			f.xattr("d", "trusted.overlay.opaque", "")
		}, "trusted.overlay.opaque"},
		{"user opaque yes", "user.probe", overlay.Options{UserXattr: true}, func(f *fx) {
			f.dir("d", 0o755)
			f.xattr("d", "user.overlay.opaque", "yes")
		}, "user.overlay.opaque"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFx(t)
			if tc.xattr != "" {
				requireXattr(t, f.root, tc.xattr)
			}
			f.file("ok", 0o644, []byte("fine"))
			tc.build(f)
			_, err := overlay.Measure(context.Background(), f.root, tc.opts)
			if !errors.Is(err, overlay.ErrUnsupportedLayer) {
				t.Errorf("Measure = %v, want ErrUnsupportedLayer", err)
			} else if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Measure error %q does not name %q", err, tc.wantMsg)
			}
			var buf bytes.Buffer
			_, err = overlay.Write(context.Background(), f.root, &buf, tc.opts)
			if !errors.Is(err, overlay.ErrUnsupportedLayer) {
				t.Errorf("Write = %v, want ErrUnsupportedLayer", err)
			} else if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("Write error %q does not name %q", err, tc.wantMsg)
			}
		})
	}
}

func TestUserXattr(t *testing.T) {
	build := func(t *testing.T) string {
		f := newFx(t)
		requireXattr(t, f.root, "user.probe")
		f.dir("d", 0o755)
		f.xattr("d", "user.overlay.opaque", "y")
		f.xattr("d", "user.overlay.origin", "\x00\xfb")
		f.xattr("d", "user.keep", "1")
		f.file("d/a", 0o644, []byte("a"))
		f.xattr("d/a", "user.overlay.foo", "bar")
		return f.root
	}
	for _, tc := range []struct {
		name       string
		userXattr  bool
		wantNames  []string
		wantDir    map[string]string
		wantFileXa map[string]string
	}{
		{"userxattr", true,
			[]string{"d/", "d/.wh..wh..opq", "d/a"},
			map[string]string{"user.keep": "1"},
			map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := build(t)
			out, plan := writeLayer(t, root, overlay.Options{UserXattr: tc.userXattr})
			hdrs, _ := readLayer(t, out)
			if got := names(hdrs); fmt.Sprint(got) != fmt.Sprint(tc.wantNames) {
				t.Fatalf("names %q, want %q", got, tc.wantNames)
			}
			check := func(h *tar.Header, want map[string]string) {
				got := xattrsOf(h)
				if fmt.Sprint(sortedMap(got)) != fmt.Sprint(sortedMap(want)) {
					t.Errorf("%s: xattrs %q, want %q", h.Name, got, want)
				}
			}
			check(hdrs[0], tc.wantDir)
			check(hdrs[len(hdrs)-1], tc.wantFileXa)
			wantOpaques := int64(0)
			if tc.userXattr {
				wantOpaques = 1
			}
			if plan.Stats.Opaques != wantOpaques {
				t.Errorf("plan counts %d opaque dirs, want %d", plan.Stats.Opaques, wantOpaques)
			}
		})
	}
}

// Without userxattr, user.overlay.* would be ordinary attributes here but
// overlay metadata on a daemon that mounts with userxattr, and the
// Validator refuses them in any layer: export refuses them too.
func TestUserOverlayXattrRefusedWithoutUserxattr(t *testing.T) {
	f := newFx(t)
	requireXattr(t, f.root, "user.probe")
	f.file("a", 0o644, []byte("a"))
	f.xattr("a", "user.overlay.foo", "bar")
	_, err := overlay.Measure(context.Background(), f.root, overlay.Options{})
	if !errors.Is(err, overlay.ErrUnsupportedLayer) || !strings.Contains(err.Error(), "user.overlay.foo") {
		t.Fatalf("Measure = %v, want ErrUnsupportedLayer naming user.overlay.foo", err)
	}
}

func sortedMap(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// A trusted.overlay.* attribute other than the refused ones on a file that
// is not a directory is dropped too, and a trusted.overlay.opaque on a
// plain file adds no marker.
func TestOverlayXattrsOnFilesDropped(t *testing.T) {
	f := newFx(t)
	requireXattr(t, f.root, "trusted.overlay.probe")
	f.file("a", 0o644, []byte("a"))
	f.xattr("a", "trusted.overlay.origin", "\x00")
	f.xattr("a", "trusted.overlay.impure", "y")
	f.xattr("a", "trusted.overlay.nlink", "U+1")
	out, _ := writeLayer(t, f.root, overlay.Options{})
	hdrs, _ := readLayer(t, out)
	if len(hdrs) != 1 || hdrs[0].Name != "a" {
		t.Fatalf("entries %q, want [a]", names(hdrs))
	}
	if x := xattrsOf(hdrs[0]); len(x) != 0 {
		t.Errorf("overlay xattrs leaked: %q", x)
	}
}

// Whatever Write exports, the Validator (and so `check` and import) must
// accept; a tree that cannot give a valid layer must be refused instead.
func TestExportAndValidateAgree(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(t *testing.T) string
	}{
		{"rich", func(t *testing.T) string { r, _ := buildRich(t); return r }},
		{"plain", func(t *testing.T) string { return buildPlain(t).root }},
		{"whiteout of a 252-byte name", func(t *testing.T) string {
			f := newFx(t)
			f.dir("d", 0o755)
			f.whiteout("d/"+strings.Repeat("w", 252), 0)
			return f.root
		}},
		{"whiteout of a 255-byte name", func(t *testing.T) string {
			f := newFx(t)
			f.whiteout(strings.Repeat("w", 255), 0)
			return f.root
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.build(t)
			var buf bytes.Buffer
			_, err := overlay.Write(context.Background(), root, &buf, overlay.Options{})
			if err != nil {
				if !errors.Is(err, overlay.ErrUnsupportedLayer) {
					t.Fatalf("Write = %v: a refusal must be ErrUnsupportedLayer", err)
				}
				return
			}
			hdrs, _ := readLayer(t, buf.Bytes())
			var v overlay.Validator
			for i, h := range hdrs {
				if _, err := v.Entry(h); err != nil {
					t.Errorf("Write exported entry %d %.60q, which the Validator refuses: %v", i+1, h.Name, err)
				}
			}
		})
	}
}
