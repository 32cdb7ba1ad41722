package overlay

// The breakout table again, for plain trees (volumes): the same hostile
// tars applied with Options.Plain, where ".wh." names are names, a char
// 0:0 is a device, trusted.overlay.* is an xattr and "./" is the root, and
// nothing may escape the staging dir any more than in a layer.

import (
	"archive/tar"
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// plainBreakoutClasses is the layer table in plain mode, with the
// expectations of the cases that mean something else in a plain tree
// replaced, and a class of hostile root entries.
func plainBreakoutClasses(t testing.TB) []boClass {
	differs := boPlainDiffers()
	var classes []boClass
	for _, class := range breakoutClasses(t) {
		pc := boClass{name: class.name}
		for _, c := range class.cases {
			c.opts.Plain = true
			if d, ok := differs[class.name+"/"+c.name]; ok {
				c.want, c.check = d.want, d.check
				delete(differs, class.name+"/"+c.name)
			}
			pc.cases = append(pc.cases, c)
		}
		classes = append(classes, pc)
	}
	for name := range differs {
		t.Fatalf("test bug: plain expectation for %q, which is no case of the table", name)
	}
	root := boPlainRootCases(t)
	for i := range root {
		root[i].opts.Plain = true
	}
	return append(classes, boClass{"root", root})
}

// boPlainDiffers gives, by "class/case", what Apply must do with a case of
// the layer table that a plain tree reads differently.
func boPlainDiffers() map[string]boCase {
	ok := func(check func(*testing.T, string)) boCase { return boCase{want: boOK(), check: check} }
	return map[string]boCase{
		"names/dot dir":         ok(boRootIs(0o755, 0, 0)),
		"names/root as file":    {want: boRefused(ErrBadEntry)},
		"names/root as symlink": {want: boRefused(ErrBadEntry)},

		"links/to whiteout target": {want: boFails()}, // "x" is not an entry
		"links/to whiteout name":   ok(boSameInode("y", ".wh.x")),
		"links/to opaque marker":   ok(boSameInode("e", "d/.wh..wh..opq")),

		"types/char 0:0":                       ok(boNodeIs("c", unix.S_IFCHR, 0)),
		"types/whiteout .wh.":                  ok(boNamesAre(".wh.")),
		"types/whiteout .wh..":                 ok(boNamesAre(".wh..")),
		"types/whiteout .wh...":                ok(boNamesAre(".wh...")),
		"types/whiteout .wh..wh.plnk":          ok(boNamesAre(".wh..wh.plnk")),
		"types/whiteout .wh..wh.aufs in dir":   ok(boDistinct("d/.wh..wh.aufs")),
		"types/opaque marker at root":          ok(boDistinct(".wh..wh..opq")),
		"types/opaque marker with contents":    ok(boDistinct("d/.wh..wh..opq")),
		"types/whiteout with contents":         ok(boDistinct(".wh.x")),
		"types/whiteout then name":             ok(boDistinct(".wh.a", "a")),
		"types/whiteout then dir":              ok(boNamesAre(".wh.d", "d")),
		"types/whiteout as dir":                ok(boNodeIs(".wh.d", unix.S_IFDIR, 0)),
		"types/whiteout below whiteout":        {want: boRefused(ErrOrder)}, // ".wh.d" is a file
		"types/whiteout name as symlink":       ok(boSymlinkTo(".wh.x", "../victim", 0)),
		"types/whiteout name as hard link":     ok(boSameInode(".wh.b", "a")),
		"types/whiteout name as device":        ok(boNodeIs(".wh.c", unix.S_IFCHR, unix.Mkdev(1, 3))),
		"types/opaque name as fifo":            ok(boNodeIs("d/.wh..wh..opq", unix.S_IFIFO, 0)),
		"types/xattr trusted.overlay.opaque":   ok(boXattrIs("d", "trusted.overlay.opaque", "y")),
		"types/xattr trusted.overlay.redirect": ok(boXattrIs("d", "trusted.overlay.redirect", "/victimdir")),
		"types/xattr trusted.overlay.metacopy": ok(boXattrIs("f", "trusted.overlay.metacopy", "")),
		"types/xattr user.overlay.foo":         ok(boXattrIs("f", "user.overlay.foo", "y")),
		"types/xattr overlay on opaque marker": ok(boXattrIs("d/.wh..wh..opq", "trusted.overlay.opaque", "y")),
		"types/xattr overlay on whiteout":      ok(boXattrIs(".wh.x", "trusted.overlay.origin", "x")),
		"types/xattr overlay on symlink":       ok(boSymlinkTo("l", "../victimdir", 0)),
		// Its ".wh.gone" is a file here, its 0:0-less "opq" marker a file.
		"control/every legal kind": ok(boDistinct(".wh.gone", "opq/.wh..wh..opq")),
		// A plain tree's root is "./", spelled so, or nothing.
		"names/empty name":     {want: boRefused(ErrUnsafePath)},
		"names/empty dir name": {want: boRefused(ErrUnsafePath)},
		"names/dot file":       {want: boRefused(ErrUnsafePath)},
	}
}

// boPlainLegalKinds checks the plain control case: the root has its
// metadata, ".wh." names are files, the 0:0 device a device, and the
// overlay attribute is only what the tar said.
func boPlainLegalKinds(t *testing.T, staging string) {
	t.Helper()
	if got := boNames(t, staging); !slices.Equal(got, []string{".wh.gone", "c", "etc", "fifo", "null", "opq", "sym", "up"}) {
		t.Errorf("staging holds %q", got)
	}
	boRootIs(0o700, 999, 999)(t, staging)
	boXattrIs(".", "user.volume", "pgdata")(t, staging)
	boDistinct(".wh.gone", "opq/.wh..wh..opq", "etc/conf")(t, staging)
	boSameInode("etc/link", "etc/conf")(t, staging)
	boNodeIs("c", unix.S_IFCHR, 0)(t, staging)
	boNodeIs("null", unix.S_IFCHR, unix.Mkdev(1, 3))(t, staging)
	boXattrIs("opq", "trusted.overlay.opaque", "y")(t, staging)
	boXattrIs("etc/conf", "user.note", "hi")(t, staging)
	boSymlinkTo("up", "../victim", 0)(t, staging)
}

// boPlainRootCases are hostile and legal root entries of a plain tree.
func boPlainRootCases(t testing.TB) []boCase {
	tr := func(hdrs ...*tar.Header) []byte { return tarOf(t, hdrs...) }
	stamp := time.Date(2003, 4, 5, 6, 7, 8, 123456789, time.UTC)
	root := func(mode int64, uid, gid int) *tar.Header {
		h := boDir("./")
		h.Mode, h.Uid, h.Gid, h.ModTime = mode, uid, gid, stamp
		return h
	}
	pg := func() *tar.Header { return boPAXRec(root(0o700, 999, 999), "SCHILY.xattr.user.volume", "pgdata") }
	return []boCase{
		{name: "every legal kind, plain order", tar: tr(
			pg(),
			boReg(".wh.gone", 0),
			boNode("c", tar.TypeChar, 0, 0),
			boDir("etc/"),
			boPAXRec(boWith(boReg("etc/conf", 4), func(h *tar.Header) { h.Uid, h.Gid = 1000, 1001 }), "SCHILY.xattr.user.note", "hi"),
			boLink("etc/link", "etc/conf"),
			&tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o600},
			boNode("null", tar.TypeChar, 1, 3),
			boPAXRec(boDir("opq/"), "SCHILY.xattr.trusted.overlay.opaque", "y"),
			boReg("opq/.wh..wh..opq", 0),
			boSym("sym", "/etc/shadow"),
			boSym("up", "../victim"),
		), want: boOK(), check: boPlainLegalKinds},
		{name: "postgres root then entries", tar: tr(pg(), boReg("PG_VERSION", 3), boDir("base/"), boReg("base/x", 1)), want: boOK(),
			check: func(t *testing.T, staging string) {
				boRootIs(0o700, 999, 999)(t, staging)
				boXattrIs(".", "user.volume", "pgdata")(t, staging)
				var st unix.Stat_t
				if err := unix.Lstat(staging, &st); err != nil || !time.Unix(st.Mtim.Unix()).Equal(stamp) {
					t.Errorf("staging root mtime %v, want %v (set after its entries): %v", time.Unix(st.Mtim.Unix()), stamp, err)
				}
			}},
		{name: "root setgid sticky", tar: tr(root(0o3777, 0, 50), boReg("f", 1)), want: boOK(), check: boRootIs(0o3777, 0, 50)},
		{name: "root mode 0 with entries", tar: tr(root(0, 5, 5), boDir("d/"), boReg("d/f", 1)), want: boOK(), check: boRootIs(0, 5, 5)},
		{name: "root with overlay xattr", tar: tr(boPAXRec(root(0o755, 0, 0), "SCHILY.xattr.trusted.overlay.opaque", "y")), want: boOK(),
			check: boXattrIs(".", "trusted.overlay.opaque", "y")},
		{name: "root twice", tar: tr(pg(), pg()), want: boRefused(ErrOrder)},
		{name: "root after an entry", tar: tr(boReg("a", 1), pg()), want: boRefused(ErrOrder)},
		{name: "root as fifo", tar: boRaw(boUstar("./", tar.TypeFifo, 0), nil), want: boRefused(ErrBadEntry)},
		{name: "root as device", tar: boRaw(boUstar("./", tar.TypeChar, 0).octal(boDevmajor, boDevLen, 1).octal(boDevminor, boDevLen, 3), nil), want: boRefused(ErrBadEntry)},
		{name: "root as hard link to victim", tar: boRaw(boUstar("./", tar.TypeLink, 0).raw(boLinkname, "../victim"), nil), want: boRefused(ErrBadEntry)},
		{name: "root as symlink to victimdir", tar: boRaw(boUstar("./", tar.TypeSymlink, 0).raw(boLinkname, "../victimdir"), nil), want: boRefused(ErrBadEntry)},
		{name: "root spelled dot", tar: boRaw(boUstar(".", tar.TypeDir, 0), nil), want: boRefused(ErrUnsafePath)},
		{name: "root spelled dot dot slash", tar: tr(boDir("././")), want: boRefused(ErrUnsafePath)},
		{name: "root spelled slash", tar: tr(boDir("/")), want: boRefused(ErrUnsafePath)},
		{name: "root spelled dotdot", tar: tr(boDir("../")), want: boRefused(ErrUnsafePath)},
		{name: "root with size", tar: new(boTar).pax('x', "size", "100").hdr(boUstar("./", tar.TypeDir, 0)).end(), want: boRefused(ErrBadEntry)},
		{name: "root uid 2^32-1", tar: tr(root(0o755, 1<<32-1, 0)), want: boRefused(ErrBadEntry)},
		{name: "root mode with type bits", tar: tr(root(0o40755, 0, 0)), want: boOK(), check: boRootIs(0o755, 0, 0)},
		{name: "root xattr of 70 KiB", tar: tr(boPAXRec(root(0o755, 0, 0), "SCHILY.xattr.user.big", strings.Repeat("v", 70<<10))), want: boRefused(ErrBadEntry)},
		{name: "root then dotdot", tar: tr(pg(), boReg("../victim", 1)), want: boRefused(ErrUnsafePath)},
		{name: "root then absolute", tar: tr(pg(), boReg("/victim", 1)), want: boRefused(ErrUnsafePath)},
		{name: "hard link to root", tar: tr(pg(), boLink("h", ".")), want: boRefused(ErrUnsafePath)},
		{name: "hard link to root with slash", tar: tr(pg(), boLink("h", "./")), want: boRefused(ErrUnsafePath)},
		{name: "root then symlink then below it", tar: tr(pg(), boSym("l", ".."), boReg("l/victim", 1)), want: boRefused(ErrOrder)},
		{name: "PAX path makes the root", tar: new(boTar).pax('x', "path", "./").hdr(boUstar("harmless/", tar.TypeDir, 0)).end(), want: boOK(), check: boRootIs(0o644, 0, 0)},
		{name: "PAX path makes a later root", tar: new(boTar).hdr(boUstar("a", tar.TypeReg, 0)).pax('x', "path", "./").hdr(boUstar("harmless/", tar.TypeDir, 0)).end(), want: boRefused(ErrOrder)},
		{name: "char 0:0 and its hard link", tar: tr(boNode("c", tar.TypeChar, 0, 0), boLink("d", "c")), want: boOK(), check: boSameInode("c", "d")},
		{name: "dir named .wh. with contents", tar: tr(boDir(".wh.d/"), boDir(".wh.d/.wh..wh..opq/"), boReg(".wh.d/x", 1)), want: boOK(), check: boNodeIs(".wh.d/.wh..wh..opq", unix.S_IFDIR, 0)},
		{name: ".wh. name of 255 bytes", tar: tr(boReg(".wh."+strings.Repeat("n", 251), 1)), want: boOK()},
		// In a layer only the name a whiteout deletes is made; here the
		// whole name is.
		{name: ".wh. name of 256 bytes", tar: tr(boReg(".wh."+strings.Repeat("n", 252), 1)), want: boRefused(ErrUnsafePath)},
		{name: "below a symlink named .wh.", tar: tr(boSym(".wh.l", ".."), boReg(".wh.l/victim", 1)), want: boRefused(ErrOrder)},
		{name: "sorted as named, not as whiteouts", tar: tr(boReg("a", 1), boReg(".wh.a", 0)), want: boOK(), check: boDistinct("a", ".wh.a")},
	}
}

