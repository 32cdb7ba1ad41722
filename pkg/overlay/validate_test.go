package overlay_test

import (
	"archive/tar"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/layer-tool/layer-tool/pkg/overlay"
)

// Header constructors for validator tables.

// t0 is the mtime of every entry the constructors make.
var t0 = time.Unix(1700000000, 0)

func hReg(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: t0}
}

func hRegN(name string, size int64) *tar.Header {
	h := hReg(name)
	h.Size = size
	return h
}

func hDir(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: t0}
}

func hSym(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, ModTime: t0}
}

func hLink(name, target string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644, ModTime: t0}
}

func hDev(name string, typ byte, major, minor int64) *tar.Header {
	return &tar.Header{Name: name, Typeflag: typ, Devmajor: major, Devminor: minor, Mode: 0o600, ModTime: t0}
}

func hFifo(name string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeFifo, Mode: 0o600, ModTime: t0}
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
			hXattr(hXattr(hXattr(hReg("a"), "SCHILY.xattr.user.x", "1"), "SCHILY.xattr.security.capability", capV2), "SCHILY.xattr.trusted.other", "v"),
			hXattr(hXattr(with(hDir("d/"), func(h *tar.Header) { h.Mode = 0o775 }), "SCHILY.xattr.system.posix_acl_default", acl(7, 5, 5, aclE{8, 4, 4})), "SCHILY.xattr.system.posix_acl_access", acl(7, 5, 5, aclE{2, 7, 1000})),
			hXattr(hSym("l", "x"), "SCHILY.xattr.security.selinux", "system_u:object_r:etc_t:s0"),
		}},
		{"name of 255 bytes", []*tar.Header{hReg(strings.Repeat("n", 255))}},
		{"whiteout of a 251-byte name", []*tar.Header{hReg(".wh." + strings.Repeat("n", 251))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v overlay.Validator
			for i, h := range tc.hdrs {
				if _, err := v.Entry(h); err != nil {
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
		{"dot inside", []*tar.Header{hDir("a/"), hReg("a/./b")}, overlay.ErrUnsafePath},
		{"empty name", []*tar.Header{hReg("")}, overlay.ErrBadEntry},
		{"double slash", []*tar.Header{hDir("a/"), hReg("a//b")}, overlay.ErrUnsafePath},
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
		{"dir then file of the same name", []*tar.Header{hDir("a/"), hReg("a")}, overlay.ErrOrder},
		{"below a symlink", []*tar.Header{hSym("l", "/etc"), hReg("l/x")}, overlay.ErrOrder},
		{"dir below a symlink", []*tar.Header{hSym("l", "d"), hDir("l/x/")}, overlay.ErrOrder},
		{"below a file", []*tar.Header{hReg("f"), hReg("f/x")}, overlay.ErrOrder},
		{"below a whiteout's name", []*tar.Header{hReg(".wh.d"), hReg("d/x")}, overlay.ErrOrder},
		{"hard link to a later entry", []*tar.Header{hReg("a"), hLink("b", "c")}, overlay.ErrOrder},
		{"hard link to a later dir entry", []*tar.Header{hDir("a/"), hLink("a/b", "a/c/d")}, overlay.ErrOrder},
		{"hard link to itself", []*tar.Header{hLink("a", "a")}, overlay.ErrOrder},
		{"hard link to itself, replacing it", []*tar.Header{hReg("a"), hLink("a", "a")}, overlay.ErrOrder},
		{"hard link to a directory", []*tar.Header{hDir("d/"), hLink("b", "d")}, overlay.ErrOrder},
		{"hard link to a name the layer deletes", []*tar.Header{hReg(".wh.a"), hLink("b", "a")}, overlay.ErrOrder},
		{"hard link through a symlink", []*tar.Header{hDir("d/"), hReg("d/f"), hSym("l", "d"), hLink("b", "l/f")}, overlay.ErrOrder},
		{"hard link through a file", []*tar.Header{hReg("f"), hLink("b", "f/x")}, overlay.ErrOrder},
		{"dir replaced by a file", []*tar.Header{hDir("a/"), hReg("a/x"), hReg("a")}, overlay.ErrOrder},
		{"dir replaced by a symlink", []*tar.Header{hDir("a/"), hSym("a", "/etc")}, overlay.ErrOrder},
		{"implied parent below a symlink", []*tar.Header{hSym("l", "/etc"), hReg("l/a/b")}, overlay.ErrOrder},
		{"opaque marker below a symlink", []*tar.Header{hSym("l", "/etc"), hReg("l/.wh..wh..opq")}, overlay.ErrOrder},
		{"whiteout below a symlink", []*tar.Header{hSym("l", "/etc"), hReg("l/.wh.passwd")}, overlay.ErrOrder},
		{"entry below a symlink that replaced a file", []*tar.Header{hReg("l"), hSym("l", "/etc"), hReg("l/x")}, overlay.ErrOrder},

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
		{"symlink to nothing", []*tar.Header{hSym("l", "")}, overlay.ErrBadEntry},
		{"symlink target with NUL", []*tar.Header{hSym("l", "a\x00b")}, overlay.ErrBadEntry},
		{"symlink target too long", []*tar.Header{hSym("l", strings.Repeat("x", 4097))}, overlay.ErrBadEntry},
		{"trusted.overlay xattr", []*tar.Header{hXattr(hDir("d/"), "SCHILY.xattr.trusted.overlay.opaque", "y")}, overlay.ErrBadEntry},
		{"trusted.overlay.origin xattr", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.trusted.overlay.origin", "\x00")}, overlay.ErrBadEntry},
		{"user.overlay xattr", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.user.overlay.redirect", "/x")}, overlay.ErrBadEntry},
		{"mode with other type bits", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Mode = 0o040644 })}, overlay.ErrBadEntry},
		{"mode beyond type bits", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Mode = 0o1100644 })}, overlay.ErrBadEntry},
		{"mtime before 1901", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.ModTime = time.Unix(-1<<31-1, 0) })}, overlay.ErrBadEntry},
		{"mtime after 2446", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.ModTime = time.Unix(1<<34, 0) })}, overlay.ErrBadEntry},
		{"user xattr on a symlink", []*tar.Header{hXattr(hSym("l", "x"), "SCHILY.xattr.user.key", "v")}, overlay.ErrBadEntry},
		{"user xattr on a fifo", []*tar.Header{hXattr(hFifo("p"), "SCHILY.xattr.user.key", "v")}, overlay.ErrBadEntry},
		{"user xattr on a whiteout", []*tar.Header{hXattr(hReg(".wh.a"), "SCHILY.xattr.user.key", "v")}, overlay.ErrBadEntry},
		{"xattr of no namespace", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.key", "v")}, overlay.ErrBadEntry},
		{"xattr of an unknown namespace", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.os2.key", "v")}, overlay.ErrBadEntry},
		{"xattr with an empty name", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.user.", "v")}, overlay.ErrBadEntry},
		{"system xattr not an ACL", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.system.nfs4_acl", "v")}, overlay.ErrBadEntry},
		{"ACL garbage", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.system.posix_acl_access", "v")}, overlay.ErrBadEntry},
		{"ACL on a symlink", []*tar.Header{hXattr(hSym("l", "x"), "SCHILY.xattr.system.posix_acl_access", acl(0o7, 0o7, 0o7, aclE{2, 7, 1000}))}, overlay.ErrBadEntry},
		{"default ACL on a file", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.system.posix_acl_default", acl(6, 4, 4))}, overlay.ErrBadEntry},
		{"access ACL of base entries only", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.system.posix_acl_access", acl(6, 4, 4))}, overlay.ErrBadEntry},
		{"access ACL that disagrees with the mode", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.system.posix_acl_access", acl(7, 7, 7, aclE{2, 7, 1000}))}, overlay.ErrBadEntry},
		{"ACL entries out of order", []*tar.Header{hXattr(hDir("d/"), "SCHILY.xattr.system.posix_acl_default", acl(7, 5, 5, aclE{0x20, 5, 0}))}, overlay.ErrBadEntry},
		{"capability on a directory", []*tar.Header{hXattr(hDir("d/"), "SCHILY.xattr.security.capability", capV2)}, overlay.ErrBadEntry},
		{"capability of the wrong size", []*tar.Header{hXattr(hReg("a"), "SCHILY.xattr.security.capability", "\x01\x00")}, overlay.ErrBadEntry},
		{"GNU sparse PAX record", []*tar.Header{hXattr(hRegN("a", 10), "GNU.sparse.map", "0,10")}, overlay.ErrBadEntry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v overlay.Validator
			last := len(tc.hdrs) - 1
			for i, h := range tc.hdrs[:last] {
				if _, err := v.Entry(h); err != nil {
					t.Fatalf("entry %d %q refused before the bad one: %v", i, h.Name, err)
				}
			}
			_, err := v.Entry(tc.hdrs[last])
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
		{"root with type bits", []*tar.Header{with(root(), func(h *tar.Header) { h.Mode = 0o40700 })}, nil},
		{"root spelled dot", []*tar.Header{hDir(".")}, overlay.ErrUnsafePath},
		{"root spelled empty", []*tar.Header{hDir("")}, overlay.ErrUnsafePath},
		{"dot prefix", []*tar.Header{root(), hReg("./a")}, nil},
		{"hard link to the root", []*tar.Header{root(), hLink("h", ".")}, overlay.ErrUnsafePath},
		{"any order", []*tar.Header{hReg("a"), hReg(".wh.a")}, nil},
		{"opaque name in any order", []*tar.Header{hDir("d/"), hReg("d/a"), hReg("d/.wh..wh..opq")}, nil},
		{"repeated", []*tar.Header{hReg(".wh.a"), hReg(".wh.a")}, nil},
		{"below a .wh. file", []*tar.Header{hReg(".wh.a"), hReg(".wh.a/b")}, overlay.ErrOrder},
		{"sparse still refused", []*tar.Header{hXattr(hRegN("a", 10), "GNU.sparse.map", "0,10")}, overlay.ErrBadEntry},
		{"dotdot", []*tar.Header{root(), hReg("../x")}, overlay.ErrUnsafePath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := overlay.Validator{Plain: true}
			var err error
			for i, h := range tc.hdrs {
				if _, err = v.Entry(h); err != nil && (tc.want == nil || i != len(tc.hdrs)-1) {
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

// aclE is one named entry of an ACL: tag, permissions, id.
type aclE struct {
	tag  uint16
	perm uint16
	id   uint32
}

// acl encodes a version 2 POSIX ACL xattr: owner, group and other
// permissions, the named entries (user entries first, then group ones),
// and a mask rwx when there are any.
func acl(owner, group, other uint16, named ...aclE) string {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	add := func(tag, perm uint16, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	add(1, owner, 0xffffffff)
	for _, e := range named {
		if e.tag == 2 || e.tag == 0x20 {
			add(e.tag, e.perm, e.id)
		}
	}
	add(4, group, 0xffffffff)
	for _, e := range named {
		if e.tag == 8 {
			add(e.tag, e.perm, e.id)
		}
	}
	if len(named) > 0 {
		add(0x10, 7, 0xffffffff)
	}
	add(0x20, other, 0xffffffff)
	return string(b)
}

// capV2 is a version 2 file capability: cap_net_bind_service, effective.
var capV2 = string([]byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

// Layers that are valid but not canonical: what each entry does, and the
// validator's note that the layer is not canonical.
func TestValidatorNonCanonical(t *testing.T) {
	type want struct {
		op      overlay.Op
		path    string
		replace bool
		opaque  bool
		implied string
	}
	create := func(p string) want { return want{op: overlay.OpCreate, path: p} }
	for _, tc := range []struct {
		name string
		hdrs []*tar.Header
		want []want
		live int64
	}{
		{"out of order", []*tar.Header{hReg("b"), hReg("a")}, []want{create("b"), create("a")}, 2},
		{"component order", []*tar.Header{hReg("a.txt"), hDir("a/"), hReg("a/x")}, []want{create("a.txt"), create("a"), create("a/x")}, 3},
		{"back into a closed dir", []*tar.Header{hDir("a/"), hReg("a.txt"), hReg("a/x")}, []want{create("a"), create("a.txt"), create("a/x")}, 3},
		{"parents implied", []*tar.Header{hReg("a/b/c")}, []want{{op: overlay.OpCreate, path: "a/b/c", implied: "a a/b"}}, 3},
		{"implied parent listed later", []*tar.Header{hReg("a/b"), hDir("a/")}, []want{{op: overlay.OpCreate, path: "a/b", implied: "a"}, {op: overlay.OpMerge, path: "a"}}, 2},
		{"file twice", []*tar.Header{hReg("a"), hReg("a")}, []want{create("a"), {op: overlay.OpCreate, path: "a", replace: true}}, 1},
		{"dir twice", []*tar.Header{hDir("a/"), hReg("a/x"), hDir("a/")}, []want{create("a"), create("a/x"), {op: overlay.OpMerge, path: "a"}}, 2},
		{"file then dir", []*tar.Header{hReg("a"), hDir("a/"), hReg("a/x")}, []want{create("a"), {op: overlay.OpCreate, path: "a", replace: true}, create("a/x")}, 2},
		{"symlink then file", []*tar.Header{hSym("a", "/etc"), hReg("a")}, []want{create("a"), {op: overlay.OpCreate, path: "a", replace: true}}, 1},
		{"whiteout then name", []*tar.Header{hReg(".wh.a"), hReg("a")}, []want{create("a"), {op: overlay.OpCreate, path: "a", replace: true}}, 1},
		{"whiteout then dir: opaque", []*tar.Header{hReg(".wh.a"), hDir("a/")}, []want{create("a"), {op: overlay.OpCreate, path: "a", replace: true, opaque: true}}, 1},
		{"dir then whiteout: opaque", []*tar.Header{hDir("a/"), hReg(".wh.a")}, []want{create("a"), {op: overlay.OpOpaque, path: "a"}}, 1},
		{"name then whiteout: skipped", []*tar.Header{hReg("a"), hReg(".wh.a")}, []want{create("a"), {op: overlay.OpSkip}}, 1},
		{"opaque marker late", []*tar.Header{hDir("d/"), hReg("d/#a"), hReg("d/.wh..wh..opq")}, []want{create("d"), create("d/#a"), {op: overlay.OpOpaque, path: "d"}}, 2},
		{"opaque marker without its dir", []*tar.Header{hReg("d/.wh..wh..opq")}, []want{{op: overlay.OpOpaque, path: "d", implied: "d"}}, 1},
		{"whiteout in an implied dir", []*tar.Header{hReg("d/.wh.x")}, []want{{op: overlay.OpCreate, path: "d/x", implied: "d"}}, 2},
		{"dot prefixes", []*tar.Header{hDir("./"), hDir("./a/"), hReg("./a/b"), hLink("./c", "./a/b")}, []want{{op: overlay.OpSkip}, create("a"), create("a/b"), create("c")}, 3},
		{"dir without a slash", []*tar.Header{hDir("a"), hReg("a/b")}, []want{create("a"), create("a/b")}, 2},
		{"mode with its type bits", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Mode = 0o100644 }), with(hDir("d/"), func(h *tar.Header) { h.Mode = 0o40755 })}, []want{create("a"), create("d")}, 2},
		{"whiteout with a stale link name", []*tar.Header{hReg("a"), with(hReg(".wh.b"), func(h *tar.Header) { h.Linkname = "b" })}, []want{create("a"), create("b")}, 2},
		{"hard link with its own metadata", []*tar.Header{hReg("a"), with(hLink("b", "a"), func(h *tar.Header) { h.Mode, h.Uid = 0o100600, 7 })}, []want{create("a"), create("b")}, 2},
		{"contiguous file", []*tar.Header{{Name: "u", Typeflag: tar.TypeCont, ModTime: t0}}, []want{create("u")}, 1},
		{"global header", []*tar.Header{{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader, ModTime: t0}, hReg("a")}, []want{{op: overlay.OpSkip}, create("a")}, 1},
		{"owner names", []*tar.Header{with(hReg("a"), func(h *tar.Header) { h.Uname, h.Gname = "root", "root" })}, []want{create("a")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v overlay.Validator
			for i, h := range tc.hdrs {
				act, err := v.Entry(h)
				if err != nil {
					t.Fatalf("entry %d %q: %v", i, h.Name, err)
				}
				w := tc.want[i]
				got := want{op: act.Op, replace: act.Replace, opaque: act.Opaque, implied: strings.Join(act.Implied, " ")}
				if act.Op != overlay.OpSkip {
					got.path = act.Path
				}
				if got != w {
					t.Errorf("entry %d %q: %+v, want %+v", i, h.Name, got, w)
				}
			}
			if ok, why := v.Canonical(); ok || why == "" {
				t.Errorf("Canonical() = %v, %q; want false and a reason", ok, why)
			}
			if v.Live() != tc.live {
				t.Errorf("Live() = %d, want %d", v.Live(), tc.live)
			}
		})
	}
}
