package overlay

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stamp is the mtime of the entries of these tests.
var stamp = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func at(h *tar.Header) *tar.Header { h.ModTime = stamp; return h }

// canonicalOf applies tarData as a layer and writes the staged tree's
// canonical tar again, as names with their kind and mode.
func canonicalOf(t *testing.T, tarData []byte, opts Options) []string {
	t.Helper()
	dir := t.TempDir()
	if _, err := Apply(context.Background(), dir, bytes.NewReader(tarData), opts); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var buf bytes.Buffer
	if _, err := Write(context.Background(), dir, &buf, opts); err != nil {
		t.Fatalf("Write the staged tree: %v", err)
	}
	var out []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		s := fmt.Sprintf("%s %c %o %d:%d", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid)
		if h.Linkname != "" {
			s += " -> " + h.Linkname
		}
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, xattrRecord) {
				s += " " + strings.TrimPrefix(k, xattrRecord) + "=" + v
			}
		}
		out = append(out, s)
	}
	return out
}

// Valid layers that are not canonical apply to the tree the OCI rules
// give, and that tree's own tar is canonical.
func TestApplyNonCanonical(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for owners and devices")
	}
	for _, tc := range []struct {
		name string
		hdrs []*tar.Header
		want []string
	}{
		{"implied parents", []*tar.Header{at(boReg("a/b/c", 1))},
			[]string{"a/ 5 755 0:0", "a/b/ 5 755 0:0", "a/b/c 0 644 0:0"}},
		{"implied parent listed later", []*tar.Header{at(boReg("a/b", 1)), at(boWith(boDir("a/"), func(h *tar.Header) { h.Mode, h.Uid = 0o700, 7 }))},
			[]string{"a/ 5 700 7:0", "a/b 0 644 0:0"}},
		{"file then dir", []*tar.Header{at(boReg("d", 1)), at(boDir("d/")), at(boReg("d/x", 1))},
			[]string{"d/ 5 755 0:0", "d/x 0 644 0:0"}},
		{"symlink then file", []*tar.Header{at(boSym("f", "../victim")), at(boReg("f", 1))},
			[]string{"f 0 644 0:0"}},
		{"dir listed twice: the later metadata and xattrs", []*tar.Header{
			at(boPAXRec(boDir("d/"), "SCHILY.xattr.user.a", "1")), at(boReg("d/x", 1)), at(boPAXRec(boWith(boDir("d/"), func(h *tar.Header) { h.Mode = 0o711 }), "SCHILY.xattr.user.b", "2"))},
			[]string{"d/ 5 711 0:0 user.b=2", "d/x 0 644 0:0"}},
		{"back into a finished dir", []*tar.Header{at(boDir("d/")), at(boReg("e", 1)), at(boReg("d/x", 1))},
			[]string{"d/ 5 755 0:0", "d/x 0 644 0:0", "e 0 644 0:0"}},
		{"whiteout then dir: opaque", []*tar.Header{at(boReg(".wh.d", 0)), at(boDir("d/")), at(boReg("d/x", 1))},
			[]string{"d/ 5 755 0:0", "d/.wh..wh..opq 0 755 0:0", "d/x 0 644 0:0"}},
		{"dir then whiteout: opaque", []*tar.Header{at(boDir("d/")), at(boReg("d/x", 1)), at(boReg(".wh.d", 0))},
			[]string{"d/ 5 755 0:0", "d/.wh..wh..opq 0 755 0:0", "d/x 0 644 0:0"}},
		{"name then whiteout", []*tar.Header{at(boReg("a", 1)), at(boReg(".wh.a", 0))},
			[]string{"a 0 644 0:0"}},
		{"opaque marker late", []*tar.Header{at(boDir("d/")), at(boReg("d/x", 1)), at(boReg("d/.wh..wh..opq", 0))},
			[]string{"d/ 5 755 0:0", "d/.wh..wh..opq 0 755 0:0", "d/x 0 644 0:0"}},
		{"link, then its target replaced", []*tar.Header{at(boReg("a", 1)), at(boLink("b", "a")), at(boWith(boReg("a", 2), func(h *tar.Header) { h.Mode = 0o600 }))},
			[]string{"a 0 600 0:0", "b 0 644 0:0"}},
		{"dot prefixes and the root entry", []*tar.Header{at(boDir("./")), at(boDir("./e/")), at(boReg("./e/f", 1)), at(boLink("./g", "./e/f"))},
			[]string{"e/ 5 755 0:0", "e/f 0 644 0:0", "g 1 644 0:0 -> e/f"}},
		{"whiteout in an implied dir", []*tar.Header{at(boReg("d/.wh.x", 0))},
			[]string{"d/ 5 755 0:0", "d/.wh.x 0 644 0:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := canonicalOf(t, tarOf(t, tc.hdrs...), Options{})
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("staged tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// aclValue encodes a POSIX ACL xattr: owner, group, mask (if named
// entries), other, and named group entries gid:perm.
func aclValue(owner, group, other uint16, groups ...[2]uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	add := func(tag, perm uint16, id uint32) {
		b = binary.LittleEndian.AppendUint16(b, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	add(aclUserObj, owner, aclNoID)
	add(aclGroupObj, group, aclNoID)
	for _, g := range groups {
		add(aclGroup, uint16(g[1]), g[0])
	}
	if len(groups) > 0 {
		add(aclMask, 7, aclNoID)
	}
	add(aclOther, other, aclNoID)
	return b
}

// A directory with a default ACL that holds a file without an ACL of its
// own (made before the default was set): Apply gives back exactly that,
// in canonical order and when the directory is entered again later, and
// neither a setgid directory nor the umask leaves a trace.
func TestApplyInheritance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	def := string(aclValue(7, 5, 5, [2]uint32{4, 4}))
	d := at(boPAXRec(boWith(boDir("d/"), func(h *tar.Header) { h.Mode, h.Gid = 0o2775, 50 }), "SCHILY.xattr."+aclDefault, def))
	for _, tc := range []struct {
		name string
		hdrs []*tar.Header
	}{
		{"canonical", []*tar.Header{d, at(boReg("d/f", 1)), at(boWith(boDir("d/s/"), func(h *tar.Header) { h.Mode = 0o700 })), at(boReg("d/s/g", 1))}},
		{"entered again", []*tar.Header{d, at(boReg("e", 1)), at(boReg("d/f", 1)), at(boWith(boDir("d/s/"), func(h *tar.Header) { h.Mode = 0o700 })), at(boReg("z", 1)), at(boReg("d/s/g", 1))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := unix.Umask(0o077)
			defer unix.Umask(old)
			dir := t.TempDir()
			if _, err := Apply(context.Background(), dir, bytes.NewReader(tarOf(t, tc.hdrs...)), Options{}); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for _, p := range []string{"d/f", "d/s", "d/s/g"} {
				for _, name := range []string{aclAccess, aclDefault} {
					if _, err := unix.Lgetxattr(filepath.Join(dir, p), name, nil); !errors.Is(err, unix.ENODATA) {
						t.Errorf("%s has %s (%v): inherited", p, name, err)
					}
				}
			}
			if st := boLstat(t, filepath.Join(dir, "d/s")); st.Mode&0o7777 != 0o700 || st.Gid != 0 {
				t.Errorf("d/s: mode %o gid %d, want 0700 and 0 (no setgid or group inherited)", st.Mode&0o7777, st.Gid)
			}
			if st := boLstat(t, filepath.Join(dir, "d/f")); st.Mode&0o7777 != 0o644 || st.Gid != 0 {
				t.Errorf("d/f: mode %o gid %d, want 0644 and 0", st.Mode&0o7777, st.Gid)
			}
			v := make([]byte, 64)
			if n, err := unix.Lgetxattr(filepath.Join(dir, "d"), aclDefault, v); err != nil || string(v[:n]) != def {
				t.Errorf("d's default ACL: %x, %v", v[:max(n, 0)], err)
			}
		})
	}
}

// landed names the field that differs, for each field it proves.
func TestLandedNamesTheField(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("abc"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(p, "user.k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	ts := unix.NsecToTimespec(stamp.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, 0); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	good := func() *tar.Header {
		return boPAXRec(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o640, Size: 3, ModTime: stamp}, "SCHILY.xattr.user.k", "v")
	}
	if err := landed(-1, fd, "f", good(), KindFile, ""); err != nil {
		t.Fatalf("the same node: %v", err)
	}
	for field, edit := range map[string]func(h *tar.Header){
		"mode":                   func(h *tar.Header) { h.Mode = 0o644 },
		"owner":                  func(h *tar.Header) { h.Uid = 1 },
		"mtime":                  func(h *tar.Header) { h.ModTime = stamp.Truncate(time.Second) },
		"size":                   func(h *tar.Header) { h.Size = 4 },
		"without xattr user.j":   func(h *tar.Header) { h.PAXRecords["SCHILY.xattr.user.j"] = "v" },
		"xattr user.k, which":    func(h *tar.Header) { delete(h.PAXRecords, "SCHILY.xattr.user.k") },
		"value of xattr user.k":  func(h *tar.Header) { h.PAXRecords["SCHILY.xattr.user.k"] = "w" },
		"file type 0100000, the": func(h *tar.Header) { h.Typeflag = tar.TypeDir },
	} {
		h := good()
		edit(h)
		kind := KindFile
		if h.Typeflag == tar.TypeDir {
			kind = KindDir
		}
		err := landed(-1, fd, "f", h, kind, "")
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s differs: %v", field, err)
		}
	}
	if err := landed(-1, fd, "f", good(), KindFile, "trusted.overlay.opaque"); !errors.Is(err, ErrMismatch) {
		t.Errorf("missing opaque attribute: %v", err)
	}
}

// Something in the staged tree that no entry made fails the Apply.
func TestApplyCountsNames(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stray"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(context.Background(), dir, bytes.NewReader(tarOf(t, at(boReg("a", 1)))), Options{})
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "2 names in the staged tree, the tar makes 1") {
		t.Errorf("Apply into a dir with a stray file: %v", err)
	}
}
