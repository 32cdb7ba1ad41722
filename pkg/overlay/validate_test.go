package overlay_test

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Header constructors for validator tables.

func hReg(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}
}

func hRegN(name string, size int64) *tar.Header {
	h := hReg(name)
	h.Size = size
	return h
}

func hDir(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}
}

func hSym(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}
}

func hLink(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644}
}

func hDev(name string, typ byte, major, minor int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: typ, Devmajor: major, Devminor: minor, Mode: 0o600}
}

func hFifo(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeFifo, Mode: 0o600}
}

func with(h *tar.Header, f func(*tar.Header)) *tar.Header { f(h); return h }

func hXattr(h *tar.Header, key, value string) *tar.Header {
	return with(h, func(h *tar.Header) {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords[key] = value
	})
}

// pathOf builds a relative name of exactly n bytes whose components are at
// most 200 bytes long.
func pathOf(n int) string {
	var b strings.Builder
	for i := 0; n-b.Len() > 200; i++ {
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), 199))
		b.WriteByte('/')
	}
	b.WriteString(strings.Repeat("z", n-b.Len()))
	return b.String()
}

func TestValidatorValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		hdrs []*tar.Header
	}{
		{"empty layer", nil},
		{"canonical mix", []*tar.Header{
			hDir("a/"),
			hReg("a/.wh..wh..opq"),
			hReg("a/#x"),
			hRegN("a/b", 3),
			hDir("a/c/"),
			hReg("a/c/d"),
			hReg("a.txt"), // "a" < "a.txt": a's contents come first
			hReg(".wh.b"), // stands where "b" would
			hSym("c", "/etc"),
			hLink("d", "a/b"),
			hFifo("e"),
			hDev("f", tar.TypeChar, 1, 3),
			hDev("g", tar.TypeBlock, 8, 1),
			hDir("h/"),
			hReg("h/.wh.x"),
			hDir("h/y/"),
			hSym("l", "../../../outside"), // symlink targets are not names
			hReg("z\xff"),
		}},
		{"whiteout of a directory between siblings", []*tar.Header{
			hReg("a"), hReg(".wh.b"), hDir("c/"), hReg("c/.wh.d"), hReg("c/e"),
		}},
		{"hard link to a symlink and a device", []*tar.Header{
			hDev("c", tar.TypeChar, 1, 3), hSym("d", "x"), hLink("e", "c"), hLink("f", "d"),
		}},
		{"leaving nested directories", []*tar.Header{
			hDir("a/"), hDir("a/b/"), hDir("a/b/c/"), hReg("a/b/c/f"), hReg("a/g"), hReg("b"),
		}},
		{"max device numbers", []*tar.Header{hDev("c", tar.TypeChar, 4095, 1<<20-1), hDev("d", tar.TypeBlock, 0, 0)}},
		{"max owner", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Uid, h.Gid = 1<<32-2, 1<<32-2 })}},
		{"special mode bits", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Mode = 0o7777 })}},
		{"ordinary xattrs", []*tar.Header{
			hXattr(hXattr(hXattr(hReg("a"), "SCHILY.xattr.user.x", "1"), "SCHILY.xattr.security.capability", "\x01\x00"), "SCHILY.xattr.trusted.other", "v"),
		}},
		{"name of 255 bytes", []*tar.Header{hReg(strings.Repeat("n", 255))}},
		{"whiteout of a 251-byte name", []*tar.Header{hReg(".wh." + strings.Repeat("n", 251))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v overlay.Validator
			for i, h := range tc.hdrs {
				if err := v.Entry(h); err != nil {
					t.Fatalf("entry %d %q: %v", i, h.Name, err)
				}
			}
			if v.Count() != int64(len(tc.hdrs)) {
				t.Errorf("Count = %d, want %d", v.Count(), len(tc.hdrs))
			}
		})
	}
}