// boRootEntry reports whether a tar's first entry is a root directory
// entry, which in a plain tree may set the staging dir's metadata.
func boRootEntry(b []byte) bool {
	hdr, err := tar.NewReader(bytes.NewReader(b)).Next()
	return err == nil && hdr.Name == "./" && hdr.Typeflag == tar.TypeDir
}

func boRootIs(mode uint32, uid, gid int) func(*testing.T, string) {
	return func(t *testing.T, staging string) {
		t.Helper()
		st := boLstat(t, staging)
		if st.Mode&07777 != mode || int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("staging root: mode %o owner %d:%d, want %o %d:%d", st.Mode&07777, st.Uid, st.Gid, mode, uid, gid)
		}
	}
}

func boSameInode(a, b string) func(*testing.T, string) {
	return func(t *testing.T, staging string) {
		t.Helper()
		sa, sb := boLstat(t, filepath.Join(staging, a)), boLstat(t, filepath.Join(staging, b))
		if sa.Ino != sb.Ino || sa.Nlink != 2 {
			t.Errorf("%s (ino %d, nlink %d) is not a hard link to %s (ino %d)", a, sa.Ino, sa.Nlink, b, sb.Ino)
		}
	}
}

func boNodeIs(name string, kind uint32, rdev uint64) func(*testing.T, string) {
	return func(t *testing.T, staging string) {
		t.Helper()
		st := boLstat(t, filepath.Join(staging, name))
		if st.Mode&unix.S_IFMT != kind || st.Rdev != rdev {
			t.Errorf("%s: mode %o rdev %d, want type %o rdev %d", name, st.Mode, st.Rdev, kind, rdev)
		}
	}
}

func boXattrIs(name, attr, value string) func(*testing.T, string) {
	return func(t *testing.T, staging string) {
		t.Helper()
		v := make([]byte, 256)
		n, err := unix.Lgetxattr(filepath.Join(staging, name), attr, v)
		if err != nil || string(v[:n]) != value {
			t.Errorf("%s %s: %q, %v; want %q", name, attr, v[:max(n, 0)], err, value)
		}
	}
}