func TestValidatorRejects(t *testing.T) {
	long4097 := pathOf(4097)
	for _, tc := range []struct {
		name string
		hdrs []*tar.Header // the last one is refused
		want error
	}{
		// Unsafe names.
		{"absolute", []*tar.Header{hReg("/etc/passwd")}, overlay.ErrUnsafePath},
		{"absolute dir", []*tar.Header{hDir("/")}, overlay.ErrUnsafePath},
		{"dotdot first", []*tar.Header{hReg("../x")}, overlay.ErrUnsafePath},
		{"dotdot inside", []*tar.Header{hDir("a/"), hReg("a/../x")}, overlay.ErrUnsafePath},
		{"dotdot alone", []*tar.Header{hReg("..")}, overlay.ErrUnsafePath},
		{"dot", []*tar.Header{hDir("./")}, overlay.ErrUnsafePath},
		{"dot inside", []*tar.Header{hDir("a/"), hReg("a/./b")}, overlay.ErrUnsafePath},
		{"empty name", []*tar.Header{hReg("")}, overlay.ErrUnsafePath},
		{"double slash", []*tar.Header{hDir("a/"), hReg("a//b")}, overlay.ErrUnsafePath},
		{"dir without slash", []*tar.Header{hDir("a")}, overlay.ErrUnsafePath},
		{"file with slash", []*tar.Header{hReg("a/")}, overlay.ErrUnsafePath},
		{"symlink with slash", []*tar.Header{hSym("a/", "b")}, overlay.ErrUnsafePath},
		{"dir with two slashes", []*tar.Header{hDir("a//")}, overlay.ErrUnsafePath},
		{"NUL", []*tar.Header{hReg("a\x00b")}, overlay.ErrUnsafePath},
		{"component of 256", []*tar.Header{hReg(strings.Repeat("n", 256))}, overlay.ErrUnsafePath},
		{"path over 4096", []*tar.Header{hReg(long4097)}, overlay.ErrUnsafePath},
		{"opaque marker at root", []*tar.Header{hReg(".wh..wh..opq")}, overlay.ErrUnsafePath},
		{"whiteout of nothing", []*tar.Header{hReg(".wh.")}, overlay.ErrUnsafePath},
		{"whiteout of dot", []*tar.Header{hReg(".wh..")}, overlay.ErrUnsafePath},
		{"whiteout of dotdot", []*tar.Header{hReg(".wh...")}, overlay.ErrUnsafePath},
		{"whiteout of a whiteout", []*tar.Header{hReg(".wh..wh.plnk")}, overlay.ErrUnsafePath},
		{"whiteout of a whiteout in dir", []*tar.Header{hDir("d/"), hReg("d/.wh..wh.aufs")}, overlay.ErrUnsafePath},
		{"whiteout as directory", []*tar.Header{hDir(".wh.a/")}, overlay.ErrUnsafePath},
		{"below a whiteout", []*tar.Header{hReg(".wh.a/b")}, overlay.ErrUnsafePath},
		{"opaque marker as directory", []*tar.Header{hDir("d/"), hDir("d/.wh..wh..opq/")}, overlay.ErrUnsafePath},
		{"hard link target absolute", []*tar.Header{hReg("a"), hLink("b", "/a")}, overlay.ErrUnsafePath},
		{"hard link target dotdot", []*tar.Header{hReg("a"), hLink("b", "../a")}, overlay.ErrUnsafePath},
		{"hard link target empty", []*tar.Header{hLink("b", "")}, overlay.ErrUnsafePath},

		// Order.
		{"duplicate file", []*tar.Header{hReg("a"), hReg("a")}, overlay.ErrOrder},
		{"duplicate dir", []*tar.Header{hDir("a/"), hDir("a/")}, overlay.ErrOrder},
		{"dir then file of the same name", []*tar.Header{hDir("a/"), hReg("a")}, overlay.ErrOrder},
		{"out of order", []*tar.Header{hReg("b"), hReg("a")}, overlay.ErrOrder},
		{"component order", []*tar.Header{hReg("a.txt"), hDir("a/")}, overlay.ErrOrder},
		{"back into a closed dir", []*tar.Header{hDir("a/"), hReg("a.txt"), hReg("a/x")}, overlay.ErrOrder},
		{"parent missing at root", []*tar.Header{hReg("a/b")}, overlay.ErrOrder},
		{"parent missing deeper", []*tar.Header{hDir("a/"), hReg("a/b/c")}, overlay.ErrOrder},
		{"below a symlink", []*tar.Header{hSym("l", "/etc"), hReg("l/x")}, overlay.ErrOrder},
		{"dir below a symlink", []*tar.Header{hSym("l", "d"), hDir("l/x/")}, overlay.ErrOrder},
		{"below a file", []*tar.Header{hReg("f"), hReg("f/x")}, overlay.ErrOrder},
		{"below a whiteout's name", []*tar.Header{hReg(".wh.d"), hReg("d/x")}, overlay.ErrOrder},
		{"whiteout then name", []*tar.Header{hReg(".wh.a"), hReg("a")}, overlay.ErrOrder},
		{"name then whiteout", []*tar.Header{hReg("a"), hReg(".wh.a")}, overlay.ErrOrder},
		{"whiteout then dir", []*tar.Header{hReg(".wh.a"), hDir("a/")}, overlay.ErrOrder},
		{"whiteout at its dot position", []*tar.Header{hReg(".wh.b"), hReg("a")}, overlay.ErrOrder},
		{"opaque marker twice", []*tar.Header{hDir("d/"), hReg("d/.wh..wh..opq"), hReg("d/.wh..wh..opq")}, overlay.ErrOrder},
		{"opaque marker late", []*tar.Header{hDir("d/"), hReg("d/#a"), hReg("d/.wh..wh..opq")}, overlay.ErrOrder},
		{"opaque marker without dir", []*tar.Header{hReg("d/.wh..wh..opq")}, overlay.ErrOrder},
		{"hard link to a later entry", []*tar.Header{hReg("a"), hLink("b", "c")}, overlay.ErrOrder},
		{"hard link to a later dir entry", []*tar.Header{hDir("a/"), hLink("a/b", "a/c/d")}, overlay.ErrOrder},
		{"hard link to itself", []*tar.Header{hLink("a", "a")}, overlay.ErrOrder},

		// Bad entries.
		{"hard link to a whiteout", []*tar.Header{hReg(".wh.a"), hLink("b", ".wh.a")}, overlay.ErrBadEntry},
		{"hard link to an opaque marker", []*tar.Header{hDir("d/"), hReg("d/.wh..wh..opq"), hLink("e", "d/.wh..wh..opq")}, overlay.ErrBadEntry},
		{"char 0:0", []*tar.Header{hDev("c", tar.TypeChar, 0, 0)}, overlay.ErrBadEntry},
		{"major too big", []*tar.Header{hDev("c", tar.TypeChar, 4096, 0)}, overlay.ErrBadEntry},
		{"minor too big", []*tar.Header{hDev("b", tar.TypeBlock, 1, 1<<20)}, overlay.ErrBadEntry},
		{"negative major", []*tar.Header{hDev("c", tar.TypeChar, -1, 3)}, overlay.ErrBadEntry},
		{"negative minor", []*tar.Header{hDev("b", tar.TypeBlock, 1, -1)}, overlay.ErrBadEntry},
		{"sparse", []*tar.Header{{Name: "s", Typeflag: tar.TypeGNUSparse, Size: 10}}, overlay.ErrBadEntry},
		{"unknown typeflag", []*tar.Header{{Name: "u", Typeflag: 'Z'}}, overlay.ErrBadEntry},
		{"contiguous file", []*tar.Header{{Name: "u", Typeflag: tar.TypeCont}}, overlay.ErrBadEntry},
		{"GNU long name", []*tar.Header{{Name: "u", Typeflag: tar.TypeGNULongName}}, overlay.ErrBadEntry},
		{"PAX header as an entry", []*tar.Header{{Name: "u", Typeflag: tar.TypeXHeader}}, overlay.ErrBadEntry},
		{"size on dir", []*tar.Header{with(hDir("d/"), func(h *tar.Header) { h.Size = 10 })}, overlay.ErrBadEntry},
		{"size on symlink", []*tar.Header{with(hSym("l", "x"), func(h *tar.Header) { h.Size = 1 })}, overlay.ErrBadEntry},
		{"size on hard link", []*tar.Header{hReg("a"), with(hLink("b", "a"), func(h *tar.Header) { h.Size = 5 })}, overlay.ErrBadEntry},
		{"size on fifo", []*tar.Header{with(hFifo("p"), func(h *tar.Header) { h.Size = 1 })}, overlay.ErrBadEntry},
		{"size on device", []*tar.Header{with(hDev("c", tar.TypeChar, 1, 3), func(h *tar.Header) { h.Size = 512 })}, overlay.ErrBadEntry},
		{"negative size", []*tar.Header{hRegN("a", -1)}, overlay.ErrBadEntry},
		{"whiteout with contents", []*tar.Header{hRegN(".wh.a", 3)}, overlay.ErrBadEntry},
		{"opaque marker with contents", []*tar.Header{hDir("d/"), hRegN("d/.wh..wh..opq", 1)}, overlay.ErrBadEntry},
		{"negative uid", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Uid = -1 })}, overlay.ErrBadEntry},
		{"gid 2^32-1", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Gid = 1<<32 - 1 })}, overlay.ErrBadEntry},
		{"mode with type bits", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Mode = 0o100644 })}, overlay.ErrBadEntry},
		{"symlink to nothing", []*tar.Header{hSym("l", "")}, overlay.ErrBadEntry},
		{"symlink target with NUL", []*tar.Header{hSym("l", "a\x00b")}, overlay.ErrBadEntry},
		{"symlink target too long", []*tar.Header{hSym("l", strings.Repeat("x", 4097))}, overlay.ErrBadEntry},
		{"trusted.overlay xattr", []*tar.Header{hXattr(hDir("d/"), "SCHILY.xattr.trusted.overlay.opaque", "y")}, overlay.ErrBadEntry},
		{"trusted.overlay.origin xattr", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.trusted.overlay.origin", "\x00")}, overlay.ErrBadEntry},
		{"user.overlay xattr", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.user.overlay.redirect", "/x")}, overlay.ErrBadEntry},
		{"GNU sparse PAX record", []*tar.Header{hXattr(hRegN("a", 10), "GNU.sparse.map", "0,10")}, overlay.ErrBadEntry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v overlay.Validator
			last := len(tc.hdrs) - 1
			for i, h := range tc.hdrs[:last] {
				if err := v.Entry(h); err != nil {
					t.Fatalf("entry %d %q refused before the bad one: %v", i, h.Name, err)
				}
			}
			err := v.Entry(tc.hdrs[last])
			if !errors.Is(err, tc.want) {
				t.Fatalf("entry %q: got %v, want %v", tc.hdrs[last].Name, err, tc.want)
			}
			for _, other := range []error{overlay.ErrUnsafePath, overlay.ErrOrder, overlay.ErrBadEntry} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("error %v also matches %v", err, other)
				}
			}
			if v.Count() != int64(len(tc.hdrs)) {
				t.Errorf("Count = %d, want %d", v.Count(), len(tc.hdrs))
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	path4096 := pathOf(4096)
	for _, tc := range []struct {
		name  string
		isDir bool
		ok    bool
	}{
		{"a", false, true},
		{"a/b/c", false, true},
		{"a/", true, true},
		{"a/b/", true, true},
		{"a", true, false},
		{"a/", false, false},
		{"", false, false},
		{"/", true, false},
		{"/a", false, false},
		{"a/../b", false, false},
		{"..", false, false},
		{"../", true, false},
		{".", false, false},
		{"./a", false, false},
		{"a/.", false, false},
		{"a//b", false, false},
		{"a\x00", false, false},
		{strings.Repeat("n", 255), false, true},
		{strings.Repeat("n", 256), false, false},
		{"d/" + strings.Repeat("n", 256) + "/", true, false},
		{path4096, false, true},
		{path4096 + "y", false, false},
		{".wh.a", false, true},
		{"d/.wh.a", false, true},
		{"d/.wh..wh..opq", false, true},
		{".wh..wh..opq", false, false},
		{".wh.", false, false},
		{".wh..", false, false},
		{".wh...", false, false},
		{".wh..wh.plnk", false, false},
		{".wh.a/", true, false},
		{".wh.a/b", false, false},
		{"..wh.a", false, true},
		{"a.wh.b", false, true},
		{"\xff\xfe", false, true},
	} {
		t.Run(fmt.Sprintf("%.30q_dir=%v", tc.name, tc.isDir), func(t *testing.T) {
			err := overlay.CheckName(tc.name, tc.isDir)
			if tc.ok && err != nil {
				t.Errorf("CheckName = %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, overlay.ErrUnsafePath) {
				t.Errorf("CheckName = %v, want ErrUnsafePath", err)
			}
		})
	}
	if len(path4096) != 4096 || len(pathOf(4097)) != 4097 {
		t.Fatalf("test bug: pathOf gives %d and %d bytes", len(path4096), len(pathOf(4097)))
	}
}

// A plain tree's Validator: the layer's rules without the whiteout ones,
// and a root entry "./" first or not at all. want nil: all accepted;
// otherwise the last entry is refused with want.
func TestValidatorPlain(t *testing.T) {
	root := func() *tar.Header {
		return with(hDir("./"), func(h *tar.Header) { h.Mode, h.Uid, h.Gid = 0o700, 999, 999 })
	}
	for _, tc := range []struct {
		name string
		hdrs []*tar.Header
		want error
	}{
		{"root alone", []*tar.Header{root()}, nil},
		{"no root", []*tar.Header{hReg("a")}, nil},
		{"volume mix", []*tar.Header{
			hXattr(root(), "SCHILY.xattr.user.volume", "pg"),
			hReg(".wh..wh..opq"),
			hRegN(".wh.a", 3),
			hDir(".wh.d/"),
			hReg(".wh.d/.wh.e"),
			hSym(".wh.s", "x"),
			hReg("a"),
			hDev("c", tar.TypeChar, 0, 0),
			hLink("c2", "c"),
			hLink("d", ".wh.a"),
			hXattr(hDir("opq/"), "SCHILY.xattr.trusted.overlay.opaque", "y"),
			hXattr(hReg("r"), "SCHILY.xattr.trusted.overlay.redirect", "/x"),
			hXattr(hReg("u"), "SCHILY.xattr.user.overlay.origin", ""),
		}, nil},
		{".wh. name of 255 bytes", []*tar.Header{hReg(".wh." + strings.Repeat("n", 251))}, nil},
		{".wh. name of 256 bytes", []*tar.Header{hReg(".wh." + strings.Repeat("n", 252))}, overlay.ErrUnsafePath},
		{"root twice", []*tar.Header{root(), root()}, overlay.ErrOrder},
		{"root after an entry", []*tar.Header{hReg("a"), root()}, overlay.ErrOrder},
		{"root as file", []*tar.Header{{Name: "./", Typeflag: tar.TypeReg}}, overlay.ErrBadEntry},
		{"root as symlink", []*tar.Header{hSym("./", "..")}, overlay.ErrBadEntry},
		{"root with size", []*tar.Header{with(root(), func(h *tar.Header) { h.Size = 1 })}, overlay.ErrBadEntry},
		{"root with type bits", []*tar.Header{with(root(), func(h *tar.Header) { h.Mode = 0o40700 })}, overlay.ErrBadEntry},
		{"root spelled dot", []*tar.Header{hDir(".")}, overlay.ErrUnsafePath},
		{"dot prefix", []*tar.Header{root(), hReg("./a")}, overlay.ErrUnsafePath},
		{"hard link to the root", []*tar.Header{root(), hLink("h", ".")}, overlay.ErrUnsafePath},
		{"sorted as named", []*tar.Header{hReg("a"), hReg(".wh.a")}, overlay.ErrOrder},
		{"opaque name sorted as named", []*tar.Header{hDir("d/"), hReg("d/a"), hReg("d/.wh..wh..opq")}, overlay.ErrOrder},
		{"duplicate", []*tar.Header{hReg(".wh.a"), hReg(".wh.a")}, overlay.ErrOrder},
		{"below a .wh. file", []*tar.Header{hReg(".wh.a"), hReg(".wh.a/b")}, overlay.ErrOrder},
		{"sparse still refused", []*tar.Header{hXattr(hRegN("a", 10), "GNU.sparse.map", "0,10")}, overlay.ErrBadEntry},
		{"dotdot", []*tar.Header{root(), hReg("../x")}, overlay.ErrUnsafePath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := overlay.Validator{Plain: true}
			var err error
			for i, h := range tc.hdrs {
				if err = v.Entry(h); err != nil && (tc.want == nil || i != len(tc.hdrs)-1) {
					t.Fatalf("entry %d %q: %v", i, h.Name, err)
				}
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("last entry: got %v, want %v", err, tc.want)
			}
		})
	}
}

// The same tree counted as a layer and as a plain tree.
func TestStatsPlain(t *testing.T) {
	hdrs := []*tar.Header{
		hDir("./"), hReg(".wh..wh..opq"), hRegN(".wh.a", 3), hDev("c", tar.TypeChar, 0, 0), hDir("d/"), hReg("d/.wh..wh..opq"),
	}
	var layer, plain overlay.Stats
	for _, h := range hdrs {
		layer.Add(h)
		plain.AddPlain(h)
	}
	if want := (overlay.Stats{Entries: 6, Files: 3, Dirs: 2, Devices: 1, Bytes: 3}); plain != want {
		t.Errorf("AddPlain\n got %+v\nwant %+v", plain, want)
	}
	if layer.Whiteouts != 1 || layer.Opaques != 2 || layer.Files != 0 {
		t.Errorf("Add: %+v", layer)
	}
	for _, h := range hdrs {
		if k := overlay.ClassifyPlain(h); k == overlay.KindWhiteout || k == overlay.KindOpaque {
			t.Errorf("ClassifyPlain(%q) = %v", h.Name, k)
		}
	}
}
